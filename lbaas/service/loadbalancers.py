"""Load balancer writes: create (plain or whole graph), update, delete, failover."""
import dataclasses
import json
from collections.abc import Iterator, Sequence
from typing import Any, Protocol, cast

from sqlalchemy import exc as sa_exc
from sqlalchemy import select
from sqlalchemy.orm import Session

from lbaas import config, errors
from lbaas.db import models
from lbaas.schemas import fields
from lbaas.service import graph, lifecycle, networks, pools, providers, quotas
from lbaas.statuses import Topology


class Caller(Protocol):
    """What a create needs of the request context: the caller's project."""

    @property
    def project_id(self) -> str | None: ...


@dataclasses.dataclass(frozen=True)
class Shape:
    """What a flavor (or the defaults) makes of an LB's amphorae."""

    topology: str
    amphora_count: int | None  # ACTIVE_ACTIVE only
    provider: str | None  # the flavor profile's


def _shape(session: Session, flavor_id: str | None) -> Shape:
    """Validate a flavor and return the topology it asks for, else the default's."""
    data, provider = _flavor_data(session, flavor_id)
    workers = config.CONF.controller_worker
    topology = data.get('loadbalancer_topology') or workers.loadbalancer_topology
    count = None
    if topology == Topology.ACTIVE_ACTIVE:
        count = data.get('amphora_count') or workers.amphora_count
    return Shape(topology, count, provider)


def _flavor_data(session: Session,
                 flavor_id: str | None) -> tuple[dict[str, Any], str | None]:
    if not flavor_id:
        return {}, None
    flavor = session.get(models.Flavor, flavor_id)
    if flavor is None:
        raise errors.InvalidInput('Validation failure: Flavor %s not found.' % flavor_id)
    if not flavor.enabled:
        raise errors.ApiError('The selected flavor is not allowed in this deployment: %s'
                              % flavor_id)
    profile = flavor.flavor_profile
    return json.loads(profile.flavor_data or '{}'), profile.provider_name


def _check_availability_zone(session: Session, name: str | None) -> None:
    if not name:
        return
    zone = session.get(models.AvailabilityZone, name)
    if zone is None:
        raise errors.InvalidInput('Validation failure: Availability Zone %s not found.' % name)
    if not zone.enabled:
        raise errors.ApiError('The selected availability_zone is not allowed in this '
                              'deployment: %s' % name)


def _vips(session: Session,
          data: dict[str, Any]) -> tuple[dict[str, str], list[dict[str, str]]]:
    vip = networks.resolve_vip(session, data.get('vip_subnet_id'), data.get('vip_network_id'),
                               data.get('vip_port_id'), data.get('vip_address'))
    extra: list[dict[str, str]] = []
    seen = {vip['subnet_id']}
    for item in data.get('additional_vips') or []:
        subnet_id = item['subnet_id']
        if subnet_id in seen:
            raise errors.ApiError('Validation failure: Duplicate VIP subnet(s) specified. '
                                  'Only one IP can be bound per subnet.')
        seen.add(subnet_id)
        resolved = networks.resolve_vip(session, subnet_id, None, item.get('port_id'),
                                        item.get('ip_address'))
        if resolved['network_id'] != vip['network_id'] and networks.find_subnet(subnet_id):
            raise errors.ApiError('Validation failure: All VIP subnets must belong to '
                                  'the same network.')
        extra.append(resolved)
    return vip, extra


def create(session: Session, ctx: Caller, data: dict[str, Any]) -> models.LoadBalancer:
    """A new LB (and any children given inline) in PENDING_CREATE."""
    project_id = data.get('project_id') or ctx.project_id
    provider = providers.resolve(data.get('provider'))
    shape = _shape(session, data.get('flavor_id'))
    _check_provider(shape, provider, data.get('flavor_id'))
    _check_availability_zone(session, data.get('availability_zone'))
    counts = graph.count_objects(data)
    quotas.check(session, project_id, loadbalancer=1, **counts)
    vip, extra_vips = _vips(session, data)
    lb = models.LoadBalancer(
        project_id=project_id, name=data.get('name'), description=data.get('description'),
        provider=provider, flavor_id=data.get('flavor_id'),
        availability_zone=data.get('availability_zone'),
        topology=shape.topology, amphora_count=shape.amphora_count,
        generation=1, **lifecycle.new_status_fields(data.get('admin_state_up', True)))
    lb.vip = models.Vip(qos_policy_id=data.get('vip_qos_policy_id'), **vip)
    lb.additional_vips = [models.AdditionalVip(**v) for v in extra_vips]
    lb.vip_security_groups = [models.VipSecurityGroup(sg_id=sg)
                              for sg in dict.fromkeys(data.get('vip_sg_ids') or [])]
    lb.tags = data.get('tags')
    _insert(session, lb, data)
    graph.build_children(session, lb, data)
    lifecycle.touch_lb(session, lb, [lb], lifecycle.PENDING_CREATE)
    return lb


VIP_ATTEMPTS = 5


