"""A real Keystone for the tests: OpenStack's identity service from PyPI.

`make setup` installs it into `.venv-keystone` (scripts/setup-keystone.sh):
a virtualenv of its own, because Keystone pins oslo libraries that need not
match lbaas's. `Keystone.start()` gives it a state directory (SQLite, fernet
keys), bootstraps it (`keystone-manage bootstrap`: the admin user, project
and roles), serves its WSGI application on a free loopback port and waits
for it; `stop()` ends the process and removes the directory.

`users()` then creates what the tests log in as, through Keystone's own API
with the admin token: two projects, a member and a reader in the first, a
member in the second, and a service user for lbaas's keystonemiddleware;
`add_endpoint()` puts lbaas in the catalog, as an operator would.
"""

import os
import shutil
import signal
import subprocess
import tempfile
import time
import uuid

import requests

from lbaas import supervisor
from tests.functional.served import free_port

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
VENV = os.environ.get('LBAAS_KEYSTONE_VENV', os.path.join(ROOT, '.venv-keystone'))
PASSWORD = 'secret-' + uuid.uuid4().hex[:8]
START_TIMEOUT = 60.0

# Serves keystone's WSGI app on wsgiref (threads): no web server to install.
SERVE = r'''
import socketserver, sys
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server
port = int(sys.argv.pop(1))
from keystone.server import wsgi
app = wsgi.initialize_public_application()
class Server(socketserver.ThreadingMixIn, WSGIServer):
    daemon_threads = True
class Quiet(WSGIRequestHandler):
    def log_message(self, *args):
        pass
make_server("127.0.0.1", port, app, server_class=Server, handler_class=Quiet).serve_forever()
'''


def why_not_runnable():
    if not os.path.exists(os.path.join(VENV, 'bin', 'keystone-manage')):
        return 'Keystone is not installed in %s (make setup runs scripts/setup-keystone.sh)' % VENV
    return None


class Keystone:
    """One Keystone process with its own state; `url` ends without /v3."""

    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix='lbaas-keystone-')
        self.port = free_port()
        self.url = 'http://127.0.0.1:%d' % self.port
        self.conf = os.path.join(self.dir, 'keystone.conf')
        self.proc = None
        self.admin_token = None

    def _manage(self, *args):
        done = subprocess.run(
            [os.path.join(VENV, 'bin', 'keystone-manage'), '--config-file', self.conf, *args],
            capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, 'keystone-manage %s: %s' % (args[0], done.stderr[-2000:])

    def start(self):
        keys = os.path.join(self.dir, 'fernet')
        with open(self.conf, 'w') as f:
            f.write('[database]\nconnection = sqlite:///%s/keystone.db\n'
                    '[fernet_tokens]\nkey_repository = %s\n'
                    '[fernet_receipts]\nkey_repository = %s\n'
                    '[credential]\nkey_repository = %s/credential\n'
                    % (self.dir, keys, keys, self.dir))
        self._manage('db_sync')
        for what in ('fernet_setup', 'credential_setup'):
            self._manage(what, '--keystone-user', str(os.getuid()),
                         '--keystone-group', str(os.getgid()))
        self._manage('bootstrap', '--bootstrap-password', PASSWORD,
                     '--bootstrap-public-url', self.url + '/v3',
                     '--bootstrap-region-id', 'RegionOne')
        env = dict(os.environ, OS_KEYSTONE_CONFIG_FILES=self.conf)
        self.log = open(os.path.join(self.dir, 'keystone.log'), 'wb')  # noqa: SIM115
        self.proc = subprocess.Popen(
            [os.path.join(VENV, 'bin', 'python'), '-c', SERVE, str(self.port)], env=env,
            stdout=self.log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            start_new_session=True, preexec_fn=supervisor.child_preexec(os.getpid()))
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            try:
                self.admin_token = self.token('admin', 'admin')
                return self
            except requests.RequestException:
                assert self.proc.poll() is None, 'Keystone exited: %s' % self.tail()
                assert time.monotonic() < deadline, 'Keystone did not answer: %s' % self.tail()
                time.sleep(0.3)

    def tail(self):
        with open(os.path.join(self.dir, 'keystone.log'), errors='replace') as f:
            return f.read()[-3000:]

    def stop(self):
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(10)
        if self.proc is not None:
            self.log.close()
        shutil.rmtree(self.dir, ignore_errors=True)

    # --- Keystone's API ------------------------------------------------------------------

    def token(self, user, project, password=PASSWORD):
        body = {'auth': {
            'identity': {'methods': ['password'], 'password': {'user': {
                'name': user, 'password': password, 'domain': {'id': 'default'}}}},
            'scope': {'project': {'name': project, 'domain': {'id': 'default'}}}}}
        resp = requests.post(self.url + '/v3/auth/tokens', json=body, timeout=30)
        resp.raise_for_status()
        return resp.headers['X-Subject-Token']

    def call(self, method, path, body=None):
        resp = requests.request(method, self.url + '/v3/' + path, json=body, timeout=30,
                                headers={'X-Auth-Token': self.admin_token})
        assert resp.status_code < 300, '%s %s: %s %s' % (method, path, resp.status_code,
                                                         resp.text)
        return resp.json() if resp.content else None

    def _id(self, collection, name):
        found = self.call('GET', '%s?name=%s' % (collection, name))[collection]
        return found[0]['id'] if found else None

    def project(self, name):
        return self._id('projects', name) or self.call(
            'POST', 'projects', {'project': {'name': name, 'domain_id': 'default'}}
        )['project']['id']

    def role(self, name):
        return self._id('roles', name) or self.call(
            'POST', 'roles', {'role': {'name': name}})['role']['id']

    def user(self, name, project, *roles):
        """A user with `roles` on `project`; returns (user id, project id)."""
        project_id = self.project(project)
        user_id = self.call('POST', 'users', {'user': {
            'name': name, 'password': PASSWORD, 'domain_id': 'default'}})['user']['id']
        for role in roles:
            self.call('PUT', 'projects/%s/users/%s/roles/%s' % (
                project_id, user_id, self.role(role)))
        return user_id, project_id

    def users(self):
        """The callers the tests use, by name: {name: (user id, project id)}."""
        return {
            'alice': self.user('alice', 'project-a', 'member', 'load-balancer_member'),
            'rita': self.user('rita', 'project-a', 'reader'),
            'bob': self.user('bob', 'project-b', 'member', 'load-balancer_member'),
            'lbaas': self.user('lbaas', 'service', 'service', 'admin'),
        }

    def add_endpoint(self, service_type, name, url):
        service = self.call('POST', 'services', {'service': {'type': service_type,
                                                             'name': name}})['service']
        self.call('POST', 'endpoints', {'endpoint': {
            'service_id': service['id'], 'interface': 'public', 'url': url,
            'region_id': 'RegionOne'}})

    def authtoken_options(self):
        """lbaas.conf's [keystone_authtoken] for this Keystone."""
        return {
            'www_authenticate_uri': self.url, 'auth_url': self.url, 'auth_type': 'password',
            'username': 'lbaas', 'password': PASSWORD, 'project_name': 'service',
            'user_domain_id': 'default', 'project_domain_id': 'default',
            'service_token_roles_required': 'true', 'interface': 'public',
        }

