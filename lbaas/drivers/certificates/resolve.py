"""What both certificate managers share: reading a reference, and Octavia's
order of trying (a secret holding a PKCS12 bundle first, then a certificate
container, as its Barbican cert manager falls back to the legacy one).

A driver says how to fetch one secret's payload and one container's secret
ids; `Resolver` does the rest, so the local and Barbican drivers parse and
fail alike.
"""

from __future__ import annotations

import abc
import contextlib
import dataclasses
import urllib.parse
import uuid
from collections.abc import Iterator, Mapping

from lbaas.drivers.certificates import parse
from lbaas.drivers.certificates.base import CertificateError, TLSCertificate

SECRETS = 'secrets'
CONTAINERS = 'containers'
# A certificate container's secrets by role (Barbican's names).
ROLES = ('certificate', 'private_key', 'intermediates', 'private_key_passphrase')


@contextlib.contextmanager
def _naming(ref: str) -> Iterator[None]:
    """Errors a fetch raised about an inner id name the caller's reference."""
    try:
        yield
    except CertificateError as exc:
        if exc.ref == ref:
            raise
        raise type(exc)(ref, exc.reason) from None


class Missing(LookupError):
    """The store has no such object for this project (the driver's 404)."""


@dataclasses.dataclass(frozen=True)
class Reference:
    """A parsed reference: what it names (None: a bare uuid, either) and its id."""

    kind: str | None
    id: str


def parse_reference(ref: str) -> Reference:
    """`.../secrets/<uuid>`, `.../containers/<uuid>` (any host) or a bare uuid."""
    text = (ref or '').strip()
    path = urllib.parse.urlsplit(text).path if '/' in text else text
    parts = [p for p in path.split('/') if p]
    kind = parts[-2] if len(parts) >= 2 else None
    if not parts or (len(parts) > 1 and kind not in (SECRETS, CONTAINERS)):
        raise CertificateError(ref, 'not a secret or container reference')
    try:
        ident = str(uuid.UUID(parts[-1]))
    except ValueError:
        raise CertificateError(ref, 'not a secret or container reference')
    return Reference(kind=kind if len(parts) > 1 else None, id=ident)


class Resolver(abc.ABC):
    """get_certificate and get_secret over two fetches a driver provides."""

    @abc.abstractmethod
    def secret_payload(self, project_id: str, secret_id: str) -> bytes | None:
        """A secret's payload (None: it has none); Missing if there is no such
        secret for this project; CertificateError if the store fails."""

    @abc.abstractmethod
    def container_secrets(self, project_id: str, container_id: str) -> Mapping[str, str]:
        """A certificate container's secret ids by role; Missing if there is
        no such container; CertificateError if it is not a certificate one."""

    def get_certificate(self, project_id: str, ref: str) -> TLSCertificate:
        with _naming(ref):
            return self._certificate(project_id, ref)

    def get_secret(self, project_id: str, ref: str) -> bytes:
        with _naming(ref):
            return self._secret(project_id, ref)

    def _certificate(self, project_id: str, ref: str) -> TLSCertificate:
        target = parse_reference(ref)
        if target.kind != CONTAINERS:
            try:
                payload = self.secret_payload(project_id, target.id)
            except Missing:
                if target.kind == SECRETS:
                    raise CertificateError(ref, 'no such secret')
            else:
                if payload is None:
                    raise CertificateError(ref, 'the secret has no payload')
                return parse.load_pkcs12(ref, payload)
        return self._from_container(project_id, ref, target.id)

    def _secret(self, project_id: str, ref: str) -> bytes:
        target = parse_reference(ref)
        if target.kind == CONTAINERS:
            raise CertificateError(ref, 'a container, not a secret')
        try:
            payload = self.secret_payload(project_id, target.id)
        except Missing:
            raise CertificateError(ref, 'no such secret')
        if payload is None:
            raise CertificateError(ref, 'the secret has no payload')
        return payload

    def _from_container(self, project_id: str, ref: str, container_id: str) -> TLSCertificate:
        try:
            secret_ids = self.container_secrets(project_id, container_id)
        except Missing:
            raise CertificateError(ref, 'no such secret or container')
        parts: dict[str, bytes | None] = {}
        for role in ROLES:
            if role not in secret_ids:
                continue
            try:
                parts[role] = self.secret_payload(project_id, secret_ids[role])
            except Missing:
                raise CertificateError(ref, 'the container\'s %s secret cannot be read' % role)
        certificate = parts.get('certificate')
        if not certificate:
            raise CertificateError(ref, 'the certificate container holds no certificate')
        return parse.load_container(
            ref,
            certificate,
            parts.get('private_key'),
            intermediates=parts.get('intermediates'),
            passphrase=parts.get('private_key_passphrase'),
        )
