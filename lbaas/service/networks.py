"""Local networks and VIP addresses.

Local subnets are declared in the configuration. A VIP on one of them gets
an address from its CIDR, picked here in the API transaction as Octavia
creates the VIP port synchronously. Under the noop network driver any other
subnet, network or port id is accepted and echoed, as Octavia's noop driver
does, so tools that test against noop Octavia work unchanged.
"""
import ipaddress
import itertools
import random
import uuid
from collections.abc import Collection
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from lbaas import config, errors
from lbaas.db import models
from lbaas.drivers import registry

# Noop VIPs on subnets we do not know come from TEST-NET-2: documentation
# space that no namespace of ours routes, so it can never carry traffic.
NOOP_VIP_RANGE = ipaddress.ip_network('198.51.100.0/24')
FREE_CHOICES = 16  # free addresses a new VIP is picked from

_Address = ipaddress.IPv4Address | ipaddress.IPv6Address
_Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def subnets() -> list[config.LocalSubnet]:
    return config.local_subnets()


def find_subnet(subnet_id: str | None) -> config.LocalSubnet | None:
    return next((s for s in subnets() if s.id == subnet_id), None)


def network_subnets(network_id: str) -> list[config.LocalSubnet]:
    return [s for s in subnets() if s.network_id == network_id]


def _noop() -> bool:
    return registry.driver_name('network_driver') == 'noop'


def _used_addresses(session: Session, subnet_id: str) -> set[_Address]:
    used = set(session.scalars(select(models.Vip.ip_address).where(
        models.Vip.subnet_id == subnet_id)))
    used |= set(session.scalars(select(models.AdditionalVip.ip_address).where(
        models.AdditionalVip.subnet_id == subnet_id)))
    used |= set(session.scalars(select(models.Amphora.vrrp_ip).where(
        models.Amphora.vrrp_ip.is_not(None))))
    return {ipaddress.ip_address(a) for a in used if a}


def _free_address(network: _Network, reserved: Collection[_Address],
                  subnet_id: str | None) -> str:
    """One of the lowest free host addresses, picked at random (as Neutron does),
    so concurrent creates rarely pick the same one; 409 when the subnet is full."""
    free = list(itertools.islice((h for h in network.hosts() if h not in reserved),
                                 FREE_CHOICES))
    if not free:
        raise errors.Conflict('No more IP addresses available on subnet %s' % subnet_id)
    return str(random.choice(free))


def allocate_address(session: Session, subnet: config.LocalSubnet,
                     wanted: str | None = None) -> str:
    """A free address on a local subnet; 400 outside the CIDR, 409 if taken."""
    used = _used_addresses(session, subnet.id)
    if wanted:
        address = ipaddress.ip_address(wanted)
        if address not in subnet.cidr:
            raise errors.InvalidInput(
                'Invalid input for field/attribute vip_address. Value: %s. '
                'Address is not in subnet %s' % (wanted, subnet.id))
        if address in used:
            raise errors.Conflict('IP address %s already allocated in subnet %s'
                                  % (wanted, subnet.id))
        return str(address)
    reserved = used | ({subnet.gateway} if subnet.gateway else set())
    return _free_address(subnet.cidr, reserved, subnet.id)


def _choose_subnet(network_id: str, address: str | None) -> config.LocalSubnet | None:
    candidates = network_subnets(network_id)
    if address:
        ip = ipaddress.ip_address(address)
        return next((s for s in candidates if ip in s.cidr), None)
    candidates.sort(key=lambda s: s.ip_version)  # IPv4 first, as Octavia
    return candidates[0] if candidates else None


def resolve_vip(session: Session, subnet_id: str | None = None, network_id: str | None = None,
                port_id: str | None = None, address: str | None = None) -> dict[str, str]:
    """Fill in subnet, network, port and address of a requested VIP."""
    if not (subnet_id or network_id or port_id):
        raise errors.ApiError('Validation failure: VIP must contain one of: '
                              'vip_port_id, vip_network_id, vip_subnet_id.')
    subnet = find_subnet(subnet_id) if subnet_id else None
    if subnet is None and network_id and not subnet_id:
        subnet = _choose_subnet(network_id, address)
    if subnet is not None:
        if network_id and subnet.network_id != network_id:
            raise errors.InvalidInput('Validation failure: subnet %s is not on network %s'
                                      % (subnet.id, network_id))
        return {'subnet_id': subnet.id, 'network_id': subnet.network_id,
                'port_id': port_id or str(uuid.uuid4()),
                'ip_address': allocate_address(session, subnet, address)}
    if not _noop():
        what = 'subnet' if subnet_id else 'network' if network_id else 'port'
        raise errors.ApiError('Invalid input: %s %s could not be found.'
                              % (what, subnet_id or network_id or port_id))
    return _echo_vip(session, subnet_id, network_id, port_id, address)


def _echo_vip(session: Session, subnet_id: str | None, network_id: str | None,
              port_id: str | None, address: str | None) -> dict[str, str]:
    if address is None:
        taken = session.scalars(select(models.Vip.ip_address).where(
            models.Vip.subnet_id == subnet_id))
        address = _free_address(NOOP_VIP_RANGE, {ipaddress.ip_address(a) for a in taken if a},
                                subnet_id)
    return {'subnet_id': subnet_id or str(uuid.uuid4()),
            'network_id': network_id or str(uuid.uuid4()),
            'port_id': port_id or str(uuid.uuid4()), 'ip_address': address}


def network_view(network_id: str) -> dict[str, Any]:
    members = network_subnets(network_id)
    first = members[0]
    return {'id': network_id, 'name': first.network_name, 'status': 'ACTIVE',
            'admin_state_up': True, 'shared': True, 'router:external': False,
            'subnets': [s.id for s in members], 'project_id': '', 'tenant_id': '',
            'mtu': 1500, 'port_security_enabled': False, 'tags': []}


def subnet_view(subnet: config.LocalSubnet) -> dict[str, Any]:
    hosts = subnet.cidr
    return {'id': subnet.id, 'name': subnet.name, 'network_id': subnet.network_id,
            'cidr': str(subnet.cidr), 'ip_version': subnet.ip_version,
            'gateway_ip': str(subnet.gateway) if subnet.gateway else None,
            'enable_dhcp': False, 'project_id': '', 'tenant_id': '',
            'allocation_pools': [{'start': str(hosts[2]), 'end': str(hosts[-2])}],
            'dns_nameservers': [], 'host_routes': [], 'tags': []}
