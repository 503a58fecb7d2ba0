"""What a TLS reference's payloads mean: pure functions over bytes.

The checks are Octavia's (`octavia/common/tls_utils/cert_parser.py`,
`octavia/certificates/common/pkcs12.py` and the API's
`_validate_client_ca_and_crl_refs`):

- a PKCS12 bundle opens without a passphrase, or it is `UnreadablePKCS12`;
- a certificate container's certificate parses, its intermediates (PEM chain or
  PKCS7, PEM or DER) parse, and its private key opens with the container's
  passphrase, if any, and matches the certificate;
- a client CA is one or more PEM x509 certificates, a CRL is a PEM x509 CRL,
  and the CRL's signature verifies with a CA's public key.

Like Octavia, nothing here refuses an expired or not yet valid certificate.
Every failure is a `CertificateError` whose reason never quotes key material.
"""

from __future__ import annotations

import typing
from collections.abc import Iterable, Sequence

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import types
from cryptography.hazmat.primitives.serialization import pkcs7, pkcs12

from lbaas.drivers.certificates.base import CertificateError, TLSCertificate, UnreadablePKCS12

# Octavia's wording (octavia/common/exceptions.py).
UNREADABLE_CERT = 'Could not read X509 from PEM'
MISMATCHED_KEY = 'Key and x509 certificate do not match'
NEEDS_PASSPHRASE = 'Passphrase needed to decrypt key but client did not provide one.'
BAD_PASSPHRASE = 'The private key could not be read: wrong passphrase or not a private key.'
# Octavia's API (octavia/api/v2/controllers/base.py).
CRL_NOT_FOR_CA = (
    'The CRL specified is not valid for client certificate authority reference supplied.'
)

PEM_MARK = b'-----BEGIN'
PKCS7_MARK = b'-----BEGIN PKCS7-----'
CERT_MARK = b'-----BEGIN CERTIFICATE-----'


# -- PKCS12 bundles --------------------------------------------------------------------


def load_pkcs12(ref: str, bundle: bytes) -> TLSCertificate:
    """A secret holding a PKCS12 bundle without passphrase, as HAProxy wants it."""
    try:
        p12 = pkcs12.load_pkcs12(bundle, None)
    except (TypeError, ValueError) as exc:
        raise UnreadablePKCS12(ref, str(exc) or 'not a PKCS12 bundle')
    if p12.cert is None:
        raise UnreadablePKCS12(ref, 'the PKCS12 bundle holds no certificate')
    if p12.key is None:
        raise UnreadablePKCS12(ref, 'the PKCS12 bundle holds no private key')
    leaf = p12.cert.certificate
    _check_key_matches(ref, p12.key, leaf)
    return TLSCertificate(
        certificate=_cert_pem(leaf),
        private_key=_key_pem(p12.key),
        intermediates=_chain_pems(leaf, [extra.certificate for extra in p12.additional_certs]),
    )


# -- certificate containers ------------------------------------------------------------


def load_container(
    ref: str,
    certificate: bytes,
    private_key: bytes | None,
    intermediates: bytes | None = None,
    passphrase: bytes | None = None,
) -> TLSCertificate:
    """A certificate container's parts, checked as Octavia's validate_cert does.

    `certificate` is PEM or DER; `private_key` PEM (encrypted with `passphrase`
    or not) or DER; `intermediates` a PEM chain or a PKCS7 bundle (PEM or DER).
    """
    leaf = read_certificate(ref, certificate)
    chain = read_intermediates(ref, intermediates) if intermediates else ()
    if not private_key:
        raise CertificateError(ref, 'the certificate container holds no private key')
    key = read_private_key(ref, private_key, passphrase)
    _check_key_matches(ref, key, leaf)
    return TLSCertificate(
        certificate=_cert_pem(leaf),
        private_key=_key_pem(key),
        intermediates=_chain_pems(leaf, chain),
    )


def read_certificate(ref: str, data: bytes) -> x509.Certificate:
    """One x509 certificate, PEM (the first block) or DER."""
    try:
        if PEM_MARK in data:
            return x509.load_pem_x509_certificate(data)
        return x509.load_der_x509_certificate(data)
    except ValueError:
        raise CertificateError(ref, UNREADABLE_CERT)


def read_intermediates(ref: str, data: bytes) -> tuple[x509.Certificate, ...]:
    """A PEM chain of certificates, or a PKCS7 bundle in PEM or DER, in order."""
    try:
        if PKCS7_MARK in data:
            certs = pkcs7.load_pem_pkcs7_certificates(data)
        elif CERT_MARK in data:
            certs = x509.load_pem_x509_certificates(data)
        else:
            certs = pkcs7.load_der_pkcs7_certificates(data)
    except ValueError:
        raise CertificateError(ref, UNREADABLE_CERT + ' (the intermediates)')
    return tuple(certs)


