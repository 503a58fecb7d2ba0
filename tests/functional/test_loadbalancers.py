"""Load balancers over HTTP: fields and defaults, VIPs, PUT, DELETE, graph
create, cascade delete, failover, status tree and stats (reference 1.7, 1.8)."""
import ipaddress
import re
import uuid

import pytest

from tests.functional.conftest import (
    LOCAL_NETWORK,
    LOCAL_V4_SUBNET,
    LOCAL_V6_SUBNET,
    fault,
    new_member,
)

LB_KEYS = {'id', 'name', 'description', 'provisioning_status', 'operating_status',
           'admin_state_up', 'project_id', 'tenant_id', 'created_at', 'updated_at',
           'vip_address', 'vip_port_id', 'vip_subnet_id', 'vip_network_id',
           'vip_qos_policy_id', 'vip_sg_ids', 'vip_vnic_type', 'additional_vips',
           'listeners', 'pools', 'provider', 'flavor_id', 'availability_zone', 'tags'}
TIMESTAMP = re.compile(r'^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d$')


def post_lb(client, **fields):
    return client.post('loadbalancers', {'loadbalancer': fields})


def test_create_answers_every_field_with_its_default(client):
    resp = post_lb(client, vip_subnet_id=LOCAL_V4_SUBNET)
    assert resp.status_code == 201, resp.text
    lb = resp.json()['loadbalancer']
    assert set(lb) == LB_KEYS
    assert lb['provisioning_status'] == 'PENDING_CREATE'
    assert lb['operating_status'] == 'OFFLINE'
    assert {k: lb[k] for k in ('name', 'description', 'admin_state_up', 'provider',
                               'flavor_id', 'availability_zone', 'vip_qos_policy_id',
                               'vip_sg_ids', 'additional_vips', 'listeners', 'pools',
                               'tags', 'vip_vnic_type', 'updated_at')} == {
        'name': '', 'description': '', 'admin_state_up': True, 'provider': 'amphora',
        'flavor_id': None, 'availability_zone': None, 'vip_qos_policy_id': None,
        'vip_sg_ids': [], 'additional_vips': [], 'listeners': [], 'pools': [], 'tags': [],
        'vip_vnic_type': 'normal', 'updated_at': None}
    assert lb['project_id'] == lb['tenant_id'] == client.project_id
    assert TIMESTAMP.match(lb['created_at'])
    assert lb['vip_network_id'] == LOCAL_NETWORK and lb['vip_subnet_id'] == LOCAL_V4_SUBNET
    assert ipaddress.ip_address(lb['vip_address']) in ipaddress.ip_network('198.18.0.0/20')
    assert uuid.UUID(lb['vip_port_id'])
    active = client.wait_lb(lb['id'])
    assert (active['provisioning_status'], active['operating_status']) == ('ACTIVE', 'OFFLINE')
    assert client.delete('loadbalancers/' + lb['id']).status_code == 204


def test_vip_from_network_prefers_ipv4_and_an_address_can_be_asked_for(client):
    lb = client.create_lb(vip_network_id=LOCAL_NETWORK)
    assert lb['vip_subnet_id'] == LOCAL_V4_SUBNET
    v6 = client.create_lb(vip_subnet_id=LOCAL_V6_SUBNET, vip_address='fd00:1b::7777')
    assert (v6['vip_address'], v6['vip_network_id']) == ('fd00:1b::7777', LOCAL_NETWORK)
    taken = post_lb(client, vip_subnet_id=LOCAL_V6_SUBNET, vip_address='fd00:1b::7777')
    assert 'fd00:1b::7777' in fault(taken, 409)
    outside = post_lb(client, vip_subnet_id=LOCAL_V4_SUBNET, vip_address='198.19.0.1')
    fault(outside, 400)
    for item in (lb, v6):
        assert client.delete('loadbalancers/' + item['id']).status_code == 204


def test_admin_state_up_null_means_false_as_in_wsme(client):
    resp = post_lb(client, vip_subnet_id=LOCAL_V4_SUBNET, admin_state_up=None)
    assert resp.status_code == 201, resp.text
    assert resp.json()['loadbalancer']['admin_state_up'] is False
    client.wait_lb(resp.json()['loadbalancer']['id'])
    assert client.delete('loadbalancers/' + resp.json()['loadbalancer']['id']).status_code == 204


def test_unknown_vip_subnet_is_echoed_as_the_noop_network_does(client):
    subnet = str(uuid.uuid4())
    lb = client.create_lb(vip_subnet_id=subnet)
    assert lb['vip_subnet_id'] == subnet
    assert ipaddress.ip_address(lb['vip_address']) in ipaddress.ip_network('198.51.100.0/24')
    assert client.delete('loadbalancers/' + lb['id']).status_code == 204


