"""The API as users meet it in a cloud: openstacksdk and python-barbicanclient
log in to a real Keystone, find lbaas in its catalog, and keystonemiddleware
validates their tokens (with the service user's token, as deployed).

What a user checks: a project sees and changes only its own objects, a
reader reads and cannot write, a token Keystone did not issue gets 401, and
the dashboard's login (a same-origin relay to Keystone, so Keystone needs no
CORS) answers as Keystone does.
"""

import openstack
import openstack.connection
import pytest
import requests
from barbicanclient import client as barbican_client
from barbicanclient import exceptions as barbican_exceptions
from keystoneauth1 import session as ks_session
from keystoneauth1.identity import v3

from tests.functional.served import served  # noqa: F401 (fixture)
from tests.keystone.server import PASSWORD

LOCAL_V4_SUBNET = '9c3e0f7e-3f0b-4d8e-8d5b-2b6f9a4c1d01'  # as in tests/functional
WAIT = 30


def password_auth(keystone, user, project):
    return v3.Password(auth_url=keystone.url + '/v3', username=user, password=PASSWORD,
                       project_name=project, user_domain_id='default',
                       project_domain_id='default')


@pytest.fixture(scope='module')
def clouds(keystone, lbaas):
    """openstacksdk connections through the catalog, by user name."""
    made = {}

    def connect(user, project):
        if user not in made:
            made[user] = openstack.connection.Connection(session=ks_session.Session(
                auth=password_auth(keystone, user, project)), region_name='RegionOne')
        return made[user]

    yield connect
    for conn in made.values():
        conn.close()


@pytest.fixture(scope='module')
def alices_lb(clouds):
    conn = clouds('alice', 'project-a')
    lb = conn.load_balancer.create_load_balancer(name='alice-lb', vip_subnet_id=LOCAL_V4_SUBNET)
    lb = conn.load_balancer.wait_for_load_balancer(lb.id, interval=0.1, wait=WAIT)
    yield lb
    conn.load_balancer.delete_load_balancer(lb.id, cascade=True)


def test_a_member_works_through_the_catalog(clouds, alices_lb, keystone):
    conn = clouds('alice', 'project-a')
    assert alices_lb.provisioning_status == 'ACTIVE'
    assert alices_lb.project_id == keystone.callers['alice'][1]  # from the token, not the body
    listener = conn.load_balancer.create_listener(
        loadbalancer_id=alices_lb.id, protocol='HTTP', protocol_port=80, name='web')
    conn.load_balancer.wait_for_load_balancer(alices_lb.id, interval=0.1, wait=WAIT)
    assert [li.name for li in conn.load_balancer.listeners(loadbalancer_id=alices_lb.id)] == \
        ['web']
    conn.load_balancer.delete_listener(listener.id)
    conn.load_balancer.wait_for_load_balancer(alices_lb.id, interval=0.1, wait=WAIT)


def test_a_project_never_sees_another_projects_objects(clouds, alices_lb):
    bob = clouds('bob', 'project-b')
    assert alices_lb.id not in [lb.id for lb in bob.load_balancer.load_balancers()]
    # Octavia's answer for another project's object: the policy's 403.
    with pytest.raises(openstack.exceptions.ForbiddenException):
        bob.load_balancer.get_load_balancer(alices_lb.id)
    with pytest.raises(openstack.exceptions.ForbiddenException):
        bob.load_balancer.update_load_balancer(alices_lb.id, name='taken')
    assert clouds('alice', 'project-a').load_balancer.get_load_balancer(
        alices_lb.id).name == 'alice-lb'  # nothing changed


def test_a_reader_reads_and_cannot_write(clouds, alices_lb):
    rita = clouds('rita', 'project-a')
    assert rita.load_balancer.get_load_balancer(alices_lb.id).name == 'alice-lb'
    with pytest.raises(openstack.exceptions.ForbiddenException) as refused:
        rita.load_balancer.update_load_balancer(alices_lb.id, name='renamed')
    assert 'Policy does not allow this request to be performed.' in str(refused.value)
    with pytest.raises(openstack.exceptions.ForbiddenException):
        rita.load_balancer.create_load_balancer(vip_subnet_id=LOCAL_V4_SUBNET)


def test_tokens_keystone_did_not_issue_get_401(lbaas, keystone):
    url = lbaas + '/v2/lbaas/loadbalancers'
    assert requests.get(url, timeout=10).status_code == 401
    forged = requests.get(url, timeout=10, headers={
        'X-Auth-Token': 'gAAAAAforged', 'X-Project-Id': keystone.callers['alice'][1],
        'X-Roles': 'admin', 'X-Identity-Status': 'Confirmed'})
    assert forged.status_code == 401
    real = keystone.token('alice', 'project-a')
    assert requests.get(url, timeout=10, headers={'X-Auth-Token': real}).status_code == 200


def test_secrets_stay_in_their_project(keystone, lbaas):
    def key_manager(user, project):
        session = ks_session.Session(auth=password_auth(keystone, user, project))
        return barbican_client.Client(session=session, region_name='RegionOne')

    alice = key_manager('alice', 'project-a')
    ref = alice.secrets.create(name='cert', payload=b'alice bytes').store()
    assert alice.secrets.get(ref).payload == b'alice bytes'
    bob = key_manager('bob', 'project-b')
    assert ref not in [s.secret_ref for s in bob.secrets.list()]
    with pytest.raises(barbican_exceptions.HTTPClientError) as refused:
        bob.secrets.get(ref).payload  # noqa: B018 (the client fetches lazily)
    assert refused.value.status_code in (403, 404)
    alice.secrets.delete(ref)


def test_the_dashboard_logs_in_through_lbaas(lbaas, keystone):
    body = {'auth': {
        'identity': {'methods': ['password'], 'password': {'user': {
            'name': 'rita', 'password': PASSWORD, 'domain': {'name': 'Default'}}}},
        'scope': {'project': {'name': 'project-a', 'domain': {'name': 'Default'}}}}}
    resp = requests.post(lbaas + '/dashboard/auth/tokens', json=body, timeout=30)
    assert resp.status_code == 201, resp.text
    token = resp.headers['X-Subject-Token']
    assert {r['name'] for r in resp.json()['token']['roles']} >= {'reader'}
    listed = requests.get(lbaas + '/v2/lbaas/loadbalancers', timeout=10,
                          headers={'X-Auth-Token': token})
    assert listed.status_code == 200
    body['auth']['identity']['password']['user']['password'] = 'wrong'
    refused = requests.post(lbaas + '/dashboard/auth/tokens', json=body, timeout=30)
    assert refused.status_code == 401
    assert 'X-Subject-Token' not in refused.headers


def test_without_keystone_there_is_no_login_relay(served):
    resp = requests.post(served + '/dashboard/auth/tokens', json={'auth': {}}, timeout=10)
    assert resp.status_code == 404
    assert resp.json()['faultstring'] == 'This deployment logs in without Keystone.'
