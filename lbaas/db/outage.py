"""How long-running loops wait when the database is away.

`database_unavailable` tells an outage (refused or lost connections, a
server shutting down, an exhausted pool) from a wrong statement; `Outage`
logs one warning when the database goes, one line when it is back, and
paces the retries.
"""

import logging
import threading
import time

from sqlalchemy import exc as sa_exc

LOG = logging.getLogger(__name__)


def database_unavailable(exc: BaseException) -> bool:
    """The database is away or cannot serve now (not: the statement is wrong).

    Refused or lost connections, a server shutting down or starting up, an
    exhausted pool, and the transient refusals drivers report the same way
    (a deadlock victim, a lock wait timeout).
    """
    if isinstance(
        exc,
        (
            sa_exc.DisconnectionError,
            sa_exc.TimeoutError,
            sa_exc.OperationalError,
            sa_exc.InterfaceError,
        ),
    ):
        return True
    return isinstance(exc, sa_exc.DBAPIError) and bool(exc.connection_invalidated)


def _reason(exc: BaseException) -> str:
    return str(getattr(exc, 'orig', None) or exc).strip().partition('\n')[0]


class Outage:
    """One loop's view of the database: up, or away since when.

    `failed()` after an error returns how long to pause: a growing pause
    (`first` doubling up to `longest` seconds) while the database is away,
    with one warning per outage; the loop's `usual` pause for any other
    error, logged each time. `ended()` after a success closes an outage.
    """

    def __init__(self, name: str, first: float = 0.25, longest: float = 2.0) -> None:
        self.name = name
        self.first, self.longest = first, longest
        self.lock = threading.Lock()
        self.since: float | None = None
        self.pause = 0.0

    @property
    def active(self) -> bool:
        return self.since is not None

    def failed(self, exc: BaseException, usual: float) -> float:
        if not database_unavailable(exc):
            LOG.error('%s failed; trying again in %.1fs', self.name, usual, exc_info=exc)
            return usual
        with self.lock:
            starting = self.since is None
            if starting:
                self.since, self.pause = time.monotonic(), self.first
            else:
                self.pause = min(self.longest, self.pause * 2)
            pause = self.pause
        if starting:
            LOG.warning(
                '%s: database unavailable (%s); retrying until it is back', self.name, _reason(exc)
            )
        return pause

    def ended(self) -> bool:
        """Note a success; True if it ends an outage."""
        with self.lock:
            since, self.since = self.since, None
        if since is None:
            return False
        LOG.warning('%s: database back after %.1fs', self.name, time.monotonic() - since)
        return True