@pytest.mark.parametrize('fields, status', [
    ({}, 400),                                                   # no VIP at all
    ({'vip_subnet_id': 'not-a-uuid'}, 400),
    ({'vip_subnet_id': LOCAL_V4_SUBNET, 'vip_address': '1.2.3'}, 400),
    ({'vip_subnet_id': LOCAL_V4_SUBNET, 'name': 'x' * 256}, 400),
    ({'vip_subnet_id': LOCAL_V4_SUBNET, 'description': 'x' * 256}, 400),
    ({'vip_subnet_id': LOCAL_V4_SUBNET, 'admin_state_up': 'maybe'}, 400),
    ({'vip_subnet_id': LOCAL_V4_SUBNET, 'provider': 'nonexistent'}, 400),
    ({'vip_subnet_id': LOCAL_V4_SUBNET, 'provider': 'x' * 65}, 400),
    ({'vip_subnet_id': LOCAL_V4_SUBNET, 'flavor_id': str(uuid.uuid4())}, 400),
    ({'vip_subnet_id': LOCAL_V4_SUBNET, 'availability_zone': 'nowhere'}, 400),
    ({'vip_subnet_id': LOCAL_V4_SUBNET, 'tags': ['x' * 256]}, 400),
    ({'vip_subnet_id': LOCAL_V4_SUBNET, 'vip_sg_ids': ['nope']}, 400),
    ({'vip_subnet_id': LOCAL_V4_SUBNET, 'id': str(uuid.uuid4())}, 400),
    ({'vip_subnet_id': LOCAL_V4_SUBNET, 'vip_port': 'x'}, 400),  # unknown attribute
    ({'vip_subnet_id': LOCAL_V4_SUBNET,
      'additional_vips': [{'subnet_id': LOCAL_V4_SUBNET}]}, 400),  # same subnet twice
])
def test_create_rejects_invalid_input(client, fields, status):
    fault(post_lb(client, **fields), status)


def test_project_id_and_tenant_id_on_create(service, client, admin):
    other = 'p-' + uuid.uuid4().hex[:12]
    fault(post_lb(client, vip_subnet_id=LOCAL_V4_SUBNET, project_id=other), 403)
    lb = admin.create_lb(tenant_id=other)
    assert lb['project_id'] == lb['tenant_id'] == other
    assert client.get('loadbalancers/' + lb['id']).status_code == 403
    assert admin.delete('loadbalancers/' + lb['id']).status_code == 204


def test_noop_provider_is_echoed(client):
    lb = client.create_lb(provider='noop_driver')
    assert client.show('loadbalancers/' + lb['id'], 'loadbalancer')['provider'] == 'noop_driver'
    assert client.delete('loadbalancers/' + lb['id']).status_code == 204


def test_put_answers_200_with_the_body_and_null_resets(owner, shared_lb):
    path = 'loadbalancers/' + shared_lb['id']
    resp = owner.put(path, {'loadbalancer': {'name': 'renamed', 'description': 'd',
                                             'tags': ['a', 'b'], 'admin_state_up': False}})
    assert resp.status_code == 200, resp.text
    body = resp.json()['loadbalancer']
    assert (body['name'], body['description'], body['tags'], body['admin_state_up']) == \
        ('renamed', 'd', ['a', 'b'], False)
    assert body['provisioning_status'] == 'PENDING_UPDATE'
    settled = owner.wait_lb(shared_lb['id'])
    assert TIMESTAMP.match(settled['updated_at'])
    body = owner.update(path, 'loadbalancer', {'name': None, 'description': None,
                                               'tags': None, 'admin_state_up': True},
                        shared_lb['id'])
    assert (body['name'], body['description'], body['tags'], body['admin_state_up']) == \
        ('', '', [], True)


def test_put_of_vip_qos_and_security_groups(owner, shared_lb):
    path = 'loadbalancers/' + shared_lb['id']
    qos, sg = str(uuid.uuid4()), str(uuid.uuid4())
    body = owner.update(path, 'loadbalancer', {'vip_qos_policy_id': qos, 'vip_sg_ids': [sg]},
                        shared_lb['id'])
    assert (body['vip_qos_policy_id'], body['vip_sg_ids']) == (qos, [sg])
    listener = {'loadbalancer_id': shared_lb['id'], 'protocol': 'TCP', 'protocol_port': 7,
                'allowed_cidrs': ['198.18.0.0/16']}
    assert 'Security Groups' in fault(owner.post('listeners', {'listener': listener}), 400)
    body = owner.update(path, 'loadbalancer', {'vip_qos_policy_id': None, 'vip_sg_ids': None},
                        shared_lb['id'])
    assert (body['vip_qos_policy_id'], body['vip_sg_ids']) == (None, [])


