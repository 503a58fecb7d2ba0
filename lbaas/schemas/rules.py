"""Rules that span several fields or objects, as pure functions of plain values.

The schemas call them when everything needed is in one request body; the
service layer calls them with the stored values merged in (PUT, references
to existing objects, configuration). Each raises ValidationFailure (HTTP 400).
"""
import ipaddress
import re
from collections.abc import Iterable, Sequence
from typing import Any

from lbaas.schemas import common as c
from lbaas.schemas.common import InvalidOption, ListenerNoChildren, ValidationFailure

# Cookie names must be RFC 6265 tokens: no controls, separators or spaces.
_BAD_COOKIE_NAME = re.compile(r'[\x00-\x20"(),/:;<=>?@\[\\\]{}\x7f]')


def l4_protocol(protocol: str) -> str:
    """The L4 protocol a listener or pool protocol occupies a port with."""
    try:
        return c.L4_PROTOCOL_MAP[protocol]
    except KeyError:
        raise InvalidOption(protocol, 'protocol') from None


def check_listener_pool_protocol(listener_protocol: str, pool_protocol: str | None) -> None:
    """Section 2.2: default_pool_id, redirect_pool_id and pool.listener_id."""
    if listener_protocol == 'PROMETHEUS':
        raise ListenerNoChildren(listener_protocol)
    if pool_protocol not in c.LISTENER_POOL_PROTOCOL_MAP.get(listener_protocol, ()):
        raise ValidationFailure(
            f"The pool protocol '{pool_protocol}' is invalid while the listener "
            f"protocol is '{listener_protocol}'.")


def check_listener_can_have_children(listener_protocol: str) -> None:
    """PROMETHEUS listeners take no default pool and no L7 policies."""
    if listener_protocol == 'PROMETHEUS':
        raise ListenerNoChildren(listener_protocol)


def check_l7policy_listener(listener_protocol: str) -> None:
    """An L7 policy may not hang off a PROMETHEUS listener. The amphora
    provider's narrower HTTP/TERMINATED_HTTPS rule is a 501 from the provider."""
    check_listener_can_have_children(listener_protocol)


def check_hm_type_for_pool(pool_protocol: str | None, hm_type: str) -> None:
    """Section 2.4: which health monitor types a pool protocol accepts."""
    if pool_protocol in c.LVS_PROTOCOLS:
        allowed = ('UDP-CONNECT', 'SCTP', 'TCP', 'HTTP')
        if hm_type not in allowed:
            raise ValidationFailure(
                f'The associated pool protocol is {pool_protocol}, so only a '
                f'{"/".join(allowed)} health monitor is supported.')
    elif hm_type in ('UDP-CONNECT', 'SCTP'):
        raise ValidationFailure(
            f'The {hm_type} type is only supported for pools of type UDP or SCTP.')


def check_udp_connect_delay(hm_type: str, delay: int, minimum: int) -> None:
    """[api_settings] udp_connect_min_interval_health_monitor (default 3)."""
    if hm_type == 'UDP-CONNECT' and delay < minimum:
        raise ValidationFailure(
            f'The request delay value {delay} should be larger than {minimum} for '
            f'UDP-CONNECT health monitor type.')


def check_hm_http_fields(hm_type: str, given_fields: Iterable[str]) -> None:
    """http_method, url_path and expected_codes only exist for HTTP(S) monitors.

    On POST pass the fields with a non-empty value; on PUT pass every field
    the client sent (even null), as Octavia does.
    """
    if hm_type in c.HM_HTTP_TYPES:
        return
    for field in ('http_method', 'url_path', 'expected_codes'):
        if field in given_fields:
            raise InvalidOption(field, f'health monitors of type {hm_type}')


def check_hm_domain_name(http_version: float | None, domain_name: str | None) -> None:
    """domain_name is sent in the Host header, which needs HTTP/1.1."""
    if not domain_name:
        return
    if not http_version:
        raise ValidationFailure(
            "'http_version' must be specified when 'domain_name' is provided.")
    if http_version < 1.1:
        raise InvalidOption(f'http_version {http_version}',
                            'health monitors HTTP 1.1 domain name health check')


def check_insert_headers(listener_protocol: str, header_names: Iterable[str]) -> None:
    """Section 2.6. An empty header map is always accepted."""
    names = list(header_names)
    if not names:
        return
    if listener_protocol not in c.HEADER_INSERTION_PROTOCOLS:
        raise InvalidOption('insert-headers', f'a {listener_protocol} protocol listener.')
    unknown = [n for n in names if n not in c.INSERT_HTTP_HEADERS + c.INSERT_SSL_HEADERS]
    if unknown:
        raise InvalidOption(unknown, 'insert_headers')
    ssl_headers = [n for n in names if n in c.INSERT_SSL_HEADERS]
    if ssl_headers and listener_protocol != 'TERMINATED_HTTPS':
        raise InvalidOption(ssl_headers, f'{listener_protocol} protocol listener.')


