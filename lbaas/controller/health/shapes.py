"""What the health manager knows of each load balancer, read rarely.

Deriving statuses needs an LB's shape (its listeners, pools and members and
which are enabled) and the statuses the database holds. Every change to a
shape goes through the API, which bumps the LB's generation, so a shape is
read again only when the generation moved, or after `MAX_AGE` seconds (in
case someone else wrote a status meanwhile, such as another health manager
hearing a different report). Each flush reads just the LB rows.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Collection

from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from lbaas.controller.health import mapping, rows
from lbaas.db import models

MAX_AGE = 60.0
LB, Listener, Pool, Member = models.LoadBalancer, models.Listener, models.Pool, models.Member


@dataclasses.dataclass(frozen=True, slots=True)
class LbRow:
    id: str
    generation: int
    provisioning_status: str


@dataclasses.dataclass(slots=True)
class Known:
    """An LB's shape and the statuses the database holds (as far as we know)."""

    shape: mapping.LbShape
    statuses: mapping.Statuses
    loaded: float  # time.monotonic()


def lb_rows(session: Session, lb_ids: Collection[str]) -> dict[str, LbRow]:
    found: dict[str, LbRow] = {}
    for batch in rows.chunks(sorted(lb_ids)):
        stmt = select(LB.id, LB.generation, LB.provisioning_status).where(LB.id.in_(batch))
        for lb_id, generation, status in session.execute(stmt):
            found[lb_id] = LbRow(lb_id, generation or 0, status)
    return found


Child = tuple[str, str, bool, str]  # id, parent id, enabled, operating_status


def _children(session: Session, lb_ids: list[str]) -> tuple[list[Child], list[Child], list[Child]]:
    """Listeners and pools by LB, members by pool, in the API's order."""

    def read(stmt: Select[str, str, bool, str]) -> list[Child]:
        return [(r[0], r[1], bool(r[2]), r[3]) for r in session.execute(stmt)]

    listeners = read(
        select(Listener.id, Listener.load_balancer_id, Listener.enabled, Listener.operating_status)
        .where(Listener.load_balancer_id.in_(lb_ids))
        .order_by(Listener.created_at, Listener.id)
    )
    pools = read(
        select(Pool.id, Pool.load_balancer_id, Pool.enabled, Pool.operating_status)
        .where(Pool.load_balancer_id.in_(lb_ids))
        .order_by(Pool.created_at, Pool.id)
    )
    members = read(
        select(Member.id, Member.pool_id, Member.enabled, Member.operating_status)
        .join(Pool, Pool.id == Member.pool_id)
        .where(Pool.load_balancer_id.in_(lb_ids))
        .order_by(Member.created_at, Member.id)
    )
    return listeners, pools, members


class _Draft:
    """One LB's shape while its rows come in."""

    def __init__(self) -> None:
        self.listeners: list[tuple[str, bool]] = []
        self.pools: list[mapping.PoolShape] = []
        self.statuses: mapping.Statuses = {}


def _drafts(lb_ids: list[str], children: tuple[list[Child], ...]) -> dict[str, _Draft]:
    listeners, pools, members = children
    drafts = {lb_id: _Draft() for lb_id in lb_ids}
    by_pool: dict[str, list[Child]] = {}
    for member in members:
        by_pool.setdefault(member[1], []).append(member)
    for listener_id, lb_id, enabled, status in listeners:
        drafts[lb_id].listeners.append((listener_id, enabled))
        drafts[lb_id].statuses['listener', listener_id] = status
    for pool_id, lb_id, enabled, status in pools:
        draft = drafts[lb_id]
        pool_members = by_pool.get(pool_id, [])
        draft.pools.append(
            mapping.PoolShape(pool_id, enabled, tuple((m[0], m[2]) for m in pool_members))
        )
        draft.statuses['pool', pool_id] = status
        draft.statuses.update((('member', m[0]), m[3]) for m in pool_members)
    return drafts


def load(session: Session, lb_ids: Collection[str]) -> dict[str, Known]:
    """The shapes and current statuses of `lb_ids` (those that exist)."""
    known: dict[str, Known] = {}
    now = time.monotonic()
    for batch in rows.chunks(sorted(lb_ids)):
        heads = session.execute(
            select(LB.id, LB.generation, LB.enabled, LB.operating_status).where(LB.id.in_(batch))
        ).all()
        drafts = _drafts([h.id for h in heads], _children(session, batch))
        for head in heads:
            draft = drafts[head.id]
            draft.statuses['loadbalancer', head.id] = head.operating_status
            shape = mapping.LbShape(
                head.id,
                head.generation or 0,
                bool(head.enabled),
                tuple(draft.listeners),
                tuple(draft.pools),
            )
            known[head.id] = Known(shape, draft.statuses, now)
    return known


def outdated(known: Known | None, row: LbRow, now: float) -> bool:
    return (
        known is None or known.shape.generation != row.generation or (now - known.loaded > MAX_AGE)
    )
