"""Leases on load balancer rows: which worker reconciles which LB.

A claim is a compare-and-set UPDATE (taken only if free or expired), which
every supported database does atomically, so no LB is reconciled twice at
once across any number of workers and hosts. A worker that dies simply stops
renewing; its claims expire and another worker finishes the job.
"""

import datetime
import os
import time
from typing import Any, TypeGuard, cast

from sqlalchemy import ColumnElement, CursorResult, or_, select, true, update
from sqlalchemy.orm import Session

from lbaas import config
from lbaas.controller import provider_registry
from lbaas.db import models
from lbaas.db import session as db
from lbaas.db.models import utcnow
from lbaas.statuses import PENDING

LB = models.LoadBalancer


def owner_id() -> str:
    return '%s:%d' % (config.CONF.host, os.getpid())


def _now() -> datetime.datetime:
    return utcnow()


def _expiry() -> datetime.datetime:
    return _now() + datetime.timedelta(seconds=config.CONF.controller_worker.lease_seconds)


class Lease:
    def __init__(self, lb_id: str, owner: str) -> None:
        self.lb_id = lb_id
        self.owner = owner
        self.renewed_at = time.monotonic()

    @db.retried
    def renew(self, force: bool = False) -> None:
        """Push the expiry out again; a no-op within the first quarter of the
        lease, so a pass that renews after each step costs no transactions."""
        seconds = config.CONF.controller_worker.lease_seconds
        if not force and time.monotonic() - self.renewed_at < seconds / 4:
            return
        self.renewed_at = time.monotonic()
        with db.writing() as session:
            session.execute(
                update(LB)
                .where(LB.id == self.lb_id, LB.lease_owner == self.owner)
                .values(lease_expires_at=_expiry())
            )


def _ours() -> ColumnElement[bool]:
    """Not an external provider's LB: its provider owns its data plane."""
    external = provider_registry.external_names()
    if not external:
        return true()
    return or_(LB.provider.is_(None), LB.provider.not_in(external))


def claimable_ids(limit: int = 100) -> list[str]:
    now = _now()
    stmt = (
        select(LB.id)
        .where(
            LB.provisioning_status.in_(PENDING),
            or_(LB.lease_owner.is_(None), LB.lease_expires_at < now),
            or_(LB.next_attempt_at.is_(None), LB.next_attempt_at <= now),
            _ours(),
        )
        .limit(limit)
    )
    with db.reading() as session:
        return list(session.scalars(stmt))


@db.retried
def claim(lb_id: str, owner: str) -> Lease | None:
    """The lease on `lb_id` for `owner`, or None if someone else holds it."""
    now = _now()
    with db.writing() as session:
        result = session.execute(
            update(LB)
            .where(
                LB.id == lb_id,
                LB.provisioning_status.in_(PENDING),
                or_(LB.lease_owner.is_(None), LB.lease_expires_at < now),
                or_(LB.next_attempt_at.is_(None), LB.next_attempt_at <= now),
                _ours(),
            )
            .values(lease_owner=owner, lease_expires_at=_expiry())
        )
    claimed = cast('CursorResult[Any]', result).rowcount == 1  # an UPDATE's result
    return Lease(lb_id, owner) if claimed else None


def still_mine(lb: models.LoadBalancer | None, lease: Lease) -> TypeGuard[models.LoadBalancer]:
    return lb is not None and lb.lease_owner == lease.owner


def release(lb: models.LoadBalancer, session: Session) -> None:
    lb.lease_owner = None
    lb.lease_expires_at = None


def release_dead_local_owners() -> None:
    """Free leases of workers on this host whose process is gone.

    A restarted worker need not wait for its predecessor's leases to expire:
    on the same host, a dead pid is certain.
    """
    prefix = config.CONF.host + ':'
    with db.writing() as session:
        rows = session.execute(
            select(LB.id, LB.lease_owner).where(LB.lease_owner.like(prefix + '%'))
        ).all()
        for lb_id, owner in rows:
            pid = str(owner)[len(prefix) :]  # LIKE matched: never None
            if pid.isdigit() and not _alive(int(pid)):
                session.execute(
                    update(LB)
                    .where(LB.id == lb_id, LB.lease_owner == owner)
                    .values(lease_owner=None, lease_expires_at=None)
                )


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
