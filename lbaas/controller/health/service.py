"""The health-manager process: three threads around one inbox.

- the receiver reads datagrams and keeps each amphora's newest report;
- the flusher writes what they change, every `flush_interval`, in one
  transaction;
- the checker looks for silent amphorae every `health_check_interval`, but
  only once `heartbeat_timeout` has passed since the process started or the
  database came back (until then, the rows are old because we could not
  write them, not because the amphorae are silent).

A database outage is waited out like in the other loops (`db/outage.py`):
one warning, growing pauses, and the reports kept meanwhile.
"""

from __future__ import annotations

import collections
import errno
import logging
import socket
import threading
import time
from collections.abc import Callable

from lbaas import config
from lbaas.controller.health.receiver import DROPS, Inbox, Receiver, Roster, open_socket
from lbaas.controller.health.stale import StaleCheck
from lbaas.controller.health.store import Store
from lbaas.db import outage as db_outage

LOG = logging.getLogger(__name__)
FLUSH_INTERVAL = 0.25  # at most; a quarter of heartbeat_timeout if that is shorter
LOG_INTERVAL = 60.0  # drop counts are logged this often, when there are any
BIND_RETRY = 5.0


class HealthManager:
    def __init__(self, sock: socket.socket | None = None, key: bytes | None = None) -> None:
        hm = config.CONF.health_manager
        self.timeout = float(hm.heartbeat_timeout)
        self.check_interval = float(hm.health_check_interval)
        self.flush_interval = min(FLUSH_INTERVAL, self.timeout / 4)
        self.outage = db_outage.Outage('health manager')
        self.inbox = Inbox()
        self.sock = sock or open_socket(config.health_manager_bind())
        self.receiver = Receiver(
            self.sock, key or config.heartbeat_key(), self.inbox, Roster(self.outage)
        )
        self.store = Store(self.timeout)
        self.stale = StaleCheck(
            self.timeout,
            float(hm.heartbeat_interval),
            hm.failover_threshold,
            hm.failover_threshold_share,
        )
        self.quiet_until = time.monotonic() + self.timeout
        self.logged: collections.Counter[str] = collections.Counter()
        self.logged_at = time.monotonic()

    @property
    def counts(self) -> collections.Counter[str]:
        """accepted, and each kind of drop, since the process started."""
        return self.receiver.counts

    def run(self, stop: threading.Event) -> None:
        address = self.sock.getsockname()
        LOG.info('health manager receiving heartbeats on %s port %d', address[0], address[1])
        loops = [
            threading.Thread(target=self.receiver.serve, args=(stop,), name='hm-receive'),
            threading.Thread(target=self._loop, args=(stop, self.flush_once), name='hm-flush'),
            threading.Thread(target=self._loop, args=(stop, self.check_once), name='hm-check'),
        ]
        for thread in loops:
            thread.daemon = True
            thread.start()
        for thread in loops:
            thread.join()
        self.flush_once()  # what arrived last, if the database lets us
        self.sock.close()

    @staticmethod
    def _loop(stop: threading.Event, once: Callable[[], float]) -> None:
        while not stop.wait(once()):
            pass

    def flush_once(self) -> float:
        """Write what the inbox holds; returns the pause before the next flush."""
        batch = self.inbox.take()
        try:
            if batch:
                self.store.flush(batch)
        except Exception as exc:
            self.inbox.restore(batch)
            return self.outage.failed(exc, self.flush_interval)
        self._ended()
        self.log_counts()
        return self.flush_interval

    def check_once(self) -> float:
        """Look for silent amphorae; returns the pause before the next look."""
        if time.monotonic() < self.quiet_until or self.outage.active:
            return self.check_interval
        try:
            self.stale.run_once()
        except Exception as exc:
            return self.outage.failed(exc, self.check_interval)
        self._ended()
        return self.check_interval

    def _ended(self) -> None:
        if self.outage.ended():
            self.quiet_until = time.monotonic() + self.timeout

    def log_counts(self, force: bool = False) -> None:
        """Log the drops since the last time, if any, once per LOG_INTERVAL."""
        now = time.monotonic()
        if not force and now - self.logged_at < LOG_INTERVAL:
            return
        counts = collections.Counter(self.receiver.counts)
        new = counts - self.logged
        self.logged, self.logged_at = counts, now
        drops = {kind: new[kind] for kind in DROPS if new[kind]}
        if drops:
            LOG.warning(
                'heartbeats in the last %.0fs: %d accepted, dropped %s',
                LOG_INTERVAL,
                new['accepted'],
                ', '.join('%d %s' % (n, kind) for kind, n in drops.items()),
            )


def _bound(stop: threading.Event) -> socket.socket | None:
    """The receiving socket; while its address is taken, retry (logged once)."""
    address = config.health_manager_bind()
    complained = False
    while not stop.is_set():
        try:
            return open_socket(address)
        except OSError as exc:
            if exc.errno != errno.EADDRINUSE:
                raise
            if not complained:
                LOG.error(
                    'cannot receive heartbeats on %s port %d: %s; retrying every %.0fs '
                    '(another health manager? set [health_manager] bind_ip/bind_port)',
                    address[0],
                    address[1],
                    exc.strerror,
                    BIND_RETRY,
                )
                complained = True
        stop.wait(BIND_RETRY)
    return None


def run(stop: threading.Event | None = None) -> None:
    """`lbaas health-manager`: receive heartbeats until `stop` is set."""
    stop = stop or threading.Event()
    sock = _bound(stop)
    if sock is not None:
        HealthManager(sock).run(stop)
