"""/healthcheck: oslo.middleware's Healthcheck plus a database check.

oslo.middleware answers the request (200 "OK", 503 with the reasons, 204 or
503 to HEAD, text, HTML or JSON by Accept) from its configured `[healthcheck]
backends` and from `DatabaseHealthcheck`, which runs `SELECT 1` through
lbaas's own engine: an API that cannot reach its database cannot serve, so
the load balancers in front of it should stop sending it requests.

The path stays unauthenticated (those load balancers hold no token). The
detailed form (threads, platform, gc) is served only to admins, and only
when `[healthcheck] detailed` is set or the request asks with `?detailed`:
under keystone the path carries no validated identity, so only noauth
callers (admins unless they send X-Roles) ever see it.
"""
import logging
from typing import Any, cast

import falcon
import stevedore
import webob  # type: ignore[import-untyped]
from oslo_middleware import healthcheck
from oslo_middleware.healthcheck import pluginbase
from sqlalchemy import Engine, text

from lbaas import config
from lbaas.api import auth
from lbaas.db import session as db

LOG = logging.getLogger(__name__)
PLUGIN_NAME = 'lbaas_database'
TRUE_WORDS = ('', '1', 'true', 'yes', 'on')


def database_engine() -> Engine:
    """The engine the check uses (the API's read engine); tests replace it."""
    return db.engine('read')


class DatabaseHealthcheck(pluginbase.HealthcheckBaseExtension):
    """A healthcheck backend: available while `SELECT 1` succeeds."""

    def healthcheck(self, server_port: int) -> pluginbase.HealthcheckResult:
        try:
            with database_engine().connect() as conn:
                conn.execute(text('SELECT 1'))
        except Exception as exc:  # any failure means "do not route to me"
            LOG.warning('Healthcheck: database unreachable: %s', exc)
            return pluginbase.HealthcheckResult(
                available=False, reason='database unreachable',
                details='%s: %s' % (type(exc).__name__, exc))
        return pluginbase.HealthcheckResult(available=True, reason='OK',
                                            details='database answered SELECT 1')


def _middleware(detailed: bool) -> Any:
    """oslo's Healthcheck with our database backend appended to its own."""
    check = healthcheck.Healthcheck(None, config.CONF)
    # `detailed` is read once at construction; two instances let each
    # request pick its form without touching shared state.
    check._show_details = detailed
    # Entry points are oslo's way to add backends; appending the extension
    # directly keeps it on without packaging metadata or configuration.
    plugin = DatabaseHealthcheck(config.CONF, {})
    # No entry point behind it: stevedore only keeps it for reference.
    entry_point = cast(Any, None)
    check._backends.extensions.append(
        stevedore.extension.Extension(PLUGIN_NAME, entry_point, DatabaseHealthcheck, plugin))
    return check


def _wants_details(req: falcon.Request) -> bool:
    asked = req.get_param('detailed')
    if config.CONF.healthcheck.detailed:
        wanted = asked is None or asked.lower() in TRUE_WORDS
    else:
        wanted = asked is not None and asked.lower() in TRUE_WORDS
    if not wanted:
        return False
    try:
        return auth.context_from_environ(req.env).is_admin
    except auth.NotAuthenticated:
        return False


class Health:
    def __init__(self) -> None:
        self._plain = _middleware(detailed=False)
        self._detailed = _middleware(detailed=True)

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        check = self._detailed if _wants_details(req) else self._plain
        answer = check.process_request(webob.Request(req.env))
        if answer is None:
            # oslo passes requests outside `allowed_source_ranges` (or proxied
            # ones, with `ignore_proxied_requests`) to the app behind it.
            raise falcon.HTTPNotFound()
        resp.status = answer.status_int
        resp.content_type = answer.content_type
        resp.data = answer.body
        resp.set_header('Cache-Control', 'no-store')

    on_head = on_get


def routes() -> list[tuple[str, object]]:
    return [('/healthcheck', Health())]
