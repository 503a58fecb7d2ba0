"""Pools over HTTP: defaults, validation, the listener/pool protocol map (2.2),
session persistence, providers (501), default pools, PUT and DELETE (1.7)."""
import uuid

import pytest

from lbaas.service import providers
from tests.functional.conftest import fault

POOL_KEYS = {
    'id', 'name', 'description', 'provisioning_status', 'operating_status',
    'admin_state_up', 'project_id', 'tenant_id', 'created_at', 'updated_at', 'protocol',
    'lb_algorithm', 'session_persistence', 'tls_enabled', 'tls_container_ref',
    'ca_tls_container_ref', 'crl_container_ref', 'tls_ciphers', 'tls_versions',
    'alpn_protocols', 'healthmonitor_id', 'loadbalancers', 'listeners', 'members', 'tags'}
DEFAULTS = {
    'name': '', 'description': '', 'admin_state_up': True, 'session_persistence': None,
    'tls_enabled': False, 'tls_container_ref': None, 'ca_tls_container_ref': None,
    'crl_container_ref': None, 'tls_ciphers': None, 'tls_versions': None,
    'alpn_protocols': None, 'healthmonitor_id': None, 'listeners': [], 'members': [],
    'tags': []}
LISTENER_PROTOCOLS = ('TCP', 'HTTP', 'HTTPS', 'TERMINATED_HTTPS', 'UDP', 'SCTP', 'PROMETHEUS')
POOL_PROTOCOLS = ('TCP', 'HTTP', 'HTTPS', 'PROXY', 'PROXYV2', 'UDP', 'SCTP')
ALLOWED = {  # reference 2.2
    'TCP': {'HTTP', 'HTTPS', 'PROXY', 'PROXYV2', 'TCP'},
    'HTTP': {'HTTP', 'PROXY', 'PROXYV2'},
    'HTTPS': {'HTTPS', 'PROXY', 'PROXYV2', 'TCP'},
    'TERMINATED_HTTPS': {'HTTP', 'PROXY', 'PROXYV2'},
    'UDP': {'UDP'}, 'SCTP': {'SCTP'}, 'PROMETHEUS': set()}
CERT = 'https://barbican.example/v1/containers/' + str(uuid.uuid4())


def pool_body(lb, **fields):
    return {'loadbalancer_id': lb['id'], 'protocol': 'HTTP', 'lb_algorithm': 'ROUND_ROBIN',
            **fields}


def post(owner, lb, **fields):
    return owner.post('pools', {'pool': pool_body(lb, **fields)})


@pytest.fixture
def pool(owner, shared_lb):
    item = owner.create('pools', 'pool', pool_body(shared_lb), shared_lb['id'])
    yield item
    owner.remove('pools/' + item['id'], shared_lb['id'])


@pytest.fixture(scope='module')
def noop_lb(owner):
    """A load balancer on the noop provider, which takes whatever the API accepts."""
    lb = owner.create_lb(name='shared-noop', provider='noop_driver')
    yield lb
    owner.delete('loadbalancers/%s?cascade=true' % lb['id'])


@pytest.fixture(scope='module')
def listeners(owner, shared_lb, cert):
    """One listener of every protocol, by protocol, all on the shared (amphora)
    LB: it serves every protocol, UDP and SCTP included."""
    assert not providers.UNSERVED_PROTOCOLS
    result = {}
    for port, protocol in enumerate(LISTENER_PROTOCOLS, start=1000):
        tls = {'default_tls_container_ref': cert} if protocol == 'TERMINATED_HTTPS' else {}
        result[protocol] = owner.create('listeners', 'listener', {
            'loadbalancer_id': shared_lb['id'], 'protocol': protocol,
            'protocol_port': port, **tls}, shared_lb['id'])
    return result


