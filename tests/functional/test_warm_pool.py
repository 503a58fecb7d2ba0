"""The warm pool on the noop drivers, on every database.

Housekeeping's `warm_pool.refill` keeps `spare_amphora_pool_size` READY
amphorae that no LB owns; a new LB takes one (its amphora is the spare,
compute instance and all); the pool is refilled, trimmed when the size
shrinks, and a spare whose compute instance broke is replaced. Two
transactions racing for the last spare never both get it.
"""
import threading
import time

import pytest
from sqlalchemy import func, select

from lbaas import config
from lbaas.controller import spares, warm_pool
from lbaas.db import models
from lbaas.db import session as db
from lbaas.drivers import base, noop
from lbaas.statuses import PENDING

CONF = config.CONF


@pytest.fixture
def drivers():
    return base.Drivers(noop.NoopCompute(), noop.NoopNetwork(), noop.NoopAmphora(),
                        noop.NoopCertificateAuthority())


def wait_for_pending_lbs(timeout=60.0):
    """Until the service's worker has settled every LB: an earlier test's LB
    still being built would take this module's spares."""
    LB = models.LoadBalancer
    deadline = time.monotonic() + timeout
    while True:
        with db.reading() as session:
            left = session.scalar(select(func.count()).select_from(LB).where(
                LB.provisioning_status.in_(PENDING)))
        if not left or time.monotonic() > deadline:
            return
        time.sleep(0.1)


@pytest.fixture
def pool(drivers, monkeypatch):
    """Sets the pool size; every spare is deleted afterwards. Other tests'
    LBs waiting for the service's worker do not hold the refill back here
    (that has a test of its own), and none is left to take a spare."""
    monkeypatch.setattr(warm_pool, 'backlog', lambda: False)
    wait_for_pending_lbs()

    def size(n):
        CONF.set_override('spare_amphora_pool_size', n, 'house_keeping')
        return warm_pool.refill(drivers)
    yield size
    size(0)
    CONF.clear_override('spare_amphora_pool_size', 'house_keeping')


def spare_rows():
    with db.reading() as session:
        return {a.id: a.compute_id for a in session.scalars(select(models.Amphora).where(
            models.Amphora.status == 'READY', models.Amphora.load_balancer_id.is_(None)))}


def amphorae_of(lb_id):
    with db.reading() as session:
        return [(a.id, a.compute_id, a.status) for a in session.scalars(
            select(models.Amphora).where(models.Amphora.load_balancer_id == lb_id))]


def test_a_new_lb_takes_a_spare_and_the_pool_refills(client, drivers, pool):
    assert pool(2) == (2, 0)
    before = spare_rows()
    assert len(before) == 2 and all(drivers.compute.built.get(c) == '' for c in before.values())

    lb = client.create_lb()
    ((amphora_id, compute_id, status),) = amphorae_of(lb['id'])
    assert status == 'ALLOCATED' and before.get(amphora_id) == compute_id
    assert set(spare_rows()) == set(before) - {amphora_id}

    assert pool(2) == (1, 0)
    assert len(spare_rows()) == 2 and amphora_id not in spare_rows()
    assert client.delete('loadbalancers/%s?cascade=true' % lb['id']).status_code == 204
    client.wait_lb(lb['id'], 'DELETED')


def test_no_spare_is_built_while_lbs_wait_for_a_worker(client, drivers, pool, monkeypatch):
    monkeypatch.setattr(warm_pool, 'backlog', lambda: True)
    assert pool(2) == (0, 0)
    monkeypatch.setattr(warm_pool, 'backlog', lambda: False)
    assert pool(2) == (2, 0)


def test_the_pool_shrinks_and_broken_spares_are_replaced(service, drivers, pool):
    pool(3)
    broken, *_ = spare_rows().values()
    drivers.compute.delete(broken)  # its instance is gone: the noop compute says DELETED
    assert pool(3) == (1, 1)
    assert broken not in spare_rows().values() and len(spare_rows()) == 3
    assert pool(1) == (0, 2)
    assert len(spare_rows()) == 1
    assert pool(0) == (0, 1)
    assert spare_rows() == {}


def test_two_takers_never_get_the_same_spare(drivers, pool, lb):
    pool(1)
    barrier = threading.Barrier(2)
    got = []

    def take():
        barrier.wait()
        with db.writing() as session:
            row = spares.take(session, lb['id'], {'role': 'STANDALONE'})
            got.append(row.id if row is not None else None)
            if row is not None:  # not left on the LB: a noop worker would keep it
                row.status, row.load_balancer_id = 'DELETED', None

    threads = [threading.Thread(target=take) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    taken = [g for g in got if g is not None]
    assert len(got) == 2 and len(taken) == 1, got


def test_no_spare_for_a_pair_placed_apart():
    CONF.set_override('enable_anti_affinity', True, 'nova')
    try:
        assert not spares.usable('ACTIVE_STANDBY') and spares.usable('SINGLE')
    finally:
        CONF.clear_override('enable_anti_affinity', 'nova')
    assert spares.usable('ACTIVE_STANDBY')
