"""Providers: which are enabled, and what the amphora provider refuses (501)."""
from lbaas import config, errors

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


def check_algorithm(provider: str | None, algorithm: str) -> None:
    if is_amphora(provider) and algorithm == 'SOURCE_IP_PORT':
        raise errors.NotImplementedByProvider(
            str(provider), 'The amphora provider does not support the SOURCE_IP_PORT '
                      'algorithm.')


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
