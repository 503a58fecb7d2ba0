"""The dashboard in a real browser: Debian's Chromium driven by Playwright.

Skipped, with the reason printed, when `/usr/bin/chromium` (apt-get install
chromium) or the `playwright` package (the test extra) is missing. No
browser is downloaded: Playwright launches the system Chromium headless.

`dashboard` runs `lbaas serve` on the noop drivers as a subprocess (as
tests/functional/served.py does), so the UI is tested as deployed. Each
test's `page` writes screenshots with `shoot(name)` into one directory
under pytest's tmp dir, printed at the end of the run.
"""

import os
import shutil
import sys
import tempfile
import time
import uuid

# Once Playwright's greenlets have run, CPython 3.11's compile() fails in this
# process (see OWN_PROCESS), so hypothesis, which its pytest plugin imports at
# the summary, is imported now.
import hypothesis  # noqa: F401
import pytest
import requests

from tests.functional import served as served_mod
from tests.scenario.conftest import api, client, members, service  # noqa: F401 (fixtures)
from tests.skips import skip_if

CHROMIUM = os.environ.get('LBAAS_CHROMIUM', '/usr/bin/chromium')
SUBNET = '9c3e0f7e-3f0b-4d8e-8d5b-2b6f9a4c1d01'  # lbaas-local-v4, as in tests/functional
LOCAL_V4 = (
    'id=5fd5b4c2-8bd1-4b1c-9a67-6b1f7d0c0a01,subnet_id=%s,name=lbaas-local,'
    'subnet_name=lbaas-local-v4,cidr=198.18.0.0/20,gateway=198.18.0.1' % SUBNET
)


OWN_PROCESS = ('runs one file per pytest process (`make test` does so after the rest): '
               'once Playwright\'s greenlets have run, CPython 3.11\'s compile() fails '
               '("AST constructor recursion depth mismatch") and an event loop stays '
               'running, which breaks the tests that would follow in the same process')


def pytest_collection_modifyitems(config, items):
    """A browser test file shares its process with nothing (see OWN_PROCESS)."""
    here = os.path.dirname(__file__)
    mine = [item for item in items if str(item.path).startswith(here)]
    if len(mine) == len(items) and len({item.path for item in mine}) == 1:
        return
    print('\nskipping tests/browser here: it ' + OWN_PROCESS, file=sys.stderr)
    for item in mine:
        item.add_marker(pytest.mark.skip(reason='tests/browser ' + OWN_PROCESS))


def why_not_runnable():
    if not os.path.exists(CHROMIUM):
        return 'Chromium is not installed (apt-get install chromium)'
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return 'the playwright package is not installed (pip install -e .[test])'
    return None


@pytest.fixture(scope='session')
def browser():
    reason = why_not_runnable()
    skip_if(reason, 'the browser tests')
    from playwright.sync_api import sync_playwright

    with sync_playwright() as play:
        args = ['--no-sandbox'] if os.geteuid() == 0 else []
        instance = play.chromium.launch(
            executable_path=CHROMIUM,
            headless=True,
            args=args + ['--disable-gpu', '--disable-dev-shm-usage'],
        )
        yield instance
        instance.close()


@pytest.fixture(scope='session')
def shots(tmp_path_factory):
    path = tmp_path_factory.mktemp('dashboard-screenshots')
    yield path
    print('\ndashboard screenshots in %s' % path, file=sys.stderr)


class Api:
    """requests as one caller under noauth (X-Project-Id, X-Roles)."""

    def __init__(self, endpoint, project, roles='member'):
        self.endpoint, self.project = endpoint, project
        self.session = requests.Session()
        self.session.headers.update({'X-Project-Id': project, 'X-Roles': roles})

    def call(self, method, path, body=None):
        return self.session.request(method, self.endpoint + '/v2/lbaas/' + path, json=body)

    def wait_lb(self, lb_id, wanted='ACTIVE', timeout=30.0):
        deadline = time.monotonic() + timeout
        while True:
            resp = self.call('GET', 'loadbalancers/' + lb_id)
            status = (
                'DELETED'
                if resp.status_code == 404
                else resp.json()['loadbalancer']['provisioning_status']
            )
            if status == wanted:
                return
            assert time.monotonic() < deadline, 'LB %s still %s' % (lb_id, status)
            time.sleep(0.1)


@pytest.fixture(scope='session')
def dashboard():
    """`lbaas serve` (noop drivers) as a subprocess; yields its endpoint."""
    reason = why_not_runnable()
    if reason:
        pytest.skip(reason)
    if os.environ.get('LBAAS_BROWSER_ENDPOINT'):  # a developer's running `lbaas serve --noop`
        yield os.environ['LBAAS_BROWSER_ENDPOINT']
        return
    state_dir = tempfile.mkdtemp(prefix='lbaas-browser-')
    config_path = served_mod.write_config(state_dir)
    with open(config_path, 'a') as f:  # room for the 200 load balancers of the load test
        f.write('[networking]\nlocal_network = %s\n' % LOCAL_V4)
    proc, url = served_mod.serve(state_dir, config_path)
    try:
        yield served_mod.Endpoint(url, state_dir, proc)
    finally:
        code, left = proc.stop()
        assert not left, 'children of lbaas serve still running: %s' % left
        assert code == 0, 'lbaas serve exited with %s:\n%s' % (code, proc.tail())
        shutil.rmtree(state_dir, ignore_errors=True)


class Page:
    """A browser tab logged in to the dashboard as one project and role."""

    def __init__(self, browser, endpoint, shots, width=1280):
        self.endpoint, self.shots = endpoint, shots
        # bypass_csp: Playwright evaluates its waits as strings, which our CSP forbids.
        self.context = browser.new_context(
            viewport={'width': width, 'height': 900}, bypass_csp=True
        )
        self.page = self.context.new_page()
        self.errors = []
        self.page.on('pageerror', lambda exc: self.errors.append(str(exc)))
        self.page.set_default_timeout(15000)

    def login(self, project, role='member'):
        page = self.page
        page.goto(self.endpoint + '/dashboard/#/login')
        page.get_by_label('Project ID').fill(project)
        page.get_by_label('Role').select_option(role)
        page.get_by_role('button', name='Enter').click()
        page.wait_for_selector('#loadbalancers')
        return self

    def go(self, fragment, ready=None):
        url = self.endpoint + '/dashboard/' + fragment
        if self.page.url == url:
            self.page.reload()  # the same fragment again: a fresh page
        else:
            self.page.goto(url)
        self.page.wait_for_function(
            'document.querySelector("#main").dataset.ready === %r' % fragment
        )
        if ready:
            self.page.wait_for_selector(ready, state='attached')

    def shoot(self, name):
        self.page.screenshot(path=str(self.shots / ('%s.png' % name)), full_page=True)

    def close(self):
        self.context.close()
        assert not self.errors, 'JavaScript errors: %s' % self.errors


@pytest.fixture
def open_page(browser, dashboard, shots):
    opened = []

    def opener(project, role='member', width=1280):
        tab = Page(browser, dashboard, shots, width=width).login(project, role)
        opened.append(tab)
        return tab

    yield opener
    for tab in opened:
        tab.close()


def new_project():
    return 'p-' + uuid.uuid4().hex[:10]
