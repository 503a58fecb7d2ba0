"""Pick drivers by the names in `[controller_worker]`.

`auto` (the default) means the netns data plane where it can run (root, a
working `ip netns`, HAProxy installed) and the noop drivers elsewhere; the
choice and its reason are logged, and `lbaas serve` prints them.
"""

from __future__ import annotations

import functools
import logging
import os
import shutil
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, TypeVar

from lbaas import config
from lbaas.drivers import noop
from lbaas.drivers.base import (
    AmphoraDriver,
    CertificateAuthority,
    ComputeDriver,
    Drivers,
    NetworkDriver,
)
from lbaas.drivers.certificates.base import CertificateManager, SecretReader

if TYPE_CHECKING:  # imported when used: pyroute2 is Linux only
    from lbaas.drivers.amphora.driver import RestAmphora
    from lbaas.drivers.compute.nova import NovaCompute
    from lbaas.drivers.netns import Fabric, NetnsCompute, NetnsNetwork
    from lbaas.drivers.network.neutron import NeutronNetwork
    from lbaas.drivers.pki import ControllerPKI

LOG = logging.getLogger(__name__)
REAL = {'compute_driver': 'netns', 'network_driver': 'netns', 'amphora_driver': 'rest'}
D = TypeVar('D')


@functools.cache
def netns_unavailable_reason() -> str | None:
    """Why the netns data plane cannot run here, or None if it can."""
    if os.geteuid() != 0:
        return 'not running as root'
    if not (shutil.which('haproxy') or os.path.exists('/usr/sbin/haproxy')):
        return 'haproxy is not installed'
    if not os.path.isdir('/proc/self/ns') or not shutil.which('ip'):
        return 'network namespaces (iproute2) are not available'
    return None


def driver_name(option: str) -> str:
    """The configured driver for `option`, with `auto` resolved."""
    name: str = getattr(config.CONF.controller_worker, option)
    if name != 'auto':
        return config.DRIVER_ALIASES.get(name, name)
    return 'noop' if netns_unavailable_reason() else REAL[option]


def describe() -> str:
    names = {option: driver_name(option) for option in REAL}
    text = (
        'data plane: compute=%(compute_driver)s network=%(network_driver)s '
        'amphora=%(amphora_driver)s' % names
    )
    reason = netns_unavailable_reason()
    if reason and 'auto' in {getattr(config.CONF.controller_worker, o) for o in REAL}:
        text += ' (netns unavailable: %s; using the noop drivers)' % reason
    return text


@functools.cache
def netns_fabric() -> Fabric:
    """The one fabric of this service, shared by its compute and network drivers."""
    from lbaas.drivers.netns import Fabric  # pyroute2: Linux only

    settings = config.CONF.networking
    return Fabric(
        name=settings.fabric_namespace,
        host_link=settings.host_link,
        management_cidr=settings.management_cidr,
        controller_ip=settings.controller_ip,
    )


def _netns_compute() -> NetnsCompute:
    from lbaas.drivers.netns import NetnsCompute

    return NetnsCompute(fabric=netns_fabric())


def _netns_network() -> NetnsNetwork:
    from lbaas.drivers.netns import NetnsNetwork

    return NetnsNetwork(fabric=netns_fabric())


def _nova_compute() -> NovaCompute:
    from lbaas.drivers.compute.nova import NovaCompute  # openstacksdk

    return NovaCompute()


def _neutron_network() -> NeutronNetwork:
    from lbaas.drivers.network.neutron import NeutronNetwork  # openstacksdk

    return NeutronNetwork()


def _rest_amphora() -> RestAmphora:
    from lbaas.drivers.amphora.driver import RestAmphora

    return RestAmphora()


def _controller_pki() -> ControllerPKI:
    from lbaas.drivers.pki import ControllerPKI

    settings = config.CONF.certificates
    return ControllerPKI(
        config.pki_dir(),
        validity_seconds=settings.cert_validity_time,
        ca_validity_seconds=settings.ca_validity_time,
    )


def certificate_authority_name() -> str:
    """The real PKI wherever a real driver needs certificates, else the fake.

    There is no option of its own (Octavia's `cert_generator`) yet: the CA
    follows the data plane chosen.
    """
    real = driver_name('compute_driver') in ('netns', 'nova') or (
        driver_name('amphora_driver') == 'rest'
    )
    return 'local' if real else 'noop'


# Each table is typed by its seam, so every driver listed is checked to satisfy it.
COMPUTE_FACTORIES: dict[str, Callable[[], ComputeDriver]] = {
    'noop': noop.NoopCompute,
    'netns': _netns_compute,
    'nova': _nova_compute,
}
NETWORK_FACTORIES: dict[str, Callable[[], NetworkDriver]] = {
    'noop': noop.NoopNetwork,
    'netns': _netns_network,
    'neutron': _neutron_network,
}
AMPHORA_FACTORIES: dict[str, Callable[[], AmphoraDriver]] = {
    'noop': noop.NoopAmphora,
    'rest': _rest_amphora,
}
CERTIFICATE_FACTORIES: dict[str, Callable[[], CertificateAuthority]] = {
    'noop': noop.NoopCertificateAuthority,
    'local': _controller_pki,
}


def _local_certificates(reader: SecretReader) -> CertificateManager:
    from lbaas.drivers.certificates.local import LocalCertificates

    return LocalCertificates(reader)


def _barbican_certificates(reader: SecretReader) -> CertificateManager:
    from lbaas.drivers.certificates.barbican import BarbicanCertificates  # barbicanclient

    return BarbicanCertificates()


CERTIFICATE_MANAGER_FACTORIES: dict[str, Callable[[SecretReader], CertificateManager]] = {
    'local': _local_certificates,
    'barbican': _barbican_certificates,
}


def certificate_manager(reader: SecretReader) -> CertificateManager:
    """What TLS references resolve with: `[certificates] cert_manager`.

    `reader` is the embedded store's read side (`local`); `barbican` reads a
    real Barbican with the `[service_auth]` credentials instead.
    """
    name: str = config.CONF.certificates.cert_manager
    return CERTIFICATE_MANAGER_FACTORIES[config.DRIVER_ALIASES.get(name, name)](reader)


def _make(option: str, factories: Mapping[str, Callable[[], D]]) -> D:
    name = driver_name(option)
    if name not in factories:
        raise SystemExit('%s %s is not available in this build' % (option, name))
    return factories[name]()


def load() -> Drivers:
    LOG.info(describe())
    # Made in this order: compute, network, amphora, certificates.
    return Drivers(
        compute=_make('compute_driver', COMPUTE_FACTORIES),
        network=_make('network_driver', NETWORK_FACTORIES),
        amphora=_make('amphora_driver', AMPHORA_FACTORIES),
        certificates=CERTIFICATE_FACTORIES[certificate_authority_name()](),
    )
