"""The controller's private PKI for the controller <-> agent channel.

One CA (created at first start, reused afterwards) signs:
- one client certificate for the controller (extended key usage clientAuth);
- one server certificate per amphora, subject CN and DNS SAN = amphora id
  (serverAuth only, so it cannot act as a client towards another agent).

EC P-256 keys: generating one takes well under a millisecond, RSA-2048 tens
of milliseconds, and this is on the path of provisioning an amphora.

Files in the PKI directory: ca.pem, ca.key, controller.pem, controller.key
(keys mode 0600). Several controller processes may start at once: creation
happens under an exclusive file lock and each file is written by rename.
"""

from __future__ import annotations

import dataclasses
import datetime
import fcntl
import os
from typing import Self

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import dsa, ec, ed448, ed25519, rsa
from cryptography.hazmat.primitives.asymmetric.types import (
    CertificateIssuerPrivateKeyTypes,
    CertificatePublicKeyTypes,
    PrivateKeyTypes,
)
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from lbaas import wire

CA_CERT = "ca.pem"
CA_KEY = "ca.key"
CLIENT_CERT = "controller.pem"
CLIENT_KEY = "controller.key"
CA_NAME = "lbaas controller CA"
CLIENT_NAME = "lbaas-controller"
CA_VALIDITY_DAYS = 3650
DEFAULT_VALIDITY_DAYS = 30
CLOCK_SKEW = datetime.timedelta(minutes=5)  # tolerate hosts slightly behind
# Keys a CA may sign with (ours is EC; any of these loaded from ca.key works).
ISSUER_KEY_TYPES = (
    ec.EllipticCurvePrivateKey,
    rsa.RSAPrivateKey,
    dsa.DSAPrivateKey,
    ed25519.Ed25519PrivateKey,
    ed448.Ed448PrivateKey,
)


@dataclasses.dataclass(frozen=True)
class IssuedCertificate:
    cert_pem: bytes
    key_pem: bytes
    ca_pem: bytes
    not_after: datetime.datetime


class ControllerPKI:
    def __init__(
        self,
        pki_dir: str,
        validity_days: int = DEFAULT_VALIDITY_DAYS,
        ca_validity_days: int = CA_VALIDITY_DAYS,
    ) -> None:
        self.pki_dir = os.path.abspath(pki_dir)
        self.validity_days = validity_days
        self.ca_validity_days = ca_validity_days
        os.makedirs(self.pki_dir, mode=0o700, exist_ok=True)
        with self._locked():
            self._ensure_ca()
            self._ensure_client_cert()
        self._ca_key = _load_key(self.path(CA_KEY))
        self._ca_cert = _load_cert(self.path(CA_CERT))

    def path(self, name: str) -> str:
        return os.path.join(self.pki_dir, name)

    @property
    def ca_file(self) -> str:
        return self.path(CA_CERT)

    @property
    def client_cert_files(self) -> tuple[str, str]:
        """(certificate, key) the controller presents to agents."""
        return self.path(CLIENT_CERT), self.path(CLIENT_KEY)

    @property
    def ca_pem(self) -> bytes:
        return self._ca_cert.public_bytes(serialization.Encoding.PEM)

    def issue_amphora_cert(
        self, amphora_id: str, validity_days: int | None = None
    ) -> IssuedCertificate:
        """A server certificate naming `amphora_id` (CN and DNS SAN)."""
        key = ec.generate_private_key(ec.SECP256R1())
        days = validity_days or self.validity_days
        cert = _build_cert(
            subject=_name(amphora_id),
            public_key=key.public_key(),
            issuer_cert=self._ca_cert,
            issuer_key=self._ca_key,
            days=days,
            usage=ExtendedKeyUsageOID.SERVER_AUTH,
            dns_name=amphora_id,
        )
        return IssuedCertificate(
            cert_pem=cert.public_bytes(serialization.Encoding.PEM),
            key_pem=_key_pem(key),
            ca_pem=self.ca_pem,
            not_after=cert.not_valid_after_utc,
        )

    def write_agent_files(
        self, amphora_id: str, state_dir: str, validity_days: int | None = None
    ) -> IssuedCertificate:
        """Issue a certificate and write the agent's ca.pem, agent.pem, agent.key.

        The agent trusts this CA for client certificates; the file names are
        the agent's defaults (lbaas.wire.CA_FILE, CERT_FILE, KEY_FILE).
        """
        issued = self.issue_amphora_cert(amphora_id, validity_days)
        os.makedirs(state_dir, mode=0o700, exist_ok=True)
        _write_atomic(os.path.join(state_dir, wire.CA_FILE), issued.ca_pem, 0o644)
        _write_atomic(os.path.join(state_dir, wire.KEY_FILE), issued.key_pem, 0o600)
        _write_atomic(os.path.join(state_dir, wire.CERT_FILE), issued.cert_pem, 0o644)
        return issued

    # -- creation at first start ---------------------------------------------

    def _locked(self) -> FileLock:
        return FileLock(self.path(".lock"))

    def _ensure_ca(self) -> None:
        if os.path.exists(self.path(CA_CERT)) and os.path.exists(self.path(CA_KEY)):
            return
        key = ec.generate_private_key(ec.SECP256R1())
        cert = _build_cert(
            subject=_name(CA_NAME),
            public_key=key.public_key(),
            issuer_cert=None,
            issuer_key=key,
            days=self.ca_validity_days,
        )
        _write_atomic(self.path(CA_KEY), _key_pem(key), 0o600)
        _write_atomic(self.path(CA_CERT), cert.public_bytes(serialization.Encoding.PEM), 0o644)

    def _ensure_client_cert(self) -> None:
        if (
            os.path.exists(self.path(CLIENT_CERT))
            and os.path.exists(self.path(CLIENT_KEY))
            and _signed_by(self.path(CLIENT_CERT), self.path(CA_CERT))
        ):
            return
        ca_key, ca_cert = _load_key(self.path(CA_KEY)), _load_cert(self.path(CA_CERT))
        key = ec.generate_private_key(ec.SECP256R1())
        cert = _build_cert(
            subject=_name(CLIENT_NAME),
            public_key=key.public_key(),
            issuer_cert=ca_cert,
            issuer_key=ca_key,
            days=self.ca_validity_days,
            usage=ExtendedKeyUsageOID.CLIENT_AUTH,
        )
        _write_atomic(self.path(CLIENT_KEY), _key_pem(key), 0o600)
        _write_atomic(self.path(CLIENT_CERT), cert.public_bytes(serialization.Encoding.PEM), 0o644)


