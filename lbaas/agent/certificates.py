"""The agent's own server certificate: checked, installed and taken into use
without a restart (PUT /1.0/certificate).

The controller renews an amphora's certificate before it expires (and
repairs one that already has). The agent checks the new pair with the
standard library alone: both halves of an in-memory TLS handshake, the
server side loading the new certificate and key (so they must match) and the
client side verifying it as the controller will, against the CA bundle and
for the amphora's id as host name (so it must chain to our CA, be valid now
and carry the serverAuth usage). Only then are the files replaced and a new
SSLContext made: handshakes from then on use it, while connections already
open keep the context they started with, and HAProxy is not touched at all.

Crash safety: the new files are written next to the old ones as `*.next`,
the certificate last, then renamed over them, the certificate last. A
`.next` certificate therefore means a complete set; `finish_pending` (run
before the files are loaded at start) completes such a set and drops an
incomplete one, so the key and certificate on disk always belong together.
"""

from __future__ import annotations

import dataclasses
import datetime
import os
import ssl
import threading
from collections.abc import Callable

from lbaas import wire

PENDING_SUFFIX = ".next"
CHECK_SUFFIX = ".check"  # the staged certificate while it is being checked
HANDSHAKE_ROUNDS = 8  # TLS 1.2 and 1.3 both finish in fewer exchanges


class InvalidCertificate(Exception):
    """The certificate offered cannot serve this amphora; nothing changed."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


@dataclasses.dataclass(frozen=True)
class CertificateFiles:
    ca_file: str  # CAs whose client certificates the agent accepts
    cert_file: str
    key_file: str

    def pending(self) -> tuple[tuple[str, str], ...]:
        """(staged, final) paths in the order they are renamed: certificate last."""
        order = (self.key_file, self.ca_file, self.cert_file)
        return tuple((path + PENDING_SUFFIX, path) for path in order)


def finish_pending(files: CertificateFiles) -> None:
    """Complete a rotation that a crash interrupted, or forget a partial one."""
    staged = files.pending()
    _unlink(staged[-1][0] + CHECK_SUFFIX)
    complete = os.path.exists(staged[-1][0])
    for pending, final in staged:
        if not os.path.exists(pending):
            continue
        if complete:
            os.replace(pending, final)
        else:
            os.unlink(pending)


def check(
    amphora_id: str, cert_file: str, key_file: str, trusted_pem: str
) -> wire.CertificateStatus:
    """Raise InvalidCertificate unless the pair would serve `amphora_id` now."""
    server = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    try:
        server.load_cert_chain(cert_file, key_file)
    except ssl.SSLError as exc:
        raise InvalidCertificate(f"certificate and key do not load as a pair: {exc}") from None
    client = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)  # verifies chain, dates and name
    try:
        client.load_verify_locations(cadata=trusted_pem)
    except (ssl.SSLError, ValueError) as exc:
        raise InvalidCertificate(f"the CA bundle does not load: {exc}") from None
    peer = _handshake(server, client, amphora_id)
    return wire.CertificateStatus(
        amphora_id=amphora_id,
        not_after=datetime.datetime.fromtimestamp(
            ssl.cert_time_to_seconds(str(peer["notAfter"])), datetime.UTC
        ),
        serial_number=str(peer.get("serialNumber", "")),
    )


def _handshake(
    server_context: ssl.SSLContext, client_context: ssl.SSLContext, name: str
) -> dict[str, object]:
    """Run both ends of a handshake in memory; the certificate the client accepted."""
    to_server, to_client = ssl.MemoryBIO(), ssl.MemoryBIO()
    client_out, server_out = ssl.MemoryBIO(), ssl.MemoryBIO()
    server = server_context.wrap_bio(to_server, server_out, server_side=True)
    client = client_context.wrap_bio(to_client, client_out, server_hostname=name)
    finished = {"client": False, "server": False}
    for _ in range(HANDSHAKE_ROUNDS):
        for side, end in (("client", client), ("server", server)):
            if not finished[side]:
                try:
                    end.do_handshake()
                    finished[side] = True
                except (ssl.SSLWantReadError, ssl.SSLWantWriteError):
                    pass
                except ssl.SSLCertVerificationError as exc:
                    raise InvalidCertificate(f"certificate refused: {exc.verify_message}") from None
                except ssl.SSLError as exc:
                    raise InvalidCertificate(f"TLS handshake with it failed: {exc}") from None
            to_server.write(client_out.read())
            to_client.write(server_out.read())
        if all(finished.values()):
            return dict(client.getpeercert() or {})
    raise InvalidCertificate("TLS handshake with it did not finish")


def _write(path: str, data: bytes, mode: int) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(fd, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.chmod(path, mode)  # the umask filtered O_CREAT's mode


ContextFactory = Callable[[str, str, str], ssl.SSLContext]


class ServerCertificates:
    """The agent's certificate files and the SSLContext new handshakes use."""

    def __init__(
        self,
        amphora_id: str,
        files: CertificateFiles,
        context: ssl.SSLContext,
        make_context: ContextFactory,
    ) -> None:
        self.amphora_id = amphora_id
        self.files = files
        self._make_context = make_context
        self._context = context
        self._lock = threading.Lock()  # one rotation at a time

    @property
    def context(self) -> ssl.SSLContext:
        return self._context  # replaced whole, so a reader sees the old or the new

    def install(self, offered: wire.AmphoraCertificate) -> wire.CertificateStatus:
        """Check `offered`, put its files in place and use it for new handshakes."""
        with self._lock:
            staged = {final: pending for pending, final in self.files.pending()}
            trusted = offered.ca_pem or _read(self.files.ca_file)
            try:
                _write(staged[self.files.key_file], offered.key_pem, 0o600)
                _write(staged[self.files.ca_file], trusted, 0o644)
                cert_next = staged[self.files.cert_file] + CHECK_SUFFIX
                _write(cert_next, offered.cert_pem, 0o644)
                status = check(
                    self.amphora_id,
                    cert_next,
                    staged[self.files.key_file],
                    trusted.decode("ascii", "replace"),
                )
                os.replace(cert_next, staged[self.files.cert_file])  # the set is complete
            except BaseException:
                for path in (*staged.values(), staged[self.files.cert_file] + CHECK_SUFFIX):
                    _unlink(path)
                raise
            finish_pending(self.files)
            self._context = self._make_context(
                self.files.ca_file, self.files.cert_file, self.files.key_file
            )
            return status


def _read(path: str) -> bytes:
    with open(path, "rb") as f:
        return f.read()


def _unlink(path: str) -> None:
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass
