"""ACTIVE_ACTIVE on the real data plane: N amphorae serving one VIP at once.

A flavor asks for the topology and the amphora count. The load balancer gets
N STANDALONE amphorae and a distributor namespace `lbd-<8 hex of its id>`
that holds the VIP on the L2 network and hashes every client flow (address,
source port) onto one of 64 slots, each slot owned by one amphora (which
holds the VIP on `lo` and answers the client directly).

Which amphora served a connection is read from the members' `/headers`
page: its `peer` is the address the amphora's HAProxy connected from, its
own address on the VIP subnet (`vrrp_ip` in the admin amphora API).

The story: many source ports reach every amphora, each with a fair share;
one (address, port) flow stays on its amphora, over new connections and on
a keep-alive connection; an amphora killed (kill -9 of everything in its
namespace, as test_failover does) loses only its own flows while it is
replaced: new connections of the other amphorae's flows never fail, and
connections held open on them keep working, also when the replacement
joins the distribution; the amphora count follows the flavor of a live load balancer;
and deleting the load balancers leaves no namespace of theirs behind.
"""

import collections
import http.client
import itertools
import json
import signal
import socket
import threading
import time

import pytest

from lbaas.drivers.netns import netlink, processes
from tests.scenario import traffic
from tests.scenario.conftest import ip_netns_list
from tests.scenario.traffic import url

PORT = 80
SPREAD = 60  # connections, each from its own source port
# Source ports below the kernel's ephemeral range (32768-60999), so that no
# socket another test left open in the client's namespace holds one; each
# test has its own block.
SPREAD_PORTS = range(21001, 21001 + SPREAD)
FIXED_PORTS = range(22001, 22013)
REPEATS = 3
KEEPALIVE_PORTS = range(23001, 23009)
KEEPALIVE_ROUNDS = 4
KEEPALIVE_EVERY = 1.0  # seconds between two requests on one held connection
HELD_PORTS = range(24001, 24025)  # held open across the failover
PROBE_PORTS = range(25001, 25025)  # new connections throughout the failover
CHANGE_PORTS = range(26001, 26061)  # spread after a change of the amphora count
SETTLE = 60.0  # seconds for a build, a failover or a change to finish
GONE = 15.0  # seconds for a deleted LB's namespaces to go


# -- the API --------------------------------------------------------------------------


def distributor(lb):
    return 'lbd-' + lb['id'].replace('-', '')[:8]


def wait_for(predicate, timeout, what):
    deadline = time.monotonic() + timeout
    while not (value := predicate()):
        assert time.monotonic() < deadline, 'not within %.0f s: %s' % (timeout, what)
        time.sleep(0.1)
    return value


def wait_serving(api, lb, count, timeout=SETTLE, without=()):
    """The LB ACTIVE with exactly `count` ALLOCATED amphorae (none of
    `without`), and nothing else of it listed; its amphorae."""

    def settled():
        listed = traffic.amphorae_of(api, lb['id'])
        if api.lb_status(lb['id']) != 'ACTIVE' or len(listed) != count:
            return None
        if any(a['status'] != 'ALLOCATED' or a['id'] in without for a in listed):
            return None
        return listed

    return wait_for(settled, timeout, '%s ACTIVE on %d amphorae' % (lb['name'], count))


@pytest.fixture(scope='module')
def flavors(api):
    """{N: an ACTIVE_ACTIVE flavor of N amphorae} for N = 2, 3."""
    made = {}
    try:
        for count in (2, 3):
            data = {'loadbalancer_topology': 'ACTIVE_ACTIVE', 'amphora_count': count}
            made[count] = traffic.make_flavor(api, 'active-active-%d' % count, data)
        yield made
    finally:
        # Refused (409) while a load balancer still uses it: the service's
        # teardown then deletes everything with its database.
        for flavor in made.values():
            api.call('DELETE', 'flavors/' + flavor['id'])
            api.call('DELETE', 'flavorprofiles/' + flavor['flavor_profile_id'])