def _build_cert(
    subject: x509.Name,
    public_key: CertificatePublicKeyTypes,
    issuer_cert: x509.Certificate | None,
    issuer_key: CertificateIssuerPrivateKeyTypes,
    days: int,
    usage: x509.ObjectIdentifier | None = None,
    dns_name: str | None = None,
) -> x509.Certificate:
    """Sign a certificate; issuer_cert None means self-signed CA."""
    now = datetime.datetime.now(datetime.UTC)
    is_ca = issuer_cert is None
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject if issuer_cert is None else issuer_cert.subject)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - CLOCK_SKEW)
        .not_valid_after(now + datetime.timedelta(days=days))
        .add_extension(
            x509.BasicConstraints(ca=is_ca, path_length=0 if is_ca else None), critical=True
        )
        .add_extension(
            x509.KeyUsage(
                digital_signature=not is_ca,
                key_cert_sign=is_ca,
                crl_sign=is_ca,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False)
    )
    if not is_ca:
        builder = builder.add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_key.public_key()),
            critical=False,
        )
    if usage is not None:
        builder = builder.add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
    if dns_name is not None:
        builder = builder.add_extension(
            x509.SubjectAlternativeName([x509.DNSName(dns_name)]), critical=False
        )
    return builder.sign(issuer_key, hashes.SHA256())


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _key_pem(key: PrivateKeyTypes) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def _load_key(path: str) -> CertificateIssuerPrivateKeyTypes:
    with open(path, "rb") as f:
        key = serialization.load_pem_private_key(f.read(), password=None)
    if not isinstance(key, ISSUER_KEY_TYPES):
        # It would fail to sign anything: say so now, and which file it is.
        raise TypeError(f"{path}: a {type(key).__name__} cannot sign certificates")
    return key


def _load_cert(path: str) -> x509.Certificate:
    with open(path, "rb") as f:
        return x509.load_pem_x509_certificate(f.read())


def _signed_by(cert_path: str, ca_path: str) -> bool:
    # A client certificate left over from an earlier CA must be replaced.
    try:
        _load_cert(cert_path).verify_directly_issued_by(_load_cert(ca_path))
        return True
    except (InvalidSignature, ValueError, TypeError):
        return False


def _write_atomic(path: str, data: bytes, mode: int) -> None:
    temporary = f"{path}.tmp-{os.getpid()}"
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(fd, "wb") as f:
        f.write(data)
    os.chmod(temporary, mode)  # O_CREAT's mode is filtered by the umask
    os.replace(temporary, path)


class FileLock:
    """An exclusive flock on a file, held for a `with` block."""

    def __init__(self, path: str) -> None:
        self.path = path

    def __enter__(self) -> Self:
        self._fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        fcntl.flock(self._fd, fcntl.LOCK_EX)
        return self

    def __exit__(self, *exc: object) -> None:
        fcntl.flock(self._fd, fcntl.LOCK_UN)
        os.close(self._fd)
