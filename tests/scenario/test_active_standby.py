"""ACTIVE_STANDBY on the real data plane: keepalived moves the VIP.

A flavor asks for the topology; the load balancer gets a MASTER and a BACKUP
amphora, both running HAProxy, and keepalived (VRRPv3, unicast between their
VRRP addresses) puts the VIP on one of them. A client sends a request every
50 ms while the VIP holder loses keepalived (frozen, then SIGKILLed: no
clean-up, the worst case) or HAProxy (kill -9); the longest time without an
answer must stay short. Which amphora answered is read from the members'
`/headers` page: its `peer` is the amphora's VRRP address, the source of
its connections to members on the VIP subnet.

Failover of the damaged amphora (health manager) is not this file's
subject: these tests check the VRRP move and that the API still lists both.
"""

import json
import os
import re
import signal
import subprocess
import time

import pytest

from lbaas.agent.haproxy import unix_command
from lbaas.drivers.netns import processes
from lbaas.drivers.netns.layout import StateStore
from tests.scenario import traffic
from tests.scenario.traffic import Probe, url

MAX_GAP = 2.0  # seconds without an answer we accept (VRRPv3 gives ~1 s)
# A hung HAProxy is noticed by keepalived's check only: vrrp_fail_count (2)
# failures of a check run every vrrp_check_interval (1 s) with that timeout.
FROZEN_MAX_GAP = 6.0
STICKY_PORT = 81
SETTLE = 10.0  # seconds for the pair to settle after an event
FAILOVER = 30.0  # seconds for the health manager to notice and the worker to replace



