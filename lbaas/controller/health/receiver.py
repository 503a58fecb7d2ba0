"""The UDP side: datagrams in, checked reports out to the inbox.

Each datagram is dropped, and counted, when it is oversized, forged (bad
HMAC), garbled (not a heartbeat), replayed (its seq is not above the last
one this process accepted from that amphora) or unknown (no live amphora
row has its id). The rest go to the inbox, where only an amphora's newest
report waits for the next flush.
"""

from __future__ import annotations

import collections
import dataclasses
import errno
import logging
import selectors
import socket
import threading
import time

from sqlalchemy import select

from lbaas import wire
from lbaas.controller.health import report as reports
from lbaas.db import models
from lbaas.db import outage as db_outage
from lbaas.db import session as db

LOG = logging.getLogger(__name__)
READ_SIZE = 65536  # a larger datagram arrives cut to this, and is oversized
RECEIVE_BUFFER = 4 << 20  # bursts of heartbeats wait here, not in lost datagrams
DROPS = ('oversized', 'forged', 'garbled', 'replayed', 'unknown')
# Linux's numbers, absent from older Pythons' socket module.
IP_FREEBIND = getattr(socket, 'IP_FREEBIND', 15)
IPV6_FREEBIND = 78


def open_socket(address: tuple[str, int]) -> socket.socket:
    """A UDP socket bound to `address`, which need not exist yet: the
    management address appears when the worker builds the fabric."""
    family = socket.AF_INET6 if ':' in address[0] else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_DGRAM)
    try:
        if family == socket.AF_INET6:
            sock.setsockopt(socket.IPPROTO_IPV6, IPV6_FREEBIND, 1)
        else:
            sock.setsockopt(socket.IPPROTO_IP, IP_FREEBIND, 1)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, RECEIVE_BUFFER)
        sock.bind(address)
        sock.setblocking(False)
    except BaseException:
        sock.close()
        raise
    return sock


@dataclasses.dataclass(slots=True)
class Heard:
    """An accepted report, with when it came and whose amphora it is."""

    report: reports.Report
    received: float  # time.time()
    lb_id: str | None
    role: str | None


class Inbox:
    """The newest report of each amphora heard since the last flush."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.pending: dict[str, Heard] = {}

    def put(self, heard: Heard) -> None:
        key = heard.report.amphora_id
        with self.lock:
            old = self.pending.get(key)
            self.pending[key] = heard if old is None else merge(old, heard)

    def take(self) -> dict[str, Heard]:
        with self.lock:
            taken, self.pending = self.pending, {}
        return taken

    def restore(self, batch: dict[str, Heard]) -> None:
        """Give back a batch that could not be written, under what came since."""
        with self.lock:
            for key, old in batch.items():
                newer = self.pending.get(key)
                self.pending[key] = old if newer is None else merge(old, newer)


def merge(old: Heard, new: Heard) -> Heard:
    """`new`, keeping what `old` added to counters that are not totals."""
    traffic = dict(new.report.traffic)
    for listener_id, now in new.report.traffic.items():
        before = old.report.traffic.get(listener_id)
        if before is not None and not now.cumulative and not before.cumulative:
            summed = tuple(a + b for a, b in zip(before.counters, now.counters, strict=True))
            traffic[listener_id] = reports.Traffic(summed, False, now.conns)  # type: ignore[arg-type]
    if traffic == new.report.traffic:
        return new
    return dataclasses.replace(new, report=dataclasses.replace(new.report, traffic=traffic))


class Roster:
    """Live amphorae (id -> load balancer id, role), read again at most every
    `fresh` seconds when an id is missing, and every `stale` seconds anyway
    (so that deleted amphorae drop out)."""

    def __init__(self, outage: db_outage.Outage, fresh: float = 1.0, stale: float = 10.0) -> None:
        self.outage = outage
        self.fresh, self.stale = fresh, stale
        self.amphorae: dict[str, tuple[str | None, str | None]] = {}
        self.read_at = float('-inf')

    def lookup(self, amphora_id: str) -> tuple[str | None, str | None] | None:
        now = time.monotonic()
        found = self.amphorae.get(amphora_id)
        age = now - self.read_at
        if age >= self.stale or (found is None and age >= self.fresh):
            self.read_at = now
            self._read()
            found = self.amphorae.get(amphora_id)
        return found

    def _read(self) -> None:
        A = models.Amphora
        try:
            with db.reading() as session:
                rows = session.execute(
                    select(A.id, A.load_balancer_id, A.role).where(A.status != 'DELETED')
                ).all()
        except Exception as exc:  # keep what we knew; the flush reports outages
            if not db_outage.database_unavailable(exc):
                LOG.error('reading the amphorae failed', exc_info=exc)
            return
        self.amphorae = {a: (lb, role) for a, lb, role in rows}


class Receiver:
    def __init__(self, sock: socket.socket, key: bytes, inbox: Inbox, roster: Roster) -> None:
        self.sock, self.key = sock, key
        self.inbox, self.roster = inbox, roster
        self.counts: collections.Counter[str] = collections.Counter()
        self.last_seq: dict[str, int] = {}

    def handle(self, datagram: bytes) -> str:
        """Accept or drop one datagram; returns what became of it."""
        try:
            message = wire.decode_heartbeat(datagram, self.key)
            report = reports.parse(message)
        except wire.HeartbeatError as exc:
            return self._count(exc.kind)
        except reports.Malformed:
            return self._count('garbled')
        owner = self.roster.lookup(report.amphora_id)
        if owner is None:
            return self._count('unknown')
        if report.seq <= self.last_seq.get(report.amphora_id, -1):
            return self._count('replayed')
        self.last_seq[report.amphora_id] = report.seq
        self.inbox.put(Heard(report, time.time(), owner[0], owner[1]))
        return self._count('accepted')

    def _count(self, kind: str) -> str:
        self.counts[kind] += 1
        return kind

    def serve(self, stop: threading.Event) -> None:
        """Receive until `stop`: wait for the socket, then drain it."""
        with selectors.DefaultSelector() as selector:
            selector.register(self.sock, selectors.EVENT_READ)
            while not stop.is_set():
                if selector.select(0.2):
                    self.drain()

    def drain(self, most: int = 1000) -> None:
        for _ in range(most):
            try:
                datagram = self.sock.recv(READ_SIZE)
            except BlockingIOError:
                return
            except OSError as exc:  # e.g. ICMP errors queued on the socket
                if exc.errno not in (errno.ECONNREFUSED, errno.EINTR):
                    LOG.warning('receiving heartbeats: %s', exc)
                continue
            self.handle(datagram)
