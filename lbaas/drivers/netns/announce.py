"""Tell a network that an address now lives at this interface's MAC.

Linux sends nothing when an address is added, so neighbours keep a cached
MAC for up to ~45 s (30 s reachable time, then delay and probes): a VIP
taken over by a new amphora, or a management address reused by a rebuilt
one, would be unreachable meanwhile. A gratuitous ARP (IPv4) or unsolicited
neighbour advertisement with the override flag (IPv6) updates the caches at
once. Sent from a thread inside the namespace, with raw sockets, twice.
"""

import errno
import fcntl
import ipaddress
import logging
import socket
import struct
import threading
import time
from collections.abc import Sequence

from lbaas.drivers.netns import netlink

LOG = logging.getLogger(__name__)
ETH_P_ARP = 0x0806
SIOCGIFFLAGS = 0x8913
IFF_RUNNING = 0x40
REPEATS = 2  # a second copy, in case the bridge or a neighbour missed the first
REPEAT_INTERVAL = 0.02
BROADCAST = b'\xff' * 6
ALL_NODES = 'ff02::1'
ICMPV6_NEIGHBOR_ADVERT = 136
NA_FLAG_OVERRIDE = 0x20000000
OPTION_TARGET_LINK_ADDRESS = 2


def addresses(namespace: str, ifname: str, added: Sequence[str]) -> None:
    """Announce each address in `added` (strings) on `ifname` in `namespace`.

    Best effort: a lost announcement costs a neighbour's cache timeout, not
    the plug, so failures are logged, never raised.
    """
    if not added:
        return
    try:
        netlink.run_in_namespace(namespace, _announce_all, ifname, list(added))
    except OSError as exc:
        LOG.warning('announcing %s on %s in %s failed: %s', added, ifname, namespace, exc)


def _announce_all(ifname: str, added: list[str]) -> None:
    """The first copy now; the second, and closing the socket, on a thread.

    Closing a packet socket waits for an RCU grace period (synchronize_net,
    8-15 ms here), and the second copy waits REPEAT_INTERVAL: both on the
    plug's path they made it cost about 40 ms, twice per new load balancer.
    Protocol 0 registers no receive hook, so bind is instant too. A thread
    started here runs in this namespace, and the socket stays in it anyway.
    """
    raw = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, 0)
    try:
        raw.bind((ifname, 0))
        _wait_running(raw, ifname)
        _send_all(raw, ifname, added)
    except BaseException:
        raw.close()
        raise
    threading.Thread(
        target=_repeat, args=(raw, ifname, added), name='announce', daemon=True
    ).start()


def _repeat(raw: socket.socket, ifname: str, added: list[str]) -> None:
    with raw:
        for _ in range(REPEATS - 1):
            time.sleep(REPEAT_INTERVAL)
            try:
                _send_all(raw, ifname, added)
            except OSError as exc:  # the namespace or link may be gone by now
                LOG.debug('repeating the announcement of %s on %s: %s', added, ifname, exc)
                return


def _send_all(raw: socket.socket, ifname: str, added: list[str]) -> None:
    mac: bytes = raw.getsockname()[4]  # (ifname, proto, pkttype, hatype, address)
    index = socket.if_nametoindex(ifname)
    for address in added:
        ip = ipaddress.ip_address(address)
        if ip.version == 4:
            raw.sendto(_gratuitous_arp(mac, ip), (ifname, ETH_P_ARP))
        else:
            _neighbor_advert(index, mac, ip)


def _wait_running(sock: socket.socket, ifname: str, timeout: float = 1.0) -> None:
    """Until the link is operationally up: a veth set up a moment ago drops
    what is sent before its carrier is, silently."""
    request = struct.pack('16sH', ifname.encode(), 0)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        flags = struct.unpack('16sH', fcntl.ioctl(sock, SIOCGIFFLAGS, request))[1]
        if flags & IFF_RUNNING:
            return
        time.sleep(0.005)


def _gratuitous_arp(mac: bytes, ip: ipaddress.IPv4Address) -> bytes:
    # An ARP request for our own address: every Linux host updates an
    # existing entry on it (arp_accept only matters for new entries).
    arp = struct.pack('!HHBBH6s4s6s4s', 1, 0x0800, 6, 4, 1, mac, ip.packed, b'\x00' * 6, ip.packed)
    return BROADCAST + mac + struct.pack('!H', ETH_P_ARP) + arp


def _neighbor_advert(index: int, mac: bytes, ip: ipaddress.IPv6Address) -> None:
    # The kernel fills in the ICMPv6 checksum on raw ICMPv6 sockets.
    with socket.socket(socket.AF_INET6, socket.SOCK_RAW, socket.IPPROTO_ICMPV6) as sock:
        sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_HOPS, 255)
        sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_IF, index)
        sock.bind((str(ip), 0, 0, index))
        option = struct.pack('!BB6s', OPTION_TARGET_LINK_ADDRESS, 1, mac)
        message = (
            struct.pack('!BBHI16s', ICMPV6_NEIGHBOR_ADVERT, 0, 0, NA_FLAG_OVERRIDE, ip.packed)
            + option
        )
        deadline = time.monotonic() + 1.0
        while True:
            try:
                sock.sendto(message, (ALL_NODES, 0, 0, index))
                return
            except OSError as exc:
                # Until IPv6 has configured the link its multicast route is
                # missing: ENETUNREACH for a few milliseconds after link up.
                if exc.errno != errno.ENETUNREACH or time.monotonic() > deadline:
                    raise
                time.sleep(0.005)
