"""How each error becomes an HTTP answer with Octavia's fault body.

Octavia answers errors as WSME faults: {"faultcode", "faultstring",
"debuginfo"}. The domain's errors live in `lbaas/errors.py`; they are
re-exported here for the API modules.
"""
import json
import logging
import threading
import time
from collections.abc import Mapping
from typing import Any, cast

import falcon
from sqlalchemy import exc as sa_exc

from lbaas.db import outage

# The domain's errors, re-exported: API modules raise them through this module.
from lbaas.errors import (
    ApiError as ApiError,
)
from lbaas.errors import (
    BodyTooLarge as BodyTooLarge,
)
from lbaas.errors import (
    Conflict as Conflict,
)
from lbaas.errors import (
    Forbidden as Forbidden,
)
from lbaas.errors import (
    Immutable as Immutable,
)
from lbaas.errors import (
    InvalidInput as InvalidInput,
)
from lbaas.errors import (
    NotFound as NotFound,
)
from lbaas.errors import (
    NotImplementedByProvider as NotImplementedByProvider,
)
from lbaas.errors import (
    PendingState as PendingState,
)
from lbaas.errors import (
    QuotaExceeded as QuotaExceeded,
)
from lbaas.errors import (
    ValidationFailure as ValidationFailure,
)
from lbaas.schemas import common as schemas_common

LOG = logging.getLogger(__name__)
RETRY_AFTER = 5  # seconds a client is asked to wait while the database is away
UNAVAILABLE = ('The service is unavailable: its database cannot be reached. '
               'Please try again shortly.')


def fault_body(message: str, faultcode: str = 'Client') -> str:
    return json.dumps({'faultcode': faultcode, 'faultstring': message,
                       'debuginfo': None})


def _respond(resp: falcon.Response, status: int, body: str) -> None:
    resp.status = status
    resp.content_type = 'application/json'
    resp.text = body


def handle_api_error(req: falcon.Request, resp: falcon.Response, exc: ApiError,
                     params: dict[str, Any]) -> None:
    _respond(resp, exc.status, fault_body(exc.message, exc.faultcode))


def handle_rule_error(req: falcon.Request, resp: falcon.Response,
                      exc: schemas_common.ValidationFailure, params: dict[str, Any]) -> None:
    """A schemas.common.ValidationFailure raised by a rule: 400 with its text."""
    _respond(resp, 400, fault_body(exc.message))


def handle_http_error(req: falcon.Request, resp: falcon.Response, exc: falcon.HTTPError,
                      params: dict[str, Any]) -> None:
    """Falcon's own errors (unknown route, bad method) in Octavia's shape."""
    status = int(exc.status_code)
    if status == 406:
        # Octavia's 406 comes from webob, in the API-WG error format.
        body = json.dumps({'errors': [{
            'status': 406, 'title': 'Not Acceptable',
            'detail': exc.description or 'Only application/json is served.',
            'request_id': req.context.get('request_id')}]})
    else:
        message = exc.description or exc.title or 'Error'
        if status == 404 and not exc.description:
            message = 'The resource could not be found.'
        if status == 405:
            message = 'The method %s is not allowed on %s.' % (req.method, req.path)
        body = fault_body(message, 'Client' if status < 500 else 'Server')
    _respond(resp, status, body)
    for name, value in cast(Mapping[str, str], exc.headers or {}).items():
        resp.set_header(name, value)


def handle_integrity_error(req: falcon.Request, resp: falcon.Response,
                           exc: sa_exc.IntegrityError, params: dict[str, Any]) -> None:
    """Two writers raced for one unique value (a VIP address, a name)."""
    LOG.info('integrity conflict on %s %s: %s', req.method, req.path, exc.orig)
    _respond(resp, 409, fault_body('The request conflicts with the current state of '
                                   'another resource; retry it.'))


def handle_data_error(req: falcon.Request, resp: falcon.Response, exc: sa_exc.DataError,
                      params: dict[str, Any]) -> None:
    """A value the database cannot hold or compare (a NUL byte, a bad date)."""
    _respond(resp, 400, fault_body('Invalid input: a value is not valid for its field.'))


class _Throttle:
    """At most one warning per `period` seconds, with the count of the rest."""

    def __init__(self, period: float = 10.0) -> None:
        self.period = period
        self.lock = threading.Lock()
        self.last = float('-inf')
        self.quiet = 0

    def warn(self, message: str, *args: object) -> None:
        with self.lock:
            now = time.monotonic()
            if now - self.last < self.period:
                self.quiet += 1
                return
            quiet, self.quiet, self.last = self.quiet, 0, now
        LOG.warning(message + ' (%d more since the last warning)', *args, quiet)


_unavailable = _Throttle()


def handle_database_error(req: falcon.Request, resp: falcon.Response, exc: Exception,
                          params: dict[str, Any]) -> None:
    """Any database failure but a conflict or a bad value: 503, never 500.

    Unreachable, restarting, out of connections, a deadlock victim: the
    client is told to try again after Retry-After seconds.
    """
    if outage.database_unavailable(exc):
        reason = str(getattr(exc, 'orig', None) or exc).strip().partition('\n')[0]
        _unavailable.warn('database unavailable serving %s %s: %s', req.method, req.path,
                          reason)
    else:
        LOG.exception('Database error serving %s %s', req.method, req.path)
    _respond(resp, 503, fault_body(UNAVAILABLE, 'Server'))
    resp.set_header('Retry-After', str(RETRY_AFTER))


def handle_unexpected(req: falcon.Request, resp: falcon.Response, exc: Exception,
                      params: dict[str, Any]) -> None:
    LOG.exception('Unexpected error serving %s %s', req.method, req.path)
    _respond(resp, 500, fault_body('Internal Server Error', 'Server'))