@pytest.fixture(scope='module')
def lbs(api, flavors, members, client):
    """{N: an ACTIVE_ACTIVE LB of N amphorae} for N = 2, 3: HTTP on port 80,
    round robin over two members. Both are POSTed at once."""
    pool = traffic.pool('aa-members', [traffic.member(m) for m in members[:2]])
    made = {}
    try:
        started = time.monotonic()
        for count, flavor in flavors.items():
            body = {
                'name': 'active-active-%d' % count,
                'vip_subnet_id': traffic.V4_SUBNET,
                'flavor_id': flavor['id'],
                'listeners': [traffic.listener(PORT, pool)],
            }
            made[count] = api.call(
                'POST', 'loadbalancers', {'loadbalancer': body}, expect=201
            ).json()['loadbalancer']
        for count, lb in made.items():
            api.wait_lb(lb['id'], timeout=SETTLE)
            traffic.record(
                'ACTIVE_ACTIVE N=%d POST to ACTIVE (s, two LBs at once)' % count,
                time.monotonic() - started,
            )
        for lb in made.values():
            traffic.first_good_response(client, url(lb['vip_address'], PORT))
        yield made
    finally:
        problems = []
        for lb in made.values():
            try:
                if api.lb_status(lb['id']) != 'DELETED':
                    api.wait_lb(lb['id'], timeout=SETTLE)  # a change may be under way
                    api.delete_lb(lb['id'])
            except AssertionError as exc:  # the next one is deleted all the same
                problems.append(str(exc))
        assert not problems, problems


# -- traffic --------------------------------------------------------------------------


def _client_socket(client, timeout):
    sock = netlink.run_in_namespace(
        client.namespace, socket.socket, socket.AF_INET, socket.SOCK_STREAM
    )
    sock.settimeout(timeout)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    return sock


def _reset_close(sock):
    """Close with a reset (SO_LINGER 0): no TIME_WAIT keeps the port."""
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b'\x01\x00\x00\x00\x00\x00\x00\x00')
    except OSError:
        pass
    sock.close()


def _get_headers(sock):
    """One GET /headers on `sock`: the member's answer, whose `name` is the
    member and `peer` the amphora."""
    sock.sendall(b'GET /headers HTTP/1.1\r\nHost: vip\r\n\r\n')
    response = http.client.HTTPResponse(sock)
    try:
        response.begin()
        body = response.read()
    finally:
        response.close()
    if response.status != 200:
        raise http.client.HTTPException('HTTP %d: %r' % (response.status, body[:80]))
    if response.will_close:
        raise http.client.HTTPException('the connection is not kept open')
    return json.loads(body)


def headers_from(client, vip, source_port, timeout=5.0):
    """The member's /headers answer to one new connection from
    (the client's first address, `source_port`)."""
    sock = _client_socket(client, timeout)
    try:
        sock.bind((client.addresses[0], source_port))
        sock.connect((vip, PORT))
        return _get_headers(sock)
    finally:
        _reset_close(sock)


def peer_from(client, vip, source_port, timeout=5.0):
    """The amphora serving one new connection from `source_port`."""
    return headers_from(client, vip, source_port, timeout)['peer']


class Held:
    """One keep-alive connection from a fixed source port, never reopened."""

    def __init__(self, client, vip, source_port, timeout=5.0):
        self.source_port = source_port
        self.sock = _client_socket(client, timeout)
        try:
            self.sock.bind((client.addresses[0], source_port))
            self.sock.connect((vip, PORT))
        except BaseException:
            _reset_close(self.sock)
            raise

    def peer(self):
        return _get_headers(self.sock)['peer']

    def close(self):
        _reset_close(self.sock)


