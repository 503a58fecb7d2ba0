"""Wake-ups over RabbitMQ between processes on two "hosts", and polling without it.

`lbaas api` (host-a) and `lbaas worker` (host-b) run as separate processes on
one PostgreSQL database, with `transport_url` pointing at the machine's
RabbitMQ through a TCP proxy this test controls (the broker itself is never
stopped: closing the proxy, and every connection through it, is the outage).

1. The worker polls only every 60 s, so an LB that reaches ACTIVE within a
   second or two was woken by the broker's message.
2. The proxy is closed: the API still answers 2xx at once, and a worker on a
   third host polling every second completes the work.
3. The proxy opens again: the first worker (which lived through the outage)
   is woken by the broker again.

Skipped, with the reason printed, when RabbitMQ or PostgreSQL does not answer
on loopback.
"""

import contextlib
import os
import selectors
import socket
import tempfile
import threading
import time
import uuid

import pytest
import requests
import sqlalchemy

from tests.functional import served

RABBIT = ('127.0.0.1', 5672)
POSTGRES_ADMIN_URL = 'postgresql+psycopg://postgres@127.0.0.1/postgres'
POSTGRES_URL = 'postgresql+psycopg://postgres@127.0.0.1/%s'
LOCAL_V4_SUBNET = '9c3e0f7e-3f0b-4d8e-8d5b-2b6f9a4c1d01'
SLOW_POLL = 60.0
BROKER_LATENCY = 2.0  # seconds from POST to ACTIVE that only a wake-up explains
API_BOUND = 5.0  # an API blocked on a dead broker would wait far longer (connect retries)


class FaultProxy:
    """A TCP proxy to RabbitMQ on a loopback port; `close()` refuses new
    connections and cuts the open ones, `open()` serves again on the same port."""

    def __init__(self, target):
        self.target = target
        self.port = served.free_port()
        self.lock = threading.Lock()
        self.conns = []
        self.server = None
        self.open()

    def open(self):
        server = socket.socket()
        server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        server.bind(('127.0.0.1', self.port))
        server.listen(64)
        self.server = server
        threading.Thread(target=self._accept, args=(server,), daemon=True).start()

    def _accept(self, server):
        while True:
            try:
                client, _ = server.accept()
            except OSError:
                return  # closed
            try:
                upstream = socket.create_connection(self.target, timeout=5)
            except OSError:
                client.close()
                continue
            with self.lock:
                self.conns += [client, upstream]
            threading.Thread(target=self._pipe, args=(client, upstream), daemon=True).start()

    @staticmethod
    def _pipe(a, b):
        sel = selectors.DefaultSelector()
        sel.register(a, selectors.EVENT_READ, b)
        sel.register(b, selectors.EVENT_READ, a)
        try:
            while True:
                for key, _ in sel.select():
                    data = key.fileobj.recv(65536)
                    if not data:
                        return
                    key.data.sendall(data)
        except OSError:
            return
        finally:
            sel.close()
            a.close()
            b.close()

    def close(self):
        self.server.close()
        with self.lock:
            conns, self.conns = self.conns, []
        for conn in conns:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)
            conn.close()


def _reachable(address):
    try:
        socket.create_connection(address, timeout=2).close()
        return None
    except OSError as exc:
        return str(exc)


@pytest.fixture
def database():
    name = 'lbaas_wakeup_%s' % uuid.uuid4().hex[:8]
    try:
        admin = sqlalchemy.create_engine(POSTGRES_ADMIN_URL, isolation_level='AUTOCOMMIT')
        with admin.connect() as conn:
            conn.exec_driver_sql('CREATE DATABASE %s' % name)
    except Exception as exc:
        print('\nbroker wake-up test skipped: PostgreSQL not reachable: %s' % exc)
        pytest.skip('PostgreSQL not reachable on 127.0.0.1: %s' % exc)
    yield POSTGRES_URL % name
    with admin.connect() as conn:
        conn.exec_driver_sql('DROP DATABASE %s WITH (FORCE)' % name)
    admin.dispose()


