"""A PostgreSQL outage under load: 503s, no 500, nothing lost, quick recovery.

PostgreSQL only: while a few clients create load balancers, listeners, pools
and members and read them back (about 25 s in all), the server is stopped
for 10 s and started again. During the outage the API answers 503 with
Octavia's fault body and a Retry-After header, never 500; the worker thread
(and a housekeeping thread) ride it out; every write acknowledged with a 2xx
is there afterwards and ACTIVE; and what was pending when the database came
back settles within 10 s.

This stops the shared PostgreSQL server, which breaks whatever else uses it
meanwhile: it is the only test of its module, it is skipped under
pytest-xdist, and it always starts the server again (in a `finally`, even on
KeyboardInterrupt).
"""
import dataclasses
import gc
import json
import logging
import os
import shutil
import subprocess
import threading
import time

import pytest
import requests
import sqlalchemy

from tests.functional.conftest import LOCAL_V4_SUBNET, new_admin, new_member

BEFORE, OUTAGE, AFTER = 7.0, 10.0, 8.0  # seconds of load around and during the outage
SETTLE = 10.0  # what was pending when PostgreSQL returned is ACTIVE this soon after
CLIENTS = 3

pytestmark = pytest.mark.skipif(bool(os.environ.get('PYTEST_XDIST_WORKER')),
                                reason='stops the shared PostgreSQL server: '
                                       'run it in a serial pytest run')


def _cluster():
    versions = sorted(os.listdir('/etc/postgresql')) if os.path.isdir('/etc/postgresql') \
        else []
    return (versions[-1], 'main') if versions else None


def pg_ctl(action):
    """Stop (fast) or start the local PostgreSQL cluster; True if it worked."""
    version, name = _cluster()
    command = ['pg_ctlcluster', '--skip-systemctl-redirect', version, name, action]
    if action == 'stop':
        command += ['-m', 'fast']
    done = subprocess.run(command, capture_output=True, text=True, timeout=60)
    if done.returncode and action == 'start' and 'already running' in done.stderr:
        return True
    print('%s: %s %s' % (' '.join(command), done.returncode, done.stderr.strip()))
    return done.returncode == 0


def _start_again():
    """Start the shared server, trying hard: it must never be left down."""
    for _ in range(3):
        try:
            if pg_ctl('start'):
                return
        except Exception as exc:  # a timeout, say: try again
            print('starting PostgreSQL failed: %r' % exc)
        time.sleep(1)
    raise AssertionError('PostgreSQL did not start again: start it by hand!')


def _why_not(service):
    if service['backend'] != 'postgresql':
        return 'the outage test runs on PostgreSQL only (this is %s)' % service['backend']
    if shutil.which('pg_ctlcluster') is None or _cluster() is None:
        return 'pg_ctlcluster or /etc/postgresql is not available'
    if os.geteuid() != 0:
        return 'stopping PostgreSQL with pg_ctlcluster needs root'
    return None


@dataclasses.dataclass
class Call:
    started: float
    ended: float
    method: str
    path: str
    status: int          # 0: no HTTP answer at all
    headers: dict        # (case-insensitive, as requests gives them)
    body: str


@dataclasses.dataclass
class Created:
    kind: str            # envelope key
    path: str            # where a GET finds it
    lb_id: str


class Client(threading.Thread):
    """Builds LB -> listener -> pool -> two members, again and again, reading
    its load balancer back between the steps; records every answer."""

    def __init__(self, service, deadline, calls, created):
        super().__init__(name='outage-load', daemon=True)
        self.api = new_member(service)
        self.deadline, self.calls, self.created = deadline, calls, created
        self.chain = {}

    def call(self, method, path, body=None):
        started = time.time()
        try:
            resp = self.api.session.request(method, self.api.url(path), json=body, timeout=20)
        except requests.RequestException as exc:
            self.calls.append(Call(started, time.time(), method, path, 0, {}, repr(exc)))
            return None
        self.calls.append(Call(started, time.time(), method, path, resp.status_code,
                               resp.headers, resp.text))
        return resp

    def create(self, kind, collection, body):
        """POST; the new object's id if it was acknowledged (201), else None."""
        resp = self.call('POST', collection, {kind: body})
        if resp is None or resp.status_code != 201:
            return None
        obj_id = resp.json()[kind]['id']
        path = '%s/%s' % (collection, obj_id)
        self.created.append(Created(kind, path, self.chain.get('lb', obj_id)))
        return obj_id

    def lb_active(self):
        resp = self.call('GET', 'loadbalancers/' + self.chain['lb'])
        return resp is not None and resp.status_code == 200 and \
            resp.json()['loadbalancer']['provisioning_status'] == 'ACTIVE'

    def step(self):
        chain = self.chain
        if 'lb' not in chain:
            made = self.create('loadbalancer', 'loadbalancers', {
                'vip_subnet_id': LOCAL_V4_SUBNET, 'name': 'outage'})
        elif not self.lb_active():
            return
        elif 'listener' not in chain:
            made = self.create('listener', 'listeners', {
                'loadbalancer_id': chain['lb'], 'protocol': 'HTTP', 'protocol_port': 80})
        elif 'pool' not in chain:
            made = self.create('pool', 'pools', {
                'listener_id': chain['listener'], 'protocol': 'HTTP',
                'lb_algorithm': 'ROUND_ROBIN'})
        elif len(chain.get('members', ())) < 2:
            made = self.create('member', 'pools/%s/members' % chain['pool'], {
                'address': '198.18.9.%d' % (len(chain.get('members', ())) + 1),
                'protocol_port': 80})
            if made:
                chain.setdefault('members', []).append(made)
            return
        else:
            self.chain = {}
            return
        if made:
            chain[next(k for k in ('lb', 'listener', 'pool') if k not in chain)] = made

    def run(self):
        while time.time() < self.deadline:
            self.step()
            time.sleep(0.05)


