"""The agent's HTTPS API: standard library server, mutual TLS, JSON bodies.

One request per connection (HTTP/1.0): the controller talks to an agent a few
times per change, so connection reuse would buy little and cost state.

The server certificate can be replaced while the agent runs (PUT
/1.0/certificate, see certificates.py): each handshake takes the context in
force when it starts, so a rotation affects new connections only.
"""

from __future__ import annotations

import http
import http.server
import logging
import socket
import socketserver
import ssl
from collections.abc import Callable, Mapping

from lbaas import wire
from lbaas.agent import certificates
from lbaas.agent.bundle import InvalidBundle
from lbaas.agent.service import AgentService, ApplyFailed, Unavailable

LOG = logging.getLogger(__name__)
HANDSHAKE_TIMEOUT = 10.0
REQUEST_TIMEOUT = 60.0
MAX_BODY = 64 * 1024 * 1024  # certificates for many listeners fit easily

# What the API answers, before it is encoded as JSON.
Route = Callable[[], object]


class AgentSSLContext(ssl.SSLContext):
    """A server context that remembers the files it was loaded from, so the
    server it is handed to can rotate them (main.py passes only the context)."""

    files: certificates.CertificateFiles


def make_server_context(ca_file: str, cert_file: str, key_file: str) -> AgentSSLContext:
    """TLS >= 1.2, our certificate, and only clients signed by the controller CA.

    Amphora certificates are signed by the same CA but carry only the
    serverAuth extended key usage, which OpenSSL rejects for a client: an
    amphora cannot use its own certificate to drive another amphora.
    A rotation that a crash interrupted is completed first.
    """
    files = certificates.CertificateFiles(ca_file, cert_file, key_file)
    certificates.finish_pending(files)
    context = AgentSSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.files = files
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.verify_mode = ssl.CERT_REQUIRED
    context.load_cert_chain(cert_file, key_file)
    context.load_verify_locations(cafile=ca_file)
    return context


class AgentHTTPServer(http.server.ThreadingHTTPServer):
    daemon_threads = True
    RequestHandlerClass: type[AgentRequestHandler]

    def __init__(
        self, address: tuple[str, int], service: AgentService, ssl_context: ssl.SSLContext
    ) -> None:
        if ":" in address[0]:
            self.address_family = socket.AF_INET6
        self.service = service
        # Rotation needs to know the files; a plain context cannot be rotated.
        self.certificates: certificates.ServerCertificates | None = None
        amphora_id = getattr(service, "amphora_id", None)  # test doubles may not say
        if isinstance(ssl_context, AgentSSLContext) and isinstance(amphora_id, str):
            self.certificates = certificates.ServerCertificates(
                amphora_id, ssl_context.files, ssl_context, make_server_context
            )
        self._fixed_context = ssl_context
        super().__init__(address, AgentRequestHandler)

    @property
    def ssl_context(self) -> ssl.SSLContext:
        """The context a handshake starting now uses."""
        if self.certificates is not None:
            return self.certificates.context
        return self._fixed_context

    def server_bind(self) -> None:
        # HTTPServer.server_bind resolves the address to a name (getfqdn): in
        # a namespace without DNS that can hang start-up for seconds.
        socketserver.TCPServer.server_bind(self)
        # After TCPServer.server_bind it holds getsockname(): the host is a str
        # (typeshed also allows the bytes a caller may pass before binding).
        self.server_name, self.server_port = self.server_address[:2]  # type: ignore[assignment]

    def finish_request(  # type: ignore[override]  # TCP: always a socket, never a datagram
        self, request: socket.socket, client_address: tuple[str, int] | tuple[str, int, int, int]
    ) -> None:
        # The TLS handshake happens here, in the request's own thread, not in
        # accept(): a slow or hostile client cannot stall the whole server.
        request.settimeout(HANDSHAKE_TIMEOUT)
        try:
            tls = self.ssl_context.wrap_socket(request, server_side=True)
        except (ssl.SSLError, OSError) as exc:
            LOG.warning("TLS handshake with %s failed: %s", client_address[0], exc)
            return
        try:
            self.RequestHandlerClass(tls, client_address, self)
        finally:
            tls.close()


