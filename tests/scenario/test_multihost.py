"""A deployment that looks like production, scaled to one machine: three
data-plane hosts, processes killed while load balancers are built, then a
whole host lost.

Simulated (tests/scenario/multihost.py): three hosts `h1-<pid>`, `h2-...`,
`h3-...`, each with its own `lbaas serve` (api, worker, housekeeping,
health manager), state directory, fabric namespace, host link, management
/24 and controller address; sharing one fresh PostgreSQL database,
RabbitMQ (`transport_url`: a worker runs the host-local steps of an
amphora on another host by RPC to that host's worker), one PKI directory,
one heartbeat key, the same local network and a VXLAN underlay (a bridge
in a namespace of the test, 198.19.253.1-3/24, MTU 1550) that joins the
three fabrics' copies of that network. Two members and a client sit on
host 1's fabric, so traffic to amphorae on hosts 2 and 3 crosses VXLAN.

Asserted:
1. N load balancers (LBAAS_DEPLOYMENT_LBS, default 6; half SINGLE, half
   ACTIVE_STANDBY by flavor), each an HTTP listener with a ROUND_ROBIN pool
   of two members, are created through host 1's API while K random api,
   worker or health-manager children (LBAAS_DEPLOYMENT_KILLS, default 3;
   LBAAS_DEPLOYMENT_SEED picks them) are SIGKILLed, a second or so apart;
   creates are retried only when no answer (or a 502/503) came, and
   exactly N exist afterwards.
2. Within a bound all are ACTIVE (none stuck in PENDING_*), each serves
   HTTP through its VIP with both members answering, the two amphorae of
   each ACTIVE_STANDBY LB are on different hosts (`amphora.host`), the
   amphorae are spread over at least two hosts, and no two of them hold
   the same address on the shared network (`vrrp_ip`).
3. Once every amphora has been heard by a health manager, the host
   holding the most amphorae (not host 1) dies: `serve` and its children
   SIGKILLed, its amphorae and fabric removed without lbaas's help. Every
   LB serves again within FAILOVER_BOUND, then is ACTIVE with its
   amphorae on the two remaining hosts only (pairs still apart, addresses
   still distinct).
4. Deleting every LB (cascade) through the API removes them (404) and
   every amphora namespace of this run; after the services stop, no
   process of this run is left.

Skipped, with the reason printed, when the scenario tier cannot run here
(root, HAProxy, `ip netns`), the kernel makes no VXLAN links, or PostgreSQL
or RabbitMQ does not answer on loopback. Figures are printed (pytest -s).
"""

import collections
import concurrent.futures
import os
import random
import sys
import time

import pytest

from tests.scenario import traffic
from tests.scenario.multihost import (
    CLIENT_ADDRESS,
    MEMBER_ADDRESSES,
    ChildKiller,
    Deployment,
    RetryingApi,
    ip_netns_list,
    postgres_problem,
    why_not,
)
from tests.skips import skip_if

LBS = int(os.environ.get('LBAAS_DEPLOYMENT_LBS', '6'))
KILLS = int(os.environ.get('LBAAS_DEPLOYMENT_KILLS', '3'))
SEED = int(os.environ.get('LBAAS_DEPLOYMENT_SEED', random.randrange(10**6)))  # the kills'
ACTIVE_BOUND = 300.0  # seconds for all LBs to be ACTIVE (2 busy cores, kills)
FAILOVER_BOUND = 60.0  # seconds for every LB to serve again after the host stop
SETTLE_BOUND = 120.0  # seconds after the stop for ACTIVE with amphorae re-placed
DELETE_BOUND = 180.0
HEARD_BOUND = 30.0  # seconds for every amphora's first heartbeat to be recorded
PORT = 80


@pytest.fixture
def deployment(request):
    skip_if(why_not() or postgres_problem(), 'the multi-host deployment scenario')
    made = Deployment()
    failed_before = request.session.testsfailed
    errors = []
    try:
        made.build()
        made.start()
        yield made
    finally:
        keep = request.session.testsfailed > failed_before
        errors = made.close(keep_state=keep)
        if keep or errors:
            print('\nmulti-host state and logs kept in %s'
                  % ' '.join([h.state_dir for h in made.hosts] + [made.pki_dir]),
                  file=sys.stderr)
    assert not errors, errors