def _worker_thread():
    """The service's worker thread (conftest starts it with target Worker.run)."""
    from lbaas.controller import worker
    for thread in threading.enumerate():
        target = getattr(thread, '_target', None)
        if isinstance(getattr(target, '__self__', None), worker.Worker):
            return thread, target.__self__
    raise AssertionError('no worker thread is running')


def _start_housekeeping():
    from lbaas import config
    from lbaas.controller import housekeeping
    config.CONF.set_override('cleanup_interval', 1, 'house_keeping')
    stop = threading.Event()
    thread = threading.Thread(target=housekeeping.run, args=(stop,), name='housekeeping',
                              daemon=True)
    thread.start()
    return thread, stop


def _stop_housekeeping(thread, stop):
    from lbaas import config
    stop.set()
    thread.join(10)
    config.CONF.clear_override('cleanup_interval', 'house_keeping')


def _forget_dead_connections():
    """conftest's admin engine (CREATE/DROP DATABASE) pools a connection that
    the restart killed and has no pre-ping: drop it, so teardown reconnects."""
    for obj in gc.get_objects():
        if isinstance(obj, sqlalchemy.engine.Engine) and obj.url.database == 'postgres':
            obj.dispose()


def _statuses(admin, created):
    found = {}
    for item in created:
        resp = admin.get(item.path)
        found[item.path] = resp.json()[item.kind]['provisioning_status'] \
            if resp.status_code == 200 else resp.status_code
    return found


def _wait_active(admin, created, deadline):
    while True:
        statuses = _statuses(admin, created)
        if all(status == 'ACTIVE' for status in statuses.values()) or time.time() > deadline:
            return {path: s for path, s in statuses.items() if s != 'ACTIVE'}
        time.sleep(0.2)


def _run_outage(service, window, created):
    """Load, the outage in the middle; fills `window` (stopped, started)."""
    calls = []
    deadline = time.time() + BEFORE + OUTAGE + AFTER
    clients = [Client(service, deadline, calls, created) for _ in range(CLIENTS)]
    for client in clients:
        client.start()
    try:
        time.sleep(BEFORE)
        window['stopping'] = time.time()
        stopped = pg_ctl('stop')
        window['stopped'] = time.time()
        assert stopped, 'PostgreSQL did not stop'
        time.sleep(1.0)
        window['health_during'] = _healthcheck(service)
        time.sleep(OUTAGE - 1.0)
    finally:
        window['starting'] = time.time()
        _start_again()
        window['started'] = time.time()
        _forget_dead_connections()
        for client in clients:
            client.join(BEFORE + OUTAGE + AFTER + 30)
    window['health_after'] = _healthcheck(service)
    return calls


def _healthcheck(service):
    """What a load balancer in front of the API sees at /healthcheck."""
    return requests.get(service['url'] + '/healthcheck', timeout=10).status_code


def _check_answers(calls, window):
    errors = [c for c in calls if (c.status >= 500 and c.status != 503) or c.status == 0]
    assert not errors, ['%s %s -> %s %s' % (c.method, c.path, c.status, c.body[:200])
                        for c in errors[:10]]
    during = [c for c in calls if c.started > window['stopped'] and
              c.ended < window['starting']]
    assert during, 'no request was answered during the outage'
    wrong = [c for c in during if c.status != 503]
    assert not wrong, ['%s %s -> %s' % (c.method, c.path, c.status) for c in wrong[:10]]
    for call in (c for c in calls if c.status == 503):
        assert call.headers.get('Retry-After', '').isdigit(), call.headers
        assert call.headers.get('Content-Type', '').startswith('application/json')
        body = json.loads(call.body)
        assert body == {'faultcode': 'Server', 'faultstring': body['faultstring'],
                        'debuginfo': None} and body['faultstring'], body


def test_a_postgresql_outage_answers_503_and_loses_nothing(service, caplog):
    reason = _why_not(service)
    if reason:
        print('skipped: ' + reason)
        pytest.skip(reason)
    caplog.set_level(logging.INFO)
    worker_thread, worker = _worker_thread()
    keeper, keeper_stop = _start_housekeeping()
    window, created = {}, []
    try:
        calls = _run_outage(service, window, created)
        # Acknowledged before, or after the return: all there and ACTIVE, and
        # what was pending when PostgreSQL came back is settled SETTLE later.
        late = _wait_active(new_admin(service), created, window['started'] + SETTLE)
        assert not late, late
        assert any(c.ended < window['stopping'] for c in created_calls(calls)), \
            'nothing was created before the outage'
        _check_answers(calls, window)
        assert (window['health_during'], window['health_after']) == (503, 200)
        print('outage test: %d requests, %d answered 503, %d objects created and ACTIVE'
              % (len(calls), sum(c.status == 503 for c in calls), len(created)))
        assert worker_thread.is_alive() and _worker_thread()[0] is worker_thread
        assert keeper.is_alive(), 'housekeeping stopped'
        _check_logs(caplog, worker)
    finally:
        _stop_housekeeping(keeper, keeper_stop)
        admin = new_admin(service)
        for lb_id in {c.lb_id for c in created}:
            admin.delete('loadbalancers/%s?cascade=true' % lb_id)


def created_calls(calls):
    return [c for c in calls if c.method == 'POST' and c.status == 201]


def _check_logs(caplog, worker):
    """One warning per outage from each loop, not one per iteration."""
    for name in ('worker %s' % worker.owner, 'housekeeping'):
        gone = [r for r in caplog.records if r.getMessage().startswith(
            name + ': database unavailable')]
        assert 1 <= len(gone) <= 2, [r.getMessage() for r in gone]
