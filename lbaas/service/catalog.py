"""Writes of the operator catalogue: flavors, availability zones, their profiles.

What users pick when they create a load balancer. A flavor is keyed by id and
an availability zone by its name; each points at a profile and is in use while
a load balancer names it. A profile is a name, a provider and a JSON string of
provider metadata; while a flavor (or AZ) uses it, its provider and metadata
stay as they are and it cannot be deleted. None of these belong to a project.
Provider metadata is checked the way the provider would (`providers`).
"""
import dataclasses
from typing import Any, Generic, TypeVar, cast

from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from lbaas import errors
from lbaas.db import models
from lbaas.service import lifecycle, providers

NIL_UUID = '00000000-0000-0000-0000-000000000000'
LB = models.LoadBalancer
T = TypeVar('T')


@dataclasses.dataclass(frozen=True)
class _Entry(Generic[T]):
    """A flavor or an availability zone table, with Octavia's wording of it."""
    model: type[T]
    resource: str        # wording of 404 and in-use 409 answers
    record: str          # wording of the duplicate-name 409
    profile_model: Any
    profile_field: str   # the entry's reference to its profile
    lb_column: Any       # a load balancer's reference to the entry


@dataclasses.dataclass(frozen=True)
class _Profile(Generic[T]):
    """A flavor profile or an availability zone profile table."""
    model: type[T]
    resource: str        # wording of 404 and 409 answers
    data_field: str      # the provider metadata attribute
    capability: str      # 'flavor' or 'availability_zone' (provider schemas)
    user_link: Any       # column of the users' reference to a profile


_FLAVOR = _Entry(models.Flavor, 'Flavor', 'flavor', models.FlavorProfile,
                 'flavor_profile_id', LB.flavor_id)
_ZONE = _Entry(models.AvailabilityZone, 'Availability Zone', 'availability zone',
               models.AvailabilityZoneProfile, 'availability_zone_profile_id',
               LB.availability_zone)
_FLAVOR_PROFILE = _Profile(models.FlavorProfile, 'Flavor Profile', 'flavor_data',
                           'flavor', models.Flavor.flavor_profile_id)
_ZONE_PROFILE = _Profile(models.AvailabilityZoneProfile, 'Availability Zone Profile',
                         'availability_zone_data', 'availability_zone',
                         models.AvailabilityZone.availability_zone_profile_id)


def _get(session: Session, model: type[T], resource: str, key: str) -> T:
    # Octavia answers 404 for the NIL UUID before looking anything up.
    row = None if key == NIL_UUID else session.get(model, key)
    if row is None:
        raise errors.NotFound(resource, key)
    return row


# Flavors and availability zones.

def _require_unique_name(session: Session, table: _Entry[T], name: str,
                         entry: T | None = None) -> None:
    model: Any = table.model
    taken = session.scalars(select(model).where(model.name == name)).first()
    if taken is not None and taken is not entry:
        raise errors.Conflict('A %s of %s already exists.' % (table.record, name))


def _flush_unique(session: Session, table: _Entry[T], name: str) -> None:
    """Flush; a name taken meanwhile by a concurrent request is a 409 too."""
    try:
        session.flush()
    except IntegrityError:
        raise errors.Conflict('A %s of %s already exists.' % (table.record, name))


def _create_entry(session: Session, table: _Entry[T], values: dict[str, Any]) -> T:
    profile_id = values[table.profile_field]
    if session.get(table.profile_model, profile_id) is None:
        raise errors.InvalidInput('%s is not a valid option for %s'
                                  % (profile_id, table.profile_field))
    _require_unique_name(session, table, values['name'])
    entry = table.model(**values)
    session.add(entry)
    _flush_unique(session, table, values['name'])
    return entry


def _update_entry(session: Session, table: _Entry[T], key: str,
                  changes: dict[str, Any]) -> T:
    entry = _get(session, table.model, table.resource, key)
    if 'name' in changes:
        _require_unique_name(session, table, changes['name'], entry)
    for field, value in changes.items():
        setattr(entry, field, value)
    _flush_unique(session, table, cast(Any, entry).name)  # T is any entry model
    return entry


def _delete_entry(session: Session, table: _Entry[T], key: str) -> None:
    """409 while a live LB uses the entry; deleted LBs just let go of it."""
    entry = _get(session, table.model, table.resource, key)
    in_use = session.scalar(select(func.count()).where(
        table.lb_column == key, LB.provisioning_status != lifecycle.DELETED))
    if in_use:
        raise errors.Conflict('%s %s is in use and cannot be modified.'
                              % (table.resource, key))
    # Deleted LB rows stay until housekeeping purges them; their foreign key
    # would otherwise block the delete on PostgreSQL and MariaDB.
    session.execute(update(LB).where(table.lb_column == key)
                    .values({table.lb_column.key: None}))
    session.delete(entry)