def holds(amphora, address):
    """Whether the amphora's namespace has `address` on an interface."""
    out = subprocess.run(
        ['ip', '-n', amphora['compute_id'], '-o', 'address', 'show'],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return any(
        word.split('/')[0] == address for line in out.splitlines() for word in line.split()[3:4]
    )


def wait_for(predicate, timeout, what):
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, 'not within %.0f s: %s' % (timeout, what)
        time.sleep(0.05)


def runtime_dir(service, amphora):
    return StateStore(service.state_dir).amphora_dir(amphora['id'])


def read_pid(path):
    """The pid in `path`; 0 while the file is still being written."""
    with open(path) as f:
        words = f.read().split()
    return int(words[0]) if words else 0


@pytest.fixture(scope='module')
def ha_flavor(api):
    profile = api.call(
        'POST',
        'flavorprofiles',
        {
            'flavorprofile': {
                'name': 'active-standby',
                'provider_name': 'amphora',
                'flavor_data': json.dumps({'loadbalancer_topology': 'ACTIVE_STANDBY'}),
            }
        },
        expect=201,
    ).json()['flavorprofile']
    flavor = api.call(
        'POST',
        'flavors',
        {'flavor': {'name': 'active-standby', 'flavor_profile_id': profile['id']}},
        expect=201,
    ).json()['flavor']
    yield flavor
    api.call('DELETE', 'flavors/' + flavor['id'], expect=204)
    api.call('DELETE', 'flavorprofiles/' + profile['id'], expect=204)


@pytest.fixture(scope='module')
def pair(api, ha_flavor, members, client):
    """An ACTIVE_STANDBY LB with two members behind two HTTP listeners:
    round robin on port 80, SOURCE_IP persistence on port 81."""
    two = [traffic.member(m) for m in members[:2]]
    pool = traffic.pool('pair-members', two)
    sticky = traffic.pool('pair-sticky', two, session_persistence={'type': 'SOURCE_IP'})
    body = {
        'name': 'active-standby',
        'vip_subnet_id': traffic.V4_SUBNET,
        'flavor_id': ha_flavor['id'],
        'listeners': [traffic.listener(80, pool), traffic.listener(STICKY_PORT, sticky)],
    }
    started = time.monotonic()
    lb = api.call('POST', 'loadbalancers', {'loadbalancer': body}, expect=201).json()[
        'loadbalancer'
    ]
    try:
        api.wait_lb(lb['id'])
        traffic.record('ACTIVE_STANDBY POST to ACTIVE (s)', time.monotonic() - started)
        traffic.first_good_response(client, url(lb['vip_address'], 80))
        yield lb
    finally:
        if api.lb_status(lb['id']) != 'DELETED':
            api.wait_lb(lb['id'])  # a failover may be under way
            api.delete_lb(lb['id'])


def roles(api, lb):
    amphorae = traffic.amphorae_of(api, lb['id'])
    return {a['role']: a for a in amphorae if a['status'] not in ('DELETED', 'PENDING_DELETE')}


def holder(api, lb):
    """(the amphora holding the VIP, the other one); exactly one holds it."""
    pair_now = roles(api, lb)
    holding = [a for a in pair_now.values() if holds(a, lb['vip_address'])]
    assert len(holding) == 1, 'VIP %s held by %s' % (
        lb['vip_address'],
        [a['role'] for a in holding],
    )
    (other,) = [a for a in pair_now.values() if a is not holding[0]]
    return holding[0], other


def test_pair_is_built_and_the_master_serves(api, pair, client):
    amphorae = roles(api, pair)
    assert set(amphorae) == {'MASTER', 'BACKUP'}
    for role, priority in (('MASTER', 100), ('BACKUP', 90)):
        amphora = amphorae[role]
        assert amphora['status'] == 'ALLOCATED', amphora
        assert amphora['vrrp_priority'] == priority, amphora
        assert amphora['vrrp_id'] == 1, amphora
        assert amphora['vrrp_ip'] and amphora['vrrp_interface'], amphora
        assert amphora['ha_ip'] == pair['vip_address'], amphora
    assert amphorae['MASTER']['vrrp_ip'] != amphorae['BACKUP']['vrrp_ip']
    # The MASTER's keepalived starts first and has the higher priority.
    wait_for(lambda: holds(amphorae['MASTER'], pair['vip_address']), 5, 'MASTER holds the VIP')
    assert not holds(amphorae['BACKUP'], pair['vip_address'])
    target = url(pair['vip_address'], 80, '/headers')
    assert traffic.answers(client, url(pair['vip_address'], 80), 4) == {'m1': 2, 'm2': 2}
    assert client.request(target).json()['peer'] == amphorae['MASTER']['vrrp_ip']


def stick_keys(service, amphora):
    """Keys in the stick tables of the amphora's HAProxy (its stats socket)."""
    sock = os.path.join(runtime_dir(service, amphora), 'haproxy', 'stats.sock')
    names = re.findall(r'^# table: ([^,]+),', unix_command(sock, 'show table'), re.M)
    return {
        key
        for name in names
        for key in re.findall(r' key=(\S+)', unix_command(sock, 'show table ' + name))
    }


def test_stick_tables_are_shared_by_the_pair(service, api, pair, client):
    """HAProxy's peers section: what one amphora learns, the other knows."""
    before, other = holder(api, pair)
    seen = traffic.answers(client, url(pair['vip_address'], STICKY_PORT), 4)
    assert len(seen) == 1, seen  # SOURCE_IP: one member for this client
    wait_for(lambda: stick_keys(service, before), 5, 'an entry on the VIP holder')
    wait_for(
        lambda: stick_keys(service, other) == stick_keys(service, before),
        5,
        'the same entries on the peer',
    )


def _measure(service, api, pair, client, damage, label, served_by_other=False, max_gap=MAX_GAP):
    """Damage the VIP holder while probing until ten answers in a row come
    (from the other amphora if `served_by_other`); (holder before, other,
    probe)."""
    wait_for(
        lambda: sum(holds(a, pair['vip_address']) for a in roles(api, pair).values()) == 1,
        SETTLE,
        'one VIP holder',
    )
    before, other = holder(api, pair)
    target = url(pair['vip_address'], 80, '/headers')
    with Probe(client, target) as probe:
        time.sleep(1.0)
        event = time.monotonic() - probe.started
        damage(before)
        deadline = time.monotonic() + SETTLE
        wanted = {other['vrrp_ip']} if served_by_other else {other['vrrp_ip'], before['vrrp_ip']}
        while time.monotonic() < deadline:
            tail = probe.since(event)[-10:]
            if len(tail) == 10 and all(peer in wanted for _, peer in tail):
                break
            time.sleep(0.1)
    gap = probe.longest_gap()
    print(
        '\n%s: longest gap %.3f s, %d of %d requests failed'
        % (label, gap, probe.failed(), len(probe.results))
    )
    traffic.record('%s: longest gap (s)' % label, gap)
    assert probe.results and probe.results[0][1] == before['vrrp_ip']
    assert gap <= max_gap, 'longest gap %.2f s' % gap
    return before, other, probe


def _kill_keepalived_uncleanly(service, amphora):
    """Freeze keepalived's processes, then SIGKILL them: nothing cleans up
    (reference/dataplane.md section 10.5), the VIP stays on this amphora."""
    run = os.path.join(runtime_dir(service, amphora), 'keepalived')
    pids = [read_pid(os.path.join(run, name)) for name in ('keepalived.pid', 'vrrp.pid')]
    for sig in (signal.SIGSTOP, signal.SIGKILL):
        for pid in pids:
            processes.signal_quietly(pid, sig)


def _kill_haproxy(service, amphora):
    """kill -9 the HAProxy master and its workers at once."""
    pids = _haproxy_pids(amphora)
    assert pids, 'no HAProxy in %s' % amphora['compute_id']
    for pid in pids:
        processes.signal_quietly(pid, signal.SIGKILL)


def test_killed_keepalived_moves_the_vip(service, api, pair, client):
    before, other, probe = _measure(
        service,
        api,
        pair,
        client,
        lambda a: _kill_keepalived_uncleanly(service, a),
        'keepalived SIGKILLed on the VIP holder',
        served_by_other=True,
    )
    # Traffic now flows through the other amphora.
    assert probe.results[-1][1] == other['vrrp_ip'], probe.results[-5:]
    assert holds(other, pair['vip_address'])
    # The agent restarts keepalived and, first, removes the VIP it left.
    wait_for(
        lambda: not holds(before, pair['vip_address']), SETTLE, 'the old holder drops the stale VIP'
    )
    pid_file = os.path.join(runtime_dir(service, before), 'keepalived', 'keepalived.pid')
    wait_for(
        lambda: (
            os.path.exists(pid_file) and processes.process_running(read_pid(pid_file), 'keepalived')
        ),
        SETTLE,
        'keepalived runs again on the old holder',
    )
    with open(os.path.join(runtime_dir(service, before), 'agent.log')) as f:
        removed = [line.strip() for line in f if 'removed VIPs' in line]
    print('agent of the old holder: %s' % (removed or 'no removal logged'))
    # nopreempt: the restarted one stays BACKUP, no second interruption.
    time.sleep(1.0)
    assert holds(other, pair['vip_address']) and not holds(before, pair['vip_address'])
    assert len(traffic.amphorae_of(api, pair['id'])) == 2


def test_killed_haproxy_is_bridged(service, api, pair, client):
    before, other, probe = _measure(
        service,
        api,
        pair,
        client,
        lambda a: _kill_haproxy(service, a),
        'HAProxy kill -9 on the VIP holder',
    )
    last = probe.results[-1][1]
    # Whichever comes first: keepalived's check gives the VIP to the peer,
    # or the agent restarts HAProxy where the VIP is.
    assert last in (before['vrrp_ip'], other['vrrp_ip'])
    print(
        'served afterwards by the %s'
        % ('peer (VIP moved)' if last == other['vrrp_ip'] else 'same amphora (HAProxy restarted)')
    )
    wait_for(
        lambda: sum(holds(a, pair['vip_address']) for a in roles(api, pair).values()) == 1,
        SETTLE,
        'one VIP holder',
    )
    assert len(traffic.amphorae_of(api, pair['id'])) == 2


def _haproxy_pids(amphora):
    return [
        pid
        for pid in processes.pids_in_namespace(amphora['compute_id'])
        if processes.process_running(pid, 'haproxy') and not processes.process_running(pid, 'lbaas')
    ]


def test_frozen_haproxy_moves_the_vip_then_is_failed_over(service, api, pair, client):
    """HAProxy alive but not answering: the agent sees nothing to restart,
    keepalived's check fails `vrrp_fail_count` times and the VIP moves
    (slower than the other cases: checks run at most once a second). Its
    heartbeats stop too (HAProxy cannot be read), so the health manager
    fails it over: the pair is whole again, and the VIP never leaves the
    peer while the replacement is built and the peer's keepalived reloaded."""
    frozen = []

    def freeze(amphora):
        frozen.extend(_haproxy_pids(amphora))
        for pid in frozen:
            processes.signal_quietly(pid, signal.SIGSTOP)

    try:
        before, other, probe = _measure(
            service,
            api,
            pair,
            client,
            freeze,
            'HAProxy frozen on the VIP holder',
            served_by_other=True,
            max_gap=FROZEN_MAX_GAP,
        )
        assert probe.results[-1][1] == other['vrrp_ip'], probe.results[-5:]
        _replaced(api, pair, client, before, other, 'the frozen amphora')
    finally:
        for pid in frozen:
            processes.signal_quietly(pid, signal.SIGKILL)


def test_a_lost_namespace_moves_the_vip_and_is_replaced(service, api, pair, client):
    """Everything in the VIP holder's namespace killed, the namespace deleted:
    the peer takes the VIP (missed adverts), the health manager fails the
    lost one over, and its successor joins without a second gap."""

    def lose(amphora):
        for pid in processes.pids_in_namespace(amphora['compute_id']):
            processes.signal_quietly(pid, signal.SIGKILL)
        subprocess.run(['ip', 'netns', 'del', amphora['compute_id']], check=True)

    before, other, _ = _measure(
        service, api, pair, client, lose, 'namespace of the VIP holder lost', served_by_other=True
    )
    _replaced(api, pair, client, before, other, 'the lost amphora')


def _replaced(api, pair, client, before, other, what):
    """Probe while `before` is failed over; the pair is whole again, in the
    same roles, and `other` kept the VIP throughout."""
    with Probe(client, url(pair['vip_address'], 80, '/headers')) as replacing:
        wait_for(lambda: before['id'] not in live_ids(api, pair), FAILOVER, 'a failover')
        api.wait_lb(pair['id'])
    gap = replacing.longest_gap()
    print('\nreplacing %s: longest gap %.3f s' % (what, gap))
    traffic.record('A/S: failover of %s, longest gap (s)' % what, gap)
    assert gap <= MAX_GAP
    now = roles(api, pair)
    assert set(now) == {'MASTER', 'BACKUP'} and len(live_ids(api, pair)) == 2
    assert now[before['role']]['id'] != before['id']  # its successor, in its role
    assert holds(other, pair['vip_address'])
    assert not holds(now[before['role']], pair['vip_address'])
    assert traffic.answers(client, url(pair['vip_address'], 80), 4) == {'m1': 2, 'm2': 2}


def live_ids(api, lb):
    return {a['id'] for a in traffic.amphorae_of(api, lb['id']) if a['status'] != 'DELETED'}
