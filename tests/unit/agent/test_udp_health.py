"""UDP members' health checks: each check type against real sockets on
loopback, rise/fall counting, and the checker thread following a member
that stops and starts again."""

from __future__ import annotations

import http.server
import itertools
import socket
import threading
import time
from collections.abc import Iterator

import pytest

from lbaas.agent import udp_health
from lbaas.agent.udp_health import UdpHealth


class UdpEcho:
    """A UDP echo server on 127.0.0.1 that can stop and start on its port."""

    def __init__(self) -> None:
        self.port = 0
        self.sock: socket.socket | None = None
        self.start()

    def start(self) -> None:
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", self.port))
        self.port = sock.getsockname()[1]
        self.sock = sock
        threading.Thread(target=self._serve, args=(sock,), daemon=True).start()

    def _serve(self, sock: socket.socket) -> None:
        while True:
            try:
                data, peer = sock.recvfrom(2048)
                sock.sendto(data, peer)
            except OSError:
                return

    def stop(self) -> None:
        if self.sock is not None:
            self.sock.close()
            self.sock = None


@pytest.fixture
def echo() -> Iterator[UdpEcho]:
    server = UdpEcho()
    yield server
    server.stop()


def _free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


def test_udp_connect_up_while_served_down_on_port_unreachable(echo: UdpEcho) -> None:
    assert udp_health.udp_connect("127.0.0.1", echo.port, 1.0)
    assert not udp_health.udp_connect("127.0.0.1", _free_udp_port(), 1.0)


def test_udp_connect_silence_is_neither() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as mute:
        mute.bind(("127.0.0.1", 0))  # bound, never answers: no ICMP error
        assert udp_health.udp_connect("127.0.0.1", mute.getsockname()[1], 0.3) is None


class _Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self.send_response(200 if self.path == "/health" else 503)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


def test_tcp_and_http_checks() -> None:
    server = http.server.HTTPServer(("127.0.0.1", 0), _Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    port = server.server_address[1]
    try:
        assert udp_health.tcp_connect("127.0.0.1", port, 1.0)
        monitor: dict[str, object] = {"type": "HTTP", "timeout": 1, "url_path": "/health"}
        assert udp_health.check(monitor, "127.0.0.1", port)
        assert not udp_health.check({**monitor, "url_path": "/"}, "127.0.0.1", port)
        assert udp_health.check({**monitor, "url_path": "/", "expected_codes": "500-504"},
                                "127.0.0.1", port)  # fmt: skip
    finally:
        server.shutdown()
        server.server_close()
    assert not udp_health.tcp_connect("127.0.0.1", port, 1.0)


@pytest.mark.parametrize(
    ("codes", "status", "ok"),
    [("200", 200, True), ("200", 204, False), ("200, 202", 202, True), ("200-204", 203, True)],
)
def test_expected_codes(codes: str, status: int, ok: bool) -> None:
    assert udp_health.expected(codes, status) is ok


MONITOR: dict[str, object] = {"type": "UDP-CONNECT", "max_retries": 2, "max_retries_down": 3}


def _plan(port: int, monitor: dict[str, object] | None = MONITOR) -> dict[str, object]:
    return {
        "pools": [
            {
                "id": "p",
                "monitor": monitor,
                "members": [
                    {"id": "a", "check_address": "127.0.0.1", "check_port": port},
                    {"id": "off", "check_address": "127.0.0.1", "check_port": port,
                     "enabled": False},
                ],
            }
        ]
    }  # fmt: skip


def test_rise_and_fall_follow_octavia_counts() -> None:
    health = UdpHealth(lambda up: None)
    plan = _plan(1, None)
    health.configure(plan)  # no monitor: no thread, counting by hand
    members = plan["pools"][0]["members"]  # type: ignore[index]
    member = [members[0]]
    for expected_up in (True, True, False):  # three failures take it down
        health.record(MONITOR, member, [False])
        assert ("a" in health.up()) is expected_up
    health.record(MONITOR, member, [True])
    health.record(MONITOR, member, [False])  # a failure breaks the rising streak
    health.record(MONITOR, member, [True])
    assert "a" not in health.up()
    assert health.record(MONITOR, member, [True])  # two in a row: up, a change
    assert "a" in health.up()


def test_statuses_say_no_check_maint_up_down() -> None:
    health = UdpHealth(lambda up: None)
    health.configure(_plan(1, None))
    assert health.statuses() == {"a": "no check", "off": "MAINT"}


def test_checker_thread_takes_a_stopped_member_out_and_back(echo: UdpEcho) -> None:
    changes: list[set[str]] = []
    health = UdpHealth(changes.append)
    monitor = {**MONITOR, "delay": 1, "timeout": 1, "max_retries": 1, "max_retries_down": 2}
    health.configure(_plan(echo.port, monitor))
    try:
        time.sleep(1.5)
        assert "a" in health.up() and changes == []
        echo.stop()
        _wait_for(lambda: "a" not in health.up(), 5.0)
        assert health.statuses()["a"] == "DOWN"
        echo.start()
        _wait_for(lambda: "a" in health.up(), 5.0)
        # What "a" went through, repeats collapsed (a change of another
        # member reports "a" unchanged).
        seen = [state for state, _ in itertools.groupby("a" in up for up in changes)]
        assert seen[-2:] == [False, True]
    finally:
        health.configure(None)


def test_silence_is_down_while_the_member_refuses_forwarded_flows() -> None:
    # The member's kernel spends its ICMP errors on client flows, so the
    # check hears nothing; the nftables count of those errors takes it down.
    refused: dict[tuple[str, int], int] = {}
    changes: list[set[str]] = []
    health = UdpHealth(changes.append, lambda: dict(refused))
    monitor = {**MONITOR, "delay": 1, "timeout": 1, "max_retries": 1, "max_retries_down": 2}
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as mute:
        mute.bind(("127.0.0.1", 0))
        plan = _plan(mute.getsockname()[1], monitor)
        plan["pools"][0]["members"][0].update(address="198.18.0.9", port=53)  # type: ignore[index]
        health.configure(plan)
        try:
            time.sleep(2.5)
            assert "a" in health.up()  # silence and no errors: up
            stop = threading.Event()

            def traffic() -> None:
                while not stop.wait(0.2):
                    refused[("198.18.0.9", 53)] = refused.get(("198.18.0.9", 53), 0) + 1

            threading.Thread(target=traffic, daemon=True).start()
            _wait_for(lambda: "a" not in health.up(), 6.0)
            stop.set()
            _wait_for(lambda: "a" in health.up(), 6.0)  # errors stopped: silence is up
        finally:
            health.configure(None)


def test_unchanged_members_keep_their_state_across_plans() -> None:
    health = UdpHealth(lambda up: None)
    plan = _plan(1, None)
    health.configure(plan)
    member = [plan["pools"][0]["members"][0]]  # type: ignore[index]
    for _ in range(3):
        health.record(MONITOR, member, [False])
    health.configure(_plan(1, None))
    assert "a" not in health.up()
    health.configure(_plan(2, None))  # another check port: counted afresh
    assert "a" in health.up()


def _wait_for(condition: object, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():  # type: ignore[operator]
            return
        time.sleep(0.05)
    raise AssertionError("condition not met in time")
