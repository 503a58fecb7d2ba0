"""Shared vocabulary of the request schemas: enumerations, field types, the
base model, the error classes and the Octavia-style error formatter.

Octavia's field names, ranges and wording live here and in the sibling
modules only (DESIGN.md section 3).
"""
import copy
import ipaddress
import uuid
from collections.abc import Mapping
from typing import Annotated, Any, ClassVar, Literal, get_args

import pydantic
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    Strict,
    model_validator,
)
from pydantic_core import ErrorDetails

# --- enumerations (octavia-lib constants, reference section 2.1) -----------
# Those that request fields accept are spelt as Literal types (which the type
# checker can read); the tuples are their values, in the same order.
ListenerProtocol = Literal['TCP', 'HTTP', 'HTTPS', 'TERMINATED_HTTPS', 'UDP', 'SCTP',
                           'PROMETHEUS']
PoolProtocol = Literal['TCP', 'HTTP', 'HTTPS', 'PROXY', 'PROXYV2', 'UDP', 'SCTP']
LbAlgorithm = Literal['ROUND_ROBIN', 'LEAST_CONNECTIONS', 'SOURCE_IP', 'SOURCE_IP_PORT']
SessionPersistenceType = Literal['SOURCE_IP', 'HTTP_COOKIE', 'APP_COOKIE']
HmType = Literal['HTTP', 'HTTPS', 'PING', 'TCP', 'TLS-HELLO', 'UDP-CONNECT', 'SCTP']
HmHttpMethod = Literal['GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'TRACE', 'OPTIONS', 'CONNECT',
                       'PATCH']
L7PolicyAction = Literal['REJECT', 'REDIRECT_TO_URL', 'REDIRECT_TO_POOL', 'REDIRECT_PREFIX']
L7RuleType = Literal['HOST_NAME', 'PATH', 'FILE_TYPE', 'HEADER', 'COOKIE',
                     'SSL_CONN_HAS_CERT', 'SSL_VERIFY_RESULT', 'SSL_DN_FIELD']
L7RuleCompareType = Literal['REGEX', 'STARTS_WITH', 'ENDS_WITH', 'CONTAINS', 'EQUAL_TO']
ClientAuthentication = Literal['NONE', 'OPTIONAL', 'MANDATORY']
RedirectHttpCode = Literal[301, 302, 303, 307, 308]

LISTENER_PROTOCOLS: tuple[str, ...] = get_args(ListenerProtocol)
POOL_PROTOCOLS: tuple[str, ...] = get_args(PoolProtocol)
LB_ALGORITHMS: tuple[str, ...] = get_args(LbAlgorithm)
SESSION_PERSISTENCE_TYPES: tuple[str, ...] = get_args(SessionPersistenceType)
HM_TYPES: tuple[str, ...] = get_args(HmType)
HM_HTTP_TYPES = ('HTTP', 'HTTPS')
HM_HTTP_METHODS: tuple[str, ...] = get_args(HmHttpMethod)
HM_HTTP_VERSIONS = (1.0, 1.1)
L7POLICY_ACTIONS: tuple[str, ...] = get_args(L7PolicyAction)
L7RULE_TYPES: tuple[str, ...] = get_args(L7RuleType)
L7RULE_COMPARE_TYPES: tuple[str, ...] = get_args(L7RuleCompareType)
CLIENT_AUTH_MODES: tuple[str, ...] = get_args(ClientAuthentication)
TLS_VERSIONS = ('SSLv3', 'TLSv1', 'TLSv1.1', 'TLSv1.2', 'TLSv1.3')  # oldest first
ALPN_PROTOCOLS = ('h2', 'http/1.1', 'http/1.0')
REDIRECT_HTTP_CODES: tuple[int, ...] = get_args(RedirectHttpCode)
TOPOLOGIES = ('SINGLE', 'ACTIVE_STANDBY', 'ACTIVE_ACTIVE')
VNIC_TYPES = ('normal', 'direct')
PROVISIONING_STATUSES = ('ACTIVE', 'PENDING_CREATE', 'PENDING_UPDATE', 'PENDING_DELETE',
                         'DELETED', 'ERROR')
OPERATING_STATUSES = ('ONLINE', 'OFFLINE', 'DEGRADED', 'ERROR', 'DRAINING', 'NO_MONITOR')
AMPHORA_STATUSES = ('PENDING_CREATE', 'BOOTING', 'ALLOCATED', 'READY', 'PENDING_DELETE',
                    'DELETED', 'ERROR', 'FAILOVER_STOPPED')

