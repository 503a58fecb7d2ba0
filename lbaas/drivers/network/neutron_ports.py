"""The Neutron and Nova calls of NeutronNetwork, each idempotent.

Objects are found by the names Octavia gives them (see neutron.py), so a
step retried after a crash finds what the first attempt made.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import Any

from lbaas.drivers import openstack
from lbaas.drivers.base import Amphora, LoadBalancerNetwork, PermanentError, TransientError

LOG = logging.getLogger(__name__)
VIP_PORT_PREFIX = 'octavia-lb-'
VRRP_PORT_PREFIX = 'octavia-lb-vrrp-'
MEMBER_PORT_PREFIX = 'octavia-lb-member-'
SECURITY_GROUP_PREFIX = 'lb-'
DEVICE_OWNER = 'Octavia'
# (protocol, ethertype, port_range_min, port_range_max); VRRP's remote is the group.
OPEN_RULES = [
    (protocol, ethertype, low, high)
    for ethertype in ('IPv4', 'IPv6')
    for protocol, low, high in (('tcp', 1, 65535), ('udp', 1, 65535))
] + [('icmp', 'IPv4', None, None), ('ipv6-icmp', 'IPv6', None, None)]
VRRP_PROTOCOL = '112'


def description(amphora_id: str) -> str:
    return 'amphora %s' % amphora_id


def is_ours(port: Any) -> bool:
    return str(port.name or '').startswith(VIP_PORT_PREFIX)


def address_on(port: Any, subnet_id: str) -> str:
    for fixed in port.fixed_ips or []:
        if fixed.get('subnet_id') == subnet_id:
            return str(fixed['ip_address'])
    raise TransientError('port %s has no address on subnet %s yet' % (port.id, subnet_id))


class Ports:
    def __init__(self, conn: openstack.Connection) -> None:
        self.conn = conn

    # -- lookups ---------------------------------------------------------------------

    def subnets(self) -> list[Any]:
        with openstack.translated('list subnets'):
            return list(self.conn.network.subnets())

    def subnet(self, subnet_id: str) -> Any | None:
        with openstack.translated('show subnet %s' % subnet_id):
            try:
                return self.conn.network.get_subnet(subnet_id)
            except openstack.NotFound:
                return None

    def _named(self, name: str) -> list[Any]:
        with openstack.translated('list ports named %s' % name):
            return list(self.conn.network.ports(name=name))

    def server_ports(self, server: Any) -> list[Any]:
        with openstack.translated('list ports of server %s' % server.id):
            return list(self.conn.network.ports(device_id=server.id))

    def vrrp_port(self, amphora: Amphora) -> Any | None:
        """By the id recorded on the amphora, else by name."""
        if amphora.vrrp_port_id:
            with openstack.translated('show port %s' % amphora.vrrp_port_id):
                try:
                    return self.conn.network.get_port(amphora.vrrp_port_id)
                except openstack.NotFound:
                    pass
        named = self._named(VRRP_PORT_PREFIX + amphora.id)
        return named[0] if named else None

    def amphora_ports(self, amphora: Amphora) -> list[Any]:
        """Every port made for this amphora: VRRP and member ports."""
        with openstack.translated('list ports of amphora %s' % amphora.id):
            found = {p.id: p for p in self.conn.network.ports(description=description(amphora.id))}
        vrrp = self.vrrp_port(amphora)
        if vrrp is not None:
            found.setdefault(vrrp.id, vrrp)
        return list(found.values())

    def security_group(self, lb_id: str) -> Any | None:
        with openstack.translated('list security groups of %s' % lb_id):
            groups = list(self.conn.network.security_groups(name=SECURITY_GROUP_PREFIX + lb_id))
        return groups[0] if groups else None

    # -- making ----------------------------------------------------------------------

    def ensure_security_group(self, lb_id: str) -> Any:
        group = self.security_group(lb_id)
        with openstack.translated('security group of load balancer %s' % lb_id):
            if group is None:
                group = self.conn.network.create_security_group(
                    name=SECURITY_GROUP_PREFIX + lb_id,
                    description='lbaas load balancer %s' % lb_id,
                )
            have = {_rule_key(r) for r in group.security_group_rules or []}
            for protocol, ethertype, low, high in OPEN_RULES:
                self._rule(group, have, protocol, ethertype, low, high, None)
            for ethertype in ('IPv4', 'IPv6'):
                self._rule(group, have, VRRP_PROTOCOL, ethertype, None, None, group.id)
        return group

    def _rule(
        self,
        group: Any,
        have: set[tuple[Any, ...]],
        protocol: str,
        ethertype: str,
        low: int | None,
        high: int | None,
        remote_group_id: str | None,
    ) -> None:
        key = ('ingress', ethertype, protocol, low, high, remote_group_id)
        if key in have:
            return
        self.conn.network.create_security_group_rule(
            security_group_id=group.id,
            direction='ingress',
            ether_type=ethertype,
            protocol=protocol,
            port_range_min=low,
            port_range_max=high,
            remote_group_id=remote_group_id,
        )
        have.add(key)

    def ensure_vip_port(self, lb: LoadBalancerNetwork, network_id: str, group: Any) -> Any:
        """The port reserving the VIPs: made with their addresses, never bound."""
        named = self._named(VIP_PORT_PREFIX + lb.id)
        if named:
            return named[0]
        fixed = [{'subnet_id': v.subnet_id, 'ip_address': v.address} for v in lb.vips]
        with openstack.translated('VIP port of load balancer %s' % lb.id):
            try:
                return self._create_vip_port(lb, network_id, fixed, group)
            except openstack.Conflict as exc:  # the address is someone else's port
                raise PermanentError('VIP address taken in Neutron: %s' % exc.details) from exc

    def _create_vip_port(
        self, lb: LoadBalancerNetwork, network_id: str, fixed: list[dict[str, Any]], group: Any
    ) -> Any:
        return self.conn.network.create_port(
            name=VIP_PORT_PREFIX + lb.id,
            network_id=network_id,
            fixed_ips=fixed,
            security_group_ids=[group.id],
            device_owner=DEVICE_OWNER,
            device_id='lb-%s' % lb.id,
            is_admin_state_up=False,
        )

    def ensure_vrrp_port(
        self, amphora: Amphora, network_id: str, subnet_id: str, group: Any, pairs: list[str]
    ) -> Any:
        port = self.vrrp_port(amphora)
        if port is None:
            fixed: dict[str, str] = {'subnet_id': subnet_id}
            if amphora.vrrp_ip:
                fixed['ip_address'] = amphora.vrrp_ip  # kept when re-plugged
            port = self._create_vrrp(amphora, network_id, fixed, group)
        if group.id not in (port.security_group_ids or []):
            with openstack.translated('security group of port %s' % port.id):
                port = self.conn.network.update_port(
                    port, security_group_ids=[*(port.security_group_ids or []), group.id]
                )
        return self.add_address_pairs(port, pairs)

    def _create_vrrp(
        self, amphora: Amphora, network_id: str, fixed: dict[str, str], group: Any
    ) -> Any:
        attrs = {
            'name': VRRP_PORT_PREFIX + amphora.id,
            'description': description(amphora.id),
            'network_id': network_id,
            'security_group_ids': [group.id],
        }
        with openstack.translated('VRRP port of amphora %s' % amphora.id):
            try:
                return self.conn.network.create_port(fixed_ips=[fixed], **attrs)
            except openstack.Conflict:
                if 'ip_address' not in fixed:
                    raise
                LOG.warning('amphora %s: %s is taken', amphora.id, fixed['ip_address'])
                return self.conn.network.create_port(
                    fixed_ips=[{'subnet_id': fixed['subnet_id']}], **attrs
                )

    def add_address_pairs(self, port: Any, addresses: Iterable[str]) -> Any:
        pairs = list(port.allowed_address_pairs or [])
        have = {p.get('ip_address') for p in pairs}
        missing = [a for a in addresses if a not in have]
        if not missing:
            return port
        pairs += [{'ip_address': a} for a in missing]
        with openstack.translated('allowed address pairs of port %s' % port.id):
            return self.conn.network.update_port(port, allowed_address_pairs=pairs)

    def ensure_member_address(self, amphora: Amphora, subnet: Any) -> Any:
        """A port of the amphora with an address on `subnet`."""
        on_network = [p for p in self.amphora_ports(amphora) if p.network_id == subnet.network_id]
        for port in on_network:
            if any(f.get('subnet_id') == subnet.id for f in port.fixed_ips or []):
                return port
        with openstack.translated('address of amphora %s on %s' % (amphora.id, subnet.id)):
            if on_network:
                port = on_network[0]
                fixed = [*(port.fixed_ips or []), {'subnet_id': subnet.id}]
                return self.conn.network.update_port(port, fixed_ips=fixed)
            attrs: dict[str, Any] = {}
            group = self.security_group(amphora.lb_id) if amphora.lb_id else None
            if group is not None:
                attrs['security_group_ids'] = [group.id]
            return self.conn.network.create_port(
                name='%s%s-%s' % (MEMBER_PORT_PREFIX, amphora.id, subnet.network_id),
                description=description(amphora.id),
                network_id=subnet.network_id,
                fixed_ips=[{'subnet_id': subnet.id}],
                **attrs,
            )

    def attach(self, server: Any, port: Any) -> None:
        """Attach `port` to the server through Nova unless it is already."""
        if port.device_id == server.id:
            return
        if port.device_id:
            raise TransientError('port %s is bound to %s' % (port.id, port.device_id))
        with openstack.translated('attach port %s to %s' % (port.id, server.name)):
            self.conn.compute.create_server_interface(server, port_id=port.id)

    # -- removing --------------------------------------------------------------------

    def delete(self, server: Any | None, port: Any) -> None:
        with openstack.translated('delete port %s' % port.id):
            if server is not None and port.device_id == server.id:
                self.conn.compute.delete_server_interface(port.id, server, ignore_missing=True)
            self.conn.network.delete_port(port, ignore_missing=True)

    def delete_vip_port(self, lb_id: str) -> None:
        for port in self._named(VIP_PORT_PREFIX + lb_id):
            with openstack.translated('delete VIP port %s' % port.id):
                self.conn.network.delete_port(port, ignore_missing=True)

    def delete_security_group(self, lb_id: str) -> None:
        group = self.security_group(lb_id)
        if group is not None:  # in use (409): transient, a later pass finds it free
            with openstack.translated('delete security group %s' % group.id):
                self.conn.network.delete_security_group(group, ignore_missing=True)


def _rule_key(rule: dict[str, Any]) -> tuple[Any, ...]:
    return (
        rule.get('direction'),
        rule.get('ethertype'),
        rule.get('protocol'),
        rule.get('port_range_min'),
        rule.get('port_range_max'),
        rule.get('remote_group_id'),
    )
