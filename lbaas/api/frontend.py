"""The API's front end in each worker: uvicorn's event loop, the WSGI app in threads.

uvicorn reads requests on an asyncio event loop, so an idle or slow socket
costs a few kilobytes, not a thread. `WholeRequests` reads the whole body
on that loop as well and only then hands the request to threaded.py, which
runs the (unchanged) Falcon WSGI app in a thread pool.

Hand-written here, because uvicorn does not have it:
- `Connection`: a header read timeout, the idle timeout of a connection
  that has not sent a request yet (uvicorn only times out a connection idle
  after a response), and the 429 of a client over its connection limit
  (uvicorn's `limit_concurrency` is for all clients together; the counts
  are server.ClientCounts, shared by the worker processes);
- `WholeRequests`: a body read timeout (uvicorn has none);
- `OctaviaFaults`: Octavia's JSON fault body on uvicorn's own 400s (and
  414/431) for requests it cannot parse.
"""
import asyncio
import contextvars
import http
import json
import logging
import socket
import sys
import time
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass
from typing import Any, Protocol, cast

from uvicorn.protocols.http.h11_impl import H11Protocol

from lbaas.api import threaded

LOG = logging.getLogger(__name__)

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]

LINGER_SECONDS = 2.0  # a refused client may read its 429 before the socket closes
REFUSAL_LOG_EVERY = 10.0  # seconds between two log lines about one address
MAX_DETAIL = 200  # characters of h11's reason (it may quote the request) in a fault


@dataclass(frozen=True)
class Limits:
    header_timeout: float
    body_timeout: float
    keepalive_timeout: float
    max_body: int  # [api_settings] max_request_body_size: the app answers 413 past it


class Counts(Protocol):
    """Open connections per client address (server.ClientCounts)."""

    limit: int

    def admit(self, host: str) -> bool: ...

    def release(self, host: str) -> None: ...


class FairLoop(asyncio.SelectorEventLoop):
    """asyncio's event loop, where a gunicorn worker takes a new connection
    one at a time, and leaves it for a moment to a less busy worker.

    The workers share one listening socket and the kernel wakes them all;
    asyncio's loop accepts up to `backlog` connections at once, so the first
    worker awake took a burst of keep-alive clients (all 32 of a benchmark's)
    and served them on its one core while the other worker idled. Here a
    worker that holds more connections than another (`busiest`, from
    server.ClientCounts) stops accepting for YIELD_SECONDS; then it takes
    the next connection whatever the counts, so a stuck worker delays new
    clients by that much at most. Overrides a private method of asyncio's
    loop: asyncio has no setting for it.
    """

    YIELD_SECONDS = 0.002
    busiest: Callable[[], bool] = staticmethod(lambda: False)  # set after the fork

    def __init__(self) -> None:
        super().__init__()
        self._yielded = False

    def _accept_connection(self, protocol_factory: Any, sock: socket.socket,
                           sslcontext: Any = None, server: Any = None, backlog: int = 100,
                           *args: Any) -> None:
        accept = super()._accept_connection  # type: ignore[misc]  # not in typeshed
        if self._yielded or not FairLoop.busiest():
            self._yielded = False
            accept(protocol_factory, sock, sslcontext, server, 1, *args)
            return
        self._yielded = True
        self._remove_reader(sock.fileno())  # type: ignore[attr-defined]
        self.call_later(self.YIELD_SECONDS, self._resume, protocol_factory, sock,
                        sslcontext, server, backlog, *args)

    def _resume(self, protocol_factory: Any, sock: socket.socket, sslcontext: Any,
                server: Any, *args: Any) -> None:
        if sock.fileno() != -1 and (server is None or server.is_serving()):
            self._add_reader(sock.fileno(), self._accept_connection,  # type: ignore[attr-defined]
                             protocol_factory, sock, sslcontext, server, *args)


def fault_body(message: str, code: str = 'Client') -> bytes:
    return json.dumps({'faultcode': code, 'faultstring': message,
                       'debuginfo': None}).encode()


def fault(status: int, reason: str, message: str, extra: bytes = b'') -> bytes:
    """A whole HTTP/1.1 response with an Octavia-style fault body; it closes."""
    body = fault_body(message, 'Server' if status >= 500 else 'Client')
    return b'HTTP/1.1 %d %s\r\nContent-Type: application/json\r\n' \
        b'Content-Length: %d\r\nConnection: close\r\n%s\r\n%s' % (
            status, reason.encode(), len(body), extra, body)


