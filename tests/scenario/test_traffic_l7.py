"""L7 policies for real: routing to pools, redirects and rejects.

One HTTP listener whose default pool A is m1; pool B is m2 and pool C is m3.
Each policy has a rule that only its own requests match, so the member that
answers (or the status and Location of a redirect) shows which one fired.
Everything is created in one graph-create call; pools B and C are given in
full at the top level and referred to by name from the policies.
"""
import pytest

from tests.scenario import traffic
from tests.scenario.traffic import url

PORT = 80


def rule(type_, value, compare='EQUAL_TO', **fields):
    return {'type': type_, 'compare_type': compare, 'value': value, **fields}


def to_pool(name, *rules):
    return {'action': 'REDIRECT_TO_POOL', 'redirect_pool': {'name': name},
            'rules': list(rules)}


POLICIES = [
    to_pool('pool-b', rule('PATH', '/static', 'STARTS_WITH')),
    to_pool('pool-c', rule('HOST_NAME', 'c.example.test')),
    to_pool('pool-c', rule('HEADER', 'gold', key='X-Tier')),
    to_pool('pool-b', rule('COOKIE', 'silver', key='tier')),
    # Both rules must hold: /inverted, and no "X-Direct: yes" header.
    to_pool('pool-b', rule('PATH', '/inverted', 'STARTS_WITH'),
            rule('HEADER', 'yes', key='X-Direct', invert=True)),
    {'action': 'REDIRECT_TO_URL', 'redirect_url': 'http://example.test/moved',
     'redirect_http_code': 301, 'rules': [rule('PATH', '/old301')]},
    {'action': 'REDIRECT_TO_URL', 'redirect_url': 'http://example.test/moved',
     'rules': [rule('PATH', '/old302')]},  # Octavia's default code: 302
    {'action': 'REDIRECT_PREFIX', 'redirect_prefix': 'https://new.example.test',
     'redirect_http_code': 308, 'rules': [rule('PATH', '/prefix', 'STARTS_WITH')]},
    {'action': 'REDIRECT_PREFIX', 'redirect_prefix': 'https://new.example.test',
     'redirect_http_code': 302, 'rules': [rule('PATH', '/legacy', 'STARTS_WITH')]},
    {'action': 'REJECT', 'rules': [rule('PATH', '/admin', 'STARTS_WITH')]},
]


@pytest.fixture(scope='module')
def lb(api, members, client):
    m1, m2, m3 = members[:3]
    listener = traffic.listener(PORT, traffic.pool('pool-a', [traffic.member(m1)]),
                                l7policies=POLICIES)
    pools = [traffic.pool('pool-b', [traffic.member(m2)]),
             traffic.pool('pool-c', [traffic.member(m3)])]
    lb = api.create_lb('l7', [listener], pools)
    traffic.first_good_response(client, url(lb['vip_address'], PORT))
    yield lb
    api.delete_lb(lb['id'])


def get(client, lb, path, **kwargs):
    return client.request(url(lb['vip_address'], PORT, path), **kwargs)


def served_by(client, lb, path, **kwargs):
    reply = get(client, lb, path, **kwargs)
    assert reply.status == 200, reply
    return reply.body.strip()


def test_policies_were_created_in_position_order(api, lb):
    listener = api.listener_by_port(lb, PORT)
    policies = api.show('l7policies?listener_id=' + listener['id'], 'l7policies')
    assert sorted(p['position'] for p in policies) == list(range(1, len(POLICIES) + 1))
    assert all(p['provisioning_status'] == 'ACTIVE' for p in policies)


def test_unmatched_requests_go_to_the_default_pool(client, lb):
    assert served_by(client, lb, '/') == 'm1'
    assert served_by(client, lb, '/other/static') == 'm1'


def test_path_starts_with_routes_to_pool_b(client, lb):
    assert served_by(client, lb, '/static/app.css') == 'm2'
    assert served_by(client, lb, '/static') == 'm2'


def test_host_name_routes_to_pool_c(client, lb):
    assert served_by(client, lb, '/', headers={'Host': 'c.example.test'}) == 'm3'
    assert served_by(client, lb, '/', headers={'Host': 'C.Example.Test'}) == 'm3'
    assert served_by(client, lb, '/', headers={'Host': 'd.example.test'}) == 'm1'


def test_header_rule(client, lb):
    assert served_by(client, lb, '/', headers={'X-Tier': 'gold'}) == 'm3'
    assert served_by(client, lb, '/', headers={'X-Tier': 'bronze'}) == 'm1'


def test_cookie_rule(client, lb):
    assert served_by(client, lb, '/', headers={'Cookie': 'a=1; tier=silver'}) == 'm2'
    assert served_by(client, lb, '/', headers={'Cookie': 'tier=gold'}) == 'm1'


def test_inverted_rule(client, lb):
    assert served_by(client, lb, '/inverted') == 'm2'
    assert served_by(client, lb, '/inverted', headers={'X-Direct': 'yes'}) == 'm1'
    assert served_by(client, lb, '/inverted', headers={'X-Direct': 'no'}) == 'm2'


@pytest.mark.parametrize('path,code,location', [
    ('/old301', 301, 'http://example.test/moved'),
    ('/old302', 302, 'http://example.test/moved'),
    ('/prefix/a/b?q=1', 308, 'https://new.example.test/prefix/a/b?q=1'),
    ('/legacy/x', 302, 'https://new.example.test/legacy/x'),
])
def test_redirects(client, lb, path, code, location):
    reply = get(client, lb, path)
    assert (reply.status, reply.headers.get('location')) == (code, location)


def test_reject_answers_403(client, lb):
    assert get(client, lb, '/admin/users').status == 403
    assert get(client, lb, '/administrator').status == 403  # STARTS_WITH, not a segment
    assert served_by(client, lb, '/x/admin') == 'm1'


def test_reject_comes_before_pool_routing(api, lb, client):
    """Octavia's order: REJECT, then redirects, then pools, whatever the positions."""
    listener = api.listener_by_port(lb, PORT)
    policy = api.change('POST', 'l7policies', 'l7policy', {
        'listener_id': listener['id'], 'action': 'REJECT', 'position': 99,
        'rules': [rule('PATH', '/static/secret', 'STARTS_WITH')]}, lb['id'])
    try:
        assert get(client, lb, '/static/secret.txt').status == 403
        assert served_by(client, lb, '/static/public.txt') == 'm2'
    finally:
        api.change('DELETE', 'l7policies/' + policy['id'], lb_id=lb['id'])
    assert served_by(client, lb, '/static/secret.txt') == 'm2'
