"""/v2/lbaas/flavors and /v2/lbaas/availabilityzones.

What users pick when they create a load balancer: anyone may read them,
only admins write them. A flavor is keyed by id and an availability zone by
its name. The generic handlers of `crud` serve them as catalogue kinds (no
project, paged on their key); the writes are `lbaas.service.catalog`'s.
"""
from typing import Any

from sqlalchemy import select

from lbaas.api import base, crud
from lbaas.db import models
from lbaas.schemas import availability_zone as az_schema
from lbaas.schemas import flavor as flavor_schema
from lbaas.service import catalog


def _flavor_view(flavor: models.Flavor) -> dict[str, Any]:
    return {'id': flavor.id, 'name': flavor.name or '',
            'description': flavor.description or '', 'enabled': flavor.enabled,
            'flavor_profile_id': flavor.flavor_profile_id}


def _zone_view(zone: models.AvailabilityZone) -> dict[str, Any]:
    return {'name': zone.name, 'description': zone.description or '',
            'enabled': zone.enabled,
            'availability_zone_profile_id': zone.availability_zone_profile_id}


F, AZ = models.Flavor, models.AvailabilityZone
FLAVOR = crud.Kind(
    key='flavor',
    spec=base.Spec(F, {'id': F.id, 'name': F.name, 'description': F.description,
                       'enabled': F.enabled, 'flavor_profile_id': F.flavor_profile_id},
                   _flavor_view, 'flavors', 'flavor'),
    create_schema=flavor_schema.FlavorCreate, update_schema=flavor_schema.FlavorUpdate,
    get=catalog.get_flavor, create=catalog.create_flavor, update=catalog.update_flavor,
    delete=catalog.delete_flavor, list_stmt=lambda: select(F), catalogue_key=F.id)

AVAILABILITY_ZONE = crud.Kind(
    key='availability_zone',
    spec=base.Spec(AZ, {'name': AZ.name, 'description': AZ.description,
                        'enabled': AZ.enabled,
                        'availability_zone_profile_id': AZ.availability_zone_profile_id},
                   _zone_view, 'availability_zones', 'availability-zone'),
    create_schema=az_schema.AvailabilityZoneCreate,
    update_schema=az_schema.AvailabilityZoneUpdate,
    get=catalog.get_zone, create=catalog.create_zone, update=catalog.update_zone,
    delete=catalog.delete_zone, list_stmt=lambda: select(AZ), catalogue_key=AZ.name)


def routes() -> list[tuple[str, object]]:
    return [('/flavors', crud.Collection(FLAVOR)), ('/flavors/{obj_id}', crud.Item(FLAVOR)),
            ('/availabilityzones', crud.Collection(AVAILABILITY_ZONE)),
            ('/availabilityzones/{obj_id}', crud.Item(AVAILABILITY_ZONE))]
