"""Providers: which are enabled, and what each one refuses before anything
is written (Octavia answers such a refusal with a 501).

A provider is the `Provider` seam below: the amphora provider (this data
plane) and the noop provider, which accepts everything, as Octavia's noop
driver does. The module's functions are what the service layer calls; they
find the provider an LB names and turn its refusal into the 501.
"""
import json
from typing import Any, Protocol

from lbaas import config, errors
from lbaas.controller import provider_registry
from lbaas.db import models
from lbaas.schemas.common import TOPOLOGIES
from lbaas.service.provider_drivers import call_provider
from lbaas.statuses import Topology

AMPHORA_ALIASES = {'amphora', 'octavia', 'amphorav2'}
L7_PROTOCOLS = ('HTTP', 'TERMINATED_HTTPS')
# Algorithms the amphora provider refuses. Octavia's refuses SOURCE_IP_PORT;
# this data plane serves it with HAProxy's `balance hash` on the client's
# address and port, so nothing is refused today.
UNSERVED_ALGORITHMS: frozenset[str] = frozenset()
# Protocols the amphora data plane does not serve, refused up front rather
# than accepted and never built: what the API accepts, the data plane serves.
# None today: UDP and SCTP both go through nftables full-NAT
# (dataplane/nftables.py); SCTP is proven with crafted INIT/INIT-ACK packets,
# as this kernel has no SCTP sockets (tests/scenario/test_traffic_sctp.py).
UNSERVED_PROTOCOLS: frozenset[str] = frozenset()

FLAVOR_CAPABILITIES = {
    'loadbalancer_topology': 'The load balancer topology. One of: SINGLE - One '
                             'amphora per load balancer. ACTIVE_STANDBY - Two '
                             'amphora per load balancer. ACTIVE_ACTIVE - amphora_count '
                             'amphorae serving at once behind a distributor (lbaas).',
    'amphora_count': 'ACTIVE_ACTIVE: how many amphorae serve the load balancer, 1 to 8 '
                     '(lbaas; default [controller_worker] amphora_count).',
    'compute_flavor': 'The compute driver flavor ID.',
    'amp_image_tag': 'The amphora image tag.',
    'sriov_vip': 'When true, the VIP port will be created using an SR-IOV VF port.',
    'allow_member_sriov': 'When true, users can request SR-IOV VF ports for members.',
    'member_drain_timeout': 'Seconds a removed or disabled member keeps its established '
                            'connections before they are closed (lbaas; default '
                            '[haproxy_amphora] member_drain_timeout).',
}
AZ_CAPABILITIES = {
    'compute_zone': 'The compute availability zone.',
    'volume_zone': 'The volume availability zone.',
    'management_network': 'The management network ID for the amphora.',
    'valid_vip_networks': 'List of network IDs that are allowed for VIP use.',
}

# The amphora driver validates profile metadata against JSON schemas with
# additionalProperties false (octavia/api/drivers/amphora_driver/*_schema.py):
# key -> (JSON type, allowed values or None).
AMPHORA_SCHEMAS: dict[str, dict[str, tuple[str, list[str] | None]]] = {
    'flavor': {
        'loadbalancer_topology': ('string', list(TOPOLOGIES)),
        'compute_flavor': ('string', None),
        'amp_image_tag': ('string', None),
        'sriov_vip': ('boolean', None),
        'allow_member_sriov': ('boolean', None),
        # ours: seconds a removed or disabled member drains (config.py)
        'member_drain_timeout': ('integer', None),
        'amphora_count': ('integer', None),  # ours: ACTIVE_ACTIVE
    },
    'availability_zone': {
        'compute_zone': ('string', None),
        'volume_zone': ('string', None),
        'management_network': ('string', None),
        'valid_vip_networks': ('array', None),
    },
}
JSON_TYPES: dict[str, type] = {'string': str, 'boolean': bool, 'array': list, 'integer': int}


class Provider(Protocol):
    """What a provider refuses; each method answers why, or None to accept.
    `kind` is 'flavor' or 'availability_zone'."""

    def algorithm_refused(self, algorithm: str) -> str | None: ...

    def protocol_refused(self, protocol: str) -> str | None: ...

    def l7_refused(self, listener_protocol: str) -> str | None: ...

    def capabilities(self, kind: str) -> dict[str, str]: ...

    def profile_refused(self, data: dict[str, Any], kind: str) -> str | None: ...


class AmphoraProvider:
    """This data plane: HAProxy, keepalived and nftables in amphorae."""

    def algorithm_refused(self, algorithm: str) -> str | None:
        if algorithm in UNSERVED_ALGORITHMS:
            return 'The amphora provider does not support the %s algorithm.' % algorithm
        return None

    def protocol_refused(self, protocol: str) -> str | None:
        if protocol in UNSERVED_PROTOCOLS:
            return 'The amphora provider does not serve %s listeners and pools yet.' % protocol
        return None

    def l7_refused(self, listener_protocol: str) -> str | None:
        if listener_protocol not in L7_PROTOCOLS:
            return 'L7 policies are supported on HTTP and TERMINATED_HTTPS listeners only.'
        return None

    def capabilities(self, kind: str) -> dict[str, str]:
        return FLAVOR_CAPABILITIES if kind == 'flavor' else AZ_CAPABILITIES

    def profile_refused(self, data: dict[str, Any], kind: str) -> str | None:
        return _schema_problem(data, AMPHORA_SCHEMAS[kind]) or (
            _active_active_problem(data) if kind == 'flavor' else None)


