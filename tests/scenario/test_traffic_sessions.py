"""Session persistence, allowed_cidrs and inserted headers, for real.

One load balancer with a listener per case, members m1..m3 on 8080:
  80  HTTP_COOKIE persistence (HAProxy inserts its own cookie)
  81  APP_COOKIE persistence on the application's cookie SESSIONID
  82  allowed_cidrs: only the client's first address may connect
  83  insert_headers X-Forwarded-For, -Port and -Proto
"""
import collections

import pytest

from tests.scenario import traffic
from tests.scenario.traffic import answers, url

HTTP_COOKIE, APP_COOKIE, ALLOWED, HEADERS = 80, 81, 82, 83
APP_COOKIE_NAME = 'SESSIONID'


@pytest.fixture(scope='module')
def lb(api, members, client):
    three = [traffic.member(m) for m in members[:3]]
    allowed_source = client.addresses[0]
    listeners = [
        traffic.listener(HTTP_COOKIE, traffic.pool(
            'http-cookie', three, session_persistence={'type': 'HTTP_COOKIE'})),
        traffic.listener(APP_COOKIE, traffic.pool(
            'app-cookie', three, session_persistence={'type': 'APP_COOKIE',
                                                      'cookie_name': APP_COOKIE_NAME})),
        traffic.listener(ALLOWED, traffic.pool('allowed', three),
                         allowed_cidrs=[allowed_source + '/32']),
        traffic.listener(HEADERS, traffic.pool('headers', three), insert_headers={
            'X-Forwarded-For': 'true', 'X-Forwarded-Port': 'true',
            'X-Forwarded-Proto': 'true'}),
    ]
    lb = api.create_lb('sessions', listeners)
    traffic.first_good_response(client, url(lb['vip_address'], HTTP_COOKIE))
    yield lb
    api.delete_lb(lb['id'])


def cookies_of(reply):
    """{name: value} of the Set-Cookie header (one cookie per answer here)."""
    header = reply.headers.get('set-cookie')
    if not header:
        return {}
    name, _, rest = header.partition('=')
    return {name.strip(): rest.split(';')[0].strip()}


def test_http_cookie_keeps_a_client_on_one_member(lb, client):
    target = url(lb['vip_address'], HTTP_COOKIE)
    assert len(answers(client, target, 6)) == 3  # no cookie: round robin
    stuck = collections.Counter()
    for _ in range(3):  # three clients, each with the cookie of its first answer
        first = client.request(target)
        cookie = cookies_of(first)
        assert list(cookie) == ['SRV'], first.headers  # HAProxy's inserted cookie
        header = {'Cookie': 'SRV=%s' % cookie['SRV']}
        seen = answers(client, target, 6, headers=header)
        assert seen == {first.body.strip(): 6}
        stuck[first.body.strip()] += 1
    assert len(stuck) > 1  # different clients were placed on different members


def test_app_cookie_keeps_a_client_on_one_member(lb, client):
    target = url(lb['vip_address'], APP_COOKIE)
    first = client.request(target + '?set-cookie=' + APP_COOKIE_NAME)
    session = cookies_of(first)[APP_COOKIE_NAME]
    member = first.body.strip()
    assert session.startswith(member + '-')  # the application set it
    seen = answers(client, target, 9, headers={'Cookie': '%s=%s' % (APP_COOKIE_NAME, session)})
    assert seen == {member: 9}
    assert len(answers(client, target, 6)) == 3  # without the cookie: round robin


def test_allowed_cidrs_refuse_other_sources(lb, client):
    target = url(lb['vip_address'], ALLOWED)
    allowed, other = client.addresses[0], client.addresses[1]
    assert client.request(target, source=allowed).status == 200
    with pytest.raises(traffic.NETWORK_ERRORS):
        client.request(target, source=other, timeout=3)
    # Another listener of the same load balancer is open to everyone.
    assert client.request(url(lb['vip_address'], HEADERS), source=other).status == 200


def test_forwarded_headers_reach_the_member(lb, client):
    source = client.addresses[2]
    reply = client.request(url(lb['vip_address'], HEADERS, '/headers'), source=source)
    seen = {k.lower(): v for k, v in reply.json()['headers'].items()}
    assert seen['x-forwarded-for'] == source
    assert seen['x-forwarded-port'] == str(HEADERS)
    assert seen['x-forwarded-proto'] == 'http'


def test_no_forwarded_headers_unless_asked(lb, client):
    reply = client.request(url(lb['vip_address'], HTTP_COOKIE, '/headers'))
    seen = {k.lower() for k in reply.json()['headers']}
    assert not seen & {'x-forwarded-for', 'x-forwarded-port', 'x-forwarded-proto'}
