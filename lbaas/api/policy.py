"""RBAC: Octavia's oslo.policy rules and the checks the API makes with them.

Rule names, check strings and defaults follow Octavia (`octavia/policies`),
so an operator's Octavia `policy.yaml` works here unchanged. Every API rule
is `os_load-balancer_api:<resource>:<action>`; the API names actions in the
short form `'<resource>:<action>'`.
"""
import threading
import time
from typing import TYPE_CHECKING, Any

from oslo_policy import opts as policy_opts
from oslo_policy import policy

from lbaas.api import policy_eval
from lbaas.config import CONF

if TYPE_CHECKING:
    from lbaas.api.auth import RequestContext

API_PREFIX = 'os_load-balancer_api:'
PROJECT_SCOPE = ['project']

# The Keystone default roles (reader, member, admin) are the new defaults;
# Octavia's older "advanced RBAC" load-balancer_* roles stay accepted as
# deprecated alternatives. Recent oslo.policy releases turn
# enforce_new_defaults on by default, which would silently drop those roles:
# Octavia deployments rely on them, so keep them until the operator opts in.
policy_opts.set_defaults(CONF, enforce_new_defaults=False)

READ = 'rule:load-balancer:read'
READ_GLOBAL = 'rule:load-balancer:read-global'
WRITE = 'rule:load-balancer:write'
ADMIN = 'rule:load-balancer:admin'
READ_QUOTA = 'rule:load-balancer:read-quota'
READ_QUOTA_GLOBAL = 'rule:load-balancer:read-quota-global'
WRITE_QUOTA = 'rule:load-balancer:write-quota'
READ_OR_SERVICE = READ + ' or rule:service'
OWNER = 'project_id:%(project_id)s'


class PolicyForbidden(Exception):
    """The caller's roles do not allow the action (the API answers 403)."""

    message = 'Policy does not allow this request to be performed.'

    def __init__(self, message: str | None = None) -> None:
        super().__init__(message or self.message)


def _deprecated(name: str, check_str: str) -> Any:
    return policy.DeprecatedRule(
        name=name, check_str=check_str, deprecated_since='W',
        deprecated_reason='The load-balancer_* roles of Octavia\'s advanced '
                          'RBAC give way to the Keystone default roles.')


def _role_rule(name: str, check_str: str, old_check_str: str | None = None,
               description: str | None = None) -> Any:
    deprecated = _deprecated(name, old_check_str) if old_check_str else None
    return policy.RuleDefault(name, check_str, description=description,
                              deprecated_rule=deprecated,
                              scope_types=PROJECT_SCOPE)


def _role_rules() -> list[Any]:
    """Who is who: roles mapped to personas, old roles ORed in."""
    return [
        _role_rule('project-member', 'role:member and ' + OWNER,
                   description='Member role in the owning project.'),
        _role_rule('project-reader', 'role:reader and ' + OWNER,
                   description='Reader role in the owning project.'),
        _role_rule('context_is_admin', 'role:admin',
                   'role:admin or role:load-balancer_admin',
                   'Decides the is_admin flag of a request context.'),
        _role_rule('load-balancer:owner', OWNER),
        # is_admin:True also covers noauth requests that send no roles.
        _role_rule('load-balancer:admin', 'is_admin:True or role:admin',
                   'is_admin:True or role:admin or role:load-balancer_admin'),
        _role_rule('service', 'role:service',
                   description='Other OpenStack services (member listing).'),
        _role_rule('load-balancer:global_observer', 'role:admin',
                   'role:load-balancer_global_observer'),
        _role_rule('load-balancer:member_and_owner', 'rule:project-member',
                   'role:load-balancer_member and rule:load-balancer:owner'),
        _role_rule('load-balancer:observer_and_owner', 'rule:project-reader',
                   'role:load-balancer_observer and rule:load-balancer:owner'),
        _role_rule('load-balancer:quota-admin', 'role:admin',
                   'role:load-balancer_quota_admin'),
    ]


def _access_rules() -> list[Any]:
    """The only rules the API rules below point at."""
    observer_member_or = ('rule:load-balancer:observer_and_owner or '
                          'rule:load-balancer:global_observer or '
                          'rule:load-balancer:member_and_owner or ')
    return [
        _role_rule('load-balancer:read', observer_member_or + ADMIN),
        _role_rule('load-balancer:read-global',
                   'rule:load-balancer:global_observer or ' + ADMIN),
        _role_rule('load-balancer:write',
                   'rule:load-balancer:member_and_owner or ' + ADMIN),
        _role_rule('load-balancer:read-quota', observer_member_or +
                   'rule:load-balancer:quota-admin or ' + ADMIN),
        _role_rule('load-balancer:read-quota-global',
                   'rule:load-balancer:global_observer or '
                   'rule:load-balancer:quota-admin or ' + ADMIN),
        _role_rule('load-balancer:write-quota',
                   'rule:load-balancer:quota-admin or ' + ADMIN),
    ]


