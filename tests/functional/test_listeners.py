"""Listeners over HTTP: defaults, validation, port uniqueness per L4 protocol,
insert_headers (2.6), TLS options, default pools, PUT and DELETE (1.7)."""
import uuid

import pytest

from lbaas.service import providers
from tests.functional.conftest import fault

LISTENER_KEYS = {
    'id', 'name', 'description', 'provisioning_status', 'operating_status',
    'admin_state_up', 'project_id', 'tenant_id', 'created_at', 'updated_at', 'protocol',
    'protocol_port', 'connection_limit', 'default_pool_id', 'default_tls_container_ref',
    'sni_container_refs', 'client_ca_tls_container_ref', 'client_authentication',
    'client_crl_container_ref', 'insert_headers', 'timeout_client_data',
    'timeout_member_connect', 'timeout_member_data', 'timeout_tcp_inspect',
    'allowed_cidrs', 'tls_ciphers', 'tls_versions', 'alpn_protocols', 'hsts_max_age',
    'hsts_include_subdomains', 'hsts_preload', 'loadbalancers', 'l7policies', 'tags'}
DEFAULTS = {
    'name': '', 'description': '', 'admin_state_up': True, 'connection_limit': -1,
    'default_pool_id': None, 'default_tls_container_ref': None, 'sni_container_refs': [],
    'client_ca_tls_container_ref': None, 'client_authentication': 'NONE',
    'client_crl_container_ref': None, 'insert_headers': {}, 'timeout_client_data': 50000,
    'timeout_member_connect': 5000, 'timeout_member_data': 50000, 'timeout_tcp_inspect': 0,
    'allowed_cidrs': None, 'tls_ciphers': None, 'tls_versions': None, 'alpn_protocols': None,
    'hsts_max_age': None, 'hsts_include_subdomains': False, 'hsts_preload': False,
    'l7policies': [], 'tags': []}
CERT = 'https://barbican.example/v1/containers/' + str(uuid.uuid4())


def listener_body(lb, **fields):
    return {'loadbalancer_id': lb['id'], 'protocol': 'HTTP', 'protocol_port': 80, **fields}


def post(owner, lb, **fields):
    return owner.post('listeners', {'listener': listener_body(lb, **fields)})


@pytest.fixture
def listener(owner, shared_lb):
    """An HTTP listener on port 80, deleted after the test."""
    item = owner.create('listeners', 'listener', listener_body(shared_lb), shared_lb['id'])
    yield item
    owner.remove('listeners/' + item['id'], shared_lb['id'])


def test_create_answers_every_field_with_its_default(owner, shared_lb):
    resp = post(owner, shared_lb)
    assert resp.status_code == 201, resp.text
    listener = resp.json()['listener']
    assert set(listener) == LISTENER_KEYS
    assert {k: listener[k] for k in DEFAULTS} == DEFAULTS
    assert (listener['provisioning_status'], listener['operating_status']) == \
        ('PENDING_CREATE', 'OFFLINE')
    assert listener['loadbalancers'] == [{'id': shared_lb['id']}]
    assert listener['project_id'] == listener['tenant_id'] == owner.project_id
    owner.wait_lb(shared_lb['id'])
    shown = owner.show('listeners/' + listener['id'], 'listener')
    assert shown['provisioning_status'] == 'ACTIVE'
    lb = owner.show('loadbalancers/' + shared_lb['id'], 'loadbalancer')
    assert lb['listeners'] == [{'id': listener['id']}]
    owner.remove('listeners/' + listener['id'], shared_lb['id'])
    fault(owner.get('listeners/' + listener['id']), 404)


