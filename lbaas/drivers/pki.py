"""The controller's private PKI for the controller <-> agent channel.

One signing CA (created at first start, reused afterwards) signs:
- one client certificate for the controller (extended key usage clientAuth);
- one server certificate per amphora, subject CN and DNS SAN = amphora id
  (serverAuth only, so it cannot act as a client towards another agent).

EC P-256 keys: generating one takes well under a millisecond, RSA-2048 tens
of milliseconds, and this is on the path of provisioning an amphora.

Files in the PKI directory: ca.pem, ca.key, controller.pem, controller.key
(keys mode 0600). ca.pem is the trust bundle: the signing CA first, then
older CAs still trusted after a rollover; ca.key is the signing CA's key.
Several controller processes share the directory: every change happens under
an exclusive file lock, each file is written by rename, and a process that
sees the files changed loads them again under the same lock.

Nothing here expires under a running service as long as `refresh` runs
(housekeeping calls it every `[house_keeping] cert_interval`): it renews the
client certificate within the buffer of its end, and rolls the CA over when
the signing CA has less than two amphora certificate lifetimes (plus the
buffer) left. After a rollover amphora certificates come from the new CA,
the bundle pushed with each of them makes agents trust both, the client
certificate moves to the new CA only when it is due (by then every amphora
has been renewed at least once), and the old CA leaves the bundle when it
expires.
"""

from __future__ import annotations

import datetime
import fcntl
import logging
import os
from typing import Self

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.asymmetric.types import (
    CertificateIssuerPrivateKeyTypes,
    CertificatePublicKeyTypes,
    PrivateKeyTypes,
)
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from lbaas import wire

LOG = logging.getLogger(__name__)
CA_CERT = "ca.pem"
CA_KEY = "ca.key"
CLIENT_CERT = "controller.pem"
CLIENT_KEY = "controller.key"
CA_NAME = "lbaas controller CA"
CLIENT_NAME = "lbaas-controller"
CA_VALIDITY_SECONDS = 3650 * 86400
DEFAULT_VALIDITY_SECONDS = 30 * 86400
CLOCK_SKEW = datetime.timedelta(minutes=5)  # tolerate hosts slightly behind
# Keys a CA may sign with using SHA-256 (ours is EC; an RSA ca.key works too).
# Ed25519, Ed448 and ML-DSA sign without a separate hash, DSA is deprecated.
ISSUER_KEY_TYPES = (ec.EllipticCurvePrivateKey, rsa.RSAPrivateKey)


