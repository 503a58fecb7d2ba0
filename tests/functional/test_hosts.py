"""Data-plane hosts on every database: placement, liveness, and the router
that runs an amphora's host-local steps on its own host.

The placement tests write `host` rows by hand and ask `hosts.place` where a
new amphora of an LB goes. The router tests run two "hosts" in this process
over oslo.messaging's in-memory `fake:` transport: a `HostServer` for host
`remote` on its own noop drivers, and a `HostRouter` on this host's, so each
call's outcome shows on the fake of the host that ran it.
"""
import datetime
import threading
import time
import types
import uuid

import pytest
from sqlalchemy import delete, select, update

from lbaas import config, wakeup
from lbaas.controller import hosts, remote
from lbaas.controller.health import stale
from lbaas.db import models
from lbaas.db import session as db
from lbaas.drivers import base, noop
from lbaas.statuses import AmphoraStatus

CONF = config.CONF


def _tag():
    return uuid.uuid4().hex[:6]


@pytest.fixture
def fleet(service):
    """Makes host rows (name -> (capacity, zone, alive)); removes them and
    their amphora rows afterwards."""
    made = []

    def make(**specs):
        now = models.utcnow()
        with db.writing() as session:
            for name, (capacity, zone, alive) in specs.items():
                beat = now if alive else now - datetime.timedelta(seconds=600)
                session.merge(models.Host(name=name, capacity=capacity,
                                          availability_zone=zone, heartbeat_at=beat))
                made.append(name)
    yield make
    with db.writing() as session:  # the noop worker's amphorae have no host
        session.execute(delete(models.Amphora).where(
            models.Amphora.host.in_([*made, hosts.local()])))
        session.execute(delete(models.Host).where(models.Host.name.in_(made)))


def _lb(client, zone=None):
    """An LB (noop drivers) in availability zone `zone`, whose profile names compute zone `zone`."""
    lb = client.create_lb()
    if zone:
        with db.writing() as session:
            profile = models.AvailabilityZoneProfile(
                name=zone, provider_name='amphora',
                availability_zone_data='{"compute_zone": "%s"}' % zone)
            session.add(profile)
            session.flush()
            session.add(models.AvailabilityZone(name=zone, availability_zone_profile_id=profile.id))
            session.execute(update(models.LoadBalancer).where(models.LoadBalancer.id == lb['id'])
                            .values(availability_zone=zone))
    return lb


def _amphorae(lb_id, host, count=1, status=AmphoraStatus.ALLOCATED):
    with db.writing() as session:
        for _ in range(count):
            session.add(models.Amphora(id=models.new_id(), load_balancer_id=lb_id,
                                       status=status, host=host))


def _place(lb_id, topology='SINGLE'):
    with db.writing() as session:
        return hosts.place(session, lb_id, topology)


def test_the_least_loaded_live_host_by_its_share_of_capacity(client, fleet):
    t = _tag()
    a, b, dead = 'a-' + t, 'b-' + t, 'dead-' + t
    fleet(**{a: (10, t, True), b: (100, t, True), dead: (1000, t, False)})
    lb = _lb(client, zone=t)
    _amphorae(None, a, 2)  # 20% of a
    _amphorae(None, b, 10)  # 10% of b
    assert _place(lb['id']) == b
    _amphorae(None, b, 20)  # 30% of b
    assert _place(lb['id']) == a
    _amphorae(None, 'dead-' + t, 100)  # a dead host's amphorae count for nobody
    _amphorae(None, a, 1, status=AmphoraStatus.DELETED)
    assert _place(lb['id']) == a


def test_a_pair_is_placed_apart_and_active_active_together(client, fleet):
    t = _tag()
    a, b = 'a-' + t, 'b-' + t
    fleet(**{a: (10, t, True), b: (10, t, True)})
    lb = _lb(client, zone=t)
    _amphorae(lb['id'], a)
    _amphorae(None, b, 3)  # b is fuller, yet the pair's second goes there
    assert _place(lb['id'], 'ACTIVE_STANDBY') == b
    assert _place(lb['id'], 'ACTIVE_ACTIVE') == a