@pytest.mark.parametrize('fields', [
    {'vip_address': '198.18.0.99'}, {'vip_subnet_id': LOCAL_V4_SUBNET},
    {'provider': 'noop_driver'}, {'project_id': 'someone'}, {'listeners': []},
    {'name': 'x' * 256}, {'admin_state_up': 'perhaps'},
])
def test_put_rejects_fields_that_cannot_change(owner, shared_lb, fields):
    fault(owner.put('loadbalancers/' + shared_lb['id'], {'loadbalancer': fields}), 400)


def test_delete_answers_204_then_the_lb_is_gone(client, lb):
    assert client.delete('loadbalancers/' + lb['id']).status_code == 204
    shown = client.get('loadbalancers/' + lb['id'])
    assert shown.status_code == 404 or \
        shown.json()['loadbalancer']['provisioning_status'] == 'PENDING_DELETE'
    client.wait_lb(lb['id'], 'DELETED')
    assert 'not found' in fault(client.get('loadbalancers/' + lb['id']), 404)
    assert lb['id'] not in [i['id'] for i in client.get('loadbalancers').json()['loadbalancers']]
    fault(client.delete('loadbalancers/' + lb['id']), 404)


def graph_body():
    return {'name': 'graph', 'vip_subnet_id': LOCAL_V4_SUBNET, 'listeners': [
        {'name': 'web', 'protocol': 'HTTP', 'protocol_port': 80,
         'default_pool': {'name': 'main'},
         'l7policies': [{'name': 'api', 'action': 'REDIRECT_TO_POOL',
                         'redirect_pool': {'name': 'api-pool', 'protocol': 'HTTP',
                                           'lb_algorithm': 'LEAST_CONNECTIONS'},
                         'rules': [{'type': 'PATH', 'compare_type': 'STARTS_WITH',
                                    'value': '/api'}]},
                        {'action': 'REJECT', 'position': 1}]},
        {'name': 'raw', 'protocol': 'TCP', 'protocol_port': 8443,
         'default_pool': {'name': 'tcp', 'protocol': 'TCP', 'lb_algorithm': 'SOURCE_IP'}}],
        'pools': [{'name': 'main', 'protocol': 'HTTP', 'lb_algorithm': 'ROUND_ROBIN',
                   'healthmonitor': {'type': 'HTTP', 'delay': 3, 'timeout': 2,
                                     'max_retries': 2},
                   'members': [{'address': '198.18.2.1', 'protocol_port': 80},
                               {'address': '198.18.2.2', 'protocol_port': 80}]}]}


def test_graph_create_builds_every_child_and_answers_the_full_graph(client):
    resp = client.post('loadbalancers', {'loadbalancer': graph_body()})
    assert resp.status_code == 201, resp.text
    lb = resp.json()['loadbalancer']
    pools = {p['name']: p for p in lb['pools']}
    assert set(pools) == {'main', 'api-pool', 'tcp'}
    main = pools['main']
    assert main['healthmonitor']['type'] == 'HTTP'
    assert main['healthmonitor_id'] == main['healthmonitor']['id']
    assert {m['address'] for m in main['members']} == {'198.18.2.1', '198.18.2.2'}
    assert {m['operating_status'] for m in main['members']} == {'OFFLINE'}  # pool has an HM
    listeners = {li['name']: li for li in lb['listeners']}
    web = listeners['web']
    assert web['default_pool_id'] == main['id']
    assert listeners['raw']['default_pool_id'] == pools['tcp']['id']
    policies = {p['action']: p for p in web['l7policies']}
    assert policies['REJECT']['position'] == 1 and policies['REDIRECT_TO_POOL']['position'] == 2
    assert policies['REDIRECT_TO_POOL']['redirect_pool_id'] == pools['api-pool']['id']
    assert policies['REDIRECT_TO_POOL']['rules'][0]['value'] == '/api'
    client.wait_lb(lb['id'])
    for path, key in (('listeners/' + web['id'], 'listener'), ('pools/' + main['id'], 'pool'),
                      ('healthmonitors/' + main['healthmonitor_id'], 'healthmonitor'),
                      ('l7policies/' + policies['REJECT']['id'], 'l7policy')):
        assert client.show(path, key)['provisioning_status'] == 'ACTIVE'
    fault(client.delete('loadbalancers/' + lb['id']), 400)  # children, no cascade
    assert client.delete('loadbalancers/%s?cascade=true' % lb['id']).status_code == 204
    client.wait_lb(lb['id'], 'DELETED')
    for path in ('listeners/' + web['id'], 'pools/' + main['id'],
                 'pools/%s/members/%s' % (main['id'], main['members'][0]['id']),
                 'healthmonitors/' + main['healthmonitor_id'],
                 'l7policies/' + policies['REJECT']['id']):
        fault(client.get(path), 404)


