"""The certificate seam: what a TLS reference (a Barbican-style secret or
container URL) resolves to, and who resolves it.

Two drivers satisfy `CertificateManager`: `local` reads the key-manager store
that lbaas itself serves (rows in its database, payloads encrypted at rest),
`barbican` reads a real Barbican. The embedded store's read side is the
`SecretReader` protocol below, implemented in `lbaas/db/secrets.py`; this
package never imports the database.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Protocol


class CertificateError(Exception):
    """A reference that cannot be read or does not hold usable material.
    `ref` names what failed; the message says why (never key material)."""

    def __init__(self, ref: str, reason: str) -> None:
        super().__init__(f"{ref}: {reason}")
        self.ref = ref
        self.reason = reason


class UnreadablePKCS12(CertificateError):
    """A PKCS12 bundle that cannot be opened (Octavia's UnreadablePKCS12)."""


class StoredSecret(Protocol):
    """One secret of the embedded store, decrypted. A protocol, because the
    store's frozen values live in the database layer (`lbaas/db/secrets.py`)."""

    @property
    def id(self) -> str: ...
    @property
    def project_id(self) -> str: ...
    @property
    def name(self) -> str | None: ...
    @property
    def secret_type(self) -> str: ...  # Barbican's: opaque, certificate, private, ...
    @property
    def content_type(self) -> str | None: ...  # payload_content_type as stored
    @property
    def payload(self) -> bytes | None: ...  # None: no payload yet


class StoredContainer(Protocol):
    """One container of the embedded store: its secrets by role name
    (certificate, private_key, intermediates, private_key_passphrase)."""

    @property
    def id(self) -> str: ...
    @property
    def project_id(self) -> str: ...
    @property
    def name(self) -> str | None: ...
    @property
    def type(self) -> str: ...  # certificate, generic or rsa
    @property
    def secret_ids(self) -> Mapping[str, str]: ...


class SecretReader(Protocol):
    """The embedded store's read side. `project_id` None reads any project's
    objects (the service itself); otherwise an object of another project is
    as absent as one that does not exist: LookupError either way."""

    def secret(self, project_id: str | None, secret_id: str) -> StoredSecret: ...

    def container(self, project_id: str | None, container_id: str) -> StoredContainer: ...


@dataclasses.dataclass(frozen=True)
class TLSCertificate:
    """A server or client certificate with its key, ready for HAProxy."""

    certificate: bytes  # PEM, the leaf
    private_key: bytes = dataclasses.field(repr=False)  # PEM, unencrypted
    intermediates: tuple[bytes, ...] = ()  # PEM each, leaf's issuer first

    @property
    def pem(self) -> bytes:
        """HAProxy's `crt` file: leaf, intermediates, key."""
        parts = (self.certificate, *self.intermediates, self.private_key)
        return b"".join(p if p.endswith(b"\n") else p + b"\n" for p in parts)


class CertificateManager(Protocol):
    """Resolves references as the project that made them (`project_id`);
    raises CertificateError for anything unreadable, malformed or
    mismatched, and UnreadablePKCS12 for a PKCS12 bundle it cannot open."""

    def get_certificate(self, project_id: str, ref: str) -> TLSCertificate:
        """A certificate container, or a secret holding a PKCS12 bundle."""
        ...

    def get_secret(self, project_id: str, ref: str) -> bytes:
        """A secret's payload: a CA bundle or a CRL in PEM."""
        ...