# Check strings per action, grouped the way Octavia protects its resources.
_CRUD = ('get_all', 'post', 'get_one', 'put', 'delete')
_CHILD = {'get_all': READ, 'post': WRITE, 'get_one': READ, 'put': WRITE,
          'delete': WRITE}
_TOP_LEVEL = {**_CHILD, 'get_all-global': READ_GLOBAL}
_ADMIN_WRITES = {'get_all': READ, 'get_one': READ, 'post': ADMIN,
                 'put': ADMIN, 'delete': ADMIN}
_ADMIN_ONLY = dict.fromkeys(_CRUD, ADMIN)

# resource -> (name in descriptions, collection path, item id, actions)
_RESOURCES = {
    'loadbalancer': ('load balancer', '/v2/lbaas/loadbalancers',
                     'loadbalancer_id',
                     {**_TOP_LEVEL, 'post:vip_sg_ids': WRITE,
                      'put:vip_sg_ids': WRITE, 'get_stats': READ,
                      'get_status': READ, 'put_failover': ADMIN}),
    'listener': ('listener', '/v2/lbaas/listeners', 'listener_id',
                 {**_TOP_LEVEL, 'get_stats': READ}),
    'pool': ('pool', '/v2/lbaas/pools', 'pool_id', _TOP_LEVEL),
    # Other services (e.g. Neutron, Nova) list members with role:service.
    'member': ('member', '/v2/lbaas/pools/{pool_id}/members', 'member_id',
               {**_CHILD, 'get_all': READ_OR_SERVICE}),
    'healthmonitor': ('health monitor', '/v2/lbaas/healthmonitors',
                      'healthmonitor_id', _TOP_LEVEL),
    'l7policy': ('L7 policy', '/v2/lbaas/l7policies', 'l7policy_id',
                 _TOP_LEVEL),
    'l7rule': ('L7 rule', '/v2/lbaas/l7policies/{l7policy_id}/rules',
               'l7rule_id', _CHILD),
    'quota': ('quota', '/v2/lbaas/quotas', 'project_id',
              {'get_all': READ_QUOTA, 'get_all-global': READ_QUOTA_GLOBAL,
               'get_one': READ_QUOTA, 'get_defaults': READ_QUOTA,
               'put': WRITE_QUOTA, 'delete': WRITE_QUOTA}),
    'amphora': ('amphora', '/v2/octavia/amphorae', 'amphora_id',
                dict.fromkeys(('get_all', 'get_one', 'delete', 'get_stats',
                               'put_failover', 'put_config'), ADMIN)),
    'provider': ('provider', '/v2/lbaas/providers', 'provider',
                 {'get_all': READ}),
    'provider-flavor': ('provider flavor capability',
                        '/v2/lbaas/providers/{provider}/flavor_capabilities',
                        None, {'get_all': ADMIN}),
    'provider-availability-zone': (
        'provider availability zone capability',
        '/v2/lbaas/providers/{provider}/availability_zone_capabilities',
        None, {'get_all': ADMIN}),
    'flavor': ('flavor', '/v2.0/lbaas/flavors', 'flavor_id', _ADMIN_WRITES),
    'flavor-profile': ('flavor profile', '/v2.0/lbaas/flavorprofiles',
                       'flavorprofile_id', _ADMIN_ONLY),
    'availability-zone': ('availability zone', '/v2.0/lbaas/availabilityzones',
                          'availability_zone_name', _ADMIN_WRITES),
    'availability-zone-profile': (
        'availability zone profile', '/v2.0/lbaas/availabilityzoneprofiles',
        'availability_zone_profile_id', _ADMIN_ONLY),
}

# action -> (HTTP method, on the item rather than the collection,
#            path suffix, description template)
_ACTIONS = {
    'get_all': ('GET', False, '', 'List {names}'),
    'get_all-global': ('GET', False, '',
                       'List {names} including those owned by others'),
    'post': ('POST', False, '', 'Create {a_name}'),
    'post:vip_sg_ids': ('POST', False, '',
                        'Create {a_name} with VIP security groups'),
    'get_one': ('GET', True, '', 'Show {name} details'),
    'put': ('PUT', True, '', 'Update {a_name}'),
    'put:vip_sg_ids': ('PUT', True, '', 'Update the VIP security groups '
                                        'of {a_name}'),
    'delete': ('DELETE', True, '', 'Remove {a_name}'),
    'get_stats': ('GET', True, '/stats', 'Show {name} statistics'),
    'get_status': ('GET', True, '/status', 'Show {name} status tree'),
    'put_failover': ('PUT', True, '/failover', 'Failover {a_name}'),
    'put_config': ('PUT', True, '/config',
                   'Push a fresh agent configuration to {a_name}'),
    'get_defaults': ('GET', True, '/default',
                     'Show the default {name} of a project'),
}


def _with_article(name: str) -> str:
    return ('an ' if name[0] in 'aeiou' else 'a ') + name


def _plural(name: str) -> str:
    if name.endswith('amphora'):
        return name + 'e'
    return name[:-1] + 'ies' if name.endswith('y') else name + 's'


