"""Availability zone and AZ profile request bodies (reference 1.7)."""
from typing import Annotated, Any

from pydantic import AfterValidator, Field

from lbaas.schemas import common as c
from lbaas.schemas.common import RequestModel
from lbaas.schemas.flavor import ProviderName, json_object_checker

# PUT null is refused on the mandatory fields (NOT_NULL); elsewhere it clears.
UPDATE_NULL_DEFAULTS: dict[str, Any] = {}

AvailabilityZoneData = Annotated[str, Field(max_length=c.MAX_PROFILE_DATA_LENGTH),
                                 AfterValidator(json_object_checker('availability_zone_data'))]


class AvailabilityZoneCreate(RequestModel):
    """POST /v2/lbaas/availabilityzones. The name is the key."""
    name: c.Name
    description: c.Description | None = None
    enabled: bool = True
    availability_zone_profile_id: c.Uuid


class AvailabilityZoneUpdate(RequestModel):
    """PUT /v2/lbaas/availabilityzones/{name}; name and profile cannot change."""
    NOT_NULL = ('enabled',)
    description: c.Description | None = None
    enabled: bool | None = None


class AvailabilityZoneProfileCreate(RequestModel):
    """POST /v2/lbaas/availabilityzoneprofiles. The provider validates the keys."""
    name: c.Name
    provider_name: ProviderName
    availability_zone_data: AvailabilityZoneData


class AvailabilityZoneProfileUpdate(RequestModel):
    """PUT /v2/lbaas/availabilityzoneprofiles/{id}."""
    NOT_NULL = ('name', 'provider_name', 'availability_zone_data')
    name: c.Name | None = None
    provider_name: ProviderName | None = None
    availability_zone_data: AvailabilityZoneData | None = None
