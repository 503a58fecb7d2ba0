"""The health manager, in-process, against the real database and worker.

Real UDP datagrams to a health manager on 127.0.0.1, signed with a test key,
for the amphorae of load balancers made through the API (noop drivers: the
amphora rows exist, nothing ever sends a heartbeat on its own). Each test
starts its own health manager on a clean amphora_health table.
"""
import socket
import threading
import time
import uuid
import zlib

import pytest
from sqlalchemy import delete, select

from lbaas import config, wire
from lbaas.controller import health
from lbaas.db import models
from lbaas.db import session as db
from tests.functional.conftest import build_tree, held, status_of

KEY = b'functional-heartbeat-key'


def _free_udp_port():
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(('127.0.0.1', 0))
        return sock.getsockname()[1]


def _clear_health():
    with db.writing() as session:
        session.execute(delete(models.AmphoraHealth))


class Running:
    """A health manager thread, and a socket to send it datagrams."""

    def __init__(self, timeout, check_interval):
        conf = config.CONF
        self.port = _free_udp_port()
        for name, value in (('bind_ip', '127.0.0.1'), ('bind_port', self.port),
                            ('heartbeat_timeout', timeout),
                            ('health_check_interval', check_interval)):
            conf.set_override(name, value, 'health_manager')
        self.manager = health.HealthManager(key=KEY)
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.manager.run, args=(self.stop,), daemon=True)
        self.thread.start()
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.seq = {}

    def send_raw(self, datagram):
        self.sock.sendto(datagram, ('127.0.0.1', self.port))

    def beat(self, amphora_id, key=KEY, **message):
        """Send one heartbeat (next seq for this amphora); returns its bytes."""
        self.seq[amphora_id] = self.seq.get(amphora_id, 0) + 1
        datagram = wire.encode_heartbeat(
            {'id': amphora_id, 'seq': self.seq[amphora_id], 'ver': 3, **message}, key)
        self.send_raw(datagram)
        return datagram

    def close(self):
        self.stop.set()
        self.thread.join(10)
        self.sock.close()
        for name in ('bind_ip', 'bind_port', 'heartbeat_timeout', 'health_check_interval'):
            config.CONF.clear_override(name, 'health_manager')


@pytest.fixture
def start_hm(service):
    started = []

    def start(timeout=30.0, check_interval=0.1):
        _clear_health()
        running = Running(timeout, check_interval)
        started.append(running)
        return running
    yield start
    for running in started:
        running.close()
    _clear_health()


def wait_for(predicate, timeout=10.0, what='condition'):
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        assert time.monotonic() < deadline, 'timed out waiting for %s' % what
        time.sleep(0.05)


def amphora_of(lb_id):
    with db.reading() as session:
        return session.scalars(select(models.Amphora.id).where(
            models.Amphora.load_balancer_id == lb_id,
            models.Amphora.status == 'ALLOCATED')).one()


def row(model, key):
    with db.reading() as session:
        return session.get(model, key)


def report(tree, member='UP', totals=None, listener='OPEN'):
    """A heartbeat's listeners and pools for a build_tree graph."""
    listener_id, pool_id = tree['listener']['id'], tree['pool']['id']
    totals = totals or {'tx': 100, 'rx': 50, 'totconns': 7, 'ereq': 1}
    return {
        'listeners': {listener_id: {
            'status': listener,
            'stats': {'tx': 0, 'rx': 0, 'conns': 2, 'totconns': 0, 'ereq': 0},
            'totals': totals}},
        'pools': {'%s:%s' % (pool_id, listener_id): {
            'status': 'UP', 'members': {tree['member']['id']: member}}},
    }


def operating(client, tree, lb_id):
    return (client.show('loadbalancers/' + lb_id, 'loadbalancer')['operating_status'],
            client.show('listeners/' + tree['listener']['id'], 'listener')['operating_status'],
            client.show('pools/' + tree['pool']['id'], 'pool')['operating_status'],
            client.show('pools/%s/members/%s' % (tree['pool']['id'], tree['member']['id']),
                        'member')['operating_status'])


