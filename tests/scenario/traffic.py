"""Helpers of the traffic scenarios: the lbaas API as a user drives it, and
requests through a VIP from a client test host, counted and bounded.

Every wait here has a deadline and every load run a duration and a request
cap, so a broken data plane fails a test instead of hanging the tier.
"""
import collections
import http.client
import itertools
import json
import sys
import threading
import time

import requests

V4_SUBNET = '9c3e0f7e-3f0b-4d8e-8d5b-2b6f9a4c1d01'  # the default local subnets
V6_SUBNET = '9c3e0f7e-3f0b-4d8e-8d5b-2b6f9a4c1d02'
MEMBER_PORT = 8080  # every member host runs a backend here
NETWORK_ERRORS = (OSError, http.client.HTTPException)
FIGURES = collections.defaultdict(list)  # printed at the end of the run


def record(name, value):
    FIGURES[name].append(value)


class Api:
    """The load-balancer API v2 over HTTP, as one project (admin by noauth)."""

    def __init__(self, endpoint, project_id):
        self.base = endpoint.rstrip('/') + '/v2/lbaas/'
        self.session = requests.Session()
        self.session.headers['X-Project-Id'] = project_id

    def call(self, method, path, body=None, expect=None):
        url = path if path.startswith('http') else self.base + path
        resp = self.session.request(method, url, json=body, timeout=30)
        if expect is not None:
            assert resp.status_code == expect, '%s %s: %s %s' % (
                method, path, resp.status_code, resp.text)
        return resp

    def show(self, path, key):
        return self.call('GET', path, expect=200).json()[key]

    def lb_status(self, lb_id):
        resp = self.call('GET', 'loadbalancers/' + lb_id)
        if resp.status_code == 404:
            return 'DELETED'
        return resp.json()['loadbalancer']['provisioning_status']

    def wait_lb(self, lb_id, wanted='ACTIVE', timeout=60.0):
        deadline = time.monotonic() + timeout
        while True:
            current = self.lb_status(lb_id)
            if current == wanted:
                return
            assert current != 'ERROR', 'load balancer %s went to ERROR' % lb_id
            assert time.monotonic() < deadline, 'LB %s still %s after %.0f s' % (
                lb_id, current, timeout)
            time.sleep(0.05)

    def create_lb(self, name, listeners=(), pools=(), vip_subnet_id=V4_SUBNET):
        """Graph-create a load balancer and wait for ACTIVE; its body, with
        `seconds_to_active` added."""
        body = {'name': name, 'vip_subnet_id': vip_subnet_id,
                'listeners': list(listeners), 'pools': list(pools)}
        started = time.monotonic()
        lb = self.call('POST', 'loadbalancers', {'loadbalancer': body},
                       expect=201).json()['loadbalancer']
        self.wait_lb(lb['id'])
        lb['seconds_to_active'] = time.monotonic() - started
        lb['posted_at'] = started
        record('POST to ACTIVE (s)', lb['seconds_to_active'])
        return lb

    def change(self, method, path, key=None, body=None, lb_id=None):
        """A write as a user makes it, then wait until the LB is ACTIVE again."""
        expect = {'POST': 201, 'PUT': 200, 'DELETE': 204}[method]
        resp = self.call(method, path, {key: body} if key else None, expect=expect)
        self.wait_lb(lb_id)
        return resp.json()[key] if key and resp.content else None

    def delete_lb(self, lb_id, timeout=60.0):
        self.call('DELETE', 'loadbalancers/%s?cascade=true' % lb_id, expect=204)
        self.wait_lb(lb_id, 'DELETED', timeout)

    def listener_by_port(self, lb, port):
        listeners = self.call('GET', 'listeners?loadbalancer_id=' + lb['id'],
                              expect=200).json()['listeners']
        return next(li for li in listeners if li['protocol_port'] == port)

    def pool_by_name(self, lb, name):
        pools = self.call('GET', 'pools?loadbalancer_id=' + lb['id'],
                          expect=200).json()['pools']
        return next(p for p in pools if p['name'] == name)

    def members(self, pool_id):
        return self.show('pools/%s/members' % pool_id, 'members')

    def member_path(self, lb, pool_name, host):
        """The API path of the member at `host`'s first address."""
        pool = self.pool_by_name(lb, pool_name)
        member = next(m for m in self.members(pool['id']) if m['address'] == host.addresses[0])
        return 'pools/%s/members/%s' % (pool['id'], member['id'])

    def wait_operating(self, path, key, wanted, timeout):
        """Seconds until the object's operating_status is `wanted`."""
        started = time.monotonic()
        while True:
            current = self.show(path, key)['operating_status']
            if current == wanted:
                return time.monotonic() - started
            assert time.monotonic() - started < timeout, '%s is %s, not %s after %.0f s' % (
                path, current, wanted, timeout)
            time.sleep(0.1)


