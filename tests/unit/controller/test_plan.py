"""plan(): which amphorae a load balancer's topology needs, decided purely."""
import datetime

from lbaas.controller.plan import Plan, plan
from lbaas.controller.snapshot import AmphoraState, Snapshot
from lbaas.drivers import base

NOW = datetime.datetime(2026, 12, 2)


def amp(amphora_id, role='STANDALONE', status='ALLOCATED', failover=False):
    return AmphoraState(base.Amphora(id=amphora_id, lb_id='lb', role=role, status=status),
                        failover_requested=failover, updated_at=NOW)


def snap(*amphorae, topology='SINGLE', status='PENDING_UPDATE', failover=False, count=1):
    return Snapshot(lb_id='lb', generation=3, provisioning_status=status, topology=topology,
                    failover_requested=failover, amphora_count=count,
                    network=base.LoadBalancerNetwork(id='lb', topology=topology, vips=()),
                    amphorae=tuple(amphorae), view=None, member_addresses=frozenset(),
                    unsettled=())


def roles(result):
    return [new.role for new in result.create]


def test_a_new_single_lb_needs_one_standalone_amphora():
    result = plan(snap(status='PENDING_CREATE'))
    assert roles(result) == ['STANDALONE'] and result.retire == () and result.keep == ()


def test_active_standby_needs_a_master_and_a_backup_with_priorities():
    result = plan(snap(topology='ACTIVE_STANDBY'))
    assert [(n.role, n.vrrp_priority) for n in result.create] == [('MASTER', 100),
                                                                   ('BACKUP', 90)]


def test_a_healthy_lb_changes_no_amphora():
    result = plan(snap(amp('a')))
    assert result == Plan(keep=('a',)) and not result.changes_amphorae


def test_an_amphora_still_booting_is_built_not_replaced():
    result = plan(snap(amp('a', status='BOOTING')))
    assert result == Plan(build=('a',), keep=('a',))


def test_failover_of_one_amphora_replaces_only_it():
    result = plan(snap(amp('m', 'MASTER'), amp('b', 'BACKUP', failover=True),
                       topology='ACTIVE_STANDBY'))
    assert result.retire == ('b',) and roles(result) == ['BACKUP'] and result.keep == ('m',)


def test_lb_failover_replaces_every_amphora():
    result = plan(snap(amp('a'), failover=True))
    assert result.retire == ('a',) and roles(result) == ['STANDALONE']


def test_broken_and_duplicate_amphorae_are_retired():
    result = plan(snap(amp('a', status='ERROR'), amp('b'), amp('c')))
    assert set(result.retire) == {'a', 'c'} and result.keep == ('b',) and not result.create


def test_deleting_retires_everything_and_creates_nothing():
    result = plan(snap(amp('a'), amp('b'), status='PENDING_DELETE'))
    assert result == Plan(retire=('a', 'b'))


def test_active_active_needs_amphora_count_standalone_amphorae():
    result = plan(snap(status='PENDING_CREATE', topology='ACTIVE_ACTIVE', count=3))
    assert [(n.role, n.vrrp_priority) for n in result.create] == [('STANDALONE', None)] * 3


def test_active_active_grows_by_the_missing_amphorae_only():
    result = plan(snap(amp('a'), amp('b'), topology='ACTIVE_ACTIVE', count=3))
    assert result.keep == ('a', 'b') and roles(result) == ['STANDALONE'] and not result.retire


def test_active_active_shrinks_keeping_the_serving_amphorae():
    result = plan(snap(amp('a', status='BOOTING'), amp('b'), amp('c'),
                       topology='ACTIVE_ACTIVE', count=2))
    assert result.keep == ('b', 'c') and result.retire == ('a',) and not result.create


def test_active_active_failover_of_one_amphora_replaces_only_it():
    result = plan(snap(amp('a'), amp('b', failover=True), amp('c'),
                       topology='ACTIVE_ACTIVE', count=3))
    assert result.retire == ('b',) and result.keep == ('a', 'c') and roles(result) == [
        'STANDALONE']
