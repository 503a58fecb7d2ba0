"""L7 rule request bodies and the per-type rule checks (reference 1.7, 2.5)."""
import re
from typing import Annotated, Self

from pydantic import Field, model_validator

from lbaas.schemas import common as c
from lbaas.schemas.common import L7RuleValidation, ProjectScoped, RequestModel

# What PUT null means, per field (fields not listed: null clears the value).
UPDATE_NULL_DEFAULTS = {'invert': False, 'tags': []}

# Character sets of RFC 7230/6265 as Octavia applies them. Octavia's classes
# contain the range '+-.', which also admits ',' in names and cookie values.
_HEADER_NAME = re.compile(r"^[A-Za-z0-9!#$%&'*+,\-.^_`|~]+$")
_COOKIE_VALUE = re.compile(r"^[A-Za-z0-9!#$%&'()*+,\-./:<=>?@\[\]^_`{|}~]+$")
_HEADER_VALUE = re.compile(r'^[\x21-\x7e]+$')           # visible ASCII
_QUOTED_HEADER_VALUE = re.compile(r'^"[\x20-\x7e\t]*"$')  # may hold blanks
_DN_FIELD = re.compile(r'^([a-zA-Z][A-Za-z0-9-]*)$')
_ALL_BUT_REGEX = ('STARTS_WITH', 'ENDS_WITH', 'CONTAINS', 'EQUAL_TO')

NoNewline = Annotated[str, Field(max_length=255, pattern=r'^[^\r\n]*$')]


class _RuleProblem(Exception):
    """A rule defect, worded like Octavia's inner exception."""


def _check_regex(value: str) -> None:
    try:
        re.compile(value)
    except re.error as exc:
        raise _RuleProblem(f'Unable to parse regular expression: {exc}') from None


def _check_value_charset(value: str, compare_type: str, what: str, cookie: bool) -> None:
    if compare_type == 'REGEX':
        _check_regex(value)
        return
    ok = (_COOKIE_VALUE.match(value) if cookie
          else _HEADER_VALUE.match(value) or _QUOTED_HEADER_VALUE.match(value))
    if not ok:
        raise _RuleProblem(f'Invalid characters in {what}')


def _check_keyed_rule(rule_type: str, compare_type: str, key: str | None,
                      value: str) -> None:
    """HEADER and COOKIE: a header-name key and a charset-checked value."""
    if not key:
        raise _RuleProblem('Invalid L7 Rule: L7 rule type requires a key')
    if not _HEADER_NAME.match(key):
        raise _RuleProblem('Invalid characters in key')
    cookie = rule_type == 'COOKIE'
    _check_value_charset(value, compare_type, 'cookie value' if cookie else 'header value',
                         cookie)


def _ssl_rule_message(rule_type: str, compare_type: str, key: str | None,
                      value: str) -> str | None:
    """The SSL_* rule types; returns the problem text or None."""
    if rule_type == 'SSL_DN_FIELD':
        if compare_type == 'REGEX':
            _check_regex(value)
        if not key:
            return f'L7rule type {rule_type} needs to specify a key and a value.'
        return None if _DN_FIELD.match(key) else 'Invalid L7rule distinguished name field.'
    if key:
        return f'L7rule type {rule_type} does not use the "key" field.'
    if rule_type == 'SSL_CONN_HAS_CERT' and value.lower() != 'true':
        return f'L7rule value {value} is not a boolean True string.'
    if rule_type == 'SSL_VERIFY_RESULT' and not (value.isascii() and value.isdigit()):
        return f'L7rule type {rule_type} needs a int value, which is >= 0'
    if compare_type != 'EQUAL_TO':
        return f'L7rule type {rule_type} only supports the EQUAL_TO compare type.'
    return None


def _check_rule(rule_type: str, compare_type: str, key: str | None,
                value: str | None) -> None:
    if not value:
        raise _RuleProblem('Invalid L7 Rule: L7 rule type requires a value')
    if rule_type in ('HEADER', 'COOKIE'):
        _check_keyed_rule(rule_type, compare_type, key, value)
    elif rule_type in ('HOST_NAME', 'PATH', 'FILE_TYPE'):
        allowed = ('REGEX', 'EQUAL_TO') if rule_type == 'FILE_TYPE' else c.L7RULE_COMPARE_TYPES
        if compare_type not in allowed:
            raise _RuleProblem('Invalid L7 Rule: invalid comparison type for rule type')
        _check_value_charset(value, compare_type, 'comparison value', cookie=False)
    elif rule_type.startswith('SSL_'):
        problem = _ssl_rule_message(rule_type, compare_type, key, value)
        if problem:
            raise _RuleProblem(f'Invalid L7 Rule: {problem}')
    else:
        raise _RuleProblem('Invalid L7 Rule: invalid rule type')


def check_l7rule_data(rule_type: str, compare_type: str, key: str | None,
                      value: str | None) -> None:
    """Section 2.5. The service calls this with the merged values on PUT."""
    try:
        _check_rule(rule_type, compare_type, key, value)
    except _RuleProblem as problem:
        raise L7RuleValidation(str(problem)) from None


class GraphL7Rule(RequestModel):
    """A rule inline in an L7 policy (graph create or policy POST)."""
    type: c.L7RuleType
    compare_type: c.L7RuleCompareType
    key: NoNewline | None = None
    value: NoNewline
    invert: bool = False
    admin_state_up: c.AdminStateUp = True
    tags: c.TagList = []

    @model_validator(mode='after')
    def _check_rule_data(self) -> Self:
        check_l7rule_data(self.type, self.compare_type, self.key, self.value)
        return self


class L7RuleCreate(GraphL7Rule, ProjectScoped):
    """POST /v2/lbaas/l7policies/{l7policy_id}/rules (policy from the URL).
    The 50 rules per policy limit is the service layer's (409)."""


class L7RuleUpdate(RequestModel):
    """PUT /v2/lbaas/l7policies/{l7policy_id}/rules/{id}. The service merges
    the stored rule with these values and calls check_l7rule_data."""
    NOT_NULL = ('type', 'compare_type', 'value')
    type: c.L7RuleType | None = None
    compare_type: c.L7RuleCompareType | None = None
    key: NoNewline | None = None
    value: NoNewline | None = None
    invert: bool | None = None
    admin_state_up: c.OptionalAdminStateUp = None
    tags: list[c.Tag] | None = None