def test_create_answers_every_field_with_its_default(owner, shared_lb):
    resp = post(owner, shared_lb)
    assert resp.status_code == 201, resp.text
    pool = resp.json()['pool']
    assert set(pool) == POOL_KEYS
    assert {k: pool[k] for k in DEFAULTS} == DEFAULTS
    assert (pool['provisioning_status'], pool['operating_status']) == \
        ('PENDING_CREATE', 'OFFLINE')
    assert pool['loadbalancers'] == [{'id': shared_lb['id']}]
    assert pool['project_id'] == pool['tenant_id'] == owner.project_id
    owner.wait_lb(shared_lb['id'])
    assert owner.show('pools/' + pool['id'], 'pool')['provisioning_status'] == 'ACTIVE'
    assert {'id': pool['id']} in owner.show('loadbalancers/' + shared_lb['id'],
                                            'loadbalancer')['pools']
    owner.remove('pools/' + pool['id'], shared_lb['id'])
    fault(owner.get('pools/' + pool['id']), 404)


def test_tls_enabled_pool_gets_tls_defaults(owner, shared_lb):
    pool = owner.create('pools', 'pool', pool_body(shared_lb, protocol='HTTPS',
                                                   tls_enabled=True), shared_lb['id'])
    assert pool['tls_enabled'] is True
    assert pool['tls_versions'] == ['TLSv1.2', 'TLSv1.3']
    assert pool['alpn_protocols'] == ['h2', 'http/1.1', 'http/1.0']
    assert pool['tls_ciphers']
    body = owner.update('pools/' + pool['id'], 'pool', {'tls_versions': ['TLSv1.3'],
                                                        'alpn_protocols': ['h2']},
                        shared_lb['id'])
    assert (body['tls_versions'], body['alpn_protocols']) == (['TLSv1.3'], ['h2'])
    body = owner.update('pools/' + pool['id'], 'pool', {'tls_versions': None,
                                                        'alpn_protocols': None},
                        shared_lb['id'])
    assert (body['tls_versions'], body['alpn_protocols']) == \
        (pool['tls_versions'], pool['alpn_protocols'])
    body = owner.update('pools/' + pool['id'], 'pool', {'tls_enabled': None},
                        shared_lb['id'])
    assert body['tls_enabled'] is False
    owner.remove('pools/' + pool['id'], shared_lb['id'])


@pytest.mark.parametrize('fields', [
    {'protocol': 'FTP'}, {'protocol': 'TERMINATED_HTTPS'}, {'lb_algorithm': 'RANDOM'},
    {'lb_algorithm': None}, {'protocol': None}, {'loadbalancer_id': None},
    {'loadbalancer_id': 'x'}, {'name': 'x' * 256}, {'tls_enabled': 'sure'},
    {'crl_container_ref': CERT},                                 # needs a CA
    {'tls_versions': []}, {'alpn_protocols': ['h3']}, {'healthmonitor_id': str(uuid.uuid4())},
    {'session_persistence': {'type': 'APP_COOKIE'}},            # needs cookie_name
    {'session_persistence': {'type': 'HTTP_COOKIE', 'cookie_name': 'c'}},
    {'session_persistence': {'type': 'APP_COOKIE', 'cookie_name': 'a b'}},
    {'session_persistence': {'type': 'APP_COOKIE', 'cookie_name': 'a;b'}},
    {'session_persistence': {'type': 'SOURCE_IP', 'persistence_timeout': 10}},
    {'session_persistence': {'cookie_name': 'c'}},               # type is mandatory
    {'session_persistence': {'type': 'STICKY'}},
    {'protocol': 'UDP', 'session_persistence': {'type': 'HTTP_COOKIE'}},
    {'protocol': 'SCTP', 'session_persistence': {'type': 'APP_COOKIE', 'cookie_name': 'c'}},
])
def test_create_rejects_invalid_input(owner, shared_lb, fields):
    fault(post(owner, shared_lb, **fields), 400)


def test_unknown_parent_is_404(owner, shared_lb):
    fault(owner.post('pools', {'pool': pool_body({'id': str(uuid.uuid4())})}), 404)
    fault(post(owner, shared_lb, loadbalancer_id=None, listener_id=str(uuid.uuid4())), 404)


@pytest.mark.parametrize('sp', [
    {'type': 'SOURCE_IP'}, {'type': 'HTTP_COOKIE'},
    {'type': 'APP_COOKIE', 'cookie_name': 'JSESSIONID'}])
