"""Listener request schemas: defaults, enums, ranges and combination rules."""
import pytest

from lbaas.schemas import common as c
from lbaas.schemas.listener import (
    UPDATE_NULL_CONFIG_DEFAULTS,
    UPDATE_NULL_DEFAULTS,
    GraphListener,
    ListenerCreate,
    ListenerUpdate,
)
from tests.unit.test_schemas_support import (
    GRAPH_POOL,
    LISTENER,
    TLS_LISTENER,
    UUID1,
    error_message,
    valid,
    with_,
)

CERT = 'https://kv/secrets/cert'
CA = 'https://kv/secrets/ca'


def test_create_defaults():
    created = valid(ListenerCreate, LISTENER)
    assert (created.connection_limit, created.client_authentication) == (-1, 'NONE')
    assert (created.sni_container_refs, created.insert_headers, created.tags) == ([], {}, [])
    assert (created.hsts_include_subdomains, created.hsts_preload) == (False, False)
    assert (created.l7policies, created.default_pool, created.allowed_cidrs) == ([], None, None)
    # Configuration-dependent defaults are left to the service layer.
    for field in UPDATE_NULL_CONFIG_DEFAULTS:
        assert getattr(created, field) is None


@pytest.mark.parametrize('protocol', c.LISTENER_PROTOCOLS)
def test_every_protocol(protocol):
    body = TLS_LISTENER if protocol == 'TERMINATED_HTTPS' else LISTENER
    assert valid(ListenerCreate, with_(body, protocol=protocol)).protocol == protocol


@pytest.mark.parametrize('field,good,bad', [
    ('protocol_port', [1, 65535], [0, 65536, None]),
    ('connection_limit', [-1, 0, 1000000], [-2]),
    ('timeout_client_data', [0, 2073600000], [-1, 2073600001]),
    ('timeout_member_connect', [0, 2073600000], [-1, 2073600001]),
    ('timeout_member_data', [0, 2073600000], [-1, 2073600001]),
    ('timeout_tcp_inspect', [0, 2073600000], [-1, 2073600001]),
    ('default_tls_container_ref', ['r' * 255], ['r' * 256]),
    ('client_ca_tls_container_ref', ['r' * 255], ['r' * 256]),
    ('client_crl_container_ref', ['r' * 255], ['r' * 256]),
    ('sni_container_refs', [['r' * 255], []], [['r' * 256]]),
    ('tls_ciphers', ['A' * 2048, 'ECDHE-RSA-AES128-GCM-SHA256:!aNULL:@STRENGTH=1+x.y_z'],
     ['A' * 2049, 'AES GCM', 'AES;GCM', '']),
    ('tls_versions', [list(c.TLS_VERSIONS), ['TLSv1.3']], [[], ['TLSv1.4'], ['x' * 33]]),
    ('alpn_protocols', [list(c.ALPN_PROTOCOLS), ['h2']], [[], ['spdy/3']]),
    ('client_authentication', list(c.CLIENT_AUTH_MODES), ['SOMETIMES']),
    ('hsts_max_age', [0, 31536000], [-1]),
    ('insert_headers', [{'X-SSL-Client-CN': 'v' * 255}], [{'X-SSL-Client-CN': 'v' * 256},
                                                          {'X-Forwarded-For': True}]),
])
def test_field_boundaries(field, good, bad):
    base = with_(TLS_LISTENER, client_ca_tls_container_ref=CA)
    for value in good:
        assert getattr(valid(ListenerCreate, with_(base, **{field: value})), field) == value
    for value in bad:
        message = error_message(ListenerCreate, with_(base, **{field: value}))
        assert field in message or message.startswith('Validation failure'), message


def test_tls_list_messages():
    assert error_message(ListenerCreate, with_(TLS_LISTENER, tls_versions=['TLSv1.4'])) == (
        'Validation failure: Invalid TLS versions: TLSv1.4')
    assert error_message(ListenerCreate, with_(TLS_LISTENER, tls_versions=[])).startswith(
        'Validation failure: Empty TLS version list.')
    assert error_message(ListenerCreate, with_(TLS_LISTENER, alpn_protocols=['h3'])) == (
        'Validation failure: Invalid ALPN protocol: h3')
    assert error_message(ListenerCreate, with_(TLS_LISTENER, alpn_protocols=[])).startswith(
        'Validation failure: Empty ALPN protocol list.')


