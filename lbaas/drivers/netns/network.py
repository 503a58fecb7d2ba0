"""NetnsNetwork: VIPs and member subnets as veths onto the fabric's bridges.

An amphora gets one interface per local network it is plugged into,
`eth-<6 hex of network id>`, holding its own address on each subnet of that
network it needs: the VIP subnet (its VRRP address) and every subnet that
contains a member. Under the SINGLE topology `hold_vips` adds the VIPs too
(after the amphora's own address, so connections to members leave from the
latter), once the amphora serves: a replacement takes them over only after
its HAProxy runs (it binds them before, `ip_nonlocal_bind`), so failover
moves a working VIP. Under ACTIVE_STANDBY keepalived moves them and they are
never added here. Under ACTIVE_ACTIVE they go on the amphora's loopback, with
ARP answered only for addresses of the asking interface, and the LB's
distributor (distributor.py) holds them on the network and spreads flows
over its amphorae. IPv6 addresses skip duplicate address detection.

The amphora's own addresses come from the top of each subnet (the API hands
out VIPs from the bottom), avoiding every address and VIP recorded by the
amphorae on this host. An address already on the amphora row (vrrp_ip) is
kept, so re-plugging after a crash changes nothing.
"""

import ipaddress
import logging
import uuid
from collections.abc import Container, Iterable, Mapping, Sequence

from lbaas import config
from lbaas.drivers.base import (
    Addressing,
    Amphora,
    LoadBalancerNetwork,
    PermanentError,
    TransientError,
)
from lbaas.drivers.netns import distributor, layout, netlink
from lbaas.drivers.netns.fabric import Fabric
from lbaas.drivers.netns.layout import AmphoraRecord, IPAddress, Subnet

LOG = logging.getLogger(__name__)
PORT_ID_NAMESPACE = uuid.UUID('0d9b7c8e-5a3f-4c61-9e2b-7f1a6d4c3b20')
LOOPBACK_VIP_SYSCTLS = {
    'net/ipv4/conf/all/arp_ignore': 1,
    'net/ipv4/conf/all/arp_announce': 2,
}


