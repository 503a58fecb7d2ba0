"""Request contexts (noauth and keystone) and the auth_token wrapper."""
import json

import pytest
import webob

from lbaas.api import auth, policy
from lbaas.config import CONF

pytestmark = pytest.mark.usefixtures('hermetic_policy')


def headers(**values):
    """WSGI environ keys for request headers: X_Roles='a' -> HTTP_X_ROLES."""
    return {'HTTP_' + name.upper(): value for name, value in values.items()}


# noauth

def test_noauth_without_headers_is_admin_of_default_project():
    context = auth.context_from_environ({})
    assert context.is_admin is True
    assert context.roles == []
    assert context.project_id == CONF.api_settings.default_project_id
    assert context.user_id is None
    assert policy.allowed(context, 'amphora:get_all')
    assert policy.allowed(context, 'loadbalancer:get_one', 'any-project')


def test_noauth_default_project_follows_config():
    CONF.set_override('default_project_id', 'p-default', 'api_settings')
    assert auth.context_from_environ({}).project_id == 'p-default'


def test_noauth_project_and_user_from_headers():
    context = auth.context_from_environ(
        headers(X_Project_Id='p-1', X_User_Id='u-1'))
    assert (context.project_id, context.user_id) == ('p-1', 'u-1')
    assert context.is_admin is True


def test_noauth_roles_are_honoured_exactly():
    context = auth.context_from_environ(
        headers(X_Project_Id='p-1', X_Roles=' member , reader,'))
    assert context.roles == ['member', 'reader']
    assert context.is_admin is False
    assert policy.allowed(context, 'pool:post')
    assert not policy.allowed(context, 'pool:post', 'p-2')
    assert not policy.allowed(context, 'amphora:get_all')


def test_noauth_reader_cannot_write():
    context = auth.context_from_environ(
        headers(X_Project_Id='p-1', X_Roles='reader'))
    assert policy.allowed(context, 'listener:get_one')
    assert not policy.allowed(context, 'listener:put')


def test_noauth_observer_role_reads_own_project():
    context = auth.context_from_environ(
        headers(X_Project_Id='p-1', X_Roles='load-balancer_observer'))
    assert policy.allowed(context, 'loadbalancer:get_all')
    assert not policy.allowed(context, 'loadbalancer:get_all-global')


def test_noauth_empty_roles_header_grants_nothing():
    context = auth.context_from_environ(headers(X_Roles=''))
    assert context.roles == [] and context.is_admin is False
    assert not policy.allowed(context, 'loadbalancer:get_all')


@pytest.mark.parametrize('roles,admin', [
    ('admin', True), ('load-balancer_admin', True), ('member', False)])
def test_noauth_is_admin_follows_context_is_admin(roles, admin):
    context = auth.context_from_environ(headers(X_Roles=roles))
    assert context.is_admin is admin


def test_noauth_deprecated_admin_role_refused_with_new_defaults():
    CONF.set_override('enforce_new_defaults', True, 'oslo_policy')
    context = auth.context_from_environ(headers(X_Roles='load-balancer_admin'))
    assert context.is_admin is False
    assert not policy.allowed(context, 'amphora:get_all')


def test_request_id_comes_from_request_id_middleware():
    environ = {'openstack.request_id': 'req-given'}
    assert auth.context_from_environ(environ).request_id == 'req-given'
    assert auth.context_from_environ({}).request_id.startswith('req-')


def test_policy_creds():
    context = auth.context_from_environ(
        headers(X_Project_Id='p-1', X_User_Id='u-1', X_Roles='member'))
    creds = context.to_policy_creds()
    assert creds['project_id'] == 'p-1' and creds['user_id'] == 'u-1'
    assert creds['roles'] == ['member'] and creds['is_admin'] is False


# keystone

def keystone_environ(**extra):
    return headers(X_Identity_Status='Confirmed', X_Project_Id='p-1',
                   X_User_Id='u-1', X_Roles='member,reader',
                   X_Auth_Token='secret', **extra)


@pytest.fixture
def keystone():
    CONF.set_override('auth_strategy', 'keystone', 'api_settings')


