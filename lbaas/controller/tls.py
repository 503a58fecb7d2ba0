"""Certificates for the bundle: each file the LB's view names, fetched through
the certificate manager as the LB's project, once per reconcile pass.

The content travels inside the bundle (written 0600 by the agent, in 0700
directories), never on a command line and never in a log line.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable

from lbaas.dataplane.tls import Role, TLSFile
from lbaas.db import secrets
from lbaas.drivers import registry
from lbaas.drivers.base import PermanentError
from lbaas.drivers.certificates.base import CertificateError, CertificateManager


@functools.cache
def manager() -> CertificateManager:
    """The configured certificate manager (`[certificates] cert_manager`)."""
    return registry.certificate_manager(secrets.READER)


def fetch(file: TLSFile, project_id: str, certs: CertificateManager) -> str:
    """One file's PEM text; CertificateError when it cannot be had."""
    if file.role == Role.CERTIFICATE:
        content = certs.get_certificate(project_id, file.ref).pem
    else:
        content = certs.get_secret(project_id, file.ref)
    return content.decode("ascii", errors="replace")


def bundle_files(
    project_id: str, wanted: Iterable[TLSFile], certs: CertificateManager | None = None
) -> dict[str, str]:
    """{bundle path: PEM} for every wanted file. A reference that cannot be
    read any more (its secret deleted since the API accepted it) is a
    permanent failure: retrying will not bring it back."""
    certs = certs or manager()
    files = {}
    for file in wanted:
        try:
            files[file.bundle_path] = fetch(file, project_id, certs)
        except CertificateError as exc:
            raise PermanentError(
                f"Could not retrieve certificate: {exc.ref} ({exc.reason})"
            ) from exc
    return files
