"""`barbican`: references into a real Barbican, read with python-barbicanclient.

In a deployment, the session is keystoneauth1's from the `[service_auth]`
credentials and the endpoint comes from the Keystone catalog
(`[certificates] region_name` and `endpoint_type`), as Octavia's
barbican_cert_manager with its ACL auth: lbaas reads as its service user,
so a project grants that user read access to its secrets (Barbican ACLs).

Constructed with an explicit session without credentials and an endpoint,
each call reads as the caller's project (the `X-Project-Id` header), which
is how the contract tests point it at lbaas's own key-manager endpoint.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Mapping
from typing import Any

from barbicanclient import client as barbican_client  # type: ignore[import-untyped]
from barbicanclient import exceptions as barbican_errors
from barbicanclient.v1 import containers as barbican_containers  # type: ignore[import-untyped]
from keystoneauth1 import exceptions as ks_errors
from keystoneauth1 import loading as ks_loading
from keystoneauth1 import session as ks_session

from lbaas import config
from lbaas.drivers.certificates.base import CertificateError
from lbaas.drivers.certificates.resolve import Missing, Resolver

LOG = logging.getLogger(__name__)
SERVICE_AUTH = config.SERVICE_AUTH
NOT_FOUND = 404
MAX_CLIENTS = 256  # per-project clients kept (sessions without credentials)


def service_session() -> ks_session.Session:
    """keystoneauth1's session from the `[service_auth]` options."""
    conf = config.CONF
    auth = ks_loading.load_auth_from_conf_options(conf, SERVICE_AUTH)
    session: ks_session.Session = ks_loading.load_session_from_conf_options(
        conf, SERVICE_AUTH, auth=auth
    )
    return session


class BarbicanCertificates(Resolver):
    """CertificateManager over Barbican's /v1/secrets and /v1/containers."""

    def __init__(
        self,
        session: ks_session.Session | None = None,
        endpoint: str | None = None,
        *,
        region_name: str | None = None,
        interface: str | None = None,
    ) -> None:
        settings = config.CONF.certificates
        self.session = session if session is not None else service_session()
        self.endpoint = endpoint
        self.region_name = region_name if region_name is not None else settings.region_name
        self.interface = interface if interface is not None else settings.endpoint_type
        self._clients: dict[str | None, Any] = {}
        self._lock = threading.Lock()

    def _client(self, project_id: str) -> Any:
        """One barbicanclient per project without credentials, else one in all.

        Making one asks the endpoint for its versions, hence the cache.
        """
        scoped = self.session.auth is None
        key = project_id if scoped else None
        with self._lock:
            client = self._clients.get(key)
        if client is None:
            client = self._make_client(project_id if scoped else None)
            with self._lock:
                if len(self._clients) >= MAX_CLIENTS:
                    self._clients.clear()
                client = self._clients.setdefault(key, client)
        return client

    def _make_client(self, project_id: str | None) -> Any:
        kwargs: dict[str, Any] = {'session': self.session, 'interface': self.interface}
        if self.endpoint:
            kwargs['endpoint'] = self.endpoint
        if self.region_name:
            kwargs['region_name'] = self.region_name
        if project_id is not None:
            kwargs['project_id'] = project_id
        try:
            return barbican_client.Client(**kwargs)
        except Exception as exc:
            raise CertificateError(self.endpoint or 'barbican', _unreachable(exc))

    def secret_payload(self, project_id: str, secret_id: str) -> bytes | None:
        barbican = self._client(project_id)
        try:
            payload = barbican.secrets.get(secret_id).payload
        except Exception as exc:
            raise _translate(secret_id, exc)
        if isinstance(payload, str):
            return payload.encode('utf-8')
        return payload if payload else None

    def container_secrets(self, project_id: str, container_id: str) -> Mapping[str, str]:
        barbican = self._client(project_id)
        try:
            container = barbican.containers.get(container_id)
        except Exception as exc:
            raise _translate(container_id, exc)
        if not isinstance(container, barbican_containers.CertificateContainer):
            kind = getattr(container, '_type', 'unknown')
            raise CertificateError(
                container_id, 'a %s container, not a certificate container' % kind
            )
        refs: Mapping[str, str] = container.secret_refs or {}
        return {role: ref.rstrip('/').rsplit('/', 1)[-1] for role, ref in refs.items()}


def _translate(ident: str, exc: Exception) -> Exception:
    """barbicanclient's and keystoneauth's errors as Missing or CertificateError."""
    status = getattr(exc, 'status_code', None)
    if status == NOT_FOUND or isinstance(exc, (LookupError, ks_errors.NotFound)):
        return Missing(ident)
    if isinstance(exc, barbican_errors.HTTPClientError):
        return CertificateError(ident, 'the key manager refused it (HTTP %s)' % status)
    if isinstance(exc, barbican_errors.HTTPAuthError):
        return CertificateError(ident, 'the key manager refused our credentials')
    return CertificateError(ident, _unreachable(exc))


def _unreachable(exc: Exception) -> str:
    LOG.warning('key manager request failed: %s: %s', type(exc).__name__, exc)
    return 'the key manager could not be reached (%s)' % type(exc).__name__