@pytest.mark.parametrize('change, text', [
    (lambda b: b['listeners'][0].update(default_pool={'name': 'nowhere'}),
     "Pool 'nowhere' was referenced but no full definition was found"),
    (lambda b: b['pools'][0].pop('name'), None),
    (lambda b: b['pools'].append(dict(b['pools'][0])), None),       # a name defined twice
    (lambda b: b['listeners'][1].update(protocol_port=80), None),   # HTTP 80 and TCP 80
    (lambda b: b['listeners'][1]['default_pool'].update(protocol='UDP'), None),
    (lambda b: b['listeners'][0]['l7policies'][0]['rules'][0].update(type='COOKIE'), None),
])
def test_graph_create_rejects_a_broken_graph(client, change, text):
    body = graph_body()
    change(body)
    resp = client.post('loadbalancers', {'loadbalancer': body})
    message = fault(resp, 409 if body['listeners'][1]['protocol_port'] == 80 else 400)
    assert text is None or text in message
    assert client.get('loadbalancers').json()['loadbalancers'] == []


def test_status_tree_has_pools_only_under_listeners_and_a_health_monitor_key(client):
    resp = client.post('loadbalancers', {'loadbalancer': graph_body()})
    lb = resp.json()['loadbalancer']
    client.wait_lb(lb['id'])
    for suffix in ('status', 'statuses'):
        tree = client.get('loadbalancers/%s/%s' % (lb['id'], suffix)).json()
        assert list(tree) == ['statuses'] and list(tree['statuses']) == ['loadbalancer']
        node = tree['statuses']['loadbalancer']
        assert set(node) == {'id', 'name', 'operating_status', 'provisioning_status',
                             'listeners'}
        web = next(li for li in node['listeners'] if li['name'] == 'web')
        assert set(web) == {'id', 'name', 'operating_status', 'provisioning_status', 'pools'}
        assert {p['name'] for p in web['pools']} == {'main', 'api-pool'}
        main = next(p for p in web['pools'] if p['name'] == 'main')
        assert set(main) == {'id', 'name', 'provisioning_status', 'operating_status',
                             'health_monitor', 'members'}
        assert set(main['health_monitor']) == {'id', 'name', 'type', 'provisioning_status',
                                               'operating_status'}
        assert main['health_monitor']['name'] == ''
        assert set(main['members'][0]) == {'id', 'name', 'operating_status',
                                           'provisioning_status', 'address', 'protocol_port'}
        api_pool = next(p for p in web['pools'] if p['name'] == 'api-pool')
        assert 'health_monitor' not in api_pool
    assert client.delete('loadbalancers/%s?cascade=true' % lb['id']).status_code == 204


def test_stats_of_a_new_lb_are_zero(owner, shared_lb):
    stats = owner.get('loadbalancers/%s/stats' % shared_lb['id']).json()
    assert stats == {'stats': {'bytes_in': 0, 'bytes_out': 0, 'active_connections': 0,
                               'total_connections': 0, 'request_errors': 0}}


def test_failover_is_admin_only_and_answers_202_without_body(service, owner, shared_lb):
    path = 'loadbalancers/%s/failover' % shared_lb['id']
    assert 'Policy does not allow' in fault(owner.put(path), 403)
    admin = new_member(service, roles='admin')
    resp = admin.put(path)
    assert resp.status_code == 202 and resp.content == b''
    assert owner.show('loadbalancers/' + shared_lb['id'], 'loadbalancer')[
        'provisioning_status'] in ('PENDING_UPDATE', 'ACTIVE')
    owner.wait_lb(shared_lb['id'])
    fault(admin.put('loadbalancers/%s/failover' % uuid.uuid4()), 404)


def test_an_exhausted_subnet_answers_409_not_500(client):
    """254 VIPs fill an unknown subnet's noop range; the 255th LB is refused."""
    from lbaas.db import models
    from lbaas.db import session as db
    subnet = str(uuid.uuid4())
    ids = [str(uuid.uuid4()) for _ in range(254)]
    with db.writing() as session:
        session.add_all(models.LoadBalancer(
            id=lb_id, project_id='exhaustion', provisioning_status='ACTIVE',
            operating_status='OFFLINE', topology='SINGLE',
            vip=models.Vip(subnet_id=subnet, ip_address='198.51.100.%d' % (n + 1)))
            for n, lb_id in enumerate(ids))
    try:
        resp = post_lb(client, vip_subnet_id=subnet)
        assert fault(resp, 409) == 'No more IP addresses available on subnet %s' % subnet
    finally:
        with db.writing() as session:
            for lb_id in ids:
                session.delete(session.get(models.LoadBalancer, lb_id))
