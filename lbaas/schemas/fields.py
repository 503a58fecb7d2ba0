"""Each resource's API names and the model attributes behind them, declared once.

Request writes, list filters and sorting, and response bodies all read these,
so an API name that differs from its column is spelt in one place only.
Names are strings: the schemas layer does not import the database models.
"""
import dataclasses
import operator
from collections.abc import Callable, Mapping
from typing import Any

Pairs = tuple[tuple[str, str], ...]
COMMON_RENAMED = {'tenant_id': 'project_id', 'admin_state_up': 'enabled'}
# Every load-balancing object starts its body with these (and `tags` after them).
COMMON: Pairs = tuple((name, COMMON_RENAMED.get(name, name)) for name in (
    'id', 'project_id', 'tenant_id', 'provisioning_status', 'operating_status',
    'admin_state_up', 'created_at', 'updated_at'))


@dataclasses.dataclass(frozen=True, eq=False)
class Fields:
    """One resource's own API fields, in body order, after the common ones."""

    shown: tuple[str, ...]
    # API name -> model attribute, where they differ (the common ones are known).
    renamed: Mapping[str, str] = dataclasses.field(default_factory=dict)
    unfiltered: frozenset[str] = frozenset()  # shown, but no list filter or sort key
    read_only: frozenset[str] = frozenset()  # shown, but never written from a request
    # Not shown as such (a link names them), but list queries filter on them.
    filter_only: Mapping[str, str] = dataclasses.field(default_factory=dict)
    common: Pairs = COMMON  # amphorae have none of the load-balancing objects' fields
    pairs: Pairs = dataclasses.field(init=False)
    written: frozenset[str] = dataclasses.field(init=False)
    # A body's names (common, `tags`, own) and a row's values for them in one
    # call: views run it on every row of a list.
    body: tuple[str, ...] = dataclasses.field(init=False)
    values: Callable[[Any], tuple[Any, ...]] = dataclasses.field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, 'pairs', tuple((n, self.attr(n)) for n in self.shown))
        head = self.common + (('tags', 'tags'),) if self.common else ()
        object.__setattr__(self, 'body', tuple(n for n, _ in head + self.pairs))
        object.__setattr__(self, 'values', operator.attrgetter(*(a for _, a in head + self.pairs)))
        object.__setattr__(self, 'written', frozenset(self.shown) - self.read_only
                           | {'admin_state_up'})

    def attr(self, name: str) -> str:
        """The model attribute behind API name `name`."""
        return self.renamed.get(name) or COMMON_RENAMED.get(name, name)

    def filters(self) -> Pairs:
        """(API name, attribute) for every list filter and sort key."""
        own = tuple(pair for pair in self.pairs if pair[0] not in self.unfiltered)
        return self.common + own + tuple(self.filter_only.items())


_LB_PARENT = {'loadbalancer_id': 'load_balancer_id',
              'load_balancer_id': 'load_balancer_id'}  # openstacksdk sends the latter
_TIMEOUTS = ('timeout_client_data', 'timeout_member_connect', 'timeout_member_data',
             'timeout_tcp_inspect')

LOADBALANCER = Fields(('name', 'description', 'provider', 'flavor_id', 'availability_zone'),
                      read_only=frozenset({'provider', 'flavor_id', 'availability_zone'}))
# The VIP's API names on the load balancer, and its own row's columns.
VIP = {'vip_address': 'ip_address', 'vip_port_id': 'port_id', 'vip_subnet_id': 'subnet_id',
       'vip_network_id': 'network_id', 'vip_qos_policy_id': 'qos_policy_id'}
LISTENER = Fields(
    ('name', 'description', 'protocol', 'protocol_port', 'connection_limit',
     'default_pool_id', 'default_tls_container_ref', 'sni_container_refs',
     'client_ca_tls_container_ref', 'client_authentication', 'client_crl_container_ref',
     'insert_headers', *_TIMEOUTS, 'allowed_cidrs', 'tls_ciphers', 'tls_versions',
     'alpn_protocols', 'hsts_max_age', 'hsts_include_subdomains', 'hsts_preload'),
    {'default_tls_container_ref': 'default_tls_container_id',
     'client_ca_tls_container_ref': 'client_ca_tls_certificate_id',
     'client_crl_container_ref': 'client_crl_container_id'},
    unfiltered=frozenset({'sni_container_refs', 'client_ca_tls_container_ref',
                          'client_crl_container_ref', 'insert_headers', 'allowed_cidrs',
                          'tls_versions', 'alpn_protocols', 'hsts_include_subdomains',
                          'hsts_preload'}),
    filter_only=_LB_PARENT)
POOL = Fields(
    ('name', 'description', 'protocol', 'lb_algorithm', 'session_persistence', 'tls_enabled',
     'tls_container_ref', 'ca_tls_container_ref', 'crl_container_ref', 'tls_ciphers',
     'tls_versions', 'alpn_protocols'),
    {'tls_container_ref': 'tls_certificate_id', 'ca_tls_container_ref': 'ca_tls_certificate_id',
     'crl_container_ref': 'crl_container_id'},
    unfiltered=frozenset({'session_persistence', 'tls_versions', 'alpn_protocols'}),
    filter_only=_LB_PARENT)
MEMBER = Fields(
    ('name', 'address', 'protocol_port', 'weight', 'backup', 'subnet_id', 'monitor_address',
     'monitor_port', 'vnic_type', 'pool_id'),
    {'address': 'ip_address'}, read_only=frozenset({'vnic_type', 'pool_id'}))
HEALTHMONITOR = Fields(
    ('name', 'type', 'delay', 'timeout', 'max_retries', 'max_retries_down', 'http_method',
     'url_path', 'expected_codes', 'http_version', 'domain_name'),
    {'max_retries': 'rise_threshold', 'max_retries_down': 'fall_threshold'},
    filter_only={'pool_id': 'pool_id'})
L7POLICY = Fields(
    ('name', 'description', 'listener_id', 'action', 'redirect_pool_id', 'redirect_url',
     'redirect_prefix', 'redirect_http_code', 'position'),
    read_only=frozenset({'listener_id', 'position'}))
L7RULE = Fields(('type', 'compare_type', 'key', 'value', 'invert'),
                filter_only={'l7policy_id': 'l7policy_id'})
AMPHORA = Fields(
    ('id', 'compute_id', 'lb_network_ip', 'vrrp_ip', 'ha_ip', 'vrrp_port_id', 'ha_port_id',
     'cert_busy', 'role', 'status', 'vrrp_interface', 'vrrp_id', 'vrrp_priority',
     'cached_zone', 'image_id', 'compute_flavor',
     # QUIRK: the api-ref shows load_balancer_id; Octavia emits loadbalancer_id.
     'loadbalancer_id', 'cert_expiration', 'created_at', 'updated_at'),
    {'loadbalancer_id': 'load_balancer_id'}, common=())
