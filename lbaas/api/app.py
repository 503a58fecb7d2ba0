"""The WSGI application: middleware, routes under every Octavia prefix, errors."""
import logging
import time
import uuid
from typing import Any

import falcon
from oslo_context import context as oslo_context
from sqlalchemy import exc as sa_exc

from lbaas import config
from lbaas.api import (
    admin,
    auth,
    dashboard,
    errors,
    identity,
    keymanager,
    loadbalancers,
    metrics,
    networks,
    policy,
    resources,
    versions,
)
from lbaas.db import work
from lbaas.schemas.common import ValidationFailure

LOG = logging.getLogger(__name__)

# Octavia mounts every collection at /v2/<c> and /v2/lbaas/<c>; /v2.0 is an
# alias of /v2. Amphorae live under /v2/octavia.
LBAAS_PREFIXES = ('/v2', '/v2.0', '/v2/lbaas', '/v2.0/lbaas')
OCTAVIA_PREFIXES = ('/v2/octavia', '/v2.0/octavia')
OPEN_PATHS = ('/', '', '/healthcheck')
# Prometheus and oslo's healthcheck negotiate their own (non-JSON) formats.
OWN_FORMAT_PATHS = ('/healthcheck', '/metrics')
READS = frozenset({'GET', 'HEAD'})
SLOW_READ_SECONDS = 1.0  # a successful read this slow is logged at INFO all the same


class RequestMiddleware:
    """Size limit, content negotiation, `.json` suffix, request id, context."""

    def process_request(self, req: falcon.Request, resp: falcon.Response) -> None:
        request_id = 'req-' + str(uuid.uuid4())
        # oslo.log's context: this thread's log lines carry the request id.
        log_context = oslo_context.RequestContext(request_id=request_id)
        if LOG.isEnabledFor(logging.DEBUG):  # relative_uri is built on each access
            LOG.debug('%s %s from %s', req.method, req.relative_uri, req.remote_addr)
        req.context['request_id'] = request_id
        req.context['started'] = time.monotonic()
        work.REQUEST_ID.set(request_id)  # recorded on the LBs this request gives work
        resp.set_header('x-openstack-request-id', request_id)
        limit = config.CONF.api_settings.max_request_body_size
        if req.content_length and req.content_length > limit:
            raise errors.BodyTooLarge()
        accept = req.get_header('Accept')
        own_format = dashboard.is_dashboard_path(req.path)  # HTML, CSS, scripts
        if (accept and req.path not in OWN_FORMAT_PATHS and not own_format
                and not keymanager.is_key_manager_path(req.path)  # payloads: any type
                and not req.client_accepts('application/json')):
            raise falcon.HTTPNotAcceptable(
                description='Only application/json is served.')
        if req.path.endswith('.json'):
            req.path = req.path[:-5]
        if req.path not in OPEN_PATHS and not own_format:  # the dashboard's files are public
            try:
                req.context['ctx'] = ctx = auth.context_from_environ(req.env, request_id)
                log_context.user_id, log_context.project_id = ctx.user_id, ctx.project_id
            except auth.NotAuthenticated:
                raise falcon.HTTPUnauthorized(title='Unauthorized',
                                              description='Authentication required')


    def process_response(
        self, req: falcon.Request, resp: falcon.Response, resource: object, done: bool
    ) -> None:
        """One log line per request, as operators grep for it: at INFO for a
        write, a failure or a slow read, for any read under `log_reads`."""
        started: float = req.context.get('started') or time.monotonic()
        elapsed = time.monotonic() - started
        status = resp.status_code
        level = logging.INFO
        if (req.method in READS and status < 400 and elapsed < SLOW_READ_SECONDS
                and not config.CONF.api_settings.log_reads):
            level = logging.DEBUG
        if LOG.isEnabledFor(level):
            LOG.log(level, '%s %s %d %.3fs [%s] project=%s', req.method, req.relative_uri,
                    status, elapsed, req.context.get('request_id', '-'),
                    getattr(req.context.get('ctx'), 'project_id', None) or '-')


def _add_routes(app: falcon.App[falcon.Request, falcon.Response]) -> None:
    lbaas_routes = loadbalancers.routes() + resources.routes() + admin.lbaas_routes()
    for prefix in LBAAS_PREFIXES:
        for path, resource in lbaas_routes:
            app.add_route(prefix + path, resource)
    for prefix in OCTAVIA_PREFIXES:
        for path, resource in admin.octavia_routes():
            app.add_route(prefix + path, resource)
    for path, resource in (versions.routes() + networks.routes() + metrics.routes()
                           + identity.routes() + keymanager.routes() + dashboard.routes()):
        app.add_route(path, resource)


def create_app() -> Any:
    middleware: list[Any] = [RequestMiddleware(), keymanager.Middleware()]
    app = falcon.App(middleware=middleware, cors_enable=False)
    app.req_options.strip_url_path_trailing_slash = True
    app.req_options.auto_parse_qs_csv = False
    app.resp_options.secure_cookies_by_default = False
    app.add_error_handler(Exception, errors.handle_unexpected)
    app.add_error_handler(falcon.HTTPError, errors.handle_http_error)
    app.add_error_handler(errors.ApiError, errors.handle_api_error)
    app.add_error_handler(ValidationFailure, errors.handle_rule_error)
    for failure in (sa_exc.DBAPIError, sa_exc.DisconnectionError, sa_exc.TimeoutError):
        app.add_error_handler(failure, errors.handle_database_error)
    app.add_error_handler(sa_exc.IntegrityError, errors.handle_integrity_error)
    app.add_error_handler(sa_exc.DataError, errors.handle_data_error)
    policy.get_enforcer()  # built once here, before gunicorn forks its workers
    _add_routes(app)
    if config.CONF.api_settings.auth_strategy == 'keystone':
        return auth.wrap_keystone(app)
    return app
