"""Health monitors over HTTP: defaults, validation, HM type by pool protocol
(2.4), one monitor per pool, PUT and DELETE (reference 1.7 "Health monitor")."""
import uuid

import pytest

from lbaas.service import providers
from tests.functional.conftest import fault

HM_KEYS = {
    'id', 'name', 'provisioning_status', 'operating_status', 'admin_state_up',
    'project_id', 'tenant_id', 'created_at', 'updated_at', 'type', 'delay', 'timeout',
    'max_retries', 'max_retries_down', 'http_method', 'url_path', 'expected_codes',
    'http_version', 'domain_name', 'pools', 'tags'}
POOL_PROTOCOLS = ('TCP', 'HTTP', 'HTTPS', 'PROXY', 'PROXYV2', 'UDP', 'SCTP')
HM_TYPES = ('HTTP', 'HTTPS', 'PING', 'TCP', 'TLS-HELLO', 'UDP-CONNECT', 'SCTP')
ALLOWED = {protocol: ({'UDP-CONNECT', 'SCTP', 'TCP', 'HTTP'}
                      if protocol in ('UDP', 'SCTP')
                      else {'HTTP', 'HTTPS', 'PING', 'TCP', 'TLS-HELLO'})
           for protocol in POOL_PROTOCOLS}


@pytest.fixture(scope='module')
def pools(owner, shared_lb):
    """One pool of every protocol, by protocol, each with its `lb_id`, all on
    the shared (amphora) LB: it serves every protocol, UDP and SCTP included."""
    assert not providers.UNSERVED_PROTOCOLS
    lb_id = shared_lb['id']
    return {protocol: dict(owner.create('pools', 'pool', {
        'loadbalancer_id': lb_id, 'protocol': protocol,
        'lb_algorithm': 'ROUND_ROBIN', 'name': protocol}, lb_id), lb_id=lb_id)
        for protocol in POOL_PROTOCOLS}


def hm_body(pool, **fields):
    return {'pool_id': pool['id'], 'type': 'HTTP', 'delay': 5, 'timeout': 3,
            'max_retries': 2, **fields}


def post(owner, pool, **fields):
    return owner.post('healthmonitors', {'healthmonitor': hm_body(pool, **fields)})


@pytest.fixture
def monitor(owner, shared_lb, pools):
    """An HTTP monitor on the HTTP pool, deleted after the test."""
    item = owner.create('healthmonitors', 'healthmonitor', hm_body(pools['HTTP']),
                        shared_lb['id'])
    yield item
    owner.remove('healthmonitors/' + item['id'], shared_lb['id'])


def test_http_monitor_answers_every_field_with_its_default(owner, shared_lb, pools):
    resp = post(owner, pools['HTTP'])
    assert resp.status_code == 201, resp.text
    hm = resp.json()['healthmonitor']
    assert set(hm) == HM_KEYS
    assert {k: hm[k] for k in ('name', 'admin_state_up', 'max_retries_down', 'http_method',
                               'url_path', 'expected_codes', 'http_version', 'domain_name',
                               'tags', 'delay', 'timeout', 'max_retries')} == {
        'name': '', 'admin_state_up': True, 'max_retries_down': 3, 'http_method': 'GET',
        'url_path': '/', 'expected_codes': '200', 'http_version': None, 'domain_name': None,
        'tags': [], 'delay': 5, 'timeout': 3, 'max_retries': 2}
    assert (hm['provisioning_status'], hm['operating_status']) == ('PENDING_CREATE', 'OFFLINE')
    assert hm['pools'] == [{'id': pools['HTTP']['id']}]
    assert hm['project_id'] == hm['tenant_id'] == owner.project_id
    assert owner.show('pools/' + pools['HTTP']['id'], 'pool')['provisioning_status'] in (
        'PENDING_UPDATE', 'ACTIVE')
    owner.wait_lb(shared_lb['id'])
    path = 'healthmonitors/' + hm['id']
    assert owner.show(path, 'healthmonitor')['provisioning_status'] == 'ACTIVE'
    assert owner.show('pools/' + pools['HTTP']['id'], 'pool')['healthmonitor_id'] == hm['id']
    owner.remove(path, shared_lb['id'])
    fault(owner.get(path), 404)
    assert owner.show('pools/' + pools['HTTP']['id'], 'pool')['healthmonitor_id'] is None


def test_tcp_monitor_has_no_http_fields(owner, shared_lb, pools):
    hm = owner.create('healthmonitors', 'healthmonitor', hm_body(pools['TCP'], type='TCP'),
                      shared_lb['id'])
    assert (hm['http_method'], hm['url_path'], hm['expected_codes']) == (None, None, None)
    path = 'healthmonitors/' + hm['id']
    for field, value in (('http_method', 'GET'), ('url_path', '/'), ('expected_codes', '200')):
        fault(owner.put(path, {'healthmonitor': {field: value}}), 400)
    owner.remove(path, shared_lb['id'])


