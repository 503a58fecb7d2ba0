"""/v2/lbaas/flavorprofiles and /v2/lbaas/availabilityzoneprofiles.

Both are the same thing for a different audience: a name, a provider and a
JSON string of provider metadata, admin only. A profile that a flavor (or
AZ) uses keeps its provider and metadata, and cannot be deleted.
"""
import dataclasses
from collections.abc import Callable
from typing import Any

import falcon
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from lbaas.api import admin_listing, admin_providers, base, errors
from lbaas.db import models
from lbaas.db import session as db
from lbaas.schemas import availability_zone as az_schema
from lbaas.schemas import flavor as flavor_schema

NIL_UUID = '00000000-0000-0000-0000-000000000000'


@dataclasses.dataclass
class ProfileKind:
    key: str            # envelope of one profile
    resource: str       # wording of 404 and 409 answers
    data_field: str     # the provider metadata attribute
    capability: str     # 'flavor' or 'availability_zone' (provider schemas)
    spec: base.Spec
    user_link: Any      # column of the users' reference to a profile
    create_schema: Any
    update_schema: Any


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


FLAVOR_PROFILE = ProfileKind(
    key='flavorprofile', resource='Flavor Profile', data_field='flavor_data',
    capability='flavor',
    # QUIRK: Octavia's links key is flavorprofile_links, not flavorprofiles_links.
    spec=_spec(models.FlavorProfile, 'flavor_data', 'flavorprofiles',
               'flavor-profile', 'flavorprofile_links'),
    user_link=models.Flavor.flavor_profile_id,
    create_schema=flavor_schema.FlavorProfileCreate,
    update_schema=flavor_schema.FlavorProfileUpdate)

AZ_PROFILE = ProfileKind(
    key='availability_zone_profile', resource='Availability Zone Profile',
    data_field='availability_zone_data', capability='availability_zone',
    spec=_spec(models.AvailabilityZoneProfile, 'availability_zone_data',
               'availability_zone_profiles', 'availability-zone-profile',
               'availability_zone_profile_links'),
    user_link=models.AvailabilityZone.availability_zone_profile_id,
    create_schema=az_schema.AvailabilityZoneProfileCreate,
    update_schema=az_schema.AvailabilityZoneProfileUpdate)

def _in_use(session: Session, kind: ProfileKind, profile_id: str) -> bool:
    count = session.scalar(select(func.count()).where(kind.user_link == profile_id))
    assert count is not None  # COUNT(*) always answers a number
    return count > 0


def _get(session: Session, kind: ProfileKind, profile_id: str) -> Any:
    profile = None if profile_id == NIL_UUID else session.get(kind.spec.model, profile_id)
    if profile is None:
        raise errors.NotFound(kind.resource, profile_id)
    return profile


class Collection:
    def __init__(self, kind: ProfileKind) -> None:
        self.kind = kind

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        model = self.kind.spec.model
        with db.reading() as session:
            admin_listing.catalogue_list(req, resp, session, self.kind.spec,
                                         select(model), model.id)

    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        kind = self.kind
        values = base.validate(kind.create_schema, base.read_body(req, kind.key)).model_dump()
        base.authorize(req, '%s:post' % kind.spec.policy)
        admin_providers.check_profile_data(values['provider_name'], values[kind.data_field],
                                           kind.capability)
        with base.write() as session:
            profile = kind.spec.model(**values)
            session.add(profile)
            session.flush()
            body = kind.spec.view(profile)
        base.respond(resp, 201, {kind.key: body})


class Item:
    def __init__(self, kind: ProfileKind) -> None:
        self.kind = kind

    def on_get(self, req: falcon.Request, resp: falcon.Response, profile_id: str) -> None:
        base.authorize(req, '%s:get_one' % self.kind.spec.policy)
        with db.reading() as session:
            body = self.kind.spec.view(_get(session, self.kind, profile_id))
        base.respond(resp, 200, {self.kind.key: body})

    def on_put(self, req: falcon.Request, resp: falcon.Response, profile_id: str) -> None:
        kind = self.kind
        data = base.validate(kind.update_schema, base.read_body(req, kind.key))
        changes = data.model_dump(exclude_unset=True)
        base.authorize(req, '%s:put' % kind.spec.policy)
        with base.write() as session:
            profile = _get(session, kind, profile_id)
            if {'provider_name', kind.data_field} & changes.keys():
                # What users were built from must not change under them.
                if _in_use(session, kind, profile_id):
                    raise errors.Conflict('%s %s is in use and cannot be modified.'
                                          % (kind.resource, profile_id))
                admin_providers.check_profile_data(
                    changes.get('provider_name', profile.provider_name),
                    changes.get(kind.data_field, getattr(profile, kind.data_field)),
                    kind.capability)
            for field, value in changes.items():
                setattr(profile, field, value)
            body = kind.spec.view(profile)
        base.respond(resp, 200, {kind.key: body})

    def on_delete(self, req: falcon.Request, resp: falcon.Response, profile_id: str) -> None:
        kind = self.kind
        base.authorize(req, '%s:delete' % kind.spec.policy)
        with base.write() as session:
            profile = _get(session, kind, profile_id)
            if _in_use(session, kind, profile_id):
                raise errors.Conflict('%s %s is in use and cannot be modified.'
                                      % (kind.resource, profile_id))
            session.delete(profile)
        base.respond(resp, 204)


def routes() -> list[tuple[str, object]]:
    return [('/flavorprofiles', Collection(FLAVOR_PROFILE)),
            ('/flavorprofiles/{profile_id}', Item(FLAVOR_PROFILE)),
            ('/availabilityzoneprofiles', Collection(AZ_PROFILE)),
            ('/availabilityzoneprofiles/{profile_id}', Item(AZ_PROFILE))]