# -- step helpers ------------------------------------------------------------------


def lb_body(name, members, flavor_id=None):
    pool = traffic.pool('pool', [traffic.member(m) for m in members])
    body = {'name': name, 'vip_subnet_id': traffic.V4_SUBNET,
            'listeners': [traffic.listener(PORT, pool)]}
    if flavor_id:
        body['flavor_id'] = flavor_id
    return body


def create_all(api, tag, members, flavor_id):
    """LBS load balancers, every other one ACTIVE_STANDBY (the first: so
    that, placed in this order, SINGLE amphorae do not all land on host 1,
    which is never stopped); {id: topology}."""
    made = {}
    for number in range(LBS):
        standby = number % 2 == 0
        body = lb_body('mh-%s-%d' % (tag, number), members, flavor_id if standby else None)
        lb = api.create_lb(body)
        made[lb['id']] = 'ACTIVE_STANDBY' if standby else 'SINGLE'
        time.sleep(0.3)  # spread the posts over the kills
    return made


def wait_statuses(api, lb_ids, wanted, bound, settled=lambda: True, explain=lambda: ''):
    """Seconds until every LB has status `wanted` (and `settled()` holds);
    a failure shows `explain()`."""
    started = time.monotonic()
    while True:
        statuses = {lb_id: api.status(lb_id) for lb_id in lb_ids}
        if all(s == wanted for s in statuses.values()) and settled():
            return time.monotonic() - started
        stuck = {k: v for k, v in statuses.items() if v != wanted}
        assert 'ERROR' not in stuck.values(), 'load balancers in ERROR: %s\n%s' % (
            stuck, explain())
        assert time.monotonic() - started < bound, 'not %s within %.0f s: %s\n%s' % (
            wanted, bound, stuck, explain())
        time.sleep(0.5)


def wait_for(predicate, bound, explain):
    deadline = time.monotonic() + bound
    while not predicate():
        assert time.monotonic() < deadline, explain()
        time.sleep(0.2)


def vip_of(api, lb_id):
    return api.call('GET', 'loadbalancers/' + lb_id, expect=200).json()['loadbalancer'][
        'vip_address']


def serves(client, vip, timeout=1.0, tries=8):
    """Whether both members answer through `vip` within `tries` requests."""
    seen = set()
    for _ in range(tries):
        try:
            reply = client.request(traffic.url(vip, PORT), timeout=timeout)
        except traffic.NETWORK_ERRORS:
            continue
        if reply.status == 200:
            seen.add(reply.body.strip())
        if seen == {'m1', 'm2'}:
            return True
    return False


def wait_serving(client, vips, bound, explain=lambda: ''):
    """{vip: seconds until it served (both members answering)}, each VIP
    tried on a thread of its own; fails past `bound` showing `explain()`."""
    started = time.monotonic()

    def until_served(vip):
        while not serves(client, vip, timeout=0.5, tries=4):
            if time.monotonic() - started > bound:
                return None
        return time.monotonic() - started

    vips = sorted(set(vips))
    with concurrent.futures.ThreadPoolExecutor(len(vips)) as pool:
        took = dict(zip(vips, pool.map(until_served, vips), strict=True))
    waiting = sorted(vip for vip, seconds in took.items() if seconds is None)
    assert not waiting, 'not serving after %.0f s: %s\n%s' % (bound, waiting, explain())
    return took


