"""Health monitors for real: a member whose server stops leaves rotation and
comes back, its operating_status in the API follows, and a backup member
serves when every regular member is down.

The members' backends for this module listen on HEALTH_PORT, started and
stopped here, so stopping one disturbs no other module. The monitor checks
every DELAY s; a member is down after MAX_RETRIES_DOWN failures and up again
after MAX_RETRIES successes. Allowed slack on top: one check interval
(the phase of the check clock), the worker's status poll, and CPU noise on a
shared 2-core host.
"""
import time

import pytest

from tests.scenario import traffic
from tests.scenario.traffic import answers, url

HEALTH_PORT = 8081
DELAY, TIMEOUT, MAX_RETRIES, MAX_RETRIES_DOWN = 1, 1, 2, 2
SLACK = DELAY + 0.5 + 2.0  # check phase + status poll + noise
LISTENER_PORT, BACKUP_PORT, PING_PORT = 80, 81, 82


def monitor(type_='HTTP'):
    body = {'type': type_, 'delay': DELAY, 'timeout': TIMEOUT, 'max_retries': MAX_RETRIES,
            'max_retries_down': MAX_RETRIES_DOWN}
    if type_ == 'HTTP':
        body.update(url_path='/', expected_codes='200')
    return body


@pytest.fixture(scope='module')
def backends(members):
    for host in members[:3]:
        host.start_backend(HEALTH_PORT, name=host.name.rsplit('-', 1)[1])
    yield members[:3]
    for host in members[:3]:
        host.stop_backend(HEALTH_PORT)


@pytest.fixture(scope='module')
def lb(api, backends, client):
    m1, m2, m3 = backends
    checked = traffic.pool('checked', [traffic.member(m, HEALTH_PORT) for m in backends],
                           healthmonitor=monitor())
    with_backup = traffic.pool('with-backup', [
        traffic.member(m1, HEALTH_PORT), traffic.member(m2, HEALTH_PORT),
        traffic.member(m3, HEALTH_PORT, backup=True)], healthmonitor=monitor())
    pinged = traffic.pool('pinged', [traffic.member(m, HEALTH_PORT) for m in backends],
                          healthmonitor=monitor('PING'))
    lb = api.create_lb('health', [traffic.listener(LISTENER_PORT, checked),
                                  traffic.listener(BACKUP_PORT, with_backup),
                                  traffic.listener(PING_PORT, pinged)])
    traffic.first_good_response(client, url(lb['vip_address'], LISTENER_PORT))
    yield lb
    api.delete_lb(lb['id'])


@pytest.fixture(autouse=True)
def all_online(api, lb):
    """Each test starts with every member up in both pools (a member a test
    restarted may still be rising in the other pool's checks)."""
    for name in ('checked', 'with-backup', 'pinged'):
        pool = api.pool_by_name(lb, name)
        for member in api.members(pool['id']):
            api.wait_operating('pools/%s/members/%s' % (pool['id'], member['id']), 'member',
                               'ONLINE', timeout=MAX_RETRIES * DELAY + SLACK)


def test_stopped_member_leaves_rotation_and_its_status_follows(api, lb, client, backends):
    m1 = backends[0]
    path = api.member_path(lb, 'checked', m1)
    target = url(lb['vip_address'], LISTENER_PORT)
    assert set(answers(client, target, 6)) == {'m1', 'm2', 'm3'}
    down_bound = DELAY * MAX_RETRIES_DOWN + TIMEOUT + SLACK
    m1.stop_backend(HEALTH_PORT)
    try:
        to_error = api.wait_operating(path, 'member', 'ERROR', timeout=down_bound)
        traffic.record('stopped member to ERROR in the API (s)', to_error)
        pool = api.show('pools/' + path.split('/')[1], 'pool')
        assert pool['operating_status'] == 'DEGRADED'
        # Out of rotation: everything answers, from the other two only
        # (HAProxy redispatches the requests that found m1 refusing).
        assert answers(client, target, 10) == {'m2': 5, 'm3': 5}
    finally:
        m1.start_backend(HEALTH_PORT, name='m1')
    up_bound = DELAY * MAX_RETRIES + SLACK
    to_online = api.wait_operating(path, 'member', 'ONLINE', timeout=up_bound)
    traffic.record('restarted member to ONLINE in the API (s)', to_online)
    assert set(answers(client, target, 9)) == {'m1', 'm2', 'm3'}


def test_restarted_member_returns_only_after_max_retries_successes(api, lb, client,
                                                                   backends):
    """Measured on the traffic: once HAProxy has marked the member down, it
    takes MAX_RETRIES good checks, one every DELAY s, before it answers again."""
    m2 = backends[1]
    path = api.member_path(lb, 'checked', m2)
    target = url(lb['vip_address'], LISTENER_PORT)
    m2.stop_backend(HEALTH_PORT)
    try:
        api.wait_operating(path, 'member', 'ERROR',
                           timeout=DELAY * MAX_RETRIES_DOWN + TIMEOUT + SLACK)
        assert answers(client, target, 6) == {'m1': 3, 'm3': 3}
    finally:
        m2.start_backend(HEALTH_PORT, name='m2')
    started = time.monotonic()
    while 'm2' not in answers(client, target, 2):
        assert time.monotonic() - started < DELAY * MAX_RETRIES + SLACK, 'm2 is not back'
        time.sleep(0.05)
    back = time.monotonic() - started
    traffic.record('restarted member back in rotation (s)', back)
    # The first good check comes within DELAY of the restart, the last one
    # (MAX_RETRIES - 1) * DELAY later: never at once.
    assert back >= 0.8 * DELAY * (MAX_RETRIES - 1), back
    api.wait_operating(path, 'member', 'ONLINE', timeout=SLACK)


def test_backup_member_serves_only_while_the_others_are_down(api, lb, client, backends):
    m1, m2, _ = backends
    target = url(lb['vip_address'], BACKUP_PORT)
    assert answers(client, target, 8) == {'m1': 4, 'm2': 4}
    m1.stop_backend(HEALTH_PORT)
    m2.stop_backend(HEALTH_PORT)
    try:
        for host in (m1, m2):
            api.wait_operating(api.member_path(lb, 'with-backup', host), 'member', 'ERROR',
                               timeout=DELAY * MAX_RETRIES_DOWN + TIMEOUT + SLACK)
        assert answers(client, target, 6) == {'m3': 6}
    finally:
        m1.start_backend(HEALTH_PORT, name='m1')
        m2.start_backend(HEALTH_PORT, name='m2')
    for host in (m1, m2):
        api.wait_operating(api.member_path(lb, 'with-backup', host), 'member', 'ONLINE',
                           timeout=DELAY * MAX_RETRIES + SLACK)
    assert answers(client, target, 8) == {'m1': 4, 'm2': 4}


def test_ping_monitor_sees_live_members(api, lb, client):
    """PING monitors run HAProxy's external check (one ICMP echo) in the
    amphora: live members are ONLINE (the autouse fixture waited for it)."""
    pool = api.pool_by_name(lb, 'pinged')
    assert api.show('pools/' + pool['id'], 'pool')['operating_status'] == 'ONLINE'
    assert set(answers(client, url(lb['vip_address'], PING_PORT), 6)) == {'m1', 'm2', 'm3'}
