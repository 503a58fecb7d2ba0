"""The `lbaas-fabric` namespace: the local networks as Linux bridges.

One bridge per configured local network (its IPv4 and IPv6 subnets share
it) and one management bridge. The bridges live in their own namespace, not
the host's, and carry no address: the fabric is pure layer 2 and routes
nothing. The only thing in the host namespace is one veth whose host end
holds the controller's management address (198.19.0.1/16), so the
controller reaches every agent and nothing else is reachable through it.

With VXLAN configured (`[networking] vxlan_*`) each local network's bridge
also has a VXLAN port, so the network spans the hosts whose fabrics are
peers: one VXLAN link per local network (`vx-<6 hex of network id>`, VNI
derived from the network id) over an underlay link the operator puts into
the fabric namespace, sending broadcasts and unknown destinations to every
peer (head-end replication) and learning where the MACs behind them are.
The management bridge stays on this host.
"""

import collections
import enum
import ipaddress
import threading
from collections.abc import Iterable

from lbaas import config
from lbaas.drivers.base import PermanentError
from lbaas.drivers.netns import announce, layout, netlink
from lbaas.drivers.netns import vxlan as vxlan_ports
from lbaas.drivers.netns.layout import AmphoraRecord, Subnet
from lbaas.drivers.netns.vxlan import Vxlan

DEFAULT_NAME = 'lbaas-fabric'
DEFAULT_HOST_LINK = 'lbaas-mgmt'
DEFAULT_MANAGEMENT = '198.19.0.0/16'
DEFAULT_CONTROLLER_IP = '198.19.0.1'
HOST_PEER = 'host-mgmt'  # the fabric end of the host's veth
FABRIC_SYSCTLS = {
    # Bridged frames must not go through the (host-wide) iptables rules.
    'net/bridge/bridge-nf-call-iptables': 0,
    'net/bridge/bridge-nf-call-ip6tables': 0,
    'net/bridge/bridge-nf-call-arptables': 0,
    # The fabric has no addresses of its own, IPv6 link-local ones included;
    # bridges still forward IPv6 frames.
    'net/ipv6/conf/default/disable_ipv6': 1,
    'net/ipv6/conf/all/disable_ipv6': 1,
}
OPTIONAL_SYSCTLS = (
    'net/bridge/bridge-nf-call-iptables',
    'net/bridge/bridge-nf-call-ip6tables',
    'net/bridge/bridge-nf-call-arptables',
)


class _FromConfig(enum.Enum):
    TOKEN = 'from configuration'


FROM_CONFIG = _FromConfig.TOKEN


