"""`lbaas api`: the WSGI app under gunicorn, behind the front end of frontend.py.

`[api_settings] frontend = uvicorn` (the default) runs uvicorn in each
gunicorn worker: requests are read on an event loop, with header, body and
keep-alive timeouts and a per-client connection limit, and the Falcon WSGI
app runs in a thread pool. `gthread` is the former set-up (gunicorn's
threads; a slow or idle client holds a thread), kept for comparison.
Either way gunicorn loads the app once before it forks (preload_app), and
each worker starts with database connections of its own.
"""
import ctypes
import logging
import multiprocessing
import zlib
from typing import Any

from gunicorn.app.base import BaseApplication
from uvicorn_worker import UvicornWorker

from lbaas import config
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

    def load(self) -> Any:
        from lbaas.api import app
        wsgi_app = app.create_app()
        return self.wrap(wsgi_app) if self.wrap else wsgi_app


def _post_fork(server: Any, worker: Any) -> None:
    db.reset()  # database connections must not cross a fork


class ClientCounts:
    """Open connections per client address, summed over gunicorn's workers.

    Hand-written: neither gunicorn nor uvicorn limits connections per client.
    The counts are in shared memory made before gunicorn forks: one row per
    worker, which only that worker writes (so no lock, and the arbiter
    zeroes the row of a worker that died), and one column per bucket of
    addresses (a CRC32; two addresses in one bucket share a limit, which
    8,192 buckets make rare). Two workers admitting the same address at the
    same instant may let it exceed the limit by one connection each.
    """

    BUCKETS = 8192

    def __init__(self, limit: int, rows: int) -> None:
        self.limit = limit
        self._rows = rows
        self._table = multiprocessing.RawArray(ctypes.c_int32, rows * self.BUCKETS)
        self._free = list(range(rows))  # the arbiter's book of rows
        self.row: int | None = None  # this worker's row, set after the fork

    def _bucket(self, host: str) -> int:
        return zlib.crc32(host.encode()) % self.BUCKETS

    def admit(self, host: str) -> bool:
        """Count a new connection from `host`; False when that is over the limit."""
        bucket = self._bucket(host)
        total = sum(self._table[r * self.BUCKETS + bucket] for r in range(self._rows))
        if total >= self.limit:
            return False
        if self.row is not None:
            self._table[self.row * self.BUCKETS + bucket] += 1
        return True

    def release(self, host: str) -> None:
        if self.row is not None:
            self._table[self.row * self.BUCKETS + self._bucket(host)] -= 1

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

    def post_fork(self, server: Any, worker: Any) -> None:
        _post_fork(server, worker)
        self.row = worker.lbaas_counts_row

    def child_exit(self, server: Any, worker: Any) -> None:
        row = getattr(worker, 'lbaas_counts_row', None)
        if row is not None:
            self._zero(row)
            self._free.append(row)


class _UvicornWorker(UvicornWorker):  # type: ignore[misc]  # untyped base, as above
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # uvicorn writes access lines to gunicorn's access log, without the time.
        stamp = logging.Formatter('[%(asctime)s] [%(process)d] %(message)s',
                                  '%Y-%m-%d %H:%M:%S %z')
        for handler in logging.getLogger('uvicorn.access').handlers:
            handler.setFormatter(stamp)


def _uvicorn(settings: Any, options: dict[str, Any]) -> Any:
    """gunicorn options for the uvicorn front end; returns the app wrapper."""
    limits = frontend.Limits(
        header_timeout=settings.header_timeout, body_timeout=settings.body_timeout,
        keepalive_timeout=settings.keepalive_timeout,
        max_body=settings.max_request_body_size)
    counts = None
    if settings.max_connections_per_client:
        # Rows for the workers, and for their replacements while old ones exit.
        counts = ClientCounts(settings.max_connections_per_client,
                              rows=2 * settings.workers + 2)
        options.update(pre_fork=counts.pre_fork, post_fork=counts.post_fork,
                       child_exit=counts.child_exit)
    options['worker_class'] = type('LbaasUvicornWorker', (_UvicornWorker,), {
        'CONFIG_KWARGS': {'loop': 'asyncio', 'lifespan': 'off', 'server_header': False,
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
        'post_fork': _post_fork, 'accesslog': '-', 'errorlog': '-', 'timeout': 120,
        'loglevel': 'debug' if config.CONF.debug else 'info'}
    wrap = None
    if settings.frontend == 'gthread':
        options.update(worker_class='gthread', threads=settings.threads)
    else:
        wrap = _uvicorn(settings, options)
    _Gunicorn(options, wrap).run()
