"""Providers: which are enabled, what the amphora provider refuses (501),
and the profile metadata it accepts."""
import json
from typing import Any

from lbaas import config, errors
from lbaas.db import models
from lbaas.schemas.common import TOPOLOGIES

AMPHORA_ALIASES = {'amphora', 'octavia', 'amphorav2'}

FLAVOR_CAPABILITIES = {
    'loadbalancer_topology': 'The load balancer topology. One of: SINGLE - One '
                             'amphora per load balancer. ACTIVE_STANDBY - Two '
                             'amphora per load balancer.',
    'compute_flavor': 'The compute driver flavor ID.',
    'amp_image_tag': 'The amphora image tag.',
    'sriov_vip': 'When true, the VIP port will be created using an SR-IOV VF port.',
    'allow_member_sriov': 'When true, users can request SR-IOV VF ports for members.',
}
AZ_CAPABILITIES = {
    'compute_zone': 'The compute availability zone.',
    'volume_zone': 'The volume availability zone.',
    'management_network': 'The management network ID for the amphora.',
    'valid_vip_networks': 'List of network IDs that are allowed for VIP use.',
}


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


# Algorithms the amphora provider refuses (501). Octavia's refuses
# SOURCE_IP_PORT; this data plane serves it with HAProxy's `balance hash` on
# the client's address and port, so nothing is refused today.
UNSERVED_ALGORITHMS: frozenset[str] = frozenset()


def check_algorithm(provider: str | None, algorithm: str) -> None:
    if is_amphora(provider) and algorithm in UNSERVED_ALGORITHMS:
        raise errors.NotImplementedByProvider(
            str(provider), 'The amphora provider does not support the %s '
                      'algorithm.' % algorithm)


# Protocols the amphora data plane does not serve: UDP goes through nftables
# (agent/nftables.py), but this kernel has no SCTP sockets, so an SCTP
# listener could not be proven to carry traffic. What the API accepts, the
# data plane serves: the provider refuses these up front (501) rather than
# accepting objects the worker can never build.
UNSERVED_PROTOCOLS = frozenset({'SCTP'})


def check_protocol(provider: str | None, protocol: str) -> None:
    """501 for a listener or pool protocol the amphora cannot serve."""
    if is_amphora(provider) and protocol in UNSERVED_PROTOCOLS:
        raise errors.NotImplementedByProvider(
            str(provider), 'The amphora provider does not serve %s listeners and '
                      'pools yet.' % protocol)


def check_graph_protocols(lb: models.LoadBalancer) -> None:
    """check_protocol over a whole single-call create, once everything else
    validated (Octavia calls the provider after its own checks: 400s first)."""
    for protocol in [li.protocol for li in lb.listeners] + [p.protocol for p in lb.pools]:
        check_protocol(lb.provider, protocol)


def check_l7_listener(provider: str | None, protocol: str) -> None:
    if is_amphora(provider) and protocol not in ('HTTP', 'TERMINATED_HTTPS'):
        raise errors.NotImplementedByProvider(
            str(provider), 'L7 policies are supported on HTTP and TERMINATED_HTTPS '
                      'listeners only.')


def capabilities(name: str, kind: str) -> list[dict[str, str]]:
    if name not in enabled():
        raise errors.ApiError("Provider '%s' is not enabled." % name)
    table = FLAVOR_CAPABILITIES if kind == 'flavor' else AZ_CAPABILITIES
    if not is_amphora(name):
        return []
    return [{'name': k, 'description': v} for k, v in table.items()]


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
    },
    'availability_zone': {
        'compute_zone': ('string', None),
        'volume_zone': ('string', None),
        'management_network': ('string', None),
        'valid_vip_networks': ('array', None),
    },
}
JSON_TYPES: dict[str, type] = {'string': str, 'boolean': bool, 'array': list}


def _require_enabled(provider: str) -> None:
    if provider not in enabled():
        raise errors.InvalidInput("Provider '%s' is not enabled." % provider)


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
        if not isinstance(value, JSON_TYPES[kind]):
            return '%s %r is not of type %r' % (key, value, kind)
        if allowed is not None and value not in allowed:
            return '%s %r is not one of %r' % (key, value, allowed)
    return None


def check_profile_data(provider: str, raw_data: str, kind: str) -> None:
    """Validate a profile's JSON metadata the way `provider` would.

    `kind` is 'flavor' or 'availability_zone'. The schema already made sure
    `raw_data` is a JSON object. Only the amphora provider knows its keys;
    others (noop) accept anything. Octavia reports a rejected key through
    ProviderUnsupportedOptionError, a 501.
    """
    _require_enabled(provider)
    if not is_amphora(provider):
        return
    problem = _schema_problem(json.loads(raw_data), AMPHORA_SCHEMAS[kind])
    if problem:
        raise errors.NotImplementedByProvider(provider, problem)
