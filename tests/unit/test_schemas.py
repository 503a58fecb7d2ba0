"""Behaviour shared by every request schema, and the common helpers."""
import pydantic
import pytest
from hypothesis import given
from hypothesis import strategies as st

from lbaas.schemas import (
    availability_zone,
    common,
    flavor,
    healthmonitor,
    l7policy,
    l7rule,
    listener,
    loadbalancer,
    member,
    pool,
    quota,
)
from lbaas.schemas.common import (
    ValidationFailure,
    apply_null_defaults,
    format_validation_error,
    parse_bool,
)
from tests.unit.test_schemas_support import (
    AZ,
    AZ_PROFILE,
    FLAVOR,
    FLAVOR_PROFILE,
    HM,
    L7POLICY,
    L7RULE,
    LB,
    LISTENER,
    MEMBER,
    POOL,
    UUID1,
    error_message,
    valid,
    with_,
)

# (model, minimal valid body, envelope key used as the error root)
CREATE_BODIES = [
    (loadbalancer.LoadBalancerCreate, LB, 'loadbalancer'),
    (listener.ListenerCreate, LISTENER, 'listener'),
    (pool.PoolCreate, POOL, 'pool'),
    (member.MemberCreate, MEMBER, 'member'),
    (healthmonitor.HealthMonitorCreate, HM, 'healthmonitor'),
    (l7policy.L7PolicyCreate, L7POLICY, 'l7policy'),
    (l7rule.L7RuleCreate, L7RULE, 'rule'),
    (flavor.FlavorCreate, FLAVOR, 'flavor'),
    (flavor.FlavorProfileCreate, FLAVOR_PROFILE, 'flavorprofile'),
    (availability_zone.AvailabilityZoneCreate, AZ, 'availability_zone'),
    (availability_zone.AvailabilityZoneProfileCreate, AZ_PROFILE, 'availability_zone_profile'),
]
PROJECT_SCOPED = CREATE_BODIES[:7]
UPDATE_MODELS = [loadbalancer.LoadBalancerUpdate, listener.ListenerUpdate, pool.PoolUpdate,
                 member.MemberUpdate, healthmonitor.HealthMonitorUpdate,
                 l7policy.L7PolicyUpdate, l7rule.L7RuleUpdate]
NAMED_UPDATES = UPDATE_MODELS[:6] + [flavor.FlavorUpdate]
ALL_UPDATES = UPDATE_MODELS + [quota.QuotaUpdate, flavor.FlavorUpdate,
                               flavor.FlavorProfileUpdate, availability_zone.AvailabilityZoneUpdate,
                               availability_zone.AvailabilityZoneProfileUpdate]
ids = [m.__name__ for m, _, _ in CREATE_BODIES]


@pytest.mark.parametrize('model,body,root', CREATE_BODIES, ids=ids)
def test_minimal_body_is_valid(model, body, root):
    valid(model, body)


@pytest.mark.parametrize('model,body,root', CREATE_BODIES, ids=ids)
def test_unknown_attribute_is_rejected(model, body, root):
    message = error_message(model, with_(body, bogus=1), root)
    assert message == ("Invalid input for field/attribute bogus. Value: '1'. "
                       f'Unknown attribute for argument {root}')


@pytest.mark.parametrize('model', ALL_UPDATES, ids=lambda m: m.__name__)
def test_update_rejects_unknown_attribute_and_accepts_empty_body(model):
    assert 'Unknown attribute' in error_message(model, {'id': UUID1})
    if model is not l7policy.L7PolicyUpdate:  # an empty policy update is a 400
        assert valid(model, {}).model_dump(exclude_unset=True) == {}


@pytest.mark.parametrize('model,body,root', PROJECT_SCOPED, ids=ids[:7])
def test_tenant_id_is_an_alias_of_project_id(model, body, root):
    assert valid(model, with_(body, tenant_id='p1')).project_id == 'p1'
    assert valid(model, with_(body, tenant_id='p1', project_id='p2')).project_id == 'p2'
    assert valid(model, with_(body, project_id='x' * 36)).project_id == 'x' * 36
    assert 'maximum character requirement of 36' in error_message(
        model, with_(body, tenant_id='x' * 37))


@pytest.mark.parametrize('model,body', [(m, {}) for m in UPDATE_MODELS] + [
    (flavor.FlavorCreate, FLAVOR), (availability_zone.AvailabilityZoneCreate, AZ)],
    ids=lambda m: getattr(m, '__name__', ''))
