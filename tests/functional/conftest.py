"""The real API over HTTP, with a real worker, on every reachable database.

`service` starts the WSGI app on a loopback port and a worker thread on the
noop drivers, once per database backend: SQLite always, PostgreSQL and
MariaDB when their servers answer (as on CI). Each test gets `client`, a
member of a fresh project, and `admin`.
"""
import base64
import contextlib
import datetime
import socket
import socketserver
import tempfile
import threading
import time
import uuid
from wsgiref import simple_server

import pytest
import requests
import sqlalchemy

from lbaas import config
from lbaas.db import migrate
from lbaas.db import session as db

SERVER_URLS = {
    'postgresql': ('postgresql+psycopg://postgres@127.0.0.1/%s', 'postgresql+psycopg://postgres@127.0.0.1/postgres'),
    'mysql': ('mysql+pymysql://root@127.0.0.1/%s', 'mysql+pymysql://root@127.0.0.1/mysql'),
}
LOCAL_NETWORK = '5fd5b4c2-8bd1-4b1c-9a67-6b1f7d0c0a01'
LOCAL_V4_SUBNET = '9c3e0f7e-3f0b-4d8e-8d5b-2b6f9a4c1d01'
LOCAL_V6_SUBNET = '9c3e0f7e-3f0b-4d8e-8d5b-2b6f9a4c1d02'


def _free_port(kind=socket.SOCK_STREAM):
    with socket.socket(socket.AF_INET, kind) as sock:
        sock.bind(('127.0.0.1', 0))
        return sock.getsockname()[1]


def _server_database(backend):
    """A fresh database on a server backend, or pytest.skip with the reason."""
    url_template, admin_url = SERVER_URLS[backend]
    name = 'lbaas_test_%s' % uuid.uuid4().hex[:8]
    try:
        engine = sqlalchemy.create_engine(admin_url, isolation_level='AUTOCOMMIT',
                                          pool_pre_ping=True)
        with engine.connect() as conn:
            conn.exec_driver_sql('CREATE DATABASE %s' % name)
    except Exception as exc:  # server absent or refusing: say so, don't pass
        pytest.skip('%s not reachable for functional tests: %s' % (backend, exc))
    return url_template % name, engine, name


class _QuietHandler(simple_server.WSGIRequestHandler):
    def log_message(self, *args):
        pass


class _ThreadingServer(socketserver.ThreadingMixIn, simple_server.WSGIServer):
    daemon_threads = True


