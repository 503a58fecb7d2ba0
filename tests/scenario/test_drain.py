"""Connection draining for real: a removed or disabled member takes no new
connection but keeps its established ones, up to its drain timeout.

Long requests are the member backends' `/slow?seconds=S`. Two long requests
sent one after the other on a ROUND_ROBIN pool of m1 and m2 with no other
traffic land one on each member; then m1 is removed (or disabled) while both
are running. The `drain` LB has the deployment's drain timeout (300 s); the
`short` LB a flavor with `member_drain_timeout` DRAIN_TIMEOUT.
"""
import glob
import json
import os
import threading
import time

import pytest

from tests.scenario import traffic
from tests.scenario.traffic import NETWORK_ERRORS, answers, url

REMOVE_PORT, DISABLE_PORT = 80, 81
DRAIN_TIMEOUT = 2  # seconds, the `short` LB's flavor
LONG = 8  # seconds of the long requests: ACTIVE must come while they run
SLACK = 3.0  # the worker's pass, the Reaper's look (0.5 s), CPU noise on 2 cores


class LongRequest:
    """`/slow?seconds=S` on a thread: (seconds it took, body or None, error)."""

    def __init__(self, client, vip, port, seconds):
        self.target = url(vip, port, '/slow?seconds=%s' % seconds)
        self.client, self.timeout = client, seconds + 15
        self.started = time.monotonic()
        self.outcome = None
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self):
        try:
            reply = self.client.request(self.target, timeout=self.timeout)
            body, error = (reply.body.strip(), None) if reply.status == 200 else \
                (None, 'HTTP %d' % reply.status)
        except NETWORK_ERRORS as exc:
            body, error = None, '%s: %s' % (type(exc).__name__, exc)
        self.outcome = (time.monotonic() - self.started, body, error)

    def result(self):
        self._thread.join(self.timeout + 5)
        assert self.outcome is not None, 'long request did not end'
        return self.outcome


def two_long_requests(client, lb, port, seconds):
    """One long request on each member (round robin, nothing else running)."""
    first = LongRequest(client, lb['vip_address'], port, seconds)
    time.sleep(0.2)  # connected before the second one
    return first, LongRequest(client, lb['vip_address'], port, seconds)


def agent_log(service, api, lb):
    """The text of the LB's amphora agent's log (one amphora: SINGLE)."""
    listing = api.call('GET', api.base.replace('/lbaas/', '/octavia/') + 'amphorae?'
                       'loadbalancer_id=' + lb['id'], expect=200).json()['amphorae']
    (amphora,) = listing
    pattern = os.path.join(service.state_dir, '**', amphora['id'], 'agent.log')
    (path,) = glob.glob(pattern, recursive=True)
    with open(path) as f:
        return f.read()


def make_lb(api, members, client, name, flavor_id=None):
    m1, m2 = members[:2]
    listeners = [
        traffic.listener(port, traffic.pool(pool, [traffic.member(m1), traffic.member(m2)]))
        for port, pool in ((REMOVE_PORT, 'remove'), (DISABLE_PORT, 'disable'))]
    body = {'name': name, 'vip_subnet_id': traffic.V4_SUBNET, 'listeners': listeners}
    if flavor_id:
        body['flavor_id'] = flavor_id
    lb = api.call('POST', 'loadbalancers', {'loadbalancer': body},
                  expect=201).json()['loadbalancer']
    api.wait_lb(lb['id'])
    for port in (REMOVE_PORT, DISABLE_PORT):
        traffic.first_good_response(client, url(lb['vip_address'], port))
    return lb


@pytest.fixture(scope='module')
def lb(api, members, client):
    lb = make_lb(api, members, client, 'drain')
    yield lb
    api.delete_lb(lb['id'])


@pytest.fixture(scope='module')
def short_lb(api, members, client):
    profile = api.call('POST', 'flavorprofiles', {'flavorprofile': {
        'name': 'short-drain', 'provider_name': 'amphora',
        'flavor_data': json.dumps({'member_drain_timeout': DRAIN_TIMEOUT})}},
        expect=201).json()['flavorprofile']
    flavor = api.call('POST', 'flavors', {'flavor': {
        'name': 'short-drain', 'flavor_profile_id': profile['id']}},
        expect=201).json()['flavor']
    lb = make_lb(api, members, client, 'short-drain', flavor['id'])
    yield lb
    api.delete_lb(lb['id'])
    api.call('DELETE', 'flavors/' + flavor['id'], expect=204)
    api.call('DELETE', 'flavorprofiles/' + profile['id'], expect=204)


