"""The last transaction of a reconcile pass: statuses settle, or nothing changes.

It takes the LB row's lock first (API writes queue on the same lock), then
checks the lease is still ours and the generation is the one the pass
served; only then do PENDING objects become ACTIVE or go away. New work that
arrived meanwhile leaves everything PENDING and frees the LB for the next pass.
"""

from __future__ import annotations

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from lbaas.controller import leases
from lbaas.controller.snapshot import KINDS, Child, Snapshot, load_graph
from lbaas.db import models
from lbaas.db import session as db
from lbaas.statuses import PENDING, AmphoraStatus, Operating, Provisioning

LB = models.LoadBalancer
ONLINE_WHEN_ENABLED = (models.HealthMonitor, models.L7Policy, models.L7Rule)


def _locked_lb(session: Session, lb_id: str) -> models.LoadBalancer | None:
    return session.scalars(select(LB).where(LB.id == lb_id).with_for_update(of=LB)).first()


def _rows(session: Session, pairs: tuple[tuple[str, str], ...]) -> list[Child]:
    rows: list[Child] = []
    for kind, model in KINDS.items():
        ids = [obj_id for k, obj_id in pairs if k == kind]
        if ids:
            rows += session.scalars(select(model).where(model.id.in_(ids)))
    return rows


def _settle(obj: Child, session: Session) -> None:
    """A pending object after a successful reconcile: ACTIVE, or gone."""
    status = obj.provisioning_status
    if status == Provisioning.PENDING_DELETE:
        if isinstance(obj, models.Pool):
            for listener in obj.default_listeners:
                listener.default_pool = None
        session.delete(obj)
    elif status in PENDING:
        if isinstance(obj, ONLINE_WHEN_ENABLED):
            # As Octavia's Mark{HealthMonitor,L7Policy,L7Rule}ActiveInDB: no
            # heartbeat reports these, so their admin state is their health.
            obj.operating_status = Operating.ONLINE if obj.enabled else Operating.OFFLINE
        obj.provisioning_status = Provisioning.ACTIVE


def _compact_positions(rows: list[Child]) -> None:
    """L7 policies that stay are renumbered 1..n, as Octavia's ordering list."""
    gone = [
        r
        for r in rows
        if isinstance(r, models.L7Policy) and r.provisioning_status == Provisioning.PENDING_DELETE
    ]
    for listener in {p.listener for p in gone}:
        staying = [
            p for p in listener.l7policies if p.provisioning_status != Provisioning.PENDING_DELETE
        ]
        for number, policy in enumerate(staying, start=1):
            policy.position = number


@db.retried
def finish(snap: Snapshot, lease: leases.Lease, digests: dict[str, str]) -> None:
    with db.writing() as session:
        lb = _locked_lb(session, snap.lb_id)
        if lb is None or not leases.still_mine(lb, lease):
            return  # another pass owns the LB now
        if lb.generation != snap.generation:
            leases.release(lb, session)  # new work arrived: the next pass takes it
            return
        rows = _rows(session, snap.unsettled)
        _compact_positions(rows)
        for obj in rows:
            _settle(obj, session)
        A = models.Amphora
        for amphora_id, digest in digests.items():
            session.execute(
                update(A)
                .where(A.id == amphora_id)
                .values(
                    status=AmphoraStatus.ALLOCATED, config_digest=digest, failover_requested=False
                )
            )
        lb.provisioning_status = Provisioning.ACTIVE
        lb.failover_requested = False
        leases.release(lb, session)


@db.retried
def finish_delete(lb_id: str, lease: leases.Lease) -> None:
    with db.writing() as session:
        lb = load_graph(session, lb_id, lock=True)
        if lb is None or not leases.still_mine(lb, lease):
            return
        for obj in list(models.descendants(lb)):
            session.delete(obj)
        # models declares `vip` non-optional, yet an LB being deleted has none
        lb.vip = None  # type: ignore[assignment]  # frees the address for the next LB
        lb.additional_vips = []
        lb.provisioning_status = Provisioning.DELETED
        lb.operating_status = Operating.OFFLINE
        leases.release(lb, session)