def test_a_host_that_missed_two_beats_gets_amphorae_only_when_no_other_can(client, fleet):
    t = _tag()
    a, b = 'a-' + t, 'b-' + t
    fleet(**{a: (10, t, True), b: (10, t, True)})
    _amphorae(None, b, 5)
    with db.writing() as session:  # a is emptier, but silent for 3 s (beats every 1 s)
        session.execute(update(models.Host).where(models.Host.name == a).values(
            heartbeat_at=models.utcnow() - datetime.timedelta(seconds=3)))
    lb = _lb(client, zone=t)
    assert _place(lb['id']) == b
    _amphorae(lb['id'], b)
    assert _place(lb['id'], 'ACTIVE_STANDBY') == a  # a pair apart comes first
    _amphorae(None, b, 4)  # b full: a still takes it (it is not dead yet)
    assert _place(lb['id']) == a


def test_a_zone_without_live_hosts_or_room_is_retried_not_guessed(client, fleet):
    t = _tag()
    fleet(**{'dead-' + t: (10, t, False)})
    lb = _lb(client, zone=t)
    with pytest.raises(base.TransientError, match='no live data-plane host'):
        _place(lb['id'])
    fleet(**{'full-' + t: (1, t, True)})
    _amphorae(None, 'full-' + t)
    with pytest.raises(base.TransientError, match='full'):
        _place(lb['id'])


def test_registration_is_an_upsert_and_liveness_follows_it(service, monkeypatch):
    name = 'me-' + _tag()
    monkeypatch.setattr(hosts, 'local', lambda: name)
    hosts.register()
    hosts.register()
    with db.reading() as session:
        (row,) = session.scalars(select(models.Host).where(models.Host.name == name))
        assert row.capacity == CONF.hosts.capacity
    assert hosts.Liveness().alive(name)
    assert not hosts.Liveness().alive('never-' + _tag())
    with db.writing() as session:
        session.execute(delete(models.Host).where(models.Host.name == name))


def test_housekeeping_looks_after_its_own_rows_and_a_dead_hosts(fleet):
    t = _tag()
    fleet(**{'live-' + t: (10, None, True), 'dead-' + t: (10, None, False)})
    for host in ('live-' + t, 'dead-' + t, hosts.local()):
        _amphorae(None, host, status=AmphoraStatus.PENDING_DELETE)
    with db.reading() as session:
        seen = set(session.scalars(select(models.Amphora.host).where(
            models.Amphora.status == AmphoraStatus.PENDING_DELETE, hosts.looked_after_here())))
    assert 'dead-' + t in seen and hosts.local() in seen and 'live-' + t not in seen
    with db.writing() as session:
        session.execute(delete(models.Amphora).where(models.Amphora.host == hosts.local()))


def test_an_amphora_never_heard_from_is_failed_over_when_its_host_dies(client, fleet):
    t = _tag()
    fleet(**{'live-' + t: (10, None, True), 'dead-' + t: (10, None, False)})
    lb = client.create_lb()
    for host in ('live-' + t, 'dead-' + t):
        _amphorae(lb['id'], host)
    with db.reading() as session:
        heard = session.scalars(select(models.Amphora.id).where(
            models.Amphora.host == 'dead-' + t)).one()
        session.merge(models.AmphoraHealth(amphora_id=heard, last_update=models.utcnow()))
    _amphorae(lb['id'], 'dead-' + t)  # this one never reported
    (orphan,) = [a for a in stale.unheard_on_dead_hosts() if a != heard]
    assert stale.StaleCheck(3.0, 1.0, None, 1.0).run_once() >= 1
    with db.reading() as session:
        assert session.get(models.Amphora, orphan).failover_requested
        assert session.get(models.LoadBalancer, lb['id']).provisioning_status == 'PENDING_UPDATE'


