"""A fake OpenStack cloud: the Keystone, Nova, Glance and Neutron requests the
OpenStack drivers make, served over HTTP in this process.

openstacksdk and keystoneauth1 talk to it unchanged: a Keystone v3 password
token request (POST /identity/v3/auth/tokens) answers with a catalog whose
compute, image and network endpoints point back here, and each endpoint
answers version discovery. Shapes follow the published api-refs
(docs.openstack.org/api-ref/{identity,compute,image,network}); no real cloud
was reachable when this was written, so nothing here was recorded off a live
service. Mimicked:

- Identity v3 (3.14): version documents, password authentication with a
  project scope, X-Subject-Token, a catalog (tokens are not validated).
- Compute v2.1 with microversions 2.1 to 2.79 (openstacksdk negotiates the
  highest, so servers are 2.79-shaped, server groups 2.64-shaped: `policy`
  and `rules`): servers (create, list/detail with the `name` regex filter,
  show, delete), os-interface (attach a port, list, detach), os-server-groups
  (create, list, show, delete; members kept from the `group` scheduler
  hint), flavors (list, show). A server is BUILD for `build_seconds`, then
  ACTIVE; its boot networks get ports made by "Nova", deleted with it.
- Image v2 (2.15): images list with the `tag`, `status`, `owner` filters and
  `sort`, show.
- Networking v2.0: networks and subnets (list with filters, show), ports
  (create with fixed IP allocation, list with filters, show, update,
  delete; allowed_address_pairs; 409 on a taken address or port in use),
  security-groups (default egress rules; 409 deleting one in use) and
  security-group-rules. Addresses are allocated from the top of each
  subnet (real Neutron picks any free one); the tests' VIPs sit low.

State is in memory (`FakeCloud.nova`, `.neutron`, `.glance`); every request
is logged in `requests`; `faults.add(...)` makes the next matching requests
fail with a status and the service's fault body.
"""

from __future__ import annotations

import datetime
import json
import re
import threading
import uuid
from collections.abc import Callable, Iterator
from socketserver import ThreadingMixIn
from typing import Any
from urllib.parse import parse_qs
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from tests.fakes import openstack_neutron, openstack_nova
from tests.fakes.openstack_common import PROJECT_ID, USER_ID, ApiError, Request, fault, now

REGION = 'RegionOne'
COMPUTE_MAX, COMPUTE_MIN = '2.79', '2.1'


class Fault:
    def __init__(self, method: str, path: str, status: int, times: int) -> None:
        self.method, self.path, self.status, self.times = method, re.compile(path), status, times


class Faults:
    """Planned failures: the next `times` requests matching answer `status`."""

    def __init__(self) -> None:
        self.planned: list[Fault] = []

    def add(self, method: str, path: str, status: int, times: int = 1) -> None:
        self.planned.append(Fault(method.upper(), path, status, times))

    def take(self, method: str, path: str) -> int | None:
        for planned in self.planned:
            if planned.method == method and planned.path.search(path) and planned.times > 0:
                planned.times -= 1
                return planned.status
        return None


Handler = Callable[[Request], tuple[int, Any]]


