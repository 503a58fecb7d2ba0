"""Log offloading: the amphora's logs sent as syslog to remote receivers.

Octavia's amphora does this with rsyslog (`[amphora_agent]` options); this
agent has no syslog daemon, so it sends them itself, with rsyslog's defaults
as Octavia configures them:

- Format: RFC 3164 with a hostname, as rsyslog's `omfwd` sends by default
  (RSYSLOG_TraditionalForwardFormat): `<PRI>Mmm dd hh:mm:ss HOST TAG: MSG`.
  A receiver built for Octavia's amphorae parses these lines unchanged, and
  HAProxy's own datagrams are already RFC 3164, so only the hostname
  (`amphora-<id>`) and the priority (the configured facility) are set here.
- Framing over TCP: one message a line (RFC 6587 "non-transparent framing",
  rsyslog's default); a newline inside a message becomes a space, so the
  framing is never ambiguous. Over UDP: one message a datagram.
- Targets: the first is the primary; the next one gets a message only while
  the ones before it fail (rsyslog's `execOnlyWhenPreviousIsSuspended`). A
  failed target rests for `retry_interval`; a message no target takes is
  tried again `retry_count` times, `retry_interval` apart (-1: forever),
  then dropped.
- Each kind of log (tenant, admin) has one bounded queue (`queue_size`) and
  one sending thread: a producer (HAProxy's log socket, keepalived's log,
  the agent's logging) only appends, so it never waits for the network;
  when the queue is full the oldest message is dropped and counted.
"""

from __future__ import annotations

import collections
import contextlib
import dataclasses
import logging
import os
import select
import socket
import threading
import time

LOG = logging.getLogger(__name__)
Target = tuple[str, int]
UDP, TCP = "UDP", "TCP"
CONNECT_TIMEOUT = 2.0  # seconds to connect to (and send to) a TCP target
MAX_MESSAGE = 8192  # bytes; HAProxy's `len 8192`
DRAIN_SECONDS = 1.0  # what stop() may spend sending what is still queued
INFO, NOTICE, WARNING = 6, 5, 4  # syslog severities
_LEVELS = {logging.DEBUG: 7, logging.INFO: 6, logging.WARNING: 4, logging.ERROR: 3}


def priority(local_facility: int, severity: int) -> int:
    """Syslog PRI of facility local<N> (16 + N) and `severity` (0-7)."""
    return (16 + local_facility) * 8 + severity


def timestamp(when: float | None = None) -> str:
    """RFC 3164's `Mmm dd hh:mm:ss` (day padded with a space), local time."""
    tm = time.localtime(when)
    return f"{time.strftime('%b', tm)} {tm.tm_mday:2d} {time.strftime('%H:%M:%S', tm)}"


def message(pri: int, stamp: str, hostname: str, body: str | bytes) -> bytes:
    """One RFC 3164 message, `body` being `TAG: MSG`; on one line, bounded."""
    if isinstance(body, str):
        body = body.encode("utf-8", "replace")
    body = body.rstrip(b"\r\n").replace(b"\r", b" ").replace(b"\n", b" ")
    return f"<{pri}>{stamp} {hostname} ".encode() + body[:MAX_MESSAGE]


def frame(data: bytes, protocol: str) -> bytes:
    """The bytes that carry one message: a datagram, or a line over TCP."""
    return data if protocol == UDP else data + b"\n"


@dataclasses.dataclass(frozen=True)
class OffloadSettings:
    """Octavia's `[amphora_agent]` log options, as the agent receives them."""

    tenant_targets: tuple[Target, ...] = ()
    admin_targets: tuple[Target, ...] = ()
    protocol: str = UDP
    retry_count: int = 5
    retry_interval: float = 2.0
    queue_size: int = 10000
    user_facility: int = 0
    admin_facility: int = 1
    forward_all: bool = False
    local_storage: bool = True


class _Destination:
    """One target and its socket (opened on first use, again after a failure)."""

    def __init__(self, target: Target, protocol: str) -> None:
        self.target, self.protocol = target, protocol
        self.resting_until = 0.0  # failed: not used before this (monotonic)
        self.down = False  # warned about; cleared (and said) when it works again
        self._sock: socket.socket | None = None

    def send(self, data: bytes) -> None:
        """Send one framed message; OSError if the target did not take it."""
        if self._sock is not None and self.protocol == TCP and _peer_closed(self._sock):
            self.close()
        if self._sock is None:
            self._sock = self._connect()
        try:
            if self.protocol == TCP:
                self._sock.sendall(data)
            else:
                self._sock.send(data)
        except OSError:
            self.close()
            raise

    def _connect(self) -> socket.socket:
        host, port = self.target
        if self.protocol == TCP:
            sock = socket.create_connection((host, port), timeout=CONNECT_TIMEOUT)
            return sock
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_DGRAM)
        try:
            sock.connect((host, port))  # a refusal (ICMP) then shows on a later send
        except OSError:
            sock.close()
            raise
        return sock

    def close(self) -> None:
        if self._sock is not None:
            with contextlib.suppress(OSError):
                self._sock.close()
            self._sock = None


