"""/v2/lbaas/flavors and /v2/lbaas/availabilityzones.

What users pick when they create a load balancer: anyone may read them,
only admins write them. A flavor is keyed by id and an availability zone by
its name; each points at a profile and is in use while a load balancer
names it.
"""
import dataclasses
from typing import Any

import falcon
from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from lbaas.api import admin_listing, admin_profiles, base, errors
from lbaas.db import models
from lbaas.db import session as db
from lbaas.schemas import availability_zone as az_schema
from lbaas.schemas import flavor as flavor_schema
from lbaas.service import lifecycle

LB = models.LoadBalancer


@dataclasses.dataclass
class EntryKind:
    key: str                 # envelope of one object
    resource: str            # wording of 404 and in-use 409 answers
    record: str              # wording of the duplicate-name 409
    spec: base.Spec
    key_column: Any          # what the URL names: Flavor.id, AvailabilityZone.name
    profile: admin_profiles.ProfileKind
    profile_field: str
    lb_column: Any           # a load balancer's reference to this object
    create_schema: Any
    update_schema: Any


def _flavor_view(flavor: models.Flavor) -> dict[str, Any]:
    return {'id': flavor.id, 'name': flavor.name or '',
            'description': flavor.description or '', 'enabled': flavor.enabled,
            'flavor_profile_id': flavor.flavor_profile_id}


def _zone_view(zone: models.AvailabilityZone) -> dict[str, Any]:
    return {'name': zone.name, 'description': zone.description or '',
            'enabled': zone.enabled,
            'availability_zone_profile_id': zone.availability_zone_profile_id}


F, AZ = models.Flavor, models.AvailabilityZone
FLAVOR = EntryKind(
    key='flavor', resource='Flavor', record='flavor',
    spec=base.Spec(F, {'id': F.id, 'name': F.name, 'description': F.description,
                       'enabled': F.enabled, 'flavor_profile_id': F.flavor_profile_id},
                   _flavor_view, 'flavors', 'flavor'),
    key_column=F.id, profile=admin_profiles.FLAVOR_PROFILE,
    profile_field='flavor_profile_id', lb_column=LB.flavor_id,
    create_schema=flavor_schema.FlavorCreate, update_schema=flavor_schema.FlavorUpdate)

AVAILABILITY_ZONE = EntryKind(
    key='availability_zone', resource='Availability Zone', record='availability zone',
    spec=base.Spec(AZ, {'name': AZ.name, 'description': AZ.description,
                        'enabled': AZ.enabled,
                        'availability_zone_profile_id': AZ.availability_zone_profile_id},
                   _zone_view, 'availability_zones', 'availability-zone'),
    key_column=AZ.name, profile=admin_profiles.AZ_PROFILE,
    profile_field='availability_zone_profile_id', lb_column=LB.availability_zone,
    create_schema=az_schema.AvailabilityZoneCreate,
    update_schema=az_schema.AvailabilityZoneUpdate)


def _get(session: Session, kind: EntryKind, key: str) -> Any:
    # Octavia answers 404 for the NIL UUID before looking anything up.
    entry = None if key == admin_profiles.NIL_UUID else session.get(kind.spec.model, key)
    if entry is None:
        raise errors.NotFound(kind.resource, key)
    return entry


def _require_unique_name(session: Session, kind: EntryKind, name: str,
                         entry: Any = None) -> None:
    model = kind.spec.model
    taken = session.scalars(select(model).where(model.name == name)).first()
    if taken is not None and taken is not entry:
        raise errors.Conflict('A %s of %s already exists.' % (kind.record, name))


def _flush_unique(session: Session, kind: EntryKind, name: str) -> None:
    """Flush; a name taken meanwhile by a concurrent request is a 409 too."""
    try:
        session.flush()
    except IntegrityError:
        raise errors.Conflict('A %s of %s already exists.' % (kind.record, name))


def _release_or_refuse(session: Session, kind: EntryKind, key: str) -> None:
    """409 while a live LB uses the entry; deleted LBs just let go of it."""
    in_use = session.scalar(select(func.count()).where(
        kind.lb_column == key, LB.provisioning_status != lifecycle.DELETED))
    if in_use:
        raise errors.Conflict('%s %s is in use and cannot be modified.'
                              % (kind.resource, key))
    # Deleted LB rows stay until housekeeping purges them; their foreign key
    # would otherwise block the delete on PostgreSQL and MariaDB.
    session.execute(update(LB).where(kind.lb_column == key)
                    .values({kind.lb_column.key: None}))


class Collection:
    def __init__(self, kind: EntryKind) -> None:
        self.kind = kind

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        kind = self.kind
        with db.reading() as session:
            admin_listing.catalogue_list(req, resp, session, kind.spec,
                                         select(kind.spec.model), kind.key_column)

    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        kind = self.kind
        values = base.validate(kind.create_schema, base.read_body(req, kind.key)).model_dump()
        base.authorize(req, '%s:post' % kind.spec.policy)
        with base.write() as session:
            profile_id = values[kind.profile_field]
            if session.get(kind.profile.spec.model, profile_id) is None:
                raise errors.InvalidInput('%s is not a valid option for %s'
                                          % (profile_id, kind.profile_field))
            _require_unique_name(session, kind, values['name'])
            entry = kind.spec.model(**values)
            session.add(entry)
            _flush_unique(session, kind, values['name'])
            body = kind.spec.view(entry)
        base.respond(resp, 201, {kind.key: body})


class Item:
    def __init__(self, kind: EntryKind) -> None:
        self.kind = kind

    def on_get(self, req: falcon.Request, resp: falcon.Response, key: str) -> None:
        base.authorize(req, '%s:get_one' % self.kind.spec.policy)
        with db.reading() as session:
            body = self.kind.spec.view(_get(session, self.kind, key))
        base.respond(resp, 200, {self.kind.key: body})

    def on_put(self, req: falcon.Request, resp: falcon.Response, key: str) -> None:
        kind = self.kind
        data = base.validate(kind.update_schema, base.read_body(req, kind.key))
        changes = data.model_dump(exclude_unset=True)
        base.authorize(req, '%s:put' % kind.spec.policy)
        with base.write() as session:
            entry = _get(session, kind, key)
            if 'name' in changes:
                _require_unique_name(session, kind, changes['name'], entry)
            for field, value in changes.items():
                setattr(entry, field, value)
            _flush_unique(session, kind, entry.name)
            body = kind.spec.view(entry)
        base.respond(resp, 200, {kind.key: body})

    def on_delete(self, req: falcon.Request, resp: falcon.Response, key: str) -> None:
        kind = self.kind
        base.authorize(req, '%s:delete' % kind.spec.policy)
        with base.write() as session:
            entry = _get(session, kind, key)
            _release_or_refuse(session, kind, key)
            session.delete(entry)
        base.respond(resp, 204)


def routes() -> list[tuple[str, object]]:
    return [('/flavors', Collection(FLAVOR)), ('/flavors/{key}', Item(FLAVOR)),
            ('/availabilityzones', Collection(AVAILABILITY_ZONE)),
            ('/availabilityzones/{key}', Item(AVAILABILITY_ZONE))]
