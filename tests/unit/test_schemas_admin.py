"""Quota, flavor, flavor profile, availability zone and AZ profile schemas."""
import json

import pytest

from lbaas.schemas.availability_zone import (
    AvailabilityZoneCreate,
    AvailabilityZoneProfileCreate,
    AvailabilityZoneProfileUpdate,
    AvailabilityZoneUpdate,
)
from lbaas.schemas.flavor import (
    FlavorCreate,
    FlavorProfileCreate,
    FlavorProfileUpdate,
    FlavorUpdate,
)
from lbaas.schemas.quota import QuotaUpdate
from tests.unit.test_schemas_support import (
    AZ,
    AZ_PROFILE,
    FLAVOR,
    FLAVOR_PROFILE,
    UUID1,
    error_message,
    valid,
    with_,
)

QUOTAS = ['loadbalancer', 'listener', 'member', 'pool', 'healthmonitor', 'l7policy', 'l7rule']


@pytest.mark.parametrize('field', QUOTAS)
def test_quota_boundaries(field):
    for value in (-1, 0, 2000000000):
        assert getattr(valid(QuotaUpdate, {field: value}), field) == value
    assert 'greater or equal to -1' in error_message(QuotaUpdate, {field: -2})
    assert 'lower or equal to 2000000000' in error_message(QuotaUpdate, {field: 2000000001})
    assert 'Expected an integer' in error_message(QuotaUpdate, {field: 'five'})
    assert valid(QuotaUpdate, {field: None}).model_dump(exclude_unset=True) == {field: None}


@pytest.mark.parametrize('old,new', [('load_balancer', 'loadbalancer'),
                                     ('health_monitor', 'healthmonitor')])
def test_quota_deprecated_spellings(old, new):
    assert valid(QuotaUpdate, {old: 5}).model_dump(exclude_unset=True) == {new: 5}
    assert valid(QuotaUpdate, {old: 5, new: 7}).model_dump(exclude_unset=True) == {new: 7}
    assert 'lower or equal' in error_message(QuotaUpdate, {old: 2000000001})


def test_quota_unknown_resource():
    assert 'Unknown attribute' in error_message(QuotaUpdate, {'amphora': 1})
    assert 'Unknown attribute' in error_message(QuotaUpdate, {'project_id': UUID1})


def test_flavor():
    created = valid(FlavorCreate, FLAVOR)
    assert (created.enabled, created.description) == (True, None)
    for field in ('name', 'flavor_profile_id'):
        body = with_(FLAVOR, **{field: ...})
        assert 'Mandatory field missing' in error_message(FlavorCreate, body)
    assert 'UUID format' in error_message(FlavorCreate, with_(FLAVOR, flavor_profile_id='fp'))
    assert 'maximum character requirement of 255' in error_message(
        FlavorCreate, with_(FLAVOR, description='d' * 256))
    assert valid(FlavorUpdate, {'enabled': False, 'description': None}).enabled is False
    assert 'Unknown attribute' in error_message(FlavorUpdate, {'flavor_profile_id': UUID1})


def test_availability_zone():
    created = valid(AvailabilityZoneCreate, AZ)
    assert created.enabled is True
    for field in ('name', 'availability_zone_profile_id'):
        assert 'Mandatory field missing' in error_message(AvailabilityZoneCreate,
                                                          with_(AZ, **{field: ...}))
    assert valid(AvailabilityZoneUpdate, {'description': 'd'}).description == 'd'
    for field in ('name', 'availability_zone_profile_id'):
        assert 'Unknown attribute' in error_message(AvailabilityZoneUpdate, {field: 'x'})


PROFILES = [(FlavorProfileCreate, FlavorProfileUpdate, FLAVOR_PROFILE, 'flavor_data'),
            (AvailabilityZoneProfileCreate, AvailabilityZoneProfileUpdate, AZ_PROFILE,
             'availability_zone_data')]


@pytest.mark.parametrize('create,update,body,data_field', PROFILES)
def test_profile_data_is_a_json_object_of_at_most_4096(create, update, body, data_field):
    padded = json.dumps({'k': 'v' * (4096 - 9)})
    assert len(padded) == 4096
    assert getattr(valid(create, with_(body, **{data_field: padded})), data_field) == padded
    too_long = json.dumps({'k': 'v' * (4097 - 9)})
    assert 'maximum character requirement of 4096' in error_message(
        create, with_(body, **{data_field: too_long}))
    for bad in ('not json', '[1, 2]', '"text"', '{'):
        assert error_message(create, with_(body, **{data_field: bad})) == (
            f'{bad} is not a valid option for {data_field}')
    assert 'Wrong type. Expected a string' in error_message(
        create, with_(body, **{data_field: {'k': 'v'}}))


@pytest.mark.parametrize('create,update,body,data_field', PROFILES)
def test_profile_fields(create, update, body, data_field):
    for field in ('name', 'provider_name', data_field):
        assert 'Mandatory field missing' in error_message(create, with_(body, **{field: ...}))
    assert 'maximum character requirement of 255' in error_message(
        create, with_(body, provider_name='p' * 256))
    assert valid(update, {'provider_name': 'noop'}).model_dump(exclude_unset=True) == {
        'provider_name': 'noop'}
    assert 'not a valid option' in error_message(update, {data_field: 'nope'})