def test_session_persistence_is_echoed_and_put_without_type_keeps_it(owner, shared_lb, sp):
    pool = owner.create('pools', 'pool', pool_body(shared_lb, session_persistence=sp),
                        shared_lb['id'])
    expected = {'type': sp['type'], 'cookie_name': sp.get('cookie_name'),
                'persistence_timeout': None, 'persistence_granularity': None}
    assert pool['session_persistence'] == expected
    path = 'pools/' + pool['id']
    if sp['type'] == 'APP_COOKIE':
        body = owner.update(path, 'pool', {'session_persistence': {'cookie_name': 'other'}},
                            shared_lb['id'])
        assert body['session_persistence']['type'] == 'APP_COOKIE'
        assert body['session_persistence']['cookie_name'] == 'other'
    else:
        fault(owner.put(path, {'pool': {'session_persistence': {'cookie_name': 'c'}}}), 400)
    body = owner.update(path, 'pool', {'session_persistence': None}, shared_lb['id'])
    assert body['session_persistence'] is None
    owner.remove(path, shared_lb['id'])


def test_udp_pool_takes_source_ip_persistence_with_its_knobs(owner, noop_lb):
    sp = {'type': 'SOURCE_IP', 'persistence_timeout': 60,
          'persistence_granularity': '255.255.255.0'}
    pool = owner.create('pools', 'pool', pool_body(noop_lb, protocol='UDP',
                                                   session_persistence=sp), noop_lb['id'])
    assert pool['session_persistence'] == dict(sp, cookie_name=None)
    owner.remove('pools/' + pool['id'], noop_lb['id'])


def test_sctp_pool_is_served_by_the_amphora(owner, shared_lb, listeners):
    # Octavia's amphora answers 201 and builds it (keepalived-LVS); this one
    # serves it with nftables, like UDP, and the LB goes back to ACTIVE.
    sp = {'type': 'SOURCE_IP', 'persistence_timeout': 60,
          'persistence_granularity': '255.255.255.0'}
    pool = owner.create('pools', 'pool', {
        'listener_id': listeners['SCTP']['id'], 'protocol': 'SCTP',
        'lb_algorithm': 'SOURCE_IP', 'session_persistence': sp}, shared_lb['id'])
    assert (pool['protocol'], pool['session_persistence']) == ('SCTP', dict(sp, cookie_name=None))
    owner.wait_lb(shared_lb['id'])
    assert owner.show('pools/' + pool['id'], 'pool')['provisioning_status'] == 'ACTIVE'
    owner.remove('pools/' + pool['id'], shared_lb['id'])


@pytest.mark.parametrize('listener_protocol', LISTENER_PROTOCOLS)
@pytest.mark.parametrize('pool_protocol', POOL_PROTOCOLS)
def test_listener_id_follows_the_protocol_map(owner, shared_lb, listeners, listener_protocol,
                                              pool_protocol):
    listener = listeners[listener_protocol]
    lb_id = listener['loadbalancers'][0]['id']
    resp = owner.post('pools', {'pool': {'listener_id': listener['id'],
                                         'protocol': pool_protocol,
                                         'lb_algorithm': 'ROUND_ROBIN'}})
    if pool_protocol not in ALLOWED[listener_protocol]:
        fault(resp, 400)
        return
    assert resp.status_code == 201, resp.text
    pool = resp.json()['pool']
    assert pool['listeners'] == [{'id': listener['id']}]
    assert pool['loadbalancers'] == [{'id': lb_id}]
    shown = owner.show('listeners/' + listener['id'], 'listener')
    assert shown['default_pool_id'] == pool['id']
    assert shown['provisioning_status'] in ('PENDING_UPDATE', 'ACTIVE')
    owner.wait_lb(lb_id)
    again = owner.post('pools', {'pool': {'listener_id': listener['id'],
                                          'protocol': pool_protocol,
                                          'lb_algorithm': 'ROUND_ROBIN'}})
    fault(again, 409)                                     # the listener has a default pool
    owner.remove('pools/' + pool['id'], lb_id)
    assert owner.show('listeners/' + listener['id'], 'listener')['default_pool_id'] is None