def test_terminated_https_gets_tls_defaults_and_needs_a_certificate(owner, shared_lb, cert):
    fault(post(owner, shared_lb, protocol='TERMINATED_HTTPS', protocol_port=443), 400)
    listener = owner.create('listeners', 'listener', listener_body(
        shared_lb, protocol='TERMINATED_HTTPS', protocol_port=443,
        default_tls_container_ref=cert, sni_container_refs=[cert]), shared_lb['id'])
    assert listener['tls_versions'] == ['TLSv1.2', 'TLSv1.3']
    assert listener['alpn_protocols'] == ['h2', 'http/1.1', 'http/1.0']
    assert listener['tls_ciphers'].startswith('TLS_AES_256_GCM_SHA384') or \
        'ECDHE' in listener['tls_ciphers']
    assert (listener['default_tls_container_ref'], listener['sni_container_refs']) == \
        (cert, [cert])
    path = 'listeners/' + listener['id']
    body = owner.update(path, 'listener', {'tls_versions': ['TLSv1.3'], 'hsts_max_age': 10,
                                           'hsts_preload': True,
                                           'insert_headers': {'X-SSL-Client-CN': 'true'}},
                        shared_lb['id'])
    assert (body['tls_versions'], body['hsts_max_age'], body['hsts_preload']) == \
        (['TLSv1.3'], 10, True)
    body = owner.update(path, 'listener', {'tls_versions': None, 'alpn_protocols': None,
                                           'tls_ciphers': None}, shared_lb['id'])
    assert body['tls_versions'] == ['TLSv1.2', 'TLSv1.3']
    assert body['alpn_protocols'] == ['h2', 'http/1.1', 'http/1.0']
    assert body['tls_ciphers'] == listener['tls_ciphers']
    body = owner.update(path, 'listener', {'sni_container_refs': None, 'hsts_max_age': None,
                                           'hsts_preload': None, 'insert_headers': None,
                                           'client_authentication': None}, shared_lb['id'])
    assert (body['sni_container_refs'], body['hsts_max_age'], body['hsts_preload'],
            body['insert_headers'], body['client_authentication']) == \
        ([], None, False, {}, 'NONE')
    owner.remove(path, shared_lb['id'])


@pytest.mark.parametrize('fields', [
    {'protocol': 'FTP'}, {'protocol': None}, {'protocol_port': 0}, {'protocol_port': 65536},
    {'protocol_port': 'http'}, {'connection_limit': -2}, {'timeout_client_data': -1},
    {'timeout_member_connect': 2073600001}, {'timeout_member_data': 'long'},
    {'timeout_tcp_inspect': -1}, {'name': 'x' * 256}, {'description': 'x' * 256},
    {'loadbalancer_id': 'nope'}, {'client_authentication': 'SOMETIMES'},
    {'allowed_cidrs': ['198.18.0.0/33']}, {'allowed_cidrs': ['fd00::/64']},
    {'default_tls_container_ref': CERT},                     # cert refs on HTTP
    {'sni_container_refs': [CERT]},
    {'protocol': 'UDP', 'default_tls_container_ref': CERT},
    {'hsts_max_age': 10},                                    # TERMINATED_HTTPS only
    {'hsts_preload': True},
    {'protocol': 'TERMINATED_HTTPS', 'default_tls_container_ref': CERT,
     'hsts_include_subdomains': True},                       # needs hsts_max_age
    {'protocol': 'TERMINATED_HTTPS', 'default_tls_container_ref': CERT,
     'client_authentication': 'MANDATORY'},                  # needs a CA
    {'protocol': 'TERMINATED_HTTPS', 'default_tls_container_ref': CERT,
     'client_crl_container_ref': CERT},                      # needs a CA
    {'protocol': 'TERMINATED_HTTPS', 'default_tls_container_ref': CERT,
     'tls_versions': []},
    {'protocol': 'TERMINATED_HTTPS', 'default_tls_container_ref': CERT,
     'tls_versions': ['TLSv9']},
    {'protocol': 'TERMINATED_HTTPS', 'default_tls_container_ref': CERT,
     'alpn_protocols': ['spdy']},
    {'protocol': 'TERMINATED_HTTPS', 'default_tls_container_ref': CERT,
     'tls_ciphers': 'ECDHE RSA'},
    {'default_pool_id': str(uuid.uuid4())},
    {'l7policies': [{'action': 'REJECT'}], 'protocol': 'PROMETHEUS'},
    {'operating_status': 'ONLINE'},
])
def test_create_rejects_invalid_input(owner, shared_lb, fields):
    status = 404 if 'default_pool_id' in fields else 400
    fault(post(owner, shared_lb, **fields), status)


