"""Health checks of UDP and SCTP pool members, which no HAProxy watches.

One thread per pool with a monitor checks all its members every `delay`
seconds (in parallel, each within `timeout`), and counts like HAProxy and
Octavia: `max_retries_down` failures in a row take a member DOWN,
`max_retries` successes in a row bring it back. Members start UP, as
HAProxy's and IPVS's do. Whenever the set of members up changes,
`on_change(up)` runs (the agent refills the nftables maps with it).

Checks by monitor type (Octavia's UDP and SCTP pools take UDP-CONNECT,
SCTP, TCP and HTTP; PING works too):

* UDP-CONNECT: one empty datagram on a connected socket; an ICMP port
  unreachable (ECONNREFUSED) or an unreachable host is DOWN, an answer is
  UP, and silence is UP (as Octavia's ``nc -uz``) unless the member refused
  forwarded flows since the last round (`refused`, counted by nftables).
  Without that evidence a dead member under traffic is never taken down:
  its kernel sends at most about one ICMP error a second to the amphora,
  which the client flows use up, so the check mostly hears silence;
* SCTP: an INIT answered by an INIT-ACK is UP; an ABORT, an ICMP error or
  silence is DOWN, as Octavia's (`sctp_check`);
* TCP: a TCP connection opens; HTTP: the answer's status is expected;
* PING: one ICMP echo (`ping_check`).
"""

from __future__ import annotations

import http.client
import socket
import threading
from concurrent.futures import ThreadPoolExecutor

from lbaas.agent import ping_check, sctp_check

TYPE_CHECKING = False  # not `typing`: see wire.py
if TYPE_CHECKING:
    from collections.abc import Callable

    Plan = dict[str, object]
    Monitor = dict[str, object]
    Refused = dict[tuple[str, int], int]  # (member address, port) -> ICMP errors

MAX_PARALLEL = 16


def _int(value: object, default: int) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else default


def _dicts(value: object) -> list[dict[str, object]]:
    return [v for v in value if isinstance(v, dict)] if isinstance(value, list) else []


def _family(address: str) -> socket.AddressFamily:
    return socket.AF_INET6 if ":" in address else socket.AF_INET


def udp_connect(address: str, port: int, timeout: float) -> bool | None:
    """True: answered; False: refused or unreachable; None: silence."""
    with socket.socket(_family(address), socket.SOCK_DGRAM) as sock:
        sock.settimeout(timeout)
        try:
            sock.connect((address, port))
            sock.send(b"")
            sock.recv(1)
        except TimeoutError:
            return None  # UDP owes no answer: only an ICMP error says down
        except OSError:
            return False  # refused (port unreachable), host or network unreachable
    return True


def tcp_connect(address: str, port: int, timeout: float) -> bool:
    try:
        with socket.create_connection((address, port), timeout=timeout):
            return True
    except OSError:
        return False


def expected(codes: str, status: int) -> bool:
    """Octavia's expected_codes: "200", "200,202" or "200-204"."""
    if "-" in codes:
        low, high = (int(c) for c in codes.split("-", 1))
        return low <= status <= high
    return status in {int(c) for c in codes.split(",") if c.strip()}


def http_check(address: str, port: int, timeout: float, monitor: Monitor) -> bool:
    connection = http.client.HTTPConnection(address, port, timeout=timeout)
    domain = monitor.get("domain_name")
    try:
        connection.request(
            str(monitor.get("http_method") or "GET"),
            str(monitor.get("url_path") or "/"),
            headers={"Host": str(domain)} if domain else {},
        )
        status = connection.getresponse().status
    except (OSError, http.client.HTTPException):
        return False
    finally:
        connection.close()
    return expected(str(monitor.get("expected_codes") or "200"), status)


def check(monitor: Monitor, address: str, port: int) -> bool | None:
    """True: up; False: down; None: silence (UDP-CONNECT only)."""
    timeout = float(max(_int(monitor.get("timeout"), 1), 1))
    kind = monitor.get("type")
    if kind == "UDP-CONNECT":
        return udp_connect(address, port, timeout)
    if kind == "SCTP":
        try:
            return sctp_check.check(address, port, timeout)
        except OSError:
            return False
    if kind == "TCP":
        return tcp_connect(address, port, timeout)
    if kind == "HTTP":
        return http_check(address, port, timeout, monitor)
    if kind == "PING":
        try:
            return ping_check.ping(address, timeout)
        except OSError:
            return False
    return True  # a type this agent does not know: never take members down


