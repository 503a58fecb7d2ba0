"""TLS references -> file names in the bundle, and the TLS parts of the view.

A reference (a key-manager href) becomes a file in the amphora's runtime
certificate directory. The name is derived from the reference and the role
it plays, never from its content, so the configuration text is stable and
the content travels as a bundle file: a changed payload changes the
bundle's digest, and the push reloads HAProxy without dropping connections.
The controller fetches the content (`controller/tls.py`); this module stays
pure.
"""

from __future__ import annotations

import dataclasses
import enum
import hashlib
from typing import TYPE_CHECKING

from lbaas.dataplane import viewmodel as vm

if TYPE_CHECKING:
    from lbaas.db import models

CERT_DIR = "certs"  # relative to the bundle (HAProxy's -C directory)


class Role(enum.StrEnum):
    """What a reference holds once fetched."""

    CERTIFICATE = "crt"  # certificate, intermediates and key: HAProxy's crt file
    CA = "ca"  # a CA bundle in PEM
    CRL = "crl"  # a revocation list in PEM


@dataclasses.dataclass(frozen=True, slots=True)
class TLSFile:
    """One file the amphora needs: `name` in CERT_DIR, filled from `ref`."""

    name: str
    role: Role
    ref: str

    @property
    def bundle_path(self) -> str:
        return f"{CERT_DIR}/{self.name}"


def tls_file(role: Role, ref: str) -> TLSFile:
    digest = hashlib.sha256(f"{role}\0{ref}".encode()).hexdigest()[:20]
    return TLSFile(name=f"{role}-{digest}.pem", role=role, ref=ref)


def _name(role: Role, ref: str | None) -> str | None:
    return None if not ref else tls_file(role, ref).name


def listener_refs(listener: models.Listener) -> list[TLSFile]:
    refs = [tls_file(Role.CERTIFICATE, r) for r in _cert_refs(listener)]
    if listener.client_ca_tls_certificate_id:
        refs.append(tls_file(Role.CA, listener.client_ca_tls_certificate_id))
        if listener.client_crl_container_id:
            refs.append(tls_file(Role.CRL, listener.client_crl_container_id))
    return refs


def pool_refs(pool: models.Pool) -> list[TLSFile]:
    if not pool.tls_enabled:
        return []
    wanted = [
        (Role.CERTIFICATE, pool.tls_certificate_id),
        (Role.CA, pool.ca_tls_certificate_id),
        (Role.CRL, pool.crl_container_id if pool.ca_tls_certificate_id else None),
    ]
    return [tls_file(role, ref) for role, ref in wanted if ref]


def _cert_refs(listener: models.Listener) -> list[str]:
    refs = [listener.default_tls_container_id, *(listener.sni_container_refs or ())]
    return [r for r in dict.fromkeys(refs) if r]


def listener_tls(listener: models.Listener) -> vm.ListenerTLSView | None:
    """TERMINATED_HTTPS (and PROMETHEUS given certificates) terminate TLS."""
    refs = _cert_refs(listener)
    if listener.protocol not in ("TERMINATED_HTTPS", "PROMETHEUS") or not refs:
        return None
    ca = listener.client_ca_tls_certificate_id
    return vm.ListenerTLSView(
        default_cert=tls_file(Role.CERTIFICATE, refs[0]).name,
        sni_certs=tuple(tls_file(Role.CERTIFICATE, r).name for r in refs[1:]),
        client_auth=vm.ClientAuth(listener.client_authentication or "NONE"),
        client_ca=_name(Role.CA, ca),
        client_crl=_name(Role.CRL, listener.client_crl_container_id) if ca else None,
        versions=tuple(listener.tls_versions or ()),
        ciphers=listener.tls_ciphers,
        alpn=tuple(listener.alpn_protocols or ()),
        hsts_max_age=listener.hsts_max_age,
        hsts_include_subdomains=bool(listener.hsts_include_subdomains),
        hsts_preload=bool(listener.hsts_preload),
    )


def pool_tls(pool: models.Pool) -> vm.PoolTLSView | None:
    if not pool.tls_enabled:
        return None
    ca = pool.ca_tls_certificate_id
    return vm.PoolTLSView(
        client_cert=_name(Role.CERTIFICATE, pool.tls_certificate_id),
        ca_cert=_name(Role.CA, ca),
        crl=_name(Role.CRL, pool.crl_container_id) if ca else None,
        versions=tuple(pool.tls_versions or ()),
        ciphers=pool.tls_ciphers,
        alpn=tuple(pool.alpn_protocols or ()),
    )
