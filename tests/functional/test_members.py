"""Members over HTTP: defaults, validation, duplicates, operating status, PUT,
DELETE and the batch update (reference 1.7 "Member", 1.8)."""
import uuid

import pytest

from tests.functional.conftest import fault

MEMBER_KEYS = {
    'id', 'name', 'provisioning_status', 'operating_status', 'admin_state_up',
    'project_id', 'tenant_id', 'created_at', 'updated_at', 'address', 'protocol_port',
    'weight', 'backup', 'subnet_id', 'monitor_address', 'monitor_port', 'vnic_type', 'tags'}
DEFAULTS = {'name': '', 'admin_state_up': True, 'weight': 1, 'backup': False,
            'subnet_id': None, 'monitor_address': None, 'monitor_port': None,
            'vnic_type': 'normal', 'tags': []}


@pytest.fixture
def pool(owner, shared_lb):
    item = owner.create('pools', 'pool', {'loadbalancer_id': shared_lb['id'],
                                          'protocol': 'HTTP', 'lb_algorithm': 'ROUND_ROBIN'},
                        shared_lb['id'])
    yield item
    owner.remove('pools/' + item['id'], shared_lb['id'])


@pytest.fixture(scope='module')
def idle_pool(owner, shared_lb):
    """A pool that only sees rejected requests: it stays empty."""
    return owner.create('pools', 'pool', {'loadbalancer_id': shared_lb['id'],
                                          'protocol': 'HTTP', 'lb_algorithm': 'ROUND_ROBIN'},
                        shared_lb['id'])


def members_of(pool):
    return 'pools/%s/members' % pool['id']


def post(owner, pool, **fields):
    return owner.post(members_of(pool), {'member': {'address': '198.18.4.1',
                                                    'protocol_port': 80, **fields}})


def test_create_answers_every_field_with_its_default(owner, shared_lb, pool):
    resp = post(owner, pool)
    assert resp.status_code == 201, resp.text
    member = resp.json()['member']
    assert MEMBER_KEYS <= set(member) <= MEMBER_KEYS | {'pool_id'}
    assert {k: member[k] for k in DEFAULTS} == DEFAULTS
    assert (member['provisioning_status'], member['operating_status']) == \
        ('PENDING_CREATE', 'NO_MONITOR')
    assert (member['address'], member['protocol_port']) == ('198.18.4.1', 80)
    assert member['project_id'] == member['tenant_id'] == owner.project_id
    assert owner.show('pools/' + pool['id'], 'pool')['provisioning_status'] in (
        'PENDING_UPDATE', 'ACTIVE')
    owner.wait_lb(shared_lb['id'])
    path = '%s/%s' % (members_of(pool), member['id'])
    shown = owner.show(path, 'member')
    assert (shown['provisioning_status'], shown['operating_status']) == \
        ('ACTIVE', 'NO_MONITOR')
    assert owner.show('pools/' + pool['id'], 'pool')['members'] == [{'id': member['id']}]
    owner.remove(path, shared_lb['id'])
    fault(owner.get(path), 404)
    fault(owner.delete(path), 404)


def test_members_of_a_monitored_pool_start_offline(owner, shared_lb, pool):
    owner.create('healthmonitors', 'healthmonitor', {
        'pool_id': pool['id'], 'type': 'HTTP', 'delay': 1, 'timeout': 1, 'max_retries': 1},
        shared_lb['id'])
    member = owner.create(members_of(pool), 'member', {
        'address': '198.18.4.2', 'protocol_port': 80, 'name': 'm', 'weight': 0,
        'backup': True, 'monitor_address': '198.18.4.3', 'monitor_port': 8080,
        'subnet_id': str(uuid.uuid4()).upper(), 'tags': ['a']}, shared_lb['id'])
    assert member['operating_status'] == 'OFFLINE'
    assert (member['name'], member['weight'], member['backup'], member['monitor_address'],
            member['monitor_port'], member['tags']) == \
        ('m', 0, True, '198.18.4.3', 8080, ['a'])
    assert member['subnet_id'] == member['subnet_id'].lower()


