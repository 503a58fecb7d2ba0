"""Wake-ups from the API to the workers: hints, never the source of truth.

The API sends one UDP datagram (the LB id) after it commits; a worker that
misses it still finds the work on its next poll, so a lost datagram costs
latency, not correctness. UDP on loopback needs no broker for the embedded
default; a multi-host deployment lists every worker's address.

The transport sits beside `wire.py` at the bottom of the layers: the API,
housekeeping and the admin handlers reach it only through the unit of work
(`lbaas/db/work.py`), which sends after its transaction commits.
"""

import logging
import socket
import threading

from lbaas import config

LOG = logging.getLogger(__name__)
_sock: socket.socket | None = None
_sock_lock = threading.Lock()


def _addresses() -> list[tuple[str, int]]:
    result = []
    for item in config.CONF.controller_worker.wakeup_address.split(','):
        host, _, port = item.strip().rpartition(':')
        if host and port:
            result.append((host.strip('[]'), int(port)))
    return result


def _socket() -> socket.socket:
    """The one sending socket of this process, made once even under threads."""
    global _sock
    with _sock_lock:
        if _sock is None:
            _sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            _sock.setblocking(False)
        return _sock


def nudge(lb_id: str) -> None:
    try:
        sock = _socket()
        for address in _addresses():
            sock.sendto(lb_id.encode(), address)
    except OSError as exc:  # nobody listening is fine: the poll finds it
        LOG.debug('wake-up for %s not sent: %s', lb_id, exc)


class Listener:
    """The worker's end: a bound UDP socket to wait on."""

    def __init__(self) -> None:
        host, port = _addresses()[0]
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind((host, port))

    def wait(self, timeout: float | None) -> list[str]:
        """Ids received within `timeout` seconds (empty list on timeout)."""
        self.sock.settimeout(timeout)
        ids: list[str] = []
        try:
            data, _ = self.sock.recvfrom(256)
            ids.append(data.decode(errors='replace'))
            self.sock.setblocking(False)
            while True:
                data, _ = self.sock.recvfrom(256)
                ids.append(data.decode(errors='replace'))
        except (TimeoutError, BlockingIOError):
            pass
        return ids

    def close(self) -> None:
        self.sock.close()