class AgentRequestHandler(http.server.BaseHTTPRequestHandler):
    server_version = f"lbaas-agent/{wire.AGENT_VERSION}"
    timeout = REQUEST_TIMEOUT
    server: AgentHTTPServer

    def do_GET(self) -> None:
        routes: dict[str, Route] = {
            wire.PATH_ROOT: lambda: {"api_version": wire.API_VERSION},
            wire.PATH_INFO: self.server.service.info,
            wire.PATH_STATUS: self.server.service.status,
            wire.PATH_STATS: self.server.service.stats,
        }
        self._dispatch(routes)

    def do_PUT(self) -> None:
        self._dispatch(
            {wire.PATH_CONFIG: self._put_config, wire.PATH_CERTIFICATE: self._put_certificate}
        )

    def do_DELETE(self) -> None:
        self._dispatch({wire.PATH_CONFIG: self.server.service.remove})

    def do_POST(self) -> None:
        self._dispatch({})  # 405 on our paths, 404 elsewhere

    do_PATCH = do_POST

    def _put_config(self) -> wire.AgentStatus:
        bundle = wire.from_json(wire.ConfigBundle, self._read_body())
        return self.server.service.apply(bundle)

    def _put_certificate(self) -> wire.CertificateStatus:
        offered = wire.from_json(wire.AmphoraCertificate, self._read_body())
        if self.server.certificates is None:
            raise _HTTPError(503, "this agent was started without certificate files")
        try:
            status = self.server.certificates.install(offered)
        except certificates.InvalidCertificate as exc:
            raise _HTTPError(400, f"certificate not installed: {exc.message}") from None
        LOG.info(
            "server certificate %s installed, valid until %s",
            status.serial_number,
            status.not_after.isoformat(),
        )
        return status

    def _read_body(self) -> bytes:
        length = self.headers.get("Content-Length")
        if length is None or not length.isdigit():
            raise _HTTPError(411, "Content-Length is required")
        if int(length) > MAX_BODY:
            raise _HTTPError(413, f"body larger than {MAX_BODY} bytes")
        return self.rfile.read(int(length))

    def _dispatch(self, routes: Mapping[str, Route]) -> None:
        path = self.path.split("?", 1)[0]
        handler = routes.get(path)
        if handler is None:
            known = _all_paths()
            code = 405 if path in known else 404
            return self._send_error(
                code, "method not allowed" if code == 405 else f"no such resource: {path}"
            )
        try:
            self._send_json(200, handler())
        except _HTTPError as exc:
            self._send_error(exc.code, exc.message)
        except (InvalidBundle, ApplyFailed) as exc:
            code = 400 if isinstance(exc, InvalidBundle) else 500
            self._send_error(code, exc.message, exc.details)
        except wire.WireError as exc:
            self._send_error(400, str(exc))
        except Unavailable as exc:
            self._send_error(503, str(exc))
        except Exception as exc:  # the agent must answer, whatever broke
            LOG.exception("%s %s failed", self.command, path)
            self._send_error(500, f"internal error: {exc}")

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        # Errors the base class detects (unknown method, malformed request
        # line) are answered in JSON too, like every other error.
        self.close_connection = True
        self._send_error(code, message or http.HTTPStatus(code).phrase, explain or "")

    def _send_error(self, code: int, message: str, details: str = "") -> None:
        self._send_json(code, {"message": message, "details": details})

    def _send_json(self, code: int, payload: object) -> None:
        body = wire.to_json(payload)
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:  # base class signature
        LOG.info("%s %s", self.client_address[0], format % args)


class _HTTPError(Exception):
    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def _all_paths() -> set[str]:
    return {
        wire.PATH_ROOT,
        wire.PATH_INFO,
        wire.PATH_STATUS,
        wire.PATH_STATS,
        wire.PATH_CONFIG,
        wire.PATH_CERTIFICATE,
    }
