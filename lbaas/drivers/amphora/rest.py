"""Controller-side client of the amphora agent (HTTPS with mutual TLS).

Trust is narrow on both sides: the client presents the controller's
certificate, accepts only servers signed by the controller CA, and requires the
server certificate to name the amphora it means to talk to (not the address it
connects to), so a reused management address can never receive another
amphora's configuration.

One request per connection; every call is idempotent, so a caller may retry
on AgentUnreachable, including a `put_config` whose answer was lost.

The PKI files are read again whenever they change (a renewed client
certificate, a CA rollover done by housekeeping in another process), so a
long-running worker never presents an expired certificate. Only the
certificate calls (`put_certificate`, `server_certificate`) reach an agent
whose own certificate is out of date; see trust.py.
"""

import http.client
import json
import logging
import socket
import ssl
import threading
import time
from typing import Any, TypeVar

from cryptography import x509

from lbaas import wire
from lbaas.drivers import pki as pki_files
from lbaas.drivers.amphora import trust
from lbaas.drivers.base import StatRow
from lbaas.drivers.pki import ControllerPKI

LOG = logging.getLogger(__name__)

CONNECT_TIMEOUT = 5.0
READ_TIMEOUT = 60.0  # covers `haproxy -c` and a reload with many certificates
READY_PROBE_TIMEOUT = 1.0
FIRST_POLL_INTERVAL = 0.02
MAX_POLL_INTERVAL = 0.2

W = TypeVar("W", wire.AgentInfo, wire.AgentStatus, wire.CertificateStatus)
# OpenSSL's verify codes for a certificate outside its validity period.
OUT_OF_DATE = (9, 10)  # X509_V_ERR_CERT_NOT_YET_VALID, X509_V_ERR_CERT_HAS_EXPIRED
WATCHED_FILES = (pki_files.CA_CERT, pki_files.CLIENT_CERT, pki_files.CLIENT_KEY)


class AgentError(Exception):
    def __init__(self, amphora_id: str, message: str) -> None:
        super().__init__(f"amphora {amphora_id}: {message}")
        self.amphora_id = amphora_id


class AgentUnreachable(AgentError):
    """Transient: refused, timed out, reset, not started yet. Retry later."""


class AgentTLSError(AgentError):
    """The TLS handshake failed: wrong certificate, name or CA. Not transient."""


class AgentCertificateExpired(AgentTLSError):
    """Its certificate is outside its validity period: only a rotation reaches it."""


class AgentResponseError(AgentError):
    """The agent answered with an error status; carries its message/details."""

    def __init__(self, amphora_id: str, status: int, message: str, details: str = "") -> None:
        super().__init__(amphora_id, f"HTTP {status}: {message}")
        self.status = status
        self.message = message
        self.details = details


class AgentRejected(AgentResponseError):
    """4xx: the request is wrong (e.g. HAProxy refused the configuration;
    `details` holds its output). Retrying the same request will not help."""


class AgentFailed(AgentResponseError):
    """5xx: the agent could not do it (e.g. reload failed and was rolled back)."""


def make_client_context(ca_file: str, cert_file: str, key_file: str) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)  # verifies chain and name
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_verify_locations(cafile=ca_file)
    context.load_cert_chain(cert_file, key_file)
    return context