def get_flavor(session: Session, flavor_id: str) -> models.Flavor:
    return _get(session, models.Flavor, _FLAVOR.resource, flavor_id)


def create_flavor(session: Session, values: dict[str, Any]) -> models.Flavor:
    return _create_entry(session, _FLAVOR, values)


def update_flavor(session: Session, flavor_id: str, changes: dict[str, Any]) -> models.Flavor:
    return _update_entry(session, _FLAVOR, flavor_id, changes)


def delete_flavor(session: Session, flavor_id: str) -> None:
    _delete_entry(session, _FLAVOR, flavor_id)


def get_zone(session: Session, name: str) -> models.AvailabilityZone:
    return _get(session, models.AvailabilityZone, _ZONE.resource, name)


def create_zone(session: Session, values: dict[str, Any]) -> models.AvailabilityZone:
    return _create_entry(session, _ZONE, values)


def update_zone(session: Session, name: str,
                changes: dict[str, Any]) -> models.AvailabilityZone:
    return _update_entry(session, _ZONE, name, changes)


def delete_zone(session: Session, name: str) -> None:
    _delete_entry(session, _ZONE, name)


# Flavor profiles and availability zone profiles.

def _in_use(session: Session, table: _Profile[T], profile_id: str) -> bool:
    count = session.scalar(select(func.count()).where(table.user_link == profile_id))
    assert count is not None  # COUNT(*) always answers a number
    return count > 0


def _refuse_in_use(session: Session, table: _Profile[T], profile_id: str) -> None:
    if _in_use(session, table, profile_id):
        raise errors.Conflict('%s %s is in use and cannot be modified.'
                              % (table.resource, profile_id))


def _create_profile(session: Session, table: _Profile[T], values: dict[str, Any]) -> T:
    providers.check_profile_data(
        values['provider_name'], values[table.data_field], table.capability)
    profile = table.model(**values)
    session.add(profile)
    session.flush()
    return profile


def _update_profile(session: Session, table: _Profile[T], profile_id: str,
                    changes: dict[str, Any]) -> T:
    profile = _get(session, table.model, table.resource, profile_id)
    if {'provider_name', table.data_field} & changes.keys():
        # What users were built from must not change under them.
        _refuse_in_use(session, table, profile_id)
        providers.check_profile_data(
            changes.get('provider_name', cast(Any, profile).provider_name),
            changes.get(table.data_field, getattr(profile, table.data_field)),
            table.capability)
    for field, value in changes.items():
        setattr(profile, field, value)
    return profile


def _delete_profile(session: Session, table: _Profile[T], profile_id: str) -> None:
    profile = _get(session, table.model, table.resource, profile_id)
    _refuse_in_use(session, table, profile_id)
    session.delete(profile)


def get_flavor_profile(session: Session, profile_id: str) -> models.FlavorProfile:
    return _get(session, models.FlavorProfile, _FLAVOR_PROFILE.resource, profile_id)


def create_flavor_profile(session: Session, values: dict[str, Any]) -> models.FlavorProfile:
    return _create_profile(session, _FLAVOR_PROFILE, values)


def update_flavor_profile(session: Session, profile_id: str, changes: dict[str, Any]) -> models.FlavorProfile:
    return _update_profile(session, _FLAVOR_PROFILE, profile_id, changes)


def delete_flavor_profile(session: Session, profile_id: str) -> None:
    _delete_profile(session, _FLAVOR_PROFILE, profile_id)


def get_zone_profile(session: Session, profile_id: str) -> models.AvailabilityZoneProfile:
    return _get(session, models.AvailabilityZoneProfile, _ZONE_PROFILE.resource, profile_id)


def create_zone_profile(session: Session, values: dict[str, Any]) -> models.AvailabilityZoneProfile:
    return _create_profile(session, _ZONE_PROFILE, values)


def update_zone_profile(session: Session, profile_id: str, changes: dict[str, Any]) -> models.AvailabilityZoneProfile:
    return _update_profile(session, _ZONE_PROFILE, profile_id, changes)


def delete_zone_profile(session: Session, profile_id: str) -> None:
    _delete_profile(session, _ZONE_PROFILE, profile_id)
