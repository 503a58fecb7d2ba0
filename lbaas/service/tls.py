"""TLS references checked before anything is written, as Octavia's API
checks them: every reference readable by the object's project through the
certificate manager, certificates whose key matches, a client CA that is an
x509 PEM, a CRL that parses and is signed by that CA. Anything else is a
400 with Octavia's message, and the transaction writes nothing.

Only the references a request names are checked (Octavia's PUT does the
same), plus the CA when a request changes only the CRL it must verify.
"""
from collections.abc import Collection

from lbaas import errors
from lbaas.controller import tls as controller_tls
from lbaas.db import models
from lbaas.drivers.certificates import parse
from lbaas.drivers.certificates.base import (
    CertificateError,
    CertificateManager,
    UnreadablePKCS12,
)

LISTENER_CERTS = frozenset({'default_tls_container_ref', 'sni_container_refs'})
LISTENER_CA = frozenset({'client_ca_tls_container_ref', 'client_crl_container_ref'})
POOL_REFS = frozenset({'tls_container_ref', 'ca_tls_container_ref', 'crl_container_ref'})


def _certificates(certs: CertificateManager, project_id: str, refs: list[str]) -> None:
    bad = []
    for ref in refs:
        try:
            certs.get_certificate(project_id, ref)
        except UnreadablePKCS12 as exc:
            raise errors.UnreadablePKCS12(exc.reason) from exc
        except CertificateError:
            bad.append(ref)
    if bad:
        raise errors.CertificateRetrieval(bad)


def _secrets(certs: CertificateManager, project_id: str, refs: list[str]) -> list[bytes]:
    payloads, bad = [], []
    for ref in refs:
        try:
            payloads.append(certs.get_secret(project_id, ref))
        except CertificateError:
            bad.append(ref)
    if bad:
        raise errors.CertificateRetrieval(bad)
    return payloads


def _ca_and_crl(certs: CertificateManager, project_id: str, ca_ref: str,
                crl_ref: str | None) -> None:
    """Octavia's pools share the listeners' check, wording included."""
    payloads = _secrets(certs, project_id, [ca_ref] + ([crl_ref] if crl_ref else []))
    try:
        parse.ca_bundle(payloads[0])
    except ValueError as exc:
        raise errors.ValidationFailure(
            'The client authentication CA certificate is invalid. It must be a valid '
            'x509 PEM format certificate. Error: %s' % exc) from exc
    if crl_ref:
        try:
            signed = parse.crl_signed_by(payloads[1], payloads[0])
        except ValueError as exc:
            raise errors.ValidationFailure(
                'The client authentication certificate revocation list is invalid. It must '
                'be a valid x509 PEM format certificate revocation list. Error: %s'
                % exc) from exc
        if not signed:
            raise errors.ValidationFailure(
                'The CRL specified is not valid for client certificate authority '
                'reference supplied.')


def check_listener(listener: models.Listener, changed: Collection[str]) -> None:
    certs = controller_tls.manager()
    project_id = listener.project_id or ''
    if LISTENER_CERTS & set(changed):
        refs = [listener.default_tls_container_id, *(listener.sni_container_refs or ())]
        _certificates(certs, project_id, [r for r in dict.fromkeys(refs) if r])
    if LISTENER_CA & set(changed) and listener.client_ca_tls_certificate_id:
        _ca_and_crl(certs, project_id, listener.client_ca_tls_certificate_id,
                    listener.client_crl_container_id)


def check_pool(pool: models.Pool, changed: Collection[str]) -> None:
    if not POOL_REFS & set(changed):
        return
    certs = controller_tls.manager()
    project_id = pool.project_id or ''
    if pool.tls_certificate_id:
        _certificates(certs, project_id, [pool.tls_certificate_id])
    if pool.ca_tls_certificate_id:
        _ca_and_crl(certs, project_id, pool.ca_tls_certificate_id, pool.crl_container_id)
