"""NovaCompute: an amphora is a Nova server booted from the amphora image.

The compute id is the server's name, `amphora-<amphora id>` (Octavia's), so
it is known before the server is: build() first looks for a live server of
that name and reuses it, so a build retried after a crash, or after a lost
answer to the create, makes no second server. delete() deletes every server
of the name; a missing one is already deleted. A server Nova is deleting
counts as DELETED, and a build after it boots a new one.

The server boots the image given by `[controller_worker] amp_image_id`, else
the newest active image tagged `amp_image_tag` (of `amp_image_owner_id` when
set), with flavor `amp_flavor_id`, on `amp_boot_network_list` (the
management network) with `amp_secgroup_list`, keypair `amp_ssh_key_name`
and `[nova] availability_zone`. Its user data (cloud-init, see cloudinit.py)
writes the agent's certificate, CA and heartbeat key and starts `lbaas agent`.

With `[nova] enable_anti_affinity` every amphora of a load balancer joins the
server group `octavia-lb-<lb id>` (policy `anti_affinity_policy`), made on
the first build and deleted with the last member. The compute seam does not
say the topology, so a SINGLE load balancer gets a group of one too.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable
from typing import Any

from lbaas import config, wire
from lbaas.drivers import openstack
from lbaas.drivers.base import PermanentError, TransientError
from lbaas.drivers.compute import cloudinit
from lbaas.drivers.pki import ControllerPKI

LOG = logging.getLogger(__name__)
GROUP_PREFIX = 'octavia-lb-'
METADATA_AMPHORA, METADATA_LB = 'lbaas_amphora_id', 'lbaas_lb_id'
SERVER_TAG = 'lbaas-amphora'
# Nova's server status -> the seam's. Unlisted ones (SHUTOFF, PAUSED, SHELVED...)
# are ERROR: reconcile deletes the server and builds the amphora again.
STATUS_MAP = {
    'ACTIVE': 'ACTIVE',
    'BUILD': 'BUILDING',
    'REBUILD': 'BUILDING',
    'REBOOT': 'BUILDING',
    'HARD_REBOOT': 'BUILDING',
    'MIGRATING': 'BUILDING',
    'RESIZE': 'BUILDING',
    'VERIFY_RESIZE': 'BUILDING',
    'PASSWORD': 'ACTIVE',
    'DELETED': 'DELETED',
    'SOFT_DELETED': 'DELETED',
}


@dataclasses.dataclass(frozen=True)
class NovaSettings:
    """The options NovaCompute reads, as values (tests pass their own)."""

    flavor_id: str | None = None
    image_id: str | None = None
    image_tag: str | None = None
    image_owner_id: str | None = None
    boot_networks: tuple[str, ...] = ()
    secgroups: tuple[str, ...] = ()
    ssh_key_name: str | None = None
    availability_zone: str | None = None
    anti_affinity: bool = False
    anti_affinity_policy: str = 'anti-affinity'
    agent_port: int = wire.DEFAULT_PORT

    @classmethod
    def from_config(cls) -> NovaSettings:
        worker, nova = config.CONF.controller_worker, config.CONF.nova
        return cls(
            flavor_id=worker.amp_flavor_id,
            image_id=worker.amp_image_id,
            image_tag=worker.amp_image_tag,
            image_owner_id=worker.amp_image_owner_id,
            boot_networks=tuple(worker.amp_boot_network_list),
            secgroups=tuple(worker.amp_secgroup_list),
            ssh_key_name=worker.amp_ssh_key_name,
            availability_zone=nova.availability_zone,
            anti_affinity=nova.enable_anti_affinity,
            anti_affinity_policy=nova.anti_affinity_policy,
        )


class NovaCompute:
    def __init__(
        self,
        conn: openstack.Connection | None = None,
        settings: NovaSettings | None = None,
        pki_dir: str | None = None,
        heartbeat_key: Callable[[], bytes] = config.heartbeat_key,
    ) -> None:
        self.conn = conn if conn is not None else openstack.connect()
        self.settings = settings if settings is not None else NovaSettings.from_config()
        self.pki_dir = pki_dir or config.pki_dir()
        self.heartbeat_key = heartbeat_key
        self._pki: ControllerPKI | None = None

    # -- ComputeDriver ---------------------------------------------------------

    def build(self, amphora_id: str, lb_id: str) -> str:
        name = self.compute_id_for(amphora_id)
        if openstack.find_server(self.conn, name) is not None:
            return name
        attrs: dict[str, Any] = {
            'name': name,
            'image_id': self._image_id(),
            'flavor_id': self._flavor_id(),
            'networks': [{'uuid': n} for n in self.settings.boot_networks] or 'auto',
            'user_data': cloudinit.encoded(self._user_data(amphora_id)),
            'metadata': {METADATA_AMPHORA: amphora_id, METADATA_LB: lb_id},
            'tags': [SERVER_TAG],
        }
        if self.settings.secgroups:
            attrs['security_groups'] = [{'name': g} for g in self.settings.secgroups]
        if self.settings.ssh_key_name:
            attrs['key_name'] = self.settings.ssh_key_name
        if self.settings.availability_zone:
            attrs['availability_zone'] = self.settings.availability_zone
        if self.settings.anti_affinity and lb_id:  # a spare ('') joins no group
            attrs['scheduler_hints'] = {'group': self._server_group(lb_id)}
        with openstack.translated('boot amphora %s' % amphora_id):
            server = self.conn.compute.create_server(**attrs)
        LOG.info('amphora %s: server %s (%s) booting', amphora_id, name, server.id)
        return name

    @staticmethod
    def compute_id_for(amphora_id: str) -> str:
        return openstack.server_name(amphora_id)

    @staticmethod
    def runtime_dir(amphora_id: str) -> str:
        """The agent's state directory inside the server (cloudinit writes it)."""
        return cloudinit.runtime_dir(amphora_id)

    def status(self, compute_id: str) -> str:
        server = openstack.find_server(self.conn, compute_id)
        if server is None:
            return 'DELETED'
        return STATUS_MAP.get(server.status, 'ERROR')

    def delete(self, compute_id: str) -> None:
        lb_ids: set[str] = set()
        for server in openstack.servers_named(self.conn, compute_id):
            lb_ids.add((server.metadata or {}).get(METADATA_LB, ''))
            if not openstack.is_live(server):
                continue
            with openstack.translated('delete server %s' % server.id):
                self.conn.compute.delete_server(server, ignore_missing=True)
            LOG.info('server %s (%s) deleted', compute_id, server.id)
        if self.settings.anti_affinity:
            for lb_id in lb_ids - {''}:
                self._drop_empty_group(lb_id)

    # -- image, flavor, group -------------------------------------------------------

    def _image_id(self) -> str:
        if self.settings.image_id:
            return self.settings.image_id
        tag = self.settings.image_tag
        if not tag:
            raise PermanentError('set [controller_worker] amp_image_tag or amp_image_id')
        query: dict[str, Any] = {'tag': tag, 'status': 'active', 'sort': 'created_at:desc'}
        if self.settings.image_owner_id:
            query['owner'] = self.settings.image_owner_id
        with openstack.translated('find the amphora image tagged %s' % tag):
            images = list(self.conn.image.images(**query))
        if not images:
            raise PermanentError('no active image is tagged %s' % tag)
        newest = max(images, key=lambda i: i.created_at or '')
        return str(newest.id)

    def _flavor_id(self) -> str:
        if not self.settings.flavor_id:
            raise PermanentError('set [controller_worker] amp_flavor_id')
        return self.settings.flavor_id

    def _server_group(self, lb_id: str) -> str:
        """The id of the LB's server group, made if missing."""
        name = GROUP_PREFIX + lb_id
        with openstack.translated('server group %s' % name):
            for group in self.conn.compute.server_groups():
                if group.name == name:
                    return str(group.id)
            made = self.conn.compute.create_server_group(
                name=name, policy=self.settings.anti_affinity_policy
            )
        return str(made.id)

    def _drop_empty_group(self, lb_id: str) -> None:
        name = GROUP_PREFIX + lb_id
        with openstack.translated('server group %s' % name):
            for group in self.conn.compute.server_groups():
                if group.name == name and not self._live_members(group):
                    self.conn.compute.delete_server_group(group, ignore_missing=True)

    def _live_members(self, group: Any) -> list[str]:
        live = []
        for server_id in group.member_ids or []:
            try:
                server = self.conn.compute.get_server(server_id)
            except openstack.NotFound:
                continue
            if openstack.is_live(server):
                live.append(server_id)
        return live

    # -- user data -----------------------------------------------------------------

    def _user_data(self, amphora_id: str) -> str:
        settings = config.CONF.certificates
        if self._pki is None:
            self._pki = ControllerPKI(self.pki_dir, ca_validity_seconds=settings.ca_validity_time)
        issued = self._pki.issue_amphora_cert(amphora_id, settings.cert_validity_time)
        if issued.ca_pem is None:
            raise TransientError('the controller CA gave no trust bundle')
        files = cloudinit.AgentFiles(
            amphora_id=amphora_id,
            ca_pem=issued.ca_pem,
            cert_pem=issued.cert_pem,
            key_pem=issued.key_pem,
            heartbeat_key=self.heartbeat_key(),
        )
        return cloudinit.user_data(files, self.settings.agent_port)
