"""HAProxy's external check for PING health monitors: one ICMP echo.

HAProxy runs `<state dir>/haproxy/ping-check.sh` (`wire.PING_CHECK_FILE`,
written by the agent, see `install_wrapper`) with the server's address in
HAPROXY_SERVER_ADDR; exit status 0 means the member is up. Octavia's
amphora runs `ping -c 1 -w 1`; hosts here need not have a ping binary, and
a raw socket needs nothing HAProxy lacks (it runs as root). Standard library
only: it starts once per check.
"""

import ipaddress
import os
import select
import socket
import struct
import sys
import time

TIMEOUT = 1.0
ECHO = {4: (8, 0), 6: (128, 129)}  # IP version -> (request type, reply type)
PAYLOAD = b'lbaas-ping-check'
WRAPPER = (
    '#!/bin/sh\n# HAProxy external check of PING health monitors (lbaas agent).\n'
    'exec %s -m lbaas.agent.ping_check "$@"\n'
)


def _checksum(data: bytes) -> int:
    total: int = sum(struct.unpack(f'!{len(data) // 2}H', data[: len(data) // 2 * 2]))
    if len(data) % 2:
        total += data[-1] << 8
    total = (total >> 16) + (total & 0xFFFF)
    return ~(total + (total >> 16)) & 0xFFFF


def _echo_request(version: int, ident: int) -> bytes:
    request_type, _ = ECHO[version]
    header = struct.pack('!BBHHH', request_type, 0, 0, ident, 1)
    if version == 6:
        return header + PAYLOAD  # the kernel fills in ICMPv6 checksums
    checksum = _checksum(header + PAYLOAD)
    return struct.pack('!BBHHH', request_type, 0, checksum, ident, 1) + PAYLOAD


def _is_our_reply(version: int, data: bytes, ident: int) -> bool:
    if version == 4:
        data = data[(data[0] & 0x0F) * 4 :]  # raw IPv4 sockets see the IP header
    if len(data) < 8:
        return False
    reply_type: int
    reply_ident: int
    reply_type, _, _, reply_ident, _ = struct.unpack('!BBHHH', data[:8])
    return reply_type == ECHO[version][1] and reply_ident == ident


def ping(address: str, timeout: float = TIMEOUT) -> bool:
    """True if `address` answers one echo request within `timeout` seconds."""
    target = ipaddress.ip_address(address)
    family, proto = (
        (socket.AF_INET6, socket.IPPROTO_ICMPV6)
        if target.version == 6
        else (socket.AF_INET, socket.IPPROTO_ICMP)
    )
    ident = os.getpid() & 0xFFFF
    with socket.socket(family, socket.SOCK_RAW, proto) as sock:
        sock.sendto(_echo_request(target.version, ident), (str(target), 0))
        deadline = time.monotonic() + timeout
        while (left := deadline - time.monotonic()) > 0:
            if not select.select([sock], [], [], left)[0]:
                break
            data, peer = sock.recvfrom(4096)
            if ipaddress.ip_address(peer[0].split('%')[0]) == target and _is_our_reply(
                target.version, data, ident
            ):
                return True
    return False


def install_wrapper(path: str, python: str = sys.executable) -> None:
    """Write the script HAProxy runs, calling this module with `python`."""
    text = WRAPPER % python
    try:
        with open(path) as f:
            if f.read() == text:
                return
    except FileNotFoundError:
        pass
    temporary = path + '.tmp'
    with open(temporary, 'w') as f:
        f.write(text)
    os.chmod(temporary, 0o700)
    os.replace(temporary, path)


def main(argv: list[str]) -> int:
    # HAProxy passes <proxy addr> <proxy port> <server addr> <server port>.
    address = os.environ.get('HAPROXY_SERVER_ADDR') or (argv[3] if len(argv) > 3 else '')
    try:
        return 0 if ping(address) else 1
    except (OSError, ValueError):
        return 2


if __name__ == '__main__':
    sys.exit(main(sys.argv))
