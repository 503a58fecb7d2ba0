"""Pool and session persistence request bodies (reference 1.7 "Pool", 1.8)."""
from typing import Annotated, Self

from pydantic import Field, model_validator

from lbaas.schemas import common as c
from lbaas.schemas import rules
from lbaas.schemas.common import ProjectScoped, RequestModel, ValidationFailure
from lbaas.schemas.healthmonitor import GraphHealthMonitor
from lbaas.schemas.member import GraphMember

# What PUT null means, per field (fields not listed: null clears the value,
# e.g. session_persistence null removes persistence).
UPDATE_NULL_DEFAULTS = {'tls_enabled': False, 'tags': []}
# PUT null on these means "the configured [api_settings] default_pool_*".
UPDATE_NULL_CONFIG_DEFAULTS = frozenset({'tls_ciphers', 'tls_versions', 'alpn_protocols'})

# No whitespace, ',', ';' or '\' (the finer RFC 6265 check is in rules).
CookieName = Annotated[str, Field(max_length=255, pattern=r'^[^\s,;\\]+$')]
SessionPersistenceType = c.SessionPersistenceType
Protocol = c.PoolProtocol
Algorithm = c.LbAlgorithm

# Attributes a graph pool may carry and still be only a reference by name
# (Octavia counts the defaulted admin_state_up and tls_enabled the same way).
_REFERENCE_FIELDS = frozenset({'name', 'admin_state_up', 'tls_enabled'})


class SessionPersistenceFields(RequestModel):
    cookie_name: CookieName | None = None
    persistence_timeout: Annotated[int, *c.int_bounds()] | None = None
    persistence_granularity: c.IPAddress | None = None  # an IP mask


class SessionPersistence(SessionPersistenceFields):
    """session_persistence on POST: the type is mandatory."""
    type: SessionPersistenceType

    @model_validator(mode='after')
    def _check_cookie_name(self) -> Self:
        rules.check_session_persistence(self.type, self.cookie_name)
        return self


class SessionPersistenceUpdate(SessionPersistenceFields):
    """session_persistence on PUT: without a type the stored type is kept, so
    the service calls rules.check_session_persistence on the merged values."""
    type: SessionPersistenceType | None = None

    @model_validator(mode='after')
    def _check_cookie_name_if_typed(self) -> Self:
        if self.type is not None:
            rules.check_session_persistence(self.type, self.cookie_name)
        return self


class PoolFields(RequestModel):
    """Optional fields shared by every pool body. TLS options left None are
    filled from [api_settings] default_pool_* by the service when tls_enabled."""
    name: c.Name | None = None
    description: c.Description | None = None
    tls_container_ref: c.ContainerRef | None = None
    ca_tls_container_ref: c.ContainerRef | None = None
    crl_container_ref: c.ContainerRef | None = None
    tls_ciphers: c.TlsCiphers | None = None
    tls_versions: c.TlsVersionList | None = None
    alpn_protocols: c.AlpnProtocolList | None = None


class GraphPool(PoolFields):
    """A pool in a graph create: top-level in `pools`, a listener's
    `default_pool` or an L7 policy's `redirect_pool`. A pool that carries only
    a name is a reference to a full definition elsewhere in the body; resolving
    it is the service layer's job (see loadbalancer.graph_pool_definitions)."""
    admin_state_up: c.AdminStateUp = True
    protocol: Protocol | None = None
    lb_algorithm: Algorithm | None = None
    session_persistence: SessionPersistence | None = None
    healthmonitor: GraphHealthMonitor | None = None
    members: Annotated[list[GraphMember], c.EMPTY_LIST_IF_NULL] = []
    tags: c.TagList = []
    tls_enabled: bool = False

    @property
    def is_reference(self) -> bool:
        return self.model_fields_set <= _REFERENCE_FIELDS

    @model_validator(mode='after')
    def _check_pool_definition(self) -> Self:
        if self.is_reference:
            return self
        for attr in ('protocol', 'lb_algorithm'):
            if getattr(self, attr) is None:
                raise ValidationFailure(f"Pool definition for '{self.name}' missing "
                                        f'required attribute: {attr}')
        check_pool_combinations(self)
        return self


def check_pool_combinations(pool: GraphPool) -> None:
    """Rules that only need the pool body itself (protocol known)."""
    sp = pool.session_persistence
    if sp is not None:
        rules.check_session_persistence_for_protocol(
            pool.protocol, sp.type, sp.persistence_timeout, sp.persistence_granularity)
    rules.check_pool_tls_refs(pool.ca_tls_container_ref, pool.crl_container_ref)
    if pool.healthmonitor is not None:
        rules.check_hm_type_for_pool(pool.protocol, pool.healthmonitor.type)


class PoolCreate(GraphPool, ProjectScoped):
    """POST /v2/lbaas/pools. Octavia also accepts an inline healthmonitor and
    members here. Listener protocol compatibility needs the stored listener:
    service layer (rules.check_listener_pool_protocol)."""
    protocol: Protocol
    lb_algorithm: Algorithm
    loadbalancer_id: c.Uuid | None = None
    listener_id: c.Uuid | None = None

    @model_validator(mode='after')
    def _check_parent_given(self) -> Self:
        if not (self.loadbalancer_id or self.listener_id):
            raise ValidationFailure('Must provide at least one of: loadbalancer_id, '
                                    'listener_id')
        return self


class PoolUpdate(PoolFields):
    """PUT /v2/lbaas/pools/{id}. Protocol-dependent checks (session persistence
    for UDP/SCTP, CRL needs a CA) run in the service on the merged pool."""
    NOT_NULL = ('lb_algorithm',)
    admin_state_up: c.OptionalAdminStateUp = None
    lb_algorithm: Algorithm | None = None
    session_persistence: SessionPersistenceUpdate | None = None
    tags: list[c.Tag] | None = None
    tls_enabled: bool | None = None
