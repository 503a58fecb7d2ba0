"""Operating statuses and statistics read from the amphorae's HAProxy.

Until the health manager receives heartbeats, the worker polls each running
amphora's stats socket (through its agent) and maps HAProxy's view onto
Octavia's operating statuses: frontends OPEN/FULL give listeners
ONLINE/DEGRADED, servers UP/DOWN/DRAIN/MAINT/"no check" give members
ONLINE/ERROR/DRAINING/OFFLINE/NO_MONITOR, pools and the LB follow their
worst child. Rows are written only when a status changes. Counters reset on
every HAProxy reload, so statistics accumulate deltas.
"""

import logging
import threading
from collections.abc import Collection, Iterable
from typing import cast

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from lbaas.controller.snapshot import amphora_value
from lbaas.db import models
from lbaas.db import outage as db_outage
from lbaas.db import session as db
from lbaas.drivers.base import Drivers, StatRow

LOG = logging.getLogger(__name__)
COUNTERS = (
    ('bytes_in', 'bin'),
    ('bytes_out', 'bout'),
    ('total_connections', 'stot'),
    ('request_errors', 'ereq'),
)


def _name(row: StatRow, column: str) -> str:
    """`pxname` or `svname`: HAProxy names every proxy and server."""
    return cast(str, row.get(column))


def _text(row: StatRow, column: str) -> str | None:
    """A text column (the agent sends text as str, an empty field as None)."""
    return cast('str | None', row.get(column))


def member_status(haproxy_status: str | None) -> str:
    text = (haproxy_status or '').upper()
    if text.startswith('UP'):
        return 'ONLINE'
    if text.startswith('DOWN'):
        return 'ERROR'
    if text.startswith('DRAIN') or text.startswith('NOLB'):
        return 'DRAINING'
    if text.startswith('MAINT'):
        return 'OFFLINE'
    return 'NO_MONITOR'  # "no check": the pool has no health monitor


def pool_status(member_statuses: Collection[str], backend_status: str | None) -> str:
    if (backend_status or '').upper().startswith('DOWN') and member_statuses:
        return 'ERROR'
    if 'ERROR' in member_statuses:
        return 'DEGRADED'
    return 'ONLINE'


def _rows_by_proxy(
    rows: Iterable[StatRow],
) -> tuple[dict[str, StatRow], dict[str, StatRow], dict[str, dict[str, StatRow]]]:
    frontends: dict[str, StatRow] = {}
    servers: dict[str, dict[str, StatRow]] = {}
    backends: dict[str, StatRow] = {}
    for row in rows:
        proxy, name = _name(row, 'pxname'), _name(row, 'svname')
        if name == 'FRONTEND':
            frontends[proxy] = row
        elif name == 'BACKEND':
            backends[proxy.split(':')[0]] = row
        else:
            servers.setdefault(proxy.split(':')[0], {})[name] = row
    return frontends, backends, servers


def _set(obj: models.StatusMixin, status: str) -> None:
    if obj.operating_status != status:
        obj.operating_status = status


def apply_rows(lb: models.LoadBalancer, rows: Iterable[StatRow]) -> None:
    """Update the LB graph's operating statuses from HAProxy rows."""
    frontends, backends, servers = _rows_by_proxy(rows)
    for pool in lb.pools:
        if not pool.enabled:
            _set(pool, 'OFFLINE')
            continue
        seen = servers.get(pool.id, {})
        statuses = []
        for member in pool.members:
            row = seen.get(member.id)
            status = member_status(_text(row, 'status')) if row else 'OFFLINE'
            _set(member, status if member.enabled else 'OFFLINE')
            statuses.append(member.operating_status)
        backend = backends.get(pool.id)
        _set(pool, pool_status(statuses, _text(backend, 'status')) if backend else 'OFFLINE')
    for listener in lb.listeners:
        row = frontends.get(listener.id)
        status = (
            ('DEGRADED' if row.get('status') == 'FULL' else 'ONLINE')
            if row
            else ('ERROR' if listener.enabled else 'OFFLINE')
        )
        _set(listener, status)
    _set(lb, lb_status(lb) if lb.enabled else 'OFFLINE')