class FakeCloud:
    """The WSGI app; `start()` serves it on 127.0.0.1 in a thread."""

    def __init__(self, build_seconds: float = 0.05) -> None:
        self.url = ''
        self.lock = threading.RLock()
        self.faults = Faults()
        self.requests: list[tuple[str, str]] = []
        self.neutron = openstack_neutron.Neutron()
        self.nova = openstack_nova.Nova(self.neutron, build_seconds)
        self.glance = self.nova.glance
        self._server: WSGIServer | None = None

    # -- serving -------------------------------------------------------------------

    def start(self) -> FakeCloud:
        class Server(ThreadingMixIn, WSGIServer):
            daemon_threads = True

        class Quiet(WSGIRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = make_server('127.0.0.1', 0, self, server_class=Server, handler_class=Quiet)
        self.url = 'http://127.0.0.1:%d' % self._server.server_port
        threading.Thread(target=self._server.serve_forever, args=(0.05,), daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()

    @property
    def auth_url(self) -> str:
        return self.url + '/identity/v3'

    def __call__(
        self, environ: dict[str, Any], start_response: Callable[..., Any]
    ) -> Iterator[bytes]:
        method, path = environ['REQUEST_METHOD'], environ.get('PATH_INFO', '')
        size = int(environ.get('CONTENT_LENGTH') or 0)
        raw = environ['wsgi.input'].read(size) if size else b''
        headers = {
            k[5:].replace('_', '-').lower(): v for k, v in environ.items() if k.startswith('HTTP_')
        }
        extra: list[tuple[str, str]] = []
        with self.lock:
            self.requests.append((method, path))
            try:
                status, body = self._dispatch(method, path, environ, raw, headers, extra)
            except ApiError as error:
                status, body = error.status, error.body
        payload = b'' if body is None else json.dumps(body).encode()
        reason = {200: 'OK', 201: 'Created', 202: 'Accepted', 204: 'No Content'}.get(
            status, 'Error'
        )
        out = [('Content-Type', 'application/json'), ('Content-Length', str(len(payload)))]
        if path.startswith('/compute'):
            out.append(('OpenStack-API-Version', 'compute %s' % COMPUTE_MAX))
        start_response('%d %s' % (status, reason), out + extra)
        return iter([payload])

    def _dispatch(
        self,
        method: str,
        path: str,
        environ: dict[str, Any],
        raw: bytes,
        headers: dict[str, str],
        extra: list[tuple[str, str]],
    ) -> tuple[int, Any]:
        service, _, rest = path.lstrip('/').partition('/')
        planned = self.faults.take(method, path)
        if planned is not None:
            raise fault(service, planned, 'injected fault')
        request = Request(
            method, '/' + rest, parse_qs(environ.get('QUERY_STRING', '')), None, headers
        )
        if raw:
            request.body = json.loads(raw)
        if service == 'identity':
            return self._identity(request, extra)
        if service == 'compute':
            if request.path in ('/', ''):
                return 200, {'versions': [self._compute_version()]}
            version, _, below = request.path.lstrip('/').partition('/')
            if version != 'v2.1':
                raise fault(service, 404, 'no such version')
            if not below:
                return 200, {'version': self._compute_version()}
            request.path = '/' + below
            return self.nova.handle(request)
        if service == 'image':
            if request.path in ('/', ''):
                return 200, {'versions': [self._version('v2.15', '/image/v2/')]}
            return self.glance.handle(request)
        if service == 'network':
            if request.path in ('/', ''):
                return 200, {'versions': [self._version('v2.0', '/network/v2.0/')]}
            return self.neutron.handle(request)
        raise fault(service, 404, 'no such service')

    # -- identity ------------------------------------------------------------------

    def _version(self, version_id: str, path: str) -> dict[str, Any]:
        return {
            'id': version_id,
            'status': 'CURRENT',
            'links': [{'rel': 'self', 'href': self.url + path}],
        }

    def _compute_version(self) -> dict[str, Any]:
        version = self._version('v2.1', '/compute/v2.1/')
        version.update(version=COMPUTE_MAX, min_version=COMPUTE_MIN, updated='2013-07-23T11:33:21Z')
        return version

    def _identity(self, request: Request, extra: list[tuple[str, str]]) -> tuple[int, Any]:
        v3 = self._version('v3.14', '/identity/v3/')
        v3.update(
            status='stable',
            updated='2020-04-07T00:00:00Z',
            **{
                'media-types': [
                    {
                        'base': 'application/json',
                        'type': 'application/vnd.openstack.identity-v3+json',
                    }
                ]
            },
        )
        if request.method == 'GET' and request.path in ('/', ''):
            return 300, {'versions': {'values': [v3]}}
        if request.method == 'GET' and request.path.rstrip('/') == '/v3':
            return 200, {'version': v3}
        if request.method == 'POST' and request.path == '/v3/auth/tokens':
            extra.append(('X-Subject-Token', uuid.uuid4().hex))
            return 201, {'token': self._token(request.body)}
        raise fault('identity', 404, 'not found')

    def _token(self, body: dict[str, Any]) -> dict[str, Any]:
        identity = body['auth']['identity']
        if 'password' not in identity.get('methods', []):
            raise fault('identity', 401, 'password authentication only')
        user = identity['password']['user']
        expires = datetime.datetime.now(datetime.UTC) + datetime.timedelta(hours=1)
        domain = {'id': 'default', 'name': 'Default'}
        services = [
            ('compute', 'nova', '/compute/v2.1'),
            ('image', 'glance', '/image'),
            ('network', 'neutron', '/network'),
        ]
        return {
            'methods': ['password'],
            'issued_at': now(),
            'expires_at': expires.strftime('%Y-%m-%dT%H:%M:%S.000000Z'),
            'user': {
                'id': USER_ID,
                'name': user.get('name', 'lbaas'),
                'domain': domain,
                'password_expires_at': None,
            },
            'project': {'id': PROJECT_ID, 'name': 'service', 'domain': domain},
            'roles': [
                {'id': uuid.uuid4().hex, 'name': 'admin'},
                {'id': uuid.uuid4().hex, 'name': 'service'},
            ],
            'is_domain': False,
            'catalog': [
                {
                    'id': uuid.uuid4().hex,
                    'type': kind,
                    'name': name,
                    'endpoints': [
                        {
                            'id': uuid.uuid4().hex,
                            'interface': interface,
                            'region': REGION,
                            'region_id': REGION,
                            'url': self.url + path,
                        }
                        for interface in ('public', 'internal', 'admin')
                    ],
                }
                for kind, name, path in services
            ],
        }
