"""One read of a load balancer's graph, frozen for a whole reconcile pass.

The pass decides (plan.py) and acts (reconcile.py) on this value alone; the
database is read once, in one transaction, and never again until the final
write, which re-checks the generation under the LB's lock before trusting it.
"""

from __future__ import annotations

import dataclasses
import datetime
import json
from collections.abc import Iterator
from typing import TypeAlias, cast

from sqlalchemy import select
from sqlalchemy.orm import Session, object_session, selectinload

from lbaas.dataplane import build
from lbaas.dataplane import viewmodel as vm
from lbaas.dataplane.tls import TLSFile
from lbaas.db import models
from lbaas.db import session as db
from lbaas.drivers import base
from lbaas.statuses import PENDING, AmphoraRole, AmphoraStatus, Provisioning

LB = models.LoadBalancer
GRAPH = (
    selectinload(LB.listeners)
    .selectinload(models.Listener.l7policies)
    .selectinload(models.L7Policy.rules),
    selectinload(LB.pools).selectinload(models.Pool.members),
    selectinload(LB.pools).selectinload(models.Pool.health_monitor),
    selectinload(LB.amphorae),
)

# What `models.descendants` yields: every kind of object under an LB.
Child: TypeAlias = (
    models.Listener
    | models.Pool
    | models.Member
    | models.HealthMonitor
    | models.L7Policy
    | models.L7Rule
)
KINDS: dict[str, type[Child]] = {
    'listener': models.Listener,
    'pool': models.Pool,
    'member': models.Member,
    'healthmonitor': models.HealthMonitor,
    'l7policy': models.L7Policy,
    'l7rule': models.L7Rule,
}
KIND_OF = {model: kind for kind, model in KINDS.items()}


def children(lb: models.LoadBalancer) -> Iterator[Child]:
    """`models.descendants(lb)`, typed: it yields only the kinds of `Child`."""
    return cast('Iterator[Child]', models.descendants(lb))  # annotated there as Iterator[Base]


def unsettled(lb: models.LoadBalancer) -> tuple[tuple[str, str], ...]:
    """(kind, id) of every PENDING object under the LB."""
    return tuple(
        (KIND_OF[type(obj)], obj.id) for obj in children(lb) if obj.provisioning_status in PENDING
    )


@dataclasses.dataclass(frozen=True)
class AmphoraState:
    """An amphora as the pass sees it: the driver's value plus bookkeeping."""

    value: base.Amphora
    failover_requested: bool
    updated_at: datetime.datetime | None


@dataclasses.dataclass(frozen=True)
class Snapshot:
    lb_id: str
    generation: int
    provisioning_status: str
    topology: str
    failover_requested: bool
    network: base.LoadBalancerNetwork
    amphorae: tuple[AmphoraState, ...]  # live ones (not DELETED)
    view: vm.LoadBalancerView | None  # None while deleting
    member_addresses: frozenset[str]
    unsettled: tuple[tuple[str, str], ...]  # (kind, id) of PENDING objects
    request_id: str | None = None  # of the API request that gave the work
    project_id: str = ''
    tls_files: tuple[TLSFile, ...] = ()  # certificate files the view names
    amphora_count: int = 1  # of an ACTIVE_ACTIVE LB

    @property
    def pending(self) -> bool:
        return self.provisioning_status in PENDING

    @property
    def deleting(self) -> bool:
        return self.provisioning_status == Provisioning.PENDING_DELETE


def amphora_value(row: models.Amphora) -> base.Amphora:
    return base.Amphora(
        id=row.id,
        lb_id=row.load_balancer_id,
        role=row.role or AmphoraRole.STANDALONE,
        status=row.status,
        compute_id=row.compute_id,
        lb_network_ip=row.lb_network_ip,
        vrrp_ip=row.vrrp_ip,
        vrrp_port_id=row.vrrp_port_id,
        vrrp_priority=row.vrrp_priority,
        vrrp_interface=row.vrrp_interface,
        vrrp_id=row.vrrp_id,
        config_digest=row.config_digest,
        host=row.host,
    )


def network_of(lb: models.LoadBalancer) -> base.LoadBalancerNetwork:
    vips: list[models.Vip | models.AdditionalVip] = [lb.vip] if lb.vip is not None else []
    vips += list(lb.additional_vips)
    return base.LoadBalancerNetwork(
        id=lb.id,
        topology=lb.topology,
        vips=tuple(
            base.Vip(subnet_id=v.subnet_id, address=v.ip_address, port_id=v.port_id) for v in vips
        ),
    )


def _freeze(lb: models.LoadBalancer) -> Snapshot:
    deleting = lb.provisioning_status == Provisioning.PENDING_DELETE
    amphorae = tuple(
        AmphoraState(amphora_value(a), bool(a.failover_requested), a.updated_at)
        for a in lb.amphorae
        if a.status != AmphoraStatus.DELETED
    )
    members = frozenset(m.ip_address for p in lb.pools for m in p.members)
    return Snapshot(
        lb_id=lb.id,
        generation=lb.generation or 0,
        provisioning_status=lb.provisioning_status,
        topology=lb.topology,
        amphora_count=lb.amphora_count or 1,
        failover_requested=bool(lb.failover_requested),
        network=network_of(lb),
        amphorae=amphorae,
        view=None if deleting else build.lb_view(lb, flavor=flavor_data(lb)),
        member_addresses=members,
        unsettled=unsettled(lb),
        request_id=lb.request_id,
        project_id=lb.project_id or '',
        tls_files=() if deleting else build.tls_files(lb),
    )


def flavor_data(lb: models.LoadBalancer) -> dict[str, object]:
    """The metadata of the LB's flavor profile; {} without a flavor."""
    session = object_session(lb)
    flavor = session.get(models.Flavor, lb.flavor_id) if session and lb.flavor_id else None
    if flavor is None:
        return {}
    data = json.loads(flavor.flavor_profile.flavor_data or '{}')
    return data if isinstance(data, dict) else {}


def load_graph(session: Session, lb_id: str, lock: bool = False) -> models.LoadBalancer | None:
    """The LB with every child; `lock` takes the LB row's lock first."""
    stmt = select(LB).where(LB.id == lb_id).options(*GRAPH)
    if lock:
        stmt = stmt.with_for_update(of=LB)
    return session.scalars(stmt).first()


def load(lb_id: str) -> Snapshot | None:
    """The LB's graph, read once; None if there is no such LB."""
    with db.reading() as session:
        lb = load_graph(session, lb_id)
        return None if lb is None else _freeze(lb)