def test_a_heartbeat_records_health_statuses_and_statistics(start_hm, client, lb):
    tree = build_tree(client, lb['id'], '198.18.3.10')
    assert operating(client, tree, lb['id']) == ('OFFLINE', 'OFFLINE', 'OFFLINE', 'NO_MONITOR')
    amphora_id = amphora_of(lb['id'])
    hm = start_hm()
    hm.beat(amphora_id, **report(tree))
    wait_for(lambda: operating(client, tree, lb['id']) == ('ONLINE',) * 4, what='ONLINE')
    health_row = row(models.AmphoraHealth, amphora_id)
    assert health_row is not None and not health_row.busy
    stats = client.show('listeners/%s/stats' % tree['listener']['id'], 'stats')
    assert stats == {'bytes_in': 50, 'bytes_out': 100, 'total_connections': 7,
                     'request_errors': 1, 'active_connections': 2}

    # The same news again: nothing to write (its last_update is recent enough).
    written = hm.manager.store.transactions
    hm.beat(amphora_id, **report(tree))
    wait_for(lambda: hm.manager.counts['accepted'] == 2, what='the second heartbeat')
    time.sleep(0.6)
    assert hm.manager.store.transactions == written

    # A member goes down: it, its pool and the LB change, in one write.
    hm.beat(amphora_id, **report(tree, member='DOWN', totals={'tx': 300, 'rx': 90,
                                                                'totconns': 9, 'ereq': 1}))
    wait_for(lambda: operating(client, tree, lb['id'])
             == ('DEGRADED', 'ONLINE', 'DEGRADED', 'ERROR'), what='DEGRADED')
    stats = client.show('listeners/%s/stats' % tree['listener']['id'], 'stats')
    assert (stats['bytes_out'], stats['total_connections']) == (300, 9)  # totals, not sums


def test_statuses_wait_while_the_lb_is_pending(start_hm, client, lb):
    tree = build_tree(client, lb['id'], '198.18.3.11')
    amphora_id = amphora_of(lb['id'])
    hm = start_hm()
    hm.beat(amphora_id, **report(tree))
    wait_for(lambda: operating(client, tree, lb['id']) == ('ONLINE',) * 4, what='ONLINE')
    with status_of('LoadBalancer', lb['id'], 'PENDING_UPDATE'):
        hm.beat(amphora_id, **report(tree, member='DOWN'))
        wait_for(lambda: hm.manager.counts['accepted'] == 2, what='the heartbeat')
        time.sleep(0.6)
        assert operating(client, tree, lb['id']) == ('ONLINE',) * 4
    hm.beat(amphora_id, **report(tree, member='DOWN'))
    wait_for(lambda: operating(client, tree, lb['id'])[3] == 'ERROR', what='member ERROR')


def snapshot(lb_id):
    """Every row a heartbeat may change, as plain tuples."""
    tables = {}
    with db.reading() as session:
        for model in (models.AmphoraHealth, models.ListenerStatistics, models.Amphora):
            tables[model.__tablename__] = [tuple(r) for r in session.execute(
                select(*model.__table__.columns).order_by(*model.__table__.primary_key))]
        for model, column in ((models.LoadBalancer, models.LoadBalancer.id),
                              (models.Listener, models.Listener.load_balancer_id),
                              (models.Pool, models.Pool.load_balancer_id)):
            tables[model.__tablename__] = [tuple(r) for r in session.execute(
                select(*model.__table__.columns).where(column == lb_id).order_by(model.id))]
        tables['member'] = [tuple(r) for r in session.execute(
            select(*models.Member.__table__.columns).join(models.Pool)
            .where(models.Pool.load_balancer_id == lb_id).order_by(models.Member.id))]
    return tables