def _refused_since(member: dict[str, object], before: Refused, now: Refused) -> bool:
    key = (str(member.get("address")), _int(member.get("port"), 0))
    return now.get(key, 0) > before.get(key, 0)


class _Member:
    __slots__ = ("key", "streak", "up")

    def __init__(self, key: tuple[object, ...]) -> None:
        self.key = key  # what the check depends on; a change restarts counting
        self.up = True
        self.streak = 0  # results in a row that disagree with `up`


class UdpHealth:
    """Members' health for the current plan; `statuses()` for heartbeats."""

    def __init__(
        self,
        on_change: Callable[[set[str]], None],
        refused: Callable[[], Refused] = dict,
    ) -> None:
        self.on_change = on_change
        self.refused = refused
        self._lock = threading.Lock()
        self._plan: Plan = {}
        self._members: dict[str, _Member] = {}
        self._stopping = threading.Event()
        self._threads: list[threading.Thread] = []

    def configure(self, plan: Plan | None) -> None:
        """Follow a new plan; members whose check is unchanged keep their state."""
        self.stop()
        members: dict[str, _Member] = {}
        for pool in _dicts((plan or {}).get("pools")):
            for m in _dicts(pool.get("members")):
                key = (m.get("check_address"), m.get("check_port"), repr(pool.get("monitor")))
                old = self._members.get(str(m.get("id")))
                members[str(m.get("id"))] = old if old and old.key == key else _Member(key)
        with self._lock:
            self._plan, self._members = plan or {}, members
        self._stopping = threading.Event()
        for pool in _dicts(self._plan.get("pools")):
            if isinstance(pool.get("monitor"), dict):
                thread = threading.Thread(
                    target=self._run, args=(pool, self._stopping), name="udp-health", daemon=True
                )
                self._threads.append(thread)
                thread.start()

    def stop(self) -> None:
        self._stopping.set()
        for thread in self._threads:
            thread.join(5.0)
        self._threads = []

    def up(self) -> set[str]:
        with self._lock:
            return {member_id for member_id, m in self._members.items() if m.up}

    def _run(self, pool: dict[str, object], stopping: threading.Event) -> None:
        monitor = pool["monitor"]
        assert isinstance(monitor, dict)
        delay = max(_int(monitor.get("delay"), 5), 1)
        members = _dicts(pool.get("members"))
        watch_refused = monitor.get("type") == "UDP-CONNECT"
        before = self.refused() if watch_refused else {}
        with ThreadPoolExecutor(min(MAX_PARALLEL, max(len(members), 1))) as executor:
            while not stopping.is_set():
                heard = list(
                    executor.map(
                        lambda m: check(
                            monitor, str(m.get("check_address")), _int(m.get("check_port"), 0)
                        ),
                        members,
                    )
                )
                now = self.refused() if watch_refused else {}
                results = [
                    ok if ok is not None else not _refused_since(m, before, now)
                    for m, ok in zip(members, heard, strict=True)
                ]
                before = now
                if not stopping.is_set() and self.record(monitor, members, results):
                    self.on_change(self.up())
                stopping.wait(delay)

    def record(
        self, monitor: Monitor, members: list[dict[str, object]], results: list[bool]
    ) -> bool:
        """Count one round of results; True when some member changed state."""
        rise = max(_int(monitor.get("max_retries"), 1), 1)
        fall = max(_int(monitor.get("max_retries_down"), 3), 1)
        changed = False
        with self._lock:
            for m, ok in zip(members, results, strict=True):
                state = self._members.get(str(m.get("id")))
                if state is None:
                    continue
                state.streak = 0 if ok == state.up else state.streak + 1
                if state.streak >= (rise if ok else fall):
                    state.up, state.streak, changed = ok, 0, True
        return changed

    def statuses(self) -> dict[str, str]:
        """member id -> HAProxy's words: UP, DOWN, MAINT (disabled), "no check"."""
        found: dict[str, str] = {}
        with self._lock:
            for pool in _dicts(self._plan.get("pools")):
                monitored = isinstance(pool.get("monitor"), dict)
                for m in _dicts(pool.get("members")):
                    state = self._members.get(str(m.get("id")))
                    if m.get("enabled") is False:
                        found[str(m.get("id"))] = "MAINT"
                    elif not monitored:
                        found[str(m.get("id"))] = "no check"
                    else:
                        found[str(m.get("id"))] = "UP" if state is None or state.up else "DOWN"
        return found
