"""SCTP health checks: the hand-written CRC32c, INIT/INIT-ACK encoding and
parsing, which answers count, and (as root) checks against a raw-socket
responder on loopback (INIT-ACK, ABORT, silence) and against a scratch
namespace with no SCTP at all (ICMP protocol unreachable)."""

from __future__ import annotations

import os
import socket
import struct
import subprocess
import sys
import threading
import uuid
from collections.abc import Iterator

import pytest

from lbaas.agent import sctp_check, udp_health
from lbaas.agent.sctp_check import ABORT, INIT, INIT_ACK, crc32c, init_chunk, packet, parse


@pytest.mark.parametrize(
    ("data", "crc"),
    [
        (b"123456789", 0xE3069283),  # the check value every CRC32c list gives
        (b"", 0),
        (b"\0" * 32, 0x8A9136AA),  # RFC 3720, B.4: 32 bytes of zeros
        (b"\xff" * 32, 0x62A8AB43),  # RFC 3720, B.4: 32 bytes of ones
        (bytes(range(32)), 0x46DD794E),  # RFC 3720, B.4: incrementing bytes
    ],
)
def test_crc32c_known_values(data: bytes, crc: int) -> None:
    assert crc32c(data) == crc


def test_init_encodes_header_chunk_and_checksum() -> None:
    wire = packet(10001, 3868, 0, init_chunk(0x01020304, 7))
    assert len(wire) == 12 + 20
    assert struct.unpack("!HHI", wire[:8]) == (10001, 3868, 0)
    # Chunk: type 1, flags 0, length 20, tag, a_rwnd, 1 stream each way, TSN.
    assert struct.unpack("!BBHIIHHI", wire[12:]) == (INIT, 0, 20, 0x01020304, 65536, 1, 1, 7)
    zeroed = wire[:8] + bytes(4) + wire[12:]
    assert wire[8:12] == struct.pack("<I", crc32c(zeroed))  # least significant byte first


def test_init_ack_round_trips_with_its_cookie() -> None:
    wire = packet(3868, 10001, 0xAABBCCDD, init_chunk(0x11, 1, INIT_ACK, b"m2"))
    assert len(wire) % 4 == 0  # the cookie parameter is padded
    found = parse(wire)
    assert found is not None
    assert (found.source_port, found.destination_port, found.tag) == (3868, 10001, 0xAABBCCDD)
    assert (found.chunk, found.init_tag, found.cookie) == (INIT_ACK, 0x11, b"m2")


def test_parse_refuses_a_bad_checksum_and_short_packets() -> None:
    wire = bytearray(packet(1, 2, 0, init_chunk(5, 5)))
    wire[-1] ^= 1
    assert parse(bytes(wire)) is None
    assert parse(b"\0" * 12) is None


def test_answer_takes_our_init_ack_or_abort_only() -> None:
    ack = packet(3868, 20000, 99, init_chunk(1, 1, INIT_ACK, b"x"))
    abort = packet(3868, 20000, 99, sctp_check.abort_chunk())
    assert sctp_check.answer(ack, 3868, 20000, 99) is not None
    assert sctp_check.answer(ack, 3868, 20000, 98) is None  # someone else's tag
    assert sctp_check.answer(ack, 3868, 20001, 99) is None  # someone else's port
    found = sctp_check.answer(abort, 3868, 20000, 99)
    assert found is not None and found.chunk == ABORT
    init = packet(3868, 20000, 0, init_chunk(1, 1))
    assert sctp_check.answer(init, 3868, 20000, 0) is None


def test_strip_ip_drops_the_ipv4_header_only() -> None:
    wire = packet(1, 2, 0, init_chunk(5, 5))
    header = bytes([0x45]) + bytes(19)
    assert sctp_check.strip_ip(header + wire, 4) == wire
    assert sctp_check.strip_ip(wire, 6) == wire


def test_health_dispatches_sctp_monitors(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[tuple[str, int, float]] = []

    def fake(address: str, port: int, timeout: float) -> bool:
        calls.append((address, port, timeout))
        return False

    monkeypatch.setattr(sctp_check, "check", fake)
    monitor: dict[str, object] = {"type": "SCTP", "timeout": 2}
    assert udp_health.check(monitor, "198.18.0.11", 3868) is False
    assert calls == [("198.18.0.11", 3868, 2.0)]


class Responder:
    """Answers INITs to `port` on loopback with INIT-ACK, over a raw socket."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.inits = 0
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_RAW, sctp_check.PROTOCOL)
        self.sock.settimeout(0.2)
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        while not self.stopping.is_set():
            try:
                data, peer = self.sock.recvfrom(65536)
            except TimeoutError:
                continue
            found = parse(sctp_check.strip_ip(data, 4))
            wanted = (self.port, self.port + 2)
            if found is None or found.chunk != INIT or found.destination_port not in wanted:
                continue
            self.inits += 1
            reply = init_chunk(0x5EC7, 1, INIT_ACK, b"cookie")
            if found.destination_port == self.port + 2:  # as if nothing listened there
                reply = sctp_check.abort_chunk()
            ports = (found.destination_port, found.source_port)
            self.sock.sendto(packet(*ports, found.init_tag, reply), peer)

    def close(self) -> None:
        self.stopping.set()
        self.thread.join(2)
        self.sock.close()


@pytest.fixture
def responder() -> Iterator[Responder]:
    if os.geteuid() != 0:
        pytest.skip("raw sockets need root")
    running = Responder(29868)
    yield running
    running.close()


def test_check_is_up_on_init_ack_and_down_on_silence(responder: Responder) -> None:
    assert sctp_check.check("127.0.0.1", responder.port, 2.0) is True
    assert responder.inits == 1
    # Nobody answers another port: silence, which Octavia counts as down.
    assert sctp_check.check("127.0.0.1", responder.port + 1, 0.3) is False


def test_check_is_down_on_abort(responder: Responder) -> None:
    assert sctp_check.check("127.0.0.1", responder.port + 2, 2.0) is False
    assert responder.inits == 1


def _ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True)


def test_check_is_down_at_once_on_protocol_unreachable() -> None:
    """A host without an SCTP stack (and no raw SCTP socket) answers an INIT
    with ICMP protocol unreachable: down without waiting for the timeout."""
    if os.geteuid() != 0:
        pytest.skip("namespaces and raw sockets need root")
    suffix = uuid.uuid4().hex[:6]
    near, far = f"lbaas-sctput-{suffix}-a", f"lbaas-sctput-{suffix}-b"
    try:
        for name in (near, far):
            _ip("netns", "add", name)
        _ip("-n", near, "link", "add", "s0", "type", "veth", "peer", "s1", "netns", far)
        for name, link, address in ((near, "s0", "198.51.100.1"), (far, "s1", "198.51.100.2")):
            _ip("-n", name, "addr", "add", f"{address}/24", "dev", link)
            _ip("-n", name, "link", "set", link, "up")
        code = (
            "import time; from lbaas.agent import sctp_check as s; t = time.monotonic(); "
            "print(s.check('198.51.100.2', 3868, 5.0), time.monotonic() - t)"
        )
        done = subprocess.run(
            ["ip", "netns", "exec", near, sys.executable, "-c", code],
            capture_output=True, text=True, timeout=30, check=True,
        )  # fmt: skip
        result, seconds = done.stdout.split()
        assert result == "False" and float(seconds) < 2.0, done.stdout
    finally:
        for name in (near, far):
            subprocess.run(["ip", "netns", "delete", name], check=False, capture_output=True)
