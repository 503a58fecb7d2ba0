"""Silent amphorae: found every `health_check_interval`, failed over unless
the circuit breaker holds.

An amphora is monitored once it has an amphora_health row (from its first
heartbeat; noop amphorae never send one) and while it is ALLOCATED. It is
silent when its last_update is older than `heartbeat_timeout`. A silent
amphora not yet picked (busy is false) whose LB is ACTIVE or ERROR is
handed to `failover.request_failover`, which marks it busy; a heartbeat
clears that again.

An amphora never heard from has no row, so no timeout: if its host (hosts.py)
stops heartbeating before its first report, it is failed over as well,
whatever the breaker says (the host's silence is seen in the database, not
on this process's network).
"""

from __future__ import annotations

import dataclasses
import datetime
import logging
import time

from sqlalchemy import delete, func, select

from lbaas.controller import failover, hosts
from lbaas.controller.health import breaker
from lbaas.controller.health.store import timestamp
from lbaas.db import models
from lbaas.db import session as db
from lbaas.statuses import AmphoraStatus

LOG = logging.getLogger(__name__)
A, H = models.Amphora, models.AmphoraHealth
PURGE_EVERY = 60.0  # seconds between removals of health rows of deleted amphorae


@dataclasses.dataclass(frozen=True, slots=True)
class Silent:
    amphora_id: str
    last_update: datetime.datetime
    busy: bool


def resolution() -> float:
    """How far behind a stored last_update may be: MariaDB's DATETIME keeps
    whole seconds, the other databases microseconds."""
    return 1.0 if db.engine().dialect.name == 'mysql' else 0.0


def look(cutoff: datetime.datetime) -> tuple[int, list[Silent]]:
    """(monitored amphorae, those not heard since `cutoff`), in one read."""
    allocated = A.status == AmphoraStatus.ALLOCATED
    with db.reading() as session:
        monitored = session.scalar(
            select(func.count()).select_from(A).join(H, H.amphora_id == A.id).where(allocated)
        )
        silent = [
            Silent(amphora_id, last_update, bool(busy))
            for amphora_id, last_update, busy in session.execute(
                select(A.id, H.last_update, H.busy)
                .join(H, H.amphora_id == A.id)
                .where(allocated, H.last_update < cutoff)
                .order_by(H.last_update)
            )
        ]
    return monitored or 0, silent


def unheard_on_dead_hosts() -> list[str]:
    """ALLOCATED amphorae with no health row on a registered host now dead."""
    dead = select(models.Host.name).where(models.Host.heartbeat_at <= hosts.cutoff())
    with db.reading() as session:
        return list(
            session.scalars(
                select(A.id)
                .outerjoin(H, H.amphora_id == A.id)
                .where(
                    A.status == AmphoraStatus.ALLOCATED, H.amphora_id.is_(None), A.host.in_(dead)
                )
            )
        )


def purge() -> int:
    """Drop the health rows of amphorae that are gone (deleted, purged)."""
    live = select(A.id).where(A.status != AmphoraStatus.DELETED)
    with db.writing() as session:
        result = session.execute(delete(H).where(H.amphora_id.not_in(live)))
    return int(getattr(result, 'rowcount', 0) or 0)


class StaleCheck:
    def __init__(
        self, timeout: float, interval: float, threshold: int | None, share: float
    ) -> None:
        self.timeout, self.threshold, self.share = timeout, threshold, share
        # The breaker counts amphorae quiet for less than the timeout: when
        # the controller's link drops, heartbeats stop at every phase of the
        # interval, and the first amphora crosses the timeout while the last
        # has been quiet only `timeout - interval`.
        self.quiet = max(timeout - 1.5 * interval, timeout / 2)
        # When the breaker closes, the first amphorae to beat again have
        # closed it; the others get one more timeout to be heard.
        self.held_until = float('-inf')
        self.breaker = breaker.Breaker()
        self.purged = float('-inf')
        self.requested = 0  # failovers asked for by this process

    def run_once(self) -> int:
        """One look; returns how many failovers it asked for."""
        orphans = unheard_on_dead_hosts()
        asked = sum(
            failover.request_failover(a, 'was never heard from, and its host stopped')
            for a in orphans
        )
        self.requested += asked
        return asked + self._look()

    def _look(self) -> int:
        now = time.time()
        cutoff = timestamp(now - self.timeout - resolution())
        monitored, quiet = look(timestamp(now - self.quiet - resolution()))
        was_open = self.breaker.open
        if self.breaker.check(len(quiet), monitored, self.threshold, self.share):
            return 0
        if was_open:
            self.held_until = time.monotonic() + self.timeout
        if time.monotonic() < self.held_until:
            return 0
        silent = [a for a in quiet if a.last_update < cutoff]
        asked = 0
        for amphora in silent:
            if amphora.busy:
                continue  # asked already; it is being replaced
            since = (timestamp(time.time()) - amphora.last_update).total_seconds()
            reason = 'sent no heartbeat for %.1fs' % since
            if failover.request_failover(amphora.amphora_id, reason, unless_heard_after=cutoff):
                asked += 1
        self.requested += asked
        if time.monotonic() - self.purged >= PURGE_EVERY:
            self.purged = time.monotonic()
            purge()
        return asked