def test_unknown_load_balancer_is_404(owner):
    message = fault(owner.post('listeners', {'listener': listener_body(
        {'id': str(uuid.uuid4())})}), 404)
    assert message.startswith('Load Balancer ') and message.endswith(' not found.')


@pytest.mark.parametrize('headers, protocol, ok', [
    ({'X-Forwarded-For': 'true', 'X-Forwarded-Port': 'true', 'X-Forwarded-Proto': 'true',
      'X-Forwarded-IP': 'true', 'X-Client-IP': 'true', 'X-Real-IP': 'true'}, 'HTTP', True),
    ({'X-Forwarded-For': 'true'}, 'TCP', False),
    ({'X-Forwarded-For': 'true'}, 'HTTPS', False),
    ({'X-Forwarded-For': 'true'}, 'UDP', False),
    ({'X-Forwarded-Host': 'true'}, 'HTTP', False),
    ({'X-SSL-Client-Verify': 'true'}, 'HTTP', False),
    ({'X-SSL-Client-Verify': 'true', 'X-SSL-Client-Has-Cert': 'true',
      'X-SSL-Client-DN': 'true', 'X-SSL-Client-CN': 'true', 'X-SSL-Issuer': 'true',
      'X-SSL-Client-SHA1': 'true', 'X-SSL-Client-Not-Before': 'true',
      'X-SSL-Client-Not-After': 'true', 'X-Forwarded-For': 'true'},
     'TERMINATED_HTTPS', True),
    ({'X-Forwarded-For': True}, 'HTTP', False),           # values are strings
])
def test_insert_headers_by_listener_protocol(owner, shared_lb, cert, headers, protocol, ok):
    tls = {'default_tls_container_ref': cert} if protocol == 'TERMINATED_HTTPS' else {}
    resp = post(owner, shared_lb, protocol=protocol, protocol_port=81, insert_headers=headers,
                **tls)
    if not ok:
        fault(resp, 400)
        return
    assert resp.status_code == 201, resp.text
    assert resp.json()['listener']['insert_headers'] == headers
    owner.wait_lb(shared_lb['id'])
    owner.remove('listeners/' + resp.json()['listener']['id'], shared_lb['id'])


@pytest.mark.parametrize('protocol, conflicts', [
    ('TCP', True), ('HTTP', True), ('HTTPS', True), ('TERMINATED_HTTPS', True),
    ('PROMETHEUS', True), ('UDP', False), ('SCTP', False)])
def test_one_listener_per_l4_protocol_and_port(owner, shared_lb, listener, protocol,
                                               conflicts):
    tls = {'default_tls_container_ref': CERT} if protocol == 'TERMINATED_HTTPS' else {}
    resp = post(owner, shared_lb, protocol=protocol, **tls)
    if conflicts:
        assert 'protocol_port 80' in fault(resp, 409)
        return
    assert protocol not in providers.UNSERVED_PROTOCOLS  # the amphora serves them all
    assert resp.status_code == 201, resp.text
    assert resp.json()['listener']['protocol'] == protocol
    owner.wait_lb(shared_lb['id'])
    owner.remove('listeners/' + resp.json()['listener']['id'], shared_lb['id'])