def test_tenant_id_is_unknown_where_there_is_no_project_id(model, body):
    assert 'Unknown attribute' in error_message(model, with_(body, tenant_id='p1'))


@pytest.mark.parametrize('model,body,root', PROJECT_SCOPED, ids=ids[:7])
def test_admin_state_up_defaults_true_and_null_means_false(model, body, root):
    assert valid(model, body).admin_state_up is True
    assert valid(model, with_(body, admin_state_up=None)).admin_state_up is False
    assert valid(model, with_(body, admin_state_up=False)).admin_state_up is False
    assert 'unambiguous boolean' in error_message(model, with_(body, admin_state_up='maybe'))


@pytest.mark.parametrize('model', UPDATE_MODELS, ids=lambda m: m.__name__)
def test_update_admin_state_up_null_means_false(model):
    extra = {'action': 'REJECT'} if model is l7policy.L7PolicyUpdate else {}
    update = valid(model, {'admin_state_up': None, **extra})
    assert update.model_dump(exclude_unset=True)['admin_state_up'] is False


@pytest.mark.parametrize('model,body,root', PROJECT_SCOPED, ids=ids[:7])
def test_tags_default_empty_and_are_bounded(model, body, root):
    assert valid(model, body).tags == []
    assert valid(model, with_(body, tags=None)).tags == []
    assert valid(model, with_(body, tags=['t' * 255])).tags == ['t' * 255]
    message = error_message(model, with_(body, tags=['ok', 't' * 256]))
    assert message.startswith("Invalid input for field/attribute tags[1]. Value: 'ttt")
    assert 'Wrong type. Expected a list' in error_message(model, with_(body, tags='a'))


@pytest.mark.parametrize('model,field', [
    (m, f) for m in NAMED_UPDATES for f in ('name', 'description') if f in m.model_fields],
    ids=lambda x: getattr(x, '__name__', x))
def test_name_and_description_are_at_most_255(model, field):
    extra = {'action': 'REJECT'} if model is l7policy.L7PolicyUpdate else {}
    assert getattr(valid(model, {field: 'n' * 255, **extra}), field) == 'n' * 255
    assert error_message(model, {field: 'n' * 256}).endswith(
        'Value should have a maximum character requirement of 255')
    assert 'Wrong type. Expected a string' in error_message(model, {field: 5})


def test_null_on_put_is_kept_in_the_dump():
    update = valid(member.MemberUpdate, {'weight': None, 'name': None})
    assert update.model_dump(exclude_unset=True) == {'weight': None, 'name': None}
    applied = apply_null_defaults(update.model_dump(exclude_unset=True),
                                  member.UPDATE_NULL_DEFAULTS)
    assert applied == {'weight': 1, 'name': None}


def test_apply_null_defaults_copies_mutable_defaults():
    first = apply_null_defaults({'tags': None}, listener.UPDATE_NULL_DEFAULTS)
    first['tags'].append('x')
    assert listener.UPDATE_NULL_DEFAULTS['tags'] == []


@pytest.mark.parametrize('model,field', [
    (healthmonitor.HealthMonitorUpdate, 'delay'),
    (healthmonitor.HealthMonitorUpdate, 'timeout'),
    (healthmonitor.HealthMonitorUpdate, 'max_retries'),
    (pool.PoolUpdate, 'lb_algorithm'),
    (l7rule.L7RuleUpdate, 'type'), (l7rule.L7RuleUpdate, 'compare_type'),
    (l7rule.L7RuleUpdate, 'value'),
    (flavor.FlavorUpdate, 'name'), (flavor.FlavorUpdate, 'enabled'),
    (flavor.FlavorProfileUpdate, 'flavor_data'),
    (availability_zone.AvailabilityZoneUpdate, 'enabled'),
    (availability_zone.AvailabilityZoneProfileUpdate, 'availability_zone_data'),
])
def test_fields_that_cannot_be_null_on_put(model, field):
    assert error_message(model, {field: None}) == f'None is not a valid option for {field}'


@pytest.mark.parametrize('spelling,canonical', [
    (UUID1, UUID1),
    (UUID1.upper(), UUID1),
    (UUID1.replace('-', ''), UUID1),
    ('{%s}' % UUID1, UUID1),
])
def test_uuid_fields_are_canonicalised(spelling, canonical):
    assert valid(listener.ListenerCreate, with_(LISTENER, loadbalancer_id=spelling)
                 ).loadbalancer_id == canonical