# --- protocol maps (reference sections 2.2 and 2.6) --------------------------
LISTENER_POOL_PROTOCOL_MAP = {
    'TCP': ('HTTP', 'HTTPS', 'PROXY', 'PROXYV2', 'TCP'),
    'HTTP': ('HTTP', 'PROXY', 'PROXYV2'),
    'HTTPS': ('HTTPS', 'PROXY', 'PROXYV2', 'TCP'),
    'TERMINATED_HTTPS': ('HTTP', 'PROXY', 'PROXYV2'),
    'UDP': ('UDP',),
    'SCTP': ('SCTP',),
    'PROMETHEUS': (),
}
# Port uniqueness on a load balancer is per L4 protocol.
L4_PROTOCOL_MAP = {p: 'TCP' for p in ('TCP', 'HTTP', 'HTTPS', 'TERMINATED_HTTPS', 'PROXY',
                                      'PROXYV2', 'PROMETHEUS')}
L4_PROTOCOL_MAP.update({'UDP': 'UDP', 'SCTP': 'SCTP'})
LVS_PROTOCOLS = ('UDP', 'SCTP')
INSERT_HTTP_HEADERS = ('X-Forwarded-For', 'X-Forwarded-Port', 'X-Forwarded-Proto',
                       'X-Forwarded-IP', 'X-Client-IP', 'X-Real-IP')
INSERT_SSL_HEADERS = ('X-SSL-Client-Verify', 'X-SSL-Client-Has-Cert', 'X-SSL-Client-DN',
                      'X-SSL-Client-CN', 'X-SSL-Issuer', 'X-SSL-Client-SHA1',
                      'X-SSL-Client-Not-Before', 'X-SSL-Client-Not-After')
HEADER_INSERTION_PROTOCOLS = ('HTTP', 'TERMINATED_HTTPS')
CERT_REF_PROTOCOLS = ('TERMINATED_HTTPS', 'PROMETHEUS')

# --- numeric bounds and static defaults ---------------------------------------
MIN_PORT, MAX_PORT = 1, 65535
MIN_CONNECTION_LIMIT = DEFAULT_CONNECTION_LIMIT = -1
MIN_TIMEOUT, MAX_TIMEOUT = 0, 2073600000  # milliseconds, 24 days
MIN_WEIGHT, MAX_WEIGHT, DEFAULT_WEIGHT = 0, 256, 1
MIN_HM_RETRIES, MAX_HM_RETRIES, DEFAULT_MAX_RETRIES_DOWN = 1, 10, 3
DEFAULT_HM_HTTP_METHOD: HmHttpMethod = 'GET'
DEFAULT_HM_URL_PATH, DEFAULT_HM_EXPECTED_CODES = '/', '200'
MIN_POLICY_POSITION, MAX_POLICY_POSITION = 1, 2147483647
DEFAULT_REDIRECT_HTTP_CODE = 302
MIN_QUOTA, MAX_QUOTA = -1, 2000000000
DEFAULT_RESERVED_IPS = ('169.254.169.254',)  # [networking] reserved_ips default
MAX_PROFILE_DATA_LENGTH = 4096
TLS_CIPHERS_CHARSET = r'^[A-Za-z0-9\-+!:@=_.]+$'


# --- errors ----------------------------------------------------------------------
class ValidationFailure(ValueError):
    """A rule that is not about one field's type or range was broken (HTTP 400).

    It subclasses ValueError so that raising it inside a pydantic validator
    surfaces as a normal ValidationError; format_validation_error then prints
    `message` untouched. The service layer raises it directly from rules.py.
    """
    template = 'Validation failure: {detail}'

    def __init__(self, detail: str):
        self.detail = detail
        self.message = self.template.format(detail=detail)
        super().__init__(self.message)


class InvalidOption(ValidationFailure):
    template = '{detail}'

    def __init__(self, value: Any, option: str):
        super().__init__(f'{value} is not a valid option for {option}')


class InvalidL7PolicyAction(ValidationFailure):
    template = 'Invalid L7 Policy action specified: {detail}'


class InvalidL7PolicyArgs(ValidationFailure):
    template = 'Invalid L7 Policy arguments: {detail}'


class L7RuleValidation(ValidationFailure):
    template = 'Error parsing L7Rule: {detail}'


class ListenerNoChildren(ValidationFailure):
    template = 'Protocol {detail} listeners cannot have child objects.'


