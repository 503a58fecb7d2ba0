"""Octavia's status mapping, on shapes and reports made by hand."""

import pytest

from lbaas.controller.health import mapping, report
from lbaas.controller.health.mapping import Candidate, LbShape, PoolShape

LB, L1, L2, P1, P2 = 'lb', 'l1', 'l2', 'p1', 'p2'
M1, M2, M3 = 'm1', 'm2', 'm3'


def shape(listeners=((L1, True),), pools=None, enabled=True):
    pools = pools if pools is not None else (PoolShape(P1, True, ((M1, True), (M2, True))),)
    return LbShape(LB, 1, enabled, tuple(listeners), tuple(pools))


def seen(listeners=None, pools=None):
    """A Seen from heartbeat-style texts, through the real parser."""
    message = {
        'id': 'a',
        'seq': 1,
        'listeners': {k: {'status': v} for k, v in (listeners or {}).items()},
        'pools': {
            '%s:%s' % (pool, L1): {'status': status, 'members': members}
            for pool, (status, members) in (pools or {}).items()
        },
    }
    return report.parse(message).seen


def healthy():
    return seen({L1: 'OPEN'}, {P1: ('UP', {M1: 'UP', M2: 'UP'})})


@pytest.mark.parametrize(
    'text, status',
    [
        ('UP', 'ONLINE'),
        ('UP 1/3', 'ONLINE'),
        ('DOWN', 'ERROR'),
        ('DOWN 1/2', 'ERROR'),
        ('DRAIN', 'DRAINING'),
        ('NOLB', 'DRAINING'),
        ('MAINT', 'OFFLINE'),
        ('MAINT (via p/x)', 'OFFLINE'),
        ('no check', 'NO_MONITOR'),
        ('RESTARTING', None),
        ('what', None),
    ],
)
def test_member_texts(text, status):
    assert mapping.member_status(text) == status


def test_everything_up_is_online():
    derived = mapping.derive(shape(), healthy(), {})
    assert derived == {
        ('listener', L1): 'ONLINE',
        ('pool', P1): 'ONLINE',
        ('member', M1): 'ONLINE',
        ('member', M2): 'ONLINE',
        ('loadbalancer', LB): 'ONLINE',
    }


def test_a_down_member_degrades_its_pool_and_the_lb():
    derived = mapping.derive(
        shape(), seen({L1: 'OPEN'}, {P1: ('UP', {M1: 'DOWN', M2: 'UP'})}), {}
    )
    assert derived['member', M1] == 'ERROR'
    assert derived['pool', P1] == 'DEGRADED'
    assert derived['loadbalancer', LB] == 'DEGRADED'


def test_a_down_pool_is_error_and_so_is_the_lb():
    derived = mapping.derive(
        shape(), seen({L1: 'OPEN'}, {P1: ('DOWN', {M1: 'DOWN', M2: 'DOWN'})}), {}
    )
    assert derived['pool', P1] == 'ERROR'
    assert derived['loadbalancer', LB] == 'ERROR'


def test_an_empty_backend_is_down_in_haproxy_but_online_here():
    empty = shape(pools=(PoolShape(P1, True, ()),))
    derived = mapping.derive(empty, seen({L1: 'OPEN'}, {P1: ('DOWN', {})}), {})
    assert derived['pool', P1] == 'ONLINE'
    assert derived['loadbalancer', LB] == 'ONLINE'


def test_a_full_listener_degrades_the_lb():
    derived = mapping.derive(shape(), seen({L1: 'FULL'}, {P1: ('UP', {M1: 'UP', M2: 'UP'})}), {})
    assert derived['listener', L1] == 'DEGRADED'
    assert derived['loadbalancer', LB] == 'DEGRADED'


def test_missing_listeners_are_error_when_enabled_offline_when_not():
    lb = shape(listeners=((L1, True), (L2, False)))
    derived = mapping.derive(lb, seen({}, {P1: ('UP', {M1: 'UP', M2: 'UP'})}), {})
    assert derived['listener', L1] == 'ERROR'
    assert derived['listener', L2] == 'OFFLINE'
    assert derived['loadbalancer', LB] == 'ONLINE'  # as Octavia: no effect on the LB


def test_unknown_words_keep_the_old_status():
    previous = {('listener', L1): 'ONLINE', ('member', M1): 'ERROR'}
    derived = mapping.derive(
        shape(), seen({L1: 'STOP'}, {P1: ('UP', {M1: 'RESTARTING', M2: 'UP'})}), previous
    )
    assert derived['listener', L1] == 'ONLINE'
    assert derived['member', M1] == 'ERROR'
    fresh = mapping.derive(shape(), seen({L1: 'STOP'}, {P1: ('UP', {M2: 'UP'})}), {})
    assert ('listener', L1) not in fresh  # nothing known, nothing written


