"""The request context takes the id the API logs the request under (one
uuid4 a request, not two), unless oslo.middleware's RequestId chose one."""
import pytest

from lbaas.api import auth
from lbaas.config import CONF

pytestmark = pytest.mark.usefixtures('hermetic_policy')


@pytest.mark.parametrize('environ', [{}, {'HTTP_X_ROLES': 'member', 'HTTP_X_PROJECT_ID': 'p'}])
def test_noauth_context_takes_the_given_request_id(environ):
    assert auth.context_from_environ(environ, 'req-logged').request_id == 'req-logged'


def test_request_id_middleware_still_wins():
    environ = {'openstack.request_id': 'req-middleware'}
    assert auth.context_from_environ(environ, 'req-logged').request_id == 'req-middleware'


def test_keystone_context_takes_the_given_request_id():
    CONF.set_override('auth_strategy', 'keystone', 'api_settings')
    environ = {'HTTP_X_IDENTITY_STATUS': 'Confirmed', 'HTTP_X_PROJECT_ID': 'p',
               'HTTP_X_ROLES': 'reader'}
    assert auth.context_from_environ(environ, 'req-logged').request_id == 'req-logged'
