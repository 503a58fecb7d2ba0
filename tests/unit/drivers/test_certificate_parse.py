"""parse.py: PKCS12 bundles, certificate containers, CA bundles and CRLs,
checked as Octavia's cert_parser and listener API check them."""

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from lbaas.drivers.certificates import parse
from lbaas.drivers.certificates.base import CertificateError, TLSCertificate, UnreadablePKCS12
from tests.unit.drivers import certmaterial as cm

REF = 'https://km.example/v1/containers/0d3e0f7e-3f0b-4d8e-8d5b-2b6f9a4c1d01'
GARBAGE = b'\x00\x01 this is not a certificate \xff'
PASSPHRASE = b'correct horse'


@pytest.fixture(scope='module')
def m():
    return cm.material()


def _key_body_lines(key):
    """The base64 lines of a key's PEM, which no error message may carry."""
    return [line for line in cm.key_pem(key, pkcs8=True).splitlines() if b'-----' not in line]


def assert_no_key_material(exc, *keys):
    text = str(exc).encode()
    for key in keys:
        for line in _key_body_lines(key):
            assert line not in text


def _public(pem_key):
    key = serialization.load_pem_private_key(pem_key, None)
    return key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def _spki(cert):
    return cert.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )


# -- containers -----------------------------------------------------------------------


def test_container_with_matching_key_and_chain(m):
    tls = parse.load_container(REF, m.leaf_pem, cm.key_pem(m.leaf_key), m.chain_pem)
    assert x509.load_pem_x509_certificate(tls.certificate) == m.leaf
    assert [x509.load_pem_x509_certificate(c) for c in tls.intermediates] == [
        m.intermediate,
        m.root,
    ]
    assert tls.private_key.startswith(b'-----BEGIN PRIVATE KEY-----')  # PKCS8, clear
    assert _public(tls.private_key) == _spki(m.leaf)


def test_container_parts_in_der(m):
    tls = parse.load_container(REF, cm.der(m.leaf), cm.key_der(m.leaf_key))
    assert x509.load_pem_x509_certificate(tls.certificate) == m.leaf
    assert tls.intermediates == ()


@pytest.mark.parametrize('encoding', [serialization.Encoding.PEM, serialization.Encoding.DER])
def test_intermediates_as_pkcs7_come_in_chain_order(m, encoding):
    bundle = cm.pkcs7_bundle([m.intermediate, m.root], encoding)
    tls = parse.load_container(REF, m.leaf_pem, cm.key_pem(m.leaf_key), bundle)
    assert [x509.load_pem_x509_certificate(c) for c in tls.intermediates] == [
        m.intermediate,
        m.root,
    ]


def test_encrypted_key_opens_with_its_passphrase(m):
    encrypted = cm.key_pem(m.leaf_key, PASSPHRASE)
    tls = parse.load_container(REF, m.leaf_pem, encrypted, passphrase=PASSPHRASE)
    assert b'ENCRYPTED' not in tls.private_key
    assert _public(tls.private_key) == _spki(m.leaf)


def test_encrypted_key_without_passphrase_needs_one(m):
    with pytest.raises(CertificateError) as caught:
        parse.load_container(REF, m.leaf_pem, cm.key_pem(m.leaf_key, PASSPHRASE))
    assert caught.value.reason == parse.NEEDS_PASSPHRASE
    assert caught.value.ref == REF


def test_wrong_passphrase_is_refused_without_quoting_anything(m):
    with pytest.raises(CertificateError) as caught:
        parse.load_container(
            REF, m.leaf_pem, cm.key_pem(m.leaf_key, PASSPHRASE), passphrase=b'not-it-9x'
        )
    assert caught.value.reason == parse.BAD_PASSPHRASE
    assert b'not-it-9x' not in str(caught.value).encode()
    assert_no_key_material(caught.value, m.leaf_key)


def test_needless_passphrase_on_a_clear_key_is_ignored(m):
    tls = parse.load_container(REF, m.leaf_pem, cm.key_pem(m.leaf_key), passphrase=PASSPHRASE)
    assert _public(tls.private_key) == _spki(m.leaf)


@pytest.mark.parametrize('which', ['stranger', 'rsa'])
def test_mismatched_key_is_refused(m, which):
    key = m.stranger_key if which == 'stranger' else cm.rsa_key()
    with pytest.raises(CertificateError) as caught:
        parse.load_container(REF, m.leaf_pem, cm.key_pem(key))
    assert caught.value.reason == parse.MISMATCHED_KEY == 'Key and x509 certificate do not match'
    assert_no_key_material(caught.value, key, m.leaf_key)


def test_rsa_pair_is_accepted():
    key = cm.rsa_key()
    cert = cm.certificate('rsa.example.test', key)
    tls = parse.load_container(REF, cm.pem(cert), cm.key_pem(key))
    assert _public(tls.private_key) == _spki(cert)


@pytest.mark.parametrize(
    'part, expected',
    [
        ('certificate', parse.UNREADABLE_CERT),
        ('intermediates', parse.UNREADABLE_CERT + ' (the intermediates)'),
        ('private_key', parse.BAD_PASSPHRASE),
    ],
)
def test_garbage_in_any_part_is_refused(m, part, expected):
    parts = {
        'certificate': m.leaf_pem,
        'private_key': cm.key_pem(m.leaf_key),
        'intermediates': m.chain_pem,
    }
    parts[part] = GARBAGE
    with pytest.raises(CertificateError) as caught:
        parse.load_container(REF, **parts)
    assert caught.value.reason == expected


def test_garbage_pem_intermediates_are_refused(m):
    broken = m.chain_pem.replace(b'MII', b'!!!', 1)
    with pytest.raises(CertificateError):
        parse.load_container(REF, m.leaf_pem, cm.key_pem(m.leaf_key), broken)


