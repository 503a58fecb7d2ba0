"""Logs of the amphora: HAProxy's syslog datagrams and keepalived's output,
kept in rotated files and, when targets are set, offloaded (log_forward.py).

HAProxy runs in the amphora's network namespace and has no syslog daemon
there; it sends one datagram per message to a UNIX socket in the state
directory (a path, which every namespace reaches). As in Octavia's amphora
its configuration logs twice: connections and everything else with facility
local0, and its own notices and worse also with local1. This sink sorts them
by facility:

- local0 (tenant flow logs) is appended to `logs/haproxy.log`; its
  informational messages (one line per connection) go to the tenant targets;
- local1 (administrative) is appended to `logs/haproxy-admin.log` and goes to
  the admin targets.

Each file rotates at `max_bytes`, keeping `backups` older files, so a busy
listener cannot fill the disk; with `disable_local_log_storage` no file is
written. keepalived logs to its console, which the agent points at
`keepalived/keepalived.log`; `KeepalivedLogFollower` sends each new line to
the admin targets (and empties the file when nothing is to be kept locally).
The outgoing facilities are the configured ones, whatever HAProxy used.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import shutil
import socket
import threading

from lbaas import wire
from lbaas.agent import log_forward
from lbaas.agent.log_forward import LogOffload

LOG = logging.getLogger(__name__)
LOG_SOCKET = wire.LOG_SOCKET  # where HAProxy's configuration sends them
LOG_FILE = "logs/haproxy.log"
ADMIN_LOG_FILE = "logs/haproxy-admin.log"
MAX_BYTES = 10 * 1024 * 1024
BACKUPS = 2
TENANT_FACILITY = 16  # local0, as the HAProxy template says; local1 is admin
FOLLOW_INTERVAL = 0.25  # seconds between looks at keepalived's log
_DATAGRAM = 65536
BATCH = 256  # datagrams written at once, at most
_PRIORITY = re.compile(rb"^<(\d{1,3})>")  # syslog "<PRI>": facility and level
_STAMP = re.compile(rb"^([A-Z][a-z]{2} [ \d]\d \d\d:\d\d:\d\d) ")  # RFC 3164
_CTIME = re.compile(r"^\w{3} \w{3} [ \d]\d \d\d:\d\d:\d\d \d{4}: ")  # keepalived -l


def parse(datagram: bytes) -> tuple[int, int, str | None, bytes]:
    """(facility, severity, RFC 3164 timestamp or None, `TAG: MSG`) of one
    HAProxy datagram, on one line; no priority reads as local0.info."""
    pri, rest = 16 * 8 + log_forward.INFO, datagram
    if match := _PRIORITY.match(rest):
        pri, rest = min(int(match.group(1)), 191), rest[match.end() :]
    stamp = None
    if match := _STAMP.match(rest):
        stamp, rest = match.group(1).decode(), rest[match.end() :]
    body = rest.rstrip(b"\n").replace(b"\n", b" ")
    return pri // 8, pri % 8, stamp, body


class LogSink:
    """Receives HAProxy's log datagrams on a thread: files and offloading."""

    def __init__(
        self,
        state_dir: str,
        max_bytes: int = MAX_BYTES,
        backups: int = BACKUPS,
        offload: LogOffload | None = None,
    ) -> None:
        self.socket_path = wire.state_path(state_dir, LOG_SOCKET)
        self.path = wire.state_path(state_dir, LOG_FILE)
        self.admin_path = wire.state_path(state_dir, ADMIN_LOG_FILE)
        self.max_bytes, self.backups = max_bytes, backups
        self.offload = offload
        self.local_storage = offload is None or offload.settings.local_storage
        self._sock: socket.socket | None = None
        self._thread: threading.Thread | None = None
        self._stopping = threading.Event()

    def start(self) -> None:
        """Bind the socket (replacing a stale one) and start receiving."""
        if self._thread is not None:
            return
        os.makedirs(os.path.dirname(self.socket_path), 0o700, exist_ok=True)
        os.makedirs(os.path.dirname(self.path), 0o700, exist_ok=True)
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.socket_path)  # left by an agent that died
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        try:
            sock.bind(self.socket_path)
            os.chmod(self.socket_path, 0o600)
        except OSError as exc:  # no logs is better than no agent
            sock.close()
            LOG.error("connection logs off: cannot bind %s: %s", self.socket_path, exc)
            return
        sock.settimeout(5.0)  # a backstop: stop() wakes the thread at once
        self._sock = sock
        self._stopping.clear()
        self._thread = threading.Thread(target=self._run, name="haproxy-logs", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        if self._thread is None or self._sock is None:
            return
        self._stopping.set()
        with (
            contextlib.suppress(OSError),
            socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as waker,
        ):
            waker.sendto(b"", self.socket_path)  # ends the thread's wait in recv()
        self._thread.join(5.0)
        self._sock.close()
        self._thread = self._sock = None
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.socket_path)

    def _run(self) -> None:
        assert self._sock is not None
        while not self._stopping.is_set():
            try:
                data = self._sock.recv(_DATAGRAM)
            except TimeoutError:
                continue
            except OSError as exc:
                LOG.error("connection log socket failed: %s", exc)
                return
            if not data:
                continue  # stop()'s wake-up
            try:
                self.write(data, *self._queued())
            except OSError as exc:  # a full disk must not stop the agent
                LOG.error("cannot write %s: %s", self.path, exc)

    def _queued(self) -> list[bytes]:
        """The datagrams already waiting (at most BATCH), without waiting:
        under load one append per file takes many lines, instead of an open,
        a stat and a write for each request."""
        assert self._sock is not None
        queued: list[bytes] = []
        self._sock.setblocking(False)
        try:
            while len(queued) < BATCH:
                queued.append(self._sock.recv(_DATAGRAM))
        except (BlockingIOError, InterruptedError):
            pass
        finally:
            self._sock.settimeout(5.0)
        return [data for data in queued if data]

    def write(self, *datagrams: bytes) -> None:
        """Each message to its file (as one line, without the priority) and
        to the targets of its kind; one append per file."""
        lines: dict[str, list[bytes]] = {self.path: [], self.admin_path: []}
        for datagram in datagrams:
            facility, severity, stamp, body = parse(datagram)
            tenant = facility == TENANT_FACILITY
            if self.offload is not None:
                when = stamp or log_forward.timestamp()
                if not tenant:
                    self.offload.send_admin(severity, when, body)
                elif severity == log_forward.INFO:  # Octavia forwards local0.=info
                    self.offload.send_tenant(severity, when, body)
            line = (stamp.encode() + b" " if stamp else b"") + body + b"\n"
            lines[self.path if tenant else self.admin_path].append(line)
        if self.local_storage:
            for path, chunk in lines.items():
                if chunk:
                    append_rotating(path, b"".join(chunk), self.max_bytes, self.backups)


