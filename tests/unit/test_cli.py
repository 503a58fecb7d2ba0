"""The operator's tools: --version, `db current`, `status upgrade check`,
--config-dir, and the sample configuration.

The commands run as subprocesses, as an operator runs them: each parses the
global configuration, sets the umask and logging, which must not leak into
the other tests.
"""
import json
import os
import subprocess
import sys
from importlib import metadata

from lbaas import config

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def lbaas(*args, state_dir=None):
    command = [sys.executable, '-m', 'lbaas.cli'] + list(args)
    if state_dir is not None:
        command += ['--state-dir', str(state_dir)]
    return subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=120)


def test_version_is_the_package_version():
    done = lbaas('--version')
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == 'lbaas %s' % metadata.version('lbaas')


def test_db_current_on_a_fresh_state_dir_then_after_upgrade(tmp_path):
    fresh = lbaas('db', 'current', state_dir=tmp_path)
    assert fresh.returncode == 1, fresh.stderr
    assert 'revision none, not at head' in fresh.stdout
    assert lbaas('db', 'upgrade', state_dir=tmp_path).returncode == 0
    migrated = lbaas('db', 'current', state_dir=tmp_path)
    assert migrated.returncode == 0, migrated.stderr
    assert '(head)' in migrated.stdout
    assert str(tmp_path / 'lbaas.sqlite') in migrated.stdout


def _checks(done):
    return {c['check']: c['result'] for c in json.loads(done.stdout)['checks']}


def test_upgrade_check_fails_on_an_unmigrated_database(tmp_path):
    done = lbaas('status', 'upgrade', 'check', '--json', state_dir=tmp_path)
    assert done.returncode == 2, done.stdout + done.stderr  # Code.FAILURE
    assert _checks(done) == {'Database at head': 2, 'Policy file': 0, 'Configuration': 0}


def test_upgrade_check_passes_on_a_migrated_database(tmp_path):
    assert lbaas('db', 'upgrade', state_dir=tmp_path).returncode == 0
    done = lbaas('status', 'upgrade', 'check', state_dir=tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    assert 'Upgrade Check Results' in done.stdout


def test_upgrade_check_reports_a_bad_policy_file_and_a_bad_setting(tmp_path):
    assert lbaas('db', 'upgrade', state_dir=tmp_path).returncode == 0
    conf = tmp_path / 'lbaas.conf'
    conf.write_text('[health_manager]\nbind_ip = not-an-ip\n')
    (tmp_path / 'policy.yaml').write_text('"load_balancer:read": [unclosed\n')
    done = lbaas('status', 'upgrade', 'check', '--json', '--config-file', str(conf),
                 state_dir=tmp_path)
    assert done.returncode == 2, done.stdout + done.stderr
    assert _checks(done) == {'Database at head': 0, 'Policy file': 2, 'Configuration': 2}


def test_config_dir_is_read_after_the_files_in_sorted_order(tmp_path):
    def database(name):
        return '[database]\nconnection = sqlite:///%s\n' % (tmp_path / name)
    (tmp_path / 'lbaas.conf').write_text(database('from-file.sqlite'))
    extra = tmp_path / 'lbaas.conf.d'
    extra.mkdir()
    (extra / '20-last.conf').write_text(database('from-dir-last.sqlite'))
    (extra / '10-first.conf').write_text(database('from-dir-first.sqlite'))
    (extra / 'ignored.txt').write_text(database('ignored.sqlite'))
    done = lbaas('db', 'current', '--config-file', str(tmp_path / 'lbaas.conf'),
                 '--config-dir', str(extra), state_dir=tmp_path)
    assert 'from-dir-last.sqlite' in done.stdout, done.stdout + done.stderr


def test_sample_config_has_keystone_authtoken(tmp_path):
    sample = tmp_path / 'lbaas.conf.sample'
    done = lbaas('config', 'sample', '--output', str(sample))
    assert done.returncode == 0, done.stderr
    text = sample.read_text()
    for section in ('[DEFAULT]', '[api_settings]', '[oslo_policy]', '[keystone_authtoken]'):
        assert section in text


def test_every_option_has_help():
    bare = ['[%s] %s' % (group, opt.name) for group, opts in config.list_opts()
            for opt in opts if not (opt.help or '').strip()]
    assert not bare, 'options without help: %s' % ', '.join(bare)
