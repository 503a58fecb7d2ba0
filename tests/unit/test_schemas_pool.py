"""Pool and session persistence request schemas."""
import pytest

from lbaas.schemas import common as c
from lbaas.schemas.pool import (
    UPDATE_NULL_CONFIG_DEFAULTS,
    UPDATE_NULL_DEFAULTS,
    GraphPool,
    PoolCreate,
    PoolUpdate,
    SessionPersistenceUpdate,
)
from tests.unit.test_schemas_support import (
    GRAPH_POOL,
    MEMBER,
    POOL,
    UUID1,
    error_message,
    valid,
    with_,
)

HM_BODY = {'type': 'TCP', 'delay': 5, 'timeout': 3, 'max_retries': 3}
# Section 2.4: the monitor types each pool protocol accepts.
LVS_HM_TYPES = {'UDP-CONNECT', 'SCTP', 'TCP', 'HTTP'}
OTHER_HM_TYPES = set(c.HM_TYPES) - {'UDP-CONNECT', 'SCTP'}


def test_create_defaults():
    created = valid(PoolCreate, POOL)
    assert (created.admin_state_up, created.tls_enabled) == (True, False)
    assert (created.tags, created.members) == ([], [])
    assert (created.session_persistence, created.healthmonitor) == (None, None)
    for field in UPDATE_NULL_CONFIG_DEFAULTS:  # filled from config when tls_enabled
        assert getattr(created, field) is None


@pytest.mark.parametrize('protocol', c.POOL_PROTOCOLS)
@pytest.mark.parametrize('algorithm', c.LB_ALGORITHMS)
def test_every_protocol_and_algorithm(protocol, algorithm):
    # SOURCE_IP_PORT is valid here; the amphora provider answers 501 for it.
    created = valid(PoolCreate, with_(POOL, protocol=protocol, lb_algorithm=algorithm))
    assert (created.protocol, created.lb_algorithm) == (protocol, algorithm)


@pytest.mark.parametrize('field,bad', [('protocol', 'TERMINATED_HTTPS'), ('protocol', 'http'),
                                       ('lb_algorithm', 'RANDOM'), ('protocol', ...),
                                       ('lb_algorithm', ...)])
def test_bad_or_missing_protocol_and_algorithm(field, bad):
    assert f'field/attribute {field}.' in error_message(PoolCreate, with_(POOL, **{field: bad}))


def test_parent_is_a_load_balancer_or_a_listener():
    assert valid(PoolCreate, with_(POOL, loadbalancer_id=..., listener_id=UUID1)).listener_id
    assert error_message(PoolCreate, with_(POOL, loadbalancer_id=...)) == (
        'Validation failure: Must provide at least one of: loadbalancer_id, listener_id')


@pytest.mark.parametrize('field', ['tls_container_ref', 'ca_tls_container_ref',
                                   'crl_container_ref'])
def test_container_refs_are_at_most_255(field):
    body = with_(with_(POOL, ca_tls_container_ref='ca'), **{field: 'r' * 255})
    assert getattr(valid(PoolCreate, body), field) == 'r' * 255
    assert 'maximum character requirement of 255' in error_message(
        PoolCreate, with_(body, **{field: 'r' * 256}))


def test_tls_options():
    body = with_(POOL, tls_enabled=True, tls_versions=['TLSv1.3'], alpn_protocols=['h2'],
                 tls_ciphers='TLS_AES_256_GCM_SHA384')
    assert valid(PoolCreate, body).tls_versions == ['TLSv1.3']
    assert 'Invalid TLS versions: TLSv9' in error_message(PoolCreate,
                                                           with_(body, tls_versions=['TLSv9']))
    assert 'Invalid ALPN protocol' in error_message(PoolCreate, with_(body, alpn_protocols=['x']))
    assert 'tls_ciphers' in error_message(PoolCreate, with_(body, tls_ciphers='a b'))
    assert error_message(PoolCreate, with_(POOL, crl_container_ref='crl')) == (
        'Validation failure: A CA reference is required to specify a certificate revocation '
        'list.')


@pytest.mark.parametrize('sp_type', c.SESSION_PERSISTENCE_TYPES)
def test_every_session_persistence_type(sp_type):
    sp = {'type': sp_type, 'cookie_name': 'SESSION'} if sp_type == 'APP_COOKIE' else {
        'type': sp_type}
    assert valid(PoolCreate, with_(POOL, session_persistence=sp)).session_persistence.type == (
        sp_type)


