"""RBAC rules: who may do what, with default and enforced-new roles."""
import pytest
from oslo_policy import policy as oslo_policy

from lbaas.api import policy
from lbaas.api.auth import RequestContext
from lbaas.config import CONF

OWN, OTHER = 'p-own', 'p-other'


pytestmark = pytest.mark.usefixtures('hermetic_policy')


def make_context(roles, project_id=OWN, is_admin=None, **scope):
    context = RequestContext(project_id=project_id, user_id='u-1',
                             roles=list(roles), is_admin=False,
                             request_id='req-1', **scope)
    context.is_admin = (policy.is_admin(context.to_policy_creds())
                        if is_admin is None else is_admin)
    return context


# Persona -> (roles, caller's project). Keystone expands implied roles into
# tokens, so a member also holds reader and an admin also member and reader.
PERSONAS = {
    'reader': (['reader'], OWN),
    'member': (['member', 'reader'], OWN),
    'member_other_project': (['member', 'reader'], 'p-third'),
    'admin': (['admin', 'member', 'reader'], OWN),
    'lb_member': (['load-balancer_member'], OWN),
    'lb_observer': (['load-balancer_observer'], OWN),
    'lb_global_observer': (['load-balancer_global_observer'], OWN),
    'lb_quota_admin': (['load-balancer_quota_admin'], OWN),
    'lb_admin': (['load-balancer_admin'], OWN),
    'service': (['service'], OWN),
    'no_roles': ([], OWN),
}
DEPRECATED = {'lb_member', 'lb_observer', 'lb_global_observer',
              'lb_quota_admin', 'lb_admin'}

# Capability -> representative (action, target project) of every resource.
CAPABILITIES = {
    'read_own': [
        ('loadbalancer:get_one', OWN), ('loadbalancer:get_all', OWN),
        ('loadbalancer:get_stats', OWN), ('loadbalancer:get_status', OWN),
        ('listener:get_stats', OWN), ('pool:get_all', OWN),
        ('member:get_one', OWN), ('healthmonitor:get_one', OWN),
        ('l7policy:get_all', OWN), ('l7rule:get_one', OWN),
        ('flavor:get_all', OWN), ('availability-zone:get_one', OWN),
        ('provider:get_all', OWN)],
    'read_other': [('loadbalancer:get_one', OTHER), ('pool:get_one', OTHER),
                   ('l7rule:get_all', OTHER)],
    'write_own': [
        ('loadbalancer:post', OWN), ('loadbalancer:post:vip_sg_ids', OWN),
        ('loadbalancer:put:vip_sg_ids', OWN), ('loadbalancer:delete', OWN),
        ('listener:put', OWN), ('pool:post', OWN), ('member:delete', OWN),
        ('healthmonitor:put', OWN), ('l7policy:post', OWN),
        ('l7rule:put', OWN)],
    'write_other': [('loadbalancer:put', OTHER), ('member:post', OTHER)],
    'list_global': [('loadbalancer:get_all-global', OWN),
                    ('listener:get_all-global', OWN),
                    ('pool:get_all-global', OWN),
                    ('healthmonitor:get_all-global', OWN),
                    ('l7policy:get_all-global', OWN)],
    'admin_only': [
        ('loadbalancer:put_failover', OWN), ('amphora:get_all', OWN),
        ('amphora:get_one', OWN), ('amphora:delete', OWN),
        ('amphora:put_failover', OWN), ('amphora:put_config', OWN),
        ('amphora:get_stats', OWN), ('flavor:post', OWN),
        ('flavor:delete', OWN), ('flavor-profile:get_all', OWN),
        ('flavor-profile:post', OWN), ('availability-zone:put', OWN),
        ('availability-zone-profile:get_one', OWN),
        ('provider-flavor:get_all', OWN),
        ('provider-availability-zone:get_all', OWN)],
    'quota_read_own': [('quota:get_one', OWN), ('quota:get_all', OWN),
                       ('quota:get_defaults', OWN)],
    'quota_read_other': [('quota:get_one', OTHER)],
    'quota_list_global': [('quota:get_all-global', OWN)],
    'quota_write': [('quota:put', OWN), ('quota:delete', OTHER)],
    'member_list_any': [('member:get_all', OWN), ('member:get_all', OTHER)],
}
ALL = set(CAPABILITIES)
READER = {'read_own', 'quota_read_own'}
MEMBER = READER | {'write_own'}
GLOBAL_OBSERVER = {'read_own', 'read_other', 'list_global', 'quota_read_own',
                   'quota_read_other', 'quota_list_global'}