class NetnsNetwork:
    def __init__(self, state_dir: str | None = None, fabric: Fabric | None = None) -> None:
        self.store = layout.StateStore(state_dir or config.CONF.state_dir)
        self.fabric = fabric or Fabric()
        self.distributor = distributor.Distributor(self.fabric, self.store.state_dir)
        self.block = config.address_block()

    # -- NetworkDriver -------------------------------------------------------------

    def plug_amphora(self, amphora: Amphora, lb: LoadBalancerNetwork) -> Addressing:
        vips = self._vips(lb)
        vip_subnet = vips[0][0]
        preferred: dict[str, str | None] = {vip_subnet.id: amphora.vrrp_ip}
        record = self._assign(
            amphora.id,
            [subnet for subnet, _ in vips],
            preferred,
            vips=[[s.id, str(ip)] for s, ip in vips],
        )
        self.fabric.attach_management(record)
        self._ensure_interfaces(record)
        vrrp_port_id = amphora.vrrp_port_id or str(
            uuid.uuid5(PORT_ID_NAMESPACE, amphora.id + vip_subnet.id)
        )
        return Addressing(
            lb_network_ip=record.management_ip,
            vrrp_ip=record.subnet_addresses[vip_subnet.id],
            vrrp_port_id=vrrp_port_id,
            ha_ip=str(vips[0][1]),
            ha_port_id=lb.vips[0].port_id,
            vrrp_interface=layout.tenant_ifname(vip_subnet.network_id),
        )

    def hold_vips(self, amphora: Amphora, lb: LoadBalancerNetwork) -> None:
        """SINGLE: put the VIPs on this amphora and announce them (once);
        ACTIVE_ACTIVE: on its loopback, unannounced. The record says so only
        once they are there: a process killed in between leaves a hold its
        retry makes again, and a held amphora costs no netlink call."""
        if lb.topology == 'ACTIVE_STANDBY':
            return  # keepalived holds them
        with self.store.allocation_lock():
            record = self.store.load(amphora.id)
            if record is None:
                raise TransientError('amphora %s is not built on this host' % amphora.id)
            if record.holds_vips:
                return
            record.holds_vips = True
            record.vips_on_loopback = lb.topology == 'ACTIVE_ACTIVE'
            if record.vips_on_loopback:
                _accept_on_loopback(record)
            else:
                self._ensure_interfaces(record)
            self.store.save(record)

    def distribute(self, lb: LoadBalancerNetwork, amphorae: Sequence[Amphora]) -> None:
        """ACTIVE_ACTIVE: the LB's distributor sends each flow to one of these."""
        vips = self._vips(lb)
        targets = []
        for amphora in amphorae:
            record = self.store.load(amphora.id)
            if record is not None:
                targets.append((amphora.id, dict(record.subnet_addresses)))
        # ensure() takes the allocation lock and counts what this host uses
        self.distributor.ensure(lb.id, vips, targets, set())

    def distributors(self) -> list[str]:
        """Ids of the LBs with a distributor on this host (housekeeping's sweep)."""
        return [record.lb_id for record in distributor.records(self.store.state_dir)]

    def unplug_amphora(self, amphora: Amphora) -> None:
        """Remove its tenant interfaces and free their addresses.

        The management link stays: it belongs to the compute driver (made by
        build, gone with the namespace on delete), so the agent stays
        reachable until the amphora itself is deleted.
        """
        with self.store.allocation_lock():
            record = self.store.load(amphora.id)
            if record is None:
                return
            for network_id in self._networks_of(record):
                self.fabric.detach(layout.fabric_port(amphora.id, network_id))
            record.subnet_addresses, record.vips, record.holds_vips = {}, [], False
            record.vips_on_loopback = False
            self.store.save(record)

    def release_vip(self, lb: LoadBalancerNetwork) -> None:
        """Remove an ACTIVE_ACTIVE LB's distributor. Otherwise a VIP is only an
        address inside amphora namespaces, gone with them, and the database
        releases the allocation."""
        self.distributor.remove(lb.id)

    # -- member subnets -------------------------------------------------------------

    def member_subnet_ids(self, addresses: frozenset[str]) -> list[str]:
        """The local subnets that contain any of these member addresses."""
        found: set[str] = set()
        for address in addresses:
            found.update(s.id for s in self.fabric.subnets_containing(address))
        return sorted(found)

    def plug_member_subnets(self, amphora: Amphora, subnet_ids: list[str]) -> dict[str, str]:
        """Give the amphora an address on each of these local subnets.

        Subnets we do not know are skipped (a member there is unreachable
        from this host, which its health shows). Returns {subnet id: address}.
        """
        subnets: list[Subnet] = []
        for subnet_id in subnet_ids:
            subnet = self.fabric.subnet(subnet_id)
            if subnet is None:
                LOG.warning(
                    'amphora %s: member subnet %s is not a local subnet', amphora.id, subnet_id
                )
            else:
                subnets.append(subnet)
        record = self.store.load(amphora.id)
        # Every push asks; only a subnet new to the amphora costs an
        # allocation (which reads every record on the host) and a plug.
        if record is None or any(s.id not in record.subnet_addresses for s in subnets):
            record = self._assign(amphora.id, subnets, preferred={})
            self._ensure_interfaces(record)
        return {s.id: record.subnet_addresses[s.id] for s in subnets}

    # -- steps ---------------------------------------------------------------------

    def _vips(self, lb: LoadBalancerNetwork) -> list[tuple[Subnet, IPAddress]]:
        """[(local subnet, address)] of the VIP and additional VIPs, checked."""
        vips: list[tuple[Subnet, IPAddress]] = []
        for subnet_id, address in [(v.subnet_id, v.address) for v in lb.vips]:
            subnet = self.fabric.subnet(subnet_id)
            if subnet is None:
                raise PermanentError(
                    'VIP subnet %s is not a local subnet; the netns '
                    'network driver plugs only those' % subnet_id
                )
            if address is None:  # a ValueError, as ipaddress.ip_address(None) raises
                raise ValueError('VIP on subnet %s has no address' % subnet_id)
            ip = ipaddress.ip_address(address)
            if ip not in subnet.cidr:
                raise PermanentError(
                    'VIP %s is not in subnet %s (%s)' % (address, subnet_id, subnet.cidr)
                )
            vips.append((subnet, ip))
        return vips

    def _assign(
        self,
        amphora_id: str,
        subnets: Iterable[Subnet],
        preferred: Mapping[str, str | None],
        vips: list[list[str]] | None = None,
    ) -> AmphoraRecord:
        """The amphora's record, with an address on each of `subnets`, and
        `vips` recorded when given."""
        with self.store.allocation_lock():
            record = self.store.load(amphora_id)
            if record is None:
                raise TransientError('amphora %s is not built on this host' % amphora_id)
            if vips is not None:
                record.vips = vips
            taken = self._taken() | {ipaddress.ip_address(ip) for _, ip in record.vips}
            for subnet in subnets:
                if subnet.id not in record.subnet_addresses:
                    address = _usable(preferred.get(subnet.id), subnet, taken)
                    address = address or layout.pick_from_top(subnet, taken, self.block)
                    record.subnet_addresses[subnet.id] = str(address)
                    taken.add(address)
            self.store.save(record)
            return record

    def _taken(self) -> set[IPAddress]:
        """Tenant addresses this host uses: amphorae's, VIPs, distributors'."""
        return self.store.tenant_addresses_in_use() | distributor.addresses_in_use(
            self.store.state_dir
        )

    def _networks_of(self, record: AmphoraRecord) -> dict[str, list[tuple[str, int]]]:
        networks: dict[str, list[tuple[str, int]]] = {}
        for subnet_id, address in record.subnet_addresses.items():
            subnet = self.fabric.subnet(subnet_id)
            if subnet is not None:
                networks.setdefault(subnet.network_id, []).append((address, subnet.cidr.prefixlen))
        if record.holds_vips and not record.vips_on_loopback:
            for subnet_id, address in record.vips:
                subnet = self.fabric.subnet(subnet_id)
                if subnet is not None:  # a host route: never a source, never a subnet
                    full = 32 if subnet.ip_version == 4 else 128
                    networks.setdefault(subnet.network_id, []).append((address, full))
        return networks

    def _ensure_interfaces(self, record: AmphoraRecord) -> None:
        for network_id, addresses in self._networks_of(record).items():
            self.fabric.attach(
                record.namespace,
                layout.tenant_ifname(network_id),
                layout.fabric_port(record.amphora_id, network_id),
                self.fabric.bridge_for(network_id),
                addresses,
                mac=layout.interface_mac(record.amphora_id, network_id),
            )


def _accept_on_loopback(record: AmphoraRecord) -> None:
    """The VIPs as host addresses on `lo`; the tenant interfaces answer ARP
    only for their own addresses and announce from them."""
    netlink.write_sysctls(record.namespace, LOOPBACK_VIP_SYSCTLS)
    addresses = [(ip, ipaddress.ip_address(ip).max_prefixlen) for _, ip in record.vips]
    with netlink.rtnl(record.namespace) as ipr:
        netlink.ensure_addresses(ipr, 'lo', addresses)


def _usable(address: str | None, subnet: Subnet, taken: Container[IPAddress]) -> IPAddress | None:
    """`address` if it is a free address of `subnet`, else None."""
    if not address:
        return None
    ip = ipaddress.ip_address(address)
    if ip in subnet.cidr and ip not in taken and ip != subnet.gateway:
        return ip
    return None
