"""Quota enforcement (reference 1.8 "Quotas"): 403 "Quota has been met" once a
project's limit is reached, per resource, for graph create and batch
updates; not enforced under noauth unless enforce_quotas_noauth is set."""
import pytest

from lbaas import config
from tests.functional.conftest import LOCAL_V4_SUBNET, fault, new_admin, new_member


@pytest.fixture(scope='module', autouse=True)
def enforced(service):
    config.CONF.set_override('enforce_quotas_noauth', True, 'api_settings')
    yield
    config.CONF.clear_override('enforce_quotas_noauth', 'api_settings')


@pytest.fixture
def limited(service):
    """A member of a fresh project, and a function setting that project's quota."""
    client = new_member(service)
    admin = new_admin(service)

    def limit(**values):
        resp = admin.put('quotas/' + client.project_id, {'quota': values})
        assert resp.status_code == 202, resp.text
        return resp.json()['quota']
    return client, limit


def met(resp, resource):
    assert fault(resp, 403) == 'Quota has been met for resources: %s' % resource


def test_load_balancers_count_until_deleted(limited):
    client, limit = limited
    assert limit(loadbalancer=1)['loadbalancer'] == 1
    lb = client.create_lb()
    met(client.post('loadbalancers', {'loadbalancer': {'vip_subnet_id': LOCAL_V4_SUBNET}}),
        'Load Balancer')
    assert client.delete('loadbalancers/' + lb['id']).status_code == 204
    client.wait_lb(lb['id'], 'DELETED')
    client.create_lb()
    limit(loadbalancer=-1)
    client.create_lb()
    limit(loadbalancer=0)
    met(client.post('loadbalancers', {'loadbalancer': {'vip_subnet_id': LOCAL_V4_SUBNET}}),
        'Load Balancer')


def children(client, lb_id):
    """Create one of each child; return their bodies."""
    listener = client.create('listeners', 'listener', {
        'loadbalancer_id': lb_id, 'protocol': 'HTTP', 'protocol_port': 80}, lb_id)
    pool = client.create('pools', 'pool', {'listener_id': listener['id'], 'protocol': 'HTTP',
                                           'lb_algorithm': 'ROUND_ROBIN'}, lb_id)
    client.create('pools/%s/members' % pool['id'], 'member',
                  {'address': '198.18.9.1', 'protocol_port': 80}, lb_id)
    client.create('healthmonitors', 'healthmonitor', {
        'pool_id': pool['id'], 'type': 'TCP', 'delay': 1, 'timeout': 1, 'max_retries': 1},
        lb_id)
    policy = client.create('l7policies', 'l7policy', {
        'listener_id': listener['id'], 'action': 'REJECT',
        'rules': [{'type': 'PATH', 'compare_type': 'EQUAL_TO', 'value': '/'}]}, lb_id)
    return listener, pool, policy


def test_every_child_resource_is_limited(limited):
    client, limit = limited
    lb = client.create_lb()
    limit(listener=1, pool=1, member=1, healthmonitor=1, l7policy=1, l7rule=1)
    listener, pool, policy = children(client, lb['id'])
    second_pool = client.post('pools', {'pool': {'loadbalancer_id': lb['id'],
                                                 'protocol': 'TCP',
                                                 'lb_algorithm': 'ROUND_ROBIN'}})
    for resp, resource in (
            (client.post('listeners', {'listener': {'loadbalancer_id': lb['id'],
                                                    'protocol': 'TCP',
                                                    'protocol_port': 81}}), 'Listener'),
            (second_pool, 'Pool'),
            (client.post('pools/%s/members' % pool['id'], {'member': {
                'address': '198.18.9.2', 'protocol_port': 80}}), 'Member'),
            (client.post('l7policies', {'l7policy': {'listener_id': listener['id'],
                                                     'action': 'REJECT'}}), 'L7 Policy'),
            (client.post('l7policies/%s/rules' % policy['id'], {'rule': {
                'type': 'PATH', 'compare_type': 'EQUAL_TO', 'value': '/x'}}), 'L7 Rule')):
        met(resp, resource)
    hm = client.get('healthmonitors').json()['healthmonitors'][0]
    client.remove('healthmonitors/' + hm['id'], lb['id'])
    limit(healthmonitor=0)
    met(client.post('healthmonitors', {'healthmonitor': {
        'pool_id': pool['id'], 'type': 'TCP', 'delay': 1, 'timeout': 1, 'max_retries': 1}}),
        'Health Monitor')
    limit(listener=None, pool=None, member=None, healthmonitor=None, l7policy=None,
          l7rule=None)                                       # null: back to the defaults
    client.create('pools/%s/members' % pool['id'], 'member',
                  {'address': '198.18.9.2', 'protocol_port': 80}, lb['id'])


def test_graph_create_is_checked_per_resource(limited):
    client, limit = limited
    limit(member=2)
    body = {'vip_subnet_id': LOCAL_V4_SUBNET, 'pools': [{
        'name': 'p', 'protocol': 'TCP', 'lb_algorithm': 'ROUND_ROBIN',
        'members': [{'address': '198.18.9.%d' % i, 'protocol_port': 80}
                    for i in range(1, 4)]}]}
    met(client.post('loadbalancers', {'loadbalancer': body}), 'Member')
    assert client.get('loadbalancers').json()['loadbalancers'] == []
    limit(member=3, loadbalancer=1)
    resp = client.post('loadbalancers', {'loadbalancer': body})
    assert resp.status_code == 201, resp.text
    client.wait_lb(resp.json()['loadbalancer']['id'])


def test_batch_member_update_is_checked_on_the_net_change(limited):
    client, limit = limited
    lb = client.create_lb()
    pool = client.create('pools', 'pool', {'loadbalancer_id': lb['id'], 'protocol': 'TCP',
                                           'lb_algorithm': 'ROUND_ROBIN'}, lb['id'])
    path = 'pools/%s/members' % pool['id']
    client.create(path, 'member', {'address': '198.18.9.1', 'protocol_port': 80}, lb['id'])
    limit(member=2)
    three = [{'address': '198.18.9.%d' % i, 'protocol_port': 80} for i in (2, 3, 4)]
    met(client.put(path, {'members': three}), 'Member')           # -1 + 3 > 2 - 1
    met(client.put(path + '?additive_only=true', {'members': three[:2]}), 'Member')
    assert client.put(path, {'members': three[:2]}).status_code == 202
    client.wait_lb(lb['id'])
    assert sorted(m['address'] for m in client.get(path).json()['members']) == \
        ['198.18.9.2', '198.18.9.3']


def test_quotas_are_not_enforced_under_noauth_by_default(limited):
    client, limit = limited
    limit(loadbalancer=0)
    config.CONF.set_override('enforce_quotas_noauth', False, 'api_settings')
    try:
        client.create_lb()
    finally:
        config.CONF.set_override('enforce_quotas_noauth', True, 'api_settings')
