"""NeutronNetwork: VIPs as allowed address pairs on the amphorae's ports.

As Octavia's allowed_address_pairs driver, with its names:

- the VIP port `octavia-lb-<lb id>` on the VIP network holds the VIP (and
  each additional VIP, a fixed IP on its own subnet of that network) so
  Neutron hands those addresses to nobody else; it is never bound;
- each amphora gets a VRRP port `octavia-lb-vrrp-<amphora id>` on the VIP
  subnet, attached to its server through Nova's os-interface; its fixed IP
  is the amphora's own address there (vrrp_ip, kept when re-plugged), and
  the VIPs are allowed address pairs on it: under ACTIVE_STANDBY from the
  start (keepalived moves the VIPs), under SINGLE only once `hold_vips`
  says the amphora serves (build before remove);
- the security group `lb-<lb id>` is on the VIP and VRRP ports. The seam
  passes no listeners (LoadBalancerNetwork has none), so it opens TCP and
  UDP to every port, VRRP (protocol 112) between the LB's ports and ICMP;
  HAProxy listens on the listener ports only, and allowed_cidrs are
  enforced in the amphora;
- member subnets: the amphora gets an address on each, a fixed IP on one
  of its ports already on that network, else a new port
  `octavia-lb-member-<amphora id>-<network id>` attached through Nova.

Every port made for an amphora has the description `amphora <id>`, so
unplug finds them all, attached or not. The management address
(lb_network_ip) is the server's address on `amp_boot_network_list`.
"""

from __future__ import annotations

import ipaddress
import logging
from collections.abc import Iterable, Sequence
from typing import Any

from lbaas import config
from lbaas.drivers import openstack
from lbaas.drivers.base import (
    Addressing,
    Amphora,
    LoadBalancerNetwork,
    PermanentError,
    TransientError,
)
from lbaas.drivers.network import neutron_ports as ports

LOG = logging.getLogger(__name__)
BOOT_RETRY = 5.0  # seconds before asking again whether a booting server is ACTIVE
VRRP_INTERFACE = 'eth1'  # the first interface attached after boot (docs/deploy-openstack.md)


