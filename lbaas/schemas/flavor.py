"""Flavor and flavor profile request bodies (reference 1.7 "Flavor")."""
import json
from collections.abc import Callable
from typing import Annotated, Any

from pydantic import AfterValidator, Field

from lbaas.schemas import common as c
from lbaas.schemas.common import InvalidOption, RequestModel

# PUT null is refused on the mandatory fields (NOT_NULL); elsewhere it clears.
UPDATE_NULL_DEFAULTS: dict[str, Any] = {}


def json_object_checker(option: str) -> Callable[[str], str]:
    """A validator: the string must hold a JSON object (provider metadata)."""
    def check(value: str) -> str:
        try:
            parsed = json.loads(value)
        except ValueError:
            parsed = None
        if not isinstance(parsed, dict):
            raise InvalidOption(value, option)
        return value
    return check


ProviderName = Annotated[str, Field(max_length=255)]
FlavorData = Annotated[str, Field(max_length=c.MAX_PROFILE_DATA_LENGTH),
                       AfterValidator(json_object_checker('flavor_data'))]


class FlavorCreate(RequestModel):
    """POST /v2/lbaas/flavors."""
    name: c.Name
    description: c.Description | None = None
    enabled: bool = True
    flavor_profile_id: c.Uuid


class FlavorUpdate(RequestModel):
    """PUT /v2/lbaas/flavors/{id}; the profile cannot change."""
    NOT_NULL = ('name', 'enabled')
    name: c.Name | None = None
    description: c.Description | None = None
    enabled: bool | None = None


class FlavorProfileCreate(RequestModel):
    """POST /v2/lbaas/flavorprofiles. The provider validates flavor_data's keys."""
    name: c.Name
    provider_name: ProviderName
    flavor_data: FlavorData


class FlavorProfileUpdate(RequestModel):
    """PUT /v2/lbaas/flavorprofiles/{id}."""
    NOT_NULL = ('name', 'provider_name', 'flavor_data')
    name: c.Name | None = None
    provider_name: ProviderName | None = None
    flavor_data: FlavorData | None = None
