"""L7 policies and rules over HTTP: defaults, redirect sanitising, positions,
rule validation (2.5), 50 rules per policy, providers (reference 1.7)."""
import uuid

import pytest

from tests.functional.conftest import fault

POLICY_KEYS = {
    'id', 'name', 'description', 'provisioning_status', 'operating_status',
    'admin_state_up', 'project_id', 'tenant_id', 'created_at', 'updated_at', 'listener_id',
    'action', 'redirect_pool_id', 'redirect_url', 'redirect_prefix', 'redirect_http_code',
    'position', 'rules', 'tags'}
RULE_KEYS = {
    'id', 'provisioning_status', 'operating_status', 'admin_state_up', 'project_id',
    'tenant_id', 'created_at', 'updated_at', 'type', 'compare_type', 'key', 'value',
    'invert', 'tags'}


@pytest.fixture(scope='module')
def objects(owner, shared_lb):
    """An HTTP and a TCP listener, and an HTTP and a TCP pool, on the shared LB."""
    result = {}
    for protocol, port in (('HTTP', 80), ('TCP', 81)):
        result[protocol + '_listener'] = owner.create('listeners', 'listener', {
            'loadbalancer_id': shared_lb['id'], 'protocol': protocol,
            'protocol_port': port}, shared_lb['id'])
        result[protocol + '_pool'] = owner.create('pools', 'pool', {
            'loadbalancer_id': shared_lb['id'], 'protocol': protocol,
            'lb_algorithm': 'ROUND_ROBIN'}, shared_lb['id'])
    return result


def post(owner, listener, **fields):
    return owner.post('l7policies', {'l7policy': {'listener_id': listener['id'],
                                                  'action': 'REJECT', **fields}})


@pytest.fixture
def make_policy(owner, shared_lb, objects):
    """Create policies on the HTTP listener; all are deleted after the test."""
    made = []

    def make(**fields):
        body = {'listener_id': objects['HTTP_listener']['id'], 'action': 'REJECT', **fields}
        made.append(owner.create('l7policies', 'l7policy', body, shared_lb['id']))
        return made[-1]
    yield make
    owner.wait_lb(shared_lb['id'])
    for policy in made:
        if owner.get('l7policies/' + policy['id']).status_code == 200:
            owner.remove('l7policies/' + policy['id'], shared_lb['id'])


def positions(owner, listener):
    shown = owner.show('listeners/' + listener['id'], 'listener')
    result = [owner.show('l7policies/' + p['id'], 'l7policy') for p in shown['l7policies']]
    return [(p['name'], p['position']) for p in sorted(result, key=lambda p: p['position'])]


def test_policy_answers_every_field_with_its_default(owner, shared_lb, objects):
    resp = post(owner, objects['HTTP_listener'])
    assert resp.status_code == 201, resp.text
    policy = resp.json()['l7policy']
    assert set(policy) == POLICY_KEYS
    assert {k: policy[k] for k in ('name', 'description', 'admin_state_up', 'position',
                                   'redirect_pool_id', 'redirect_url', 'redirect_prefix',
                                   'redirect_http_code', 'rules', 'tags')} == {
        'name': '', 'description': '', 'admin_state_up': True, 'position': 1,
        'redirect_pool_id': None, 'redirect_url': None, 'redirect_prefix': None,
        'redirect_http_code': None, 'rules': [], 'tags': []}
    assert (policy['provisioning_status'], policy['operating_status']) == \
        ('PENDING_CREATE', 'OFFLINE')
    assert policy['project_id'] == policy['tenant_id'] == owner.project_id
    listener = owner.show('listeners/' + objects['HTTP_listener']['id'], 'listener')
    assert listener['provisioning_status'] in ('PENDING_UPDATE', 'ACTIVE')
    assert listener['l7policies'] == [{'id': policy['id']}]
    owner.wait_lb(shared_lb['id'])
    path = 'l7policies/' + policy['id']
    assert owner.show(path, 'l7policy')['provisioning_status'] == 'ACTIVE'
    owner.remove(path, shared_lb['id'])
    fault(owner.get(path), 404)


