"""L7 policy request schemas and Octavia's redirect sanitising."""
import pytest

from lbaas.schemas import common as c
from lbaas.schemas.l7policy import (
    UPDATE_NULL_DEFAULTS,
    GraphL7Policy,
    L7PolicyCreate,
    L7PolicyUpdate,
)
from tests.unit.test_schemas_support import (
    GRAPH_POOL,
    L7POLICY,
    L7RULE,
    UUID1,
    UUID2,
    error_message,
    valid,
    with_,
)

URL = 'https://example.com/landing'
PREFIX = 'http://example.org'
ARGS = 'Invalid L7 Policy arguments: '


def test_create_defaults():
    created = valid(L7PolicyCreate, L7POLICY)
    assert (created.admin_state_up, created.position, created.rules) == (True, 2147483647, [])
    assert (created.redirect_http_code, created.tags) == (None, [])


@pytest.mark.parametrize('extra,code', [
    ({'action': 'REJECT'}, None),
    ({'action': 'REDIRECT_TO_URL', 'redirect_url': URL}, 302),
    ({'action': 'REDIRECT_TO_POOL', 'redirect_pool_id': UUID2}, None),
    ({'action': 'REDIRECT_PREFIX', 'redirect_prefix': PREFIX}, 302),
])
def test_every_action(extra, code):
    created = valid(L7PolicyCreate, with_(L7POLICY, **extra))
    assert (created.action, created.redirect_http_code) == (extra['action'], code)


@pytest.mark.parametrize('code', c.REDIRECT_HTTP_CODES)
def test_every_redirect_code_is_kept_for_url_redirects(code):
    body = with_(L7POLICY, action='REDIRECT_TO_URL', redirect_url=URL, redirect_http_code=code)
    assert valid(L7PolicyCreate, body).redirect_http_code == code


@pytest.mark.parametrize('field,good,bad', [
    ('position', [1, 2147483647], [0, 2147483648]),
    ('redirect_http_code', [301], [304, 200, '301x']),
    ('redirect_url', ['http://example.com', 'https://h.example:8443/p?q=1#f', 'http://[::1]/'],
     ['ftp://example.com', 'example.com', 'http://', 'http://exa mple.com', 'http://h:99999/',
      '/relative']),
    ('name', ['n' * 255], ['n' * 256]),
    ('listener_id', [UUID1], ['listener']),
])
def test_field_boundaries(field, good, bad):
    base = with_(L7POLICY, action='REDIRECT_TO_URL', redirect_url=URL)
    for value in good:
        assert getattr(valid(L7PolicyCreate, with_(base, **{field: value})), field) == value
    for value in bad:
        assert f'field/attribute {field}.' in error_message(
            L7PolicyCreate, with_(base, **{field: value}))


def test_bad_url_message():
    body = with_(L7POLICY, action='REDIRECT_PREFIX', redirect_prefix='gopher://x')
    assert error_message(L7PolicyCreate, body) == (
        "Invalid input for field/attribute redirect_prefix. Value: 'gopher://x'. "
        'Value must be a valid URL string')


@pytest.mark.parametrize('extra,message', [
    ({'action': 'REDIRECT_TO_URL'}, ARGS + 'redirect_url must not be None'),
    ({'action': 'REDIRECT_TO_POOL'}, ARGS + 'redirect_pool_id or redirect_pool must not be None'),
    ({'action': 'REDIRECT_PREFIX'}, ARGS + 'redirect_prefix must not be None'),
    ({'action': 'REDIRECT_PREFIX', 'redirect_prefix': PREFIX, 'redirect_pool_id': UUID2},
     ARGS + 'Cannot specify redirect_pool_id and redirect_url or redirect_prefix at the same '
            'time'),
    ({'action': 'FORWARD'}, "Invalid input for field/attribute action. Value: 'FORWARD'. "
                            'Value should be one of: REJECT, REDIRECT_TO_URL, '
                            'REDIRECT_TO_POOL, REDIRECT_PREFIX'),
    ({'action': ...}, "Invalid input for field/attribute action. Value: 'None'. "
                      'Mandatory field missing.'),
])
def test_create_sanitize_errors(extra, message):
    assert error_message(L7PolicyCreate, with_(L7POLICY, **extra)) == message


@pytest.mark.parametrize('extra,expected', [
    # An explicit action clears the targets it does not use...
    ({'action': 'REJECT', 'redirect_url': URL, 'redirect_pool_id': UUID2},
     ('REJECT', None, None, None, None)),
    ({'action': 'REDIRECT_TO_URL', 'redirect_url': URL, 'redirect_pool_id': UUID2},
     ('REDIRECT_TO_URL', URL, None, None, 302)),
    ({'action': 'REDIRECT_TO_POOL', 'redirect_pool_id': UUID2, 'redirect_url': URL,
      'redirect_http_code': 301}, ('REDIRECT_TO_POOL', None, UUID2, None, None)),
    # ...and a remaining target forces its action (an Octavia quirk kept on purpose).
    ({'action': 'REJECT', 'redirect_prefix': PREFIX}, ('REDIRECT_PREFIX', None, None, PREFIX, 302)),
    ({'action': 'REDIRECT_TO_URL', 'redirect_url': URL, 'redirect_prefix': PREFIX,
      'redirect_http_code': 308}, ('REDIRECT_TO_URL', URL, None, None, 308)),
])
def test_create_sanitize_outcomes(extra, expected):
    created = valid(L7PolicyCreate, with_(L7POLICY, **extra))
    assert (created.action, created.redirect_url, created.redirect_pool_id,
            created.redirect_prefix, created.redirect_http_code) == expected


