"""L7 rule request schemas and the per-type checks of reference 2.5."""
import pytest

from lbaas.schemas import common as c
from lbaas.schemas.common import L7RuleValidation
from lbaas.schemas.l7rule import (
    UPDATE_NULL_DEFAULTS,
    GraphL7Rule,
    L7RuleCreate,
    L7RuleUpdate,
    check_l7rule_data,
)
from tests.unit.test_schemas_support import L7RULE, error_message, valid, with_

PREFIX = 'Error parsing L7Rule: '


def rule(rule_type, compare_type, value, key=None):
    body = {'type': rule_type, 'compare_type': compare_type, 'value': value}
    return body if key is None else dict(body, key=key)


@pytest.mark.parametrize('body', [
    rule('HOST_NAME', 'EQUAL_TO', 'www.example.com'),
    rule('HOST_NAME', 'ENDS_WITH', '.example.com'),
    rule('PATH', 'CONTAINS', '/api/'),
    rule('FILE_TYPE', 'EQUAL_TO', 'jpg'),
    rule('FILE_TYPE', 'REGEX', r'^(jpe?g|png)$'),
    rule('HEADER', 'EQUAL_TO', 'bar', key='X-Foo'),
    rule('HEADER', 'EQUAL_TO', '"quoted value with blanks"', key="X-A!#$%&'*+,-.^_`|~1"),
    rule('HEADER', 'REGEX', r'^b.r\s$', key='X-Foo'),
    rule('COOKIE', 'STARTS_WITH', 'abc,def()/[]', key='session'),
    rule('SSL_CONN_HAS_CERT', 'EQUAL_TO', 'tRuE'),
    rule('SSL_VERIFY_RESULT', 'EQUAL_TO', '0'),
    rule('SSL_VERIFY_RESULT', 'EQUAL_TO', '21'),
    rule('SSL_DN_FIELD', 'STARTS_WITH', 'ST-FIELD1-PREFIX', key='st-1'),
    rule('SSL_DN_FIELD', 'REGEX', '^CN=.*$', key='CN'),
])
def test_valid_rules(body):
    created = valid(L7RuleCreate, body)
    assert (created.type, created.invert, created.admin_state_up) == (body['type'], False, True)


@pytest.mark.parametrize('compare_type', c.L7RULE_COMPARE_TYPES)
@pytest.mark.parametrize('rule_type', ['HOST_NAME', 'PATH', 'HEADER', 'COOKIE', 'SSL_DN_FIELD'])
def test_every_compare_type_on_types_that_accept_all(rule_type, compare_type):
    valid(L7RuleCreate, rule(rule_type, compare_type, 'abc', key='k'
                             if rule_type in ('HEADER', 'COOKIE', 'SSL_DN_FIELD') else None))


