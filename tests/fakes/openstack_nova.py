"""The fake Compute API v2.1 (microversion 2.79 shapes) and Image API v2.

Servers boot on the fake Neutron (their boot network ports are made here,
as Nova does, and deleted with them); interfaces attach existing ports;
server groups keep their members and their anti-affinity policy places
servers on distinct fake hosts, or puts the server in ERROR (NoValidHost)
when there are none left. See openstack_api.py.
"""

from __future__ import annotations

import base64
import binascii
import re
import time
from typing import Any

from tests.fakes.openstack_common import (
    PROJECT_ID,
    USER_ID,
    ApiError,
    Request,
    Router,
    fault,
    new_id,
    now,
)
from tests.fakes.openstack_neutron import Neutron

HOSTS = ('compute-1', 'compute-2', 'compute-3')
MAX_USER_DATA = 65535


def error(status: int, message: str) -> ApiError:
    return fault('compute', status, message)


class Glance:
    """Images v2: list with tag, status and owner filters, show."""

    def __init__(self) -> None:
        self.images: dict[str, dict[str, Any]] = {}
        self.router = Router('image')
        self.router.add('GET', r'/v2/images', self._list)
        self.router.add('GET', r'/v2/images/([^/]+)', self._show)

    def add_image(
        self, name: str, tags: list[str], status: str = 'active', created_at: str | None = None
    ) -> str:
        image_id = new_id()
        stamp = created_at or now()
        self.images[image_id] = {
            'id': image_id, 'name': name, 'status': status, 'tags': tags, 'owner': PROJECT_ID,
            'visibility': 'private', 'protected': False, 'os_hidden': False, 'disk_format': 'qcow2',
            'container_format': 'bare', 'min_disk': 0, 'min_ram': 0, 'size': 1 << 20,
            'checksum': None, 'created_at': stamp, 'updated_at': stamp,
            'self': '/v2/images/%s' % image_id, 'file': '/v2/images/%s/file' % image_id,
            'schema': '/v2/schemas/image',
        }  # fmt: skip
        return image_id

    def handle(self, request: Request) -> tuple[int, Any]:
        return self.router.handle(request)

    def _list(self, request: Request) -> tuple[int, Any]:
        found = list(self.images.values())
        for tag in request.query.get('tag', []):
            found = [i for i in found if tag in i['tags']]
        for name in ('status', 'owner', 'name', 'visibility'):
            if request.arg(name):
                found = [i for i in found if i[name] == request.arg(name)]
        key, _, direction = (request.arg('sort') or 'created_at:desc').partition(':')
        found.sort(key=lambda i: i.get(key) or '', reverse=direction != 'asc')
        return 200, {'images': found, 'first': '/v2/images', 'schema': '/v2/schemas/images'}

    def _show(self, request: Request, image_id: str) -> tuple[int, Any]:
        if image_id not in self.images:
            raise fault('image', 404, 'No image found with ID %s' % image_id)
        return 200, self.images[image_id]


