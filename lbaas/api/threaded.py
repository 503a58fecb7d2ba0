"""The WSGI app in a thread pool, with one hand-off each way per request.

Under uvicorn the Falcon app runs in threads: its database calls block.
a2wsgi, used before, sent every message of a response (the start, each
body chunk, the end) back to the event loop with run_coroutine_threadsafe
and made the app's thread wait for each one, and read the body through
the loop as well: four or more round trips between threads per request,
which cost more than the app's own work (a trivial WSGI app answered about
800 requests/s through it on one core, 2,500 without it).

Here the front end has the whole request body already (frontend.
WholeRequests), the app runs to its end in a pool thread, its response is
collected there and the loop sends it: one hand-off there, one back.
Collecting is safe because every response of this API is in memory
already (Falcon's text and data, webob's body under keystonemiddleware);
the status, headers and body bytes a client receives are the same.

The hand-off itself is `Pool`, not run_in_executor on a ThreadPoolExecutor:
that wraps each call in a concurrent.futures.Future (a Condition, its
waiter list, a callback that chains it to an asyncio future) and checks the
idle threads on every submit; with 4 threads and 16 callers a hand-off cost
about 90 us of CPU there and about 45 us here, on a GET whose own work is
about 500 us.
"""
import asyncio
import contextvars
import io
import os
import queue
import sys
import threading
import weakref
from collections.abc import Awaitable, Callable, Iterable, MutableMapping
from typing import Any

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Send = Callable[[Message], Awaitable[None]]
WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]
# (status, headers as ASGI sends them, body)
Response = tuple[int, list[tuple[bytes, bytes]], bytes]


def _latin1(text: str) -> str:
    """A URL path (unicode in ASGI) as WSGI carries it: its UTF-8 bytes as latin-1."""
    return text.encode('utf8').decode('latin1')


def build_environ(scope: Scope, body: bytes, script_name: str = '') -> dict[str, Any]:
    """The PEP 3333 environ of an ASGI HTTP request whose whole body is `body`.

    The same keys and values as a2wsgi gave the app before, and
    wsgi.input_terminated, as gunicorn sets it: the input ends where the
    body does.
    """
    root = _latin1(scope.get('root_path', ''))
    path = _latin1(scope['path'])
    if path.startswith(root):
        path = path[len(root):]
    server_name, server_port = scope.get('server') or ('localhost', 80)
    environ: dict[str, Any] = {
        'asgi.scope': scope, 'REQUEST_METHOD': scope['method'],
        'SCRIPT_NAME': script_name or root, 'PATH_INFO': path,
        'QUERY_STRING': scope['query_string'].decode('ascii'),
        'SERVER_PROTOCOL': 'HTTP/%s' % scope['http_version'],
        'SERVER_NAME': server_name, 'SERVER_PORT': str(server_port or 0),
        'wsgi.version': (1, 0), 'wsgi.url_scheme': scope.get('scheme', 'http'),
        'wsgi.input': io.BytesIO(body), 'wsgi.errors': sys.stdout,
        'wsgi.multithread': True, 'wsgi.multiprocess': True, 'wsgi.run_once': False,
        'wsgi.input_terminated': True,
    }
    client = scope.get('client')
    if client is not None:
        environ['REMOTE_ADDR'], environ['REMOTE_PORT'] = client[0], str(client[1])
    for raw_name, raw_value in scope.get('headers', ()):
        name = raw_name.decode('latin1')
        if name == 'content-length':
            key = 'CONTENT_LENGTH'
        elif name == 'content-type':
            key = 'CONTENT_TYPE'
        else:
            key = 'HTTP_' + name.upper().replace('-', '_')
        value = raw_value.decode('latin1')
        environ[key] = environ[key] + ',' + value if key in environ else value
    return environ


class _Collected:
    """start_response and write() of one request, kept until the app returns."""

    def __init__(self) -> None:
        self.status: int | None = None
        self.headers: list[tuple[bytes, bytes]] = []
        self.chunks: list[bytes] = []

    def start_response(self, status: str, headers: list[tuple[str, str]],
                       exc_info: Any = None) -> Callable[[bytes], None]:
        # Nothing has gone out yet, so a second call (with exc_info, after
        # an error) simply replaces the first, as PEP 3333 allows.
        self.status = int(status.split(' ', 1)[0])
        self.headers = [(name.strip().encode('latin1').lower(), value.strip().encode('latin1'))
                        for name, value in headers]
        return self.chunks.append


