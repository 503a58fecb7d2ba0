"""The embedded key-manager over HTTP: a subset of Barbican's API v1.

Served at `/v1/...` and, because python-barbicanclient drops the `/v1` when
its endpoint comes from a noauth plugin (`openstack --os-auth-type none
--os-endpoint URL secret ...`), also at `/secrets...` and `/containers...`.
Version discovery: `GET /` with `OpenStack-API-Version: key-manager ...`
answers Barbican's version list (every other `GET /` keeps Octavia's), and
`GET /v1` its single version.

Policy: lbaas's rules are Octavia's (`lbaas/api/policy.py`); creating and
deleting need what writing a load balancer needs (`loadbalancer:post`),
reading what reading one needs (`loadbalancer:get_one`), and seeing every
project's objects `loadbalancer:get_all-global`. Every error on these paths,
ours or the framework's, is answered in Barbican's `{"code", "title",
"description"}` (see `Middleware`).
"""
import http
import json
from typing import Any

import falcon

from lbaas import config
from lbaas.api import base
from lbaas.db import secrets as store
from lbaas.service import keymanager as km
from lbaas.service.keymanager_input import KeyManagerError

VERSION_HEADER = 'OpenStack-API-Version'
MIN_VERSION, MAX_VERSION = '1.0', '1.0'  # no consumers (microversion 1.1) served
_ROOTS = ('/secrets', '/containers')
_RULES = {km.READ: 'loadbalancer:get_one', km.WRITE: 'loadbalancer:post'}


def is_key_manager_path(path: str) -> bool:
    if path == '/v1' or path.startswith('/v1/'):
        return True
    return any(path == root or path.startswith(root + '/') for root in _ROOTS)


def _base_url(req: falcon.Request) -> str:
    return str(config.CONF.api_settings.api_base_uri or req.prefix).rstrip('/')


def caller(req: falcon.Request) -> km.Caller:
    ctx = base.context(req)

    def may(action: str, project_id: str) -> bool:
        return base.may(req, _RULES[action], project_id)
    return km.Caller(ctx.project_id, ctx.user_id, may,
                     base.may(req, 'loadbalancer:get_all-global'), _base_url(req))


def _json(resp: falcon.Response, status: int, body: Any) -> None:
    resp.status = status
    resp.content_type = 'application/json'
    resp.text = json.dumps(body)


def _params(req: falcon.Request) -> dict[str, str]:
    return {key: value if isinstance(value, str) else value[-1]
            for key, value in req.params.items()}


def _raw_body(req: falcon.Request) -> bytes:
    limit = config.CONF.api_settings.max_request_body_size
    raw: bytes = req.bounded_stream.read(limit + 1)
    if len(raw) > limit:
        raise KeyManagerError(413, 'Request is too large.')
    return raw


def _version(base_url: str) -> dict[str, Any]:
    return {'id': 'v1', 'status': 'CURRENT', 'min_version': MIN_VERSION,
            'max_version': MAX_VERSION, 'updated': '2025-09-01T00:00:00Z',
            'links': [{'rel': 'self', 'href': base_url + '/v1/'}],
            'media-types': [{'base': 'application/json',
                             'type': 'application/vnd.openstack.key-manager-v1+json'}]}


class Middleware:
    """Barbican's discovery at `/`, and Barbican's error bodies on its paths."""

    def process_request(self, req: falcon.Request, resp: falcon.Response) -> None:
        asked = req.get_header(VERSION_HEADER) or ''
        if req.path in ('', '/') and req.method == 'GET' and 'key-manager' in asked.lower():
            _json(resp, 300, {'versions': {'values': [_version(_base_url(req))]}})
            resp.complete = True

    def process_response(self, req: falcon.Request, resp: falcon.Response,
                         resource: object, req_succeeded: bool) -> None:
        status = resp.status_code
        if status < 400 or not is_key_manager_path(req.path):
            return
        try:
            octavia = json.loads(resp.text or '{}')
        except ValueError:
            octavia = {}
        description = octavia.get('faultstring') if isinstance(octavia, dict) else None
        _json(resp, status, {'code': status, 'title': http.HTTPStatus(status).phrase,
                             'description': description or ''})


class Version:
    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        _json(resp, 200, {'version': _version(_base_url(req))})


class Secrets:
    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        _json(resp, 200, km.list_secrets(caller(req), _params(req)))

    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        body = km.create_secret(caller(req), base.read_body(req))
        resp.location = body['secret_ref']
        _json(resp, 201, body)


class Payload:
    def on_get(self, req: falcon.Request, resp: falcon.Response, secret_id: str) -> None:
        data, content_type = km.read_payload(caller(req), secret_id, req.get_header('Accept'))
        resp.status = 200
        resp.content_type = content_type
        resp.data = data

    def on_put(self, req: falcon.Request, resp: falcon.Response, secret_id: str) -> None:
        km.put_payload(caller(req), secret_id, req.content_type,
                       req.get_header('Content-Encoding'), _raw_body(req))
        resp.status = 204


class Secret(Payload):
    def on_get(self, req: falcon.Request, resp: falcon.Response, secret_id: str) -> None:
        if km.wants_payload(req.get_header('Accept')):
            super().on_get(req, resp, secret_id)
            return
        _json(resp, 200, km.show_secret(caller(req), secret_id))

    def on_delete(self, req: falcon.Request, resp: falcon.Response, secret_id: str) -> None:
        km.delete_secret(caller(req), secret_id)
        resp.status = 204


class Containers:
    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        _json(resp, 200, km.list_containers(caller(req), _params(req)))

    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        body = km.create_container(caller(req), base.read_body(req))
        resp.location = body['container_ref']
        _json(resp, 201, body)


class Container:
    def on_get(self, req: falcon.Request, resp: falcon.Response, container_id: str) -> None:
        _json(resp, 200, km.show_container(caller(req), container_id))

    def on_delete(self, req: falcon.Request, resp: falcon.Response,
                  container_id: str) -> None:
        km.delete_container(caller(req), container_id)
        resp.status = 204


class Acl:
    """`/secrets/{id}/acl` and `/containers/{id}/acl`: the read ACL."""

    def __init__(self, kind: store.Kind) -> None:
        self.kind: store.Kind = kind

    @staticmethod
    def _id(ids: dict[str, str]) -> str:
        return next(iter(ids.values()))  # secret_id or container_id

    def on_get(self, req: falcon.Request, resp: falcon.Response, **ids: str) -> None:
        _json(resp, 200, km.show_acl(caller(req), self.kind, self._id(ids)))

    def on_put(self, req: falcon.Request, resp: falcon.Response, **ids: str) -> None:
        _json(resp, 200, km.put_acl(caller(req), self.kind, self._id(ids),
                                    base.read_body(req)))

    def on_delete(self, req: falcon.Request, resp: falcon.Response, **ids: str) -> None:
        km.delete_acl(caller(req), self.kind, self._id(ids))
        resp.status = 204


def routes() -> list[tuple[str, object]]:
    """Every route under `/v1` and again at the root (the noauth client's form)."""
    resources: list[tuple[str, object]] = [
        ('/secrets', Secrets()), ('/secrets/{secret_id}', Secret()),
        ('/secrets/{secret_id}/payload', Payload()),
        ('/secrets/{secret_id}/acl', Acl('secret')),
        ('/containers', Containers()), ('/containers/{container_id}', Container()),
        ('/containers/{container_id}/acl', Acl('container')),
    ]
    return [('/v1', Version())] + [(prefix + path, resource) for prefix in ('/v1', '')
                                   for path, resource in resources]