def start_service(state_dir, database_url=None):
    """Configure, migrate, and start API and worker threads; return (url,
    stop, the worker's drivers)."""
    from lbaas.api import app
    from lbaas.controller import worker
    config.load([], [])
    conf = config.CONF
    conf.set_override('state_dir', state_dir)
    conf.set_override('connection', database_url, 'database')
    for option in ('compute_driver', 'network_driver', 'amphora_driver'):
        conf.set_override(option, 'noop', 'controller_worker')
    conf.set_override('poll_interval', 0.5, 'controller_worker')
    conf.set_override('retry_backoff', 0.05, 'controller_worker')
    # A larger IPv4 subnet than the default /24: the suite creates many LBs.
    conf.set_override('local_network', [
        'id=%s,subnet_id=%s,name=lbaas-local,subnet_name=lbaas-local-v4,'
        'cidr=198.18.0.0/20,gateway=198.18.0.1' % (LOCAL_NETWORK, LOCAL_V4_SUBNET),
        'id=%s,subnet_id=%s,name=lbaas-local,subnet_name=lbaas-local-v6,'
        'cidr=fd00:1b::/64,gateway=fd00:1b::1' % (LOCAL_NETWORK, LOCAL_V6_SUBNET)],
        'networking')
    conf.set_override('wakeup_address', '127.0.0.1:%d' % _free_port(socket.SOCK_DGRAM),
                      'controller_worker')
    db.reset()
    migrate.upgrade()
    server = simple_server.make_server('127.0.0.1', 0, app.create_app(),
                                       server_class=_ThreadingServer,
                                       handler_class=_QuietHandler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    instance = worker.Worker()
    worker_thread = threading.Thread(target=instance.run, daemon=True)
    worker_thread.start()

    def stop():
        instance.stop()
        worker_thread.join(10)
        server.shutdown()
        db.reset()
        conf.clear_override('connection', 'database')
    return 'http://127.0.0.1:%d' % server.server_port, stop, instance.drivers


@pytest.fixture(scope='session', params=['sqlite', 'postgresql', 'mysql'])
def service(request):
    backend = request.param
    state_dir = tempfile.mkdtemp(prefix='lbaas-functional-')
    dropper = None
    url = None
    if backend != 'sqlite':
        url, engine, name = _server_database(backend)
        dropper = (engine, name)
    base_url, stop, drivers = start_service(state_dir, url)
    yield {'url': base_url, 'backend': backend, 'drivers': drivers}
    stop()
    if dropper:
        engine, name = dropper
        with engine.connect() as conn:
            conn.exec_driver_sql('DROP DATABASE %s' % name)
        engine.dispose()


class Client:
    """requests with the base URL, project and roles of one caller."""

    def __init__(self, base_url, project_id, roles=None):
        self.base = base_url
        self.project_id = project_id
        self.session = requests.Session()
        self.session.headers['X-Project-Id'] = project_id
        if roles is not None:
            self.session.headers['X-Roles'] = roles

    def url(self, path):
        return self.base + path if path.startswith('/') else self.base + '/v2/lbaas/' + path

    def request(self, method, path, body=None):
        return self.session.request(method.upper(), self.url(path), json=body)

    def get(self, path, **kw):
        return self.session.get(self.url(path), **kw)

    def post(self, path, body=None, **kw):
        return self.session.post(self.url(path), json=body, **kw)

    def put(self, path, body=None, **kw):
        return self.session.put(self.url(path), json=body, **kw)

    def delete(self, path, **kw):
        return self.session.delete(self.url(path), **kw)

    def wait_lb(self, lb_id, status='ACTIVE', timeout=15):
        """Poll until the LB reaches `status` (404 counts as DELETED)."""
        deadline = time.time() + timeout
        while True:
            resp = self.get('loadbalancers/' + lb_id)
            current = 'DELETED' if resp.status_code == 404 else \
                resp.json()['loadbalancer']['provisioning_status']
            if current == status:
                return resp.json().get('loadbalancer') if resp.status_code == 200 else None
            assert not current.startswith('ERROR') or status == 'ERROR', current
            assert time.time() < deadline, 'LB %s still %s' % (lb_id, current)
            time.sleep(0.02)

    def create_lb(self, **fields):
        body = {'vip_subnet_id': LOCAL_V4_SUBNET, **fields}
        resp = self.post('loadbalancers', {'loadbalancer': body})
        assert resp.status_code == 201, resp.text
        lb = resp.json()['loadbalancer']
        self.wait_lb(lb['id'])
        return lb

    def create(self, collection, key, body, lb_id):
        """POST a child object and wait for its LB to settle; return the object."""
        resp = self.post(collection, {key: body})
        assert resp.status_code == 201, resp.text
        self.wait_lb(lb_id)
        return resp.json()[key]

    def update(self, path, key, body, lb_id):
        """PUT an object and wait for its LB to settle; return the PUT's body."""
        resp = self.put(path, {key: body})
        assert resp.status_code == 200, resp.text
        self.wait_lb(lb_id)
        return resp.json()[key]

    def remove(self, path, lb_id):
        """DELETE an object and wait for its LB to settle."""
        resp = self.delete(path)
        assert resp.status_code == 204, resp.text
        self.wait_lb(lb_id)

    def show(self, path, key):
        resp = self.get(path)
        assert resp.status_code == 200, resp.text
        return resp.json()[key]


def new_member(service, roles='member'):
    """A caller with `roles` in a fresh project."""
    return Client(service['url'], 'p-' + uuid.uuid4().hex[:12], roles=roles)


def new_admin(service):
    return Client(service['url'], 'admin-' + uuid.uuid4().hex[:8])


def build_tree(owner, lb_id, member_address, monitor=False, rule_value=None):
    """On one LB: HTTP listener -> default pool -> member, optionally a TCP
    health monitor and a REJECT policy with one PATH rule. Returns the objects."""
    tree = {'listener': owner.create('listeners', 'listener', {
        'loadbalancer_id': lb_id, 'protocol': 'HTTP', 'protocol_port': 80}, lb_id)}
    tree['pool'] = owner.create('pools', 'pool', {
        'listener_id': tree['listener']['id'], 'protocol': 'HTTP',
        'lb_algorithm': 'ROUND_ROBIN'}, lb_id)
    tree['member'] = owner.create('pools/%s/members' % tree['pool']['id'], 'member',
                                  {'address': member_address, 'protocol_port': 80}, lb_id)
    if monitor:
        tree['healthmonitor'] = owner.create('healthmonitors', 'healthmonitor', {
            'pool_id': tree['pool']['id'], 'type': 'TCP', 'delay': 1, 'timeout': 1,
            'max_retries': 1}, lb_id)
    if rule_value is not None:
        tree['policy'] = owner.create('l7policies', 'l7policy', {
            'listener_id': tree['listener']['id'], 'action': 'REJECT'}, lb_id)
        tree['rule'] = owner.create('l7policies/%s/rules' % tree['policy']['id'], 'rule', {
            'type': 'PATH', 'compare_type': 'EQUAL_TO', 'value': rule_value}, lb_id)
    return tree


def fault(resp, status):
    """Assert an Octavia fault answer with `status`; return its faultstring."""
    assert resp.status_code == status, resp.text
    body = resp.json()
    assert set(body) == {'faultcode', 'faultstring', 'debuginfo'}, body
    assert body['faultcode'] == ('Client' if status < 500 else 'Server')
    return body['faultstring']


@contextlib.contextmanager
def held(lb_id):
    """Keep the worker off `lb_id` (a lease it cannot take) for the block.

    API writes still land and set PENDING_* statuses, which stay put until
    the block ends; then the LB is released and the worker nudged.
    """
    from lbaas import wakeup
    from lbaas.db import models
    far = models.utcnow() + datetime.timedelta(hours=1)
    with db.writing() as session:
        lb = session.get(models.LoadBalancer, lb_id)
        lb.lease_owner, lb.lease_expires_at = 'functional-test', far
    try:
        yield
    finally:
        with db.writing() as session:
            lb = session.get(models.LoadBalancer, lb_id)
            lb.lease_owner = lb.lease_expires_at = None
        wakeup.nudge(lb_id)


@contextlib.contextmanager
def status_of(model, obj_id, status):
    """Force `status` on a row for the block (the worker kept off when PENDING)."""
    from lbaas.db import models
    with db.writing() as session:
        row = session.get(getattr(models, model), obj_id)
        saved, row.provisioning_status = row.provisioning_status, status
        if model == 'LoadBalancer':
            row.next_attempt_at = models.utcnow() + datetime.timedelta(hours=1)
    try:
        yield
    finally:
        with db.writing() as session:
            row = session.get(getattr(models, model), obj_id)
            row.provisioning_status = saved
            if model == 'LoadBalancer':
                row.next_attempt_at = None


@pytest.fixture
def client(service):
    return new_member(service)


@pytest.fixture
def admin(service):
    return new_admin(service)


@pytest.fixture
def lb(client):
    return client.create_lb(name='lb-' + uuid.uuid4().hex[:6])


@pytest.fixture(scope='module')
def owner(service):
    """A member of one project, shared by the tests of a module."""
    return new_member(service)


def store_certificate(client, name='tls'):
    """A PKCS12 bundle (leaf, intermediate, key) in the caller's project of
    the key-manager store, as the Octavia TLS cookbook stores one: its href."""
    from tests.unit.drivers import certmaterial
    m = certmaterial.material()
    bundle = certmaterial.p12(m.leaf_key, m.leaf, cas=(m.intermediate,))
    resp = client.post('/v1/secrets', {
        'name': name, 'payload': base64.b64encode(bundle).decode(),
        'payload_content_type': 'application/octet-stream',
        'payload_content_encoding': 'base64'})
    assert resp.status_code == 201, resp.text
    return resp.json()['secret_ref']


@pytest.fixture(scope='module')
def cert(owner):
    """A certificate reference the module's owner may use."""
    return store_certificate(owner)


@pytest.fixture(scope='module')
def shared_lb(owner):
    """An ACTIVE LB for a module's tests; each test removes what it adds."""
    lb = owner.create_lb(name='shared')
    yield lb
    owner.delete('loadbalancers/%s?cascade=true' % lb['id'])