class FlowProbe:
    """New connections one after another from each of `ports` in turn, on a
    thread; records (seconds since start, source port, peer or None), and
    in `ended` when each attempt was over."""

    TIMEOUT = 1.0  # seconds one connection may take (a busy 2-core machine)

    def __init__(self, client, vip, ports):
        self.client, self.vip, self.ports = client, vip, list(ports)
        self.results = []
        self.ended = []  # seconds since start when each of `results` was over
        self.errors = []  # (seconds, port, error) of each failed connection
        self.started = time.monotonic()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self):
        for port in itertools.cycle(self.ports):
            if self._stop.is_set():
                return
            at = time.monotonic() - self.started
            try:
                peer = peer_from(self.client, self.vip, port, FlowProbe.TIMEOUT)
            except (*traffic.NETWORK_ERRORS, ValueError, KeyError) as exc:
                peer = None
                self.errors.append((round(at, 2), port, '%s: %s' % (type(exc).__name__, exc)))
            self.ended.append(time.monotonic() - self.started)
            self.results.append((at, port, peer))
            self._stop.wait(0.01)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join(10)

    def now(self):
        return time.monotonic() - self.started


def spread(client, lb, ports):
    """Counter of peers over one new connection from each of `ports`."""
    return collections.Counter(routes(client, lb, ports).values())


def routes(client, lb, ports):
    """{source port: the amphora serving a new connection from it}."""
    return {port: peer_from(client, lb['vip_address'], port) for port in ports}


def vrrp_ips(amphorae):
    return {a['vrrp_ip']: a for a in amphorae}


def assert_fair_share(seen, amphorae, connections):
    """Every amphora, and nothing else, took at least a third of its even share."""
    assert set(seen) == set(vrrp_ips(amphorae)), (dict(seen), sorted(vrrp_ips(amphorae)))
    for peer, count in seen.items():
        assert count * 3 * len(amphorae) >= connections, (peer, dict(seen))


# -- the tests -------------------------------------------------------------------------


@pytest.mark.parametrize('count', [2, 3])
def test_every_amphora_serves_a_fair_share(api, lbs, client, count):
    lb = lbs[count]
    assert api.lb_status(lb['id']) == 'ACTIVE'
    amphorae = traffic.amphorae_of(api, lb['id'])
    assert len(amphorae) == count, amphorae
    for amphora in amphorae:
        assert amphora['status'] == 'ALLOCATED', amphora
        assert amphora['role'] == 'STANDALONE', amphora
        assert amphora['vrrp_ip'] and amphora['compute_id'], amphora
    assert len(vrrp_ips(amphorae)) == count
    running = ip_netns_list()
    assert distributor(lb) in running
    assert all(a['compute_id'] in running for a in amphorae)
    api.wait_operating('loadbalancers/' + lb['id'], 'loadbalancer', 'ONLINE', SETTLE)
    route = routes(client, lb, SPREAD_PORTS)
    seen = collections.Counter(route.values())
    print('\nN=%d, %d connections from one address:' % (count, SPREAD), dict(seen))
    traffic.record(
        'ACTIVE_ACTIVE N=%d: fewest of %d connections on one amphora' % (count, SPREAD),
        min(seen.values()),
    )
    assert_fair_share(seen, amphorae, SPREAD)
    # Every amphora spreads its connections over both members (round robin).
    for amphora in amphorae:
        port = next(p for p, peer in route.items() if peer == amphora['vrrp_ip'])
        names = {headers_from(client, lb['vip_address'], port)['name'] for _ in range(4)}
        assert names == {'m1', 'm2'}, (amphora['vrrp_ip'], names)


@pytest.mark.parametrize('count', [2, 3])
def test_a_fixed_source_port_stays_on_one_amphora(lbs, client, count):
    lb = lbs[count]
    chosen = {}
    for port in FIXED_PORTS:
        seen = {peer_from(client, lb['vip_address'], port) for _ in range(REPEATS)}
        assert len(seen) == 1, (port, seen)
        chosen[port] = seen.pop()
    print('\nN=%d, fixed source port -> amphora:' % count, chosen)
    assert len(set(chosen.values())) > 1, chosen  # the port is part of the hash


def test_keep_alive_connections_stay_on_their_amphora(lbs, client):
    lb = lbs[3]
    held = []
    try:
        for port in KEEPALIVE_PORTS:
            held.append(Held(client, lb['vip_address'], port))
        first = {h.source_port: h.peer() for h in held}
        for _ in range(KEEPALIVE_ROUNDS - 1):
            time.sleep(KEEPALIVE_EVERY)
            assert {h.source_port: h.peer() for h in held} == first
    finally:
        for h in held:
            h.close()
    print('\nkeep-alive source port -> amphora:', first)
    assert len(set(first.values())) > 1, first