class Fabric:
    """Bridges for `subnets` (default: `[networking] local_network`) and,
    with `vxlan` (default: `[networking] vxlan_*`; None: none), their VXLAN
    ports to the other hosts."""

    def __init__(
        self,
        name: str = DEFAULT_NAME,
        host_link: str = DEFAULT_HOST_LINK,
        management_cidr: str = DEFAULT_MANAGEMENT,
        controller_ip: str = DEFAULT_CONTROLLER_IP,
        subnets: Iterable[Subnet] | None = None,
        vxlan: Vxlan | _FromConfig | None = FROM_CONFIG,
    ) -> None:
        self.name = name
        self.host_link = host_link
        self.management = layout.check_in_plan(
            management_cidr, [layout.MANAGEMENT_PLAN], 'management network'
        )
        self.controller_ip = ipaddress.ip_address(controller_ip)
        if self.controller_ip not in self.management:
            raise PermanentError(
                'controller address %s is outside %s' % (controller_ip, self.management)
            )
        if subnets is None:
            subnets = config.local_subnets()
        self.subnets: list[Subnet] = list(subnets)
        for subnet in self.subnets:
            layout.check_in_plan(subnet.cidr, layout.TENANT_PLAN, 'local subnet')
        self.networks: collections.defaultdict[str, list[Subnet]] = collections.defaultdict(list)
        for subnet in self.subnets:
            self.networks[subnet.network_id].append(subnet)
        self._check_unique_bridge_names()
        self.vxlan = Vxlan.from_config() if vxlan is FROM_CONFIG else vxlan
        self._check_unique_vnis()
        self._ensure_lock = threading.Lock()

    def _check_unique_bridge_names(self) -> None:
        seen: dict[str, str] = {}
        for network_id in self.networks:
            tag = layout.network_tag(network_id)
            if tag in seen:
                raise PermanentError(
                    'local networks %s and %s share the name prefix %s; '
                    'their ids must differ in the first 6 hex digits' % (seen[tag], network_id, tag)
                )
            seen[tag] = network_id

    def _check_unique_vnis(self) -> None:
        if self.vxlan is None:
            return
        seen: dict[int, str] = {}
        for network_id in self.networks:
            vni = self.vxlan.vni(network_id)
            if vni in seen:
                raise PermanentError(
                    'local networks %s and %s get the same VXLAN VNI %d; '
                    'change [networking] vxlan_vni_base' % (seen[vni], network_id, vni)
                )
            seen[vni] = network_id

    # -- lookups -----------------------------------------------------------

    def subnet(self, subnet_id: str | None) -> Subnet | None:
        return next((s for s in self.subnets if s.id == subnet_id), None)

    def subnets_containing(self, address: netlink.AddressLike) -> list[Subnet]:
        ip = ipaddress.ip_address(address)
        return [s for s in self.subnets if ip in s.cidr]

    def bridge_for(self, network_id: str) -> str:
        return layout.bridge_name(network_id)

    # -- life cycle ---------------------------------------------------------

    def exists(self) -> bool:
        return netlink.namespace_exists(self.name)

    def ensure(self) -> None:
        """Create or repair the fabric; cheap and harmless when all is there."""
        with self._ensure_lock:  # worker threads building amphorae at once
            netlink.create_namespace(self.name)
            netlink.write_sysctls(self.name, FABRIC_SYSCTLS, optional=OPTIONAL_SYSCTLS)
            with netlink.rtnl(self.name) as ipr:
                netlink.ensure_bridge(ipr, layout.MGMT_BRIDGE)
                for network_id in self.networks:
                    netlink.ensure_bridge(ipr, self.bridge_for(network_id))
            self._ensure_host_link()
            self._ensure_vxlan()

    def _ensure_host_link(self) -> None:
        netlink.ensure_veth(None, self.host_link, self.name, HOST_PEER)
        with netlink.rtnl(self.name) as ipr:
            netlink.enslave_and_up(ipr, HOST_PEER, layout.MGMT_BRIDGE)
        # Our one link in the host namespace: IPv4 management only, so the
        # host's IPv6 autoconfiguration has nothing to act on here.
        netlink.write_sysctls(
            None,
            {'net/ipv6/conf/%s/disable_ipv6' % self.host_link: 1},
            optional=('net/ipv6/conf/%s/disable_ipv6' % self.host_link,),
        )
        with netlink.rtnl() as ipr:
            netlink.ensure_addresses(
                ipr, self.host_link, [(self.controller_ip, self.management.prefixlen)]
            )

    def _ensure_vxlan(self) -> None:
        """Each local network's VXLAN port, or none where VXLAN is off."""
        bridges = {network_id: self.bridge_for(network_id) for network_id in self.networks}
        with netlink.rtnl(self.name) as ipr:
            vxlan_ports.ensure_ports(ipr, self.name, self.vxlan, bridges)

    def destroy(self) -> None:
        """Remove the host link and the fabric (its bridges and ports go too)."""
        with netlink.rtnl() as ipr:
            netlink.delete_link(ipr, self.host_link)
        netlink.remove_namespace(self.name)

    # -- ports -----------------------------------------------------------------

    def attach(
        self,
        namespace: str,
        inner_name: str,
        port_name: str,
        bridge: str,
        addresses: Iterable[tuple[netlink.AddressLike, int]] = (),
        mac: str | None = None,
    ) -> None:
        """A veth from `namespace` (`inner_name`, with `addresses`) to `bridge`.

        `addresses` are (address, prefixlen) pairs, added in that order; the
        ones added now are announced to the network.
        """
        netlink.ensure_veth(self.name, port_name, namespace, inner_name, far_mac=mac)
        with netlink.rtnl(self.name) as ipr:
            netlink.enslave_and_up(ipr, port_name, bridge)
        with netlink.rtnl(namespace) as ipr:
            added = netlink.ensure_addresses(ipr, inner_name, addresses)
        announce.addresses(namespace, inner_name, added)

    def attach_management(self, record: AmphoraRecord) -> None:
        """An amphora's management link, with its recorded address."""
        self.attach(
            record.namespace,
            layout.MGMT_IFNAME,
            layout.fabric_port(record.amphora_id),
            layout.MGMT_BRIDGE,
            [(record.management_ip, self.management.prefixlen)],
            mac=layout.interface_mac(record.amphora_id),
        )

    def detach(self, port_name: str) -> bool:
        """Remove a port; the veth's other end, in some namespace, goes with it."""
        if not self.exists():
            return False
        with netlink.rtnl(self.name) as ipr:
            return netlink.delete_link(ipr, port_name)

    def detach_amphora(self, short_id: str) -> None:
        """Remove every port of the amphora whose id starts with `short_id`."""
        for port in self.port_names():
            if port.startswith(short_id + '-'):
                self.detach(port)

    def port_names(self) -> list[str]:
        return netlink.link_names(self.name) if self.exists() else []
