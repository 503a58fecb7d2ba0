"""What real Octavia answers, where we used to differ (reference 1.2, 1.5-1.8).

Health monitors, L7 policies and rules take their operating status from their
admin state when the worker settles them; the noop compute ids are UUIDs;
amphorae in DELETED are hidden from the admin API; a DELETE of an LB checks
its children before its status; and single-object POSTs refuse the inline
children only a whole-graph LB create builds.
"""
import uuid

import pytest

from lbaas.drivers import noop
from tests.functional.conftest import fault, status_of


def _pool(client, lb, **fields):
    return client.create('pools', 'pool', {
        'loadbalancer_id': lb['id'], 'protocol': 'HTTP', 'lb_algorithm': 'ROUND_ROBIN',
        **fields}, lb['id'])


def _listener(client, lb):
    return client.create('listeners', 'listener', {
        'loadbalancer_id': lb['id'], 'protocol': 'HTTP', 'protocol_port': 80}, lb['id'])


def _statuses(client, path, key):
    obj = client.show(path, key)
    return obj['provisioning_status'], obj['operating_status']


def _toggle(client, lb, path, key):
    """Enable then disable the object by PUT: ONLINE then OFFLINE once settled."""
    for enabled, operating in ((True, 'ONLINE'), (False, 'OFFLINE')):
        client.update(path, key, {'admin_state_up': enabled}, lb['id'])
        assert _statuses(client, path, key) == ('ACTIVE', operating)


@pytest.mark.parametrize('enabled, operating', [(True, 'ONLINE'), (False, 'OFFLINE')])
def test_health_monitor_operating_status_follows_admin_state(client, lb, enabled, operating):
    pool = _pool(client, lb)
    hm = client.create('healthmonitors', 'healthmonitor', {
        'pool_id': pool['id'], 'type': 'HTTP', 'delay': 5, 'timeout': 3, 'max_retries': 2,
        'admin_state_up': enabled}, lb['id'])
    assert hm['operating_status'] == 'OFFLINE'  # PENDING_CREATE answers OFFLINE
    path = 'healthmonitors/' + hm['id']
    assert _statuses(client, path, 'healthmonitor') == ('ACTIVE', operating)
    _toggle(client, lb, path, 'healthmonitor')


@pytest.mark.parametrize('enabled, operating', [(True, 'ONLINE'), (False, 'OFFLINE')])
def test_l7_policy_and_rule_operating_status_follow_admin_state(client, lb, enabled,
                                                                operating):
    listener = _listener(client, lb)
    policy = client.create('l7policies', 'l7policy', {
        'listener_id': listener['id'], 'action': 'REJECT', 'admin_state_up': enabled},
        lb['id'])
    policy_path = 'l7policies/' + policy['id']
    assert _statuses(client, policy_path, 'l7policy') == ('ACTIVE', operating)
    rule = client.create(policy_path + '/rules', 'rule', {
        'type': 'PATH', 'compare_type': 'STARTS_WITH', 'value': '/api',
        'admin_state_up': enabled}, lb['id'])
    rule_path = '%s/rules/%s' % (policy_path, rule['id'])
    assert _statuses(client, rule_path, 'rule') == ('ACTIVE', operating)
    _toggle(client, lb, policy_path, 'l7policy')
    _toggle(client, lb, rule_path, 'rule')


def test_l7_policy_inline_rules_are_online(client, lb):
    listener = _listener(client, lb)
    policy = client.create('l7policies', 'l7policy', {
        'listener_id': listener['id'], 'action': 'REJECT',
        'rules': [{'type': 'HOST_NAME', 'compare_type': 'EQUAL_TO', 'value': 'a.example'}]},
        lb['id'])
    [rule] = client.get('l7policies/%s/rules' % policy['id']).json()['rules']
    assert (rule['provisioning_status'], rule['operating_status']) == ('ACTIVE', 'ONLINE')


def _amphora_of(admin, lb_id):
    [amphora] = admin.get('/v2/octavia/amphorae?loadbalancer_id=' + lb_id).json()['amphorae']
    return amphora


def test_noop_compute_id_is_a_uuid_stable_per_amphora(admin, lb):
    amphora = _amphora_of(admin, lb['id'])
    assert str(uuid.UUID(amphora['compute_id'])) == amphora['compute_id']
    assert amphora['compute_id'] == noop.NoopCompute().compute_id_for(amphora['id'])
    assert noop.NoopCompute().compute_id_for(str(uuid.uuid4())) != amphora['compute_id']