def placement_problems(db, topologies, allowed_hosts=None):
    """What is wrong with where the LBs' live amphorae are (empty: nothing):
    how many, on which hosts, pairs apart, and each amphora's own address
    on the shared network (vrrp_ip) used once."""
    live = db.live_amphorae()
    problems = []
    for lb_id, topology in topologies.items():
        hosts = [row['host'] for row in live.get(lb_id, [])]
        wanted = 2 if topology == 'ACTIVE_STANDBY' else 1
        if len(hosts) != wanted:
            problems.append('%s (%s): %d live amphorae' % (lb_id, topology, len(hosts)))
        elif wanted == 2 and hosts[0] == hosts[1]:
            problems.append('%s: both amphorae on %s' % (lb_id, hosts[0]))
        if None in hosts or (allowed_hosts and not set(hosts) <= set(allowed_hosts)):
            problems.append('%s: amphorae on %s' % (lb_id, hosts))
    addresses = collections.Counter(row['vrrp_ip'] for rows in live.values() for row in rows)
    problems += ['vrrp_ip %s held by %d live amphorae' % (address, count)
                 for address, count in addresses.items() if address and count > 1]
    return problems


def explain(db, topologies):
    """The amphora rows of our LBs, one line each, for failure messages."""
    def text():
        rows = [r for r in db.amphorae() if r['load_balancer_id'] in topologies]
        return '\n'.join('  lb %s (%s) amphora %s %-14s %-7s on %s vrrp_ip %s %s' % (
            r['load_balancer_id'][:8], topologies[r['load_balancer_id']], r['id'][:8],
            r['status'], r['role'], r['host'], r['vrrp_ip'], r['compute_id'])
            for r in rows)
    return text


def per_host(db, lb_ids):
    return collections.Counter(row['host'] for lb_id, rows in db.live_amphorae().items()
                               if lb_id in lb_ids for row in rows)


# -- the scenario --------------------------------------------------------------------


def test_three_hosts_survive_killed_processes_and_a_lost_host(deployment):
    client = start_test_hosts(deployment)
    api, db = RetryingApi(deployment.hosts[0].api), deployment.database
    topologies, vips = build_while_processes_die(deployment, api)
    show = explain(db, topologies)
    check_placement(db, topologies, show)
    lose_busiest_host(deployment, api, client, topologies, vips, show)
    delete_everything(deployment, api, topologies)


def start_test_hosts(deployment):
    """Members m1 and m2 (backends on MEMBER_PORT) and a client, on host 1's
    fabric; returns the client."""
    for number, address in enumerate(MEMBER_ADDRESSES, start=1):
        member = deployment.test_host('member', 'm%d' % number, [address])
        member.start_backend(traffic.MEMBER_PORT, name='m%d' % number)
    return deployment.test_host('client', 'c', [CLIENT_ADDRESS])


def build_while_processes_die(deployment, api):
    """Step 1 and the ACTIVE/serving part of step 2: ({id: topology}, {id: VIP})."""
    members = [h for h in deployment.test_hosts if h.name.startswith('member-')]
    flavor = traffic.make_flavor(api.api, 'mh-active-standby',
                                 {'loadbalancer_topology': 'ACTIVE_STANDBY'})
    started = time.monotonic()
    killer = ChildKiller(deployment.hosts, KILLS, SEED)
    killer.start()
    topologies = create_all(api, deployment.tag, members, flavor['id'])
    killer.join(120)
    print('\nmulti-host: %d LBs posted in %.1f s; killed (host, service, pid): %s '
          '(LBAAS_DEPLOYMENT_SEED=%d)'
          % (len(topologies), time.monotonic() - started, killer.killed, SEED))
    assert not killer.errors and len(killer.killed) == KILLS, (killer.errors, killer.killed)
    ours = [lb['name'] for lb in api.call('GET', 'loadbalancers', expect=200).json()[
        'loadbalancers'] if lb['name'].startswith('mh-%s-' % deployment.tag)]
    assert len(ours) == LBS, 'created twice or lost: %s' % sorted(ours)

    wait_statuses(api, topologies, 'ACTIVE', ACTIVE_BOUND,
                  explain=explain(deployment.database, topologies))
    print('multi-host: all %d ACTIVE %.1f s after the first POST'
          % (LBS, time.monotonic() - started))
    traffic.record('multi-host: LBs created', LBS)
    traffic.record('multi-host: first POST to all ACTIVE (s)', time.monotonic() - started)
    vips = {lb_id: vip_of(api, lb_id) for lb_id in topologies}
    took = wait_serving(client_of(deployment), vips.values(), 30.0,
                        explain(deployment.database, topologies))
    print('multi-host: all serving %.1f s later' % max(took.values()))
    return topologies, vips


