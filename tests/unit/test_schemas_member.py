"""Member request schemas, single and batch."""
import pytest

from lbaas.schemas.member import (
    UPDATE_NULL_DEFAULTS,
    GraphMember,
    MemberBatch,
    MemberCreate,
    MemberUpdate,
)
from tests.unit.test_schemas_support import MEMBER, UUID1, error_message, valid, with_


def test_create_defaults():
    created = valid(MemberCreate, MEMBER)
    assert (created.weight, created.backup, created.admin_state_up) == (1, False, True)
    assert (created.request_sriov, created.tags, created.subnet_id) == (False, [], None)
    assert (created.monitor_address, created.monitor_port) == (None, None)


@pytest.mark.parametrize('field,good,bad', [
    ('address', ['198.18.0.1', 'fd00:1b::10', '::ffff:198.18.0.1'], ['198.18.0', 'host', 5]),
    ('monitor_address', ['198.19.0.1', 'fd00::1'], ['300.1.1.1']),
    ('protocol_port', [1, 65535], [0, 65536, '8x0']),
    ('monitor_port', [1, 65535], [0, 65536]),
    ('weight', [0, 1, 256], [-1, 257, None]),
    ('backup', [True, False], ['sometimes']),
    ('subnet_id', [UUID1], ['subnet-1']),
    ('request_sriov', [True], ['x']),
])
def test_field_boundaries(field, good, bad):
    for value in good:
        assert getattr(valid(MemberCreate, with_(MEMBER, **{field: value})), field) == value
    for value in bad:
        assert f'field/attribute {field}.' in error_message(
            MemberCreate, with_(MEMBER, **{field: value}))


@pytest.mark.parametrize('field', ['address', 'protocol_port'])
def test_mandatory_fields(field):
    assert error_message(MemberCreate, with_(MEMBER, **{field: ...})) == (
        f"Invalid input for field/attribute {field}. Value: 'None'. Mandatory field missing.")


def test_reserved_address_is_refused():
    assert error_message(MemberCreate, with_(MEMBER, address='169.254.169.254')) == (
        '169.254.169.254 is not a valid option for member address')
    # An IPv4-mapped IPv6 address is another address, as in Octavia.
    assert valid(MemberCreate, with_(MEMBER, address='::ffff:169.254.169.254'))


def test_address_is_echoed_as_given():
    assert valid(MemberCreate, with_(MEMBER, address='FD00:1B::0010')).address == 'FD00:1B::0010'


def test_graph_member_has_no_project():
    assert valid(GraphMember, MEMBER).protocol_port == 8080
    assert 'Unknown attribute' in error_message(GraphMember, with_(MEMBER, project_id='p'))


def test_update_keeps_nulls_and_refuses_post_only_fields():
    update = valid(MemberUpdate, {'weight': None, 'backup': None, 'monitor_port': None})
    assert update.model_dump(exclude_unset=True) == {
        'weight': None, 'backup': None, 'monitor_port': None}
    for field in ('address', 'protocol_port', 'subnet_id', 'request_sriov', 'project_id'):
        assert 'Unknown attribute' in error_message(MemberUpdate, {field: None})
    assert 'weight' in error_message(MemberUpdate, {'weight': 257})


def test_batch():
    batch = valid(MemberBatch, {'members': [MEMBER, with_(MEMBER, address='fd00:1b::1')]})
    assert [m.address for m in batch.members] == ['198.18.0.10', 'fd00:1b::1']
    assert valid(MemberBatch, {'members': []}).members == []
    assert valid(MemberBatch, {'members': [with_(MEMBER, tenant_id='p')]}).members[0].project_id


@pytest.mark.parametrize('body,message', [
    ({}, "Invalid input for field/attribute members. Value: 'None'. Mandatory field missing."),
    ({'members': {}}, "Invalid input for field/attribute members. Value: '{}'. "
                      'Wrong type. Expected a list'),
    ({'members': [MEMBER, with_(MEMBER, weight=300)]},
     "Invalid input for field/attribute members[1].weight. Value: '300'. "
     'Value should be lower or equal to 256'),
    ({'members': [MEMBER, MEMBER]}, 'Validation failure: Duplicate member entries for address '
                                    '198.18.0.10 and protocol_port 8080.'),
    ({'members': [with_(MEMBER, address='FD00:1B::1'), with_(MEMBER, address='fd00:1b:0::1')]},
     'Validation failure: Duplicate member entries for address fd00:1b::1 and protocol_port '
     '8080.'),
])
def test_batch_errors(body, message):
    assert error_message(MemberBatch, body) == message


def test_same_address_on_another_port_is_not_a_duplicate():
    assert len(valid(MemberBatch, {'members': [MEMBER, with_(MEMBER, protocol_port=81)]}
                     ).members) == 2


def test_null_default_table_names_update_fields():
    assert set(UPDATE_NULL_DEFAULTS) <= set(MemberUpdate.model_fields)
    assert UPDATE_NULL_DEFAULTS['weight'] == 1 and UPDATE_NULL_DEFAULTS['backup'] is False
