"""`lbaas api`: the WSGI app under gunicorn, behind the front end of frontend.py.

`[api_settings] frontend = uvicorn` (the default) runs uvicorn in each
gunicorn worker: requests are read on an event loop, with header, body and
keep-alive timeouts and a per-client connection limit, and the Falcon WSGI
app runs in a thread pool. `gthread` is the former set-up (gunicorn's
threads; a slow or idle client holds a thread), kept for comparison.
Either way gunicorn loads the app once before it forks (preload_app), and
each worker starts with database connections of its own. gunicorn's and
uvicorn's own lines go to the process's oslo.log handlers (api.log), and
SIGHUP re-reads `debug` and re-opens the logs in the arbiter and in each
worker without replacing the workers (gunicorn's own HUP would). Under
either front end, a request the server cannot parse is answered with
Octavia's fault body (frontend.OctaviaFaults, _FaultSocket here).
"""
import ctypes
import logging
import multiprocessing
import os
import signal
import sys
import zlib
from typing import Any

from gunicorn import glogging
from gunicorn.app.base import BaseApplication
from gunicorn.arbiter import Arbiter
from gunicorn.workers.gthread import ThreadWorker
from uvicorn_worker import UvicornWorker

from lbaas import config, logsetup, wakeup
from lbaas.api import frontend
from lbaas.db import session as db

LOG = logging.getLogger(__name__)

# Newer gunicorn opens a control socket at one fixed path per user, so a
# second service on the host (a test run beside `lbaas serve`) would take
# over the first one's. We do not use it; older versions lack the setting.
OPTIONAL_SETTINGS = {'control_socket_disable': True}


# gunicorn and uvicorn_worker ship no types: their base classes are Any to mypy.
class _Gunicorn(BaseApplication):  # type: ignore[misc]
    def __init__(self, options: dict[str, Any], wrap: Any = None) -> None:
        self.options = options
        self.wrap = wrap
        super().__init__()

    def load_config(self) -> None:
        for key, value in self.options.items():
            self.cfg.set(key, value)
        for key, value in OPTIONAL_SETTINGS.items():
            if key in self.cfg.settings:
                self.cfg.set(key, value)

    def run(self) -> None:
        try:
            _Arbiter(self).run()
        except RuntimeError as exc:  # as BaseApplication.run
            sys.exit('\nError: %s\n' % exc)

    def load(self) -> Any:
        from lbaas.api import app
        wsgi_app = app.create_app()
        # Decide the wake-up transport here, before the fork: its check imports
        # oslo.messaging (about 0.35 s), which each worker then inherits
        # instead of paying for on its first write.
        wakeup.register_options()
        return self.wrap(wsgi_app) if self.wrap else wsgi_app


_PR_SET_PDEATHSIG = 1  # <linux/prctl.h>


def _post_fork(server: Any, worker: Any) -> None:
    # Not left serving when the arbiter is killed: as supervisor.die_with_parent
    # (a layer above this one) does for `serve`'s children.
    ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
    if os.getppid() != worker.ppid:
        os._exit(1)
    db.reset()  # database connections must not cross a fork


class ClientCounts:
    """Open connections per client address, summed over gunicorn's workers.

    Hand-written: neither gunicorn nor uvicorn limits connections per client.
    The counts are in shared memory made before gunicorn forks: one row per
    worker, which only that worker writes (so no lock, and the arbiter
    zeroes the row of a worker that died), and one column per bucket of
    addresses (a CRC32; two addresses in one bucket share a limit, which
    8,192 buckets make rare). Two workers admitting the same address at the
    same instant may let it exceed the limit by one connection each. Beside
    them, each worker's open connections (-1: no worker in that row), which
    the workers' accept loops compare (frontend.FairLoop).
    """

    BUCKETS = 8192

    def __init__(self, limit: int, rows: int) -> None:
        self.limit = limit
        self._rows = rows
        self._table = multiprocessing.RawArray(ctypes.c_int32, rows * self.BUCKETS)
        self._open = multiprocessing.RawArray(ctypes.c_int32, [-1] * rows)
        self._free = list(range(rows))  # the arbiter's book of rows
        self.row: int | None = None  # this worker's row, set after the fork

    def _bucket(self, host: str) -> int:
        return zlib.crc32(host.encode()) % self.BUCKETS

    def admit(self, host: str) -> bool:
        """Count a new connection from `host`; False when that is over the
        limit (a limit of 0: none)."""
        bucket = self._bucket(host)
        if self.limit and self.limit <= sum(
                self._table[r * self.BUCKETS + bucket] for r in range(self._rows)):
            return False
        if self.row is not None:
            self._table[self.row * self.BUCKETS + bucket] += 1
            self._open[self.row] += 1
        return True

    def release(self, host: str) -> None:
        if self.row is not None:
            self._table[self.row * self.BUCKETS + self._bucket(host)] -= 1
            self._open[self.row] -= 1

    def busiest(self) -> bool:
        """Whether this worker holds more connections than another one."""
        if self.row is None:
            return False
        mine = self._open[self.row]
        return any(0 <= count < mine for count in self._open)

    def _zero(self, row: int) -> None:
        size = ctypes.sizeof(ctypes.c_int32) * self.BUCKETS
        ctypes.memset(ctypes.addressof(self._table) + row * size, 0, size)

    # gunicorn server hooks; pre_fork and child_exit run in the arbiter.
    def pre_fork(self, server: Any, worker: Any) -> None:
        worker.lbaas_counts_row = self._free.pop(0) if self._free else None
        if worker.lbaas_counts_row is None:
            LOG.warning('no connection count row left: a worker does not count')
        else:
            self._zero(worker.lbaas_counts_row)
            self._open[worker.lbaas_counts_row] = 0

    def post_fork(self, server: Any, worker: Any) -> None:
        _post_fork(server, worker)
        self.row = worker.lbaas_counts_row
        frontend.FairLoop.busiest = self.busiest  # this process's loop asks it

    def child_exit(self, server: Any, worker: Any) -> None:
        row = getattr(worker, 'lbaas_counts_row', None)
        if row is not None:
            self._zero(row)
            self._open[row] = -1
            self._free.append(row)


