"""Heartbeats: every interval, one signed UDP datagram to each health manager.

The datagram is Octavia's v3 message (see the heartbeat block in wire.py),
built from HAProxy's `show stat`: frontends named after a listener id become
listeners, backends named ``<pool id>:<listener id>`` pools, their servers
(named after member ids) members. HAProxy's own proxies (stats pages and the
like) are left out, as is anything else whose name is not one of our ids.
UDP listeners, which nftables serves, arrive as rows of the same shape
(`nftables.UdpPlane.stat_rows`: OPEN, members UP/DOWN from the agent's own
checks, byte and new-flow counters from the table), so they flow the same way.

Counters: v3's ``stats`` are deltas since the previous datagram; ``totals``
(ours) are running sums since the amphora first started. Both come from one
delta per counter: the raw value minus the raw value last read, or the raw
value itself when HAProxy started counting again (a reload or a restart makes
some counter go backwards). Last raw values, totals and the last sequence
number live in ``<state dir>/heartbeat.json``, replaced atomically each beat,
so an agent restart neither counts twice nor reuses a sequence number.

When HAProxy does not run the beat still goes out, with no listeners or pools:
the amphora lives. When HAProxy runs but its stats socket does not answer,
that beat is skipped (as Octavia's sender does): an amphora whose HAProxy
cannot be read is not healthy, and reporting no listeners would be a lie.
"""

from __future__ import annotations

import json
import logging
import os
import re
import socket
import threading
import time

from lbaas import wire

# Not `typing.TYPE_CHECKING`: the agent never imports `typing` (see wire.py).
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Protocol

    from lbaas.agent.haproxy import StatRow

    class HeartbeatSource(Protocol):
        def stat_rows(self, timeout: float) -> list[StatRow] | None:
            """`show stat`; None when HAProxy does not run, OSError when its
            socket does not answer."""

        def running_digest(self) -> str | None: ...


LOG = logging.getLogger(__name__)
STATE_FILE = "heartbeat.json"
MAX_STATS_WAIT = 2.0  # seconds one `show stat` may take, whatever the interval
MIN_STATS_WAIT = 0.5
# message field -> `show stat` column, for the counters that are summed
COUNTERS = (("tx", "bout"), ("rx", "bin"), ("totconns", "stot"), ("ereq", "ereq"))
# The `show stat` columns a message is built from (HAProxy has about 90).
STAT_COLUMNS = frozenset({"pxname", "svname", "status", "scur", "slim"}) | {
    column for _, column in COUNTERS
}
# Counters are saved when they change, and at least every SAVE_EVERY beats,
# with the sequence number reserved that far ahead: a restarted agent goes on
# above every number sent, with no file write per beat of a quiet amphora.
SAVE_EVERY = 60
_OUR_ID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$", re.I)

Counters = dict[str, int]


def is_our_id(name: str) -> bool:
    """Listener, pool and member ids are UUIDs; HAProxy's own names are not."""
    return _OUR_ID.match(name) is not None


def _number(value: object) -> int:
    return value if isinstance(value, int) and value > 0 else 0


def _counters(data: object) -> Counters:
    """The known counters of a decoded JSON object; anything else is dropped."""
    if not isinstance(data, dict):
        return {}
    return {name: _number(data.get(name)) for name, _ in COUNTERS if name in data}


