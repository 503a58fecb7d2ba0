"""/v2/lbaas/providers and their capabilities."""
from typing import Any

import falcon

from lbaas.api import base
from lbaas.service import providers


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
