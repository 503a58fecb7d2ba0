"""/v2/lbaas/flavorprofiles and /v2/lbaas/availabilityzoneprofiles.

Both are the same thing for a different audience: a name, a provider and a
JSON string of provider metadata, admin only. The generic handlers of `crud`
serve them as catalogue kinds; the writes are `lbaas.service.catalog`'s,
which checks the metadata with the provider rules of `service.providers`.
"""
from collections.abc import Callable
from typing import Any

from sqlalchemy import select

from lbaas.api import base, crud
from lbaas.db import models
from lbaas.schemas import availability_zone as az_schema
from lbaas.schemas import flavor as flavor_schema
from lbaas.service import catalog


def _profile_view(data_field: str) -> Callable[[Any], dict[str, Any]]:
    def view(profile: Any) -> dict[str, Any]:
        return {'id': profile.id, 'name': profile.name or '',
                'provider_name': profile.provider_name,
                data_field: getattr(profile, data_field)}
    return view


def _spec(model: Any, data_field: str, plural: str, policy: str, links_key: str) -> base.Spec:
    columns = {'id': model.id, 'name': model.name, 'provider_name': model.provider_name,
               data_field: getattr(model, data_field)}
    return base.Spec(model, columns, _profile_view(data_field), plural, policy, links_key)


FP, AZP = models.FlavorProfile, models.AvailabilityZoneProfile
FLAVOR_PROFILE = crud.Kind(
    key='flavorprofile',
    # QUIRK: Octavia's links key is flavorprofile_links, not flavorprofiles_links.
    spec=_spec(FP, 'flavor_data', 'flavorprofiles', 'flavor-profile',
               'flavorprofile_links'),
    create_schema=flavor_schema.FlavorProfileCreate,
    update_schema=flavor_schema.FlavorProfileUpdate,
    get=catalog.get_flavor_profile, create=catalog.create_flavor_profile,
    update=catalog.update_flavor_profile, delete=catalog.delete_flavor_profile,
    list_stmt=lambda: select(FP), catalogue_key=FP.id)

AZ_PROFILE = crud.Kind(
    key='availability_zone_profile',
    spec=_spec(AZP, 'availability_zone_data', 'availability_zone_profiles',
               'availability-zone-profile', 'availability_zone_profile_links'),
    create_schema=az_schema.AvailabilityZoneProfileCreate,
    update_schema=az_schema.AvailabilityZoneProfileUpdate,
    get=catalog.get_zone_profile, create=catalog.create_zone_profile,
    update=catalog.update_zone_profile, delete=catalog.delete_zone_profile,
    list_stmt=lambda: select(AZP), catalogue_key=AZP.id)


def routes() -> list[tuple[str, object]]:
    return [('/flavorprofiles', crud.Collection(FLAVOR_PROFILE)),
            ('/flavorprofiles/{obj_id}', crud.Item(FLAVOR_PROFILE)),
            ('/availabilityzoneprofiles', crud.Collection(AZ_PROFILE)),
            ('/availabilityzoneprofiles/{obj_id}', crud.Item(AZ_PROFILE))]
