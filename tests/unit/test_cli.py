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


def test_sample_config_has_oslo_logs_options_once(tmp_path):
    sample = tmp_path / 'lbaas.conf.sample'
    done = lbaas('config', 'sample', '--output', str(sample))
    assert done.returncode == 0, done.stderr
    text = sample.read_text()
    for option in ('debug', 'log_file', 'log_dir', 'use_syslog', 'syslog_log_facility',
                   'log_config_append', 'default_log_levels', 'use_stderr'):
        assert text.count('\n#%s = ' % option) == 1, option  # oslo.log's, not a twin of ours


def _log_config(tmp_path, **options):
    conf = tmp_path / 'lbaas.conf'
    conf.write_text('[DEFAULT]\n' + ''.join('%s = %s\n' % kv for kv in options.items()))
    return str(conf)


def test_log_file_is_honoured_and_standard_output_stays_clean(tmp_path):
    log = tmp_path / 'elsewhere' / 'db.log'
    log.parent.mkdir()
    done = lbaas('db', 'upgrade', '--config-file', _log_config(tmp_path, log_file=log),
                 state_dir=tmp_path)
    assert done.returncode == 0, done.stderr
    assert 'INFO alembic.runtime.migration [-] Running upgrade' in log.read_text()
    assert 'alembic' not in done.stdout + done.stderr
    assert log.stat().st_mode & 0o077 == 0


def test_log_dir_gives_the_command_its_own_file(tmp_path):
    done = lbaas('db', 'upgrade', '--config-file',
                 _log_config(tmp_path, log_dir=tmp_path / 'logs'), state_dir=tmp_path)
    assert done.returncode == 0, done.stderr
    assert 'Running upgrade' in (tmp_path / 'logs' / 'db.log').read_text()


def test_without_a_log_file_logs_go_to_standard_error(tmp_path):
    done = lbaas('db', 'upgrade', state_dir=tmp_path)
    assert done.returncode == 0, done.stderr
    assert 'Running upgrade' in done.stderr
    assert 'Running upgrade' not in done.stdout


# libc's syslog(3), behind oslo.log's OSSysLogHandler, always writes to
# /dev/log, an address no option changes: the test records its calls instead.
SYSLOG_PROBE = '''
import json, logging, sys, syslog
calls = []
syslog.openlog = lambda ident, option, facility: calls.append(('openlog', facility))
syslog.syslog = lambda priority, message: calls.append(('syslog', priority, message))
from lbaas import cli
cli.main(['db', 'current'] + sys.argv[1:])
logging.getLogger('lbaas').warning('to the syslog')
print(json.dumps(calls))
'''


def test_use_syslog_sends_the_lines_to_syslog(tmp_path):
    import syslog
    conf = _log_config(tmp_path, use_syslog=True, syslog_log_facility='LOG_LOCAL3')
    done = subprocess.run([sys.executable, '-c', SYSLOG_PROBE, '--config-file', conf,
                           '--state-dir', str(tmp_path)],
                          cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    calls = json.loads(done.stdout.splitlines()[-1])
    assert ['openlog', syslog.LOG_LOCAL3] in calls
    sent = [c for c in calls if c[0] == 'syslog' and 'to the syslog' in c[2]]
    assert sent and sent[0][1] == syslog.LOG_WARNING, calls
    assert 'to the syslog' in done.stderr  # and standard error still has it