class ControllerPKI:
    def __init__(
        self,
        pki_dir: str | os.PathLike[str],
        validity_seconds: int = DEFAULT_VALIDITY_SECONDS,
        ca_validity_seconds: int = CA_VALIDITY_SECONDS,
    ) -> None:
        self.pki_dir = os.path.abspath(pki_dir)
        self.validity_seconds = validity_seconds
        self.ca_validity_seconds = ca_validity_seconds
        os.makedirs(self.pki_dir, mode=0o700, exist_ok=True)
        with self.locked():
            self._ensure_ca()
            self._ensure_client_cert(buffer=datetime.timedelta(0))
            self._load()

    def path(self, name: str) -> str:
        return os.path.join(self.pki_dir, name)

    @property
    def ca_file(self) -> str:
        """The trust bundle: agents' certificates must chain to one of its CAs."""
        return self.path(CA_CERT)

    @property
    def client_cert_files(self) -> tuple[str, str]:
        """(certificate, key) the controller presents to agents."""
        return self.path(CLIENT_CERT), self.path(CLIENT_KEY)

    @property
    def ca_pem(self) -> bytes:
        """The signing CA's certificate."""
        return self._current()[0][0].public_bytes(serialization.Encoding.PEM)

    @property
    def trust_pem(self) -> bytes:
        """Every CA trusted now, the signing one first (the content of ca.pem)."""
        return _bundle_pem(self._current()[0])

    def locked(self) -> FileLock:
        """Held while files change, and while a process loads them."""
        return FileLock(self.path(".lock"))

    def files_signature(self, *names: str) -> tuple[tuple[int, int, int], ...]:
        """Changes whenever one of the files is replaced (they are written by rename)."""
        signature = []
        for name in names:
            info = os.stat(self.path(name))
            signature.append((info.st_ino, info.st_mtime_ns, info.st_size))
        return tuple(signature)

    # -- CertificateAuthority ----------------------------------------------------

    def issue_amphora_cert(
        self, amphora_id: str, validity_seconds: int | None = None
    ) -> wire.AmphoraCertificate:
        """A server certificate naming `amphora_id` (CN and DNS SAN), with the
        trust bundle the agent should hold alongside it."""
        cas, ca_key = self._current()
        key = ec.generate_private_key(ec.SECP256R1())
        cert = _build_cert(
            subject=_name(amphora_id),
            public_key=key.public_key(),
            issuer_cert=cas[0],
            issuer_key=ca_key,
            seconds=validity_seconds or self.validity_seconds,
            usage=ExtendedKeyUsageOID.SERVER_AUTH,
            dns_name=amphora_id,
        )
        return wire.AmphoraCertificate(
            cert_pem=cert.public_bytes(serialization.Encoding.PEM),
            key_pem=_key_pem(key),
            not_after=cert.not_valid_after_utc,
            ca_pem=_bundle_pem(cas),
        )

    def refresh(self, expiry_buffer: int) -> datetime.datetime:
        """Keep the controller's own credentials ahead of expiry (see the module
        docstring); returns when its client certificate expires."""
        buffer = datetime.timedelta(seconds=expiry_buffer)
        with self.locked():
            self._prune_expired_cas()
            self._roll_over_if_due(buffer)
            self._ensure_client_cert(buffer)
            self._load()
            return _load_cert(self.path(CLIENT_CERT)).not_valid_after_utc

    def write_agent_files(
        self,
        amphora_id: str,
        state_dir: str | os.PathLike[str],
        validity_seconds: int | None = None,
    ) -> wire.AmphoraCertificate:
        """Issue a certificate and write the agent's ca.pem, agent.pem, agent.key.

        The agent trusts the bundle for client certificates; the file names
        are the agent's defaults (lbaas.wire.CA_FILE, CERT_FILE, KEY_FILE).
        """
        issued = self.issue_amphora_cert(amphora_id, validity_seconds)
        os.makedirs(state_dir, mode=0o700, exist_ok=True)
        write_atomic(os.path.join(state_dir, wire.CA_FILE), issued.ca_pem or b"", 0o644)
        write_atomic(os.path.join(state_dir, wire.KEY_FILE), issued.key_pem, 0o600)
        write_atomic(os.path.join(state_dir, wire.CERT_FILE), issued.cert_pem, 0o644)
        return issued

    # -- loading -------------------------------------------------------------------

    def _load(self) -> None:
        """Read the CA files (the caller holds the lock)."""
        self._signature = self.files_signature(CA_CERT, CA_KEY)
        self._cas = _load_certs(self.path(CA_CERT))
        self._ca_key = _load_key(self.path(CA_KEY))

    def _current(self) -> tuple[list[x509.Certificate], CertificateIssuerPrivateKeyTypes]:
        """The CAs and signing key, read again if another process changed them."""
        if self.files_signature(CA_CERT, CA_KEY) != self._signature:
            with self.locked():
                self._load()
        return self._cas, self._ca_key

    # -- creation and renewal (the caller holds the lock) ----------------------------

    def _ensure_ca(self) -> None:
        if os.path.exists(self.path(CA_CERT)) and os.path.exists(self.path(CA_KEY)):
            return
        self._new_ca(CA_NAME, keep=[])

    def _new_ca(self, name: str, keep: list[x509.Certificate]) -> None:
        key = ec.generate_private_key(ec.SECP256R1())
        cert = _build_cert(
            subject=_name(name),
            public_key=key.public_key(),
            issuer_cert=None,
            issuer_key=key,
            seconds=self.ca_validity_seconds,
        )
        # The key first: a reader that takes the lock never sees the two apart.
        write_atomic(self.path(CA_KEY), _key_pem(key), 0o600)
        write_atomic(self.path(CA_CERT), _bundle_pem([cert, *keep]), 0o644)

    def _roll_over_if_due(self, buffer: datetime.timedelta) -> None:
        cas = _load_certs(self.path(CA_CERT))
        lead = 2 * datetime.timedelta(seconds=self.validity_seconds) + buffer
        left = cas[0].not_valid_after_utc - _now()
        if left >= lead:
            return
        if datetime.timedelta(seconds=self.ca_validity_seconds) <= lead:
            LOG.warning(
                "CA expires in %s; a new one would not last longer than the %s "
                "a rollover needs: raise [certificates] ca_validity_time",
                left,
                lead,
            )
            return
        name = "%s %s" % (CA_NAME, _now().strftime("%Y-%m-%dT%H:%M:%SZ"))
        self._new_ca(name, keep=cas)
        LOG.warning("CA rolled over: %r signs from now on; the old CA stays trusted", name)

    def _prune_expired_cas(self) -> None:
        cas = _load_certs(self.path(CA_CERT))
        alive = [cas[0]] + [ca for ca in cas[1:] if ca.not_valid_after_utc > _now()]
        if len(alive) < len(cas):
            write_atomic(self.path(CA_CERT), _bundle_pem(alive), 0o644)

    def _ensure_client_cert(self, buffer: datetime.timedelta) -> None:
        """Reissue the client certificate if missing, untrusted or due."""
        cas = _load_certs(self.path(CA_CERT))
        if os.path.exists(self.path(CLIENT_CERT)) and os.path.exists(self.path(CLIENT_KEY)):
            cert = _load_cert(self.path(CLIENT_CERT))
            end = cert.not_valid_after_utc
            # Due, yet the signing CA would give no longer: only a rollover helps.
            capped = end >= cas[0].not_valid_after_utc and end > _now()
            if _issued_by_one_of(cert, cas) and (end - _now() > buffer or capped):
                return
        key = ec.generate_private_key(ec.SECP256R1())
        cert = _build_cert(
            subject=_name(CLIENT_NAME),
            public_key=key.public_key(),
            issuer_cert=cas[0],
            issuer_key=_load_key(self.path(CA_KEY)),
            seconds=self.ca_validity_seconds,
            usage=ExtendedKeyUsageOID.CLIENT_AUTH,
        )
        # Readers load the pair under the lock, so the order does not matter.
        write_atomic(self.path(CLIENT_KEY), _key_pem(key), 0o600)
        write_atomic(self.path(CLIENT_CERT), cert.public_bytes(serialization.Encoding.PEM), 0o644)
        LOG.info("controller client certificate issued, valid until %s", cert.not_valid_after_utc)