@pytest.mark.parametrize('given,stored', [
    (['198.18.0.5/24'], ['198.18.0.0/24']),
    (['198.18.0.5'], ['198.18.0.5/32']),
    (['fd00:1b::1/64', 'FD00:1B::/64'], ['fd00:1b::/64']),
    (['0.0.0.0/0', '::/0'], ['0.0.0.0/0', '::/0']),
    ([], []),
])
def test_allowed_cidrs_are_normalised(given, stored):
    assert valid(ListenerCreate, with_(LISTENER, allowed_cidrs=given)).allowed_cidrs == stored


@pytest.mark.parametrize('bad', ['198.18.0.0/33', 'nonsense', '198.18.0.0/24/1'])
def test_allowed_cidrs_reject_garbage(bad):
    assert error_message(ListenerCreate, with_(LISTENER, allowed_cidrs=[bad])) == (
        f"Invalid input for field/attribute allowed_cidrs[0]. Value: '{bad}'. "
        'Value should be IPv4 or IPv6 CIDR format')


@pytest.mark.parametrize('protocol,headers,message', [
    ('TCP', {'X-Forwarded-For': 'true'},
     'insert-headers is not a valid option for a TCP protocol listener.'),
    ('UDP', {'X-Forwarded-For': 'true'},
     'insert-headers is not a valid option for a UDP protocol listener.'),
    ('HTTP', {'X-Bogus': 'true'}, "['X-Bogus'] is not a valid option for insert_headers"),
    ('HTTP', {'X-SSL-Client-DN': 'true'},
     "['X-SSL-Client-DN'] is not a valid option for HTTP protocol listener."),
])
def test_insert_headers_rules(protocol, headers, message):
    body = with_(LISTENER, protocol=protocol, insert_headers=headers)
    assert error_message(ListenerCreate, body) == message


@pytest.mark.parametrize('protocol,headers', [
    ('HTTP', {h: 'true' for h in c.INSERT_HTTP_HEADERS}),
    ('TERMINATED_HTTPS', {h: 'true' for h in c.INSERT_HTTP_HEADERS + c.INSERT_SSL_HEADERS}),
    ('TCP', {}),
])
def test_insert_headers_accepted(protocol, headers):
    body = with_(TLS_LISTENER, protocol=protocol, insert_headers=headers)
    if protocol != 'TERMINATED_HTTPS':
        body.pop('default_tls_container_ref')
    assert valid(ListenerCreate, body).insert_headers == headers


@pytest.mark.parametrize('changes,message', [
    ({'protocol': 'UDP', 'default_tls_container_ref': CERT},
     'UDP protocol listener does not support TLS.'),
    ({'protocol': 'SCTP', 'sni_container_refs': [CERT]},
     'SCTP protocol listener does not support TLS.'),
    ({'protocol': 'HTTP', 'default_tls_container_ref': CERT},
     'Certificate container references are only allowed on TERMINATED_HTTPS and PROMETHEUS '
     'protocol listeners.'),
    ({'protocol': 'TERMINATED_HTTPS'},
     'An SNI or default certificate container reference must be provided for '
     'TERMINATED_HTTPS protocol listeners.'),
    ({'protocol': 'PROMETHEUS', 'client_ca_tls_container_ref': CA},
     'An SNI or default certificate container reference must be provided with a client CA '
     'container reference.'),
    ({'client_authentication': 'MANDATORY'},
     'Client authentication setting MANDATORY requires a client CA container reference.'),
    ({'protocol': 'TERMINATED_HTTPS', 'default_tls_container_ref': CERT,
      'client_crl_container_ref': 'crl'},
     'A client authentication CA reference is required to specify a client authentication '
     'revocation list.'),
    ({'hsts_preload': True},
     'HSTS configuration options hsts_include_subdomains and hsts_preload only make sense '
     'if hsts_max_age is set as well.'),
    ({'hsts_max_age': 10},
     'The HSTS feature can only be used for listeners using the TERMINATED_HTTPS protocol.'),
])
def test_combination_rules(changes, message):
    body = with_(LISTENER, **changes)
    assert error_message(ListenerCreate, body) == f'Validation failure: {message}'