def test_bad_datagrams_change_nothing_and_are_counted(start_hm, client, lb):
    tree = build_tree(client, lb['id'], '198.18.3.12')
    amphora_id = amphora_of(lb['id'])
    hm = start_hm()
    accepted = hm.beat(amphora_id, **report(tree))
    wait_for(lambda: operating(client, tree, lb['id']) == ('ONLINE',) * 4, what='ONLINE')
    time.sleep(0.3)  # the last flush is over
    before = snapshot(lb['id'])
    down = report(tree, member='DOWN', totals={'tx': 999, 'rx': 999, 'totconns': 99, 'ereq': 9})
    hm.beat(amphora_id, key=b'wrong key', **down)  # forged
    hm.send_raw(accepted)  # replayed
    payload = zlib.compress(b'{"id": "x", "seq": "one"}')
    hm.send_raw(payload + wire._heartbeat_mac(payload, KEY))  # garbled
    bomb = zlib.compress(b'{' + b' ' * (20 * wire.HEARTBEAT_MAX_BYTES) + b'}', 9)
    hm.send_raw(bomb + wire._heartbeat_mac(bomb, KEY))  # oversized once inflated
    hm.beat(str(uuid.uuid4()), **down)  # unknown amphora
    hm.seq[amphora_id] = 0
    hm.beat(amphora_id, **down)  # an old seq, newly signed: replayed too
    expected = {'accepted': 1, 'forged': 1, 'replayed': 2, 'garbled': 1, 'oversized': 1,
                'unknown': 1}
    wait_for(lambda: dict(hm.manager.counts) == expected, what=str(expected))
    time.sleep(0.6)  # two flush periods
    assert snapshot(lb['id']) == before


def test_a_silent_amphora_is_failed_over(start_hm, client, lb):
    amphora_id = amphora_of(lb['id'])
    hm = start_hm(timeout=0.5)
    with held(lb['id']):  # the worker waits, so the request can be seen
        hm.beat(amphora_id)
        wait_for(lambda: row(models.Amphora, amphora_id).failover_requested, what='failover')
        assert row(models.LoadBalancer, lb['id']).provisioning_status == 'PENDING_UPDATE'
        assert row(models.AmphoraHealth, amphora_id).busy
    client.wait_lb(lb['id'])
    assert row(models.Amphora, amphora_id).status == 'DELETED'
    assert amphora_of(lb['id']) != amphora_id  # its successor
    assert hm.manager.stale.requested == 1


class Beating:
    """Heartbeats for some amphorae every 0.1 s, in a thread."""

    def __init__(self, hm, amphora_ids):
        self.hm, self.amphora_ids = hm, list(amphora_ids)
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.thread.start()

    def run(self):
        while not self.stop.wait(0.1):
            for amphora_id in self.amphora_ids:
                self.hm.beat(amphora_id)

    def close(self):
        self.stop.set()
        self.thread.join(5)


def test_many_silent_at_once_trip_the_breaker(start_hm, client):
    lbs = [client.create_lb(name='hm-breaker-%d' % i)['id'] for i in range(3)]
    amphorae = [amphora_of(lb_id) for lb_id in lbs]
    hm = start_hm(timeout=0.5)
    for amphora_id in amphorae:
        hm.beat(amphora_id)
    wait_for(lambda: hm.manager.stale.breaker.open, what='the breaker to open')
    time.sleep(1.0)
    assert not any(row(models.Amphora, a).failover_requested for a in amphorae)
    assert all(row(models.LoadBalancer, lb_id).provisioning_status == 'ACTIVE' for lb_id in lbs)

    # Two come back: one silent of three is not too many; it alone fails over.
    beating = Beating(hm, amphorae[:2])
    try:
        wait_for(lambda: not hm.manager.stale.breaker.open, what='the breaker to close')
        wait_for(lambda: row(models.Amphora, amphorae[2]).failover_requested
                 or row(models.Amphora, amphorae[2]).status == 'DELETED', what='failover')
        client.wait_lb(lbs[2])
        assert not any(row(models.Amphora, a).failover_requested for a in amphorae[:2])
        assert hm.manager.stale.requested == 1
    finally:
        beating.close()
        for lb_id in lbs:
            client.delete('loadbalancers/%s?cascade=true' % lb_id)