def test_listener_of_another_lb_does_not_match(owner, shared_lb, listeners):
    other = owner.create_lb()
    resp = post(owner, other, listener_id=listeners['HTTP']['id'])
    fault(resp, 400)
    assert owner.delete('loadbalancers/' + other['id']).status_code == 204


def test_source_ip_port_is_served_on_amphora_unlike_octavia(owner, shared_lb):
    # Octavia's amphora answers 501; this one hashes the source address and port.
    pool = owner.create('pools', 'pool', pool_body(shared_lb, lb_algorithm='SOURCE_IP_PORT'),
                        shared_lb['id'])
    assert pool['lb_algorithm'] == 'SOURCE_IP_PORT'
    fault(owner.put('pools/' + pool['id'],
                    {'pool': {'lb_algorithm': 'ROUND_ROBIN', 'protocol': 'TCP'}}), 400)
    owner.remove('pools/' + pool['id'], shared_lb['id'])


def test_put_answers_200_and_null_resets(owner, shared_lb, pool):
    path = 'pools/' + pool['id']
    resp = owner.put(path, {'pool': {'name': 'p', 'description': 'd', 'tags': ['x'],
                                     'lb_algorithm': 'LEAST_CONNECTIONS',
                                     'admin_state_up': False}})
    assert resp.status_code == 200, resp.text
    body = resp.json()['pool']
    assert body['provisioning_status'] == 'PENDING_UPDATE'
    assert (body['name'], body['description'], body['tags'], body['lb_algorithm'],
            body['admin_state_up']) == ('p', 'd', ['x'], 'LEAST_CONNECTIONS', False)
    owner.wait_lb(shared_lb['id'])
    body = owner.update(path, 'pool', {'name': None, 'description': None, 'tags': None},
                        shared_lb['id'])
    assert (body['name'], body['description'], body['tags']) == ('', '', [])
    assert owner.show(path, 'pool')['provisioning_status'] == 'ACTIVE'


@pytest.mark.parametrize('fields', [
    {'lb_algorithm': None}, {'protocol': 'TCP'},
    {'loadbalancer_id': str(uuid.uuid4())}, {'listener_id': str(uuid.uuid4())},
    {'crl_container_ref': CERT}, {'session_persistence': {'type': 'APP_COOKIE'}},
    {'members': []},
])
def test_put_rejects_what_cannot_change_or_does_not_fit(owner, pool, fields):
    fault(owner.put('pools/' + pool['id'], {'pool': fields}), 400)


def test_delete_of_a_pool_used_by_an_l7_policy_is_409(owner, shared_lb, listeners, pool):
    policy = owner.create('l7policies', 'l7policy', {
        'listener_id': listeners['HTTP']['id'], 'action': 'REDIRECT_TO_POOL',
        'redirect_pool_id': pool['id']}, shared_lb['id'])
    assert pool['id'] in fault(owner.delete('pools/' + pool['id']), 409)
    owner.remove('l7policies/' + policy['id'], shared_lb['id'])


def test_delete_of_a_default_pool_detaches_it_and_its_children_go(owner, shared_lb,
                                                                   listeners):
    listener = listeners['TCP']
    pool = owner.create('pools', 'pool', {
        'listener_id': listener['id'], 'protocol': 'TCP', 'lb_algorithm': 'ROUND_ROBIN',
        'healthmonitor': None}, shared_lb['id'])
    member = owner.create('pools/%s/members' % pool['id'], 'member',
                          {'address': '198.18.3.1', 'protocol_port': 80}, shared_lb['id'])
    hm = owner.create('healthmonitors', 'healthmonitor', {
        'pool_id': pool['id'], 'type': 'TCP', 'delay': 1, 'timeout': 1, 'max_retries': 1},
        shared_lb['id'])
    owner.remove('pools/' + pool['id'], shared_lb['id'])
    assert owner.show('listeners/' + listener['id'], 'listener')['default_pool_id'] is None
    fault(owner.get('pools/%s/members/%s' % (pool['id'], member['id'])), 404)
    fault(owner.get('healthmonitors/' + hm['id']), 404)
    fault(owner.delete('pools/' + pool['id']), 404)