def append_rotating(path: str, line: bytes, max_bytes: int, backups: int) -> None:
    """Append `line` (or lines), rotating first when it would not fit."""
    try:
        size = os.path.getsize(path)
    except FileNotFoundError:
        size = 0
    if size and size + len(line) > max_bytes:
        rotate(path, backups)
    with open(path, "ab") as f:
        f.write(line)


def rotate(path: str, backups: int) -> None:
    """haproxy.log -> haproxy.log.1 -> ... -> haproxy.log.<backups>, oldest dropped."""
    if backups < 1:
        os.unlink(path)
        return
    for number in range(backups - 1, 0, -1):
        older = f"{path}.{number}"
        if os.path.exists(older):
            os.replace(older, f"{path}.{number + 1}")
    os.replace(path, f"{path}.1")


class KeepalivedLogFollower:
    """Sends the lines keepalived appends to its log file to the admin targets.

    keepalived holds the file open with O_APPEND, so the file can be emptied
    under it: that is how it is rotated (copy, then truncate) and how it is
    kept empty when local storage is off. Lines written while the agent was
    not running are not sent.
    """

    def __init__(self, path: str, offload: LogOffload, max_bytes: int = MAX_BYTES) -> None:
        self.path, self.offload, self.max_bytes = path, offload, max_bytes
        self.offset = 0
        self._partial = b""
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        if self._thread is not None:
            return
        with contextlib.suppress(OSError):
            self.offset = os.path.getsize(self.path)  # earlier lines: not ours to send
        self._stopping.clear()
        self._thread = threading.Thread(target=self._run, name="keepalived-logs", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stopping.set()
        if self._thread is not None:
            self._thread.join(5.0)
            self._thread = None
        try:
            self.follow_once()  # keepalived's last words
        except OSError as exc:
            LOG.error("cannot read %s: %s", self.path, exc)

    def _run(self) -> None:
        while not self._stopping.wait(FOLLOW_INTERVAL):
            try:
                self.follow_once()
            except OSError as exc:
                LOG.error("cannot read %s: %s", self.path, exc)

    def follow_once(self) -> None:
        """Send the complete lines added since the last look."""
        try:
            size = os.path.getsize(self.path)
        except FileNotFoundError:
            return
        if size < self.offset:  # emptied by someone else
            self.offset, self._partial = 0, b""
        with open(self.path, "rb") as f:
            f.seek(self.offset)
            data = f.read(size - self.offset)
        self.offset += len(data)
        *lines, self._partial = (self._partial + data).split(b"\n")
        for line in lines:
            if line.strip():
                text = _CTIME.sub("", line.decode("utf-8", "replace"))
                self.offload.send_admin(
                    log_forward.INFO, log_forward.timestamp(), f"keepalived: {text}"
                )
        keep = self.offload.settings.local_storage
        if not keep or self.offset > self.max_bytes:
            self._empty(copy=keep)

    def _empty(self, copy: bool) -> None:
        """Truncate the file (after copying it to `<file>.1` when kept)."""
        if os.path.getsize(self.path) != self.offset:
            return  # keepalived wrote meanwhile: next time
        if copy:
            shutil.copyfile(self.path, f"{self.path}.1")
        os.truncate(self.path, 0)
        self.offset = 0