def lb_status(lb: models.LoadBalancer) -> str:
    """As Octavia's heartbeat handling: a DOWN pool makes the LB ERROR, a down
    member or a full or missing listener makes it DEGRADED."""
    pools = {p.operating_status for p in lb.pools}
    listeners = {li.operating_status for li in lb.listeners}
    if 'ERROR' in pools:
        return 'ERROR'
    if 'DEGRADED' in pools or listeners & {'DEGRADED', 'ERROR'}:
        return 'DEGRADED'
    return 'ONLINE'


class StatusPoller:
    """Polls every ACTIVE LB's amphorae; one thread in the worker process."""

    def __init__(self, drivers: Drivers, interval: float) -> None:
        self.drivers = drivers
        self.interval = interval
        self.last_raw: dict[
            tuple[str, str], dict[str, int]
        ] = {}  # (listener, amphora) -> raw counters at last poll

    def run(self, stop: threading.Event) -> None:
        """Poll until `stop`; a database outage is waited out, never fatal."""
        outage = db_outage.Outage('status poller')
        pause = self.interval
        while not stop.wait(pause):
            try:
                self.poll_once()
            except Exception as exc:  # a database or agent hiccup: try again
                pause = outage.failed(exc, self.interval)
                continue
            outage.ended()
            pause = self.interval

    def poll_once(self) -> None:
        with db.reading() as session:
            amphorae: list[models.Amphora] = list(
                session.scalars(
                    select(models.Amphora).where(
                        models.Amphora.status == 'ALLOCATED',
                        models.Amphora.load_balancer_id.is_not(None),
                    )
                )
            )
        by_lb: dict[str, list[tuple[str, StatRow]]] = {}
        for amphora in amphorae:
            rows = self.drivers.amphora.stats(amphora_value(amphora))
            if rows is None:
                continue  # unreachable: nothing known, nothing changes
            # An amphora that answers with no rows still counts, as a
            # heartbeat does in Octavia: an LB without listeners is ONLINE.
            lb_id = cast(str, amphora.load_balancer_id)  # the query skips amphorae without one
            by_lb.setdefault(lb_id, []).extend((amphora.id, row) for row in rows)
        for lb_id, tagged_rows in by_lb.items():
            self._store(lb_id, tagged_rows)

    def _store(self, lb_id: str, tagged_rows: list[tuple[str, StatRow]]) -> None:
        with db.writing() as session:
            lb: models.LoadBalancer | None = session.scalars(
                select(models.LoadBalancer)
                .where(models.LoadBalancer.id == lb_id)
                .options(
                    selectinload(models.LoadBalancer.pools).selectinload(models.Pool.members),
                    selectinload(models.LoadBalancer.listeners),
                )
            ).first()
            if lb is None or lb.provisioning_status != 'ACTIVE':
                return  # the reconcile loop owns statuses while it works
            apply_rows(lb, [row for _, row in tagged_rows])
            listener_ids = {li.id for li in lb.listeners}
            for amphora_id, row in tagged_rows:
                pxname = _name(row, 'pxname')
                if row.get('svname') == 'FRONTEND' and pxname in listener_ids:
                    self._count(session, pxname, amphora_id, row)

    def _count(self, session: Session, listener_id: str, amphora_id: str, row: StatRow) -> None:
        key = (listener_id, amphora_id)
        stats = session.get(models.ListenerStatistics, key)
        if stats is None:
            stats = models.ListenerStatistics(
                listener_id=listener_id,
                amphora_id=amphora_id,
                bytes_in=0,
                bytes_out=0,
                total_connections=0,
                request_errors=0,
                active_connections=0,
            )
            session.add(stats)
        raw = {name: int(row.get(column) or 0) for name, column in COUNTERS}
        previous = self.last_raw.get(key)
        if previous is None and stats.total_connections:
            # First look since this worker started: what HAProxy counted before
            # was already stored by our predecessor, so this is the baseline.
            previous = raw
        for name, value in raw.items():
            # A reload resets HAProxy's counters: a smaller value is a new run.
            base = previous[name] if previous and value >= previous[name] else 0
            setattr(stats, name, (getattr(stats, name) or 0) + value - base)
        stats.active_connections = int(row.get('scur') or 0)
        self.last_raw[key] = raw


def start(drivers: Drivers, interval: float, stop: threading.Event) -> threading.Thread:
    thread = threading.Thread(
        target=StatusPoller(drivers, interval).run, args=(stop,), name='status-poller', daemon=True
    )
    thread.start()
    return thread