def _api_rule(resource: str, action: str, check_str: str) -> Any:
    name, collection, item_id, _ = _RESOURCES[resource]
    method, on_item, suffix, template = _ACTIONS[action]
    path = collection + ('/{%s}' % item_id if on_item else '') + suffix
    return policy.DocumentedRuleDefault(
        name=f'{API_PREFIX}{resource}:{action}', check_str=check_str,
        description=template.format(name=name, names=_plural(name),
                                    a_name=_with_article(name)),
        operations=[{'method': method, 'path': path}],
        scope_types=PROJECT_SCOPE)


def _api_rules() -> list[Any]:
    return [_api_rule(resource, action, check_str)
            for resource, (_, _, _, actions) in _RESOURCES.items()
            for action, check_str in actions.items()]


def list_rules() -> list[Any]:
    """Every registered default (entry point for oslopolicy-* tools)."""
    return _role_rules() + _access_rules() + _api_rules()


# How often checks look at the policy file again. oslo.policy's own
# enforce() re-stats it on every call, which costs more than the check.
RELOAD_INTERVAL = 5.0

_enforcer: Any = None
_next_reload = 0.0


_enforcer_lock = threading.Lock()


def get_enforcer() -> Any:
    """The process-wide Enforcer, built on first use, rules kept loaded."""
    global _enforcer, _next_reload
    now = time.monotonic()
    if _enforcer is None or now >= _next_reload:
        # One thread builds or reloads while the others wait: a half-loaded
        # enforcer denies everything.
        with _enforcer_lock:
            if _enforcer is None:
                enforcer = policy.Enforcer(CONF)
                enforcer.register_defaults(list_rules())
                # The deprecated roles are ORed in on purpose (see above); one
                # warning per rule at every start would only be noise.
                enforcer.suppress_default_change_warnings = True
                enforcer.load_rules()
                _enforcer = enforcer
                _next_reload = now + RELOAD_INTERVAL
            elif now >= _next_reload:
                # Picks up an edited or new policy file; cheap when nothing changed.
                _enforcer.load_rules()
                policy_eval.RESULTS.clear()  # answers never outlive the rules they came from
                _next_reload = now + RELOAD_INTERVAL
    return _enforcer


def reset() -> None:
    """Forget the Enforcer so the next check re-reads [oslo_policy]."""
    global _enforcer
    _enforcer = None
    policy_eval.RESULTS.clear()


def enforcer_for_tools() -> Any:
    """Entry point `oslo.policy.enforcer` (oslopolicy-checker and friends),
    which run without lbaas's command line having parsed CONF."""
    from lbaas import config
    config.load()
    return get_enforcer()


def _token_scope(creds: dict[str, Any]) -> str:
    if creds.get('system_scope'):
        return 'system'
    if creds.get('domain_id'):
        return 'domain'
    return 'project'


def _check(rule_name: str, target: dict[str, Any], creds: dict[str, Any]) -> bool:
    """The answer of `rule_name`, remembered until the rules are reloaded
    when it depends on nothing but `target` and `creds`."""
    enforcer = get_enforcer()  # first: a reload due clears the answers
    key = (rule_name, policy_eval.frozen(target), policy_eval.frozen(creds))
    known = policy_eval.RESULTS.get(key)
    if known is not None:
        return known
    answer = _decide(enforcer, rule_name, target, creds)
    check = enforcer.rules.get(rule_name)
    if check is not None and policy_eval.pure(check, enforcer):
        policy_eval.remember(key, answer)
    return answer


def _decide(enforcer: Any, rule_name: str, target: dict[str, Any],
            creds: dict[str, Any]) -> bool:
    default = enforcer.registered_rules.get(rule_name)
    # A rule the code never registered is a bug in the caller, not a denial.
    if default is None:
        raise policy.PolicyNotRegistered(rule_name)
    # Every rule is project-scoped: system and domain tokens are refused.
    if default.scope_types and _token_scope(creds) not in default.scope_types:
        return False
    if creds.get('system_scope'):
        creds['system'] = creds['system_scope']  # as oslo's enforce() does
    try:
        check = enforcer.rules[rule_name]
    except KeyError:
        return False
    return policy_eval.evaluate(check, target, creds, enforcer, rule_name)


def is_admin(creds: dict[str, Any]) -> bool:
    """Whether credentials pass `context_is_admin` (sets context.is_admin)."""
    return _check('context_is_admin', creds, creds)


def allowed(context: 'RequestContext', action: str, project_id: str | None = None) -> bool:
    """Whether `context` may do `action` ('loadbalancer:get_one') on
    resources of `project_id` (default: the caller's own project)."""
    target = {'project_id': project_id or context.project_id}
    return _check(API_PREFIX + action, target, context.to_policy_creds())


def authorize(context: 'RequestContext', action: str,
              project_id: str | None = None) -> None:
    """Like allowed(), but raise PolicyForbidden when denied."""
    if not allowed(context, action, project_id):
        raise PolicyForbidden()
