"""Who is calling: the request context, and keystone token validation.

Under `[api_settings] auth_strategy = noauth` the caller is whoever the
headers say (X-Project-Id, X-User-Id, X-Roles); a request that names no
roles is an admin, as in Octavia, so plain `openstack loadbalancer ...`
works. Under `keystone`, keystonemiddleware's auth_token validates the token
and replaces those headers with the token's identity before we read them.
"""
import dataclasses
import uuid
from collections.abc import Mapping
from typing import Any

from lbaas.api import policy
from lbaas.config import CONF

# Served without a token, as Octavia's SkippingAuthProtocol does: version
# discovery and the health check, also when mounted under /load-balancer.
UNAUTHENTICATED_PATHS = frozenset((
    '', '/', '/healthcheck',
    '/load-balancer', '/load-balancer/', '/load-balancer/healthcheck',
))


def _is_dashboard(path: str) -> bool:
    """The dashboard's static files (api/dashboard.py): public, like `/`."""
    return path.startswith('/dashboard') and path[len('/dashboard'):][:1] in ('', '/')


class NotAuthenticated(Exception):
    """No valid token (only reachable with keystone delay_auth_decision)."""

    message = 'The request you have made requires authentication.'

    def __init__(self, message: str | None = None) -> None:
        super().__init__(message or self.message)


@dataclasses.dataclass(slots=True)
class RequestContext:
    """The caller of one API request.

    A plain dataclass rather than an oslo.context subclass: it is built on
    every request, and oslo.context's constructor and to_policy_values()
    cost several times more while adding nothing the API uses.
    """

    project_id: str | None
    user_id: str | None
    roles: list[str]
    is_admin: bool
    request_id: str
    # Set only by keystone for system- or domain-scoped tokens; every rule
    # is project-scoped, so oslo.policy refuses such tokens.
    system_scope: str | None = None
    domain_id: str | None = None
    user_domain_id: str | None = None
    project_domain_id: str | None = None
    auth_token: str | None = dataclasses.field(default=None, repr=False)

    def to_policy_creds(self) -> dict[str, Any]:
        """The credentials dict oslo.policy checks rules against."""
        return {
            'project_id': self.project_id,
            'user_id': self.user_id,
            'roles': self.roles,
            'is_admin': self.is_admin,
            'system_scope': self.system_scope,
            'domain_id': self.domain_id,
            'user_domain_id': self.user_domain_id,
            'project_domain_id': self.project_domain_id,
        }


def _split_roles(header: str) -> list[str]:
    return [role.strip() for role in header.split(',') if role.strip()]


def _request_id(environ: Mapping[str, Any], given: str | None) -> str:
    # oslo.middleware's RequestId, when present, already picked one; else
    # the one the API logs this request under, else a new one.
    return (environ.get('openstack.request_id') or given
            or 'req-' + str(uuid.uuid4()))


def _with_admin_flag(context: RequestContext) -> RequestContext:
    """Set is_admin the way Octavia does: from `context_is_admin`."""
    context.is_admin = policy.is_admin(context.to_policy_creds())
    return context


def _noauth_context(environ: Mapping[str, Any], request_id: str | None) -> RequestContext:
    project_id = (environ.get('HTTP_X_PROJECT_ID')
                  or environ.get('HTTP_X_TENANT_ID')
                  or CONF.api_settings.default_project_id)
    user_id = environ.get('HTTP_X_USER_ID') or environ.get('HTTP_X_USER')
    roles_header = environ.get('HTTP_X_ROLES')
    if roles_header is None:
        # Octavia's noauth treats every caller as an admin.
        return RequestContext(project_id, user_id, [], True,
                              _request_id(environ, request_id))
    # Roles that are sent are honoured exactly, so member, reader and
    # observer behaviour can be exercised without a Keystone.
    context = RequestContext(project_id, user_id, _split_roles(roles_header),
                             False, _request_id(environ, request_id))
    return _with_admin_flag(context)


def _keystone_context(environ: Mapping[str, Any], request_id: str | None) -> RequestContext:
    # auth_token strips these headers from the client's request and sets
    # them from the validated token, so they can be trusted here.
    if environ.get('HTTP_X_IDENTITY_STATUS') != 'Confirmed':
        raise NotAuthenticated()
    context = RequestContext(
        project_id=environ.get('HTTP_X_PROJECT_ID'),
        user_id=environ.get('HTTP_X_USER_ID'),
        roles=_split_roles(environ.get('HTTP_X_ROLES', '')),
        is_admin=False,
        request_id=_request_id(environ, request_id),
        system_scope=environ.get('HTTP_OPENSTACK_SYSTEM_SCOPE'),
        domain_id=environ.get('HTTP_X_DOMAIN_ID'),
        user_domain_id=environ.get('HTTP_X_USER_DOMAIN_ID'),
        project_domain_id=environ.get('HTTP_X_PROJECT_DOMAIN_ID'),
        auth_token=environ.get('HTTP_X_AUTH_TOKEN'),
    )
    return _with_admin_flag(context)


def context_from_environ(environ: Mapping[str, Any],
                         request_id: str | None = None) -> RequestContext:
    """Build the RequestContext of a WSGI request (`request_id`: the id the
    API already gave it).

    Raises NotAuthenticated under keystone when the token was not confirmed.
    """
    if CONF.api_settings.auth_strategy == 'keystone':
        return _keystone_context(environ, request_id)
    return _noauth_context(environ, request_id)


def wrap_keystone(app: Any, conf_dict: Mapping[str, Any] | None = None) -> Any:
    """Wrap a WSGI app in keystonemiddleware's auth_token.

    Its options come from `[keystone_authtoken]` of lbaas's CONF; entries of
    `conf_dict` override them (as a paste.ini section would).
    """
    # Imported here so that noauth deployments never load keystonemiddleware.
    from keystonemiddleware import auth_token

    # keystonemiddleware ships no types: its AuthProtocol is Any to mypy.
    class SkippingAuthProtocol(auth_token.AuthProtocol):  # type: ignore[misc]
        def process_request(self, request: Any) -> Any:
            if request.path in UNAUTHENTICATED_PATHS or _is_dashboard(request.path):
                # Still drop identity headers a client may have forged.
                request.remove_auth_headers()
                return None
            return super().process_request(request)

    conf = dict(conf_dict or {})
    conf.setdefault('oslo_config_config', CONF)
    return SkippingAuthProtocol(app, conf)
