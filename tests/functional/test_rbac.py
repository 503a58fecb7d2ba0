"""RBAC basics over HTTP (reference 3): readers read, members of the owning
project write, other projects neither see nor touch, admins see all."""
import uuid

import pytest

from tests.functional.conftest import build_tree, fault, new_admin, new_member


@pytest.fixture(scope='module')
def tree(owner, shared_lb):
    lb_id = shared_lb['id']
    made = build_tree(owner, lb_id, '198.18.8.1', monitor=True, rule_value='/')
    listener, pool, member, hm, policy, rule = (made[k] for k in (
        'listener', 'pool', 'member', 'healthmonitor', 'policy', 'rule'))
    return [
        ('loadbalancers/' + lb_id, 'loadbalancer'),
        ('loadbalancers/%s/status' % lb_id, 'statuses'),
        ('loadbalancers/%s/stats' % lb_id, 'stats'),
        ('listeners/' + listener['id'], 'listener'),
        ('listeners/%s/stats' % listener['id'], 'stats'),
        ('pools/' + pool['id'], 'pool'),
        ('pools/%s/members' % pool['id'], 'members'),
        ('pools/%s/members/%s' % (pool['id'], member['id']), 'member'),
        ('healthmonitors/' + hm['id'], 'healthmonitor'),
        ('l7policies/' + policy['id'], 'l7policy'),
        ('l7policies/%s/rules' % policy['id'], 'rules'),
        ('l7policies/%s/rules/%s' % (policy['id'], rule['id']), 'rule'),
    ]


def writes(tree):
    """A valid write per object: (method, path, body)."""
    return [('put', path, {key: {'invert': False} if key == 'rule' else {'name': 'x'}})
            for path, key in tree if key in ('loadbalancer', 'listener', 'pool', 'member',
                                             'healthmonitor', 'l7policy', 'rule')] + \
        [('delete', path, None) for path, key in tree if key == 'listener']


@pytest.mark.parametrize('roles', ['reader', 'member', 'admin', None,
                                   'load-balancer_observer', 'load-balancer_member'])
def test_readers_members_and_admins_may_read(service, owner, tree, roles):
    caller = new_member(service, roles) if roles else new_admin(service)
    if roles and 'admin' not in roles:
        caller.session.headers['X-Project-Id'] = owner.project_id
    for path, key in tree:
        resp = caller.get(path)
        assert resp.status_code == 200, (path, resp.text)
        assert key in resp.json()


@pytest.mark.parametrize('roles', ['reader', 'load-balancer_observer', 'service', ''])
def test_only_members_and_admins_may_write(service, owner, shared_lb, tree, roles):
    caller = new_member(service, roles)
    caller.session.headers['X-Project-Id'] = owner.project_id
    for method, path, body in writes(tree):
        assert fault(caller.request(method, path, body), 403) == \
            'Policy does not allow this request to be performed.', path
    fault(caller.post('listeners', {'listener': {
        'loadbalancer_id': shared_lb['id'], 'protocol': 'TCP', 'protocol_port': 1}}), 403)
    fault(caller.post('loadbalancers', {'loadbalancer': {
        'vip_subnet_id': shared_lb['vip_subnet_id']}}), 403)


def test_another_project_neither_sees_nor_touches(service, owner, tree):
    stranger = new_member(service)
    for path, _ in tree:
        assert stranger.get(path).status_code in (403, 404), path
    for method, path, body in writes(tree):
        assert stranger.request(method, path, body).status_code in (403, 404), path
    lb_id = tree[0][0].split('/')[1]
    fault(stranger.post('listeners', {'listener': {
        'loadbalancer_id': lb_id, 'protocol': 'TCP', 'protocol_port': 1}}), 403)
    fault(stranger.post('loadbalancers', {'loadbalancer': {
        'vip_subnet_id': str(uuid.uuid4()), 'project_id': owner.project_id}}), 403)
    for collection in ('loadbalancers', 'listeners', 'pools', 'healthmonitors',
                       'l7policies'):
        assert stranger.get(collection).json()[collection] == [], collection
    stranger_admin_role = new_member(service, 'admin')
    assert stranger_admin_role.get(tree[0][0]).status_code == 200


def test_members_write_and_admins_write_anywhere(service, owner, shared_lb, tree):
    path = 'loadbalancers/' + shared_lb['id']
    owner.update(path, 'loadbalancer', {'description': 'by owner'}, shared_lb['id'])
    legacy = new_member(service, 'load-balancer_member')
    legacy.session.headers['X-Project-Id'] = owner.project_id
    legacy.update(path, 'loadbalancer', {'description': 'by legacy role'}, shared_lb['id'])
    admin = new_admin(service)
    body = admin.update(path, 'loadbalancer', {'description': None}, shared_lb['id'])
    assert body['description'] == ''
    listed = admin.get('loadbalancers?project_id=' + owner.project_id).json()
    assert [lb['id'] for lb in listed['loadbalancers']] == [shared_lb['id']]