def test_the_amphora_count_follows_the_flavor(api, lbs, flavors, client):
    lb = lbs[2]
    for count in (3, 2):
        with traffic.Probe(client, url(lb['vip_address'], PORT, '/headers')) as probe:
            time.sleep(0.5)
            started = time.monotonic()
            api.call(
                'PUT',
                'loadbalancers/' + lb['id'],
                {'loadbalancer': {'flavor_id': flavors[count]['id']}},
                expect=200,
            )
            amphorae = wait_serving(api, lb, count)
            took = time.monotonic() - started
            time.sleep(0.5)
        traffic.record('ACTIVE_ACTIVE N=%d->%d: PUT to ACTIVE (s)' % (5 - count, count), took)
        traffic.record(
            'ACTIVE_ACTIVE N=%d->%d: failed probe requests' % (5 - count, count), probe.failed()
        )
        print(
            '\nN %d -> %d: ACTIVE after %.2f s; probe %d requests, %d failed, longest gap %.2f s'
            % (5 - count, count, took, len(probe.results), probe.failed(), probe.longest_gap())
        )
        shown = api.show('loadbalancers/' + lb['id'], 'loadbalancer')
        assert shown['flavor_id'] == flavors[count]['id']
        # Served throughout: no two requests in a row failed.
        outcomes = [bool(peer) for _, peer in probe.results]
        assert not any(not a and not b for a, b in itertools.pairwise(outcomes)), outcomes
        assert outcomes[-1]
        assert_fair_share(spread(client, lb, CHANGE_PORTS), amphorae, len(CHANGE_PORTS))


def kill_everything(amphora):
    """kill -9 every process in the amphora's namespace: HAProxy and agent."""
    pids = processes.pids_in_namespace(amphora['compute_id'])
    assert pids, 'nothing runs in %s' % amphora['compute_id']
    for pid in pids:
        processes.signal_quietly(pid, signal.SIGKILL)


def check_held(held, expected, broken, at):
    """One request on each held connection not broken yet; a failure or an
    answer from another amphora is noted in `broken` {port: (at, what)}."""
    for h in held:
        if h.source_port in broken:
            continue
        try:
            peer = h.peer()
        except (*traffic.NETWORK_ERRORS, ValueError, KeyError) as exc:
            broken[h.source_port] = (round(at, 2), '%s: %s' % (type(exc).__name__, exc))
            continue
        if peer != expected[h.source_port]:
            broken[h.source_port] = (round(at, 2), 'served by %s' % peer)


