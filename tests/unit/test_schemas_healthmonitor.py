"""Health monitor request schemas."""
import pytest

from lbaas.schemas import common as c
from lbaas.schemas.healthmonitor import (
    UPDATE_NULL_DEFAULTS,
    GraphHealthMonitor,
    HealthMonitorCreate,
    HealthMonitorUpdate,
)
from tests.unit.test_schemas_support import HM, HTTP_HM, error_message, valid, with_


@pytest.mark.parametrize('hm_type', c.HM_TYPES)
def test_every_type_and_its_http_defaults(hm_type):
    created = valid(HealthMonitorCreate, with_(HM, type=hm_type))
    http_fields = (created.http_method, created.url_path, created.expected_codes)
    if hm_type in ('HTTP', 'HTTPS'):
        assert http_fields == ('GET', '/', '200')
    else:
        assert http_fields == (None, None, None)
    assert (created.max_retries_down, created.admin_state_up, created.tags) == (3, True, [])
    assert (created.http_version, created.domain_name) == (None, None)


@pytest.mark.parametrize('method', c.HM_HTTP_METHODS)
def test_every_http_method(method):
    assert valid(HealthMonitorCreate, with_(HTTP_HM, http_method=method)).http_method == method


@pytest.mark.parametrize('field,value', [('http_method', 'GET'), ('url_path', '/x'),
                                         ('expected_codes', '200')])
@pytest.mark.parametrize('hm_type', ['PING', 'TCP', 'TLS-HELLO', 'UDP-CONNECT', 'SCTP'])
def test_http_fields_only_on_http_monitors(field, value, hm_type):
    body = with_(HM, type=hm_type, **{field: value})
    assert error_message(HealthMonitorCreate, body) == (
        f'{field} is not a valid option for health monitors of type {hm_type}')
    assert valid(HealthMonitorCreate, with_(body, **{field: None}))  # null is "not given"


@pytest.mark.parametrize('field,good,bad', [
    ('delay', [0, 3600], [-1, None, 'five']),
    ('timeout', [0, 3600], [-1, None]),
    ('max_retries', [1, 10], [0, 11, None]),
    ('max_retries_down', [1, 10], [0, 11]),
    ('http_method', ['PATCH'], ['get', 'FETCH']),
    ('url_path', ['/', '/health', '/a/b?x=1&y=2', '/%20x', "/a-b_c.d~e!$&'()*+,;=:@"],
     ['health', 'http://host/x', '//host/x', '/a b', '/a%zz', '', '/a\tb', '/é']),
    ('expected_codes', ['200', '200,201', '200 , 202,204', '200-299'],
     ['20', '200-', '2000', 'abc', '200-299,300', '200;201']),
    ('http_version', [1.0, 1.1, 1], [1.2, 2.0, 'x', '1.1', True]),
    ('name', ['n' * 255], ['n' * 256]),
])
def test_field_boundaries(field, good, bad):
    for value in good:
        assert getattr(valid(HealthMonitorCreate, with_(HTTP_HM, **{field: value})),
                       field) == value
    for value in bad:
        assert f'field/attribute {field}.' in error_message(
            HealthMonitorCreate, with_(HTTP_HM, **{field: value}))


@pytest.mark.parametrize('field', ['pool_id', 'type', 'delay', 'timeout', 'max_retries'])
def test_mandatory_fields(field):
    assert error_message(HealthMonitorCreate, with_(HM, **{field: ...})) == (
        f"Invalid input for field/attribute {field}. Value: 'None'. Mandatory field missing.")


@pytest.mark.parametrize('name', ['example.com', 'a.b-c.d', '_srv.example.com', 'example.com.',
                                  'x' * 63, 'localhost', '1.2.3.4', 'a.' * 126 + 'b'])
def test_good_domain_names(name):
    body = with_(HTTP_HM, http_version=1.1, domain_name=name)
    assert valid(HealthMonitorCreate, body).domain_name == name


@pytest.mark.parametrize('name', ['-a.com', 'a-.com', 'a..b', 'a_b.com', 'x' * 64, '',
                                  'a.' * 127 + 'b', 'exa mple.com', '.com'])
def test_bad_domain_names(name):
    body = with_(HTTP_HM, http_version=1.1, domain_name=name)
    assert 'field/attribute domain_name.' in error_message(HealthMonitorCreate, body)


def test_domain_name_needs_http_1_1():
    assert error_message(HealthMonitorCreate, with_(HTTP_HM, domain_name='example.com')) == (
        "Validation failure: 'http_version' must be specified when 'domain_name' is provided.")
    assert error_message(HealthMonitorCreate, with_(HTTP_HM, domain_name='example.com',
                                                    http_version=1.0)) == (
        'http_version 1.0 is not a valid option for health monitors HTTP 1.1 domain name '
        'health check')
    assert valid(HealthMonitorCreate, with_(HTTP_HM, http_version=1.0)).http_version == 1.0


def test_graph_monitor_has_no_pool_id():
    graph_body = with_(HM, pool_id=...)
    assert valid(GraphHealthMonitor, graph_body).type == 'TCP'
    assert 'Unknown attribute' in error_message(GraphHealthMonitor, HM)


def test_update():
    update = valid(HealthMonitorUpdate, {'max_retries_down': None, 'url_path': None,
                                         'delay': 10})
    assert update.model_dump(exclude_unset=True) == {
        'max_retries_down': None, 'url_path': None, 'delay': 10}
    assert error_message(HealthMonitorUpdate, {'delay': None}) == (
        'None is not a valid option for delay')
    assert 'http_version 1.0' in error_message(
        HealthMonitorUpdate, {'http_version': 1.0, 'domain_name': 'example.com'})
    # The stored type/http_version decide these, in the service layer.
    assert valid(HealthMonitorUpdate, {'domain_name': 'example.com', 'http_method': 'GET'})
    for field in ('type', 'pool_id', 'project_id'):
        assert 'Unknown attribute' in error_message(HealthMonitorUpdate, {field: 'x'})


def test_null_default_table():
    assert set(UPDATE_NULL_DEFAULTS) <= set(HealthMonitorUpdate.model_fields)
    assert UPDATE_NULL_DEFAULTS['max_retries_down'] == 3
    assert (UPDATE_NULL_DEFAULTS['http_method'], UPDATE_NULL_DEFAULTS['url_path'],
            UPDATE_NULL_DEFAULTS['expected_codes']) == ('GET', '/', '200')
