"""What the fake OpenStack services share: requests, errors, ids, times."""

from __future__ import annotations

import dataclasses
import datetime
import re
import uuid
from collections.abc import Callable
from typing import Any

PROJECT_ID = 'f5e1f3c1a6b84b1d8f1c9d3e2a7b6c01'
USER_ID = '2b7d6a2e7c1f4c4e9a8d0e5f3b1c2d30'


class ApiError(Exception):
    """An error answer: status and the body the service would send."""

    def __init__(self, status: int, body: dict[str, Any]) -> None:
        super().__init__(status, body)
        self.status = status
        self.body = body


def now() -> str:
    return datetime.datetime.now(datetime.UTC).strftime('%Y-%m-%dT%H:%M:%SZ')


def new_id() -> str:
    return str(uuid.uuid4())


@dataclasses.dataclass
class Request:
    method: str
    path: str  # below the service prefix, e.g. /servers/detail
    query: dict[str, list[str]]
    body: Any
    headers: dict[str, str]

    def arg(self, name: str) -> str | None:
        values = self.query.get(name)
        return values[0] if values else None


def fault(service: str, status: int, message: str) -> ApiError:
    """The error body each service sends (Nova's named faults, Neutron's NeutronError)."""
    if service == 'network':
        kinds = {404: 'NotFound', 409: 'Conflict', 400: 'BadRequest'}
        body = {
            'NeutronError': {
                'type': kinds.get(status, 'HTTPError'),
                'message': message,
                'detail': '',
            }
        }
        return ApiError(status, body)
    names = {
        400: 'badRequest',
        401: 'unauthorized',
        403: 'forbidden',
        404: 'itemNotFound',
        409: 'conflictingRequest',
        413: 'overLimit',
        503: 'serviceUnavailable',
    }
    return ApiError(
        status, {names.get(status, 'computeFault'): {'code': status, 'message': message}}
    )


Route = tuple[str, re.Pattern[str], Callable[..., tuple[int, Any]]]


class Router:
    """(method, path pattern) -> handler(request, *groups)."""

    def __init__(self, service: str) -> None:
        self.service = service
        self.routes: list[Route] = []

    def add(self, method: str, pattern: str, handler: Callable[..., tuple[int, Any]]) -> None:
        self.routes.append((method, re.compile(pattern), handler))

    def handle(self, request: Request) -> tuple[int, Any]:
        path = request.path.rstrip('/') or '/'
        known = False
        for method, pattern, handler in self.routes:
            match = pattern.fullmatch(path)
            if match:
                known = True
                if method == request.method:
                    return handler(request, *match.groups())
        if known:
            raise fault(self.service, 405, 'method %s not allowed' % request.method)
        raise fault(self.service, 404, 'no resource %s' % request.path)


def matches(item: dict[str, Any], query: dict[str, list[str]], fields: tuple[str, ...]) -> bool:
    """Neutron and Nova style equality filters on the listed fields."""
    return all(str(item.get(name)) in query[name] for name in fields if name in query)