def test_container_without_key_is_refused(m):
    with pytest.raises(CertificateError, match='no private key'):
        parse.load_container(REF, m.leaf_pem, None)


def test_intermediates_are_put_in_chain_order(m):
    stray = cm.pem(m.other_ca)
    shuffled = stray + cm.pem(m.root) + cm.pem(m.intermediate)
    tls = parse.load_container(REF, m.leaf_pem, cm.key_pem(m.leaf_key), shuffled)
    assert [x509.load_pem_x509_certificate(c) for c in tls.intermediates] == [
        m.intermediate,
        m.root,
        m.other_ca,
    ]


def test_expired_certificate_is_accepted_as_octavia_does():
    key = cm.ec_key()
    old = cm.certificate(
        'old.example.test', key, not_before=cm.NOW - 30 * cm.DAY, not_after=cm.NOW - cm.DAY
    )
    tls = parse.load_container(REF, cm.pem(old), cm.key_pem(key))
    assert x509.load_pem_x509_certificate(tls.certificate) == old


# -- PKCS12 ---------------------------------------------------------------------------


def test_pkcs12_with_intermediates(m):
    bundle = cm.p12(m.leaf_key, m.leaf, [m.intermediate, m.root])
    tls = parse.load_pkcs12(REF, bundle)
    assert x509.load_pem_x509_certificate(tls.certificate) == m.leaf
    assert [x509.load_pem_x509_certificate(c) for c in tls.intermediates] == [
        m.intermediate,
        m.root,
    ]
    assert tls.private_key.startswith(b'-----BEGIN PRIVATE KEY-----')
    assert _public(tls.private_key) == _spki(m.leaf)


@pytest.mark.parametrize(
    'payload',
    ['passphrase', 'garbage', 'pem certificate', 'no key', 'empty'],
)
def test_unreadable_pkcs12(m, payload):
    data = {
        'passphrase': lambda: cm.p12(m.leaf_key, m.leaf, passphrase=PASSPHRASE),
        'garbage': lambda: GARBAGE,
        'pem certificate': lambda: m.leaf_pem,
        'no key': lambda: cm.p12(None, m.leaf),
        'empty': lambda: b'',
    }[payload]()
    with pytest.raises(UnreadablePKCS12) as caught:
        parse.load_pkcs12(REF, data)
    assert caught.value.ref == REF
    assert_no_key_material(caught.value, m.leaf_key)


def test_pem_puts_leaf_chain_then_key(m):
    tls = parse.load_container(REF, m.leaf_pem, cm.key_pem(m.leaf_key), m.chain_pem)
    assert isinstance(tls, TLSCertificate)
    assert tls.pem == tls.certificate + b''.join(tls.intermediates) + tls.private_key
    assert 'PRIVATE' not in repr(tls)


# -- client CA bundles and CRLs --------------------------------------------------------


def test_ca_bundle_of_two(m):
    bundle = cm.pem(m.root) + cm.pem(m.other_ca)
    assert parse.read_ca_bundle('ca', bundle) == (m.root, m.other_ca)


@pytest.mark.parametrize('data', [GARBAGE, b'', 'key'])
def test_invalid_ca_bundle(m, data):
    if data == 'key':
        data = cm.key_pem(m.root_key)
    with pytest.raises(CertificateError) as caught:
        parse.read_ca_bundle('ca-ref', data)
    assert caught.value.ref == 'ca-ref'
    assert caught.value.reason
    assert_no_key_material(caught.value, m.root_key)


def test_invalid_crl(m):
    with pytest.raises(CertificateError) as caught:
        parse.read_crl('crl-ref', GARBAGE)
    assert caught.value.ref == 'crl-ref'


def test_crl_signed_by_the_ca(m):
    crl_pem = cm.crl(m.root, m.root_key, revoked=[m.intermediate.serial_number])
    authorities, crl = parse.check_client_ca('ca', cm.pem(m.root), 'crl', crl_pem)
    assert authorities == (m.root,)
    assert crl is not None and len(list(crl)) == 1


def test_crl_signed_by_any_ca_of_the_bundle(m):
    crl_pem = cm.crl(m.other_ca, m.other_ca_key)
    parse.check_client_ca('ca', cm.pem(m.root) + cm.pem(m.other_ca), 'crl', crl_pem)


def test_crl_not_signed_by_the_ca(m):
    crl_pem = cm.crl(m.other_ca, m.other_ca_key)
    with pytest.raises(CertificateError) as caught:
        parse.check_client_ca('ca', cm.pem(m.root), 'crl', crl_pem)
    assert caught.value.ref == 'crl'
    assert caught.value.reason == parse.CRL_NOT_FOR_CA


def test_client_ca_without_crl(m):
    assert parse.check_client_ca('ca', cm.pem(m.root)) == ((m.root,), None)


def test_check_client_ca_names_the_bad_ca_first(m):
    with pytest.raises(CertificateError) as caught:
        parse.check_client_ca('ca', GARBAGE, 'crl', GARBAGE)
    assert caught.value.ref == 'ca'


def test_bytes_level_ca_and_crl_checks_raise_value_error(m):
    crl_pem = cm.crl(m.root, m.root_key)
    assert parse.crl_signed_by(crl_pem, cm.pem(m.root))
    assert not parse.crl_signed_by(crl_pem, cm.pem(m.other_ca))
    assert parse.ca_bundle(cm.pem(m.root)) == (m.root,)
    with pytest.raises(ValueError):
        parse.ca_bundle(GARBAGE)
    with pytest.raises(ValueError):
        parse.crl_signed_by(GARBAGE, cm.pem(m.root))
