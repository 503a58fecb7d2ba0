"""Health checks of type SCTP: one INIT, and what the member answers.

Octavia's amphora sends an SCTP INIT to the member and counts an INIT-ACK
as up, an ABORT or nothing at all as down. This kernel has no SCTP stack
(no SCTP sockets), so the packets are written by hand and sent over a raw
socket of protocol 132; the kernel adds the IP header. The same raw socket
hears the ICMP errors about it: a host without an SCTP stack, or with
nothing bound to SCTP, answers "protocol unreachable", which is down too.

The check never completes an association: after the INIT-ACK it sends an
ABORT, so a member with a real SCTP stack forgets the half-open state.

SCTP packets carry a CRC32c (Castagnoli), which the standard library does
not compute (zlib's crc32 is the IEEE polynomial), and the agent takes no
dependencies, so it is computed here from a 256-entry table.
"""

from __future__ import annotations

import ipaddress
import os
import select
import socket
import struct
import time

PROTOCOL = 132  # IPPROTO_SCTP, which this Python may not name
INIT, INIT_ACK, ABORT = 1, 2, 6  # chunk types
STATE_COOKIE = 7  # INIT-ACK parameter type
_HEADER = struct.Struct("!HHII")  # source port, destination port, tag, checksum
_INIT = struct.Struct("!BBHIIHHI")  # chunk header, tag, a_rwnd, streams out/in, TSN


def _table() -> tuple[int, ...]:
    polynomial = 0x82F63B78  # Castagnoli, reflected
    table = []
    for byte in range(256):
        crc = byte
        for _ in range(8):
            crc = (crc >> 1) ^ polynomial if crc & 1 else crc >> 1
        table.append(crc)
    return tuple(table)


_CRC_TABLE = _table()


def crc32c(data: bytes) -> int:
    crc = 0xFFFFFFFF
    for byte in data:
        crc = _CRC_TABLE[(crc ^ byte) & 0xFF] ^ (crc >> 8)
    return crc ^ 0xFFFFFFFF


def packet(source_port: int, destination_port: int, tag: int, chunks: bytes) -> bytes:
    """A whole SCTP packet; its checksum goes on the wire least significant byte first."""
    body = _HEADER.pack(source_port, destination_port, tag, 0) + chunks
    return body[:8] + struct.pack("<I", crc32c(body)) + body[12:]


def init_chunk(tag: int, tsn: int, kind: int = INIT, cookie: bytes = b"") -> bytes:
    """An INIT, or with `kind=INIT_ACK` an INIT-ACK carrying `cookie`."""
    parameters = b""
    if kind == INIT_ACK:
        padding = b"\0" * (-len(cookie) % 4)
        parameters = struct.pack("!HH", STATE_COOKIE, 4 + len(cookie)) + cookie + padding
    length = _INIT.size + len(parameters)
    return _INIT.pack(kind, 0, length, tag, 65536, 1, 1, tsn) + parameters


def abort_chunk() -> bytes:
    return struct.pack("!BBH", ABORT, 0, 4)


class Parsed:
    """What a check or a test needs of one SCTP packet."""

    __slots__ = ("chunk", "cookie", "destination_port", "init_tag", "source_port", "tag")

    def __init__(
        self,
        source_port: int,
        destination_port: int,
        tag: int,
        chunk: int,
        init_tag: int = 0,
        cookie: bytes = b"",
    ) -> None:
        self.source_port = source_port
        self.destination_port = destination_port
        self.tag = tag
        self.chunk = chunk  # the first chunk's type
        self.init_tag = init_tag  # INIT and INIT-ACK: the sender's tag; else 0
        self.cookie = cookie  # INIT-ACK: its state cookie

    def __repr__(self) -> str:
        return (
            f"Parsed({self.source_port}->{self.destination_port} tag={self.tag:#x} "
            f"chunk={self.chunk} init_tag={self.init_tag:#x})"
        )


def parse(data: bytes) -> Parsed | None:
    """An SCTP packet (no IP header) with a right checksum, or None."""
    if len(data) < _HEADER.size + 4:
        return None
    source, destination, tag, _ = _HEADER.unpack_from(data)
    zeroed = data[:8] + b"\0\0\0\0" + data[12:]
    if struct.unpack("<I", data[8:12])[0] != crc32c(zeroed):
        return None
    chunk = data[_HEADER.size]
    if chunk not in (INIT, INIT_ACK) or len(data) < _HEADER.size + _INIT.size:
        return Parsed(source, destination, tag, chunk)
    init_tag = _INIT.unpack_from(data, _HEADER.size)[3]
    return Parsed(source, destination, tag, chunk, init_tag, _cookie(data))


def _cookie(data: bytes) -> bytes:
    """The state cookie among the first chunk's parameters (INIT-ACK), or b""."""
    end = _HEADER.size + struct.unpack_from("!H", data, _HEADER.size + 2)[0]
    at = _HEADER.size + _INIT.size
    while at + 4 <= min(end, len(data)):
        kind, length = struct.unpack_from("!HH", data, at)
        if length < 4:
            break
        if kind == STATE_COOKIE:
            return data[at + 4 : at + length]
        at += length + (-length % 4)
    return b""


def strip_ip(data: bytes, version: int) -> bytes:
    """Raw IPv4 sockets hand over the IP header too; IPv6 ones do not."""
    return data[(data[0] & 0x0F) * 4 :] if version == 4 else data


def answer(data: bytes, port: int, source_port: int, tag: int) -> Parsed | None:
    """The member's INIT-ACK or ABORT to our INIT (no IP header), or None."""
    found = parse(data)
    if found is None or (found.source_port, found.destination_port) != (port, source_port):
        return None  # someone else's packet
    if found.chunk == INIT_ACK and found.tag == tag:
        return found
    if found.chunk == ABORT and found.tag in (tag, 0):
        return found
    return None


def check(address: str, port: int, timeout: float) -> bool:
    """True: the member answered INIT-ACK; False: ABORT, ICMP error or silence."""
    target = ipaddress.ip_address(address)
    family = socket.AF_INET6 if target.version == 6 else socket.AF_INET
    tag = int.from_bytes(os.urandom(4), "big") or 1
    source_port = 1024 + int.from_bytes(os.urandom(2), "big") % (65536 - 1024)
    with socket.socket(family, socket.SOCK_RAW, PROTOCOL) as sock:
        # Connected: only the member's packets, and its ICMP errors as OSError.
        sock.connect((str(target), 0))
        sock.send(packet(source_port, port, 0, init_chunk(tag, tag)))
        deadline = time.monotonic() + timeout
        while (left := deadline - time.monotonic()) > 0:
            if not select.select([sock], [], [], left)[0]:
                break
            try:
                data = sock.recv(65536)
            except OSError:
                return False  # protocol or port unreachable, host unreachable
            found = answer(strip_ip(data, target.version), port, source_port, tag)
            if found is not None and found.chunk == INIT_ACK:
                # Let a real SCTP stack drop the half-open association.
                sock.send(packet(source_port, port, found.init_tag, abort_chunk()))
                return True
            if found is not None:
                return False  # ABORT: nothing listens on that port
    return False