@pytest.mark.parametrize('body,detail', [
    (rule('PATH', 'EQUAL_TO', ''), 'Invalid L7 Rule: L7 rule type requires a value'),
    (rule('PATH', 'REGEX', '('), 'Unable to parse regular expression: missing ), '
                                 'unterminated subpattern at position 0'),
    (rule('HOST_NAME', 'EQUAL_TO', 'a b'), 'Invalid characters in comparison value'),
    (rule('FILE_TYPE', 'STARTS_WITH', 'jp'), 'Invalid L7 Rule: invalid comparison type for '
                                             'rule type'),
    (rule('FILE_TYPE', 'CONTAINS', 'jp'), 'Invalid L7 Rule: invalid comparison type for rule '
                                          'type'),
    (rule('HEADER', 'EQUAL_TO', 'v'), 'Invalid L7 Rule: L7 rule type requires a key'),
    (rule('COOKIE', 'EQUAL_TO', 'v'), 'Invalid L7 Rule: L7 rule type requires a key'),
    (rule('HEADER', 'EQUAL_TO', 'v', key='X Foo'), 'Invalid characters in key'),
    (rule('COOKIE', 'EQUAL_TO', 'v', key='a:b'), 'Invalid characters in key'),
    (rule('HEADER', 'EQUAL_TO', 'two words', key='X-Foo'), 'Invalid characters in header value'),
    (rule('HEADER', 'EQUAL_TO', '"no closing quote', key='X-Foo'),
     'Invalid characters in header value'),
    (rule('COOKIE', 'EQUAL_TO', 'a;b', key='c'), 'Invalid characters in cookie value'),
    (rule('COOKIE', 'EQUAL_TO', '"q"', key='c'), 'Invalid characters in cookie value'),
    (rule('HEADER', 'REGEX', '[', key='X-Foo'), 'Unable to parse regular expression: unterminated '
                                                'character set at position 0'),
    (rule('SSL_CONN_HAS_CERT', 'EQUAL_TO', 'true', key='k'),
     'Invalid L7 Rule: L7rule type SSL_CONN_HAS_CERT does not use the "key" field.'),
    (rule('SSL_CONN_HAS_CERT', 'EQUAL_TO', 'yes'),
     'Invalid L7 Rule: L7rule value yes is not a boolean True string.'),
    (rule('SSL_CONN_HAS_CERT', 'STARTS_WITH', 'true'),
     'Invalid L7 Rule: L7rule type SSL_CONN_HAS_CERT only supports the EQUAL_TO compare type.'),
    (rule('SSL_VERIFY_RESULT', 'EQUAL_TO', '-1'),
     'Invalid L7 Rule: L7rule type SSL_VERIFY_RESULT needs a int value, which is >= 0'),
    (rule('SSL_VERIFY_RESULT', 'EQUAL_TO', '²'),
     'Invalid L7 Rule: L7rule type SSL_VERIFY_RESULT needs a int value, which is >= 0'),
    (rule('SSL_VERIFY_RESULT', 'REGEX', '0'),
     'Invalid L7 Rule: L7rule type SSL_VERIFY_RESULT only supports the EQUAL_TO compare type.'),
    (rule('SSL_VERIFY_RESULT', 'EQUAL_TO', '0', key='k'),
     'Invalid L7 Rule: L7rule type SSL_VERIFY_RESULT does not use the "key" field.'),
    (rule('SSL_DN_FIELD', 'EQUAL_TO', 'v'),
     'Invalid L7 Rule: L7rule type SSL_DN_FIELD needs to specify a key and a value.'),
    (rule('SSL_DN_FIELD', 'EQUAL_TO', 'v', key='1st'),
     'Invalid L7 Rule: Invalid L7rule distinguished name field.'),
    (rule('SSL_DN_FIELD', 'EQUAL_TO', 'v', key='st_1'),
     'Invalid L7 Rule: Invalid L7rule distinguished name field.'),
    (rule('SSL_DN_FIELD', 'REGEX', '(', key='CN'),
     'Unable to parse regular expression: missing ), unterminated subpattern at position 0'),
])
def test_rule_data_errors(body, detail):
    assert error_message(L7RuleCreate, body) == PREFIX + detail


@pytest.mark.parametrize('field,value,reason', [
    ('value', 'a\nb', 'Value should match the pattern'),
    ('value', 'a\rb', 'Value should match the pattern'),
    ('key', 'a\nb', 'Value should match the pattern'),
    ('value', 'v' * 256, 'maximum character requirement of 255'),
    ('key', 'k' * 256, 'maximum character requirement of 255'),
    ('type', 'QUERY', 'Value should be one of: HOST_NAME, PATH, FILE_TYPE, HEADER, COOKIE, '
                      'SSL_CONN_HAS_CERT, SSL_VERIFY_RESULT, SSL_DN_FIELD'),
    ('compare_type', 'LIKE', 'Value should be one of: REGEX, STARTS_WITH, ENDS_WITH, '
                             'CONTAINS, EQUAL_TO'),
    ('value', ..., 'Mandatory field missing.'),
    ('invert', 'perhaps', 'Value not an unambiguous boolean'),
])
def test_field_errors(field, value, reason):
    body = with_(rule('HEADER', 'EQUAL_TO', 'v', key='k'), **{field: value})
    message = error_message(L7RuleCreate, body)
    assert message.startswith(f'Invalid input for field/attribute {field}.') and reason in message


def test_length_boundaries_are_inclusive():
    assert valid(L7RuleCreate, rule('HEADER', 'EQUAL_TO', 'v' * 255, key='k' * 255))


def test_graph_rule_has_no_project():
    assert valid(GraphL7Rule, L7RULE).value == '/api'
    assert 'Unknown attribute' in error_message(GraphL7Rule, with_(L7RULE, tenant_id='p'))
    assert valid(L7RuleCreate, with_(L7RULE, tenant_id='p')).project_id == 'p'


def test_update_and_merged_check():
    update = valid(L7RuleUpdate, {'invert': None, 'key': None, 'value': 'x'})
    assert update.model_dump(exclude_unset=True) == {'invert': None, 'key': None, 'value': 'x'}
    assert error_message(L7RuleUpdate, {'value': None}) == 'None is not a valid option for value'
    # The service merges the stored rule with the update and re-checks it.
    with pytest.raises(L7RuleValidation, match='requires a key'):
        check_l7rule_data('HEADER', 'EQUAL_TO', None, 'x')
    check_l7rule_data('HEADER', 'EQUAL_TO', 'X-Foo', 'x')
    assert set(UPDATE_NULL_DEFAULTS) <= set(L7RuleUpdate.model_fields)
