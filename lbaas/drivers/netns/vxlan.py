"""VXLAN ports of the fabric's bridges: local networks spanning hosts.

With `[networking] vxlan_*` set, each local network's bridge gets one
VXLAN link (`vx-<6 hex of network id>`, VNI derived from the network id,
so hosts agree whatever order their configurations list networks in) over
an underlay link the operator puts into the fabric namespace. Broadcasts
and unknown destinations go to every peer (head-end replication: one
all-zeros fdb entry per peer); the MACs behind them are learned. The
management bridge stays on its host. VXLAN has no authentication: the
underlay must be a network only lbaas hosts reach.
"""

import dataclasses
import hashlib
import ipaddress
from collections.abc import Iterable, Mapping
from typing import Any

from pyroute2.netlink.exceptions import NetlinkError  # type: ignore[import-untyped]

from lbaas import config
from lbaas.drivers.base import PermanentError, TransientError
from lbaas.drivers.netns import layout
from lbaas.drivers.netns.netlink import (
    EEXIST,
    ENODEV,
    ENOENT,
    AddressLike,
    Rtnl,
    delete_link,
    enslave_and_up,
    link_index,
    link_names,
)

NTF_SELF = 0x02  # an fdb entry of the device itself (not of its bridge)
FLOOD_MAC = '00:00:00:00:00:00'  # a VXLAN fdb entry for every unknown destination

VXLAN_PREFIX = 'vx-'
# The MTU of every veth on a tenant bridge (amphorae, members, clients: the
# kernel's default). A VXLAN port has it too, so a full-size frame is never
# dropped on its way to another host (a bridge drops, without a word, a frame
# larger than the port it leaves by). The price is on the underlay: it must
# carry the 50 bytes of outer headers (Ethernet 14, IPv4 20, UDP 8, VXLAN 8)
# on top, an MTU of at least 1550; the kernel refuses a VXLAN MTU above the
# underlay's minus 50.
TENANT_MTU = 1500
VXLAN_OVERHEAD = 50
VNI_MAX = 2**24 - 1
DEFAULT_VNI_BASE = 0x100000


@dataclasses.dataclass(frozen=True)
class Vxlan:
    """How this host's fabric reaches the other hosts' (`[networking] vxlan_*`)."""

    local_ip: ipaddress.IPv4Address
    underlay_link: str
    peers: tuple[ipaddress.IPv4Address, ...] = ()
    port: int = 4789
    vni_base: int = DEFAULT_VNI_BASE

    def __post_init__(self) -> None:
        if not 1 <= self.vni_base <= VNI_MAX:
            raise PermanentError('VXLAN VNI base %d is not in 1-%d' % (self.vni_base, VNI_MAX))

    @classmethod
    def from_config(cls) -> 'Vxlan | None':
        """The configured VXLAN (checked by config.validate), None if unset."""
        net = config.CONF.networking
        if not net.vxlan_local_ip:
            return None
        peers = dict.fromkeys(ipaddress.IPv4Address(p.strip()) for p in net.vxlan_peers)
        return cls(
            local_ip=ipaddress.IPv4Address(net.vxlan_local_ip.strip()),
            underlay_link=net.vxlan_underlay_link,
            peers=tuple(peers),
            port=net.vxlan_port,
            vni_base=net.vxlan_vni_base,
        )

    def vni(self, network_id: str) -> int:
        """The VNI of a local network, from its id alone: hosts agree on it
        whatever else or in whichever order their configurations list."""
        digest = hashlib.sha256(network_id.encode()).digest()
        return self.vni_base + int.from_bytes(digest[:4], 'big') % (VNI_MAX + 1 - self.vni_base)


def port_name(network_id: str) -> str:
    """The VXLAN link of a local network (in the fabric namespace)."""
    return VXLAN_PREFIX + layout.network_tag(network_id)


def ensure_ports(
    ipr: Rtnl, namespace: str, settings: Vxlan | None, bridges: Mapping[str, str]
) -> None:
    """The VXLAN port of each bridge ({network id: bridge}) in `namespace`,
    set up as `settings` say; with None, no VXLAN port at all."""
    wanted = {port_name(n): n for n in bridges} if settings else {}
    for name in link_names_with_prefix(namespace, VXLAN_PREFIX):
        if name not in wanted:  # VXLAN turned off, or a network gone
            delete_link(ipr, name)
    if settings is None:
        return
    _check_underlay(ipr, namespace, settings)
    for name, network_id in wanted.items():
        ensure_vxlan(
            ipr,
            name,
            settings.vni(network_id),
            settings.local_ip,
            settings.underlay_link,
            settings.port,
            TENANT_MTU,
        )
        ensure_flood_peers(ipr, name, settings.peers)
        enslave_and_up(ipr, name, bridges[network_id])