class Nova:
    def __init__(self, neutron: Neutron, build_seconds: float) -> None:
        self.neutron = neutron
        self.glance = Glance()
        self.build_seconds = build_seconds
        self.servers: dict[str, dict[str, Any]] = {}
        self.groups: dict[str, dict[str, Any]] = {}
        self.flavors: dict[str, dict[str, Any]] = {}
        self.keypairs: set[str] = set()
        self.router = Router('compute')
        add = self.router.add
        add('GET', r'/servers(/detail)?', self._list_servers)
        add('POST', r'/servers', self._create_server)
        add('GET', r'/servers/([^/]+)', self._show_server)
        add('DELETE', r'/servers/([^/]+)', self._delete_server)
        add('GET', r'/servers/([^/]+)/os-interface', self._list_interfaces)
        add('POST', r'/servers/([^/]+)/os-interface', self._attach)
        add('DELETE', r'/servers/([^/]+)/os-interface/([^/]+)', self._detach)
        add('GET', r'/os-server-groups', self._list_groups)
        add('POST', r'/os-server-groups', self._create_group)
        add('GET', r'/os-server-groups/([^/]+)', self._show_group)
        add('DELETE', r'/os-server-groups/([^/]+)', self._delete_group)
        add('GET', r'/flavors(/detail)?', self._list_flavors)
        add('GET', r'/flavors/([^/]+)', self._show_flavor)

    def handle(self, request: Request) -> tuple[int, Any]:
        return self.router.handle(request)

    def add_flavor(self, name: str, flavor_id: str | None = None) -> str:
        flavor_id = flavor_id or new_id()
        self.flavors[flavor_id] = {
            'id': flavor_id, 'name': name, 'vcpus': 1, 'ram': 1024, 'disk': 3, 'OS-FLV-EXT-DATA:ephemeral': 0,
            'swap': 0, 'rxtx_factor': 1.0, 'os-flavor-access:is_public': False, 'description': None,
            'OS-FLV-DISABLED:disabled': False, 'extra_specs': {}, 'links': [],
        }  # fmt: skip
        return flavor_id

    def user_data(self, server_id: str) -> str:
        """The user data a server was booted with, decoded (tests)."""
        return base64.b64decode(self.servers[server_id]['_user_data']).decode()

    # -- servers -------------------------------------------------------------------------

    def _status(self, server: dict[str, Any]) -> tuple[str, str, str | None]:
        """(status, vm_state, task_state) now."""
        if server['_forced']:  # set by tests: ERROR, SHUTOFF, BUILD...
            forced = server['_forced']
            return forced, 'building' if forced == 'BUILD' else forced.lower(), None
        if time.monotonic() - server['_booted'] < self.build_seconds:
            return 'BUILD', 'building', 'spawning'
        return 'ACTIVE', 'active', None

    def view(self, server: dict[str, Any]) -> dict[str, Any]:
        status, vm_state, task_state = self._status(server)
        addresses: dict[str, list[dict[str, Any]]] = {}
        for port in self.neutron.ports.values():
            if port['device_id'] == server['id']:
                network = self.neutron.networks[port['network_id']]['name']
                addresses.setdefault(network, []).extend(
                    {'addr': f['ip_address'], 'version': 6 if ':' in f['ip_address'] else 4,
                     'OS-EXT-IPS:type': 'fixed', 'OS-EXT-IPS-MAC:mac_addr': port['mac_address']}
                    for f in port['fixed_ips']
                )  # fmt: skip
        shown = {k: v for k, v in server.items() if not k.startswith('_')}
        shown.update({
            'status': status, 'addresses': addresses, 'OS-EXT-STS:vm_state': vm_state,
            'OS-EXT-STS:task_state': task_state, 'OS-EXT-STS:power_state': 1 if status == 'ACTIVE' else 0,
        })  # fmt: skip
        return shown

    def _list_servers(self, request: Request, detail: str | None) -> tuple[int, Any]:
        found = list(self.servers.values())
        if request.arg('name'):
            pattern = re.compile(request.arg('name') or '')
            found = [s for s in found if pattern.search(s['name'])]
        views = [self.view(s) for s in found]
        if request.arg('status'):
            views = [v for v in views if v['status'] == request.arg('status')]
        if not detail:
            views = [{'id': v['id'], 'name': v['name'], 'links': v['links']} for v in views]
        return 200, {'servers': views}

    def _show_server(self, request: Request, server_id: str) -> tuple[int, Any]:
        return 200, {'server': self.view(self._server(server_id))}

    def _server(self, server_id: str) -> dict[str, Any]:
        if server_id not in self.servers:
            raise error(404, 'Instance %s could not be found.' % server_id)
        return self.servers[server_id]

    def _create_server(self, request: Request) -> tuple[int, Any]:
        body = request.body['server']
        hints = (
            request.body.get('OS-SCH-HNT:scheduler_hints')
            or request.body.get('os:scheduler_hints')
            or {}
        )
        server_id = new_id()
        image_id, flavor_id = body.get('imageRef'), body.get('flavorRef')
        if image_id not in self.glance.images:
            raise error(400, 'Image %s could not be found.' % image_id)
        if flavor_id not in self.flavors:
            raise error(400, 'Flavor %s could not be found.' % flavor_id)
        if body.get('key_name') and body['key_name'] not in self.keypairs:
            raise error(400, 'Invalid key_name provided.')
        groups = self._security_groups(body.get('security_groups') or [{'name': 'default'}])
        networks = self._networks(body.get('networks'))
        self._check_user_data(body.get('user_data'))
        group = self.groups.get(hints.get('group', '')) if hints.get('group') else None
        if hints.get('group') and group is None:
            raise error(400, 'Invalid server group %s' % hints['group'])
        host = self._place(group)
        flavor = self.flavors[flavor_id]
        self.servers[server_id] = {
            'id': server_id, 'name': body['name'], 'tenant_id': PROJECT_ID, 'user_id': USER_ID,
            'metadata': body.get('metadata', {}), 'tags': body.get('tags', []), 'hostId': host or '',
            'image': {'id': image_id, 'links': []}, 'key_name': body.get('key_name'),
            'flavor': {'original_name': flavor['name'], 'vcpus': flavor['vcpus'], 'ram': flavor['ram'],
                       'disk': flavor['disk'], 'ephemeral': 0, 'swap': 0, 'extra_specs': {}},
            'created': now(), 'updated': now(), 'accessIPv4': '', 'accessIPv6': '', 'progress': 0,
            'links': [{'rel': 'self', 'href': '/v2.1/servers/%s' % server_id}],
            'OS-EXT-AZ:availability_zone': body.get('availability_zone') or 'nova',
            'OS-DCF:diskConfig': 'MANUAL', 'OS-SRV-USG:launched_at': None, 'OS-SRV-USG:terminated_at': None,
            'security_groups': [{'name': self.neutron.security_groups[g]['name']} for g in groups],
            'os-extended-volumes:volumes_attached': [], 'config_drive': '', 'description': None,
            'locked': False, 'locked_reason': None, 'trusted_image_certificates': None, 'host_status': 'UP',
            '_booted': time.monotonic(), '_forced': None if host else 'ERROR',
            '_user_data': body.get('user_data') or '', '_made_ports': [],
        }  # fmt: skip
        for network_id in networks:
            port = self.neutron.create_port({'network_id': network_id, 'security_groups': groups})
            self.neutron.bind(port['id'], server_id, 'compute:nova')
            self.servers[server_id]['_made_ports'].append(port['id'])
        if group is not None:
            group['members'].append(server_id)
        created = {'id': server_id, 'links': self.servers[server_id]['links'], 'OS-DCF:diskConfig': 'MANUAL',
                   'security_groups': self.servers[server_id]['security_groups'], 'adminPass': 'fake'}  # fmt: skip
        return 202, {'server': created}

    def _security_groups(self, requested: list[dict[str, str]]) -> list[str]:
        ids = []
        for item in requested:
            found = [
                g
                for g in self.neutron.security_groups.values()
                if item['name'] in (g['name'], g['id'])
            ]
            if not found:
                raise error(
                    400, 'Security group %s not found for project %s.' % (item['name'], PROJECT_ID)
                )
            ids.append(found[0]['id'])
        return ids

    def _networks(self, requested: Any) -> list[str]:
        if requested in ('none', None) or requested == []:
            return []
        if requested == 'auto':
            return list(self.neutron.networks)[:1]
        for item in requested:
            if item.get('uuid') not in self.neutron.networks:
                raise error(400, 'Network %s could not be found.' % item.get('uuid'))
        return [item['uuid'] for item in requested]

    @staticmethod
    def _check_user_data(data: str | None) -> None:
        if data is None:
            return
        if len(data) > MAX_USER_DATA:
            raise error(
                400,
                'User data too large. User data must be no larger than 65535 bytes once base64 encoded.',
            )
        try:
            base64.b64decode(data, validate=True)
        except binascii.Error:
            raise error(400, 'User data needs to be valid base 64.') from None

    def _place(self, group: dict[str, Any] | None) -> str | None:
        """A host for a new server: anti-affinity takes one no member is on."""
        if group is None or group['policy'] != 'anti-affinity':
            return HOSTS[len(self.servers) % len(HOSTS)]
        used = {self.servers[m]['hostId'] for m in group['members'] if m in self.servers}
        free = [h for h in HOSTS if h not in used]
        return free[0] if free else None  # None: NoValidHost, the server goes to ERROR

    def _delete_server(self, request: Request, server_id: str) -> tuple[int, Any]:
        server = self._server(server_id)
        for port in list(self.neutron.ports.values()):
            if port['device_id'] == server_id:
                if port['id'] in server['_made_ports']:
                    del self.neutron.ports[port['id']]
                else:
                    self.neutron.unbind(port['id'])
        for group in self.groups.values():
            if server_id in group['members']:
                group['members'].remove(server_id)
        del self.servers[server_id]
        return 204, None

    # -- interfaces ----------------------------------------------------------------------

    def _interface(self, port: dict[str, Any]) -> dict[str, Any]:
        return {
            'port_id': port['id'], 'net_id': port['network_id'], 'mac_addr': port['mac_address'],
            'port_state': port['status'], 'tag': None,
            'fixed_ips': [{'subnet_id': f['subnet_id'], 'ip_address': f['ip_address']} for f in port['fixed_ips']],
        }  # fmt: skip

    def _list_interfaces(self, request: Request, server_id: str) -> tuple[int, Any]:
        self._server(server_id)
        ports = [p for p in self.neutron.ports.values() if p['device_id'] == server_id]
        return 200, {'interfaceAttachments': [self._interface(p) for p in ports]}

    def _attach(self, request: Request, server_id: str) -> tuple[int, Any]:
        server = self._server(server_id)
        status, vm_state, _ = self._status(server)
        if status != 'ACTIVE':
            raise error(
                409,
                "Cannot 'attach_interface' instance %s while it is in vm_state %s"
                % (server_id, vm_state),
            )
        wanted = request.body['interfaceAttachment']
        if 'port_id' in wanted:
            port = self.neutron.ports.get(wanted['port_id'])
            if port is None:
                raise error(404, 'Port %s could not be found.' % wanted['port_id'])
            if port['device_id']:
                raise error(409, 'Port %s is still in use.' % port['id'])
        else:
            port = self.neutron.create_port(
                {'network_id': wanted['net_id'], 'fixed_ips': wanted.get('fixed_ips')}
            )
            server['_made_ports'].append(port['id'])
        return 200, {
            'interfaceAttachment': self._interface(self.neutron.bind(port['id'], server_id))
        }

    def _detach(self, request: Request, server_id: str, port_id: str) -> tuple[int, Any]:
        server = self._server(server_id)
        port = self.neutron.ports.get(port_id)
        if port is None or port['device_id'] != server_id:
            raise error(404, 'Port %s is not attached' % port_id)
        if port_id in server['_made_ports']:
            del self.neutron.ports[port_id]
        else:
            self.neutron.unbind(port_id)
        return 202, None

    # -- server groups and flavors ---------------------------------------------------------

    def _group_view(self, group: dict[str, Any]) -> dict[str, Any]:
        return dict(group)

    def _list_groups(self, request: Request) -> tuple[int, Any]:
        return 200, {'server_groups': [self._group_view(g) for g in self.groups.values()]}

    def _create_group(self, request: Request) -> tuple[int, Any]:
        body = request.body['server_group']
        policy = body.get('policy') or (body.get('policies') or [None])[0]
        if policy not in ('affinity', 'anti-affinity', 'soft-affinity', 'soft-anti-affinity'):
            raise error(400, 'Invalid input for field/attribute policy.')
        group_id = new_id()
        self.groups[group_id] = {
            'id': group_id, 'name': body['name'], 'policy': policy, 'rules': body.get('rules', {}),
            'members': [], 'project_id': PROJECT_ID, 'user_id': USER_ID,
        }  # fmt: skip
        return 200, {'server_group': self._group_view(self.groups[group_id])}

    def _show_group(self, request: Request, group_id: str) -> tuple[int, Any]:
        if group_id not in self.groups:
            raise error(404, 'Instance group %s could not be found.' % group_id)
        return 200, {'server_group': self._group_view(self.groups[group_id])}

    def _delete_group(self, request: Request, group_id: str) -> tuple[int, Any]:
        if self.groups.pop(group_id, None) is None:
            raise error(404, 'Instance group %s could not be found.' % group_id)
        return 204, None

    def _list_flavors(self, request: Request, detail: str | None) -> tuple[int, Any]:
        return 200, {'flavors': list(self.flavors.values())}

    def _show_flavor(self, request: Request, flavor_id: str) -> tuple[int, Any]:
        if flavor_id not in self.flavors:
            raise error(404, 'Flavor %s could not be found.' % flavor_id)
        return 200, {'flavor': self.flavors[flavor_id]}
