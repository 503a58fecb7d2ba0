"""The status machine (reference 1.6): PENDING_* on every write, parents
marked PENDING_UPDATE and back to ACTIVE, 409 while the LB is not mutable.

`held` keeps the worker off an LB so PENDING states can be observed;
`status_of` forces a status on a row for a block (see conftest)."""
import pytest

from tests.functional.conftest import (
    LOCAL_V4_SUBNET,
    build_tree,
    fault,
    held,
    new_member,
    status_of,
)


@pytest.fixture(scope='module')
def tree(owner, shared_lb):
    """listener -> pool (default) -> member, HM; policy -> rule, on the shared LB."""
    return dict(build_tree(owner, shared_lb['id'], '198.18.7.1', rule_value='/x'),
                lb=shared_lb)


PATHS = {
    'lb': lambda t: 'loadbalancers/%s' % t['lb']['id'],
    'listener': lambda t: 'listeners/%s' % t['listener']['id'],
    'pool': lambda t: 'pools/%s' % t['pool']['id'],
    'member': lambda t: 'pools/%s/members/%s' % (t['pool']['id'], t['member']['id']),
    'policy': lambda t: 'l7policies/%s' % t['policy']['id'],
    'rule': lambda t: 'l7policies/%s/rules/%s' % (t['policy']['id'], t['rule']['id']),
}
KEYS = {'lb': 'loadbalancer', 'listener': 'listener', 'pool': 'pool', 'member': 'member',
        'policy': 'l7policy', 'rule': 'rule'}


def statuses(owner, tree, names):
    return {n: owner.show(PATHS[n](tree), KEYS[n])['provisioning_status'] for n in names}


# (what the write does, its request, the statuses it leaves while the LB is held)
WRITES = [
    ('listener update', lambda t: ('put', PATHS['listener'](t), {'listener': {'name': 'x'}}),
     {'listener': 'PENDING_UPDATE', 'lb': 'PENDING_UPDATE', 'pool': 'ACTIVE'}),
    ('pool update', lambda t: ('put', PATHS['pool'](t), {'pool': {'name': 'x'}}),
     {'pool': 'PENDING_UPDATE', 'listener': 'PENDING_UPDATE', 'lb': 'PENDING_UPDATE',
      'member': 'ACTIVE'}),
    ('member update', lambda t: ('put', PATHS['member'](t), {'member': {'weight': 3}}),
     {'member': 'PENDING_UPDATE', 'pool': 'PENDING_UPDATE', 'listener': 'PENDING_UPDATE',
      'lb': 'PENDING_UPDATE'}),
    ('policy update', lambda t: ('put', PATHS['policy'](t), {'l7policy': {'name': 'x'}}),
     {'policy': 'PENDING_UPDATE', 'listener': 'PENDING_UPDATE', 'lb': 'PENDING_UPDATE',
      'rule': 'ACTIVE'}),
    ('rule update', lambda t: ('put', PATHS['rule'](t), {'rule': {'value': '/y'}}),
     {'rule': 'PENDING_UPDATE', 'policy': 'PENDING_UPDATE', 'listener': 'PENDING_UPDATE',
      'lb': 'PENDING_UPDATE'}),
    ('lb update', lambda t: ('put', PATHS['lb'](t), {'loadbalancer': {'name': 'x'}}),
     {'lb': 'PENDING_UPDATE', 'listener': 'ACTIVE'}),
]


@pytest.mark.parametrize('name, request_of, expected', WRITES, ids=[w[0] for w in WRITES])
def test_a_write_marks_the_object_and_its_parents_until_the_worker_settles(
        owner, tree, name, request_of, expected):
    method, path, body = request_of(tree)
    with held(tree['lb']['id']):
        resp = owner.request(method, path, body)
        assert resp.status_code == 200, resp.text
        assert statuses(owner, tree, expected) == expected
    owner.wait_lb(tree['lb']['id'])
    assert set(statuses(owner, tree, PATHS).values()) == {'ACTIVE'}


def test_creates_and_deletes_go_through_pending_create_and_pending_delete(owner, tree):
    lb_id = tree['lb']['id']
    pool_id = tree['pool']['id']
    with held(lb_id):
        member = owner.post('pools/%s/members' % pool_id, {'member': {
            'address': '198.18.7.2', 'protocol_port': 80}}).json()['member']
        path = 'pools/%s/members/%s' % (pool_id, member['id'])
        assert owner.show(path, 'member')['provisioning_status'] == 'PENDING_CREATE'
        assert statuses(owner, tree, ['pool', 'listener', 'lb']) == dict.fromkeys(
            ['pool', 'listener', 'lb'], 'PENDING_UPDATE')
    owner.wait_lb(lb_id)
    assert owner.show(path, 'member')['provisioning_status'] == 'ACTIVE'
    with held(lb_id):
        assert owner.delete(path).status_code == 204
        assert owner.show(path, 'member')['provisioning_status'] == 'PENDING_DELETE'
        assert statuses(owner, tree, ['pool', 'lb']) == dict.fromkeys(
            ['pool', 'lb'], 'PENDING_UPDATE')
    owner.wait_lb(lb_id)
    fault(owner.get(path), 404)
    assert set(statuses(owner, tree, PATHS).values()) == {'ACTIVE'}