def test_a_killed_amphora_loses_only_its_own_flows(api, lbs, client):
    lb = lbs[3]
    vip = lb['vip_address']
    amphorae = wait_serving(api, lb, 3)
    by_ip = vrrp_ips(amphorae)
    held = []
    broken = {}  # source port of a held connection -> (seconds, what)
    try:
        for port in HELD_PORTS:
            held.append(Held(client, vip, port))
        held_on = {h.source_port: h.peer() for h in held}
        # The victim: the amphora of the first held connection.
        victim = by_ip[held_on[HELD_PORTS[0]]]
        survivors_held = [h for h in held if held_on[h.source_port] != victim['vrrp_ip']]
        assert survivors_held, held_on
        with FlowProbe(client, vip, PROBE_PORTS) as probe:
            time.sleep(1.5)  # every probe port answered a few times
            killed_at = probe.now()
            kill_everything(victim)
            deadline = time.monotonic() + SETTLE
            replaced = None
            while replaced is None:
                assert time.monotonic() < deadline, 'no failover within %.0f s' % SETTLE
                # The connections held open on the other amphorae keep working.
                check_held(survivors_held, held_on, broken, probe.now())
                time.sleep(0.5)
                listed = traffic.amphorae_of(api, lb['id'])
                if (
                    api.lb_status(lb['id']) == 'ACTIVE'
                    and len(listed) == 3
                    and all(a['status'] == 'ALLOCATED' for a in listed)
                    and victim['id'] not in {a['id'] for a in listed}
                ):
                    replaced = probe.now()
            time.sleep(1.0)  # new connections after the replacement joined
        check_held(survivors_held, held_on, broken, probe.now())
    finally:
        for h in held:
            h.close()
    failover_time = replaced - killed_at
    before = {}
    for (_, port, peer), ended in zip(probe.results, probe.ended, strict=False):
        # Over before the kill began: one that started just before it may
        # have been refused by the amphora being killed.
        if ended < killed_at:
            assert peer, 'port %d failed before the kill: %s' % (port, probe.errors)
            before.setdefault(port, peer)
    failed = [(at, port) for at, port, peer in probe.results if not peer]
    victims_ports = {port for port, peer in before.items() if peer == victim['vrrp_ip']}
    last_failure = max((at for at, _ in failed), default=killed_at) - killed_at
    joined = min((at for at, _, peer in probe.results if peer and peer not in by_ip), default=None)
    after = {port: peer for _, port, peer in probe.results if peer}  # the last answer
    moved = {
        port: (before.get(port), after.get(port))
        for port in PROBE_PORTS
        if after.get(port) != before.get(port)
    }
    print(
        '\nkilled %s at %.2f s: %d of %d new connections failed (ports %s), the last %.2f s '
        'after the kill; first answer of the replacement %s s after it; LB ACTIVE on 3 '
        'amphorae %.2f s after it; held connections: %d on the victim, %d on the others, of '
        'which broken: %s; probe ports served elsewhere at the end (before, after): %s'
        % (
            victim['vrrp_ip'],
            killed_at,
            len(failed),
            len(probe.results),
            sorted({port for _, port in failed}),
            last_failure,
            joined and '%.2f' % (joined - killed_at),
            failover_time,
            len(held) - len(survivors_held),
            len(survivors_held),
            broken or 'none',
            moved,
        )
    )
    traffic.record('ACTIVE_ACTIVE kill -9 to 3 amphorae ACTIVE (s)', failover_time)
    traffic.record('ACTIVE_ACTIVE kill -9 to last failed new connection (s)', last_failure)
    traffic.record('ACTIVE_ACTIVE failed new connections during the failover', len(failed))
    traffic.record('ACTIVE_ACTIVE held connections on the other amphorae broken', len(broken))
    # Only flows of the killed amphora failed, and only until it was replaced.
    assert {port for _, port in failed} <= victims_ports, (failed, before)
    assert last_failure <= failover_time
    # The survivors' flows never moved to another of the amphorae there
    # before (the replacement may take slots of theirs when it joins).
    for at, port, peer in probe.results:
        if port not in victims_ports:
            assert peer == before.get(port) or peer not in by_ip, (at, port, peer, before)
    # Afterwards: ACTIVE on 3 amphorae again, the killed one gone, all serve.
    now = wait_serving(api, lb, 3, without={victim['id']})
    assert victim['compute_id'] not in ip_netns_list()
    assert_fair_share(spread(client, lb, SPREAD_PORTS), now, SPREAD)
    # Connections held open on the other amphorae kept working throughout:
    # while the killed one left the distribution, and when its replacement
    # joined (it must take over the killed one's flows, not theirs).
    joined_at = joined if joined is not None else replaced
    assert not {p: b for p, b in broken.items() if b[0] < joined_at}, broken
    assert not broken, (
        'connections held open on the other amphorae were broken when the replacement '
        'joined (at %.2f s), (port: (s, what)): %s' % (joined_at, broken)
    )


def test_deleting_leaves_no_namespace(api, lbs):
    names = set()
    for lb in lbs.values():
        api.wait_lb(lb['id'], timeout=SETTLE)
        names |= {distributor(lb)} | {a['compute_id'] for a in traffic.amphorae_of(api, lb['id'])}
        api.delete_lb(lb['id'])
    assert not traffic.amphorae_of(api, lbs[2]['id']) and not traffic.amphorae_of(api, lbs[3]['id'])
    wait_for(lambda: not names & ip_netns_list(), GONE, 'namespaces %s gone' % sorted(names))