@pytest.mark.parametrize('fields, expected', [
    ({'action': 'REDIRECT_TO_URL', 'redirect_url': 'https://example.com/x'},
     {'redirect_url': 'https://example.com/x', 'redirect_http_code': 302}),
    ({'action': 'REDIRECT_PREFIX', 'redirect_prefix': 'http://example.com',
      'redirect_http_code': 308},
     {'redirect_prefix': 'http://example.com', 'redirect_http_code': 308}),
    ({'action': 'REJECT', 'redirect_url': 'https://example.com'},   # REJECT clears the URL
     {'action': 'REJECT', 'redirect_url': None}),
    ({'action': 'REDIRECT_TO_URL', 'redirect_url': 'http://a.example',
      'redirect_http_code': 301}, {'redirect_http_code': 301}),
])
def test_redirect_fields_follow_the_action(make_policy, fields, expected):
    policy = make_policy(**fields)
    assert {k: policy[k] for k in expected} == expected


def test_redirect_to_pool_needs_a_compatible_pool_of_the_same_lb(owner, objects,
                                                                make_policy):
    listener = objects['HTTP_listener']
    policy = make_policy(action='REDIRECT_TO_POOL', redirect_pool_id=objects['HTTP_pool']['id'])
    assert (policy['redirect_pool_id'], policy['redirect_http_code']) == \
        (objects['HTTP_pool']['id'], None)
    fault(post(owner, listener, action='REDIRECT_TO_POOL',
               redirect_pool_id=objects['TCP_pool']['id']), 400)
    fault(post(owner, listener, action='REDIRECT_TO_POOL',
               redirect_pool_id=str(uuid.uuid4())), 404)


@pytest.mark.parametrize('fields', [
    {'action': 'DROP'}, {'action': None}, {'action': 'REDIRECT_TO_URL'},
    {'action': 'REDIRECT_TO_POOL'}, {'action': 'REDIRECT_PREFIX'},
    {'action': 'REDIRECT_TO_URL', 'redirect_url': 'ftp://example.com'},
    {'action': 'REDIRECT_TO_URL', 'redirect_url': 'example.com/path'},
    {'action': 'REDIRECT_TO_URL', 'redirect_url': 'http://a.example',
     'redirect_http_code': 304},
    {'action': 'REDIRECT_PREFIX', 'redirect_prefix': 'http://a.example',
     'redirect_pool_id': str(uuid.uuid4())},                  # a pool and a prefix
    {'position': 0}, {'position': 2147483648}, {'name': 'x' * 256},
    {'listener_id': 'nope'}, {'rules': [{'type': 'PATH', 'compare_type': 'EQUAL_TO'}]},
])
def test_create_rejects_invalid_input(owner, objects, fields):
    fault(post(owner, objects['HTTP_listener'], **fields), 400)


def test_l7_on_a_tcp_listener_is_501_with_amphora_but_fine_with_noop(owner, objects):
    fault(post(owner, objects['TCP_listener']), 501)
    noop = owner.create_lb(provider='noop_driver')
    listener = owner.create('listeners', 'listener', {
        'loadbalancer_id': noop['id'], 'protocol': 'TCP', 'protocol_port': 80}, noop['id'])
    resp = post(owner, listener)
    assert resp.status_code == 201, resp.text
    owner.wait_lb(noop['id'])
    prometheus = owner.create('listeners', 'listener', {
        'loadbalancer_id': noop['id'], 'protocol': 'PROMETHEUS', 'protocol_port': 9100},
        noop['id'])
    fault(post(owner, prometheus), 400)                       # no children on PROMETHEUS
    assert owner.delete('loadbalancers/%s?cascade=true' % noop['id']).status_code == 204


def test_positions_insert_shift_move_and_compact(owner, shared_lb, objects, make_policy):
    listener = objects['HTTP_listener']
    a, _b, c = (make_policy(name=n) for n in 'abc')
    assert positions(owner, listener) == [('a', 1), ('b', 2), ('c', 3)]
    make_policy(name='first', position=1)
    assert positions(owner, listener) == [('first', 1), ('a', 2), ('b', 3), ('c', 4)]
    make_policy(name='end', position=99)
    assert positions(owner, listener)[-1] == ('end', 5)
    moved = owner.update('l7policies/' + c['id'], 'l7policy', {'position': 2},
                         shared_lb['id'])
    assert moved['position'] == 2
    assert [n for n, _ in positions(owner, listener)] == ['first', 'c', 'a', 'b', 'end']
    owner.remove('l7policies/' + a['id'], shared_lb['id'])
    assert positions(owner, listener) == [('first', 1), ('c', 2), ('b', 3), ('end', 4)]
    owner.update('l7policies/' + c['id'], 'l7policy', {'position': None}, shared_lb['id'])
    assert positions(owner, listener)[-1] == ('c', 4)


