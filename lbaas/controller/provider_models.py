"""Rows as octavia-lib's provider data models, as Octavia's
`api/drivers/utils.py` builds them (db_*_to_provider_*).

Used by the API's dispatch to external providers (`service/provider_drivers.py`)
and by the driver agent's `get_*` look-ups. Column names differ from the data
models' where Octavia's do too: `enabled` is `admin_state_up`, a monitor's
rise/fall thresholds are `max_retries`/`max_retries_down`, certificate
references are `*_container_ref`. Certificate contents (`*_container_data`)
are left Unset: the provider reads them through its own key manager.
"""

from __future__ import annotations

import functools
import inspect
import json
from typing import Any

from octavia_lib.api.drivers import data_models as dm
from sqlalchemy.orm import Session

from lbaas.db import models
from lbaas.schemas import fields

Unset = dm.Unset


def _or_unset(value: Any) -> Any:
    return value if value else Unset


def _profile(session: Session | None, lb: models.LoadBalancer) -> tuple[Any, Any]:
    """The flavor's and the availability zone's metadata, Unset when none."""
    flavor: Any = Unset
    zone: Any = Unset
    if session is not None and lb.flavor_id:
        row = session.get(models.Flavor, lb.flavor_id)
        if row is not None:
            flavor = json.loads(row.flavor_profile.flavor_data or '{}')
    if session is not None and lb.availability_zone:
        az = session.get(models.AvailabilityZone, lb.availability_zone)
        if az is not None:
            zone = json.loads(az.availability_zone_profile.availability_zone_data or '{}')
    return flavor, zone


def loadbalancer(lb: models.LoadBalancer, session: Session | None = None) -> Any:
    flavor, zone = _profile(session, lb)
    vip = lb.vip
    return dm.LoadBalancer(
        admin_state_up=lb.enabled,
        description=lb.description,
        flavor=flavor,
        listeners=_or_unset([listener(li) for li in lb.listeners]),
        loadbalancer_id=lb.id,
        name=lb.name,
        pools=_or_unset([pool(p) for p in lb.pools]),
        project_id=lb.project_id,
        vip_address=vip.ip_address if vip else None,
        vip_network_id=vip.network_id if vip else None,
        vip_port_id=vip.port_id if vip else None,
        vip_subnet_id=vip.subnet_id if vip else None,
        vip_qos_policy_id=vip.qos_policy_id if vip else None,
        vip_sg_ids=[sg.sg_id for sg in lb.vip_security_groups],
        additional_vips=[
            {
                'ip_address': v.ip_address,
                'network_id': v.network_id,
                'port_id': v.port_id,
                'subnet_id': v.subnet_id,
            }
            for v in lb.additional_vips
        ],
        availability_zone=zone,
    )


def _model(cls: Any, row: Any, own: fields.Fields, id_name: str, **extra: Any) -> Any:
    """The data model `cls` of `row`: its id as `id_name`, and every field of
    the resource's API map (schemas/fields.py, where the columns behind the
    API names are spelt once) that the model takes; `extra` for the rest."""
    accepted = _parameters(cls)
    names = {**dict(own.filters()), **dict(own.pairs)}
    values = {n: getattr(row, a) for n, a in names.items() if n in accepted and n != 'id'}
    return cls(**{**values, id_name: row.id, **extra})


@functools.cache
def _parameters(cls: Any) -> frozenset[str]:
    return frozenset(inspect.signature(cls).parameters)


def listener(li: models.Listener) -> Any:
    return _model(
        dm.Listener,
        li,
        fields.LISTENER,
        'listener_id',
        default_pool=pool(li.default_pool) if li.default_pool is not None else None,
        insert_headers=li.insert_headers or {},
        l7policies=[l7policy(p) for p in li.l7policies],
        sni_container_refs=list(li.sni_container_refs or []),
    )


def pool(p: models.Pool) -> Any:
    hm = p.health_monitor
    return _model(
        dm.Pool,
        p,
        fields.POOL,
        'pool_id',
        healthmonitor=healthmonitor(hm) if hm is not None else Unset,
        members=_or_unset([member(m) for m in p.members]),
        listener_id=p.default_listeners[0].id if p.default_listeners else Unset,
    )


def member(m: models.Member) -> Any:
    return _model(dm.Member, m, fields.MEMBER, 'member_id')


def healthmonitor(hm: models.HealthMonitor) -> Any:
    return _model(dm.HealthMonitor, hm, fields.HEALTHMONITOR, 'healthmonitor_id')


def l7policy(policy: models.L7Policy) -> Any:
    return _model(
        dm.L7Policy, policy, fields.L7POLICY, 'l7policy_id', rules=[l7rule(r) for r in policy.rules]
    )


def l7rule(rule: models.L7Rule) -> Any:
    return _model(dm.L7Rule, rule, fields.L7RULE, 'l7rule_id')


# The payload keys of octavia-lib (`constants.LOADBALANCERS`...), the rows
# they name, and the converters; the driver agent and the dispatch share it.
KINDS: dict[str, tuple[type[models.Base], Any]] = {
    'loadbalancers': (models.LoadBalancer, loadbalancer),
    'listeners': (models.Listener, listener),
    'pools': (models.Pool, pool),
    'members': (models.Member, member),
    'healthmonitors': (models.HealthMonitor, healthmonitor),
    'l7policies': (models.L7Policy, l7policy),
    'l7rules': (models.L7Rule, l7rule),
}


def convert(obj: models.Base, session: Session | None = None) -> Any:
    """Any row of an LB graph as its data model."""
    if isinstance(obj, models.LoadBalancer):
        return loadbalancer(obj, session)
    for model, converter in KINDS.values():
        if isinstance(obj, model):
            return converter(obj)
    raise TypeError('no provider data model for %r' % obj)


def lb_of(obj: models.Base) -> models.LoadBalancer:
    """The load balancer a row belongs to."""
    if isinstance(obj, models.LoadBalancer):
        return obj
    if isinstance(obj, models.Listener | models.Pool):
        return obj.load_balancer
    if isinstance(obj, models.Member | models.HealthMonitor):
        return obj.pool.load_balancer
    if isinstance(obj, models.L7Policy):
        return obj.listener.load_balancer
    if isinstance(obj, models.L7Rule):
        return obj.l7policy.listener.load_balancer
    raise TypeError('not part of a load balancer: %r' % obj)
