"""Errors and the edges of the API: Octavia's fault body, status codes, body
limits, content negotiation, version discovery, path aliases, request ids
(reference 1.1, 1.5)."""
import json
import re
import uuid

import pytest
import requests

from tests.functional.conftest import LOCAL_V4_SUBNET, build_tree, fault, new_member

REQUEST_ID = re.compile(r'^req-[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$')


def raw_post(client, path, data, **headers):
    return client.session.post(client.url(path), data=data,
                               headers={'Content-Type': 'application/json', **headers})


def test_not_found_has_octavia_wording(client):
    lb_id = str(uuid.uuid4())
    assert fault(client.get('loadbalancers/' + lb_id), 404) == \
        'Load Balancer %s not found.' % lb_id
    for path, name in (('listeners', 'Listener'), ('pools', 'Pool'),
                       ('healthmonitors', 'Health Monitor'), ('l7policies', 'L7 Policy')):
        assert fault(client.get('%s/%s' % (path, lb_id)), 404) == \
            '%s %s not found.' % (name, lb_id)


@pytest.mark.parametrize('path', ['/v2/lbaas/nothing', '/v2/lbaas/loadbalancers/a/b/c',
                                  '/v4', '/v2/lbaas/pools/x/members/y/z'])
def test_unknown_paths_are_404_faults(client, path):
    fault(client.get(path), 404)


@pytest.mark.parametrize('method, path', [
    ('post', 'loadbalancers/%s' % uuid.uuid4()), ('delete', 'loadbalancers'),
    ('put', 'listeners'), ('post', 'loadbalancers/%s/status' % uuid.uuid4()),
    ('get', 'loadbalancers/%s/failover' % uuid.uuid4()),
])
def test_unsupported_methods_are_405_faults(client, method, path):
    fault(client.request(method, path, {}), 405)


@pytest.mark.parametrize('data, words', [
    (b'{"loadbalancer": ', 'JSON'), (b'\xff\xfe', 'JSON'), (b'[]', 'loadbalancer'),
    (b'"text"', 'loadbalancer'), (b'{}', 'loadbalancer'),
    (b'{"loadbalancer": []}', 'loadbalancer'), (b'{"load_balancer": {}}', 'loadbalancer'),
    (b'', 'loadbalancer'),
])
def test_bodies_that_are_not_an_envelope_are_400(client, data, words):
    assert words in fault(raw_post(client, 'loadbalancers', data), 400)


def test_unknown_attributes_are_400_with_wsme_wording(client):
    message = fault(client.post('loadbalancers', {'loadbalancer': {
        'vip_subnet_id': LOCAL_V4_SUBNET, 'colour': 'blue'}}), 400)
    assert 'Unknown attribute' in message
    message = fault(client.post('loadbalancers', {'loadbalancer': {
        'vip_subnet_id': 'nope'}}), 400)
    assert message.startswith('Invalid input for field/attribute vip_subnet_id.')


def test_bodies_over_the_size_limit_are_413(client):
    padding = 'x' * 114688
    resp = raw_post(client, 'loadbalancers', json.dumps(
        {'loadbalancer': {'vip_subnet_id': LOCAL_V4_SUBNET, 'description': padding}}))
    fault(resp, 413)
    resp = client.put('loadbalancers/%s' % uuid.uuid4(), {'loadbalancer': {'name': padding}})
    fault(resp, 413)
    just_under = json.dumps({'loadbalancer': {'name': 'x' * 300}})
    fault(raw_post(client, 'loadbalancers', just_under.encode()), 400)  # small, merely invalid


@pytest.mark.parametrize('accept, status', [
    ('text/html', 406), ('application/xml', 406), ('application/json', 200), ('*/*', 200),
    ('application/*', 200), ('text/html, application/json;q=0.5', 200),
])
def test_accept_must_allow_json(client, accept, status):
    resp = client.get('loadbalancers', headers={'Accept': accept})
    assert resp.status_code == status, resp.text
    if status == 406:
        (error,) = resp.json()['errors']
        assert error['status'] == 406 and error['title'] and 'detail' in error
        assert error['request_id'] == resp.headers['x-openstack-request-id']


