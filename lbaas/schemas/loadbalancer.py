"""Load balancer request bodies, including graph create (reference 1.7, 1.8)."""
from collections import Counter
from typing import Annotated, Self

from pydantic import Field, model_validator

from lbaas.schemas import common as c
from lbaas.schemas.common import ProjectScoped, RequestModel, ValidationFailure
from lbaas.schemas.listener import GraphListener
from lbaas.schemas.pool import GraphPool

# What PUT null means, per field (fields not listed: null clears the value,
# e.g. vip_qos_policy_id null removes the QoS policy).
UPDATE_NULL_DEFAULTS: dict[str, list[str]] = {'vip_sg_ids': [], 'tags': []}

Provider = Annotated[str, Field(max_length=64)]
AvailabilityZoneName = Annotated[str, Field(max_length=255)]


class AdditionalVip(RequestModel):
    """One more VIP on another subnet of the primary VIP's network."""
    subnet_id: c.Uuid
    ip_address: c.IPAddress | None = None
    port_id: c.Uuid | None = None


class LoadBalancerCreate(ProjectScoped):
    """POST /v2/lbaas/loadbalancers, optionally with the whole graph of
    listeners and pools. provider None means the configured default driver."""
    name: c.Name | None = None
    description: c.Description | None = None
    admin_state_up: c.AdminStateUp = True
    vip_address: c.IPAddress | None = None
    vip_port_id: c.Uuid | None = None
    vip_subnet_id: c.Uuid | None = None
    vip_network_id: c.Uuid | None = None
    vip_qos_policy_id: c.Uuid | None = None
    vip_sg_ids: Annotated[list[c.Uuid], c.EMPTY_LIST_IF_NULL] = []
    additional_vips: Annotated[list[AdditionalVip], c.EMPTY_LIST_IF_NULL] = []
    provider: Provider | None = None
    flavor_id: c.Uuid | None = None
    availability_zone: AvailabilityZoneName | None = None
    listeners: Annotated[list[GraphListener], c.EMPTY_LIST_IF_NULL] = []
    pools: Annotated[list[GraphPool], c.EMPTY_LIST_IF_NULL] = []
    tags: c.TagList = []

    @model_validator(mode='after')
    def _check_vip_given(self) -> Self:
        if not (self.vip_port_id or self.vip_network_id or self.vip_subnet_id):
            raise ValidationFailure('VIP must contain one of: vip_port_id, vip_network_id, '
                                    'vip_subnet_id.')
        return self

    @property
    def is_graph(self) -> bool:
        return bool(self.listeners or self.pools)


class LoadBalancerUpdate(RequestModel):
    """PUT /v2/lbaas/loadbalancers/{id}."""
    name: c.Name | None = None
    description: c.Description | None = None
    admin_state_up: c.OptionalAdminStateUp = None
    vip_qos_policy_id: c.Uuid | None = None
    vip_sg_ids: list[c.Uuid] | None = None
    tags: list[c.Tag] | None = None
    flavor_id: c.Uuid | None = None  # ours: between ACTIVE_ACTIVE flavors only


def graph_pool_definitions(lb: LoadBalancerCreate) -> list[GraphPool]:
    """Every full pool definition of a graph create, in creation order.

    Inline full pools (a listener's default_pool, a policy's redirect_pool)
    join the top-level `pools`; inline name-only pools must name one of them.
    The service creates these pools first, then maps the remaining references
    by name to the new ids.
    """
    pools, references = list(lb.pools), set()
    for pool in pools:
        if pool.is_reference:
            raise ValidationFailure(f"Pool definition for '{pool.name}' missing required "
                                    'attribute: protocol')
    for listener in lb.listeners:
        inline = [listener.default_pool] + [p.redirect_pool for p in listener.l7policies]
        for pool in (p for p in inline if p is not None):
            if pool.is_reference:
                references.add(pool.name)
            else:
                pools.append(pool)
    names = Counter(pool.name for pool in pools)
    if any(count > 1 for count in names.values()):
        raise ValidationFailure('Pool names must be unique when creating a fully populated '
                                'loadbalancer.')
    missing = sorted(references - names.keys(), key=str)
    if missing:
        raise ValidationFailure(f"Pool '{missing[0]}' was referenced but no full "
                                'definition was found.')
    return pools