def _peer_closed(sock: socket.socket) -> bool:
    """A receiver that closed the connection: sending would be lost."""
    try:
        readable, _, _ = select.select([sock], [], [], 0)
        if not readable:
            return False
        return sock.recv(1, socket.MSG_PEEK | socket.MSG_DONTWAIT) == b""
    except BlockingIOError:
        return False
    except OSError:
        return True


class SyslogForwarder:
    """A bounded queue of messages and the thread that sends them to `targets`."""

    def __init__(self, name: str, targets: tuple[Target, ...], settings: OffloadSettings) -> None:
        self.name, self.settings = name, settings
        self.destinations = [_Destination(t, settings.protocol) for t in targets]
        self.queue: collections.deque[bytes] = collections.deque()
        self.sent = self.dropped = self.failed = 0  # failed: given up after retries
        self._wakeup = threading.Condition()
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None

    def submit(self, data: bytes) -> None:
        """Queue one message; never blocks. A full queue drops its oldest."""
        with self._wakeup:
            if len(self.queue) >= self.settings.queue_size:
                self.queue.popleft()
                self.dropped += 1
            self.queue.append(data)
            self._wakeup.notify()

    def start(self) -> None:
        if self._thread is None and self.destinations:
            self._stopping.clear()
            self._thread = threading.Thread(target=self._run, name=f"syslog-{self.name}")
            self._thread.daemon = True
            self._thread.start()

    def stop(self) -> None:
        """Send what is queued for up to DRAIN_SECONDS (no retries), then stop."""
        self._stopping.set()
        with self._wakeup:
            self._wakeup.notify()
        if self._thread is not None:
            self._thread.join(DRAIN_SECONDS + CONNECT_TIMEOUT + 1.0)
            self._thread = None
        for destination in self.destinations:
            destination.close()

    def _next(self) -> bytes | None:
        with self._wakeup:
            while not self.queue and not self._stopping.is_set():
                self._wakeup.wait()
            if self._stopping.is_set():
                return None  # what is left: stop() drains it, bounded
            return self.queue.popleft()

    def _run(self) -> None:
        while (data := self._next()) is not None:
            if not self._deliver(frame(data, self.settings.protocol)):
                self.failed += 1
        deadline = time.monotonic() + DRAIN_SECONDS
        while self.queue and time.monotonic() < deadline:
            with self._wakeup:
                data = self.queue.popleft() if self.queue else None
            if data is not None and not self._send_once(frame(data, self.settings.protocol)):
                break

    def _deliver(self, data: bytes) -> bool:
        """Send `data`, trying again `retry_count` times while no target takes it."""
        tries = 0
        while not self._send_once(data):
            tries += 1
            limit = self.settings.retry_count
            if (0 <= limit < tries) or self._stopping.wait(self.settings.retry_interval):
                return False
        self.sent += 1
        return True

    def _send_once(self, data: bytes) -> bool:
        """The first target that is not resting and takes `data`: True."""
        for destination in self.destinations:
            now = time.monotonic()
            if now < destination.resting_until:
                continue
            try:
                destination.send(data)
            except OSError as exc:
                destination.resting_until = now + self.settings.retry_interval
                if not destination.down:
                    destination.down = True
                    LOG.warning(
                        "%s log target %s:%s fails: %s", self.name, *destination.target, exc
                    )
                continue
            if destination.down:
                destination.down = False
                LOG.info("%s log target %s:%s takes logs again", self.name, *destination.target)
            return True
        return False


class LogOffload:
    """The tenant and admin forwarders of one amphora, and what goes where."""

    def __init__(self, amphora_id: str, settings: OffloadSettings) -> None:
        self.settings = settings
        self.hostname = f"amphora-{amphora_id}"
        self.tenant = SyslogForwarder("tenant", settings.tenant_targets, settings)
        self.admin = SyslogForwarder("admin", settings.admin_targets, settings)

    def start(self) -> None:
        self.tenant.start()
        self.admin.start()

    def stop(self) -> None:
        self.tenant.stop()
        self.admin.stop()

    def send_tenant(self, severity: int, stamp: str, body: bytes) -> None:
        """A flow log line (HAProxy's `TAG: MSG`) for the tenant targets."""
        if self.tenant.destinations:
            pri = priority(self.settings.user_facility, severity)
            self.tenant.submit(message(pri, stamp, self.hostname, body))

    def send_admin(self, severity: int, stamp: str, body: str | bytes) -> None:
        """An administrative message (`TAG: MSG`) for the admin targets."""
        if self.admin.destinations:
            pri = priority(self.settings.admin_facility, severity)
            self.admin.submit(message(pri, stamp, self.hostname, body))


class AdminLogHandler(logging.Handler):
    """The agent's own log records (warnings and worse; with forward_all_logs
    also informational ones) sent to the admin targets."""

    def __init__(self, offload: LogOffload) -> None:
        level = logging.INFO if offload.settings.forward_all else logging.WARNING
        super().__init__(level)
        self.offload = offload
        self.tag = f"lbaas-agent[{os.getpid()}]"

    def emit(self, record: logging.LogRecord) -> None:
        try:
            severity = _LEVELS.get(record.levelno, 2 if record.levelno > logging.ERROR else 6)
            text = f"{self.tag}: {record.levelname} {record.name}: {record.getMessage()}"
            self.offload.send_admin(severity, timestamp(record.created), text)
        except Exception:  # a log record must never break the agent
            self.handleError(record)