def run_app(app: WSGIApp, environ: dict[str, Any]) -> Response:
    """Call the app and collect its whole response (in a pool thread)."""
    collected = _Collected()
    iterable = app(environ, collected.start_response)
    try:
        collected.chunks.extend(chunk for chunk in iterable if chunk)
    finally:
        close = getattr(iterable, 'close', None)
        if close is not None:
            close()
    if collected.status is None:
        raise RuntimeError('the WSGI app returned without starting a response')
    return collected.status, collected.headers, b''.join(collected.chunks)


# (the loop, the future to settle on it, the function, its arguments)
_Call = tuple[asyncio.AbstractEventLoop, 'asyncio.Future[Any]', Callable[..., Any],
              tuple[Any, ...]]


def _settle(future: 'asyncio.Future[Any]', result: Any, error: BaseException | None) -> None:
    """On the loop: hand the pool thread's outcome to the waiting coroutine."""
    if future.done():  # the waiter was cancelled meanwhile
        return
    if error is not None:
        future.set_exception(error)
    else:
        future.set_result(result)


def _serve_calls(calls: 'queue.SimpleQueue[_Call | None]') -> None:
    """A pool thread: run calls until the pool is gone (None)."""
    while (call := calls.get()) is not None:
        loop, future, fn, args = call
        result, error = None, None
        try:
            result = fn(*args)
        except BaseException as exc:  # as concurrent.futures: the waiter gets it
            error = exc
        try:
            loop.call_soon_threadsafe(_settle, future, result, error)
        except RuntimeError:  # the loop closed meanwhile: nobody waits any more
            pass
        del call, loop, future, result, error  # no reference kept while idle


class Pool:
    """`threads` threads that run calls for coroutines: one queue put and one
    call_soon_threadsafe per call (see the module's docstring)."""

    def __init__(self, threads: int, name: str = 'WSGI') -> None:
        self._threads, self._name = threads, name
        self._calls: queue.SimpleQueue[_Call | None] = queue.SimpleQueue()
        self._started = False
        # The threads end once the pool is garbage (they hold only the queue).
        weakref.finalize(self, _stop, self._calls, threads)

    def run(self, fn: Callable[..., Any], *args: Any) -> 'asyncio.Future[Any]':
        """A future of `fn(*args)` in a pool thread, on the running loop."""
        loop = asyncio.get_running_loop()
        if not self._started:  # started on first use: after gunicorn's fork
            self._started = True
            for number in range(self._threads):
                threading.Thread(target=_serve_calls, args=(self._calls,), daemon=True,
                                 name='%s_%d' % (self._name, number)).start()
        future = loop.create_future()
        self._calls.put((loop, future, fn, args))
        return future


def _stop(calls: 'queue.SimpleQueue[_Call | None]', threads: int) -> None:
    for _ in range(threads):
        calls.put(None)


class ThreadedWSGI:
    """Runs a WSGI app for whole requests in a pool of `threads` threads."""

    def __init__(self, app: WSGIApp, threads: int) -> None:
        self._app = app
        self._pool = Pool(threads)
        # As a2wsgi did: a SCRIPT_NAME in the process environment wins over root_path.
        self._script_name = os.environ.get('SCRIPT_NAME', '').encode(
            sys.getfilesystemencoding(), 'surrogateescape').decode('latin1')

    async def __call__(self, scope: Scope, body: bytes, send: Send) -> None:
        environ = build_environ(scope, body, self._script_name)
        # Each request's context variables start from the loop's, as with a2wsgi.
        context = contextvars.copy_context()
        status, headers, content = await self._pool.run(context.run, run_app, self._app,
                                                        environ)
        await send({'type': 'http.response.start', 'status': status, 'headers': headers})
        await send({'type': 'http.response.body', 'body': content, 'more_body': False})