def test_reader_may_read_but_not_write_and_the_text_says_policy(service, client, lb):
    reader = new_member(service, roles='reader')
    reader.session.headers['X-Project-Id'] = client.project_id
    assert reader.get('loadbalancers/' + lb['id']).status_code == 200
    assert fault(reader.post('listeners', {'listener': {
        'loadbalancer_id': lb['id'], 'protocol': 'HTTP', 'protocol_port': 80}}), 403) == \
        'Policy does not allow this request to be performed.'
    fault(reader.put('loadbalancers/' + lb['id'], {'loadbalancer': {'name': 'x'}}), 403)
    fault(reader.delete('loadbalancers/' + lb['id']), 403)


def test_conflict_and_not_implemented_codes(client, admin, lb):
    body = {'loadbalancer_id': lb['id'], 'protocol': 'HTTP', 'protocol_port': 80}
    client.create('listeners', 'listener', body, lb['id'])
    fault(client.post('listeners', {'listener': dict(body, protocol='TCP')}), 409)
    # A provider declining an option is Octavia's 501 with a Server fault; the
    # amphora declines flavor data it does not know.
    flavor = admin.post('flavorprofiles', {'flavorprofile': {
        'name': 'odd-' + uuid.uuid4().hex[:8], 'provider_name': 'amphora',
        'flavor_data': '{"no_such_key": 1}'}})
    assert flavor.json()['faultcode'] == 'Server'
    fault(flavor, 501)
    # SCTP is served (nftables, like UDP): no 501 for it, and SCTP 80 may sit
    # beside HTTP 80 (another L4 protocol).
    client.create('listeners', 'listener', dict(body, protocol='SCTP'), lb['id'])


def test_version_discovery_lists_v2_0_to_v2_30_without_auth(service):
    resp = requests.get(service['url'] + '/')
    assert resp.status_code == 200
    versions = resp.json()['versions']
    assert [v['id'] for v in versions] == ['v2.%d' % i for i in range(31)]
    assert [v['status'] for v in versions] == ['SUPPORTED'] * 30 + ['CURRENT']
    for version in versions:
        assert version['links'] == [{'href': service['url'] + '/v2', 'rel': 'self'}]
        assert re.match(r'^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$', version['updated'])
    for path in ('/v2', '/v2.0', '/v2/'):
        assert requests.get(service['url'] + path).json() == 'v2'


def test_path_aliases_and_the_json_suffix(client, lb):
    expected = [lb['id']]
    for path in ('/v2/lbaas/loadbalancers', '/v2.0/lbaas/loadbalancers', '/v2/loadbalancers',
                 '/v2.0/loadbalancers', '/v2/lbaas/loadbalancers.json',
                 '/v2/lbaas/loadbalancers/'):
        resp = client.get(path)
        assert resp.status_code == 200, path
        assert [i['id'] for i in resp.json()['loadbalancers']] == expected, path
    for path in ('/v2/lbaas/loadbalancers/%s.json', '/v2.0/loadbalancers/%s',
                 '/v2/lbaas/loadbalancers/%s/status.json'):
        assert client.get(path % lb['id']).status_code == 200, path
    resp = client.post('/v2.0/listeners.json', {'listener': {
        'loadbalancer_id': lb['id'], 'protocol': 'TCP', 'protocol_port': 22}})
    assert resp.status_code == 201, resp.text


def test_every_answer_carries_a_request_id(service, client):
    answers = [requests.get(service['url'] + '/'), client.get('loadbalancers'),
               client.get('loadbalancers/' + str(uuid.uuid4())),
               raw_post(client, 'loadbalancers', b'{'),
               client.get('loadbalancers', headers={'Accept': 'text/html'})]
    ids = [resp.headers.get('x-openstack-request-id', '') for resp in answers]
    assert all(REQUEST_ID.match(i) for i in ids), ids
    assert len(set(ids)) == len(ids)


@pytest.fixture(scope='module')
def tree(owner, shared_lb):
    made = build_tree(owner, shared_lb['id'], '198.18.10.1', monitor=True)
    listener, pool, member, hm = (made[k] for k in ('listener', 'pool', 'member',
                                                    'healthmonitor'))
    return {'listener': 'listeners/' + listener['id'],
            'member': 'pools/%s/members/%s' % (pool['id'], member['id']),
            'healthmonitor': 'healthmonitors/' + hm['id']}


@pytest.mark.parametrize('key, field, value', [
    ('listener', 'connection_limit', '42'), ('member', 'weight', '2'),
    ('healthmonitor', 'delay', '7')])
def test_integer_fields_take_numeric_strings_as_wsme_does(owner, shared_lb, tree, key,
                                                          field, value):
    body = owner.update(tree[key], key, {field: value}, shared_lb['id'])
    assert body[field] == int(value)
