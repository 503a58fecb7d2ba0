"""Keys, certificates, PKCS12 bundles and CRLs made with cryptography, for the
certificate driver tests (unit and contract): a root CA, an intermediate, a
leaf signed by it, and strangers."""

import dataclasses
import datetime
import functools

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.serialization import pkcs7, pkcs12
from cryptography.x509.oid import NameOID

NOW = datetime.datetime.now(datetime.UTC)
DAY = datetime.timedelta(days=1)


def ec_key():
    return ec.generate_private_key(ec.SECP256R1())


@functools.cache
def rsa_key():
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def certificate(
    subject, key, issuer=None, issuer_key=None, ca=False, not_after=None, not_before=None
):
    """A certificate for `key` named `subject`, signed by the issuer (or itself)."""
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)])
    builder = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(issuer.subject if issuer else name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before or NOW - DAY)
        .not_valid_after(not_after or NOW + 30 * DAY)
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )
    return builder.sign(issuer_key or key, hashes.SHA256())


def pem(cert):
    return cert.public_bytes(serialization.Encoding.PEM)


def der(cert):
    return cert.public_bytes(serialization.Encoding.DER)


def key_pem(key, passphrase=None, pkcs8=False):
    encryption = (
        serialization.BestAvailableEncryption(passphrase)
        if passphrase
        else serialization.NoEncryption()
    )
    fmt = (
        serialization.PrivateFormat.PKCS8
        if pkcs8 or passphrase
        else serialization.PrivateFormat.TraditionalOpenSSL
    )
    return key.private_bytes(serialization.Encoding.PEM, fmt, encryption)


def key_der(key):
    return key.private_bytes(
        serialization.Encoding.DER,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def p12(key, cert, cas=(), passphrase=None):
    encryption = (
        serialization.BestAvailableEncryption(passphrase)
        if passphrase
        else serialization.NoEncryption()
    )
    return pkcs12.serialize_key_and_certificates(b'tls', key, cert, list(cas) or None, encryption)


def pkcs7_bundle(certs, encoding=serialization.Encoding.PEM):
    return pkcs7.serialize_certificates(list(certs), encoding)


def crl(issuer, issuer_key, revoked=()):
    builder = (
        x509.CertificateRevocationListBuilder()
        .issuer_name(issuer.subject)
        .last_update(NOW - DAY)
        .next_update(NOW + DAY)
    )
    for serial in revoked:
        builder = builder.add_revoked_certificate(
            x509.RevokedCertificateBuilder()
            .serial_number(serial)
            .revocation_date(NOW - DAY)
            .build()
        )
    return builder.sign(issuer_key, hashes.SHA256()).public_bytes(serialization.Encoding.PEM)


@dataclasses.dataclass(frozen=True)
class Material:
    """A chain (root, intermediate, leaf), a stranger's key and a second CA."""

    root_key: object
    root: x509.Certificate
    intermediate_key: object
    intermediate: x509.Certificate
    leaf_key: object
    leaf: x509.Certificate
    stranger_key: object
    other_ca_key: object
    other_ca: x509.Certificate

    @property
    def leaf_pem(self):
        return pem(self.leaf)

    @property
    def chain_pem(self):
        return pem(self.intermediate) + pem(self.root)


@functools.cache
def material():
    root_key, intermediate_key, leaf_key, other_ca_key = (ec_key() for _ in range(4))
    root = certificate('Test Root CA', root_key, ca=True)
    intermediate = certificate('Test Intermediate', intermediate_key, root, root_key, ca=True)
    leaf = certificate('www.example.test', leaf_key, intermediate, intermediate_key)
    other_ca = certificate('Other CA', other_ca_key, ca=True)
    return Material(
        root_key=root_key,
        root=root,
        intermediate_key=intermediate_key,
        intermediate=intermediate,
        leaf_key=leaf_key,
        leaf=leaf,
        stranger_key=ec_key(),
        other_ca_key=other_ca_key,
        other_ca=other_ca,
    )