class _Logger(glogging.Logger):  # type: ignore[misc]  # untyped base, as above
    """gunicorn's own lines through the process's (oslo.log) handlers, into api.log.

    No access log: the app writes one line per request, with its request id
    and project (app.RequestMiddleware).
    """

    def setup(self, cfg: Any) -> None:
        super().setup(cfg)
        for log in (self.error_log, self.access_log):
            for handler in list(log.handlers):
                log.removeHandler(handler)
        self.error_log.propagate = True
        self.error_log.setLevel(logging.NOTSET)  # the root's: `debug`, even after SIGHUP


class _Arbiter(Arbiter):  # type: ignore[misc]  # untyped base, as above
    def handle_hup(self) -> None:
        """SIGHUP: re-read `debug` and re-open the logs here and in every worker.

        Not gunicorn's own HUP, which starts new workers and stops the old
        ones: nothing is stopped, and no connection is dropped.
        """
        logsetup.reload()
        for pid in list(self.WORKERS):
            try:
                os.kill(pid, signal.SIGHUP)
            except ProcessLookupError:
                pass  # it just died; the arbiter replaces it


def _reload_on_hup() -> None:
    """A worker's SIGHUP handler (gunicorn's workers would die of it)."""
    logsetup.reload_on_hup()
    signal.siginterrupt(signal.SIGHUP, False)  # as gunicorn does for SIGUSR1


class _FaultSocket:
    """A client socket whose one write, gunicorn's HTML error page, goes out as
    Octavia's fault body with the same status.

    gunicorn's worker maps each parse error to its status in handle_error
    and writes the page with util.write_error, which no setting replaces;
    wrapping the socket keeps that mapping gunicorn's own.
    """

    def __init__(self, sock: Any, exc: BaseException) -> None:
        self._sock, self._exc = sock, exc

    def sendall(self, data: bytes) -> None:
        # The page's first line: b'HTTP/1.1 400 Bad Request'.
        status, reason = data.split(b'\r\n', 1)[0].decode('latin-1').split(' ', 2)[1:]
        message = reason if int(status) >= 500 else \
            'Invalid HTTP request: %s' % str(self._exc)[:frontend.MAX_DETAIL]
        self._sock.sendall(frontend.fault(int(status), reason, message))

    def __getattr__(self, name: str) -> Any:
        return getattr(self._sock, name)


class _ThreadWorker(ThreadWorker):  # type: ignore[misc]  # untyped base, as above
    def init_signals(self) -> None:
        super().init_signals()
        _reload_on_hup()

    def handle_error(self, req: Any, client: Any, addr: Any, exc: BaseException) -> None:
        super().handle_error(req, _FaultSocket(client, exc), addr, exc)


class _UvicornWorker(UvicornWorker):  # type: ignore[misc]  # untyped base, as above
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # uvicorn's messages (a malformed request, ...) go where the app's do;
        # its access lines nowhere, as gunicorn's (see _Logger).
        error = logging.getLogger('uvicorn.error')
        error.handlers, error.propagate = [], True
        error.setLevel(logging.NOTSET)
        logging.getLogger('uvicorn.access').handlers = []

    def init_signals(self) -> None:
        super().init_signals()
        _reload_on_hup()


def _uvicorn(settings: Any, options: dict[str, Any]) -> Any:
    """gunicorn options for the uvicorn front end; returns the app wrapper."""
    limits = frontend.Limits(
        header_timeout=settings.header_timeout, body_timeout=settings.body_timeout,
        keepalive_timeout=settings.keepalive_timeout,
        max_body=settings.max_request_body_size)
    # Rows for the workers, and for their replacements while old ones exit.
    counts = ClientCounts(settings.max_connections_per_client, rows=2 * settings.workers + 2)
    options.update(pre_fork=counts.pre_fork, post_fork=counts.post_fork,
                   child_exit=counts.child_exit)
    options['worker_class'] = type('LbaasUvicornWorker', (_UvicornWorker,), {
        # ws: no WebSocket upgrade, whatever is installed: an Upgrade header is ignored.
        'CONFIG_KWARGS': {'loop': 'lbaas.api.frontend:FairLoop', 'lifespan': 'off', 'server_header': False,
                          'ws': 'none',
                          'http': frontend.protocol_factory(limits, counts),
                          'timeout_keep_alive': settings.keepalive_timeout}})
    return lambda wsgi_app: frontend.WholeRequests(wsgi_app, limits, settings.threads)


def _bind(settings: Any) -> str:
    host = settings.bind_host
    return '[%s]:%d' % (host, settings.bind_port) if ':' in host else \
        '%s:%d' % (host, settings.bind_port)


def serve() -> None:
    settings = config.CONF.api_settings
    options: dict[str, Any] = {
        'bind': _bind(settings), 'workers': settings.workers, 'preload_app': True,
        'post_fork': _post_fork, 'errorlog': '-', 'timeout': 120, 'logger_class': _Logger}
    wrap = None
    if settings.frontend == 'gthread':
        options.update(worker_class=_ThreadWorker, threads=settings.threads)
    else:
        wrap = _uvicorn(settings, options)
    _Gunicorn(options, wrap).run()