@pytest.mark.parametrize('fields', [
    {'type': 'ICMP'}, {'type': None}, {'delay': -1}, {'delay': None}, {'delay': 'soon'},
    {'timeout': -1}, {'max_retries': 0}, {'max_retries': 11}, {'max_retries_down': 0},
    {'max_retries_down': 11}, {'http_method': 'FETCH'}, {'url_path': 'health'},
    {'url_path': 'http://host/health'}, {'url_path': '/a b'}, {'expected_codes': 'abc'},
    {'expected_codes': '200-'}, {'http_version': 2.0}, {'domain_name': 'example.com'},
    {'domain_name': 'example.com', 'http_version': 1.0},
    {'domain_name': '-bad-.example', 'http_version': 1.1}, {'name': 'x' * 256},
    {'pool_id': 'not-a-uuid'}, {'type': 'TCP', 'http_method': 'GET'},
    {'type': 'PING', 'url_path': '/'}, {'type': 'TLS-HELLO', 'expected_codes': '200'},
])
def test_create_rejects_invalid_input(owner, pools, fields):
    fault(post(owner, pools['HTTP'], **fields), 400)


def test_unknown_pool_is_404(owner):
    fault(post(owner, {'id': str(uuid.uuid4())}), 404)


@pytest.mark.parametrize('pool_protocol', POOL_PROTOCOLS)
@pytest.mark.parametrize('hm_type', HM_TYPES)
def test_monitor_type_follows_the_pool_protocol(owner, pools, pool_protocol,
                                                hm_type):
    resp = post(owner, pools[pool_protocol], type=hm_type,
                **({'http_method': 'HEAD'} if hm_type in ('HTTP', 'HTTPS') else {}))
    if hm_type not in ALLOWED[pool_protocol]:
        fault(resp, 400)
        return
    assert resp.status_code == 201, resp.text
    lb_id = pools[pool_protocol]['lb_id']
    owner.wait_lb(lb_id)
    owner.remove('healthmonitors/' + resp.json()['healthmonitor']['id'], lb_id)


def test_sctp_monitor_on_an_sctp_pool_is_served_by_the_amphora(owner, shared_lb, pools):
    hm = owner.create('healthmonitors', 'healthmonitor',
                      hm_body(pools['SCTP'], type='SCTP', delay=3, timeout=1), shared_lb['id'])
    assert (hm['type'], hm['http_method'], hm['url_path'], hm['expected_codes']) == \
        ('SCTP', None, None, None)
    owner.wait_lb(shared_lb['id'])
    shown = owner.show('healthmonitors/' + hm['id'], 'healthmonitor')
    assert shown['provisioning_status'] == 'ACTIVE'
    owner.remove('healthmonitors/' + hm['id'], shared_lb['id'])


def test_udp_connect_needs_the_minimum_delay(owner, pools):
    assert 'UDP-CONNECT' in fault(post(owner, pools['UDP'], type='UDP-CONNECT', delay=2), 400)


def test_one_monitor_per_pool(owner, pools, monitor):
    fault(post(owner, pools['HTTP']), 409)


def test_http_options_and_domain_name_are_echoed(owner, shared_lb, pools):
    hm = owner.create('healthmonitors', 'healthmonitor', hm_body(
        pools['HTTPS'], type='HTTPS', http_method='POST', url_path='/health?full=1',
        expected_codes='200-204', http_version=1.1, domain_name='www.example.com',
        max_retries_down=7, name='hm', tags=['x'], admin_state_up=False), shared_lb['id'])
    assert {k: hm[k] for k in ('http_method', 'url_path', 'expected_codes', 'http_version',
                               'domain_name', 'max_retries_down', 'name', 'tags',
                               'admin_state_up')} == {
        'http_method': 'POST', 'url_path': '/health?full=1', 'expected_codes': '200-204',
        'http_version': 1.1, 'domain_name': 'www.example.com', 'max_retries_down': 7,
        'name': 'hm', 'tags': ['x'], 'admin_state_up': False}
    owner.remove('healthmonitors/' + hm['id'], shared_lb['id'])


def test_put_answers_200_and_null_resets(owner, shared_lb, monitor):
    path = 'healthmonitors/' + monitor['id']
    changed = {'name': 'n', 'delay': 9, 'timeout': 8, 'max_retries': 7,
               'max_retries_down': 6, 'http_method': 'HEAD', 'url_path': '/ok',
               'expected_codes': '200,201', 'admin_state_up': False, 'tags': ['t']}
    resp = owner.put(path, {'healthmonitor': changed})
    assert resp.status_code == 200, resp.text
    body = resp.json()['healthmonitor']
    assert body['provisioning_status'] == 'PENDING_UPDATE'
    assert {k: body[k] for k in changed} == changed
    owner.wait_lb(shared_lb['id'])
    resets = {k: None for k in ('name', 'max_retries_down', 'http_method', 'url_path',
                                'expected_codes', 'tags')}
    body = owner.update(path, 'healthmonitor', resets, shared_lb['id'])
    assert {k: body[k] for k in resets} == {
        'name': '', 'max_retries_down': 3, 'http_method': 'GET', 'url_path': '/',
        'expected_codes': '200', 'tags': []}
    assert owner.show(path, 'healthmonitor')['provisioning_status'] == 'ACTIVE'


@pytest.mark.parametrize('fields', [
    {'delay': None}, {'timeout': None}, {'max_retries': None}, {'type': 'TCP'},
    {'pool_id': str(uuid.uuid4())}, {'max_retries': 11}, {'url_path': 'x'},
    {'domain_name': 'example.com'}, {'http_version': 1.0, 'domain_name': 'example.com'},
])
def test_put_rejects_what_cannot_change_or_does_not_fit(owner, monitor, fields):
    fault(owner.put('healthmonitors/' + monitor['id'], {'healthmonitor': fields}), 400)
