"""The `rest` amphora driver: the reconcile loop's side of the agent API.

A transport only: the controller renders each amphora's bundle; this driver
carries it to the agent and maps the agent client's errors onto the worker's
retry rules: unreachable is transient, a refused configuration is permanent,
and an agent whose certificate expired is transient too (CertificateExpired:
housekeeping renews the certificate, then the retry goes through).
"""

import datetime

from lbaas import config, wire
from lbaas.drivers.amphora import rest
from lbaas.drivers.base import (
    Amphora,
    CertificateExpired,
    PermanentError,
    TransientError,
)

PORT = wire.DEFAULT_PORT
READY_PROBE = 0.25  # seconds: a booting agent refuses at once, a lost one times out


def pki_dir() -> str:
    return config.pki_dir()


class RestAmphora:
    def __init__(self) -> None:
        self.client = rest.AgentClient(pki_dir())

    def _where(self, amphora: Amphora) -> tuple[str, str, int]:
        if amphora.lb_network_ip is None:  # never plugged: nothing to reach it at
            raise rest.AgentUnreachable(amphora.id, 'no management address recorded')
        return amphora.id, amphora.lb_network_ip, PORT

    def ready(self, amphora: Amphora) -> bool:
        try:
            self.client.info(*self._where(amphora), connect_timeout=READY_PROBE)
        except rest.AgentError:
            return False
        return True

    def running_digest(self, amphora: Amphora) -> str | None:
        try:
            return self.client.status(*self._where(amphora)).config_digest
        except rest.AgentCertificateExpired as exc:
            raise _expired(amphora, exc)
        except rest.AgentUnreachable:
            return None

    def push(self, amphora: Amphora, bundle: wire.ConfigBundle) -> str:
        try:
            status = self.client.put_config(*self._where(amphora), bundle)
        except rest.AgentCertificateExpired as exc:
            raise _expired(amphora, exc)
        except rest.AgentUnreachable as exc:
            raise TransientError(str(exc))
        except rest.AgentRejected as exc:
            raise PermanentError(
                'amphora %s refused the configuration: %s %s'
                % (amphora.id, exc.message, exc.details)
            )
        except rest.AgentError as exc:
            raise TransientError(str(exc))
        if status.config_digest is None:  # it took the bundle yet says it runs nothing
            raise TransientError(
                'amphora %s answered the configuration without a digest' % amphora.id
            )
        return status.config_digest

    def rotate_certificate(self, amphora: Amphora, cert: wire.AmphoraCertificate) -> None:
        try:
            installed = self.client.put_certificate(*self._where(amphora), cert)
        except rest.AgentRejected as exc:
            raise PermanentError(
                'amphora %s refused the certificate: %s %s' % (amphora.id, exc.message, exc.details)
            )
        except rest.AgentError as exc:
            raise TransientError(str(exc))
        if installed.not_after != cert.not_after:  # it answers with what it now presents
            raise TransientError(
                'amphora %s presents a certificate valid until %s after the rotation, not %s'
                % (amphora.id, installed.not_after, cert.not_after)
            )

    def certificate_expiry(self, amphora: Amphora) -> datetime.datetime | None:
        try:
            where = self._where(amphora)
            return self.client.server_certificate(*where).not_valid_after_utc
        except rest.AgentUnreachable:
            return None
        except rest.AgentError as exc:  # not ours, or not this amphora's
            raise PermanentError(str(exc))


def _expired(amphora: Amphora, exc: rest.AgentError) -> CertificateExpired:
    return CertificateExpired(
        'amphora %s cannot be used until its certificate is renewed (%s); housekeeping '
        'renews it within [house_keeping] cert_interval' % (amphora.id, exc)
    )
