"""/v2/lbaas/providers, their capabilities, and checks of profile metadata."""
import json
from typing import Any

import falcon

from lbaas.api import base, errors
from lbaas.schemas.common import TOPOLOGIES
from lbaas.service import providers

# The amphora driver validates profile metadata against JSON schemas with
# additionalProperties false (octavia/api/drivers/amphora_driver/*_schema.py):
# key -> (JSON type, allowed values or None).
AMPHORA_SCHEMAS: dict[str, dict[str, tuple[str, list[str] | None]]] = {
    'flavor': {
        'loadbalancer_topology': ('string', list(TOPOLOGIES)),
        'compute_flavor': ('string', None),
        'amp_image_tag': ('string', None),
        'sriov_vip': ('boolean', None),
        'allow_member_sriov': ('boolean', None),
    },
    'availability_zone': {
        'compute_zone': ('string', None),
        'volume_zone': ('string', None),
        'management_network': ('string', None),
        'valid_vip_networks': ('array', None),
    },
}
JSON_TYPES: dict[str, type] = {'string': str, 'boolean': bool, 'array': list}


def require_enabled(provider: str) -> None:
    if provider not in providers.enabled():
        raise errors.InvalidInput("Provider '%s' is not enabled." % provider)


def _schema_problem(data: dict[str, Any],
                    schema: dict[str, tuple[str, list[str] | None]]) -> str | None:
    """The first violation, worded as jsonschema words it, or None."""
    unexpected = sorted(key for key in data if key not in schema)
    if unexpected:
        names = ', '.join(repr(key) for key in unexpected)
        verb = 'was' if len(unexpected) == 1 else 'were'
        return 'Additional properties are not allowed (%s %s unexpected)' % (names, verb)
    for key, value in data.items():
        kind, allowed = schema[key]
        if not isinstance(value, JSON_TYPES[kind]):
            return '%s %r is not of type %r' % (key, value, kind)
        if allowed is not None and value not in allowed:
            return '%s %r is not one of %r' % (key, value, allowed)
    return None


def check_profile_data(provider: str, raw_data: str, kind: str) -> None:
    """Validate a profile's JSON metadata the way `provider` would.

    `kind` is 'flavor' or 'availability_zone'. The schema already made sure
    `raw_data` is a JSON object. Only the amphora provider knows its keys;
    others (noop) accept anything. Octavia reports a rejected key through
    ProviderUnsupportedOptionError, a 501.
    """
    require_enabled(provider)
    if not providers.is_amphora(provider):
        return
    problem = _schema_problem(json.loads(raw_data), AMPHORA_SCHEMAS[kind])
    if problem:
        raise errors.NotImplementedByProvider(provider, problem)


def _trim_fields(req: falcon.Request, items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    fields = req.get_param_as_list('fields')
    if not fields:
        return items
    return [{k: v for k, v in item.items() if k in fields} for item in items]


class Providers:
    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        base.authorize(req, 'provider:get_all')
        items = [{'name': name, 'description': description}
                 for name, description in providers.enabled().items()]
        # Octavia's provider list has no links key.
        base.respond(resp, 200, {'providers': _trim_fields(req, items)})


class Capabilities:
    """The metadata keys a provider accepts in flavor or AZ profiles."""

    def __init__(self, kind: str, policy_resource: str) -> None:
        self.kind = kind
        self.policy_resource = policy_resource

    def on_get(self, req: falcon.Request, resp: falcon.Response, provider: str) -> None:
        base.authorize(req, '%s:get_all' % self.policy_resource)
        items = providers.capabilities(provider, self.kind)
        name, description = req.get_param('name'), req.get_param('description')
        if name:
            items = [item for item in items if item['name'] == name]
        if description:
            items = [item for item in items if item['description'] == description]
        base.respond(resp, 200, {'%s_capabilities' % self.kind: _trim_fields(req, items)})


def routes() -> list[tuple[str, object]]:
    return [('/providers', Providers()),
            ('/providers/{provider}/flavor_capabilities',
             Capabilities('flavor', 'provider-flavor')),
            ('/providers/{provider}/availability_zone_capabilities',
             Capabilities('availability_zone', 'provider-availability-zone'))]
