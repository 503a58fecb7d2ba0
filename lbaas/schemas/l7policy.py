"""L7 policy request bodies and Octavia's redirect sanitising (reference 1.7)."""
from typing import Annotated, Any, Self
from urllib.parse import urlsplit

from pydantic import AfterValidator, model_validator

from lbaas.schemas import common as c
from lbaas.schemas.common import (
    InvalidL7PolicyAction,
    InvalidL7PolicyArgs,
    ProjectScoped,
    RequestModel,
    ValidationFailure,
)
from lbaas.schemas.l7rule import GraphL7Rule
from lbaas.schemas.pool import GraphPool

# What PUT null means, per field (fields not listed: null clears the value).
# A null position moves the policy to the end of the list.
UPDATE_NULL_DEFAULTS = {'position': c.MAX_POLICY_POSITION, 'tags': []}

_POOL_TARGETS = ('redirect_pool_id', 'redirect_pool')


def check_redirect_url(value: str) -> str:
    """An absolute http(s) URL with a host and no blanks."""
    try:
        parts = urlsplit(value)
        valid = (parts.scheme in ('http', 'https') and bool(parts.hostname)
                 and value.isprintable() and not any(ch.isspace() for ch in value))
        parts.port  # noqa: B018 -- raises ValueError on a bad port
    except ValueError:
        valid = False
    if not valid:
        raise ValueError('Value must be a valid URL string')
    return value


RedirectUrl = Annotated[str, AfterValidator(check_redirect_url)]
Position = Annotated[int, *c.int_bounds(c.MIN_POLICY_POSITION, c.MAX_POLICY_POSITION)]
Action = c.L7PolicyAction


def _apply_explicit_action(policy: dict[str, Any]) -> None:
    """An explicit action clears the redirect targets it does not use."""
    action = policy['action']
    if action == 'REJECT':
        policy.update(redirect_url=None, redirect_pool_id=None)
        policy.pop('redirect_pool', None)
    elif action == 'REDIRECT_TO_URL':
        if not policy.get('redirect_url'):
            raise InvalidL7PolicyArgs('redirect_url must not be None')
        policy['redirect_pool_id'] = None
        policy.pop('redirect_pool', None)
    elif action == 'REDIRECT_TO_POOL':
        if not any(policy.get(t) for t in _POOL_TARGETS):
            raise InvalidL7PolicyArgs('redirect_pool_id or redirect_pool must not be None')
        policy['redirect_url'] = None
    elif action == 'REDIRECT_PREFIX':
        if not policy.get('redirect_prefix'):
            raise InvalidL7PolicyArgs('redirect_prefix must not be None')
    else:
        raise InvalidL7PolicyAction(action)


def _follow_redirect_target(policy: dict[str, Any]) -> None:
    """A given redirect target forces its action and nulls the others."""
    if policy.get('redirect_pool_id'):
        policy.pop('redirect_pool', None)  # an id wins over an inline pool
    elif policy.get('redirect_pool'):
        policy.pop('redirect_pool_id', None)
    if policy.get('redirect_pool_id') or policy.get('redirect_pool'):
        policy.update(action='REDIRECT_TO_POOL', redirect_url=None, redirect_prefix=None,
                      redirect_http_code=None)
    for target, action, other in (('redirect_url', 'REDIRECT_TO_URL', 'redirect_prefix'),
                                  ('redirect_prefix', 'REDIRECT_PREFIX', 'redirect_url')):
        if policy.get(target):
            policy.update({'action': action, 'redirect_pool_id': None, other: None})
            policy.pop('redirect_pool', None)
            if not policy.get('redirect_http_code'):
                policy['redirect_http_code'] = c.DEFAULT_REDIRECT_HTTP_CODE


def sanitize_l7policy(policy: dict[str, Any], create: bool) -> dict[str, Any]:
    """Octavia's sanitize_l7policy_api_args on the attributes a client sent
    (on create: every attribute, unset ones as None). Returns a new dict; a
    key missing from it afterwards was dropped (not cleared)."""
    policy = dict(policy)
    if 'action' in policy:
        _apply_explicit_action(policy)
    if (any(policy.get(t) for t in _POOL_TARGETS)
            and (policy.get('redirect_url') or policy.get('redirect_prefix'))):
        raise InvalidL7PolicyArgs('Cannot specify redirect_pool_id and redirect_url or '
                                  'redirect_prefix at the same time')
    _follow_redirect_target(policy)
    if create and 'action' not in policy:
        raise InvalidL7PolicyAction('None')
    if not policy:
        raise InvalidL7PolicyArgs('Invalid update options')
    return policy


class L7PolicyFields(RequestModel):
    """Optional fields shared by every L7 policy body."""
    name: c.Name | None = None
    description: c.Description | None = None
    redirect_pool_id: c.Uuid | None = None
    redirect_url: RedirectUrl | None = None
    redirect_prefix: RedirectUrl | None = None
    redirect_http_code: c.RedirectHttpCode | None = None

    def _sanitize(self, create: bool) -> Self:
        sent = type(self).model_fields if create else self.model_fields_set
        before = {name: getattr(self, name) for name in sent}
        after = sanitize_l7policy(before, create)
        for name, value in after.items():
            if name not in before or value != before[name]:
                setattr(self, name, value)  # also marks it as sent (PUT clears it)
        for name in before.keys() - after.keys():
            object.__setattr__(self, name, None)
            self.model_fields_set.discard(name)
        return self


class L7PolicyCreateFields(L7PolicyFields):
    """What a policy POST and a graph policy share: action is mandatory."""
    action: Action
    admin_state_up: c.AdminStateUp = True
    position: Position = c.MAX_POLICY_POSITION  # the end of the list
    rules: Annotated[list[GraphL7Rule], c.EMPTY_LIST_IF_NULL] = []
    tags: c.TagList = []

    @model_validator(mode='after')
    def _sanitize_on_create(self) -> Self:
        return self._sanitize(create=True)


class GraphL7Policy(L7PolicyCreateFields):
    """An L7 policy inline in a listener (graph create). redirect_pool is an
    inline pool or a reference by name to one in the same body."""
    redirect_pool: GraphPool | None = None

    @model_validator(mode='after')
    def _check_redirect_pool_named(self) -> Self:
        if self.redirect_pool is not None and not self.redirect_pool.name:
            raise ValidationFailure('Pools must be named when creating a fully '
                                    'populated loadbalancer.')
        return self


class L7PolicyCreate(L7PolicyCreateFields, ProjectScoped):
    """POST /v2/lbaas/l7policies. Listener protocol (rules.check_l7policy_listener)
    and redirect pool compatibility need stored objects: service layer."""
    listener_id: c.Uuid


class L7PolicyUpdate(L7PolicyFields):
    """PUT /v2/lbaas/l7policies/{id}. After validation the redirect fields are
    consistent: e.g. sending redirect_url also sets action and clears
    redirect_pool_id/redirect_prefix in model_dump(exclude_unset=True)."""
    action: Action | None = None
    admin_state_up: c.OptionalAdminStateUp = None
    position: Position | None = None
    tags: list[c.Tag] | None = None

    @model_validator(mode='after')
    def _sanitize_on_update(self) -> Self:
        return self._sanitize(create=False)