# --- single-field checks (used as AfterValidators) ----------------------------
def canonical_uuid(value: Any) -> str:
    """Accept any UUID spelling and return the canonical lowercase form."""
    try:
        return str(uuid.UUID(value))
    except (TypeError, ValueError, AttributeError):
        raise ValueError('Value should be UUID format') from None


def check_ip_address(value: str) -> str:
    try:
        ipaddress.ip_address(value)
    except ValueError:
        raise ValueError('Value should be IPv4 or IPv6 format') from None
    return value  # echoed back exactly as the client spelled it


def normalize_cidr(value: str) -> str:
    try:
        return str(ipaddress.ip_network(value, strict=False))
    except ValueError:
        raise ValueError('Value should be IPv4 or IPv6 CIDR format') from None


def check_tls_versions(versions: list[str]) -> list[str]:
    if not versions:
        raise ValidationFailure('Empty TLS version list. Either specify at least one TLS '
                                'version or remove this parameter to use the default.')
    invalid = [v for v in versions if v not in TLS_VERSIONS]
    if invalid:
        raise ValidationFailure('Invalid TLS versions: ' + ', '.join(invalid))
    return versions


def check_alpn_protocols(protocols: list[str]) -> list[str]:
    if not protocols:
        raise ValidationFailure('Empty ALPN protocol list. Either specify at least one ALPN '
                                'protocol or remove this parameter to use the default.')
    invalid = [p for p in protocols if p not in ALPN_PROTOCOLS]
    if invalid:
        raise ValidationFailure('Invalid ALPN protocol: ' + ', '.join(invalid))
    return protocols


def _null_means_false(value: Any) -> Any:
    return False if value is None else value  # WSME quirk: admin_state_up null is false


def _null_means_empty_list(value: Any) -> Any:
    return [] if value is None else value


def _null_means_empty_dict(value: Any) -> Any:
    return {} if value is None else value


# --- field types -------------------------------------------------------------------
EMPTY_LIST_IF_NULL = BeforeValidator(_null_means_empty_list)


# Every integer column is a 32-bit INTEGER on PostgreSQL and MariaDB.
DB_INT_MAX = 2 ** 31 - 1


def _integer_text(value: Any) -> Any:
    """WSME converts numeric strings with int() (the CLI sends "42"); so do we.
    Floats and booleans stay errors."""
    if isinstance(value, str) and value.strip().lstrip('+-').isdigit() \
            and len(value.strip()) <= 12:
        return int(value)
    return value


def int_bounds(ge: int | None = None, le: int | None = None) -> tuple[Any, ...]:
    """Metadata of an integer (or its decimal string) within [ge, le], and
    always within what the database stores: `Annotated[int, *int_bounds(...)]`."""
    return (BeforeValidator(_integer_text), Strict(),
            Field(ge=-DB_INT_MAX if ge is None else ge,
                  le=DB_INT_MAX if le is None else min(le, DB_INT_MAX)))


Uuid = Annotated[str, BeforeValidator(canonical_uuid)]
Name = Annotated[str, Field(max_length=255)]
Description = Annotated[str, Field(max_length=255)]
ProjectId = Annotated[str, Field(max_length=36)]
ContainerRef = Annotated[str, Field(max_length=255)]
Tag = Annotated[str, Field(max_length=255)]
IPAddress = Annotated[str, AfterValidator(check_ip_address)]
Cidr = Annotated[str, AfterValidator(normalize_cidr)]
Port = Annotated[int, *int_bounds(MIN_PORT, MAX_PORT)]
TlsCiphers = Annotated[str, Field(max_length=2048, pattern=TLS_CIPHERS_CHARSET)]
TlsVersionList = Annotated[list[Annotated[str, Field(max_length=32)]],
                           AfterValidator(check_tls_versions)]
AlpnProtocolList = Annotated[list[str], AfterValidator(check_alpn_protocols)]
AdminStateUp = Annotated[bool, BeforeValidator(_null_means_false)]
OptionalAdminStateUp = Annotated[bool | None, BeforeValidator(_null_means_false)]
TagList = Annotated[list[Tag], EMPTY_LIST_IF_NULL]
ContainerRefList = Annotated[list[ContainerRef], EMPTY_LIST_IF_NULL]
HeaderValue = Annotated[str, Field(max_length=255)]
HeaderMap = Annotated[dict[str, HeaderValue], BeforeValidator(_null_means_empty_dict)]