QUOTA_ADMIN = {'quota_read_own', 'quota_read_other', 'quota_list_global',
               'quota_write'}
EXPECTED = {
    'reader': READER,
    'member': MEMBER,
    'member_other_project': set(),
    'admin': ALL,
    'lb_member': MEMBER,
    'lb_observer': READER,
    'lb_global_observer': GLOBAL_OBSERVER,
    'lb_quota_admin': QUOTA_ADMIN,
    'lb_admin': ALL,
    'service': {'member_list_any'},
    'no_roles': set(),
}


def expected_for(persona, capability, action, target):
    if action == 'member:get_all':
        # Listing members is a read, and also a right of any service.
        read = 'read_own' if target == OWN else 'read_other'
        return ('member_list_any' in EXPECTED[persona]
                or read in EXPECTED[persona])
    return capability in EXPECTED[persona]


CASES = [(persona, capability, action, target)
         for persona in PERSONAS for capability, checks in CAPABILITIES.items()
         for action, target in checks]


def _assert_case(persona, capability, action, target, want):
    roles, project_id = PERSONAS[persona]
    context = make_context(roles, project_id)
    got = policy.allowed(context, action, target)
    assert got is want, (persona, capability, action, target)


@pytest.mark.parametrize('persona', PERSONAS)
def test_role_matrix_with_deprecated_roles_accepted(persona):
    for _, capability, action, target in (c for c in CASES if c[0] == persona):
        want = expected_for(persona, capability, action, target)
        _assert_case(persona, capability, action, target, want)


@pytest.mark.parametrize('persona', PERSONAS)
def test_role_matrix_with_new_defaults_enforced(persona):
    CONF.set_override('enforce_new_defaults', True, 'oslo_policy')
    policy.reset()
    for _, capability, action, target in (c for c in CASES if c[0] == persona):
        want = (persona not in DEPRECATED
                and expected_for(persona, capability, action, target))
        _assert_case(persona, capability, action, target, want)


def test_noauth_admin_without_roles_may_do_everything():
    context = make_context([], is_admin=True)
    for _, _, action, target in CASES:
        assert policy.allowed(context, action, target), action


@pytest.mark.parametrize('roles,admin', [
    (['admin'], True), (['load-balancer_admin'], True),
    (['member', 'reader'], False), (['load-balancer_global_observer'], False),
])
def test_context_is_admin(roles, admin):
    assert policy.is_admin(make_context(roles).to_policy_creds()) is admin


def test_load_balancer_admin_role_is_no_admin_with_new_defaults():
    CONF.set_override('enforce_new_defaults', True, 'oslo_policy')
    policy.reset()
    assert not policy.is_admin(
        make_context(['load-balancer_admin']).to_policy_creds())


def test_target_defaults_to_callers_project():
    member = make_context(['member'])
    assert policy.allowed(member, 'pool:post')
    assert policy.allowed(member, 'pool:post', None)


def test_system_and_domain_scoped_tokens_are_refused():
    for scope in ({'system_scope': 'all'}, {'domain_id': 'd-1'}):
        context = make_context(['admin', 'member', 'reader'], is_admin=True,
                               **scope)
        assert not policy.allowed(context, 'loadbalancer:get_one')


def test_authorize_raises_policy_forbidden():
    reader = make_context(['reader'])
    policy.authorize(reader, 'listener:get_one')
    with pytest.raises(policy.PolicyForbidden) as caught:
        policy.authorize(reader, 'listener:post')
    assert str(caught.value) == (
        'Policy does not allow this request to be performed.')


def test_unknown_action_is_a_bug_not_a_denial():
    with pytest.raises(oslo_policy.PolicyNotRegistered):
        policy.allowed(make_context(['admin']), 'loadbalancer:frobnicate')


