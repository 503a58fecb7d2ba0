"""The dashboard: a static web UI at `/dashboard`, and its `config.json`.

The files under `dashboard/` (HTML, CSS, ES modules: no build step) are
served as they are. They talk to the public API only, with the user's own
token or, under noauth, the X-Project-Id / X-Roles headers `api/auth.py`
reads, so these paths themselves need no authentication (`is_dashboard_path`
lets them pass the auth middleware untouched). `GET /dashboard/config.json`
tells the page the auth strategy and, under keystone, where Keystone is
(`[keystone_authtoken] www_authenticate_uri`).

Under keystone, `POST /dashboard/auth/tokens` relays the login form's token
request to that Keystone and its answer back, as Horizon logs in on the
server's side: the page then talks to one origin only, so Keystone needs no
CORS settings and the page's CSP allows no other host. lbaas keeps nothing
of the request or the token.

Only the dashboard's own answers carry framing and content-security
headers; nothing here adds CORS, and the API's answers are left alone.
"""

import hashlib
import json
import mimetypes
import pathlib
from typing import Any

import falcon
import requests

from lbaas import config

PREFIX = '/dashboard'
ROOT = pathlib.Path(__file__).resolve().parent / 'dashboard'
TYPES = {
    '.html': 'text/html; charset=utf-8',
    '.css': 'text/css; charset=utf-8',
    '.js': 'text/javascript; charset=utf-8',
    '.json': 'application/json',
    '.svg': 'image/svg+xml',
    '.png': 'image/png',
    '.ico': 'image/x-icon',
}
MAX_LOGIN_BODY = 64 * 1024  # bytes; a token request is well under 1 KiB
KEYSTONE_TIMEOUT = 30.0  # seconds
# ES modules are not fingerprinted (no build step): browsers revalidate them
# with the ETag, which costs a 304 and no body.
CACHE = 'no-cache'


def is_dashboard_path(path: str) -> bool:
    return path == PREFIX or path.startswith(PREFIX + '/')


def _keystone_url() -> str | None:
    try:
        group: Any = config.CONF.keystone_authtoken
        uri = group.www_authenticate_uri or group.auth_uri
    except Exception:  # group or options not registered: no keystone configured
        return None
    return str(uri) if uri else None


def _security_headers(resp: falcon.Response) -> None:
    resp.set_header(
        'Content-Security-Policy',
        "default-src 'self'; script-src 'self'; style-src 'self'; "
        "img-src 'self' data:; connect-src 'self'; object-src 'none'; "
        "base-uri 'none'; form-action 'self'; frame-ancestors 'none'",
    )
    resp.set_header('X-Frame-Options', 'DENY')
    resp.set_header('X-Content-Type-Options', 'nosniff')
    resp.set_header('Referrer-Policy', 'no-referrer')


def _send(req: falcon.Request, resp: falcon.Response, data: bytes, content_type: str) -> None:
    etag = '"%s"' % hashlib.sha256(data).hexdigest()[:32]
    resp.content_type = content_type
    resp.set_header('Cache-Control', CACHE)
    resp.set_header('ETag', etag)
    _security_headers(resp)
    if etag in (req.get_header('If-None-Match') or ''):
        resp.status = falcon.HTTP_304
        return
    resp.status = falcon.HTTP_200
    resp.data = data if req.method != 'HEAD' else b''
    resp.content_length = len(data)


def _file(relative: str) -> pathlib.Path:
    """The asset at `relative`, or 404; never a path outside ROOT."""
    candidate = (ROOT / relative).resolve()
    if not candidate.is_relative_to(ROOT) or not candidate.is_file():
        raise falcon.HTTPNotFound(title='Not Found', description='No such dashboard file.')
    return candidate


def _content_type(path: pathlib.Path) -> str:
    known = TYPES.get(path.suffix)
    if known:
        return known
    guessed, _ = mimetypes.guess_type(path.name)
    return guessed or 'application/octet-stream'


class Page:
    """`GET /dashboard`: the single page."""

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        if not req.env.get('PATH_INFO', '').endswith('/'):
            # The page's links are relative (so a mount prefix works): they
            # need the trailing slash, which the router otherwise ignores.
            resp.status = falcon.HTTP_301
            resp.set_header('Location', 'dashboard/')
            return
        _send(req, resp, _file('index.html').read_bytes(), TYPES['.html'])

    on_head = on_get


class Asset:
    """`GET /dashboard/<path>`: one static file."""

    def on_get(self, req: falcon.Request, resp: falcon.Response, name: str) -> None:
        path = _file(name)
        _send(req, resp, path.read_bytes(), _content_type(path))

    on_head = on_get


class Config:
    """`GET /dashboard/config.json`: how to log in here."""

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        strategy = config.CONF.api_settings.auth_strategy
        body = {
            'auth_strategy': strategy,
            'keystone_url': _keystone_url() if strategy == 'keystone' else None,
            'default_project_id': config.CONF.api_settings.default_project_id,
        }
        _send(req, resp, json.dumps(body).encode(), 'application/json')


class Login:
    """`POST /dashboard/auth/tokens`: the login form's token request, to Keystone."""

    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        keystone = _keystone_url()
        if config.CONF.api_settings.auth_strategy != 'keystone' or not keystone:
            raise falcon.HTTPNotFound(
                title='Not Found', description='This deployment logs in without Keystone.'
            )
        length = req.content_length or 0
        if length > MAX_LOGIN_BODY:
            raise falcon.HTTPContentTooLarge(title='Request Entity Too Large')
        base = keystone.rstrip('/').removesuffix('/v3')
        try:
            answer = requests.post(
                base + '/v3/auth/tokens',
                data=req.bounded_stream.read(length),
                headers={'Content-Type': 'application/json'},
                timeout=KEYSTONE_TIMEOUT,
            )
        except requests.RequestException as exc:
            raise falcon.HTTPBadGateway(
                title='Bad Gateway', description='Keystone did not answer: %s' % exc
            ) from None
        resp.status = falcon.code_to_http_status(answer.status_code)
        resp.content_type = answer.headers.get('Content-Type', 'application/json')
        resp.data = answer.content
        token = answer.headers.get('X-Subject-Token')
        if token:
            resp.set_header('X-Subject-Token', token)
        resp.set_header('Cache-Control', 'no-store')


def routes() -> list[tuple[str, object]]:
    # The app's middleware strips a `.json` suffix before routing.
    return [
        (PREFIX, Page()),
        (PREFIX + '/config', Config()),
        (PREFIX + '/auth/tokens', Login()),
        (PREFIX + '/{name:path}', Asset()),
    ]