def _build_cert(
    subject: x509.Name,
    public_key: CertificatePublicKeyTypes,
    issuer_cert: x509.Certificate | None,
    issuer_key: CertificateIssuerPrivateKeyTypes,
    seconds: int,
    usage: x509.ObjectIdentifier | None = None,
    dns_name: str | None = None,
) -> x509.Certificate:
    """Sign a certificate; issuer_cert None means self-signed CA.

    A certificate never outlives its issuer: past the CA's end it could not
    be verified anyway, and renewal looks at the certificate's own date.
    """
    now = _now()
    is_ca = issuer_cert is None
    not_after = now + datetime.timedelta(seconds=seconds)
    if issuer_cert is not None:
        not_after = min(not_after, issuer_cert.not_valid_after_utc)
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject if issuer_cert is None else issuer_cert.subject)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - CLOCK_SKEW)
        .not_valid_after(not_after)
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


def _now() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC)


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


def _load_certs(path: str) -> list[x509.Certificate]:
    with open(path, "rb") as f:
        return x509.load_pem_x509_certificates(f.read())


def _bundle_pem(certs: list[x509.Certificate]) -> bytes:
    return b"".join(c.public_bytes(serialization.Encoding.PEM) for c in certs)


def _issued_by_one_of(cert: x509.Certificate, cas: list[x509.Certificate]) -> bool:
    # A certificate left over from a CA no longer trusted must be replaced.
    for ca in cas:
        try:
            cert.verify_directly_issued_by(ca)
            return True
        except (InvalidSignature, ValueError, TypeError):
            continue
    return False


def write_atomic(path: str, data: bytes, mode: int) -> None:
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