def amphorae_of(api, lb_id):
    """The LB's amphorae as the admin API lists them, DELETED ones left out."""
    listing = api.call(
        'GET',
        api.base.replace('/v2/lbaas/', '/v2/octavia/') + 'amphorae?loadbalancer_id=' + lb_id,
        expect=200,
    )
    return [a for a in listing.json()['amphorae'] if a['status'] != 'DELETED']


def make_flavor(api, name, data):
    """A flavor (and its amphora flavor profile) with this metadata."""
    profile = api.call('POST', 'flavorprofiles', {'flavorprofile': {
        'name': name, 'provider_name': 'amphora', 'flavor_data': json.dumps(data)}},
        expect=201).json()['flavorprofile']
    return api.call('POST', 'flavors', {'flavor': {
        'name': name, 'flavor_profile_id': profile['id']}}, expect=201).json()['flavor']


def l4_lb(api, name, protocol, hosts, port, health_port, monitor, listener_ports):
    """A UDP or SCTP load balancer as their scenarios build it: pools
    'weighted' (weights 1, 2, 3 on `port`), 'by-source' (SOURCE_IP on `port`)
    and 'checked' (on `health_port`, with `monitor`) of the three `hosts`,
    behind listeners on `listener_ports`, in that order."""
    weights = zip(hosts, (1, 2, 3), strict=True)
    weighted = pool('weighted', [member(h, port, weight=w) for h, w in weights],
                    protocol=protocol)
    by_source = pool('by-source', [member(h, port) for h in hosts], protocol=protocol,
                     algorithm='SOURCE_IP')
    checked = pool('checked', [member(h, health_port) for h in hosts], protocol=protocol,
                   healthmonitor=monitor)
    pools = zip(listener_ports, (weighted, by_source, checked), strict=True)
    return api.create_lb(name, [listener(p, chosen, protocol=protocol) for p, chosen in pools])


def assert_weighted_1_2_3(answers):
    """120 answers (member names, None for lost ones) from m1, m2 and m3
    of weights 1, 2 and 3 are spread about as the weights say."""
    counts = {name: answers.count(name) for name in ('m1', 'm2', 'm3')}
    assert answers.count(None) <= 2, counts
    assert 10 <= counts['m1'] <= 30 and 30 <= counts['m2'] <= 50 and 48 <= counts['m3'] <= 72, \
        counts


def assert_source_ip_sticks(ask, client, vip, port):
    """Each of 8 client addresses always reaches one member (`ask` sends
    `count` requests from `source` and returns who answered each)."""
    seen = set()
    for source in client.addresses[:8]:
        answers = ask(client, vip, port, 6, source)
        assert len(set(answers)) == 1 and None not in answers, (source, answers)
        seen |= set(answers)
    assert len(seen) > 1  # different clients do land on different members


def assert_leaves_rotation_and_returns(api, lb, ask, client, port, host, stop, start, label,
                                       monitor=(3, 1, 1, 2), slack=11.0):
    """Member m2 (`host`, in pool 'checked' whose monitor is (delay, timeout,
    max_retries, max_retries_down)) leaves the rotation of `port` within the
    monitor's bound after `stop()`, and its status goes ERROR; after
    `start()` it returns and goes ONLINE. `ask` as for assert_source_ip_sticks;
    both times are recorded under `label`."""
    delay, timeout, retries, retries_down = monitor
    vip, path = lb['vip_address'], api.member_path(lb, 'checked', host)
    assert set(ask(client, vip, port, 9)) == {'m1', 'm2', 'm3'}
    api.wait_operating(path, 'member', 'ONLINE', timeout=10 + slack)
    stop()
    started = time.monotonic()
    try:
        while 'm2' in ask(client, vip, port, 6) or None in ask(client, vip, port, 6):
            assert time.monotonic() - started < delay * retries_down + timeout + slack, \
                'm2 is still in rotation'
        record('%s member out of rotation (s)' % label, time.monotonic() - started)
        assert set(ask(client, vip, port, 12)) == {'m1', 'm3'}
        api.wait_operating(path, 'member', 'ERROR', timeout=10 + slack)
    finally:
        start()
    started = time.monotonic()
    while 'm2' not in ask(client, vip, port, 6):
        assert time.monotonic() - started < delay * retries + slack, 'm2 is not back'
    record('%s member back in rotation (s)' % label, time.monotonic() - started)
    api.wait_operating(path, 'member', 'ONLINE', timeout=10 + slack)


