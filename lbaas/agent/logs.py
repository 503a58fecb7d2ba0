"""Connection logs: HAProxy's syslog datagrams in, one rotated file out.

HAProxy runs in the amphora's network namespace and has no syslog daemon
there; it sends one datagram per connection to a UNIX socket in the state
directory (a path, which every namespace reaches). This sink appends each as
a line to `logs/haproxy.log`, rotating it at `max_bytes` and keeping
`backups` older files, so a busy listener cannot fill the disk. Shipping the
same lines to remote targets (Octavia's log offloading) would start here.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import socket
import threading

from lbaas import wire

LOG = logging.getLogger(__name__)
LOG_SOCKET = wire.LOG_SOCKET  # where HAProxy's configuration sends them
LOG_FILE = "logs/haproxy.log"
MAX_BYTES = 10 * 1024 * 1024
BACKUPS = 2
_DATAGRAM = 65536
_PRIORITY = re.compile(rb"^<\d{1,3}>")  # syslog "<PRI>": facility and level


class LogSink:
    """Receives HAProxy's log datagrams on a thread and appends them to a file."""

    def __init__(self, state_dir: str, max_bytes: int = MAX_BYTES, backups: int = BACKUPS) -> None:
        self.socket_path = wire.state_path(state_dir, LOG_SOCKET)
        self.path = wire.state_path(state_dir, LOG_FILE)
        self.max_bytes, self.backups = max_bytes, backups
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
        sock.settimeout(0.5)  # how quickly stop() is noticed
        self._sock = sock
        self._stopping.clear()
        self._thread = threading.Thread(target=self._run, name="haproxy-logs", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        if self._thread is None or self._sock is None:
            return
        self._stopping.set()
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
            try:
                self.write(data)
            except OSError as exc:  # a full disk must not stop the agent
                LOG.error("cannot write %s: %s", self.path, exc)

    def write(self, datagram: bytes) -> None:
        """Append one message as one line, rotating first when it would not fit."""
        line = _PRIORITY.sub(b"", datagram).rstrip(b"\n").replace(b"\n", b" ") + b"\n"
        try:
            size = os.path.getsize(self.path)
        except FileNotFoundError:
            size = 0
        if size and size + len(line) > self.max_bytes:
            self._rotate()
        with open(self.path, "ab") as f:
            f.write(line)

    def _rotate(self) -> None:
        """haproxy.log -> haproxy.log.1 -> ... -> haproxy.log.<backups>, oldest dropped."""
        if self.backups < 1:
            os.unlink(self.path)
            return
        for number in range(self.backups - 1, 0, -1):
            older = f"{self.path}.{number}"
            if os.path.exists(older):
                os.replace(older, f"{self.path}.{number + 1}")
        os.replace(self.path, f"{self.path}.1")