@pytest.mark.parametrize('children', [{'default_pool_id': UUID1},
                                      {'default_pool': GRAPH_POOL},
                                      {'l7policies': [{'action': 'REJECT'}]}])
def test_prometheus_listener_has_no_children(children):
    body = with_(LISTENER, protocol='PROMETHEUS', **children)
    assert error_message(ListenerCreate, body) == (
        'Protocol PROMETHEUS listeners cannot have child objects.')


@pytest.mark.parametrize('changes', [
    {'protocol': 'PROMETHEUS', 'default_tls_container_ref': CERT},
    {'protocol': 'TERMINATED_HTTPS', 'sni_container_refs': [CERT]},
    {'protocol': 'TERMINATED_HTTPS', 'default_tls_container_ref': CERT,
     'client_ca_tls_container_ref': CA, 'client_crl_container_ref': 'crl',
     'client_authentication': 'OPTIONAL'},
    {'protocol': 'TERMINATED_HTTPS', 'default_tls_container_ref': CERT, 'hsts_max_age': 0,
     'hsts_include_subdomains': True, 'hsts_preload': True},
])
def test_valid_tls_combinations(changes):
    valid(ListenerCreate, with_(LISTENER, **changes))


def test_inline_default_pool_needs_a_name_and_a_compatible_protocol():
    unnamed = with_(GRAPH_POOL, name=...)
    assert error_message(ListenerCreate, with_(LISTENER, default_pool=unnamed)) == (
        'Validation failure: Pools must be named when creating a fully populated '
        'loadbalancer.')
    udp_pool = with_(GRAPH_POOL, protocol='UDP')
    assert error_message(ListenerCreate, with_(LISTENER, default_pool=udp_pool)) == (
        "Validation failure: The pool protocol 'UDP' is invalid while the listener protocol "
        "is 'HTTP'.")
    redirect = {'action': 'REDIRECT_TO_POOL', 'redirect_pool': udp_pool}
    assert 'is invalid while' in error_message(ListenerCreate,
                                               with_(LISTENER, l7policies=[redirect]))
    # A reference by name is resolved (and checked) by the service layer.
    referenced = valid(ListenerCreate, with_(LISTENER, default_pool={'name': 'other'}))
    assert referenced.default_pool.is_reference


def test_graph_listener_has_no_loadbalancer_id():
    graph_body = with_(LISTENER, loadbalancer_id=...)
    assert valid(GraphListener, graph_body).protocol == 'HTTP'
    assert 'Unknown attribute' in error_message(GraphListener, LISTENER)
    assert 'Unknown attribute' in error_message(GraphListener, with_(graph_body, project_id='p'))
    assert 'Mandatory field missing' in error_message(ListenerCreate, graph_body)


def test_update_keeps_explicit_nulls_and_rejects_create_only_fields():
    update = valid(ListenerUpdate, {'connection_limit': None, 'timeout_client_data': None,
                                    'default_pool_id': None, 'client_authentication': None})
    assert update.model_dump(exclude_unset=True) == {
        'connection_limit': None, 'timeout_client_data': None, 'default_pool_id': None,
        'client_authentication': None}
    for field in ('protocol', 'protocol_port', 'loadbalancer_id', 'default_pool', 'l7policies'):
        assert 'Unknown attribute' in error_message(ListenerUpdate, {field: None})


def test_update_validates_fields_but_leaves_protocol_rules_to_the_service():
    # Without the stored protocol these cannot be judged here.
    valid(ListenerUpdate, {'insert_headers': {'X-SSL-Client-DN': 'true'}, 'hsts_preload': True,
                           'client_authentication': 'MANDATORY'})
    assert 'lower or equal to 2073600000' in error_message(
        ListenerUpdate, {'timeout_member_data': 2073600001})
    assert 'Invalid TLS versions' in error_message(ListenerUpdate, {'tls_versions': ['x']})


def test_null_default_tables_name_update_fields():
    fields = ListenerUpdate.model_fields
    assert set(UPDATE_NULL_DEFAULTS) <= set(fields)
    assert set(fields) >= UPDATE_NULL_CONFIG_DEFAULTS
    assert not set(UPDATE_NULL_DEFAULTS) & UPDATE_NULL_CONFIG_DEFAULTS