@pytest.mark.parametrize('fields', [
    {'address': None}, {'address': 'host.example'}, {'address': '198.18.4.300'},
    {'address': '169.254.169.254'}, {'protocol_port': 0}, {'protocol_port': 65536},
    {'protocol_port': None}, {'weight': -1}, {'weight': 257}, {'weight': 'heavy'},
    {'backup': 'yes please'}, {'monitor_port': 0}, {'monitor_address': 'x'},
    {'subnet_id': 'subnet'}, {'name': 'x' * 256}, {'pool_id': str(uuid.uuid4())},
    {'operating_status': 'ONLINE'},
])
def test_create_rejects_invalid_input(owner, idle_pool, fields):
    fault(post(owner, idle_pool, **fields), 400)


def test_duplicate_address_and_port_is_409_but_another_port_is_fine(owner, shared_lb, pool):
    owner.create(members_of(pool), 'member', {'address': '198.18.4.1', 'protocol_port': 80},
                 shared_lb['id'])
    assert '198.18.4.1' in fault(post(owner, pool), 409)
    owner.create(members_of(pool), 'member', {'address': '198.18.4.1', 'protocol_port': 81},
                 shared_lb['id'])


def test_unknown_pool_and_member_of_another_pool_are_404(owner, shared_lb, pool):
    fault(owner.post('pools/%s/members' % uuid.uuid4(),
                     {'member': {'address': '198.18.4.1', 'protocol_port': 80}}), 404)
    member = owner.create(members_of(pool), 'member', {'address': '198.18.4.1',
                                                       'protocol_port': 80}, shared_lb['id'])
    other = owner.create('pools', 'pool', {'loadbalancer_id': shared_lb['id'],
                                           'protocol': 'TCP', 'lb_algorithm': 'ROUND_ROBIN'},
                         shared_lb['id'])
    elsewhere = 'pools/%s/members/%s' % (other['id'], member['id'])
    for resp in (owner.get(elsewhere), owner.put(elsewhere, {'member': {'weight': 2}}),
                 owner.delete(elsewhere)):
        fault(resp, 404)
    owner.remove('pools/' + other['id'], shared_lb['id'])


def test_put_answers_200_and_null_resets(owner, shared_lb, pool):
    member = owner.create(members_of(pool), 'member', {'address': '198.18.4.1',
                                                       'protocol_port': 80}, shared_lb['id'])
    path = '%s/%s' % (members_of(pool), member['id'])
    changed = {'name': 'n', 'weight': 5, 'backup': True, 'admin_state_up': False,
               'monitor_address': '198.18.4.9', 'monitor_port': 9000, 'tags': ['t']}
    resp = owner.put(path, {'member': changed})
    assert resp.status_code == 200, resp.text
    body = resp.json()['member']
    assert body['provisioning_status'] == 'PENDING_UPDATE'
    assert {k: body[k] for k in changed} == changed
    owner.wait_lb(shared_lb['id'])
    body = owner.update(path, 'member', dict.fromkeys(changed), shared_lb['id'])
    assert {k: body[k] for k in changed} == {
        'name': '', 'weight': 1, 'backup': False, 'admin_state_up': False,
        'monitor_address': None, 'monitor_port': None, 'tags': []}
    assert owner.show(path, 'member')['provisioning_status'] == 'ACTIVE'


@pytest.mark.parametrize('fields', [
    {'address': '198.18.4.5'}, {'protocol_port': 81}, {'subnet_id': str(uuid.uuid4())},
    {'weight': 300}, {'monitor_port': 70000}, {'pool_id': str(uuid.uuid4())},
])
def test_put_rejects_what_cannot_change(owner, shared_lb, pool, fields):
    member = owner.create(members_of(pool), 'member', {'address': '198.18.4.1',
                                                       'protocol_port': 80}, shared_lb['id'])
    fault(owner.put('%s/%s' % (members_of(pool), member['id']), {'member': fields}), 400)