@pytest.fixture
def two_hosts(fleet, monkeypatch):
    """(router on this host's fakes, the remote host's fakes, its name)."""
    remote_name = 'remote-' + _tag()
    fleet(**{remote_name: (10, None, True)})
    # The fake transport is handed over, never set in CONF: oslo.config keeps
    # an override's location after clear_override, and broker_configured()
    # reads the location.
    fake = wakeup.messaging().get_rpc_transport(CONF, url='fake:/')
    monkeypatch.setattr(remote, '_transport', lambda: fake)
    monkeypatch.setattr(wakeup, 'broker_configured', lambda: True)
    there = noop.NoopCompute(), noop.NoopNetwork()
    stop, started = threading.Event(), threading.Event()
    server = threading.Thread(target=remote.serve,
                              args=(remote.HostServer(*there), stop, remote_name, started))
    server.start()
    assert started.wait(30)
    router = remote.HostRouter(noop.NoopCompute(), noop.NoopNetwork())
    yield router, there, remote_name
    stop.set()
    server.join()
    fake.cleanup()


def _amphora_on(host, lb_id=None):
    amphora_id = models.new_id()
    with db.writing() as session:
        session.add(models.Amphora(id=amphora_id, load_balancer_id=lb_id,
                                   status=AmphoraStatus.PENDING_CREATE, host=host))
    return amphora_id


def test_host_local_steps_run_on_the_amphoras_host(two_hosts):
    router, (compute_there, network_there), remote_name = two_hosts
    far, near = _amphora_on(remote_name), _amphora_on(hosts.local())
    far_id = router.build(far, 'lb')
    near_id = router.build(near, 'lb')
    assert far_id in compute_there.built and far_id not in router.compute.built
    assert near_id in router.compute.built and near_id not in compute_there.built
    amphora = base.Amphora(id=far, lb_id='lb', compute_id=far_id, host=remote_name)
    lb = base.LoadBalancerNetwork(id='lb', topology='SINGLE',
                                  vips=(base.Vip(subnet_id='s', address='198.18.0.9'),))
    addressing = router.plug_amphora(amphora, lb)
    assert isinstance(addressing, base.Addressing)
    assert far in network_there.plugged and far not in router.network.plugged
    assert router.status(far_id) == 'ACTIVE'
    router.delete(far_id)
    assert far_id in compute_there.deleted


def test_a_dead_hosts_amphorae_are_skipped_and_an_unbuilt_one_placed_again(two_hosts):
    router, (compute_there, _), remote_name = two_hosts
    far = _amphora_on(remote_name)
    far_id = router.build(far, 'lb')
    with db.writing() as session:
        session.execute(update(models.Host).where(models.Host.name == remote_name).values(
            heartbeat_at=models.utcnow() - datetime.timedelta(seconds=600)))
    router.liveness = hosts.Liveness()  # forget the cached "alive"
    assert router.status(far_id) == AmphoraStatus.DELETED
    router.delete(far_id)  # skipped: the dead host sweeps it when it returns
    assert far_id not in compute_there.deleted
    unbuilt = _amphora_on(remote_name)
    router.build(unbuilt, '')
    with db.reading() as session:
        assert session.get(models.Amphora, unbuilt).host != remote_name


def test_a_call_is_given_up_when_its_host_dies_meanwhile(two_hosts, monkeypatch):
    router, (compute_there, _), remote_name = two_hosts
    monkeypatch.setattr(remote, '_LOOK_EVERY', 0.1)
    started = threading.Event()

    def slow_build(amphora_id, lb_id):  # the host stops while it builds
        started.set()
        time.sleep(3)
        return 'late'

    monkeypatch.setattr(compute_there, 'build', slow_build)
    stopped = threading.Event()
    router.liveness = types.SimpleNamespace(alive=lambda host: not stopped.is_set())
    threading.Timer(0.5, stopped.set).start()
    begun = time.monotonic()
    with pytest.raises(base.TransientError, match='died during build'):
        router.build(_amphora_on(remote_name), 'lb')
    assert started.is_set() and time.monotonic() - begun < 2


def test_another_host_without_a_broker_is_a_retryable_error(two_hosts, monkeypatch):
    router, _, remote_name = two_hosts
    monkeypatch.setattr(wakeup, 'broker_configured', lambda: False)
    with pytest.raises(base.TransientError, match='transport_url'):
        router.build(_amphora_on(remote_name), 'lb')