def test_policy_put_answers_200_and_sanitises_redirects(owner, shared_lb, objects,
                                                        make_policy):
    policy = make_policy(name='p', description='d', tags=['t'])
    path = 'l7policies/' + policy['id']
    resp = owner.put(path, {'l7policy': {'redirect_url': 'http://b.example'}})
    assert resp.status_code == 200, resp.text
    body = resp.json()['l7policy']
    assert (body['action'], body['redirect_url'], body['redirect_http_code'],
            body['provisioning_status']) == \
        ('REDIRECT_TO_URL', 'http://b.example', 302, 'PENDING_UPDATE')
    owner.wait_lb(shared_lb['id'])
    body = owner.update(path, 'l7policy', {'redirect_pool_id': objects['HTTP_pool']['id']},
                        shared_lb['id'])
    assert (body['action'], body['redirect_url'], body['redirect_pool_id']) == \
        ('REDIRECT_TO_POOL', None, objects['HTTP_pool']['id'])
    body = owner.update(path, 'l7policy', {'action': 'REJECT', 'name': None,
                                           'description': None, 'tags': None},
                        shared_lb['id'])
    assert (body['action'], body['redirect_pool_id'], body['name'], body['description'],
            body['tags']) == ('REJECT', None, '', '', [])
    for fields in ({'action': 'REDIRECT_TO_URL'}, {'listener_id': str(uuid.uuid4())},
                   {'redirect_url': 'http://a.example', 'redirect_pool_id': str(uuid.uuid4())},
                   {'redirect_pool_id': objects['TCP_pool']['id']}, {'position': 0}):
        fault(owner.put(path, {'l7policy': fields}), 400)


def rule_body(**fields):
    return {'type': 'PATH', 'compare_type': 'STARTS_WITH', 'value': '/api', **fields}


def test_rule_answers_every_field_with_its_default(owner, shared_lb, make_policy):
    policy = make_policy()
    rules = 'l7policies/%s/rules' % policy['id']
    resp = owner.post(rules, {'rule': rule_body()})
    assert resp.status_code == 201, resp.text
    rule = resp.json()['rule']
    assert set(rule) == RULE_KEYS
    assert (rule['key'], rule['invert'], rule['admin_state_up'], rule['tags']) == \
        (None, False, True, [])
    assert (rule['provisioning_status'], rule['operating_status']) == \
        ('PENDING_CREATE', 'OFFLINE')
    assert owner.show('l7policies/' + policy['id'], 'l7policy')['provisioning_status'] in (
        'PENDING_UPDATE', 'ACTIVE')
    owner.wait_lb(shared_lb['id'])
    listing = owner.get(rules).json()
    assert [r['id'] for r in listing['rules']] == [rule['id']] and 'rules_links' in listing
    assert owner.show('l7policies/' + policy['id'], 'l7policy')['rules'] == \
        [{'id': rule['id']}]
    path = '%s/%s' % (rules, rule['id'])
    body = owner.update(path, 'rule', {'invert': True, 'value': '/v2'}, shared_lb['id'])
    assert (body['invert'], body['value']) == (True, '/v2')
    body = owner.update(path, 'rule', {'invert': None, 'type': 'HEADER', 'key': 'X-Env'},
                        shared_lb['id'])
    assert (body['invert'], body['type'], body['key']) == (False, 'HEADER', 'X-Env')
    for fields in ({'type': 'COOKIE', 'key': None}, {'value': None}, {'type': None},
                   {'compare_type': 'LIKE'}, {'type': 'SSL_CONN_HAS_CERT'}):
        fault(owner.put(path, {'rule': fields}), 400)
    fault(owner.get('l7policies/%s/rules/%s' % (uuid.uuid4(), rule['id'])), 404)
    owner.remove(path, shared_lb['id'])
    fault(owner.get(path), 404)


