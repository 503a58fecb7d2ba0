"""Remembered policy answers: same answers, and none outlives the rules."""
import pytest

from lbaas.api import policy, policy_eval
from lbaas.api.auth import RequestContext

pytestmark = pytest.mark.usefixtures('hermetic_policy')


def context(roles, project_id='p-own'):
    return RequestContext(project_id=project_id, user_id='u-1', roles=list(roles),
                          is_admin=False, request_id='req-1')


def test_answers_are_remembered_per_caller_and_target():
    member = context(['member'])
    assert policy.allowed(member, 'pool:post')
    assert not policy.allowed(member, 'pool:post', 'p-other')
    assert not policy.allowed(context(['reader']), 'pool:post')
    assert policy.allowed(member, 'pool:post')  # from RESULTS now
    assert ('os_load-balancer_api:pool:post',
            (('project_id', 'p-own'),),
            policy_eval.frozen(member.to_policy_creds())) in policy_eval.RESULTS


def test_an_edited_policy_file_wins_at_the_next_reload(tmp_path):
    member = context(['member'])
    assert policy.allowed(member, 'loadbalancer:get_one')
    path = tmp_path / 'policy.yaml'
    path.write_text('"os_load-balancer_api:loadbalancer:get_one": "!"\n')
    policy._next_reload = 0.0  # the reload interval has passed
    assert not policy.allowed(member, 'loadbalancer:get_one')


def test_checks_that_may_look_elsewhere_are_not_remembered(tmp_path):
    path = tmp_path / 'policy.yaml'
    path.write_text('"os_load-balancer_api:loadbalancer:get_one": '
                    '"http://127.0.0.1:9/never"\n')
    policy.reset()
    enforcer = policy.get_enforcer()
    assert not policy_eval.pure(enforcer.rules['os_load-balancer_api:loadbalancer:get_one'],
                                enforcer)
    assert policy_eval.pure(enforcer.rules['os_load-balancer_api:pool:get_one'], enforcer)