@pytest.mark.parametrize('body,dump', [
    ({'redirect_url': URL}, {'redirect_url': URL, 'action': 'REDIRECT_TO_URL',
                             'redirect_pool_id': None, 'redirect_prefix': None,
                             'redirect_http_code': 302}),
    ({'redirect_pool_id': UUID2}, {'redirect_pool_id': UUID2, 'action': 'REDIRECT_TO_POOL',
                                   'redirect_url': None, 'redirect_prefix': None,
                                   'redirect_http_code': None}),
    ({'redirect_prefix': PREFIX, 'redirect_http_code': 301},
     {'redirect_prefix': PREFIX, 'redirect_http_code': 301, 'action': 'REDIRECT_PREFIX',
      'redirect_pool_id': None, 'redirect_url': None}),
    ({'action': 'REJECT'}, {'action': 'REJECT', 'redirect_url': None, 'redirect_pool_id': None}),
    ({'name': 'n', 'position': None}, {'name': 'n', 'position': None}),
])
def test_update_sanitize_marks_cleared_fields_as_sent(body, dump):
    assert valid(L7PolicyUpdate, body).model_dump(exclude_unset=True) == dump


@pytest.mark.parametrize('body,message', [
    ({}, ARGS + 'Invalid update options'),
    ({'action': None}, 'Invalid L7 Policy action specified: None'),
    ({'action': 'REDIRECT_TO_URL'}, ARGS + 'redirect_url must not be None'),
    ({'redirect_pool_id': UUID2, 'redirect_url': URL},
     ARGS + 'Cannot specify redirect_pool_id and redirect_url or redirect_prefix at the same '
            'time'),
])
def test_update_sanitize_errors(body, message):
    assert error_message(L7PolicyUpdate, body) == message


def test_update_refuses_create_only_fields():
    for field in ('listener_id', 'rules', 'redirect_pool', 'project_id'):
        assert 'Unknown attribute' in error_message(L7PolicyUpdate, {field: None})


def test_inline_rules_are_validated():
    created = valid(L7PolicyCreate, with_(L7POLICY, rules=[L7RULE]))
    assert created.rules[0].value == '/api'
    assert 'rules[0].compare_type' in error_message(
        L7PolicyCreate, with_(L7POLICY, rules=[with_(L7RULE, compare_type='LIKE')]))


def test_graph_policy_with_inline_redirect_pool():
    graph = with_(L7POLICY, listener_id=..., action='REDIRECT_TO_POOL', redirect_pool=GRAPH_POOL)
    created = valid(GraphL7Policy, graph)
    assert (created.redirect_pool.name, created.redirect_pool_id) == ('web', None)
    assert valid(GraphL7Policy, with_(graph, redirect_pool={'name': 'web'})
                 ).redirect_pool.is_reference
    assert error_message(GraphL7Policy, with_(graph, redirect_pool={'protocol': 'HTTP'})) == (
        "Validation failure: Pool definition for 'None' missing required attribute: "
        'lb_algorithm')
    unnamed = with_(GRAPH_POOL, name=...)
    assert error_message(GraphL7Policy, with_(graph, redirect_pool=unnamed)) == (
        'Validation failure: Pools must be named when creating a fully populated '
        'loadbalancer.')
    assert 'Cannot specify' in error_message(GraphL7Policy, with_(graph, action='REDIRECT_PREFIX',
                                                                  redirect_prefix=PREFIX))
    assert 'Unknown attribute' in error_message(GraphL7Policy, with_(graph, listener_id=UUID1))
    assert 'Unknown attribute' in error_message(L7PolicyCreate,
                                                with_(L7POLICY, redirect_pool=GRAPH_POOL))


def test_redirect_url_drops_an_inline_pool():
    graph = {'action': 'REDIRECT_TO_URL', 'redirect_url': URL, 'redirect_pool': {'name': 'p'}}
    created = valid(GraphL7Policy, graph)
    assert (created.redirect_pool, created.action) == (None, 'REDIRECT_TO_URL')
    assert 'redirect_pool' not in created.model_fields_set


def test_null_default_table():
    assert set(UPDATE_NULL_DEFAULTS) <= set(L7PolicyUpdate.model_fields)
    assert UPDATE_NULL_DEFAULTS['position'] == c.MAX_POLICY_POSITION