def child_writes(t):
    """Every write under the LB, as (method, path, body)."""
    pool, policy = t['pool']['id'], t['policy']['id']
    return [
        ('post', 'listeners', {'listener': {'loadbalancer_id': t['lb']['id'],
                                            'protocol': 'TCP', 'protocol_port': 99}}),
        ('put', PATHS['listener'](t), {'listener': {'name': 'x'}}),
        ('delete', PATHS['listener'](t), None),
        ('post', 'pools', {'pool': {'loadbalancer_id': t['lb']['id'], 'protocol': 'TCP',
                                    'lb_algorithm': 'ROUND_ROBIN'}}),
        ('put', PATHS['pool'](t), {'pool': {'name': 'x'}}),
        ('delete', PATHS['pool'](t), None),
        ('post', 'pools/%s/members' % pool, {'member': {'address': '198.18.7.9',
                                                        'protocol_port': 1}}),
        ('put', 'pools/%s/members' % pool, {'members': []}),
        ('put', PATHS['member'](t), {'member': {'weight': 2}}),
        ('delete', PATHS['member'](t), None),
        ('post', 'healthmonitors', {'healthmonitor': {
            'pool_id': pool, 'type': 'TCP', 'delay': 1, 'timeout': 1, 'max_retries': 1}}),
        ('post', 'l7policies', {'l7policy': {'listener_id': t['listener']['id'],
                                             'action': 'REJECT'}}),
        ('put', PATHS['policy'](t), {'l7policy': {'name': 'x'}}),
        ('delete', PATHS['policy'](t), None),
        ('post', 'l7policies/%s/rules' % policy, {'rule': {
            'type': 'PATH', 'compare_type': 'EQUAL_TO', 'value': '/z'}}),
        ('put', PATHS['rule'](t), {'rule': {'value': '/z'}}),
        ('delete', PATHS['rule'](t), None),
    ]


@pytest.mark.parametrize('status', ['PENDING_CREATE', 'PENDING_UPDATE', 'PENDING_DELETE'])
def test_every_write_is_409_while_the_lb_is_pending(service, owner, tree, status):
    lb_id = tree['lb']['id']
    admin = new_member(service, roles='admin')
    with status_of('LoadBalancer', lb_id, status):
        for method, path, body in child_writes(tree):
            resp = owner.request(method, path, body)
            assert fault(resp, 409) == \
                'Load Balancer %s is immutable and cannot be updated.' % lb_id, (method, path)
        own = [owner.put(PATHS['lb'](tree), {'loadbalancer': {'name': 'x'}}),
               owner.delete(PATHS['lb'](tree) + '?cascade=true'),
               admin.put(PATHS['lb'](tree) + '/failover')]
        for resp in own:
            assert fault(resp, 409) == \
                'Invalid state %s of loadbalancer resource %s' % (status, lb_id)
        assert owner.show(PATHS['lb'](tree), 'loadbalancer')['provisioning_status'] == status
        assert owner.get(PATHS['lb'](tree) + '/status').status_code == 200
    assert set(statuses(owner, tree, PATHS).values()) == {'ACTIVE'}


def test_member_and_monitor_writes_need_an_active_pool(owner, tree):
    pool_id = tree['pool']['id']
    expected = 'Pool %s is immutable and cannot be updated.' % pool_id
    with status_of('Pool', pool_id, 'ERROR'):
        for method, path, body in child_writes(tree)[6:11]:
            assert fault(owner.request(method, path, body), 409) == expected, path
    assert owner.show(PATHS['lb'](tree), 'loadbalancer')['provisioning_status'] == 'ACTIVE'


def test_rule_writes_need_an_active_policy(owner, tree):
    policy_id = tree['policy']['id']
    expected = 'L7Policy %s is immutable and cannot be updated.' % policy_id
    with status_of('L7Policy', policy_id, 'PENDING_UPDATE'):
        for method, path, body in child_writes(tree)[14:]:
            assert fault(owner.request(method, path, body), 409) == expected, path


def set_lb_status(lb_id, status):
    from lbaas.db import models
    from lbaas.db import session as db
    with db.writing() as session:
        session.get(models.LoadBalancer, lb_id).provisioning_status = status


def test_an_lb_in_error_can_be_failed_over_or_deleted_but_not_changed(service, client):
    admin = new_member(service, roles='admin')
    lbs = [client.create_lb(vip_subnet_id=LOCAL_V4_SUBNET) for _ in range(2)]
    for lb in lbs:
        set_lb_status(lb['id'], 'ERROR')
        path = 'loadbalancers/' + lb['id']
        assert fault(client.put(path, {'loadbalancer': {'name': 'x'}}), 409) == \
            'Invalid state ERROR of loadbalancer resource %s' % lb['id']
        fault(client.post('listeners', {'listener': {
            'loadbalancer_id': lb['id'], 'protocol': 'TCP', 'protocol_port': 1}}), 409)
    resp = admin.put('loadbalancers/%s/failover' % lbs[0]['id'])
    assert resp.status_code == 202, resp.text
    assert client.wait_lb(lbs[0]['id'])['provisioning_status'] == 'ACTIVE'
    assert client.delete('loadbalancers/' + lbs[1]['id']).status_code == 204
    client.wait_lb(lbs[1]['id'], 'DELETED')
    assert client.delete('loadbalancers/' + lbs[0]['id']).status_code == 204
