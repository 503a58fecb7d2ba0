"""Neutron-style, read-only view of the local networks at /v2.0/networks and
/v2.0/subnets, so `openstack loadbalancer create --vip-subnet-id NAME` can
look the subnet up against the single lbaas endpoint."""
from collections.abc import Mapping
from typing import Any

import falcon

from lbaas.api import base, errors
from lbaas.service import networks


def _matches(item: Mapping[str, Any], params: Mapping[str, Any]) -> bool:
    return all(str(item.get(k)) == v for k, v in params.items()
               if k not in ('fields', 'limit', 'marker') and isinstance(v, str))


def _select(items: list[dict[str, Any]], req: falcon.Request) -> list[dict[str, Any]]:
    fields = req.params.get('fields')
    fields = [fields] if isinstance(fields, str) else fields
    found = [i for i in items if _matches(i, req.params)]
    if fields:
        found = [{k: v for k, v in i.items() if k in fields} for i in found]
    return found


class Networks:
    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        ids = dict.fromkeys(s.network_id for s in networks.subnets())
        items = [networks.network_view(i) for i in ids]
        base.respond(resp, 200, {'networks': _select(items, req)})


class Network:
    def on_get(self, req: falcon.Request, resp: falcon.Response, network_id: str) -> None:
        if not networks.network_subnets(network_id):
            raise errors.NotFound('Network', network_id)
        base.respond(resp, 200, {'network': networks.network_view(network_id)})


class Subnets:
    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        items = [networks.subnet_view(s) for s in networks.subnets()]
        base.respond(resp, 200, {'subnets': _select(items, req)})


class Subnet:
    def on_get(self, req: falcon.Request, resp: falcon.Response, subnet_id: str) -> None:
        subnet = networks.find_subnet(subnet_id)
        if subnet is None:
            raise errors.NotFound('Subnet', subnet_id)
        base.respond(resp, 200, {'subnet': networks.subnet_view(subnet)})


def routes() -> list[tuple[str, object]]:
    return [(prefix + path, resource) for prefix in ('/v2', '/v2.0', '/networking/v2.0')
            for path, resource in (('/networks', Networks()),
                                   ('/networks/{network_id}', Network()),
                                   ('/subnets', Subnets()),
                                   ('/subnets/{subnet_id}', Subnet()))]