def test_unreported_members_go_offline_unless_no_monitor():
    lb = shape(pools=(PoolShape(P1, True, ((M1, True), (M2, True), (M3, True))),))
    previous = {('member', M2): 'NO_MONITOR', ('member', M3): 'ONLINE'}
    derived = mapping.derive(lb, seen({L1: 'OPEN'}, {P1: ('UP', {M1: 'UP'})}), previous)
    assert derived['member', M2] == 'NO_MONITOR'
    assert derived['member', M3] == 'OFFLINE'


def test_unreported_and_disabled_pools_are_offline_and_leave_members_alone():
    lb = shape(pools=(PoolShape(P1, True, ((M1, True),)), PoolShape(P2, False, ((M2, True),))))
    derived = mapping.derive(lb, seen({L1: 'OPEN'}, {P2: ('UP', {M2: 'UP'})}), {})
    assert derived['pool', P1] == 'OFFLINE' and derived['pool', P2] == 'OFFLINE'
    assert ('member', M1) not in derived and ('member', M2) not in derived


def test_disabled_objects_are_offline_whatever_haproxy_says():
    lb = shape(listeners=((L1, False),), pools=(PoolShape(P1, True, ((M1, False),)),),
               enabled=False)
    derived = mapping.derive(lb, seen({L1: 'OPEN'}, {P1: ('UP', {M1: 'UP'})}), {})
    assert derived['listener', L1] == 'OFFLINE'
    assert derived['member', M1] == 'OFFLINE'
    assert derived['loadbalancer', LB] == 'OFFLINE'


def test_a_pool_behind_two_listeners_takes_the_worse_report():
    message = {
        'id': 'a', 'seq': 1, 'listeners': {},
        'pools': {
            '%s:%s' % (P1, L1): {'status': 'UP', 'members': {M1: 'UP', M2: 'no check'}},
            '%s:%s' % (P1, L2): {'status': 'DOWN', 'members': {M1: 'DOWN', M2: 'UP'}},
        },
    }
    got = report.parse(message).seen
    assert got.pools == {P1: 'ERROR'}
    assert got.members == {P1: {M1: 'ERROR', M2: 'NO_MONITOR'}}


def test_changes_are_only_what_differs():
    derived = mapping.derive(shape(), healthy(), {})
    current = {**derived, ('member', M2): 'OFFLINE'}
    assert mapping.changes(derived, current) == {('member', M2): 'ONLINE'}
    assert mapping.changes(derived, derived) == {}


def test_the_serving_amphora_speaks_for_an_active_standby_lb():
    master_idle = Candidate('a', 'MASTER', serving=False)
    backup = Candidate('b', 'BACKUP', serving=True)
    assert mapping.choose([master_idle, backup]) is backup
    master = Candidate('a', 'MASTER', serving=True)
    assert mapping.choose([master, backup]) is master  # both serve: the master
    assert mapping.choose([Candidate('a', None, False)]).amphora_id == 'a'
    active_active = [Candidate(x, 'STANDALONE', True) for x in 'acb']
    for order in (active_active, active_active[::-1]):  # the same one, whatever came first
        assert mapping.choose(order).amphora_id == 'c'
    assert mapping.choose([]) is None


@pytest.mark.parametrize(
    'message',
    [
        {'listeners': {'l': 'OPEN'}},
        {'listeners': {'l': {'status': 1}}},
        {'listeners': {'l': {'status': 'OPEN', 'stats': {'conns': -1}}}},
        {'listeners': {'l': {'status': 'OPEN', 'totals': {'tx': True}}}},
        {'pools': {'p:l': {'status': 'UP', 'members': ['m']}}},
        {'pools': {'p:l': {'status': 'UP', 'members': {'m': None}}}},
    ],
)
def test_messages_of_the_wrong_shape_are_malformed(message):
    with pytest.raises(report.Malformed):
        report.parse({'id': 'a', 'seq': 1, **message})


def test_totals_are_preferred_to_deltas():
    listener = {'status': 'OPEN', 'stats': {'tx': 1, 'rx': 2, 'conns': 3, 'totconns': 4,
                                             'ereq': 5},
                'totals': {'tx': 10, 'rx': 20, 'totconns': 40, 'ereq': 50}}
    parsed = report.parse({'id': 'a', 'seq': 1, 'listeners': {'l': listener}})
    assert parsed.traffic['l'] == report.Traffic((20, 10, 40, 50), True, 3)
    del listener['totals']
    parsed = report.parse({'id': 'a', 'seq': 1, 'listeners': {'l': listener}})
    assert parsed.traffic['l'] == report.Traffic((2, 1, 4, 5), False, 3)