class Deployment:
    def __init__(self, database_url, proxy):
        self.state_dir = tempfile.mkdtemp(prefix='lbaas-wakeup-')
        self.config = served.write_config(self.state_dir, database_url, {
            'DEFAULT': {'host': 'host-a',
                        'transport_url': 'rabbit://guest:guest@127.0.0.1:%d/' % proxy.port},
            'api_settings': {'workers': '1'},
            # Reconnect within seconds of the broker's return (30 s by default).
            'oslo_messaging_rabbit': {'rabbit_interval_max': '2'},
        })
        self.procs = []
        self.http = requests.Session()
        self.base = None

    def start_api(self):
        migrate = served.Proc(['db', 'upgrade', '--config-file', self.config,
                               '--state-dir', self.state_dir], self.state_dir, 'db-upgrade')
        assert migrate.popen.wait(120) == 0, migrate.tail()
        migrate.output.close()
        api, endpoint = served.start_api(self.state_dir, self.config)
        self.procs.append(api)
        self.base = endpoint + '/v2/lbaas/'
        return api

    def start_worker(self, host, poll_interval):
        extra = os.path.join(self.state_dir, '%s.conf' % host)
        with open(extra, 'w') as f:
            f.write('[DEFAULT]\nhost = %s\n[controller_worker]\npoll_interval = %s\n'
                    % (host, poll_interval))
        proc = served.start_worker(self.state_dir, self.config, host, extra)
        self.procs.append(proc)
        return proc

    def create_lb(self):
        """POST a load balancer; returns (id, seconds the API took)."""
        body = {'loadbalancer': {'name': 'wake-%s' % uuid.uuid4().hex[:6],
                                 'vip_subnet_id': LOCAL_V4_SUBNET}}
        started = time.monotonic()
        resp = self.http.post(self.base + 'loadbalancers', json=body, timeout=30)
        took = time.monotonic() - started
        assert resp.status_code == 201, resp.text
        return resp.json()['loadbalancer']['id'], took

    def wait_active(self, lb_id, timeout):
        """Seconds until the LB is ACTIVE (fails past `timeout`)."""
        started = time.monotonic()
        while time.monotonic() - started < timeout:
            resp = self.http.get(self.base + 'loadbalancers/' + lb_id, timeout=30)
            if resp.json()['loadbalancer']['provisioning_status'] == 'ACTIVE':
                return time.monotonic() - started
            time.sleep(0.02)
        raise AssertionError('%s not ACTIVE within %ss' % (lb_id, timeout))

    def stop(self):
        for proc in reversed(self.procs):
            if proc.popen.poll() is None:
                proc.stop()
            elif not proc.output.closed:
                proc.output.close()


def _wait_for_line(proc, text, timeout=30.0, since=0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with open(proc.output_path, errors='replace') as f:
            if text in f.read()[since:]:
                return
        assert proc.popen.poll() is None, proc.tail()
        time.sleep(0.1)
    raise AssertionError('%s never logged %r:\n%s' % (proc.name, text, proc.tail()))


def _size(proc):
    return os.path.getsize(proc.output_path)


def test_wakeups_cross_hosts_through_the_broker_and_polling_covers_an_outage(database):
    reason = _reachable(RABBIT)
    if reason:
        print('\nbroker wake-up test skipped: RabbitMQ not reachable: %s' % reason)
        pytest.skip('RabbitMQ not reachable on %s:%d: %s' % (RABBIT + (reason,)))
    proxy = FaultProxy(RABBIT)
    deployment = Deployment(database, proxy)
    try:
        api = deployment.start_api()
        slow = deployment.start_worker('host-b', SLOW_POLL)
        _wait_for_line(slow, 'listening on topic lbaas-worker')

        # 1. The broker's message, not the 60 s poll, wakes the worker.
        latencies = []
        for _ in range(3):
            lb_id, _ = deployment.create_lb()
            latencies.append(deployment.wait_active(lb_id, BROKER_LATENCY * 5))
        print('\nvia broker, POST to ACTIVE: %s s' % ', '.join('%.3f' % s for s in latencies))
        assert max(latencies) < BROKER_LATENCY, latencies

        # 2. Broker gone: the API answers at once, polling does the work.
        proxy.close()
        api_mark = _size(api)
        polling = deployment.start_worker('host-c', 1.0)
        lb_id, took = deployment.create_lb()
        assert took < API_BOUND, took
        outage_latency = deployment.wait_active(lb_id, 30)
        print('broker down: POST answered in %.3f s, ACTIVE after %.3f s (1 s polls)'
              % (took, outage_latency))
        for _ in range(3):
            _, took = deployment.create_lb()
            assert took < API_BOUND, took
        _wait_for_line(api, 'message broker unreachable', since=api_mark)
        with open(api.output_path, errors='replace') as f:
            assert f.read()[api_mark:].count('message broker unreachable') == 1
        code, _ = polling.stop()
        assert code == 0, polling.tail()
        deployment.wait_active(lb_id, 1)

        # 3. Broker back: the slow-polling worker, alive all along, is woken again.
        proxy.open()
        reopened = time.monotonic()
        resumed = None
        while time.monotonic() - reopened < 45 and resumed is None:
            lb_id, _ = deployment.create_lb()
            with contextlib.suppress(AssertionError):
                resumed = deployment.wait_active(lb_id, BROKER_LATENCY)
        assert resumed is not None, 'wake-ups did not resume:\n%s' % slow.tail()
        print('broker back: woken again %.1f s after it returned (POST to ACTIVE %.3f s)'
              % (time.monotonic() - reopened, resumed))
        lb_id, _ = deployment.create_lb()
        assert deployment.wait_active(lb_id, BROKER_LATENCY * 5) < BROKER_LATENCY
    finally:
        proxy.close()
        deployment.stop()