def make_unverified_context(cert_file: str, key_file: str) -> ssl.SSLContext:
    """For the certificate calls only: the caller verifies the peer (trust.py)."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    context.load_cert_chain(cert_file, key_file)
    return context


class _Credentials:
    """The contexts and trusted CAs made from one version of the PKI files."""

    def __init__(self, pki: ControllerPKI) -> None:
        cert_file, key_file = pki.client_cert_files
        self.signature = pki.files_signature(*WATCHED_FILES)
        self.context = make_client_context(pki.ca_file, cert_file, key_file)
        self.unverified = make_unverified_context(cert_file, key_file)
        self.trusted = trust.load_trusted(pki.ca_file)


class AgentClient:
    def __init__(
        self,
        pki_dir: str,
        connect_timeout: float = CONNECT_TIMEOUT,
        read_timeout: float = READ_TIMEOUT,
    ) -> None:
        self._pki = ControllerPKI(pki_dir)
        with self._pki.locked():
            self._credentials = _Credentials(self._pki)
        self._reload_lock = threading.Lock()
        self.connect_timeout = connect_timeout
        self.read_timeout = read_timeout

    def info(
        self, amphora_id: str, address: str, port: int, connect_timeout: float | None = None
    ) -> wire.AgentInfo:
        data = self._request(
            "GET", amphora_id, address, port, wire.PATH_INFO, connect_timeout=connect_timeout
        )
        return self._decode(amphora_id, wire.AgentInfo, data)

    def status(self, amphora_id: str, address: str, port: int) -> wire.AgentStatus:
        data = self._request("GET", amphora_id, address, port, wire.PATH_STATUS)
        return self._decode(amphora_id, wire.AgentStatus, data)

    def put_config(
        self, amphora_id: str, address: str, port: int, bundle: wire.ConfigBundle
    ) -> wire.AgentStatus:
        """Apply `bundle`; same digest as running is a no-op on the agent."""
        data = self._request(
            "PUT", amphora_id, address, port, wire.PATH_CONFIG, body=wire.to_json(bundle)
        )
        return self._decode(amphora_id, wire.AgentStatus, data)

    def stats(self, amphora_id: str, address: str, port: int) -> list[StatRow]:
        """HAProxy `show stat` rows (dicts keyed by CSV column; counters reset
        on every reload)."""
        rows: list[StatRow] = self._request("GET", amphora_id, address, port, wire.PATH_STATS)
        return rows

    def put_certificate(
        self, amphora_id: str, address: str, port: int, cert: wire.AmphoraCertificate
    ) -> wire.CertificateStatus:
        """Install a new server certificate on the agent, even an expired one's."""
        data = self._request(
            "PUT",
            amphora_id,
            address,
            port,
            wire.PATH_CERTIFICATE,
            body=wire.to_json(cert),
            verify_dates=False,
        )
        return self._decode(amphora_id, wire.CertificateStatus, data)

    def server_certificate(
        self, amphora_id: str, address: str, port: int, connect_timeout: float | None = None
    ) -> x509.Certificate:
        """The certificate the agent presents now (checked, dates aside); no request."""
        timeout = connect_timeout or self.connect_timeout
        tls, cert = self._connect_unverified(amphora_id, address, port, timeout)
        tls.close()
        return cert

    def delete_config(self, amphora_id: str, address: str, port: int) -> wire.AgentStatus:
        data = self._request("DELETE", amphora_id, address, port, wire.PATH_CONFIG)
        return self._decode(amphora_id, wire.AgentStatus, data)

    def wait_ready(
        self, amphora_id: str, address: str, port: int, timeout: float
    ) -> wire.AgentInfo:
        """Poll `info` until the agent answers; AgentUnreachable after `timeout`.

        Starts at 20 ms between tries and grows to 200 ms: an agent is
        usually up within a few hundred milliseconds of being started.
        """
        deadline = time.monotonic() + timeout
        interval = FIRST_POLL_INTERVAL
        while True:
            remaining = deadline - time.monotonic()
            try:
                return self.info(
                    amphora_id,
                    address,
                    port,
                    connect_timeout=max(0.05, min(READY_PROBE_TIMEOUT, remaining)),
                )
            except AgentUnreachable as exc:
                if time.monotonic() + interval > deadline:
                    raise AgentUnreachable(
                        amphora_id, f"not ready after {timeout} s: {exc}"
                    ) from None
            time.sleep(interval)
            interval = min(interval * 1.5, MAX_POLL_INTERVAL)

    # -- transport -----------------------------------------------------------

    def _request(
        self,
        method: str,
        amphora_id: str,
        address: str,
        port: int,
        path: str,
        body: bytes | None = None,
        connect_timeout: float | None = None,
        verify_dates: bool = True,
    ) -> Any:
        """The agent's answer: parsed JSON, as it came (callers give it a type)."""
        timeout = connect_timeout or self.connect_timeout
        if verify_dates:
            tls = self._connect(amphora_id, address, port, timeout)
        else:
            tls, _ = self._connect_unverified(amphora_id, address, port, timeout)
        try:
            status, payload = self._exchange(tls, method, address, port, path, body)
        except ssl.SSLError as exc:
            if isinstance(exc, (ssl.SSLEOFError, ssl.SSLZeroReturnError)):
                raise AgentUnreachable(amphora_id, f"{method} {path}: {exc!r}") from None
            raise AgentTLSError(amphora_id, f"TLS error: {exc}") from None
        except (http.client.HTTPException, OSError) as exc:
            raise AgentUnreachable(amphora_id, f"{method} {path}: {exc!r}") from None
        finally:
            tls.close()
        return self._check(amphora_id, status, payload)

    def _current(self) -> _Credentials:
        """The credentials of the PKI files as they are now."""
        credentials = self._credentials
        try:
            if self._pki.files_signature(*WATCHED_FILES) == credentials.signature:
                return credentials
            with self._reload_lock, self._pki.locked():  # files change under this lock
                self._credentials = _Credentials(self._pki)
            LOG.info("controller certificate files changed: loaded them again")
        except (OSError, ssl.SSLError, ValueError) as exc:
            # The previous credentials stay valid until their end: keep them.
            LOG.warning("cannot load the changed PKI files, keeping the previous: %s", exc)
        return self._credentials

    def _connect_unverified(
        self, amphora_id: str, address: str, port: int, timeout: float
    ) -> tuple[ssl.SSLSocket, x509.Certificate]:
        credentials = self._current()
        tls = self._connect(amphora_id, address, port, timeout, credentials.unverified)
        try:
            cert = trust.verify_ignoring_dates(
                tls.getpeercert(binary_form=True), credentials.trusted, amphora_id
            )
        except trust.UntrustedCertificate as exc:
            tls.close()
            raise AgentTLSError(amphora_id, f"server certificate refused: {exc}") from None
        return tls, cert

    def _connect(
        self,
        amphora_id: str,
        address: str,
        port: int,
        timeout: float,
        context: ssl.SSLContext | None = None,
    ) -> ssl.SSLSocket:
        try:
            sock = socket.create_connection((address, port), timeout=timeout)
        except OSError as exc:
            raise AgentUnreachable(amphora_id, f"connect {address}:{port}: {exc}") from None
        try:
            # The name checked is the amphora id, whatever address we reached.
            context = context or self._current().context
            return context.wrap_socket(sock, server_hostname=amphora_id)
        except ssl.SSLCertVerificationError as exc:
            sock.close()
            error = AgentCertificateExpired if exc.verify_code in OUT_OF_DATE else AgentTLSError
            raise error(amphora_id, f"server certificate refused: {exc.verify_message}") from None
        except ssl.SSLError as exc:
            sock.close()
            raise AgentTLSError(amphora_id, f"TLS handshake failed: {exc}") from None
        except OSError as exc:
            sock.close()
            raise AgentUnreachable(amphora_id, f"TLS handshake: {exc!r}") from None

    def _exchange(
        self,
        tls: ssl.SSLSocket,
        method: str,
        address: str,
        port: int,
        path: str,
        body: bytes | None,
    ) -> tuple[int, bytes]:
        tls.settimeout(self.read_timeout)
        host = f"[{address}]" if ":" in address else address
        connection = http.client.HTTPConnection(host, port, timeout=self.read_timeout)
        connection.sock = tls  # already connected and verified
        headers = {"Accept": "application/json", "Connection": "close"}
        if body is not None:
            headers["Content-Type"] = "application/json"
        connection.request(method, path, body=body, headers=headers)
        response = connection.getresponse()
        return response.status, response.read()

    @staticmethod
    def _check(amphora_id: str, status: int, payload: bytes) -> Any:
        try:
            data = json.loads(payload) if payload else None
        except ValueError:
            data = {
                "message": "answer is not JSON",
                "details": payload[:200].decode("utf-8", "replace"),
            }
            status = status if status >= 400 else 502
        if 200 <= status < 300:
            return data
        data = data if isinstance(data, dict) else {}
        error = AgentRejected if 400 <= status < 500 else AgentFailed
        raise error(amphora_id, status, str(data.get("message", "")), str(data.get("details", "")))

    @staticmethod
    def _decode(amphora_id: str, cls: type[W], data: object) -> W:
        try:
            return cls.from_dict(data)
        except wire.WireError as exc:
            raise AgentFailed(amphora_id, 200, f"unexpected answer: {exc}") from None
