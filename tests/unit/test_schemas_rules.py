"""Cross-object rules (lbaas.schemas.rules) called with plain values."""
import itertools

import pytest

from lbaas.schemas import common as c
from lbaas.schemas import rules
from lbaas.schemas.common import InvalidOption, ListenerNoChildren, ValidationFailure

# Reference section 2.2, written out independently of the constant under test.
VALID_PAIRS = {
    ('TCP', 'HTTP'), ('TCP', 'HTTPS'), ('TCP', 'PROXY'), ('TCP', 'PROXYV2'), ('TCP', 'TCP'),
    ('HTTP', 'HTTP'), ('HTTP', 'PROXY'), ('HTTP', 'PROXYV2'),
    ('HTTPS', 'HTTPS'), ('HTTPS', 'PROXY'), ('HTTPS', 'PROXYV2'), ('HTTPS', 'TCP'),
    ('TERMINATED_HTTPS', 'HTTP'), ('TERMINATED_HTTPS', 'PROXY'), ('TERMINATED_HTTPS', 'PROXYV2'),
    ('UDP', 'UDP'), ('SCTP', 'SCTP'),
}


@pytest.mark.parametrize('listener,pool',
                         list(itertools.product(c.LISTENER_PROTOCOLS, c.POOL_PROTOCOLS)))
def test_listener_pool_protocol_matrix(listener, pool):
    if (listener, pool) in VALID_PAIRS:
        rules.check_listener_pool_protocol(listener, pool)
    elif listener == 'PROMETHEUS':
        with pytest.raises(ListenerNoChildren):
            rules.check_listener_pool_protocol(listener, pool)
    else:
        with pytest.raises(ValidationFailure) as info:
            rules.check_listener_pool_protocol(listener, pool)
        assert info.value.message == (
            f"Validation failure: The pool protocol '{pool}' is invalid while the listener "
            f"protocol is '{listener}'.")


@pytest.mark.parametrize('protocol,l4', [
    ('TCP', 'TCP'), ('HTTP', 'TCP'), ('HTTPS', 'TCP'), ('TERMINATED_HTTPS', 'TCP'),
    ('PROXY', 'TCP'), ('PROXYV2', 'TCP'), ('PROMETHEUS', 'TCP'), ('UDP', 'UDP'), ('SCTP', 'SCTP'),
])
def test_l4_protocol(protocol, l4):
    assert rules.l4_protocol(protocol) == l4


def test_l4_protocol_unknown():
    with pytest.raises(InvalidOption):
        rules.l4_protocol('QUIC')


def test_l7policy_listener():
    rules.check_l7policy_listener('TCP')  # the amphora provider's 501, not ours
    with pytest.raises(ListenerNoChildren, match='PROMETHEUS'):
        rules.check_l7policy_listener('PROMETHEUS')


@pytest.mark.parametrize('delay,ok', [(2, False), (3, True)])
def test_udp_connect_minimum_delay(delay, ok):
    rules.check_udp_connect_delay('TCP', 0, 3)
    if ok:
        rules.check_udp_connect_delay('UDP-CONNECT', delay, 3)
    else:
        with pytest.raises(ValidationFailure, match='should be larger than 3'):
            rules.check_udp_connect_delay('UDP-CONNECT', delay, 3)


def test_hm_http_fields_on_update_count_nulls_as_sent():
    rules.check_hm_http_fields('HTTPS', {'url_path'})
    with pytest.raises(InvalidOption, match='url_path is not a valid option for health '
                                            'monitors of type PING'):
        rules.check_hm_http_fields('PING', {'url_path'})


@pytest.mark.parametrize('version,domain,error', [
    (None, None, None), (1.0, None, None), (1.1, 'example.com', None),
    (None, 'example.com', "'http_version' must be specified"),
    (1.0, 'example.com', 'http_version 1.0 is not a valid option'),
])
def test_hm_domain_name(version, domain, error):
    if error is None:
        rules.check_hm_domain_name(version, domain)
    else:
        with pytest.raises(ValidationFailure, match=error):
            rules.check_hm_domain_name(version, domain)


@pytest.mark.parametrize('cidrs,vips,ok', [
    (['198.18.0.0/24'], ['198.18.1.1'], True),
    (['fd00::/8'], ['198.18.1.1'], False),
    (['fd00::/8', '198.18.0.0/16'], ['198.18.1.1', 'fd00:1b::1'], True),
    (None, ['198.18.1.1'], True),
])
def test_allowed_cidrs_match_a_vip_ip_version(cidrs, vips, ok):
    if ok:
        rules.check_allowed_cidrs(cidrs, vips)
    else:
        with pytest.raises(ValidationFailure, match='CIDR fd00::/8 IP version incompatible'):
            rules.check_allowed_cidrs(cidrs, vips)


def test_allowed_cidrs_exclude_custom_security_groups():
    rules.check_allowed_cidrs_without_sgs(['198.18.0.0/24'], [])
    rules.check_allowed_cidrs_without_sgs(None, ['sg'])
    with pytest.raises(ValidationFailure, match='Allowed CIDRs are not allowed'):
        rules.check_allowed_cidrs_without_sgs(['198.18.0.0/24'], ['sg'])


def test_tls_versions_minimum():
    rules.check_tls_versions_minimum(['TLSv1.2', 'TLSv1.3'], 'TLSv1.2')
    rules.check_tls_versions_minimum(['SSLv3'], None)
    with pytest.raises(ValidationFailure) as info:
        rules.check_tls_versions_minimum(['TLSv1.1', 'TLSv1.3'], 'TLSv1.2')
    assert info.value.message == ('Validation failure: Requested TLS versions are less than '
                                  'the minimum: TLSv1.1 < TLSv1.2')


def test_prohibited_ciphers():
    rules.check_ciphers_not_prohibited('AES128-SHA:AES256-SHA', '')
    rules.check_ciphers_not_prohibited(None, 'RC4')
    with pytest.raises(ValidationFailure, match='prohibited by an administrator: RC4-SHA'):
        rules.check_ciphers_not_prohibited('AES128-SHA:RC4-SHA', 'RC4-SHA:DES')


def test_reserved_ips_from_configuration():
    rules.check_ip_not_reserved('169.254.169.254', reserved_ips=['198.51.100.4'])
    with pytest.raises(InvalidOption, match='FD00:0000:0000:0000:0000:0000:0000:0001 is not a '
                                            'valid option for member address'):
        rules.check_ip_not_reserved('fd00::1', reserved_ips=['FD00::0001'])


def test_listener_tls_on_put_with_merged_values():
    rules.check_listener_tls('TERMINATED_HTTPS', default_tls_container_ref='c',
                             client_ca_tls_container_ref='ca', client_authentication=None)
    with pytest.raises(ValidationFailure, match='requires a client CA'):
        rules.check_listener_tls('TCP', client_authentication='OPTIONAL')


def test_session_persistence_merged_on_put():
    rules.check_session_persistence('APP_COOKIE', 'JSESSIONID')
    rules.check_session_persistence(None, None)
    with pytest.raises(ValidationFailure, match='must be specified'):
        rules.check_session_persistence('APP_COOKIE', None)
