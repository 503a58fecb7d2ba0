"""Health monitor request bodies (reference 1.7 "Health monitor", 2.4)."""
import re
from typing import Annotated, Any, Self

from pydantic import AfterValidator, BeforeValidator, Field, model_validator

from lbaas.schemas import common as c
from lbaas.schemas import rules
from lbaas.schemas.common import ProjectScoped, RequestModel

# What PUT null means, per field (fields not listed: null clears the value).
UPDATE_NULL_DEFAULTS: dict[str, Any] = {
    'max_retries_down': c.DEFAULT_MAX_RETRIES_DOWN,
    'http_method': c.DEFAULT_HM_HTTP_METHOD,
    'url_path': c.DEFAULT_HM_URL_PATH,
    'expected_codes': c.DEFAULT_HM_EXPECTED_CODES,
    'tags': [],
}

EXPECTED_CODES_PATTERN = r'^(\d{3}(\s*,\s*\d{3})*)$|^(\d{3}-\d{3})$'
# RFC 3986 path characters (unreserved, sub-delims, ':', '@', '/', %XX).
_PATH_CHARS = re.compile(r"^(?:[A-Za-z0-9\-._~!$&'()*+,;=:@/]|%[0-9A-Fa-f]{2})*$")
_DNS_LABEL = re.compile(r'^_?[A-Za-z0-9-]*$')


def check_url_path(value: str) -> str:
    """An absolute path (optionally with query), never a scheme or a host."""
    path = re.split(r'[?#]', value, maxsplit=1)[0]
    if (re.search(r'\s', value) or not path.startswith('/') or path.startswith('//')
            or not _PATH_CHARS.match(path)):
        raise ValueError('Value must be a valid URL Path string')
    return value


def _is_dns_label(label: str) -> bool:
    # 1-63 characters of letters, digits, '-' (not at either end), '_' only first.
    return (0 < len(label) <= 63 and bool(_DNS_LABEL.match(label))
            and not label.startswith('-') and not label.endswith('-'))


def check_domain_name(value: str) -> str:
    name = value[:-1] if value.endswith('.') else value
    if not 0 < len(name) <= 253 or not all(_is_dns_label(lb) for lb in name.split('.')):
        raise ValueError('Value should be a valid DNS domain name')
    return value


def check_http_version(value: Any) -> float:
    """A JSON number equal to 1.0 or 1.1 (not a string, not a boolean)."""
    if (isinstance(value, bool) or not isinstance(value, (int, float))
            or value not in c.HM_HTTP_VERSIONS):
        raise ValueError('Value should be one of: 1.0, 1.1')
    return float(value)


Delay = Annotated[int, *c.int_bounds(ge=0)]       # seconds
Timeout = Annotated[int, *c.int_bounds(ge=0)]     # seconds
Retries = Annotated[int, *c.int_bounds(c.MIN_HM_RETRIES, c.MAX_HM_RETRIES)]
UrlPath = Annotated[str, AfterValidator(check_url_path)]
ExpectedCodes = Annotated[str, Field(pattern=EXPECTED_CODES_PATTERN)]
HttpVersion = Annotated[float, BeforeValidator(check_http_version)]
DomainName = Annotated[str, Field(min_length=1, max_length=255),
                       AfterValidator(check_domain_name)]


class HealthMonitorFields(RequestModel):
    """Optional fields shared by every health monitor body."""
    name: c.Name | None = None
    http_method: c.HmHttpMethod | None = None
    url_path: UrlPath | None = None
    expected_codes: ExpectedCodes | None = None
    http_version: HttpVersion | None = None
    domain_name: DomainName | None = None


class GraphHealthMonitor(HealthMonitorFields):
    """A health monitor inline in a pool (graph create): no pool_id."""
    type: c.HmType
    delay: Delay
    timeout: Timeout
    max_retries: Retries
    max_retries_down: Retries = c.DEFAULT_MAX_RETRIES_DOWN
    admin_state_up: c.AdminStateUp = True
    tags: c.TagList = []

    @model_validator(mode='after')
    def _check_http_options(self) -> Self:
        given = [f for f in ('http_method', 'url_path', 'expected_codes') if getattr(self, f)]
        rules.check_hm_http_fields(self.type, given)
        if self.type in c.HM_HTTP_TYPES:
            self.http_method = self.http_method or c.DEFAULT_HM_HTTP_METHOD
            self.url_path = self.url_path or c.DEFAULT_HM_URL_PATH
            self.expected_codes = self.expected_codes or c.DEFAULT_HM_EXPECTED_CODES
        rules.check_hm_domain_name(self.http_version, self.domain_name)
        return self


class HealthMonitorCreate(GraphHealthMonitor, ProjectScoped):
    """POST /v2/lbaas/healthmonitors. The pool protocol check (2.4) and the
    UDP-CONNECT minimum delay need the pool and config: service layer."""
    pool_id: c.Uuid


class HealthMonitorUpdate(HealthMonitorFields):
    """PUT /v2/lbaas/healthmonitors/{id}. Checks that need the stored type or
    http_version (rules.check_hm_http_fields / check_hm_domain_name) are the
    service layer's."""
    NOT_NULL = ('delay', 'timeout', 'max_retries')
    delay: Delay | None = None
    timeout: Timeout | None = None
    max_retries: Retries | None = None
    max_retries_down: Retries | None = None
    admin_state_up: c.OptionalAdminStateUp = None
    tags: list[c.Tag] | None = None

    @model_validator(mode='after')
    def _check_domain_name_version(self) -> Self:
        if self.http_version is not None and self.domain_name:
            rules.check_hm_domain_name(self.http_version, self.domain_name)
        return self