# The Connection whose bytes uvicorn is parsing: the request task uvicorn
# starts from data_received() copies it, so WholeRequests finds its connection.
CURRENT: contextvars.ContextVar['Connection | None'] = contextvars.ContextVar(
    'lbaas_api_connection', default=None)


class Connection(asyncio.Protocol):
    """One client connection, in front of uvicorn's protocol for it.

    Idle (no request under way) it closes after keepalive_timeout; from the
    first byte of a request it has header_timeout to send the headers
    (then 408); WholeRequests says when a request starts and ends.
    """

    def __init__(self, inner: asyncio.Protocol, limits: Limits,
                 counts: Counts | None) -> None:
        self._inner, self._limits, self._counts = inner, limits, counts
        self._transport: asyncio.Transport | None = None
        self._host: str | None = None  # set once counted
        self._timer: asyncio.TimerHandle | None = None
        self._requests = 0  # under way: headers in, response not yet out
        self._reading_headers = False
        self._early = False  # bytes of a next request came while one was under way
        self._refused = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = transport = cast(asyncio.Transport, transport)
        peer = transport.get_extra_info('peername')
        host = peer[0] if isinstance(peer, tuple) else str(peer)
        if self._counts is not None:
            if not self._counts.admit(host):
                self._refuse(host)
                return
            self._host = host
        self._arm(self._limits.keepalive_timeout, self._close)
        self._inner.connection_made(transport)

    def _refuse(self, host: str) -> None:
        _log_refusal(host, self._counts.limit if self._counts else 0)
        self._refused = True
        transport = cast(asyncio.Transport, self._transport)
        transport.write(fault(429, 'Too Many Requests',
                              'Too many connections from this address.',
                              b'Retry-After: 1\r\n'))
        # Half-close and drop what the client sends until it closes: closing
        # with unread input would reset the connection and lose the 429.
        if transport.can_write_eof():
            transport.write_eof()
        self._arm(LINGER_SECONDS, self._close)

    def data_received(self, data: bytes) -> None:
        if self._refused:
            return
        if self._requests:
            self._early = True
        elif not self._reading_headers:
            self._read_headers()
        token = CURRENT.set(self)
        try:
            self._inner.data_received(data)
        finally:
            CURRENT.reset(token)

    def eof_received(self) -> bool | None:
        return None if self._refused else self._inner.eof_received()

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel()
        if self._refused:
            return
        if self._counts is not None and self._host is not None:
            self._counts.release(self._host)
            self._host = None
        self._inner.connection_lost(exc)

    def pause_writing(self) -> None:
        self._inner.pause_writing()

    def resume_writing(self) -> None:
        self._inner.resume_writing()

    def request_started(self) -> None:
        self._requests += 1
        self._reading_headers = self._early = False
        self._cancel()

    def request_finished(self) -> None:
        self._requests -= 1
        if self._requests or not self._transport or self._transport.is_closing():
            return
        if self._early:  # the start of the next request is already in
            self._read_headers()
        else:
            self._arm(self._limits.keepalive_timeout, self._close)

    def _read_headers(self) -> None:
        self._reading_headers, self._early = True, False
        self._arm(self._limits.header_timeout, self._header_timeout)

    def _header_timeout(self) -> None:
        if self._transport is not None and not self._requests:
            LOG.debug('408: no complete headers within %ss', self._limits.header_timeout)
            self._transport.write(fault(408, 'Request Timeout', 'Request Timeout'))
            self._transport.close()

    def _close(self) -> None:
        if self._transport is not None:
            self._transport.close()

    def _arm(self, seconds: float, callback: Callable[[], None]) -> None:
        self._cancel()
        self._timer = asyncio.get_running_loop().call_later(seconds, callback)

    def _cancel(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None


_refusals_logged: dict[str, float] = {}


def _log_refusal(host: str, limit: int) -> None:
    """At most a line per address every REFUSAL_LOG_EVERY: a flood must not flood the log."""
    now = time.monotonic()
    if now - _refusals_logged.get(host, -REFUSAL_LOG_EVERY) < REFUSAL_LOG_EVERY:
        return
    if len(_refusals_logged) > 1024:
        _refusals_logged.clear()
    _refusals_logged[host] = now
    LOG.warning('refusing connections from %s: it has %d open '
                '([api_settings] max_connections_per_client)', host, limit)


async def _send_fault(send: Send, status: int, message: str) -> None:
    body = fault_body(message, 'Server' if status >= 500 else 'Client')
    await send({'type': 'http.response.start', 'status': status,
                'headers': [(b'content-type', b'application/json'),
                            (b'content-length', b'%d' % len(body)),
                            (b'connection', b'close')]})
    await send({'type': 'http.response.body', 'body': body, 'more_body': False})


class WholeRequests:
    """ASGI app: the whole body within body_timeout, then the WSGI app in a thread."""

    def __init__(self, wsgi_app: Callable[..., Any], limits: Limits, threads: int) -> None:
        self._limits = limits
        self._wsgi = threaded.ThreadedWSGI(wsgi_app, threads)  # its threads start after the fork

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope['type'] != 'http':
            return  # lifespan is off; no websockets
        connection = CURRENT.get()
        if connection is not None:
            connection.request_started()
        started = False

        async def send_once_started(message: Message) -> None:
            nonlocal started
            started = started or message['type'] == 'http.response.start'
            await send(message)

        try:
            await self._serve(scope, receive, send_once_started)
        except Exception:
            if started:
                raise
            # Else uvicorn would answer a text/plain 500 of its own.
            LOG.exception('the front end failed before the response started')
            await _send_fault(send, 500, 'Internal Server Error')
        finally:
            if connection is not None:
                connection.request_finished()

    async def _serve(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            async with asyncio.timeout(self._limits.body_timeout):
                body = await self._read_body(scope, receive)
        except TimeoutError:
            await _send_fault(send, 408, 'Request Timeout')
            return
        if body is None:
            return  # the client went away
        await self._wsgi(scope, body, send)

    async def _read_body(self, scope: Scope, receive: Receive) -> bytes | None:
        """The body, or enough of it past max_body for the app to answer 413."""
        limit = self._limits.max_body
        length = dict(scope['headers']).get(b'content-length', b'')
        if length.isdigit() and int(length) > limit:
            return b''  # the app refuses it by its Content-Length alone
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message['type'] == 'http.disconnect':
                return None
            chunk = message.get('body', b'')
            chunks.append(chunk)
            size += len(chunk)
            if not message.get('more_body') or size > limit:
                return b''.join(chunks)


class OctaviaFaults(H11Protocol):
    """uvicorn's HTTP/1.1 protocol, whose refusals carry Octavia's JSON fault body.

    uvicorn answers every request h11 cannot parse (a malformed request
    line, a bad header, a head over h11's size limit) with a text/plain 400
    from send_400_response, and no setting changes it: this subclass
    replaces that one method. uvicorn calls it inside its `except
    h11.RemoteProtocolError`, so the exception at hand says why; its
    status hint gives 431 for a head too large, 414 when the request line
    alone is.
    """

    def send_400_response(self, msg: str) -> None:
        exc = sys.exc_info()[1]
        status = getattr(exc, 'error_status_hint', 400)
        if status == 431 and b'\n' not in self.conn.trailing_data[0]:
            status = 414  # the request line never ended
        phrase = http.HTTPStatus(status).phrase
        detail = {414: 'the request line is too long',
                  431: 'the request headers are too long'}.get(
            status, str(exc or msg)[:MAX_DETAIL])
        LOG.info('%d %s from %s: %s', status, phrase, _client(self.client), detail)
        self.transport.write(fault(status, phrase, 'Invalid HTTP request: %s.' % detail))
        self.transport.close()


def _client(client: tuple[str, int] | None) -> str:
    return '%s:%d' % client if client else '-'


def protocol_factory(limits: Limits, counts: Counts | None) -> Callable[..., Connection]:
    """uvicorn's `http` setting: its HTTP/1.1 protocol behind a Connection."""

    def protocol(config: Any, server_state: Any, app_state: dict[str, Any],
                 _loop: asyncio.AbstractEventLoop | None = None) -> Connection:
        inner = OctaviaFaults(config=config, server_state=server_state,
                              app_state=app_state, _loop=_loop)
        return Connection(inner, limits, counts)

    return protocol