def _insert(session: Session, lb: models.LoadBalancer, data: dict[str, Any]) -> None:
    """Add the new LB; if a concurrent create took its VIP address first (the
    unique index says so once that one commits), take the next free one."""
    for attempt in range(VIP_ATTEMPTS):
        try:
            with session.begin_nested():
                session.add(lb)
                session.flush()
            return
        except sa_exc.IntegrityError:
            if data.get('vip_address') or attempt == VIP_ATTEMPTS - 1:
                raise
            vip, extra_vips = _vips(session, data)
            for column, value in vip.items():
                setattr(lb.vip, column, value)
            for row, values in zip(lb.additional_vips, extra_vips, strict=True):
                row.ip_address = values['ip_address']


def _check_provider(shape: Shape, provider: str | None, flavor_id: str | None) -> None:
    if shape.provider and shape.provider != provider and not (
            {shape.provider, provider} <= providers.AMPHORA_ALIASES):
        raise errors.ApiError("Flavor '%s' is not compatible with provider '%s'"
                              % (flavor_id, provider))


def _change_flavor(session: Session, lb: models.LoadBalancer, flavor_id: str | None) -> None:
    """Ours: an ACTIVE_ACTIVE LB moves to another ACTIVE_ACTIVE flavor, which
    changes how many amphorae serve it. Octavia changes no LB's flavor."""
    if flavor_id == lb.flavor_id:
        return
    shape = _shape(session, flavor_id)
    if lb.topology != Topology.ACTIVE_ACTIVE or shape.topology != Topology.ACTIVE_ACTIVE:
        raise errors.ApiError('Validation failure: flavor_id can only change from one '
                              'ACTIVE_ACTIVE flavor to another.')
    _check_provider(shape, lb.provider, flavor_id)
    lb.flavor_id, lb.amphora_count = flavor_id, shape.amphora_count


def update(session: Session, lb_id: str, changes: dict[str, Any]) -> models.LoadBalancer:
    lb = lifecycle.lock_lb(session, lb_id)
    if 'flavor_id' in changes:
        _change_flavor(session, lb, changes['flavor_id'])
    pools.assign(lb, changes, fields.LOADBALANCER)
    if 'vip_qos_policy_id' in changes:
        lb.vip.qos_policy_id = changes['vip_qos_policy_id']
    if 'vip_sg_ids' in changes:
        lb.vip_security_groups = [models.VipSecurityGroup(sg_id=sg) for sg in
                                  dict.fromkeys(changes['vip_sg_ids'] or [])]
    lifecycle.touch_lb(session, lb, [lb])
    return lb


def delete(session: Session, lb_id: str, cascade: bool) -> None:
    lb = lifecycle.get_lb(session, lb_id, lock=True)
    # Octavia refuses an LB with children (400) before it tests the status (409).
    if (lb.listeners or lb.pools) and not cascade:
        raise errors.ValidationFailure('Cannot delete Load Balancer %s - it has children'
                                       % lb_id)
    lifecycle.require_status(lb, lifecycle.DELETABLE)
    lifecycle.mark(lifecycle.PENDING_DELETE,
                   *cast(Iterator[models.StatusMixin], models.descendants(lb)))
    lifecycle.touch_lb(session, lb, [lb], lifecycle.PENDING_DELETE, cascade=cascade)


def failover(session: Session, lb_id: str) -> None:
    lb = lifecycle.lock_lb(session, lb_id, lifecycle.FAILOVERABLE)
    lb.failover_requested = True
    lifecycle.touch_lb(session, lb, [lb], failover=True)


def _amphora_lb_id(session: Session, amphora_id: str) -> str:
    amphora = session.get(models.Amphora, amphora_id)
    if amphora is None or amphora.status == 'DELETED':
        raise errors.NotFound('Amphora', amphora_id)
    if amphora.load_balancer_id is None:
        raise errors.ApiError('Amphora %s is not associated with a load balancer.'
                              % amphora_id)
    return amphora.load_balancer_id


def failover_amphora(session: Session, amphora_id: str) -> None:
    lb = lifecycle.lock_mutable_lb(session, _amphora_lb_id(session, amphora_id))
    if _amphora_lb_id(session, amphora_id) != lb.id:  # replaced while we waited
        raise errors.NotFound('Amphora', amphora_id)
    lifecycle.touch_lb(session, lb, [lb])
    cast(models.Amphora, session.get(models.Amphora, amphora_id)).failover_requested = True


def stats(session: Session, lb: models.LoadBalancer) -> dict[str, dict[str, int]]:
    listener_ids = [li.id for li in lb.listeners]
    return sum_stats(session, listener_ids)


def sum_stats(session: Session, listener_ids: Sequence[str]) -> dict[str, dict[str, int]]:
    totals = dict.fromkeys(('bytes_in', 'bytes_out', 'active_connections',
                            'total_connections', 'request_errors'), 0)
    if listener_ids:
        rows = session.scalars(select(models.ListenerStatistics).where(
            models.ListenerStatistics.listener_id.in_(listener_ids)))
        for row in rows:
            for key in totals:
                totals[key] += getattr(row, key) or 0
    return {'stats': totals}
