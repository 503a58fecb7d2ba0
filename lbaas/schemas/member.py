"""Member request bodies, single and batch (reference 1.7 "Member", 1.8)."""
import ipaddress
from typing import Annotated, Self

from pydantic import model_validator

from lbaas.schemas import common as c
from lbaas.schemas import rules
from lbaas.schemas.common import ProjectScoped, RequestModel, ValidationFailure

# What PUT null means, per field (fields not listed: null clears the value).
UPDATE_NULL_DEFAULTS = {'weight': c.DEFAULT_WEIGHT, 'backup': False, 'tags': []}

Weight = Annotated[int, *c.int_bounds(c.MIN_WEIGHT, c.MAX_WEIGHT)]


class GraphMember(RequestModel):
    """A member inline in a pool (graph create, pool POST)."""
    name: c.Name | None = None
    admin_state_up: c.AdminStateUp = True
    address: c.IPAddress
    protocol_port: c.Port
    weight: Weight = c.DEFAULT_WEIGHT
    backup: bool = False
    subnet_id: c.Uuid | None = None
    monitor_address: c.IPAddress | None = None
    monitor_port: c.Port | None = None
    request_sriov: bool = False
    tags: c.TagList = []

    @model_validator(mode='after')
    def _check_address_not_reserved(self) -> Self:
        # Checked against the default [networking] reserved_ips here; the
        # service layer repeats it with the configured list.
        rules.check_ip_not_reserved(self.address)
        return self

    @property
    def identity(self) -> tuple[str, int]:
        """(address, protocol_port) as batch update matches members."""
        return ipaddress.ip_address(self.address).compressed, self.protocol_port


class MemberCreate(GraphMember, ProjectScoped):
    """POST /v2/lbaas/pools/{pool_id}/members (the pool comes from the URL)."""


class MemberUpdate(RequestModel):
    """PUT /v2/lbaas/pools/{pool_id}/members/{id}."""
    name: c.Name | None = None
    admin_state_up: c.OptionalAdminStateUp = None
    weight: Weight | None = None
    backup: bool | None = None
    monitor_address: c.IPAddress | None = None
    monitor_port: c.Port | None = None
    tags: list[c.Tag] | None = None


class MemberBatch(RequestModel):
    """PUT /v2/lbaas/pools/{pool_id}/members: the desired member list."""
    members: list[MemberCreate]

    @model_validator(mode='after')
    def _check_unique_members(self) -> Self:
        seen = set()
        for member in self.members:
            if member.identity in seen:
                address, port = member.identity
                raise ValidationFailure(f'Duplicate member entries for address {address} '
                                        f'and protocol_port {port}.')
            seen.add(member.identity)
        return self