def test_put_answers_200_and_null_resets_to_the_default(owner, shared_lb, listener):
    path = 'listeners/' + listener['id']
    changed = {'name': 'n', 'description': 'd', 'connection_limit': 100,
               'timeout_client_data': 1, 'timeout_member_connect': 2,
               'timeout_member_data': 3, 'timeout_tcp_inspect': 4, 'admin_state_up': False,
               'insert_headers': {'X-Forwarded-For': 'true'}, 'tags': ['t'],
               'allowed_cidrs': ['198.18.0.7/24', '198.18.0.0/24']}
    resp = owner.put(path, {'listener': changed})
    assert resp.status_code == 200, resp.text
    body = resp.json()['listener']
    assert body['provisioning_status'] == 'PENDING_UPDATE'
    assert body['allowed_cidrs'] == ['198.18.0.0/24']             # normalised, deduplicated
    assert {k: body[k] for k in changed if k != 'allowed_cidrs'} == \
        {k: v for k, v in changed.items() if k != 'allowed_cidrs'}
    assert owner.show('loadbalancers/' + shared_lb['id'], 'loadbalancer')[
        'provisioning_status'] in ('PENDING_UPDATE', 'ACTIVE')
    owner.wait_lb(shared_lb['id'])
    assert owner.show(path, 'listener')['provisioning_status'] == 'ACTIVE'
    body = owner.update(path, 'listener', dict.fromkeys(changed), shared_lb['id'])
    assert {k: body[k] for k in changed} == {
        'name': '', 'description': '', 'connection_limit': -1, 'timeout_client_data': 50000,
        'timeout_member_connect': 5000, 'timeout_member_data': 50000,
        'timeout_tcp_inspect': 0, 'admin_state_up': False, 'insert_headers': {},
        'tags': [], 'allowed_cidrs': None}


@pytest.mark.parametrize('fields', [
    {'protocol': 'TCP'}, {'protocol_port': 81}, {'loadbalancer_id': str(uuid.uuid4())},
    {'connection_limit': -5}, {'insert_headers': {'X-SSL-Client-CN': 'true'}},
    {'hsts_max_age': 5}, {'default_tls_container_ref': CERT}, {'unknown': 1},
])
def test_put_rejects_what_cannot_change_or_does_not_fit(owner, listener, fields):
    fault(owner.put('listeners/' + listener['id'], {'listener': fields}), 400)


def test_default_pool_must_suit_the_protocol_and_belong_to_the_lb(owner, shared_lb,
                                                                   listener):
    pools = {}
    for protocol in ('HTTP', 'TCP'):
        pools[protocol] = owner.create('pools', 'pool', {
            'loadbalancer_id': shared_lb['id'], 'protocol': protocol,
            'lb_algorithm': 'ROUND_ROBIN'}, shared_lb['id'])
    path = 'listeners/' + listener['id']
    assert 'invalid while the listener protocol' in fault(
        owner.put(path, {'listener': {'default_pool_id': pools['TCP']['id']}}), 400)
    body = owner.update(path, 'listener', {'default_pool_id': pools['HTTP']['id']},
                        shared_lb['id'])
    assert body['default_pool_id'] == pools['HTTP']['id']
    pool = owner.show('pools/' + pools['HTTP']['id'], 'pool')
    assert pool['listeners'] == [{'id': listener['id']}]
    body = owner.update(path, 'listener', {'default_pool_id': None}, shared_lb['id'])
    assert body['default_pool_id'] is None
    assert owner.show('pools/' + pools['HTTP']['id'], 'pool')['listeners'] == []
    for pool in pools.values():
        owner.remove('pools/' + pool['id'], shared_lb['id'])


def test_default_pool_of_another_lb_is_not_found(owner, shared_lb, listener):
    other = owner.create_lb()
    pool = owner.create('pools', 'pool', {'loadbalancer_id': other['id'], 'protocol': 'HTTP',
                                          'lb_algorithm': 'ROUND_ROBIN'}, other['id'])
    fault(owner.put('listeners/' + listener['id'],
                    {'listener': {'default_pool_id': pool['id']}}), 404)
    assert owner.delete('loadbalancers/%s?cascade=true' % other['id']).status_code == 204


def test_stats_of_a_new_listener_are_zero(owner, listener):
    assert owner.get('listeners/%s/stats' % listener['id']).json() == {'stats': {
        'bytes_in': 0, 'bytes_out': 0, 'active_connections': 0, 'total_connections': 0,
        'request_errors': 0}}
