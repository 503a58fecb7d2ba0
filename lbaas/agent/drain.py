"""Draining removed and disabled members (runtime changes, see runtime.py).

A member removed or disabled at run time goes to maintenance at once: no new
connection reaches it, its established ones go on. The `Reaper` then waits
for them: a removed server is deleted as soon as it has none left; once the
drain timeout passes, what remains is closed (`shutdown sessions server`),
and a removed server is deleted when HAProxy has let go of its idle
connections too. A reload bounds the same wait for the old worker with
`hard-stop-after`, which is where the agent reads its drain timeout: the
controller renders it from `[haproxy_amphora] member_drain_timeout` or the
flavor's (lbaas/dataplane/render.py).
"""

from __future__ import annotations

import dataclasses
import logging
import re
import threading
import time

from lbaas.agent.runtime import RuntimeApplyError, shutdown_sessions, try_delete

LOG = logging.getLogger(__name__)
DEFAULT_DRAIN_TIMEOUT = 300.0  # seconds, without `hard-stop-after`
REAP_INTERVAL = 0.5  # how often the Reaper looks
DELETE_GIVE_UP = 30.0  # after closing, idle connections (pool-purge-delay 5 s) may linger
_TIME = re.compile(r"^(\d+)(us|ms|s|m|h|d)?$")
_UNIT = {"us": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}


def parse_time(text: str) -> float | None:
    """HAProxy's time format in seconds (no unit: milliseconds); None if odd."""
    found = _TIME.match(text.strip())
    if found is None:
        return None
    return int(found.group(1)) * _UNIT[found.group(2) or "ms"]


def drain_timeout(haproxy_cfg: str) -> float:
    """Seconds a removed or disabled server keeps its connections: the
    global section's `hard-stop-after` (0 "at once" is rendered as 1ms)."""
    for raw in haproxy_cfg.splitlines():
        if raw[:1] not in ("", " ", "\t", "#") and not raw.startswith("global"):
            break  # past the global section
        words = raw.split()
        if words[:1] == ["hard-stop-after"] and len(words) == 2:
            seconds = parse_time(words[1])
            if seconds is not None:
                return seconds
    return DEFAULT_DRAIN_TIMEOUT


@dataclasses.dataclass
class Drain:
    """One server in maintenance with connections, maybe."""

    deadline: float  # monotonic: close what is left then (or give up deleting)
    delete: bool  # removed (delete it) or disabled (only close its connections)
    closed: bool = False  # `shutdown sessions` sent


class Reaper:
    """Ends the drains of servers in maintenance, from a thread that runs
    while any are pending.

    `lock` is the agent's change lock: the agent holds it whenever it calls
    `schedule`, `cancel`, `clear` or `pending`, and reloads or plans only under it.
    """

    def __init__(self, stats_socket: str, lock: threading.Lock) -> None:
        self.stats_socket = stats_socket
        self._lock = lock
        self._pending: dict[str, Drain] = {}  # backend/server -> its drain
        self._thread: threading.Thread | None = None

    def pending(self) -> set[str]:
        """Removed servers not deleted yet (a disabled one is still there anyway)."""
        return {target for target, drain in self._pending.items() if drain.delete}

    def draining(self) -> dict[str, Drain]:
        return dict(self._pending)

    def schedule(
        self, targets: list[str], timeout: float = DEFAULT_DRAIN_TIMEOUT, delete: bool = True
    ) -> None:
        """Drain `targets` (already in maintenance) for `timeout` seconds."""
        deadline = time.monotonic() + timeout
        self._pending.update((target, Drain(deadline, delete)) for target in targets)
        if self._pending and self._thread is None:
            self._thread = threading.Thread(target=self._run, name="reaper", daemon=True)
            self._thread.start()

    def cancel(self, targets: list[str]) -> None:
        """Servers enabled again: their connections stay."""
        for target in targets:
            drain = self._pending.get(target)
            if drain is not None and not drain.delete:
                del self._pending[target]

    def clear(self) -> None:
        """A new worker started from the file: it has none of them."""
        self._pending.clear()

    def _run(self) -> None:
        while True:
            time.sleep(REAP_INTERVAL)
            if not self._lock.acquire(timeout=REAP_INTERVAL):
                continue
            try:
                self.reap_once()
                if not self._pending:
                    self._thread = None
                    return
            finally:
                self._lock.release()

    def reap_once(self, now: float | None = None) -> None:
        """One look at every drain (under the lock)."""
        now = time.monotonic() if now is None else now
        for target, drain in list(self._pending.items()):
            try:
                done = self._step(target, drain, now)
            except RuntimeApplyError as exc:  # no worker, or no such server: nothing left
                LOG.info("%s; forgetting %s", exc, target)
                done = True
            if done:
                del self._pending[target]

    def _step(self, target: str, drain: Drain, now: float) -> bool:
        """Advance one drain; True when it is over."""
        if drain.delete and try_delete(self.stats_socket, target):
            LOG.info("removed server %s deleted after draining", target)
            return True
        if now < drain.deadline:
            return False
        if not drain.closed:
            LOG.info("drain timeout of %s passed: closing its connections", target)
            shutdown_sessions(self.stats_socket, target)
            drain.closed = True
            drain.deadline = now + DELETE_GIVE_UP
            return not drain.delete
        LOG.warning("server %s still has connections; left in maintenance", target)
        return True
