"""What the heartbeats of one flush period change in the database.

One flush reads the LB rows of the amphorae heard (and a shape now and
then), derives statuses and statistics in memory, and writes whatever
changed in one transaction: operating statuses (only for ACTIVE load
balancers, whose rows it locks first, as every writer does, and only if the
generation is the one the statuses were derived from), listener statistics
(cumulative values, so two health managers writing the same ones agree) and
amphora_health rows. Nothing changed, nothing written: memory remembers
what the database holds.
"""

from __future__ import annotations

import datetime
import time
from collections.abc import Iterable

from sqlalchemy import select
from sqlalchemy.orm import Session

from lbaas.controller.health import mapping, rows, shapes
from lbaas.controller.health.receiver import Heard
from lbaas.controller.health.report import COLUMNS
from lbaas.db import models
from lbaas.db import session as db
from lbaas.statuses import Provisioning

LB = models.LoadBalancer
Stat = tuple[int, int, int, int, int]  # COLUMNS, then active_connections


def timestamp(seconds: float) -> datetime.datetime:
    """A naive UTC datetime, as the database columns hold them."""
    return datetime.datetime.fromtimestamp(seconds, datetime.UTC).replace(tzinfo=None)


class Store:
    def __init__(self, timeout: float) -> None:
        self.timeout = timeout  # reports older than this speak for no one
        self.write_every = timeout / 4  # an amphora's last_update, at most this often
        self.known: dict[str, shapes.Known] = {}
        self.latest: dict[str, Heard] = {}  # every amphora's newest report
        self.by_lb: dict[str, set[str]] = {}  # LB id -> amphora ids heard
        self.stats: dict[tuple[str, str], Stat] = {}  # as written, per (listener, amphora)
        self.health_at: dict[str, float] = {}  # when we last wrote each amphora's row
        self.transactions = 0
        self.pruned = time.monotonic()

    def flush(self, batch: dict[str, Heard]) -> None:
        """Write what `batch` changes; on an error nothing is remembered."""
        for amphora_id, heard in batch.items():
            self.latest[amphora_id] = heard
            if heard.lb_id is not None:
                self.by_lb.setdefault(heard.lb_id, set()).add(amphora_id)
        lbs = self._read({h.lb_id for h in batch.values() if h.lb_id is not None})
        statuses = {
            lb_id: found
            for lb_id, row in lbs.items()
            if row.provisioning_status == Provisioning.ACTIVE and (found := self._statuses(lb_id))
        }
        stats = self._stats(batch, lbs)
        now = time.monotonic()
        health = sorted(
            (a for a in batch if now - self.health_at.get(a, float('-inf')) >= self.write_every),
        )
        if statuses or stats or health:
            written = self._write(statuses, lbs, stats, [batch[a] for a in health])
            self.transactions += 1
            self._remember(statuses, written, stats, health, now)
        self._prune(now)

    def _read(self, lb_ids: set[str]) -> dict[str, shapes.LbRow]:
        """The LB rows of `lb_ids`, and the shapes that moved on since read."""
        if not lb_ids:
            return {}
        now = time.monotonic()
        with db.reading() as session:
            lbs = shapes.lb_rows(session, lb_ids)
            reread = [
                lb_id
                for lb_id, row in lbs.items()
                if row.provisioning_status != Provisioning.DELETED
                and shapes.outdated(self.known.get(lb_id), row, now)
            ]
            if reread:
                self.known.update(shapes.load(session, reread))
        return lbs

    def _statuses(self, lb_id: str) -> mapping.Statuses:
        """What the LB's chosen report changes in its statuses."""
        known = self.known.get(lb_id)
        if known is None:
            return {}
        cutoff = time.time() - self.timeout
        candidates = {a: self.latest[a] for a in self.by_lb.get(lb_id, ()) if a in self.latest}
        chosen = mapping.choose(
            [
                mapping.Candidate(a, h.role, bool(h.report.seen.listeners))
                for a, h in candidates.items()
                if h.received >= cutoff
            ]
        )
        if chosen is None:
            return {}
        seen = candidates[chosen.amphora_id].report.seen
        derived = mapping.derive(known.shape, seen, known.statuses)
        return mapping.changes(derived, known.statuses)

    def _stats(self, batch: dict[str, Heard], lbs: dict[str, shapes.LbRow]) -> list[rows.Row]:
        """listener_statistics rows that change: one per listener the LB still has."""
        out: list[rows.Row] = []
        for amphora_id, heard in batch.items():
            known = self.known.get(heard.lb_id or '')
            if known is None or heard.lb_id not in lbs:
                continue
            listeners = known.shape.listener_ids
            for listener_id, traffic in heard.report.traffic.items():
                value: Stat = (*traffic.counters, traffic.conns)
                key = (listener_id, amphora_id)
                if listener_id not in listeners or self.stats.get(key) == value:
                    continue
                if (
                    not traffic.cumulative
                    and not any(traffic.counters)
                    and self.stats.get(key, value)[4] == traffic.conns
                ):
                    continue  # nothing to add, and the open count is the same
                row: rows.Row = dict(zip(COLUMNS, traffic.counters, strict=True))
                row.update(
                    listener_id=listener_id,
                    amphora_id=amphora_id,
                    active_connections=traffic.conns,
                    cumulative=traffic.cumulative,
                )
                out.append(row)
        return out

    def _write(
        self,
        statuses: dict[str, mapping.Statuses],
        lbs: dict[str, shapes.LbRow],
        stats: list[rows.Row],
        heard: list[Heard],
    ) -> set[str]:
        """One transaction; returns the LBs whose statuses were written."""
        with db.writing() as session:
            written = _lock_unchanged(session, statuses, lbs)
            rows.set_statuses(
                session, {key: v for lb_id in written for key, v in statuses[lb_id].items()}
            )
            _write_stats(session, stats)
            rows.upsert(
                session,
                models.AmphoraHealth.__table__,  # type: ignore[arg-type]
                [
                    {
                        'amphora_id': h.report.amphora_id,
                        'last_update': timestamp(h.received),
                        'busy': False,
                    }
                    for h in heard
                ],
                keys=('amphora_id',),
            )
        return written

    def _remember(
        self,
        statuses: dict[str, mapping.Statuses],
        written: set[str],
        stats: list[rows.Row],
        health: Iterable[str],
        now: float,
    ) -> None:
        """After the commit: memory now says what the database holds."""
        for lb_id in statuses:
            if lb_id in written:
                self.known[lb_id].statuses.update(statuses[lb_id])
            else:
                self.known.pop(lb_id, None)  # it changed under us: read it again
        for row in stats:
            key = (row['listener_id'], row['amphora_id'])
            if row['cumulative']:
                self.stats[key] = (*(row[c] for c in COLUMNS), row['active_connections'])
            else:
                self.stats[key] = (0, 0, 0, 0, row['active_connections'])
        for amphora_id in health:
            self.health_at[amphora_id] = now

    def _prune(self, now: float) -> None:
        """Forget amphorae not heard for a while (deleted, or failed over)."""
        if now - self.pruned < max(10.0, self.timeout):
            return
        self.pruned = now
        cutoff = time.time() - 2 * max(self.timeout, 10.0)
        for amphora_id in [a for a, h in self.latest.items() if h.received < cutoff]:
            heard = self.latest.pop(amphora_id)
            self.health_at.pop(amphora_id, None)
            self.by_lb.get(heard.lb_id or '', set()).discard(amphora_id)
        self.stats = {k: v for k, v in self.stats.items() if k[1] in self.latest}
        live = {h.lb_id for h in self.latest.values()}
        self.known = {k: v for k, v in self.known.items() if k in live}
        self.by_lb = {k: v for k, v in self.by_lb.items() if v}


def _lock_unchanged(
    session: Session, statuses: dict[str, mapping.Statuses], lbs: dict[str, shapes.LbRow]
) -> set[str]:
    """Lock the LBs whose statuses change; keep those still ACTIVE at the
    generation the statuses were derived from."""
    if not statuses:
        return set()
    kept: set[str] = set()
    for batch in rows.chunks(sorted(statuses)):
        stmt = (
            select(LB.id, LB.generation)
            .where(LB.id.in_(batch), LB.provisioning_status == Provisioning.ACTIVE)
            .order_by(LB.id)
            .with_for_update()
        )
        for lb_id, generation in session.execute(stmt):
            if (generation or 0) == lbs[lb_id].generation:
                kept.add(lb_id)
    return kept


def _write_stats(session: Session, stats: list[rows.Row]) -> None:
    table = models.ListenerStatistics.__table__
    keys = ('listener_id', 'amphora_id')
    for cumulative in (True, False):
        batch = [
            {k: v for k, v in row.items() if k != 'cumulative'}
            for row in stats
            if row['cumulative'] is cumulative
        ]
        rows.upsert(session, table, batch, keys, add=() if cumulative else COLUMNS)  # type: ignore[arg-type]