def client_of(deployment):
    return next(h for h in deployment.test_hosts if h.name.startswith('client-'))


def check_placement(db, topologies, show):
    """The rest of step 2: pairs apart, amphorae on two hosts at least."""
    problems = placement_problems(db, topologies)
    assert not problems, '%s\n%s' % (problems, show())
    spread = per_host(db, topologies)
    print('multi-host: amphorae per host: %s' % dict(spread))
    assert len(spread) >= 2, spread


def lose_busiest_host(deployment, api, client, topologies, vips, show):
    """Step 3: the host with the most amphorae (not host 1) dies."""
    db, hosts = deployment.database, deployment.hosts
    spread = per_host(db, topologies)
    singles = per_host(db, [i for i, t in topologies.items() if t == 'SINGLE'])
    # The most amphorae; of equals, the one whose loss moves the most VIPs.
    victim = max(hosts[1:], key=lambda h: (spread.get(h.name, 0), singles.get(h.name, 0)))
    remaining = [h.name for h in hosts if h is not victim]
    doomed = {row['compute_id'] for row in db.amphorae()
              if row['host'] == victim.name and row['compute_id']}
    deployment.amphora_namespaces()  # noted for the clean-up
    # Every amphora heard once first: one whose host dies before its first
    # heartbeat is recorded has no amphora_health row, so no health manager
    # monitors it and nothing fails it over (a gap of lbaas, not simulated here).
    wait_for(lambda: not db.unheard(), HEARD_BOUND, lambda: 'never heard: %s' % db.unheard())
    stopped = time.monotonic()
    victim.crash(doomed)
    print('multi-host: stopped %s (%d amphorae, %d of SINGLE LBs)'
          % (victim.name, spread.get(victim.name, 0), singles.get(victim.name, 0)))
    took = wait_serving(client, vips.values(), FAILOVER_BOUND, show)
    print('multi-host: every LB serves again %.1f s after the host stop (per VIP: %s)'
          % (max(took.values()), ', '.join('%.1f' % t for t in sorted(took.values()))))
    traffic.record('multi-host: host stop to every LB serving (s)', max(took.values()))
    wait_statuses(api, topologies, 'ACTIVE', SETTLE_BOUND - (time.monotonic() - stopped),
                  settled=lambda: not placement_problems(db, topologies, remaining),
                  explain=lambda: '%s\n%s' % (placement_problems(db, topologies, remaining),
                                              show()))
    print('multi-host: ACTIVE on %s %.1f s after the host stop; amphorae per host: %s'
          % (remaining, time.monotonic() - stopped, dict(per_host(db, topologies))))
    traffic.record('multi-host: host stop to all ACTIVE, re-placed (s)',
                   time.monotonic() - stopped)
    wait_serving(client, vips.values(), 10.0, show)


def delete_everything(deployment, api, topologies):
    """Step 4: cascade deletes; no amphora namespace or process left."""
    namespaces = deployment.amphora_namespaces()
    deleting = time.monotonic()
    for lb_id in topologies:
        delete_when_possible(api, lb_id)
    wait_statuses(api, topologies, 'DELETED', DELETE_BOUND,
                  explain=explain(deployment.database, topologies))
    print('multi-host: all deleted in %.1f s' % (time.monotonic() - deleting))
    left = (deployment.amphora_namespaces() | namespaces) & ip_netns_list()
    assert not left, 'amphora namespaces left: %s' % sorted(left)
    for host in deployment.hosts:
        host.stop()
    assert not deployment.pids(), 'processes left: %s' % deployment.pids()


def delete_when_possible(api, lb_id):
    """Cascade delete; an LB still busy (409) is deleted once it is not."""
    deadline = time.monotonic() + DELETE_BOUND
    while True:
        resp = api.call('DELETE', 'loadbalancers/%s?cascade=true' % lb_id)
        if resp.status_code in (204, 404):
            return
        assert resp.status_code == 409 and time.monotonic() < deadline, (
            lb_id, resp.status_code, resp.text)
        time.sleep(0.5)