def test_deleted_amphorae_are_hidden_as_octavia_does(admin, client, lb):
    """Octavia reads amphorae with show_deleted=False: DELETED ones are 404
    and left out of the list until housekeeping purges them."""
    old = _amphora_of(admin, lb['id'])
    assert admin.put('/v2/octavia/amphorae/%s/failover' % old['id']).status_code == 202
    client.wait_lb(lb['id'])
    assert _amphora_of(admin, lb['id'])['id'] != old['id']
    assert fault(admin.get('/v2/octavia/amphorae/' + old['id']), 404) == (
        'Amphora %s not found.' % old['id'])
    current = _amphora_of(admin, lb['id'])
    assert client.delete('loadbalancers/' + lb['id']).status_code == 204
    client.wait_lb(lb['id'], 'DELETED')
    assert admin.get('/v2/octavia/amphorae/' + current['id']).status_code == 404
    listed = admin.get('/v2/octavia/amphorae').json()['amphorae']
    assert not {old['id'], current['id']} & {a['id'] for a in listed}


def test_lb_delete_checks_children_before_status(client, lb):
    _listener(client, lb)
    with status_of('LoadBalancer', lb['id'], 'PENDING_UPDATE'):
        assert fault(client.delete('loadbalancers/' + lb['id']), 400) == (
            'Validation failure: Cannot delete Load Balancer %s - it has children' % lb['id'])
        assert fault(client.delete('loadbalancers/%s?cascade=true' % lb['id']), 409) == (
            'Invalid state PENDING_UPDATE of loadbalancer resource %s' % lb['id'])
    assert client.delete('loadbalancers/%s?cascade=true' % lb['id']).status_code == 204


def test_lb_delete_without_children_in_a_pending_state_is_409(client, lb):
    with status_of('LoadBalancer', lb['id'], 'PENDING_UPDATE'):
        assert fault(client.delete('loadbalancers/' + lb['id']), 409) == (
            'Invalid state PENDING_UPDATE of loadbalancer resource %s' % lb['id'])


INLINE_POOL = {'name': 'inline', 'protocol': 'HTTP', 'lb_algorithm': 'ROUND_ROBIN'}
HM = {'type': 'HTTP', 'delay': 5, 'timeout': 3, 'max_retries': 2}
MEMBER = {'address': '198.18.9.10', 'protocol_port': 80}


@pytest.mark.parametrize('children, named', [
    ({'members': [MEMBER]}, 'members'),
    ({'healthmonitor': HM}, 'healthmonitor'),
    ({'healthmonitor': HM, 'members': [MEMBER]}, 'healthmonitor, members'),
])
def test_pool_post_refuses_inline_children(client, lb, children, named):
    resp = client.post('pools', {'pool': {
        'loadbalancer_id': lb['id'], 'protocol': 'HTTP', 'lb_algorithm': 'ROUND_ROBIN',
        **children}})
    assert fault(resp, 400) == ('Validation failure: %s can only be given inline when '
                                'creating a fully populated load balancer.' % named)
    assert client.get('pools?loadbalancer_id=' + lb['id']).json()['pools'] == []
    assert client.show('loadbalancers/' + lb['id'], 'loadbalancer')[
        'provisioning_status'] == 'ACTIVE'


def test_pool_post_with_empty_inline_children_is_created(client, lb):
    pool = _pool(client, lb, members=[], healthmonitor=None)
    assert (pool['members'], pool['healthmonitor_id']) == ([], None)


@pytest.mark.parametrize('children, named', [
    ({'default_pool': INLINE_POOL}, 'default_pool'),
    ({'l7policies': [{'action': 'REJECT'}]}, 'l7policies'),
])
def test_listener_post_refuses_inline_children(client, lb, children, named):
    resp = client.post('listeners', {'listener': {
        'loadbalancer_id': lb['id'], 'protocol': 'HTTP', 'protocol_port': 80, **children}})
    assert fault(resp, 400) == ('Validation failure: %s can only be given inline when '
                                'creating a fully populated load balancer.' % named)
    assert client.get('listeners?loadbalancer_id=' + lb['id']).json()['listeners'] == []
    assert client.get('pools?loadbalancer_id=' + lb['id']).json()['pools'] == []


def test_graph_create_still_builds_inline_children(client):
    lb = client.create_lb(listeners=[{
        'protocol': 'HTTP', 'protocol_port': 80,
        'default_pool': {**INLINE_POOL, 'healthmonitor': HM, 'members': [MEMBER]},
        'l7policies': [{'action': 'REJECT', 'rules': [
            {'type': 'PATH', 'compare_type': 'STARTS_WITH', 'value': '/x'}]}]}])
    [pool] = client.get('pools?loadbalancer_id=' + lb['id']).json()['pools']
    hm = client.show('healthmonitors/' + pool['healthmonitor_id'], 'healthmonitor')
    assert (hm['provisioning_status'], hm['operating_status']) == ('ACTIVE', 'ONLINE')
    [policy] = client.get('l7policies').json()['l7policies']
    assert (policy['provisioning_status'], policy['operating_status']) == ('ACTIVE', 'ONLINE')
    assert len(pool['members']) == 1
