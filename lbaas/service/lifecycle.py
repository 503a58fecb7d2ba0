"""The status machine every API write goes through (DESIGN section 2).

A write locks the load balancer row, requires it mutable (409 otherwise,
with Octavia's wording), applies the change, marks the object and its
parents PENDING_*, bumps the LB's generation, and commits. The worker is
nudged only after the commit (see `lbaas.db.work`).
"""
from collections.abc import Collection, Sequence
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session
from sqlalchemy.sql.base import ExecutableOption

from lbaas import errors, statuses
from lbaas.db import models, work
from lbaas.service import provider_drivers
from lbaas.statuses import Operating, Provisioning

ACTIVE = Provisioning.ACTIVE
PENDING_CREATE = Provisioning.PENDING_CREATE
PENDING_UPDATE = Provisioning.PENDING_UPDATE
PENDING_DELETE = Provisioning.PENDING_DELETE
DELETED = Provisioning.DELETED
ERROR = Provisioning.ERROR
PENDING = tuple(sorted(statuses.PENDING))

ONLINE = Operating.ONLINE
OFFLINE = Operating.OFFLINE
NO_MONITOR = Operating.NO_MONITOR

MUTABLE = (ACTIVE,)
DELETABLE = (ACTIVE, ERROR)
FAILOVERABLE = (ACTIVE, ERROR)


def forget_reads(session: Session) -> None:
    """Drop every row the session read so far: after a lock, decide on fresh values.

    A write reads rows before it locks (to find the LB, to authorize), and the
    identity map would hand those same stale objects back after the lock.
    Expiring them makes the next access read again, under the lock.
    """
    if session.new or session.dirty or session.deleted:
        raise RuntimeError('a write changed rows before taking its lock')
    session.expire_all()


def get_lb(session: Session, lb_id: str, lock: bool = False,
           options: Sequence[ExecutableOption] = ()) -> models.LoadBalancer:
    """The LB row, locked for update when asked; 404 if missing or DELETED.

    Locking forgets every earlier read, so all decisions after it see the
    values committed before the lock was granted.
    """
    stmt = select(models.LoadBalancer).where(models.LoadBalancer.id == lb_id).options(*options)
    if lock:
        forget_reads(session)
        # OF: the VIP is joined eagerly, and PostgreSQL refuses to lock the
        # nullable side of an outer join.
        stmt = stmt.with_for_update(of=models.LoadBalancer)
    lb = session.scalars(stmt).unique().first()
    if lb is None or lb.provisioning_status == DELETED:
        raise errors.NotFound('Load Balancer', lb_id)
    if lock:
        provider_drivers.remember(session, lb)  # what an external provider's update compares
    return lb


def lock_lb(session: Session, lb_id: str,
            allowed: Collection[str] = MUTABLE) -> models.LoadBalancer:
    """For the LB's own PUT, DELETE and failover: 409 LBPendingStateError."""
    lb = get_lb(session, lb_id, lock=True)
    require_status(lb, allowed)
    return lb


def require_status(lb: models.LoadBalancer, allowed: Collection[str] = MUTABLE) -> None:
    """409 LBPendingStateError unless the LB's status is one of `allowed`."""
    if lb.provisioning_status not in allowed:
        raise errors.PendingState(lb.id, lb.provisioning_status)


def lock_mutable_lb(session: Session, lb_id: str) -> models.LoadBalancer:
    """For writes under an LB: 409 ImmutableObject, as Octavia's child controllers."""
    lb = get_lb(session, lb_id, lock=True)
    if lb.provisioning_status not in MUTABLE:
        raise errors.Immutable('Load Balancer', lb.id)
    return lb


def require_active(obj: models.Pool | models.L7Policy, resource: str) -> None:
    """Parents of a member, HM or rule must themselves be ACTIVE (Octavia)."""
    if obj.provisioning_status != ACTIVE:
        raise errors.Immutable(resource, obj.id)


def touch_lb(session: Session, lb: models.LoadBalancer, targets: Sequence[object],
             status: str = PENDING_UPDATE, *, cascade: bool = False,
             batch_pool: models.Pool | None = None, failover: bool = False) -> None:
    """Give the LB work (see `lbaas.db.work`); a worker is woken after commit.

    An LB of an external provider has the write handed to its driver here,
    before the commit (`service/provider_drivers.py`); the keywords say which
    call a write is when its targets alone cannot.
    """
    work.give_work(session, lb, targets, status)
    provider_drivers.dispatch(session, lb, targets, cascade=cascade, batch_pool=batch_pool,
                              failover=failover)


def mark(status: str, *objects: models.StatusMixin | None) -> None:
    for obj in objects:
        if obj is not None:
            obj.provisioning_status = status


def new_status_fields(enabled: bool = True, operating: str = OFFLINE) -> dict[str, Any]:
    return {'provisioning_status': PENDING_CREATE, 'operating_status': operating,
            'enabled': enabled}

