"""The state directory holds every project's objects: only its owner reads it."""
import os
import stat

import requests

from tests.functional.served import served  # noqa: F401 (fixture)


def _mode(path):
    return stat.S_IMODE(os.stat(path).st_mode)


def test_the_state_directory_and_what_lbaas_writes_there_are_the_owners_alone(served):
    assert requests.get(served + '/v2/lbaas/loadbalancers', timeout=10).status_code == 200
    root = served.state_dir
    own = [os.path.join(root, 'lbaas.sqlite'), os.path.join(root, 'logs')]
    own += [os.path.join(root, 'logs', name) for name in os.listdir(os.path.join(root, 'logs'))]
    assert any(name.endswith('.log') for name in own)
    assert {path: _mode(path) for path in own} == {
        path: 0o700 if os.path.isdir(path) else 0o600 for path in own}


def test_serve_warns_about_what_others_may_read(served):
    # The test harness wrote lbaas.conf with its own umask, as an operator might.
    os.chmod(os.path.join(served.state_dir, 'lbaas.conf'), 0o644)
    from lbaas import cli
    assert os.path.join(served.state_dir, 'lbaas.conf') in cli.loose_state_paths(
        served.state_dir)