def batch(owner, pool, members, additive=None):
    query = '' if additive is None else '?additive_only=%s' % additive
    return owner.put(members_of(pool) + query, {'members': members})


def current(owner, pool):
    return {(m['address'], m['protocol_port']): m
            for m in owner.get(members_of(pool)).json()['members']}


def test_batch_update_creates_updates_and_deletes_by_address_and_port(owner, shared_lb, pool):
    for address in ('198.18.5.1', '198.18.5.2'):
        owner.create(members_of(pool), 'member', {'address': address, 'protocol_port': 80,
                                                  'weight': 3}, shared_lb['id'])
    before = current(owner, pool)
    resp = batch(owner, pool, [{'address': '198.18.5.2', 'protocol_port': 80, 'weight': 7},
                               {'address': '198.18.5.3', 'protocol_port': 80}])
    assert resp.status_code == 202 and resp.content == b''
    # The worker may already have removed it: pending delete, or gone.
    assert current(owner, pool).get(('198.18.5.1', 80), {}).get('provisioning_status') in (
        'PENDING_DELETE', None)
    owner.wait_lb(shared_lb['id'])
    after = current(owner, pool)
    assert set(after) == {('198.18.5.2', 80), ('198.18.5.3', 80)}
    assert after[('198.18.5.2', 80)]['id'] == before[('198.18.5.2', 80)]['id']
    assert after[('198.18.5.2', 80)]['weight'] == 7
    assert after[('198.18.5.3', 80)]['weight'] == 1
    assert {m['provisioning_status'] for m in after.values()} == {'ACTIVE'}


def test_batch_update_additive_only_keeps_the_others(owner, shared_lb, pool):
    owner.create(members_of(pool), 'member', {'address': '198.18.5.1', 'protocol_port': 80},
                 shared_lb['id'])
    resp = batch(owner, pool, [{'address': '198.18.5.4', 'protocol_port': 80}], 'true')
    assert resp.status_code == 202 and resp.content == b''
    owner.wait_lb(shared_lb['id'])
    assert set(current(owner, pool)) == {('198.18.5.1', 80), ('198.18.5.4', 80)}
    resp = batch(owner, pool, [], 'false')
    assert resp.status_code == 202
    owner.wait_lb(shared_lb['id'])
    assert current(owner, pool) == {}


def test_batch_update_that_changes_nothing_is_202(owner, shared_lb, pool):
    member = owner.create(members_of(pool), 'member', {'address': '198.18.5.1',
                                                       'protocol_port': 80}, shared_lb['id'])
    resp = batch(owner, pool, [{'address': '198.18.5.1', 'protocol_port': 80}])
    assert resp.status_code == 202 and resp.content == b''
    shown = owner.show('%s/%s' % (members_of(pool), member['id']), 'member')
    assert shown['provisioning_status'] == 'ACTIVE'
    assert owner.show('loadbalancers/' + shared_lb['id'], 'loadbalancer')[
        'provisioning_status'] == 'ACTIVE'


@pytest.mark.parametrize('body', [
    {'members': [{'address': '198.18.5.1', 'protocol_port': 80},
                 {'address': '198.18.5.1', 'protocol_port': 80, 'weight': 2}]},
    {'members': [{'address': '198.18.5.1'}]},
    {'members': [{'address': '169.254.169.254', 'protocol_port': 80}]},
    {'members': {'address': '198.18.5.1', 'protocol_port': 80}},
    {'member': []}, {}, [],
])
def test_batch_update_rejects_invalid_bodies(owner, idle_pool, body):
    fault(owner.put(members_of(idle_pool), body), 400)
    assert current(owner, idle_pool) == {}