@pytest.mark.parametrize('bad', ['not-a-uuid', UUID1[:-1], 5, ''])
def test_uuid_fields_reject_non_uuids(bad):
    assert error_message(listener.ListenerCreate, with_(LISTENER, loadbalancer_id=bad)) == (
        f"Invalid input for field/attribute loadbalancer_id. Value: '{bad}'. "
        'Value should be UUID format')


# --- format_validation_error -------------------------------------------------------
def test_missing_field_message():
    assert error_message(listener.ListenerCreate, with_(LISTENER, protocol=...)) == (
        "Invalid input for field/attribute protocol. Value: 'None'. Mandatory field missing.")


def test_enum_message_lists_the_choices():
    assert error_message(listener.ListenerCreate, with_(LISTENER, protocol='FTP')) == (
        "Invalid input for field/attribute protocol. Value: 'FTP'. Value should be one of: "
        'TCP, HTTP, HTTPS, TERMINATED_HTTPS, UDP, SCTP, PROMETHEUS')


@pytest.mark.parametrize('port,reason', [
    (0, 'Value should be greater or equal to 1'),
    (65536, 'Value should be lower or equal to 65535'),
    ('eighty', 'Wrong type. Expected an integer'),
    (True, 'Wrong type. Expected an integer'),
    (80.5, 'Wrong type. Expected an integer'),
])
def test_range_and_type_messages(port, reason):
    assert error_message(listener.ListenerCreate, with_(LISTENER, protocol_port=port)) == (
        f"Invalid input for field/attribute protocol_port. Value: '{port}'. {reason}")


def test_nested_field_path_is_dotted_with_indices():
    body = with_(LB, listeners=[{'protocol': 'HTTP', 'protocol_port': 80,
                                 'default_pool': {'name': 'p', 'protocol': 'HTTP',
                                                  'lb_algorithm': 'ROUND_ROBIN',
                                                  'members': [MEMBER, {'address': 'x'}]}}])
    assert error_message(loadbalancer.LoadBalancerCreate, body).startswith(
        "Invalid input for field/attribute listeners[0].default_pool.members[1].address. "
        "Value: 'x'. Value should be IPv4 or IPv6 format")


def test_nested_unknown_attribute_names_its_parent():
    body = with_(LB, pools=[{'name': 'p', 'protocol': 'TCP', 'lb_algorithm': 'SOURCE_IP',
                             'pool_id': UUID1}])
    assert error_message(loadbalancer.LoadBalancerCreate, body, 'loadbalancer') == (
        f"Invalid input for field/attribute pools[0].pool_id. Value: '{UUID1}'. "
        'Unknown attribute for argument pools[0]')


def test_combination_rule_message_is_a_validation_failure():
    assert error_message(loadbalancer.LoadBalancerCreate, {}) == (
        'Validation failure: VIP must contain one of: vip_port_id, vip_network_id, '
        'vip_subnet_id.')


def test_body_that_is_not_an_object():
    assert error_message(listener.ListenerCreate, ['x'], 'listener') == (
        "Invalid input for field/attribute listener. Value: '['x']'. "
        'Wrong type. Expected an object')


def test_plain_value_error_at_the_root_is_reported_as_validation_failure():
    class Probe(common.RequestModel):
        @pydantic.model_validator(mode='after')
        def _fail(self):
            raise ValueError('bad combination')

    with pytest.raises(pydantic.ValidationError) as info:
        Probe.model_validate({})
    assert format_validation_error(info.value) == 'Validation failure: bad combination'


def test_validation_failure_is_a_value_error_with_a_message():
    failure = ValidationFailure('x is wrong')
    assert isinstance(failure, ValueError)
    assert failure.message == str(failure) == 'Validation failure: x is wrong'
    assert failure.detail == 'x is wrong'


# --- parse_bool --------------------------------------------------------------------
@pytest.mark.parametrize('text', ['true', 'True', 'TRUE', '1', 'yes', 'on', 'y', 't', ' true ',
                                  True])
def test_parse_bool_true(text):
    assert parse_bool(text) is True


@pytest.mark.parametrize('text', ['false', '0', 'no', 'off', 'n', 'f', '', 'maybe', '2', False])
def test_parse_bool_false(text):
    assert parse_bool(text) is False


@given(st.text())
def test_parse_bool_never_raises(text):
    assert parse_bool(text) in (True, False)