# --- base models ------------------------------------------------------------------
class RequestModel(BaseModel):
    """Base of every request body: unknown attributes are an error, as in WSME.

    NOT_NULL lists fields that may be omitted but not sent as null (PUT bodies).
    """
    model_config = ConfigDict(extra='forbid')
    NOT_NULL: ClassVar[tuple[str, ...]] = ()

    @model_validator(mode='before')
    @classmethod
    def _reject_explicit_nulls(cls, data: Any) -> Any:
        if isinstance(data, dict):
            for field in cls.NOT_NULL:
                if field in data and data[field] is None:
                    raise InvalidOption('None', field)
        return data


class ProjectScoped(RequestModel):
    """Mixin for top-level POST bodies: project_id, also spelt tenant_id."""
    project_id: ProjectId | None = None

    @model_validator(mode='before')
    @classmethod
    def _accept_tenant_id(cls, data: Any) -> Any:
        if isinstance(data, dict) and 'tenant_id' in data:
            data = dict(data)
            tenant_id = data.pop('tenant_id')
            data.setdefault('project_id', tenant_id)  # project_id wins if both are sent
        return data


def apply_null_defaults(changes: Mapping[str, Any],
                        defaults: Mapping[str, Any]) -> dict[str, Any]:
    """Replace explicit nulls of a PUT by their documented defaults (deep copies)."""
    return {key: copy.deepcopy(defaults[key]) if value is None and key in defaults else value
            for key, value in changes.items()}


def parse_bool(value: Any) -> bool:
    """oslo bool_from_string (non-strict): anything not truthy is False."""
    if isinstance(value, bool):
        return value
    return str(value).strip().lower() in ('1', 't', 'true', 'on', 'y', 'yes')


# --- error formatting ----------------------------------------------------------
_REASONS = {
    'missing': 'Mandatory field missing.',
    'greater_than_equal': 'Value should be greater or equal to {ge}',
    'less_than_equal': 'Value should be lower or equal to {le}',
    'string_too_long': 'Value should have a maximum character requirement of {max_length}',
    'string_too_short': 'Value should have a minimum character requirement of {min_length}',
    'string_pattern_mismatch': 'Value should match the pattern {pattern}',
    'string_type': 'Wrong type. Expected a string',
    'int_type': 'Wrong type. Expected an integer',
    'int_parsing': 'Wrong type. Expected an integer',
    'float_type': 'Wrong type. Expected a number',
    'float_parsing': 'Wrong type. Expected a number',
    'bool_type': 'Value not an unambiguous boolean',
    'bool_parsing': 'Value not an unambiguous boolean',
    'list_type': 'Wrong type. Expected a list',
    'dict_type': 'Wrong type. Expected an object',
    'model_type': 'Wrong type. Expected an object',
    'model_attributes_type': 'Wrong type. Expected an object',
}


def _dotted(loc: tuple[int | str, ...]) -> str:
    path = ''
    for part in loc:
        path += f'[{part}]' if isinstance(part, int) else (f'.{part}' if path else str(part))
    return path


def _reason(error: ErrorDetails, parent: str) -> str:
    kind, ctx = error['type'], error.get('ctx') or {}
    if kind == 'extra_forbidden':
        return f'Unknown attribute for argument {parent}'
    if kind == 'literal_error':
        expected = ctx.get('expected', '').replace("'", '').replace(' or ', ', ')
        return f'Value should be one of: {expected}'
    if kind == 'value_error':
        return str(ctx.get('error', error['msg']))
    template = _REASONS.get(kind)
    return template.format(**ctx) if template else error['msg']


def format_validation_error(exc: pydantic.ValidationError, root: str | None = None) -> str:
    """Octavia/WSME wording for the first error of a ValidationError.

    `root` names the body object ("listener", "pool", ...) for errors that
    are about the object itself (unknown attribute at top level).
    """
    error = exc.errors(include_url=False)[0]
    failure = (error.get('ctx') or {}).get('error')
    if isinstance(failure, ValidationFailure):
        return failure.message
    loc = tuple(error['loc'])
    if error['type'] == 'value_error' and not loc:
        return f'Validation failure: {_reason(error, "")}'
    parent = _dotted(loc[:-1]) or root or 'body'
    field = _dotted(loc) or root or 'body'
    value = None if error['type'] == 'missing' else error.get('input')
    return (f"Invalid input for field/attribute {field}. Value: '{value}'. "
            f'{_reason(error, parent)}')
