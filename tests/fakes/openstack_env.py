"""A fake cloud seeded for the OpenStack drivers, and the drivers on it.

The cloud has a management network (`amp_boot_network_list`), the tenant
networks the test passes (the contract suites pass their local subnets, so
the same assertions hold), an amphora image tagged `amphora` (an older one
with the tag too, and a newer one without), a flavor, a keypair and the
management security group. The drivers reach it through openstacksdk, from
a keystoneauth password session against its Keystone.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterable

from keystoneauth1 import session as ks_session
from keystoneauth1.identity import v3

from lbaas.drivers import openstack
from lbaas.drivers.compute.nova import NovaCompute, NovaSettings
from lbaas.drivers.network.neutron import NeutronNetwork
from tests.fakes.openstack_api import FakeCloud

MANAGEMENT_NETWORK = '3d0c3f7a-8a53-4d62-9d1c-1b2b0f6f0a01'
MANAGEMENT_SUBNET = '3d0c3f7a-8a53-4d62-9d1c-1b2b0f6f0a02'
MANAGEMENT_CIDR = '192.0.2.0/24'
IMAGE_TAG = 'amphora'
HEARTBEAT_KEY = b'contract-heartbeat-key'

# (network id, subnet id, cidr, gateway)
Subnet = tuple[str, str, str, str | None]


class OpenStackEnv:
    def __init__(self, tenant_subnets: Iterable[Subnet] = (), build_seconds: float = 0.05) -> None:
        self.cloud = FakeCloud(build_seconds=build_seconds).start()
        neutron, nova, glance = self.cloud.neutron, self.cloud.nova, self.cloud.glance
        neutron.add_network(
            'lb-mgmt-net', [(MANAGEMENT_SUBNET, MANAGEMENT_CIDR, '192.0.2.1')], MANAGEMENT_NETWORK
        )
        by_network: dict[str, list[tuple[str, str, str | None]]] = {}
        for network_id, subnet_id, cidr, gateway in tenant_subnets:
            by_network.setdefault(network_id, []).append((subnet_id, cidr, gateway))
        for network_id, subnets in by_network.items():
            neutron.add_network('tenant-%s' % network_id[:8], subnets, network_id)
        glance.add_image('amphora-old', [IMAGE_TAG], created_at='2026-01-01T00:00:00Z')
        self.image_id = glance.add_image(
            'amphora-new', [IMAGE_TAG], created_at='2026-06-01T00:00:00Z'
        )
        glance.add_image('not-an-amphora', ['other'], created_at='2026-09-01T00:00:00Z')
        self.flavor_id = nova.add_flavor('amphora')
        nova.keypairs.add('octavia-ssh-key')
        self.management_group = neutron.add_security_group('lb-mgmt-sec-grp', 'amphora management')
        self.pki_dir = tempfile.mkdtemp(prefix='lbaas-os-pki-')
        auth = v3.Password(
            auth_url=self.cloud.auth_url,
            username='octavia',
            password='secret',
            project_name='service',
            user_domain_id='default',
            project_domain_id='default',
        )
        self.conn = openstack.connect(ks_session.Session(auth=auth))

    def settings(self, **overrides: object) -> NovaSettings:
        values: dict[str, object] = {
            'flavor_id': self.flavor_id,
            'image_tag': IMAGE_TAG,
            'boot_networks': (MANAGEMENT_NETWORK,),
            'secgroups': ('lb-mgmt-sec-grp',),
            'ssh_key_name': 'octavia-ssh-key',
            'anti_affinity': True,
        }
        values.update(overrides)
        return NovaSettings(**values)  # type: ignore[arg-type]

    def compute(self, **overrides: object) -> NovaCompute:
        return NovaCompute(
            self.conn,
            self.settings(**overrides),
            pki_dir=self.pki_dir,
            heartbeat_key=lambda: HEARTBEAT_KEY,
        )

    def network(self) -> NeutronNetwork:
        return NeutronNetwork(self.conn, management_networks=[MANAGEMENT_NETWORK])

    def server_names(self) -> list[str]:
        return sorted(s['name'] for s in self.cloud.nova.servers.values())

    def inventory(self) -> tuple[list[str], list[str]]:
        """Servers and server groups, by name."""
        groups = sorted(g['name'] for g in self.cloud.nova.groups.values())
        return self.server_names(), groups

    def close(self) -> None:
        self.cloud.stop()
        shutil.rmtree(self.pki_dir, ignore_errors=True)
