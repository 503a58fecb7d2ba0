"""The fake Networking API v2.0: networks, subnets, ports, security groups.

Shapes as in the Networking api-ref (the port's allowed_address_pairs,
fixed_ips, binding attributes; NeutronError bodies). See openstack_api.py.
"""

from __future__ import annotations

import copy
import ipaddress
import random
from typing import Any

from tests.fakes.openstack_common import (
    PROJECT_ID,
    ApiError,
    Request,
    Router,
    fault,
    matches,
    new_id,
    now,
)

PORT_FIELDS = (
    'id',
    'name',
    'network_id',
    'device_id',
    'device_owner',
    'description',
    'mac_address',
    'status',
)
UPDATABLE = (
    'name',
    'description',
    'admin_state_up',
    'device_id',
    'device_owner',
    'security_groups',
)


def error(status: int, message: str) -> ApiError:
    return fault('network', status, message)


def standard(kind: dict[str, Any]) -> dict[str, Any]:
    """The standard attributes every Neutron resource has."""
    stamp = now()
    kind.update(
        tenant_id=PROJECT_ID,
        project_id=PROJECT_ID,
        created_at=stamp,
        updated_at=stamp,
        revision_number=0,
        tags=[],
    )
    kind.setdefault('description', '')
    return kind


class Neutron:
    def __init__(self) -> None:
        self.networks: dict[str, dict[str, Any]] = {}
        self.subnets: dict[str, dict[str, Any]] = {}
        self.ports: dict[str, dict[str, Any]] = {}
        self.security_groups: dict[str, dict[str, Any]] = {}
        self.default_group = self.add_security_group('default', 'Default security group')
        self.router = Router('network')
        for collection, handlers in (
            ('networks', (self._list_networks, self._show_network)),
            ('subnets', (self._list_subnets, self._show_subnet)),
        ):
            self.router.add('GET', r'/v2\.0/%s' % collection, handlers[0])
            self.router.add('GET', r'/v2\.0/%s/([^/]+)' % collection, handlers[1])
        self.router.add('GET', r'/v2\.0/ports', self._list_ports)
        self.router.add('POST', r'/v2\.0/ports', self._create_port)
        self.router.add('GET', r'/v2\.0/ports/([^/]+)', self._show_port)
        self.router.add('PUT', r'/v2\.0/ports/([^/]+)', self._update_port)
        self.router.add('DELETE', r'/v2\.0/ports/([^/]+)', self._delete_port)
        self.router.add('GET', r'/v2\.0/security-groups', self._list_groups)
        self.router.add('POST', r'/v2\.0/security-groups', self._create_group)
        self.router.add('GET', r'/v2\.0/security-groups/([^/]+)', self._show_group)
        self.router.add('DELETE', r'/v2\.0/security-groups/([^/]+)', self._delete_group)
        self.router.add('GET', r'/v2\.0/security-group-rules', self._list_rules)
        self.router.add('POST', r'/v2\.0/security-group-rules', self._create_rule)
        self.router.add('DELETE', r'/v2\.0/security-group-rules/([^/]+)', self._delete_rule)

    def handle(self, request: Request) -> tuple[int, Any]:
        return self.router.handle(request)

    # -- seeding (tests) ---------------------------------------------------------------

    def add_network(
        self, name: str, subnets: list[tuple[str, str, str | None]], network_id: str | None = None
    ) -> str:
        """A network with subnets [(id, cidr, gateway)]; returns its id."""
        network_id = network_id or new_id()
        self.networks[network_id] = standard(
            {'id': network_id, 'name': name, 'admin_state_up': True, 'status': 'ACTIVE', 'shared': False,
             'router:external': False, 'mtu': 1450, 'port_security_enabled': True, 'subnets': [],
             'availability_zones': ['nova'], 'ipv4_address_scope': None, 'ipv6_address_scope': None}
        )  # fmt: skip
        for subnet_id, cidr, gateway in subnets:
            net = ipaddress.ip_network(cidr)
            self.subnets[subnet_id] = standard(
                {'id': subnet_id, 'name': 'subnet-%s' % cidr, 'network_id': network_id, 'ip_version': net.version,
                 'cidr': str(net), 'gateway_ip': gateway, 'enable_dhcp': True, 'dns_nameservers': [],
                 'host_routes': [], 'allocation_pools': [{'start': str(net[2]), 'end': str(net[-2])}],
                 'subnetpool_id': None, 'ipv6_address_mode': None, 'ipv6_ra_mode': None}
            )  # fmt: skip
            self.networks[network_id]['subnets'].append(subnet_id)
        return network_id

    # -- networks and subnets ------------------------------------------------------------

    def _list_networks(self, request: Request) -> tuple[int, Any]:
        found = [n for n in self.networks.values() if matches(n, request.query, ('id', 'name'))]
        return 200, {'networks': found}

    def _show_network(self, request: Request, network_id: str) -> tuple[int, Any]:
        return 200, {'network': self._get(self.networks, network_id, 'Network')}

    def _list_subnets(self, request: Request) -> tuple[int, Any]:
        fields = ('id', 'name', 'network_id', 'cidr', 'ip_version')
        return 200, {
            'subnets': [s for s in self.subnets.values() if matches(s, request.query, fields)]
        }

    def _show_subnet(self, request: Request, subnet_id: str) -> tuple[int, Any]:
        return 200, {'subnet': self._get(self.subnets, subnet_id, 'Subnet')}

    @staticmethod
    def _get(table: dict[str, dict[str, Any]], item_id: str, kind: str) -> dict[str, Any]:
        if item_id not in table:
            raise error(404, '%s %s could not be found.' % (kind, item_id))
        return table[item_id]

    # -- ports ---------------------------------------------------------------------------

    def _list_ports(self, request: Request) -> tuple[int, Any]:
        return 200, {
            'ports': [p for p in self.ports.values() if matches(p, request.query, PORT_FIELDS)]
        }

    def _show_port(self, request: Request, port_id: str) -> tuple[int, Any]:
        return 200, {'port': self._get(self.ports, port_id, 'Port')}

    def create_port(self, body: dict[str, Any]) -> dict[str, Any]:
        network = self._get(self.networks, body.get('network_id', ''), 'Network')
        port_id = new_id()
        mac = 'fa:16:3e:%02x:%02x:%02x' % tuple(random.randrange(256) for _ in range(3))
        groups = body.get('security_groups')
        port = standard(
            {'id': port_id, 'name': body.get('name', ''), 'network_id': network['id'], 'mac_address': mac,
             'admin_state_up': body.get('admin_state_up', True), 'status': 'DOWN',
             'device_id': body.get('device_id', ''), 'device_owner': body.get('device_owner', ''),
             'fixed_ips': [], 'allowed_address_pairs': [], 'extra_dhcp_opts': [],
             'security_groups': [self.default_group] if groups is None else self._groups(groups),
             'port_security_enabled': True, 'dns_name': '', 'binding:vnic_type': 'normal',
             'binding:host_id': '', 'binding:vif_type': 'unbound', 'binding:vif_details': {},
             'binding:profile': {}, 'description': body.get('description', '')}
        )  # fmt: skip
        requested = body.get('fixed_ips') or [{'subnet_id': network['subnets'][0]}]
        port['fixed_ips'] = self._fixed_ips(network, requested, port_id)
        port['allowed_address_pairs'] = self._pairs(body.get('allowed_address_pairs', []), mac)
        self.ports[port_id] = port
        return port

    def _create_port(self, request: Request) -> tuple[int, Any]:
        return 201, {'port': self.create_port(request.body['port'])}

    def _update_port(self, request: Request, port_id: str) -> tuple[int, Any]:
        port = self._get(self.ports, port_id, 'Port')
        changes = request.body['port']
        updated = copy.deepcopy(port)
        for name in UPDATABLE:
            if name in changes:
                updated[name] = changes[name]
        if 'security_groups' in changes:
            updated['security_groups'] = self._groups(changes['security_groups'] or [])
        if 'fixed_ips' in changes:
            network = self.networks[port['network_id']]
            updated['fixed_ips'] = self._fixed_ips(network, changes['fixed_ips'], port_id)
        if 'allowed_address_pairs' in changes:
            updated['allowed_address_pairs'] = self._pairs(
                changes['allowed_address_pairs'] or [], port['mac_address']
            )
        updated['revision_number'] += 1
        updated['updated_at'] = now()
        self.ports[port_id] = updated
        return 200, {'port': updated}

    def _delete_port(self, request: Request, port_id: str) -> tuple[int, Any]:
        self._get(self.ports, port_id, 'Port')
        del self.ports[port_id]
        return 204, None

    def _groups(self, group_ids: list[str]) -> list[str]:
        for group_id in group_ids:
            self._get(self.security_groups, group_id, 'Security group')
        return list(group_ids)

    @staticmethod
    def _pairs(pairs: list[dict[str, Any]], mac: str) -> list[dict[str, Any]]:
        for pair in pairs:
            ipaddress.ip_network(pair['ip_address'], strict=False)  # a ValueError is a 500: a bug
        return [
            {'ip_address': p['ip_address'], 'mac_address': p.get('mac_address') or mac}
            for p in pairs
        ]

    def _fixed_ips(
        self, network: dict[str, Any], requested: list[dict[str, Any]], port_id: str
    ) -> list[dict[str, str]]:
        """Requested fixed IPs, checked and allocated (from the top of the subnet)."""
        taken = {
            f['ip_address']
            for p in self.ports.values()
            if p['id'] != port_id
            for f in p['fixed_ips']
        }
        result: list[dict[str, str]] = []
        for entry in requested:
            address = entry.get('ip_address')
            subnet = self._subnet_for(network, entry.get('subnet_id'), address)
            cidr = ipaddress.ip_network(subnet['cidr'])
            if address is None:
                address = self._allocate(subnet, taken | {f['ip_address'] for f in result})
            elif ipaddress.ip_address(address) not in cidr:
                raise error(
                    400, 'IP address %s is not a valid IP for the specified subnet.' % address
                )
            elif address in taken:
                raise error(
                    409, 'IP address %s already allocated in subnet %s' % (address, subnet['id'])
                )
            result.append(
                {'subnet_id': subnet['id'], 'ip_address': str(ipaddress.ip_address(address))}
            )
        return result

    def _subnet_for(
        self, network: dict[str, Any], subnet_id: str | None, address: str | None
    ) -> dict[str, Any]:
        if subnet_id is not None:
            subnet = self._get(self.subnets, subnet_id, 'Subnet')
            if subnet['network_id'] != network['id']:
                raise error(400, 'Subnet %s is not on network %s' % (subnet_id, network['id']))
            return subnet
        for candidate in network['subnets']:
            subnet = self.subnets[candidate]
            if address and ipaddress.ip_address(address) in ipaddress.ip_network(subnet['cidr']):
                return subnet
        raise error(400, 'no subnet of network %s holds %s' % (network['id'], address))

    @staticmethod
    def _allocate(subnet: dict[str, Any], taken: set[str]) -> str:
        net = ipaddress.ip_network(subnet['cidr'])
        top = net.broadcast_address - 1 if net.version == 4 else net.broadcast_address
        candidate = top
        while candidate > net.network_address + 1:
            if str(candidate) not in taken and str(candidate) != subnet['gateway_ip']:
                return str(candidate)
            candidate -= 1
        raise error(409, 'No more IP addresses available on subnet %s.' % subnet['id'])

    # -- security groups -----------------------------------------------------------------

    def add_security_group(self, name: str, description: str) -> str:
        group_id = new_id()
        group = standard(
            {
                'id': group_id,
                'name': name,
                'description': description,
                'stateful': True,
                'security_group_rules': [],
            }
        )
        self.security_groups[group_id] = group
        for ethertype in ('IPv4', 'IPv6'):
            self._add_rule(
                {'security_group_id': group_id, 'direction': 'egress', 'ethertype': ethertype}
            )
        return group_id

    def _list_groups(self, request: Request) -> tuple[int, Any]:
        fields = ('id', 'name', 'project_id')
        return 200, {
            'security_groups': [
                g for g in self.security_groups.values() if matches(g, request.query, fields)
            ]
        }

    def _create_group(self, request: Request) -> tuple[int, Any]:
        body = request.body['security_group']
        group_id = self.add_security_group(body.get('name', ''), body.get('description', ''))
        return 201, {'security_group': self.security_groups[group_id]}

    def _show_group(self, request: Request, group_id: str) -> tuple[int, Any]:
        return 200, {'security_group': self._get(self.security_groups, group_id, 'Security group')}

    def _delete_group(self, request: Request, group_id: str) -> tuple[int, Any]:
        self._get(self.security_groups, group_id, 'Security group')
        users = [p['id'] for p in self.ports.values() if group_id in p['security_groups']]
        if users:
            raise error(409, 'Security Group %s in use.' % group_id)
        del self.security_groups[group_id]
        return 204, None

    def _add_rule(self, body: dict[str, Any]) -> dict[str, Any]:
        group = self._get(self.security_groups, body.get('security_group_id', ''), 'Security group')
        rule = {
            'id': new_id(),
            'security_group_id': group['id'],
            'direction': body['direction'],
            'ethertype': body.get('ethertype', 'IPv4'),
            'protocol': body.get('protocol'),
            'port_range_min': body.get('port_range_min'),
            'port_range_max': body.get('port_range_max'),
            'remote_ip_prefix': body.get('remote_ip_prefix'),
            'remote_group_id': body.get('remote_group_id'),
            'remote_address_group_id': None,
            'description': body.get('description', ''),
            'tenant_id': PROJECT_ID,
            'project_id': PROJECT_ID,
        }
        same = [
            r
            for r in group['security_group_rules']
            if {k: v for k, v in r.items() if k not in ('id', 'description')}
            == {k: v for k, v in rule.items() if k not in ('id', 'description')}
        ]
        if same:
            raise error(409, 'Security group rule already exists. Rule id is %s.' % same[0]['id'])
        group['security_group_rules'].append(rule)
        return rule

    def _create_rule(self, request: Request) -> tuple[int, Any]:
        return 201, {'security_group_rule': self._add_rule(request.body['security_group_rule'])}

    def _list_rules(self, request: Request) -> tuple[int, Any]:
        rules = [r for g in self.security_groups.values() for r in g['security_group_rules']]
        fields = ('id', 'security_group_id', 'direction', 'ethertype', 'protocol')
        return 200, {
            'security_group_rules': [r for r in rules if matches(r, request.query, fields)]
        }

    def _delete_rule(self, request: Request, rule_id: str) -> tuple[int, Any]:
        for group in self.security_groups.values():
            for rule in group['security_group_rules']:
                if rule['id'] == rule_id:
                    group['security_group_rules'].remove(rule)
                    return 204, None
        raise error(404, 'Security group rule %s does not exist' % rule_id)

    # -- for the fake Nova ------------------------------------------------------------------

    def bind(self, port_id: str, server_id: str, owner: str = 'compute:nova') -> dict[str, Any]:
        port = self._get(self.ports, port_id, 'Port')
        port.update(device_id=server_id, device_owner=owner, status='ACTIVE')
        port.update({'binding:host_id': 'compute-1', 'binding:vif_type': 'ovs'})
        return port

    def unbind(self, port_id: str) -> None:
        port = self.ports.get(port_id)
        if port is not None:
            port.update(device_id='', device_owner='', status='DOWN')
            port.update({'binding:host_id': '', 'binding:vif_type': 'unbound'})