class NeutronNetwork:
    def __init__(
        self,
        conn: openstack.Connection | None = None,
        management_networks: Iterable[str] | None = None,
    ) -> None:
        self.conn = conn if conn is not None else openstack.connect()
        if management_networks is None:
            management_networks = config.CONF.controller_worker.amp_boot_network_list
        self.management_networks = frozenset(management_networks)
        self.ports = ports.Ports(self.conn)

    # -- NetworkDriver -------------------------------------------------------------

    def plug_amphora(self, amphora: Amphora, lb: LoadBalancerNetwork) -> Addressing:
        server = self._server(amphora)
        network_id, subnets = self._vip_subnets(lb)
        group = self.ports.ensure_security_group(lb.id)
        self.ports.ensure_vip_port(lb, network_id, group)
        pairs = [str(v.address) for v in lb.vips] if lb.topology == 'ACTIVE_STANDBY' else []
        vrrp = self.ports.ensure_vrrp_port(amphora, network_id, subnets[0], group, pairs)
        if server.status == 'ACTIVE':
            self.ports.attach(server, vrrp)
        elif server.status != 'BUILD':  # ERROR: the next pass builds it again
            raise TransientError('amphora %s: server is %s' % (amphora.id, server.status))
        # BUILD: Nova attaches interfaces to ACTIVE servers only; the port is
        # attached before the first push (plug_member_subnets) or hold_vips.
        return Addressing(
            lb_network_ip=self._management_ip(server),
            vrrp_ip=ports.address_on(vrrp, subnets[0]),
            vrrp_port_id=str(vrrp.id),
            ha_ip=str(lb.vips[0].address),
            ha_port_id=lb.vips[0].port_id,
            vrrp_interface=VRRP_INTERFACE,
        )

    def hold_vips(self, amphora: Amphora, lb: LoadBalancerNetwork) -> None:
        """SINGLE: the VIPs become allowed address pairs of this amphora's port."""
        if lb.topology == 'ACTIVE_STANDBY':
            return  # keepalived moves them; the pairs were set at plug
        vrrp = self._attached_vrrp_port(amphora)
        if vrrp is None:
            raise TransientError('amphora %s has no VRRP port yet' % amphora.id)
        self.ports.add_address_pairs(vrrp, [str(v.address) for v in lb.vips])

    def distribute(self, lb: LoadBalancerNetwork, amphorae: Sequence[Amphora]) -> None:
        """Neutron has no distributor: ACTIVE_ACTIVE is refused before this
        (config.validate, the amphora provider's flavor check)."""
        raise PermanentError('ACTIVE_ACTIVE needs the netns network driver\'s distributor')

    def unplug_amphora(self, amphora: Amphora) -> None:
        """Delete the amphora's VRRP and member ports; its management port stays."""
        server = openstack.find_server(
            self.conn, amphora.compute_id or openstack.server_name(amphora.id)
        )
        for port in self.ports.amphora_ports(amphora):
            self.ports.delete(server, port)

    def release_vip(self, lb: LoadBalancerNetwork) -> None:
        """Delete the VIP port and the security group (once no port uses it)."""
        self.ports.delete_vip_port(lb.id)
        self.ports.delete_security_group(lb.id)

    # -- member subnets -------------------------------------------------------------

    def member_subnet_ids(self, addresses: frozenset[str]) -> list[str]:
        """Subnets holding these addresses, management networks excepted.

        The seam passes addresses, not the members' subnet ids, so an
        address in more than one subnet (overlapping tenant ranges) is
        ambiguous: it is skipped with a warning rather than plugging the
        amphora into someone else's network.
        """
        if not addresses:
            return []
        subnets = [s for s in self.ports.subnets() if s.network_id not in self.management_networks]
        found: set[str] = set()
        for address in addresses:
            ip = ipaddress.ip_address(address)
            holding = [s for s in subnets if ip in ipaddress.ip_network(s.cidr)]
            if len(holding) > 1:
                LOG.warning(
                    'member address %s is in several subnets (%s): not plugged',
                    address,
                    ', '.join(sorted(s.id for s in holding)),
                )
            elif holding:
                found.add(str(holding[0].id))
        return sorted(found)

    def plug_member_subnets(self, amphora: Amphora, subnet_ids: list[str]) -> dict[str, str]:
        """An address on each subnet; first the VRRP port attached, if plug could not."""
        self._attached_vrrp_port(amphora)
        if not subnet_ids:
            return {}
        server = self._server(amphora, active=True)
        plugged: dict[str, str] = {}
        for subnet_id in subnet_ids:
            subnet = self.ports.subnet(subnet_id)
            if subnet is None or subnet.network_id in self.management_networks:
                LOG.warning('amphora %s: member subnet %s not plugged', amphora.id, subnet_id)
                continue
            port = self.ports.ensure_member_address(amphora, subnet)
            self.ports.attach(server, port)
            plugged[subnet_id] = ports.address_on(port, subnet.id)
        return plugged

    # -- steps ---------------------------------------------------------------------

    def _server(self, amphora: Amphora, active: bool = False) -> Any:
        name = amphora.compute_id or openstack.server_name(amphora.id)
        server = openstack.find_server(self.conn, name)
        if server is None:
            raise TransientError('amphora %s: no server %s' % (amphora.id, name))
        if active and server.status != 'ACTIVE':
            raise TransientError(
                'amphora %s: server is %s' % (amphora.id, server.status), BOOT_RETRY
            )
        return server

    def _attached_vrrp_port(self, amphora: Amphora) -> Any | None:
        """The amphora's VRRP port, attached to its (ACTIVE) server; None if unplugged."""
        vrrp = self.ports.vrrp_port(amphora)
        if vrrp is not None and not vrrp.device_id:
            self.ports.attach(self._server(amphora, active=True), vrrp)
        return vrrp

    def _vip_subnets(self, lb: LoadBalancerNetwork) -> tuple[str, list[str]]:
        """(VIP network id, [subnet of each VIP]), checked: one network, addresses inside."""
        network_id: str | None = None
        subnet_ids: list[str] = []
        for vip in lb.vips:
            if vip.address is None:  # a ValueError, as ipaddress.ip_address(None) raises
                raise ValueError('VIP on subnet %s has no address' % vip.subnet_id)
            subnet = self.ports.subnet(vip.subnet_id) if vip.subnet_id else None
            if subnet is None:
                raise PermanentError('VIP subnet %s does not exist' % vip.subnet_id)
            if ipaddress.ip_address(vip.address) not in ipaddress.ip_network(subnet.cidr):
                raise PermanentError(
                    'VIP %s is not in subnet %s (%s)' % (vip.address, subnet.id, subnet.cidr)
                )
            if network_id not in (None, subnet.network_id):
                raise PermanentError('the VIPs of load balancer %s span networks' % lb.id)
            network_id = str(subnet.network_id)
            subnet_ids.append(str(subnet.id))
        if network_id is None:
            raise PermanentError('load balancer %s has no VIP' % lb.id)
        return network_id, subnet_ids

    def _management_ip(self, server: Any) -> str:
        for port in self.ports.server_ports(server):
            if self.management_networks and port.network_id not in self.management_networks:
                continue
            if not self.management_networks and ports.is_ours(port):
                continue
            for fixed in port.fixed_ips or []:
                return str(fixed['ip_address'])
        raise TransientError('server %s has no management address yet' % server.name)
