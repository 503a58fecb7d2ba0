"""`local`: references into the key-manager store lbaas serves itself.

The store (`lbaas/db/secrets.py`, served at /v1/secrets and /v1/containers)
hands its decrypted objects to this driver through a `SecretReader`; this
module never imports the database. A reference is read as the project that
made it: another project's secret is as absent as one never stored.

The reader's LookupError means absent; any other exception is the store's
own failure (the database away, say) and is not a bad reference, so it
propagates for the caller's outage handling.
"""

from __future__ import annotations

from collections.abc import Mapping

from lbaas.drivers.certificates.base import CertificateError, SecretReader
from lbaas.drivers.certificates.resolve import Missing, Resolver

CERTIFICATE_CONTAINER = 'certificate'


class LocalCertificates(Resolver):
    """CertificateManager over the embedded store's reader."""

    def __init__(self, reader: SecretReader) -> None:
        self.reader = reader

    def secret_payload(self, project_id: str, secret_id: str) -> bytes | None:
        try:
            secret = self.reader.secret(project_id, secret_id)
        except LookupError:
            raise Missing(secret_id)
        return secret.payload

    def container_secrets(self, project_id: str, container_id: str) -> Mapping[str, str]:
        try:
            container = self.reader.container(project_id, container_id)
        except LookupError:
            raise Missing(container_id)
        if container.type != CERTIFICATE_CONTAINER:
            raise CertificateError(
                container_id, 'a %s container, not a certificate container' % container.type
            )
        return dict(container.secret_ids)