def test_a_removed_member_finishes_its_request_and_takes_no_new_one(
        service, api, lb, client, members):
    m1 = members[0]
    first, second = two_long_requests(client, lb, REMOVE_PORT, LONG)
    time.sleep(0.5)
    api.call('DELETE', api.member_path(lb, 'remove', m1), expect=204)
    api.wait_lb(lb['id'])
    active_after = time.monotonic() - first.started
    traffic.record('drain: removal to ACTIVE with a request running (s)', active_after)
    assert active_after < LONG, 'the LB waited for the drain'
    seen = answers(client, url(lb['vip_address'], REMOVE_PORT), 20)
    assert seen == {'m2': 20}, seen
    outcomes = [first.result(), second.result()]
    assert all(error is None for _, _, error in outcomes), outcomes
    assert sorted(body for _, body, _ in outcomes) == ['m1', 'm2'], outcomes
    assert all(LONG - 0.1 <= took < LONG + SLACK for took, _, _ in outcomes), outcomes
    assert '1 removed (1 draining)' in agent_log(service, api, lb)  # no reload


def test_after_the_drain_timeout_the_rest_is_cut(service, api, short_lb, client, members):
    m1 = members[0]
    first, second = two_long_requests(client, short_lb, REMOVE_PORT, 10)
    time.sleep(0.5)
    removed_at = time.monotonic()
    api.call('DELETE', api.member_path(short_lb, 'remove', m1), expect=204)
    api.wait_lb(short_lb['id'])
    assert time.monotonic() - removed_at < DRAIN_TIMEOUT + SLACK
    outcomes = {request: request.result() for request in (first, second)}
    cut = [(r, o) for r, o in outcomes.items() if o[1] is None]
    kept = [o for o in outcomes.values() if o[1] is not None]
    assert len(cut) == 1 and cut[0][1][2], outcomes  # m1's request, cut
    assert kept[0][1] == 'm2' and kept[0][2] is None and kept[0][0] >= 9.9, outcomes
    request, (took, _, _) = cut[0]
    cut_after = request.started + took - removed_at
    traffic.record('drain: removal to cut with a 2 s timeout (s)', cut_after)
    assert DRAIN_TIMEOUT - 0.2 <= cut_after < DRAIN_TIMEOUT + SLACK, outcomes
    log = agent_log(service, api, short_lb)
    assert '1 removed (1 draining)' in log and 'passed: closing its connections' in log


def test_a_disabled_member_drains_then_is_offline(api, lb, client, members):
    m1 = members[0]
    path = api.member_path(lb, 'disable', m1)
    first, second = two_long_requests(client, lb, DISABLE_PORT, 6)
    time.sleep(0.5)
    api.change('PUT', path, 'member', {'admin_state_up': False}, lb_id=lb['id'])
    draining = api.wait_operating(path, 'member', 'DRAINING', timeout=4)
    traffic.record('drain: disabled to DRAINING (s)', draining)
    seen = answers(client, url(lb['vip_address'], DISABLE_PORT), 10)
    assert seen == {'m2': 10}, seen
    outcomes = [first.result(), second.result()]
    assert sorted(body for _, body, _ in outcomes) == ['m1', 'm2'], outcomes
    offline = api.wait_operating(path, 'member', 'OFFLINE', timeout=5)
    traffic.record('drain: request end to OFFLINE (s)', offline)
    api.change('PUT', path, 'member', {'admin_state_up': True}, lb_id=lb['id'])


def test_a_member_removed_by_a_reload_finishes_its_request(service, api, lb, client, members):
    """A change the runtime cannot make (m2 becomes a backup) removes m1 by
    a reload: the old worker keeps both requests until they end."""
    m1, m2 = members[:2]
    pool = api.pool_by_name(lb, 'disable')
    runtime_changes = agent_log(service, api, lb).count('members changed without reload')
    first, second = two_long_requests(client, lb, DISABLE_PORT, LONG)
    time.sleep(0.5)
    api.call('PUT', 'pools/%s/members' % pool['id'],
             {'members': [traffic.member(m2, backup=True)]}, expect=202)
    api.wait_lb(lb['id'])
    assert time.monotonic() - first.started < LONG, 'the LB waited for the drain'
    assert answers(client, url(lb['vip_address'], DISABLE_PORT), 10) == {'m2': 10}
    outcomes = [first.result(), second.result()]
    assert all(error is None for _, _, error in outcomes), outcomes
    assert sorted(body for _, body, _ in outcomes) == ['m1', 'm2'], outcomes
    log = agent_log(service, api, lb)
    assert log.count('members changed without reload') == runtime_changes  # reloaded
    api.call('PUT', 'pools/%s/members' % pool['id'],
             {'members': [traffic.member(m1), traffic.member(m2)]}, expect=202)
    api.wait_lb(lb['id'])