def test_keystone_context_from_token_headers(keystone):
    context = auth.context_from_environ(keystone_environ())
    assert (context.project_id, context.user_id) == ('p-1', 'u-1')
    assert context.roles == ['member', 'reader'] and not context.is_admin
    assert context.auth_token == 'secret'
    assert 'secret' not in repr(context)
    assert policy.allowed(context, 'loadbalancer:post')


def test_keystone_admin_token(keystone):
    environ = keystone_environ()
    environ['HTTP_X_ROLES'] = 'admin,member,reader'
    assert auth.context_from_environ(environ).is_admin is True


def test_keystone_does_not_fall_back_to_default_project(keystone):
    environ = keystone_environ()
    del environ['HTTP_X_PROJECT_ID']
    assert auth.context_from_environ(environ).project_id is None


@pytest.mark.parametrize('status', [None, 'Invalid'])
def test_keystone_unconfirmed_identity_is_not_authenticated(keystone, status):
    environ = keystone_environ()
    environ.pop('HTTP_X_IDENTITY_STATUS')
    if status:
        environ['HTTP_X_IDENTITY_STATUS'] = status
    with pytest.raises(auth.NotAuthenticated):
        auth.context_from_environ(environ)


def test_keystone_system_scoped_token_is_refused(keystone):
    environ = keystone_environ(OpenStack_System_Scope='all')
    environ['HTTP_X_ROLES'] = 'admin'
    context = auth.context_from_environ(environ)
    assert not policy.allowed(context, 'loadbalancer:get_all')


# auth_token wrapper

def echo_app(environ, start_response):
    """Answers with the identity headers it was given."""
    seen = {key: value for key, value in environ.items()
            if key.startswith('HTTP_X_')}
    start_response('200 OK', [('Content-Type', 'application/json')])
    return [json.dumps(seen).encode()]


@pytest.fixture
def wrapped():
    return auth.wrap_keystone(echo_app, {
        # No Keystone is contacted: requests below carry no token, and the
        # 401's WWW-Authenticate needs no discovery when this is set.
        'www_authenticate_uri': 'http://keystone.test/identity',
        'service_token_roles_required': 'true',
    })


@pytest.mark.parametrize('path', ['/', '/healthcheck',
                                  '/load-balancer/healthcheck'])
def test_wrapper_serves_discovery_and_healthcheck_without_token(wrapped, path):
    request = webob.Request.blank(path, headers={'X-Roles': 'admin',
                                                 'X-Identity-Status':
                                                 'Confirmed'})
    response = request.get_response(wrapped)
    assert response.status_int == 200
    # Identity headers a client forges never reach the app.
    assert 'HTTP_X_ROLES' not in response.json
    assert 'HTTP_X_IDENTITY_STATUS' not in response.json


@pytest.mark.parametrize('path', ['/v2', '/v2/lbaas/loadbalancers',
                                  '/healthcheck/extra'])
def test_wrapper_requires_token_elsewhere(wrapped, path):
    request = webob.Request.blank(path, headers={'X-Roles': 'admin'})
    response = request.get_response(wrapped)
    assert response.status_int == 401
    assert response.headers['WWW-Authenticate'] == (
        'Keystone uri="http://keystone.test/identity"')


def test_wrapper_reads_keystone_authtoken_section(wrapped):
    # auth_token registered its options in [keystone_authtoken] of our CONF.
    CONF.set_override('delay_auth_decision', True, 'keystone_authtoken')
    lenient = auth.wrap_keystone(echo_app, {
        'www_authenticate_uri': 'http://keystone.test/identity'})
    response = webob.Request.blank('/v2/lbaas/pools').get_response(lenient)
    assert response.status_int == 200
    assert response.json['HTTP_X_IDENTITY_STATUS'] == 'Invalid'
    CONF.set_override('auth_strategy', 'keystone', 'api_settings')
    with pytest.raises(auth.NotAuthenticated):
        auth.context_from_environ({'HTTP_X_IDENTITY_STATUS': 'Invalid'})