def check_listener_tls(protocol: str, *, default_tls_container_ref: str | None = None,
                       sni_container_refs: Sequence[str] = (),
                       client_ca_tls_container_ref: str | None = None,
                       client_authentication: str | None = 'NONE',
                       client_crl_container_ref: str | None = None) -> None:
    """Certificate references against the listener protocol and each other."""
    has_cert = bool(default_tls_container_ref or sni_container_refs)
    has_refs = has_cert or bool(client_ca_tls_container_ref)
    if has_refs and protocol in c.LVS_PROTOCOLS:
        raise ValidationFailure(f'{protocol} protocol listener does not support TLS.')
    if has_refs and protocol not in c.CERT_REF_PROTOCOLS:
        raise ValidationFailure('Certificate container references are only allowed on '
                                'TERMINATED_HTTPS and PROMETHEUS protocol listeners.')
    if client_ca_tls_container_ref and not has_cert:
        raise ValidationFailure('An SNI or default certificate container reference must '
                                'be provided with a client CA container reference.')
    if protocol == 'TERMINATED_HTTPS' and not has_cert:
        raise ValidationFailure('An SNI or default certificate container reference must '
                                'be provided for TERMINATED_HTTPS protocol listeners.')
    if client_authentication not in (None, 'NONE') and not client_ca_tls_container_ref:
        raise ValidationFailure(f'Client authentication setting {client_authentication} '
                                'requires a client CA container reference.')
    if client_crl_container_ref and not client_ca_tls_container_ref:
        raise ValidationFailure('A client authentication CA reference is required to '
                                'specify a client authentication revocation list.')


def check_hsts(protocol: str, hsts_max_age: int | None, include_subdomains: Any,
               preload: Any) -> None:
    """HSTS is a TERMINATED_HTTPS feature and its flags need a max age."""
    if (include_subdomains or preload) and hsts_max_age is None:
        raise ValidationFailure('HSTS configuration options hsts_include_subdomains and '
                                'hsts_preload only make sense if hsts_max_age is set as well.')
    if hsts_max_age is not None and protocol != 'TERMINATED_HTTPS':
        raise ValidationFailure('The HSTS feature can only be used for listeners using '
                                'the TERMINATED_HTTPS protocol.')


def check_allowed_cidrs(allowed_cidrs: Iterable[str] | None,
                        vip_addresses: Sequence[str]) -> None:
    """Each CIDR must have the IP version of at least one of the LB's VIPs."""
    vip_versions = {ipaddress.ip_address(v).version for v in vip_addresses}
    for cidr in allowed_cidrs or ():
        if ipaddress.ip_network(cidr, strict=False).version not in vip_versions:
            raise ValidationFailure(f'CIDR {cidr} IP version incompatible with all VIPs '
                                    f'{", ".join(vip_addresses)} IP version.')


def check_allowed_cidrs_without_sgs(allowed_cidrs: Sequence[str] | None,
                                    vip_sg_ids: Sequence[str] | None) -> None:
    """Custom VIP security groups replace the allowed_cidrs mechanism."""
    if allowed_cidrs and vip_sg_ids:
        raise ValidationFailure('Allowed CIDRs are not allowed when using custom VIP '
                                'Security Groups.')


def check_session_persistence(sp_type: str | None, cookie_name: str | None) -> None:
    """cookie_name is required for APP_COOKIE and only allowed there."""
    if cookie_name:
        if sp_type != 'APP_COOKIE':
            raise ValidationFailure('Field "cookie_name" can only be specified with session '
                                    'persistence of type "APP_COOKIE".')
        if _BAD_COOKIE_NAME.search(cookie_name) or not cookie_name.isascii():
            raise ValidationFailure('Supplied "cookie_name" is invalid.')
    elif sp_type == 'APP_COOKIE':
        raise ValidationFailure('Field "cookie_name" must be specified when using the '
                                '"APP_COOKIE" session persistence type.')


def check_session_persistence_for_protocol(pool_protocol: str | None, sp_type: str | None,
                                           persistence_timeout: int | None,
                                           persistence_granularity: str | None) -> None:
    """UDP/SCTP pools persist by source IP only; the LVS knobs need UDP/SCTP."""
    if pool_protocol in c.LVS_PROTOCOLS:
        if sp_type and sp_type != 'SOURCE_IP':
            raise ValidationFailure(f'Session persistence of type {sp_type} is not supported '
                                    f'for {pool_protocol} protocol pools.')
    elif persistence_timeout is not None or persistence_granularity is not None:
        raise ValidationFailure('persistence_timeout and persistence_granularity are only '
                                'for UDP and SCTP protocol pools.')


def check_pool_tls_refs(ca_tls_container_ref: str | None,
                        crl_container_ref: str | None) -> None:
    if crl_container_ref and not ca_tls_container_ref:
        raise ValidationFailure('A CA reference is required to specify a certificate '
                                'revocation list.')


def check_tls_versions_minimum(versions: Iterable[str] | None,
                               minimum: str | None) -> None:
    """[api_settings] minimum_tls_version floors every requested version."""
    if not minimum or not versions:
        return
    floor = c.TLS_VERSIONS.index(minimum)
    rejected = [v for v in versions if c.TLS_VERSIONS.index(v) < floor]
    if rejected:
        raise ValidationFailure('Requested TLS versions are less than the minimum: '
                                + ', '.join(rejected) + ' < ' + minimum)


def check_ciphers_not_prohibited(tls_ciphers: str | None, prohibit_list: str) -> None:
    """[api_settings] tls_cipher_prohibit_list, a colon-separated list."""
    prohibited = {p for p in prohibit_list.split(':') if p}
    rejected = [cipher for cipher in (tls_ciphers or '').split(':') if cipher in prohibited]
    if rejected:
        raise ValidationFailure('The following ciphers have been prohibited by an '
                                'administrator: ' + ', '.join(rejected))


def check_ip_not_reserved(address: str,
                          reserved_ips: Iterable[str] = c.DEFAULT_RESERVED_IPS) -> None:
    """[networking] reserved_ips may not be member addresses."""
    ip = ipaddress.ip_address(address)
    if any(ip == ipaddress.ip_address(r) for r in reserved_ips):
        raise InvalidOption(ip.exploded.upper(), 'member address')