def read_private_key(
    ref: str, data: bytes, passphrase: bytes | None = None
) -> types.PrivateKeyTypes:
    """A private key, PEM (possibly encrypted) or DER. Reasons never quote it."""
    password = passphrase or None
    loader = (
        serialization.load_pem_private_key
        if PEM_MARK in data
        else serialization.load_der_private_key
    )
    try:
        return loader(data, password)
    except TypeError:  # encrypted without a passphrase, or a passphrase for a clear key
        if password is None:
            raise CertificateError(ref, NEEDS_PASSPHRASE)
        try:
            return loader(data, None)  # a clear key with a needless passphrase
        except (TypeError, ValueError):
            raise CertificateError(ref, BAD_PASSPHRASE)
    except (ValueError, UnsupportedAlgorithm):
        raise CertificateError(ref, BAD_PASSPHRASE)


def _check_key_matches(ref: str, key: types.PrivateKeyTypes, certificate: x509.Certificate) -> None:
    der, spki = serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    if key.public_key().public_bytes(der, spki) != certificate.public_key().public_bytes(der, spki):
        raise CertificateError(ref, MISMATCHED_KEY)


def _chain_pems(leaf: x509.Certificate, certs: Sequence[x509.Certificate]) -> tuple[bytes, ...]:
    """The intermediates in chain order, the leaf's issuer first (a PKCS7 bundle
    is a set, in no order); those outside the chain follow as they came."""
    remaining = list(certs)
    ordered: list[x509.Certificate] = []
    current = leaf
    while True:
        issuer = next((c for c in remaining if c.subject == current.issuer and c != current), None)
        if issuer is None:
            break
        ordered.append(issuer)
        remaining.remove(issuer)
        current = issuer
    return tuple(_cert_pem(cert) for cert in ordered + remaining)


def _cert_pem(certificate: x509.Certificate) -> bytes:
    return certificate.public_bytes(serialization.Encoding.PEM)


def _key_pem(key: types.PrivateKeyTypes) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


# -- client CA bundles and CRLs -------------------------------------------------------
#
# Octavia's API wording around these (octavia/api/v2/controllers/base.py):
# "The client authentication CA certificate is invalid. It must be a valid x509
# PEM format certificate. Error: <reason>", "The client authentication
# certificate revocation list is invalid. It must be a valid x509 PEM format
# certificate revocation list. Error: <reason>", and CRL_NOT_FOR_CA. The bare
# functions raise ValueError with the parser's reason; the read_* ones a
# CertificateError naming the reference.


def ca_bundle(pem: bytes) -> tuple[x509.Certificate, ...]:
    """A CA bundle: one or more PEM x509 certificates; ValueError if not."""
    return tuple(x509.load_pem_x509_certificates(pem))


def crl(pem: bytes) -> x509.CertificateRevocationList:
    """A PEM x509 CRL (its first block, as Octavia reads it); ValueError if not."""
    return x509.load_pem_x509_crl(pem)


def crl_signed_by(crl_pem: bytes, ca_pem: bytes) -> bool:
    """Whether a CA of the bundle `ca_pem` signed the CRL `crl_pem` (Octavia
    checks its one CA's key); ValueError if either does not parse."""
    return signed_by_any(crl(crl_pem), ca_bundle(ca_pem))


def signed_by_any(
    revocations: x509.CertificateRevocationList, authorities: Iterable[x509.Certificate]
) -> bool:
    keys = (ca.public_key() for ca in authorities)
    return any(revocations.is_signature_valid(key) for key in keys if isinstance(key, ISSUER_KEYS))


# Whatever key kinds the installed cryptography can check a signature with,
# taken from its own type: naming them here would name DSA, whose attribute
# access warns as deprecated from cryptography 51 on.
ISSUER_KEYS = typing.get_args(types.CertificateIssuerPublicKeyTypes)


def read_ca_bundle(ref: str, data: bytes) -> tuple[x509.Certificate, ...]:
    """ca_bundle, failing with a CertificateError (the parser's reason)."""
    try:
        return ca_bundle(data)
    except ValueError as exc:
        raise CertificateError(ref, str(exc) or UNREADABLE_CERT)


def read_crl(ref: str, data: bytes) -> x509.CertificateRevocationList:
    """crl, failing with a CertificateError (the parser's reason)."""
    try:
        return crl(data)
    except ValueError as exc:
        raise CertificateError(ref, str(exc) or 'Could not read the CRL from PEM')


def check_client_ca(
    ca_ref: str, ca_pem: bytes, crl_ref: str | None = None, crl_pem: bytes | None = None
) -> tuple[tuple[x509.Certificate, ...], x509.CertificateRevocationList | None]:
    """Octavia's listener and pool check of a client CA and its optional CRL.

    Raises CertificateError naming `ca_ref` (invalid CA) or `crl_ref` (invalid
    CRL, or a CRL that no CA of the bundle signed: reason CRL_NOT_FOR_CA).
    """
    authorities = read_ca_bundle(ca_ref, ca_pem)
    if crl_pem is None:
        return authorities, None
    revocations = read_crl(crl_ref or '', crl_pem)
    if not signed_by_any(revocations, authorities):
        raise CertificateError(crl_ref or '', CRL_NOT_FOR_CA)
    return authorities, revocations


def pem_chain(certificates: Sequence[x509.Certificate]) -> bytes:
    """Certificates as one PEM file, in order."""
    return b''.join(_cert_pem(cert) for cert in certificates)