@pytest.mark.parametrize('fields, ok', [
    ({'type': 'HOST_NAME', 'compare_type': 'ENDS_WITH', 'value': '.example.com'}, True),
    ({'type': 'HOST_NAME', 'compare_type': 'REGEX', 'value': '^(a|b$'}, False),
    ({'type': 'PATH', 'compare_type': 'EQUAL_TO', 'value': '/a b'}, False),
    ({'type': 'PATH', 'compare_type': 'CONTAINS', 'value': '"/a b"'}, True),
    ({'type': 'FILE_TYPE', 'compare_type': 'EQUAL_TO', 'value': 'jpg'}, True),
    ({'type': 'FILE_TYPE', 'compare_type': 'STARTS_WITH', 'value': 'jpg'}, False),
    ({'type': 'HEADER', 'compare_type': 'EQUAL_TO', 'key': 'X-Env', 'value': 'prod'}, True),
    ({'type': 'HEADER', 'compare_type': 'EQUAL_TO', 'value': 'prod'}, False),
    ({'type': 'HEADER', 'compare_type': 'EQUAL_TO', 'key': 'X Env', 'value': 'p'}, False),
    ({'type': 'COOKIE', 'compare_type': 'REGEX', 'key': 'session', 'value': '^a+$'}, True),
    ({'type': 'COOKIE', 'compare_type': 'EQUAL_TO', 'key': 'session', 'value': 'a;b'},
     False),
    ({'type': 'SSL_CONN_HAS_CERT', 'compare_type': 'EQUAL_TO', 'value': 'True'}, True),
    ({'type': 'SSL_CONN_HAS_CERT', 'compare_type': 'EQUAL_TO', 'value': 'yes'}, False),
    ({'type': 'SSL_CONN_HAS_CERT', 'compare_type': 'EQUAL_TO', 'key': 'k',
      'value': 'true'}, False),
    ({'type': 'SSL_VERIFY_RESULT', 'compare_type': 'EQUAL_TO', 'value': '0'}, True),
    ({'type': 'SSL_VERIFY_RESULT', 'compare_type': 'EQUAL_TO', 'value': '-1'}, False),
    ({'type': 'SSL_VERIFY_RESULT', 'compare_type': 'REGEX', 'value': '1'}, False),
    ({'type': 'SSL_DN_FIELD', 'compare_type': 'EQUAL_TO', 'key': 'CN', 'value': 'x'}, True),
    ({'type': 'SSL_DN_FIELD', 'compare_type': 'EQUAL_TO', 'value': 'x'}, False),
    ({'type': 'SSL_DN_FIELD', 'compare_type': 'EQUAL_TO', 'key': '1CN', 'value': 'x'},
     False),
    ({'type': 'PATH', 'compare_type': 'EQUAL_TO', 'value': ''}, False),
    ({'type': 'PATH', 'compare_type': 'EQUAL_TO', 'value': '/a\r\nb'}, False),
    ({'type': 'PATH', 'compare_type': 'EQUAL_TO', 'value': 'x' * 256}, False),
    ({'type': 'METHOD', 'compare_type': 'EQUAL_TO', 'value': 'GET'}, False),
])
def test_rule_validation_by_type(owner, make_policy, fields, ok):
    policy = make_policy()
    resp = owner.post('l7policies/%s/rules' % policy['id'], {'rule': fields})
    if ok:
        assert resp.status_code == 201, resp.text
        assert resp.json()['rule']['type'] == fields['type']
    else:
        fault(resp, 400)


def test_at_most_50_rules_per_policy(owner, shared_lb, make_policy):
    policy = make_policy(rules=[rule_body(value='/r%d' % i) for i in range(50)])
    assert len(policy['rules']) == 50
    fault(owner.post('l7policies/%s/rules' % policy['id'], {'rule': rule_body()}), 409)
    fault(post(owner, {'id': policy['listener_id']},
               rules=[rule_body(value='/r%d' % i) for i in range(51)]), 409)
    owner.remove('l7policies/' + policy['id'], shared_lb['id'])
