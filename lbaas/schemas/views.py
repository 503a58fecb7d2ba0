"""Response bodies: database rows translated to Octavia's field names.

Plain functions building dicts, because list endpoints serialise thousands
of rows and this is their hot path. `name` and `description` come back as ""
when null, every project-owned object also shows `tenant_id`, datetimes have
no zone and no fraction (Octavia's format).
"""
from __future__ import annotations

import datetime
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any, Protocol

from lbaas.schemas import fields

if TYPE_CHECKING:  # rows come in; the schemas layer does not import db at run time
    from lbaas.db import models

    StatusRow = (models.LoadBalancer | models.Listener | models.Pool | models.Member
                 | models.HealthMonitor | models.L7Policy | models.L7Rule)

Body = dict[str, Any]


class HasId(Protocol):
    id: str


def _ts(value: datetime.datetime | None) -> str | None:
    return value.isoformat() if value else None


def _ids(objects: Iterable[HasId]) -> list[dict[str, str]]:
    return [{'id': o.id} for o in objects]


def _body(obj: StatusRow | Any, own: fields.Fields) -> Body:
    """The common fields, `tags`, then the resource's own, in body order."""
    body = dict(zip(own.body, own.values(obj), strict=False))  # equal lengths, by design
    body['created_at'] = _ts(obj.created_at)
    body['updated_at'] = _ts(obj.updated_at)
    for name in ('name', 'description'):  # null shows as ""
        if name in body:
            body[name] = body[name] or ''
    return body


def loadbalancer(lb: models.LoadBalancer | Any) -> Body:
    """`lb` is an ORM row, or the API's plain-rows stand-in (api/lb_rows.Shown)."""
    vip = lb.vip
    body = _body(lb, fields.LOADBALANCER)
    # Octavia shows the VIP between the description and the provider.
    tail = {name: body.pop(name) for name in ('provider', 'flavor_id', 'availability_zone')}
    body.update({name: getattr(vip, attr) if vip else None
                 for name, attr in fields.VIP.items()})
    body.update({
        'vip_vnic_type': vip.vnic_type if vip else 'normal',
        'vip_sg_ids': [sg.sg_id for sg in lb.vip_security_groups],
        'additional_vips': [{'subnet_id': v.subnet_id, 'ip_address': v.ip_address,
                             'port_id': v.port_id, 'network_id': v.network_id}
                            for v in lb.additional_vips],
    })
    body.update(tail, provider=lb.provider or 'octavia')
    body.update(listeners=_ids(lb.listeners), pools=_ids(lb.pools))
    return body


def listener(li: models.Listener) -> Body:
    body = _body(li, fields.LISTENER)
    body['sni_container_refs'] = list(li.sni_container_refs or [])
    body['insert_headers'] = dict(li.insert_headers or {})
    body.update(loadbalancers=[{'id': li.load_balancer_id}], l7policies=_ids(li.l7policies))
    return body


def pool(po: models.Pool) -> Body:
    body = _body(po, fields.POOL)
    hm = po.health_monitor
    body['session_persistence'] = session_persistence(po.session_persistence)
    body.update(healthmonitor_id=hm.id if hm else None,
                loadbalancers=[{'id': po.load_balancer_id}],
                listeners=_ids(po.default_listeners), members=_ids(po.members))
    return body


def session_persistence(sp: dict[str, Any] | None) -> Body | None:
    if not sp:
        return None
    return {'type': sp.get('type'), 'cookie_name': sp.get('cookie_name'),
            'persistence_timeout': sp.get('persistence_timeout'),
            'persistence_granularity': sp.get('persistence_granularity')}


def member(me: models.Member) -> Body:
    return _body(me, fields.MEMBER)


def healthmonitor(hm: models.HealthMonitor) -> Body:
    body = _body(hm, fields.HEALTHMONITOR)
    body['pools'] = [{'id': hm.pool_id}]
    return body


def l7policy(po: models.L7Policy) -> Body:
    body = _body(po, fields.L7POLICY)
    body['rules'] = _ids(po.rules)
    return body


def l7rule(ru: models.L7Rule) -> Body:
    return _body(ru, fields.L7RULE)


def full_graph(lb: models.LoadBalancer) -> Body:
    """POST /loadbalancers answers with every child object in full."""
    body = loadbalancer(lb)
    listeners = []
    for li in lb.listeners:
        item = listener(li)
        item['l7policies'] = []
        for l7 in li.l7policies:
            policy = l7policy(l7)
            policy['rules'] = [l7rule(r) for r in l7.rules]
            item['l7policies'].append(policy)
        listeners.append(item)
    pools = []
    for po in lb.pools:
        item = pool(po)
        item['members'] = [member(m) for m in po.members]
        item['healthmonitor'] = healthmonitor(po.health_monitor) if po.health_monitor else None
        pools.append(item)
    body['listeners'] = listeners
    body['pools'] = pools
    return body