class MemberServers:
    """A server script (argv: port, member name) per (member host, port),
    run in the member's namespace."""

    def __init__(self, script):
        self.script = script
        self.children = {}

    def argv(self, name, port):
        return [sys.executable, '-c', self.script, str(port), name]

    def start(self, host, port):
        name = host.name.rsplit('-', 1)[1]
        self.children[(name, port)] = host.popen(self.argv(name, port))
        time.sleep(0.2)

    def stop(self, host, port):
        child = self.children.pop((host.name.rsplit('-', 1)[1], port), None)
        if child is not None:
            child.kill()
            child.wait(5)

    def stop_all(self):
        for child in self.children.values():
            child.kill()
            child.wait(5)
        self.children.clear()


def url(vip, port, path='/'):
    host = '[%s]' % vip if ':' in vip else vip
    return 'http://%s:%d%s' % (host, port, path)


def first_good_response(client, target, timeout=30.0):
    """Seconds until `target` answers 200 from `client`."""
    started = time.monotonic()
    while True:
        try:
            if client.request(target, timeout=1.0).status == 200:
                return time.monotonic() - started
        except NETWORK_ERRORS:
            pass
        assert time.monotonic() - started < timeout, 'no good answer from %s' % target
        time.sleep(0.02)


def answers(client, target, count, **kwargs):
    """Who answered each of `count` sequential requests: a Counter of bodies."""
    seen = collections.Counter()
    for _ in range(count):
        reply = client.request(target, **kwargs)
        assert reply.status == 200, reply
        seen[reply.body.strip()] += 1
    return seen


class LoadRun:
    """Requests from `threads` threads for at most `seconds` and `max_requests`.

    Each request opens a new connection (what a reload must not break) and
    is never retried. `results` holds (time since start, member or None,
    error text or None) per request.
    """

    def __init__(self, client, target, seconds=10.0, threads=4, max_requests=40000):
        self.client, self.target = client, target
        self.seconds, self.threads, self.max_requests = seconds, threads, max_requests
        self.results = []
        self._lock = threading.Lock()
        self._workers = []
        self.started = None

    def start(self):
        self.started = time.monotonic()
        self._workers = [threading.Thread(target=self._loop, daemon=True)
                         for _ in range(self.threads)]
        for worker in self._workers:
            worker.start()
        return self

    def elapsed(self):
        return time.monotonic() - self.started

    def _loop(self):
        while self.elapsed() < self.seconds:
            with self._lock:
                if len(self.results) >= self.max_requests:
                    return
            at = self.elapsed()
            try:
                reply = self.client.request(self.target, timeout=5.0)
                outcome = (reply.body.strip(), None) if reply.status == 200 else \
                    (None, 'HTTP %d' % reply.status)
            except NETWORK_ERRORS as exc:
                outcome = (None, '%s: %s' % (type(exc).__name__, exc))
            with self._lock:
                self.results.append((at, *outcome))

    def join(self):
        for worker in self._workers:
            worker.join(self.seconds + 30)
        assert not any(w.is_alive() for w in self._workers), 'load run did not end'
        return self

    def failures(self):
        return [(at, error) for at, _, error in self.results if error]

    def members_between(self, start, end):
        return collections.Counter(member for at, member, _ in self.results
                                   if start <= at < end and member)


# -- request bodies ---------------------------------------------------------------

def member(host, port=MEMBER_PORT, **fields):
    return {'address': host.addresses[0], 'protocol_port': port, **fields}


def pool(name, members, protocol='HTTP', algorithm='ROUND_ROBIN', **fields):
    return {'name': name, 'protocol': protocol, 'lb_algorithm': algorithm,
            'members': list(members), **fields}


def listener(port, default_pool=None, protocol='HTTP', **fields):
    body = {'name': 'listener-%d' % port, 'protocol': protocol, 'protocol_port': port,
            **fields}
    if default_pool is not None:
        body['default_pool'] = default_pool
    return body


class Probe:
    """One request every Probe.EVERY s from `client`, on a thread; records
    (time, the `peer` a member's /headers page saw, or None)."""

    EVERY = 0.05  # seconds between the client's requests
    TIMEOUT = 0.5  # seconds one request may take

    def __init__(self, client, target):
        self.client, self.target = client, target
        self.results = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self.started = time.monotonic()

    def _run(self):
        while not self._stop.is_set():
            sent = time.monotonic()
            try:
                reply = self.client.request(self.target, timeout=Probe.TIMEOUT)
                peer = reply.json()['peer'] if reply.status == 200 else None
            except (*NETWORK_ERRORS, ValueError):
                peer = None
            self.results.append((time.monotonic() - self.started, peer))
            self._stop.wait(max(0.0, Probe.EVERY - (time.monotonic() - sent)))

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join(10)

    def since(self, at):
        return [(t, peer) for t, peer in self.results if t >= at]

    def longest_gap(self):
        """Longest time between two answers (or the start and an answer)."""
        answered = [0.0] + [t for t, peer in self.results if peer]
        return max(b - a for a, b in itertools.pairwise(answered))

    def failed(self):
        return sum(1 for _, peer in self.results if not peer)
