"""Listener request bodies (reference 1.7 "Listener", 2.6, 2.7, 2.8)."""
from typing import Annotated, Self

from pydantic import AfterValidator, model_validator

from lbaas.schemas import common as c
from lbaas.schemas import rules
from lbaas.schemas.common import ProjectScoped, RequestModel, ValidationFailure
from lbaas.schemas.l7policy import GraphL7Policy
from lbaas.schemas.pool import GraphPool

# What PUT null means, per field (fields not listed: null clears the value,
# e.g. default_pool_id null detaches the default pool, hsts_max_age null
# turns HSTS off, allowed_cidrs null allows everyone).
UPDATE_NULL_DEFAULTS = {
    'connection_limit': c.DEFAULT_CONNECTION_LIMIT,
    'client_authentication': 'NONE',
    'sni_container_refs': [],
    'insert_headers': {},
    'hsts_include_subdomains': False,
    'hsts_preload': False,
    'tags': [],
}
# PUT null on these means "the configured default": [haproxy_amphora]
# timeout_* and, for TLS listeners, [api_settings] default_listener_*.
UPDATE_NULL_CONFIG_DEFAULTS = frozenset({
    'timeout_client_data', 'timeout_member_connect', 'timeout_member_data',
    'timeout_tcp_inspect', 'tls_ciphers', 'tls_versions', 'alpn_protocols'})

ConnectionLimit = Annotated[int, *c.int_bounds(ge=c.MIN_CONNECTION_LIMIT)]
TimeoutMs = Annotated[int, *c.int_bounds(c.MIN_TIMEOUT, c.MAX_TIMEOUT)]
Protocol = c.ListenerProtocol
CidrList = Annotated[list[c.Cidr], AfterValidator(lambda cidrs: list(dict.fromkeys(cidrs)))]


class ListenerFields(RequestModel):
    """Optional fields shared by every listener body. Timeouts and TLS options
    left None are filled from the configuration by the service layer."""
    name: c.Name | None = None
    description: c.Description | None = None
    default_pool_id: c.Uuid | None = None
    default_tls_container_ref: c.ContainerRef | None = None
    client_ca_tls_container_ref: c.ContainerRef | None = None
    client_crl_container_ref: c.ContainerRef | None = None
    timeout_client_data: TimeoutMs | None = None
    timeout_member_connect: TimeoutMs | None = None
    timeout_member_data: TimeoutMs | None = None
    timeout_tcp_inspect: TimeoutMs | None = None
    allowed_cidrs: CidrList | None = None  # normalised, duplicates dropped
    tls_ciphers: c.TlsCiphers | None = None
    tls_versions: c.TlsVersionList | None = None
    alpn_protocols: c.AlpnProtocolList | None = None
    hsts_max_age: Annotated[int, *c.int_bounds(ge=0)] | None = None


class ListenerCreateFields(ListenerFields):
    """What a listener POST and a graph listener share."""
    protocol: Protocol
    protocol_port: c.Port
    admin_state_up: c.AdminStateUp = True
    connection_limit: ConnectionLimit = c.DEFAULT_CONNECTION_LIMIT
    sni_container_refs: c.ContainerRefList = []
    insert_headers: c.HeaderMap = {}
    client_authentication: c.ClientAuthentication = 'NONE'
    hsts_include_subdomains: bool = False
    hsts_preload: bool = False
    default_pool: GraphPool | None = None
    l7policies: Annotated[list[GraphL7Policy], c.EMPTY_LIST_IF_NULL] = []
    tags: c.TagList = []

    @model_validator(mode='after')
    def _check_listener_combinations(self) -> Self:
        rules.check_insert_headers(self.protocol, self.insert_headers)
        rules.check_listener_tls(
            self.protocol,
            default_tls_container_ref=self.default_tls_container_ref,
            sni_container_refs=self.sni_container_refs,
            client_ca_tls_container_ref=self.client_ca_tls_container_ref,
            client_authentication=self.client_authentication,
            client_crl_container_ref=self.client_crl_container_ref)
        rules.check_hsts(self.protocol, self.hsts_max_age, self.hsts_include_subdomains,
                         self.hsts_preload)
        if self.default_pool_id or self.default_pool or self.l7policies:
            rules.check_listener_can_have_children(self.protocol)
        self._check_inline_pools()
        return self

    def _check_inline_pools(self) -> None:
        """Inline pools need a name; full definitions must suit the protocol
        (references are checked by the service once resolved)."""
        if self.default_pool is not None and not self.default_pool.name:
            raise ValidationFailure('Pools must be named when creating a fully '
                                    'populated loadbalancer.')
        inline = [self.default_pool] + [p.redirect_pool for p in self.l7policies]
        for pool in inline:
            if pool is not None and not pool.is_reference:
                rules.check_listener_pool_protocol(self.protocol, pool.protocol)


class GraphListener(ListenerCreateFields):
    """A listener inline in a load balancer (graph create): no loadbalancer_id.
    default_pool may be a full pool or a reference by name."""


class ListenerCreate(ListenerCreateFields, ProjectScoped):
    """POST /v2/lbaas/listeners. Port uniqueness per L4 protocol, the default
    pool's protocol, allowed_cidrs vs the VIPs and the config gates
    (allow_tls_terminated_listeners, ...) are the service layer's."""
    loadbalancer_id: c.Uuid


class ListenerUpdate(ListenerFields):
    """PUT /v2/lbaas/listeners/{id}. Protocol-dependent checks run in the
    service on the stored listener merged with these values (rules.
    check_insert_headers, check_listener_tls, check_hsts, ...)."""
    admin_state_up: c.OptionalAdminStateUp = None
    connection_limit: ConnectionLimit | None = None
    sni_container_refs: list[c.ContainerRef] | None = None
    insert_headers: dict[str, c.HeaderValue] | None = None
    client_authentication: c.ClientAuthentication | None = None
    hsts_include_subdomains: bool | None = None
    hsts_preload: bool | None = None
    tags: list[c.Tag] | None = None