class CounterBook:
    """Per listener: raw counters last read and running totals; the last seq."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.seq = 0
        self.raw: dict[str, Counters] = {}
        self.totals: dict[str, Counters] = {}
        self._load()
        self._saved: str | None = None  # the counters in the file, to skip unchanged saves
        self._unsaved = 0

    def _load(self) -> None:
        try:
            with open(self.path, encoding="utf-8") as f:
                data = json.load(f)
        except FileNotFoundError:
            return
        except (OSError, ValueError) as exc:
            LOG.warning("heartbeat counters %s unreadable, starting afresh: %s", self.path, exc)
            return
        if not isinstance(data, dict):
            return
        self.seq = _number(data.get("seq"))
        listeners = data.get("listeners")
        for listener_id, entry in (listeners if isinstance(listeners, dict) else {}).items():
            if isinstance(entry, dict):
                self.raw[listener_id] = _counters(entry.get("raw"))
                self.totals[listener_id] = _counters(entry.get("totals"))

    def account(self, listener_id: str, row: StatRow) -> tuple[Counters, Counters]:
        """(deltas, totals) of one FRONTEND row; remembers its raw values."""
        now = {name: _number(row.get(column)) for name, column in COUNTERS}
        before = self.raw.get(listener_id, {})
        deltas = {name: now[name] - before.get(name, 0) for name in now}
        if any(delta < 0 for delta in deltas.values()):
            # HAProxy counts from zero again: everything it reports is new.
            deltas = dict(now)
        totals = self.totals.setdefault(listener_id, {})
        for name, delta in deltas.items():
            totals[name] = totals.get(name, 0) + delta
        self.raw[listener_id] = now
        return deltas, dict(totals)

    def forget_raw_except(self, present: set[str]) -> None:
        """Listeners HAProxy does not show: a frontend that comes back (or a
        HAProxy that starts again) counts from zero. Totals are kept."""
        for listener_id in self.raw:
            if listener_id not in present:
                self.raw[listener_id] = {}

    def save(self, seq: int) -> None:
        """Write the counters if they changed or `SAVE_EVERY` beats passed;
        the file's seq is `seq` + SAVE_EVERY, a number no beat sent reaches."""
        self.seq = seq
        listeners = {
            listener_id: {"raw": self.raw.get(listener_id, {}), "totals": totals}
            for listener_id, totals in self.totals.items()
        }
        counters = json.dumps(listeners, separators=(",", ":"))
        self._unsaved += 1
        if counters == self._saved and self._unsaved < SAVE_EVERY:
            return
        text = f'{{"seq":{seq + SAVE_EVERY},"listeners":{counters}}}'
        staged = f"{self.path}.tmp"
        fd = os.open(staged, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with open(fd, "w", encoding="utf-8") as f:
            f.write(text)
        os.replace(staged, self.path)
        self._saved, self._unsaved = counters, 0


def listener_status(row: StatRow) -> str:
    scur, slim = _number(row.get("scur")), _number(row.get("slim"))
    if slim > 0 and scur >= slim:
        return "FULL"
    return str(row.get("status") or "")


def member_status(row: StatRow) -> str:
    """HAProxy's status, but DRAIN for a server in maintenance that still has
    connections: removed or disabled, it drains (lbaas/agent/drain.py)."""
    status = str(row.get("status") or "")
    if status.upper().startswith("MAINT") and _number(row.get("scur")) > 0:
        return "DRAIN"
    return status


def _listener(listener_id: str, row: StatRow, book: CounterBook) -> dict[str, object]:
    deltas, totals = book.account(listener_id, row)
    stats = {**deltas, "conns": _number(row.get("scur"))}
    return {"status": listener_status(row), "stats": stats, "totals": totals}


def build_message(
    amphora_id: str, seq: int, digest: str | None, rows: list[StatRow] | None, book: CounterBook
) -> dict[str, object]:
    """The v3 message for these `show stat` rows (None: HAProxy does not run).

    Accounts each listener's counters in `book` (the caller saves it)."""
    listeners: dict[str, object] = {}
    pools: dict[str, dict[str, object]] = {}
    members: dict[str, dict[str, str]] = {}
    for row in rows or ():
        proxy, name = str(row.get("pxname") or ""), str(row.get("svname") or "")
        if name == "FRONTEND":
            if is_our_id(proxy):
                listeners[proxy] = _listener(proxy, row, book)
            continue
        pool_id, _, listener_id = proxy.partition(":")
        if not (is_our_id(pool_id) and is_our_id(listener_id)):
            continue
        pool_members = members.setdefault(proxy, {})
        pool = pools.setdefault(proxy, {"status": "DOWN", "members": pool_members})
        status = str(row.get("status") or "")
        if name == "BACKEND":
            pool["status"] = "UP" if status.upper().startswith("UP") else "DOWN"
        elif is_our_id(name):
            pool_members[name] = member_status(row)
    book.forget_raw_except(set(listeners))
    return {
        "id": amphora_id,
        "seq": seq,
        "ver": wire.HEARTBEAT_VERSION,
        "digest": digest,
        "listeners": listeners,
        "pools": pools,
    }


class HeartbeatSender:
    """A thread that beats every `interval` seconds until `stop()`."""

    def __init__(
        self,
        amphora_id: str,
        state_dir: str,
        source: HeartbeatSource,
        addresses: list[tuple[str, int]],
        key: bytes,
        interval: float = 1.0,
    ) -> None:
        self.amphora_id = amphora_id
        self.source = source
        self.addresses = list(addresses)
        self.key = key
        self.interval = interval
        self.stats_wait = min(MAX_STATS_WAIT, max(MIN_STATS_WAIT, interval))
        self.book = CounterBook(os.path.join(state_dir, STATE_FILE))
        # Past every number sent before, even if the counters file was lost.
        self._seq = max(self.book.seq, int(time.time() * 1000))
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self._sockets: dict[int, socket.socket] = {}
        self._resolved: dict[tuple[str, int], tuple[int, tuple[object, ...]]] = {}
        # What is wrong right now, each logged once until it is right again.
        self._unreachable: set[tuple[str, int]] = set()
        self._stats_failing = False
        self._save_failing = False
        self._last_error: str | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="heartbeat", daemon=True)
        self._thread.start()
        LOG.info(
            "heartbeats every %.2f s to %s",
            self.interval,
            ", ".join(f"{host}:{port}" for host, port in self.addresses),
        )

    def stop(self) -> None:
        self._stopping.set()
        if self._thread is not None:
            self._thread.join(self.stats_wait + self.interval + 5.0)
        for sock in self._sockets.values():
            sock.close()
        self._sockets.clear()

    def _run(self) -> None:
        due = time.monotonic()
        while not self._stopping.is_set():
            try:
                self.beat()
                self._last_error = None
            except Exception as exc:  # the thread must outlive any surprise
                if repr(exc) != self._last_error:
                    LOG.exception("heartbeat failed; trying again next beat")
                self._last_error = repr(exc)
            # A fixed cadence; a late beat is followed at once, never by a burst.
            due = max(due + self.interval, time.monotonic())
            self._stopping.wait(due - time.monotonic())

    def beat(self) -> dict[str, object] | None:
        """Build, record and send one heartbeat; the message, or None if skipped."""
        try:
            rows = self.source.stat_rows(self.stats_wait)
        except OSError as exc:
            if not self._stats_failing:
                LOG.warning("HAProxy runs but its stats do not answer (%s): no heartbeat", exc)
            self._stats_failing = True
            return None
        if self._stats_failing:
            LOG.info("HAProxy's stats answer again; heartbeats resume")
            self._stats_failing = False
        self._seq += 1
        message = build_message(
            self.amphora_id, self._seq, self.source.running_digest(), rows, self.book
        )
        self._save()
        self._send(wire.encode_heartbeat(message, self.key))
        return message

    def _save(self) -> None:
        try:
            self.book.save(self._seq)
        except OSError as exc:
            if not self._save_failing:
                LOG.error("cannot save heartbeat counters to %s: %s", self.book.path, exc)
            self._save_failing = True
        else:
            self._save_failing = False

    def _send(self, datagram: bytes) -> None:
        for address in self.addresses:
            try:
                family, target = self._resolve(address)
                self._socket(family).sendto(datagram, target)
            except OSError as exc:
                if address not in self._unreachable:
                    LOG.warning(
                        "heartbeats to %s:%d fail: %s (said once until they pass)", *address, exc
                    )
                self._unreachable.add(address)
                continue
            if address in self._unreachable:
                LOG.info("heartbeats reach %s:%d again", *address)
                self._unreachable.discard(address)

    def _resolve(self, address: tuple[str, int]) -> tuple[int, tuple[object, ...]]:
        if address not in self._resolved:
            found = socket.getaddrinfo(*address, type=socket.SOCK_DGRAM)
            family, _, _, _, target = found[0]
            self._resolved[address] = (family, tuple(target))
        return self._resolved[address]

    def _socket(self, family: int) -> socket.socket:
        if family not in self._sockets:
            sock = socket.socket(family, socket.SOCK_DGRAM)
            sock.setblocking(False)  # a full send buffer fails the beat, never stalls it
            self._sockets[family] = sock
        return self._sockets[family]
