"""lbaas under a real Keystone: keystonemiddleware validates every token.

`keystone` runs Keystone (tests/keystone/server.py) with its callers and
lbaas in its catalog; `lbaas` runs `lbaas serve` (noop drivers) with
`auth_strategy = keystone` and `[keystone_authtoken]` pointing at it. Both
are skipped, with the reason printed, when Keystone is not installed.
"""

import shutil
import tempfile

import pytest

from tests.functional import served as served_mod
from tests.keystone.server import Keystone, why_not_runnable
from tests.skips import skip_if


@pytest.fixture(scope='session')
def keystone():
    reason = why_not_runnable()
    skip_if(reason, 'the keystone tests')
    running = Keystone()
    try:
        running.start()
        running.callers = running.users()
        yield running
    finally:
        running.stop()


@pytest.fixture(scope='session')
def lbaas(keystone):
    """`lbaas serve` behind keystonemiddleware, in Keystone's catalog."""
    state_dir = tempfile.mkdtemp(prefix='lbaas-keystone-')
    config_path = served_mod.write_config(state_dir, sections={
        'api_settings': {'auth_strategy': 'keystone'},
        'keystone_authtoken': keystone.authtoken_options()})
    proc, url = served_mod.serve(state_dir, config_path)
    try:
        keystone.add_endpoint('load-balancer', 'octavia', url)
        keystone.add_endpoint('key-manager', 'barbican', url + '/v1')
        yield served_mod.Endpoint(url, state_dir, proc)
    finally:
        code, left = proc.stop()
        assert not left, 'children of lbaas serve still running: %s' % left
        assert code == 0, 'lbaas serve exited with %s:\n%s' % (code, proc.tail())
        shutil.rmtree(state_dir, ignore_errors=True)