def test_policy_file_overrides_rules(tmp_path):
    policy_file = tmp_path / 'override.yaml'
    policy_file.write_text(
        '"os_load-balancer_api:loadbalancer:get_one": "!"\n'
        '"load-balancer:write": "role:lb_writer and '
        'rule:load-balancer:owner"\n')
    CONF.set_override('policy_file', str(policy_file), 'oslo_policy')
    policy.reset()
    admin = make_context(['admin'])
    assert not policy.allowed(admin, 'loadbalancer:get_one')
    assert policy.allowed(admin, 'loadbalancer:get_all')
    assert not policy.allowed(make_context(['member']), 'pool:post')
    writer = make_context(['lb_writer'])
    assert policy.allowed(writer, 'pool:post')
    assert not policy.allowed(writer, 'pool:post', OTHER)


def test_own_walk_matches_oslo_enforce():
    """allowed() skips oslo's slow tree walk; it must agree with it."""
    enforcer = policy.get_enforcer()
    api_rules = [name for name in enforcer.registered_rules
                 if name.startswith(policy.API_PREFIX)]
    for roles, project_id in PERSONAS.values():
        context = make_context(roles, project_id)
        for name in api_rules:
            action = name[len(policy.API_PREFIX):]
            for target in (OWN, OTHER):
                oslo_says = enforcer.enforce(
                    name, {'project_id': target}, context.to_policy_creds())
                assert policy.allowed(context, action, target) is bool(
                    oslo_says), (roles, name, target)


RESOURCE_ACTIONS = {
    'loadbalancer': ['get_all', 'get_all-global', 'post', 'post:vip_sg_ids',
                     'get_one', 'put', 'put:vip_sg_ids', 'delete',
                     'get_stats', 'get_status', 'put_failover'],
    'listener': ['get_all', 'get_all-global', 'post', 'get_one', 'put',
                 'delete', 'get_stats'],
    'pool': ['get_all', 'get_all-global', 'post', 'get_one', 'put', 'delete'],
    'member': ['get_all', 'post', 'get_one', 'put', 'delete'],
    'healthmonitor': ['get_all', 'get_all-global', 'post', 'get_one', 'put',
                      'delete'],
    'l7policy': ['get_all', 'get_all-global', 'post', 'get_one', 'put',
                 'delete'],
    'l7rule': ['get_all', 'post', 'get_one', 'put', 'delete'],
    'quota': ['get_all', 'get_all-global', 'get_one', 'put', 'delete',
              'get_defaults'],
    'amphora': ['get_all', 'get_one', 'delete', 'put_failover', 'put_config',
                'get_stats'],
    'provider': ['get_all'],
    'provider-flavor': ['get_all'],
    'provider-availability-zone': ['get_all'],
    'flavor': ['get_all', 'get_one', 'post', 'put', 'delete'],
    'flavor-profile': ['get_all', 'get_one', 'post', 'put', 'delete'],
    'availability-zone': ['get_all', 'get_one', 'post', 'put', 'delete'],
    'availability-zone-profile': ['get_all', 'get_one', 'post', 'put',
                                  'delete'],
}
BASE_RULES = {
    'context_is_admin', 'load-balancer:owner', 'load-balancer:admin',
    'load-balancer:observer_and_owner', 'load-balancer:global_observer',
    'load-balancer:member_and_owner', 'load-balancer:quota-admin',
    'load-balancer:read', 'load-balancer:read-global', 'load-balancer:write',
    'load-balancer:read-quota', 'load-balancer:read-quota-global',
    'load-balancer:write-quota', 'service', 'project-member',
    'project-reader',
}


def test_list_rules_registers_exactly_octavias_rules():
    names = [rule.name for rule in policy.list_rules()]
    assert len(names) == len(set(names))
    api = {f'{policy.API_PREFIX}{resource}:{action}'
           for resource, actions in RESOURCE_ACTIONS.items()
           for action in actions}
    assert set(names) == BASE_RULES | api
    assert all(rule.scope_types == ['project']
               for rule in policy.list_rules())


def test_member_listing_is_read_or_service():
    rules = {rule.name: rule for rule in policy.list_rules()}
    member_list = rules[policy.API_PREFIX + 'member:get_all']
    assert member_list.check_str == 'rule:load-balancer:read or rule:service'
    assert member_list.operations == [
        {'method': 'GET', 'path': '/v2/lbaas/pools/{pool_id}/members'}]