def _check_underlay(ipr: Rtnl, namespace: str, settings: Vxlan) -> None:
    """The operator's part: the underlay link, its address and MTU."""
    link = settings.underlay_link
    mtu = link_mtu(ipr, link)
    if mtu is None:
        problem = 'is not in namespace %s: move the underlay link there' % namespace
    elif not has_address(ipr, link, settings.local_ip):
        problem = 'does not hold vxlan_local_ip %s' % settings.local_ip
    elif mtu < TENANT_MTU + VXLAN_OVERHEAD:
        problem = 'has MTU %d; VXLAN needs at least %d' % (mtu, TENANT_MTU + VXLAN_OVERHEAD)
    else:
        return
    # Transient: the operator can fix it while the service runs.
    raise TransientError('[networking] vxlan_underlay_link %s %s' % (link, problem))


def link_names_with_prefix(namespace: str, prefix: str) -> list[str]:
    return [name for name in link_names(namespace) if name.startswith(prefix)]


def link_mtu(ipr: Rtnl, ifname: str) -> int | None:
    index = link_index(ipr, ifname)
    if index is None:
        return None
    mtu: int = next(iter(ipr.link('get', index=index))).get('mtu')
    return mtu


def has_address(ipr: Rtnl, ifname: str, address: AddressLike) -> bool:
    """`address` is on `ifname` (any prefix length)."""
    index = link_index(ipr, ifname)
    wanted = str(ipaddress.ip_address(address))
    return index is not None and any(
        msg.get('address') == wanted for msg in ipr.addr('dump', index=index)
    )


def _vxlan_settings(ipr: Rtnl, index: int) -> tuple[Any, ...] | None:
    """(vni, local, underlay index, port, learning, mtu) of a VXLAN link;
    None if the link is of another kind."""
    message = next(iter(ipr.link('get', index=index)))
    info = message.get('IFLA_LINKINFO')
    if info is None or info.get('IFLA_INFO_KIND') != 'vxlan':
        return None
    data = info.get('IFLA_INFO_DATA')
    keys = ('ID', 'LOCAL', 'LINK', 'PORT', 'LEARNING')
    return (*(data.get('IFLA_VXLAN_' + key) for key in keys), message.get('mtu'))


def ensure_vxlan(
    ipr: Rtnl,
    ifname: str,
    vni: int,
    local: AddressLike,
    underlay: str,
    port: int,
    mtu: int,
) -> int:
    """A VXLAN link `ifname` (learning on), sending from `local` over `underlay`.

    One that exists with other settings is made again: the kernel changes
    neither a VNI nor an underlay in place. Returns its index.
    """
    underlay_index = link_index(ipr, underlay)
    if underlay_index is None:
        raise OSError(ENODEV, 'no link %s for VXLAN %s' % (underlay, ifname))
    wanted = (vni, str(ipaddress.ip_address(local)), underlay_index, port, 1, mtu)
    index = link_index(ipr, ifname)
    if index is not None and _vxlan_settings(ipr, index) == wanted:
        return index
    if index is not None:
        delete_link(ipr, ifname)
    try:
        ipr.link(
            'add',
            ifname=ifname,
            kind='vxlan',
            mtu=mtu,
            vxlan_id=vni,
            vxlan_local=wanted[1],
            vxlan_link=underlay_index,
            vxlan_port=port,
            vxlan_learning=1,
        )
    except NetlinkError as exc:
        if exc.code != EEXIST:
            raise
    found = link_index(ipr, ifname)
    if found is None:
        raise OSError(ENODEV, 'VXLAN %s vanished as it was made' % ifname)
    return found


def _fdb_destinations(ipr: Rtnl, index: int) -> list[tuple[str, str]]:
    """(MAC, remote address) of the device's own fdb entries that have one."""
    return [
        (msg.get('NDA_LLADDR'), msg.get('NDA_DST'))
        for msg in ipr.fdb('dump', ifindex=index)
        if msg['ifindex'] == index and msg['flags'] & NTF_SELF and msg.get('NDA_DST')
    ]


def ensure_flood_peers(ipr: Rtnl, ifname: str, peers: Iterable[AddressLike]) -> None:
    """Head-end replication on VXLAN `ifname`: one all-zeros fdb entry per peer.

    Entries that send to any other address (a peer no longer configured,
    also the MACs learned behind it) are removed.
    """
    index = link_index(ipr, ifname)
    if index is None:
        raise OSError(ENODEV, 'no VXLAN link %s' % ifname)
    wanted = {str(ipaddress.ip_address(peer)) for peer in peers}
    present = _fdb_destinations(ipr, index)
    for mac, dst in present:
        if dst not in wanted:
            _fdb_change(ipr, 'del', index, mac, dst)
    flooded = {dst for mac, dst in present if mac == FLOOD_MAC}
    for peer in sorted(wanted - flooded):
        _fdb_change(ipr, 'append', index, FLOOD_MAC, peer)


def _fdb_change(ipr: Rtnl, command: str, index: int, mac: str, dst: str) -> None:
    try:
        ipr.fdb(command, ifindex=index, lladdr=mac, dst=dst)
    except NetlinkError as exc:
        if exc.code not in (EEXIST, ENOENT):  # done meanwhile (the kernel ages entries)
            raise