def _active_active_problem(data: dict[str, Any]) -> str | None:
    """amphora_count belongs to ACTIVE_ACTIVE, which needs a distributor:
    the netns network driver has one, Neutron none."""
    active_active = data.get('loadbalancer_topology') == Topology.ACTIVE_ACTIVE
    count = data.get('amphora_count')
    if count is not None and not active_active:
        return 'amphora_count applies to loadbalancer_topology ACTIVE_ACTIVE only'
    if count is not None and not 1 <= count <= config.MAX_AMPHORA_COUNT:
        return 'amphora_count %r is not between 1 and %d' % (count, config.MAX_AMPHORA_COUNT)
    if active_active and config.CONF.controller_worker.network_driver in (
            config.NEUTRON_NETWORK_DRIVERS):
        return ('loadbalancer_topology ACTIVE_ACTIVE needs the netns network driver\'s '
                'distributor; the neutron network driver has none')
    return None


class NoopProvider:
    """Accepts everything and says it has no capabilities, as Octavia's noop
    driver: objects reach ACTIVE, nothing serves them."""

    def algorithm_refused(self, algorithm: str) -> str | None:
        return None

    def protocol_refused(self, protocol: str) -> str | None:
        return None

    def l7_refused(self, listener_protocol: str) -> str | None:
        return None

    def capabilities(self, kind: str) -> dict[str, str]:
        return {}

    def profile_refused(self, data: dict[str, Any], kind: str) -> str | None:
        return None


class ExternalProvider(NoopProvider):
    """An octavia-lib driver (`controller/provider_registry.py`): like noop it
    refuses nothing up front, since it answers each call itself (a 501 through
    `provider_drivers.call_provider`); capabilities and profile checks are its
    `get_supported_*_metadata` and `validate_*`, as Octavia calls them."""

    def __init__(self, name: str) -> None:
        self.name = name

    def capabilities(self, kind: str) -> dict[str, str]:
        driver = provider_registry.driver(self.name)
        method = (driver.get_supported_flavor_metadata if kind == 'flavor'
                  else driver.get_supported_availability_zone_metadata)
        return dict(call_provider(self.name, method))

    def profile_refused(self, data: dict[str, Any], kind: str) -> str | None:
        driver = provider_registry.driver(self.name)
        method = (driver.validate_flavor if kind == 'flavor'
                  else driver.validate_availability_zone)
        call_provider(self.name, method, data)
        return None


AMPHORA, NOOP = AmphoraProvider(), NoopProvider()


def driver(name: str | None) -> Provider:
    if is_amphora(name):
        return AMPHORA
    if provider_registry.is_external(name):
        return ExternalProvider(str(name))
    return NOOP


def _refuse(provider: str | None, problem: str | None) -> None:
    if problem:
        raise errors.NotImplementedByProvider(str(provider), problem)


def enabled() -> dict[str, str]:
    return dict(config.CONF.api_settings.enabled_provider_drivers)


def resolve(name: str | None) -> str:
    """The provider an LB uses; 400 when it is not enabled."""
    name = name or config.CONF.api_settings.default_provider_driver
    if name not in enabled():
        raise errors.ApiError("Provider '%s' is not enabled." % name)
    return name


def is_amphora(name: str | None) -> bool:
    return (name or 'amphora') in AMPHORA_ALIASES


def check_algorithm(provider: str | None, algorithm: str) -> None:
    _refuse(provider, driver(provider).algorithm_refused(algorithm))


def check_protocol(provider: str | None, protocol: str) -> None:
    """501 for a listener or pool protocol the provider cannot serve."""
    _refuse(provider, driver(provider).protocol_refused(protocol))


def check_graph_protocols(lb: models.LoadBalancer) -> None:
    """check_protocol over a whole single-call create, once everything else
    validated (Octavia calls the provider after its own checks: 400s first)."""
    for protocol in [li.protocol for li in lb.listeners] + [p.protocol for p in lb.pools]:
        check_protocol(lb.provider, protocol)


def check_l7_listener(provider: str | None, protocol: str) -> None:
    _refuse(provider, driver(provider).l7_refused(protocol))


def capabilities(name: str, kind: str) -> list[dict[str, str]]:
    if name not in enabled():
        raise errors.ApiError("Provider '%s' is not enabled." % name)
    return [{'name': k, 'description': v} for k, v in driver(name).capabilities(kind).items()]


def check_profile_data(provider: str, raw_data: str, kind: str) -> None:
    """Validate a profile's JSON metadata the way `provider` would.

    The schema already made sure `raw_data` is a JSON object. Octavia reports
    a rejected key through ProviderUnsupportedOptionError, a 501.
    """
    if provider not in enabled():
        raise errors.InvalidInput("Provider '%s' is not enabled." % provider)
    _refuse(provider, driver(provider).profile_refused(json.loads(raw_data), kind))


def _schema_problem(data: dict[str, Any],
                    schema: dict[str, tuple[str, list[str] | None]]) -> str | None:
    """The first violation, worded as jsonschema words it, or None."""
    unexpected = sorted(key for key in data if key not in schema)
    if unexpected:
        names = ', '.join(repr(key) for key in unexpected)
        verb = 'was' if len(unexpected) == 1 else 'were'
        return 'Additional properties are not allowed (%s %s unexpected)' % (names, verb)
    for key, value in data.items():
        kind, allowed = schema[key]
        # JSON has no bool among its integers; Python's bool is an int
        if not isinstance(value, JSON_TYPES[kind]) or (kind == 'integer'
                                                       and isinstance(value, bool)):
            return '%s %r is not of type %r' % (key, value, kind)
        if kind == 'integer' and isinstance(value, int) and value < 0:
            return '%s %r is less than the minimum of 0' % (key, value)
        if allowed is not None and value not in allowed:
            return '%s %r is not one of %r' % (key, value, allowed)
    return None