@pytest.mark.parametrize('sp,message', [
    ({'type': 'APP_COOKIE'}, 'Validation failure: Field "cookie_name" must be specified when '
                             'using the "APP_COOKIE" session persistence type.'),
    ({'type': 'HTTP_COOKIE', 'cookie_name': 'c'},
     'Validation failure: Field "cookie_name" can only be specified with session persistence '
     'of type "APP_COOKIE".'),
    ({'type': 'APP_COOKIE', 'cookie_name': 'a=b'},
     'Validation failure: Supplied "cookie_name" is invalid.'),
    ({'type': 'APP_COOKIE', 'cookie_name': 'a(b'},
     'Validation failure: Supplied "cookie_name" is invalid.'),
    ({'type': 'SOURCE_IP', 'persistence_timeout': 60},
     'Validation failure: persistence_timeout and persistence_granularity are only for UDP '
     'and SCTP protocol pools.'),
    ({'type': 'SOURCE_IP', 'persistence_granularity': '255.255.255.0'},
     'Validation failure: persistence_timeout and persistence_granularity are only for UDP '
     'and SCTP protocol pools.'),
    ({'cookie_name': 'c'}, "Invalid input for field/attribute session_persistence.type. "
                           "Value: 'None'. Mandatory field missing."),
    ({'type': 'STICKY'}, "Invalid input for field/attribute session_persistence.type. "
                         "Value: 'STICKY'. Value should be one of: SOURCE_IP, HTTP_COOKIE, "
                         "APP_COOKIE"),
])
def test_session_persistence_rules(sp, message):
    assert error_message(PoolCreate, with_(POOL, session_persistence=sp)) == message


@pytest.mark.parametrize('name', ['a b', 'a,b', 'a;b', 'a\\b', 'c' * 256, ''])
def test_cookie_name_field_pattern(name):
    sp = {'type': 'APP_COOKIE', 'cookie_name': name}
    assert 'session_persistence.cookie_name' in error_message(
        PoolCreate, with_(POOL, session_persistence=sp))


@pytest.mark.parametrize('protocol', c.LVS_PROTOCOLS)
def test_lvs_pools_persist_by_source_ip_only(protocol):
    sp = {'type': 'SOURCE_IP', 'persistence_timeout': 60, 'persistence_granularity': '255.0.0.0'}
    assert valid(PoolCreate, with_(POOL, protocol=protocol, session_persistence=sp))
    cookie = {'type': 'HTTP_COOKIE'}
    assert error_message(PoolCreate, with_(POOL, protocol=protocol, session_persistence=cookie)
                         ) == (f'Validation failure: Session persistence of type HTTP_COOKIE is '
                               f'not supported for {protocol} protocol pools.')


@pytest.mark.parametrize('protocol', c.POOL_PROTOCOLS)
@pytest.mark.parametrize('hm_type', c.HM_TYPES)
def test_inline_health_monitor_type_matrix(protocol, hm_type):
    body = with_(POOL, protocol=protocol, healthmonitor=with_(HM_BODY, type=hm_type))
    allowed = LVS_HM_TYPES if protocol in c.LVS_PROTOCOLS else OTHER_HM_TYPES
    if hm_type in allowed:
        assert valid(PoolCreate, body).healthmonitor.type == hm_type
    else:
        assert error_message(PoolCreate, body).startswith('Validation failure: The ')


def test_inline_members_are_validated():
    created = valid(PoolCreate, with_(POOL, members=[MEMBER, with_(MEMBER, protocol_port=81)]))
    assert [m.protocol_port for m in created.members] == [8080, 81]
    assert valid(PoolCreate, with_(POOL, members=None)).members == []
    assert 'members[0].weight' in error_message(PoolCreate,
                                                with_(POOL, members=[with_(MEMBER, weight=257)]))


@pytest.mark.parametrize('body,is_reference', [
    ({'name': 'web'}, True),
    ({'name': 'web', 'admin_state_up': True, 'tls_enabled': False}, True),
    (GRAPH_POOL, False),
])
def test_graph_pool_reference_by_name(body, is_reference):
    assert valid(GraphPool, body).is_reference is is_reference


@pytest.mark.parametrize('body,missing', [
    ({'name': 'web', 'description': 'd'}, 'protocol'),
    ({'name': 'web', 'protocol': 'HTTP'}, 'lb_algorithm'),
])
def test_graph_pool_full_definition_needs_protocol_and_algorithm(body, missing):
    assert error_message(GraphPool, body) == (
        f"Validation failure: Pool definition for 'web' missing required attribute: {missing}")


def test_graph_pool_has_no_parent_ids():
    for field in ('loadbalancer_id', 'listener_id', 'project_id', 'tenant_id'):
        assert 'Unknown attribute' in error_message(GraphPool, with_(GRAPH_POOL, **{field: UUID1}))


def test_update():
    update = valid(PoolUpdate, {'session_persistence': None, 'tls_versions': None,
                                'lb_algorithm': 'SOURCE_IP'})
    assert update.model_dump(exclude_unset=True) == {
        'session_persistence': None, 'tls_versions': None, 'lb_algorithm': 'SOURCE_IP'}
    assert error_message(PoolUpdate, {'lb_algorithm': None}) == (
        'None is not a valid option for lb_algorithm')
    for field in ('protocol', 'loadbalancer_id', 'listener_id', 'members', 'healthmonitor'):
        assert 'Unknown attribute' in error_message(PoolUpdate, {field: None})


def test_session_persistence_update_may_omit_the_type():
    assert valid(SessionPersistenceUpdate, {'cookie_name': 'c'}).type is None
    assert 'can only be specified' in error_message(
        SessionPersistenceUpdate, {'type': 'SOURCE_IP', 'cookie_name': 'c'})


def test_null_default_tables_name_update_fields():
    assert set(UPDATE_NULL_DEFAULTS) | UPDATE_NULL_CONFIG_DEFAULTS <= set(PoolUpdate.model_fields)
