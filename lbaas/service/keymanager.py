"""The embedded key-manager's rules: who sees what, what is valid, Barbican's views.

A subset of Barbican's API v1 (secrets, payloads, containers, read ACLs), so
that `openstack secret ...` and python-barbicanclient work unchanged against
lbaas. A project sees only its own objects, and an object of another
project is absent (404); callers who may read every project (admins) see
all; a user named in an object's read ACL may read that object whatever
their project. Errors carry Barbican's status codes; the API renders them
as Barbican's `{"code", "title", "description"}`. Payloads are never logged.
"""
import dataclasses
import datetime
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import urlencode

from lbaas.db import secrets as store
from lbaas.service.keymanager_input import (
    BINARY_TYPES,
    TEXT,
    KeyManagerError,
    bad,
    container_refs,
    decode,
    media_type,
    new_secret,
    paging,
    text_field,
)

READ, WRITE = 'read', 'write'
def _absent(kind: str) -> KeyManagerError:
    return KeyManagerError(404, '%s not found.' % kind.capitalize())


@dataclasses.dataclass(frozen=True)
class Caller:
    """Who asks, as the API's policy sees them."""

    project_id: str | None
    user_id: str | None
    may: Callable[[str, str], bool]  # (READ or WRITE, the owning project)
    sees_all: bool  # may read every project's objects
    base_url: str  # scheme://host[:port] the hrefs start with


# --- access ----------------------------------------------------------------------
def _check_read(caller: Caller, kind: str, owner: str, creator: str | None,
                acl: store.Acl) -> None:
    if caller.user_id and caller.user_id in acl.read_users:
        return
    same = caller.project_id == owner
    if not same and not caller.sees_all:
        raise _absent(kind)
    if not caller.may(READ, owner):
        raise KeyManagerError(403, 'Forbidden.')
    if not acl.project_access and caller.user_id != creator and not caller.sees_all:
        raise KeyManagerError(403, 'The %s is private to its creator and its ACL.' % kind)


def _check_write(caller: Caller, kind: str, owner: str) -> None:
    if caller.project_id != owner and not caller.sees_all:
        raise _absent(kind)
    if not caller.may(WRITE, owner):
        raise KeyManagerError(403, 'Forbidden.')


def _own_project(caller: Caller) -> str:
    if caller.project_id is None or not caller.may(WRITE, caller.project_id):
        raise KeyManagerError(403, 'Forbidden.')
    return caller.project_id


def _secret_info(caller: Caller, secret_id: str, write: bool = False,
                 payload: bool = False) -> store.SecretInfo:
    try:
        info = store.secret(None, secret_id) if payload else store.secret_info(None, secret_id)
    except store.NotStored:
        raise _absent('secret')
    if write:
        _check_write(caller, 'secret', info.project_id)
    else:
        _check_read(caller, 'secret', info.project_id, info.creator_id, info.acl)
    return info


def _container(caller: Caller, container_id: str, write: bool = False) -> store.Container:
    try:
        found = store.container(None, container_id)
    except store.NotStored:
        raise _absent('container')
    if write:
        _check_write(caller, 'container', found.project_id)
    else:
        _check_read(caller, 'container', found.project_id, found.creator_id, found.acl)
    return found


# --- input -----------------------------------------------------------------------
# --- views -----------------------------------------------------------------------
def _time(value: datetime.datetime | None) -> str | None:
    return value.isoformat() if value else None


def href(caller: Caller, *parts: str) -> str:
    return '/'.join((caller.base_url.rstrip('/'), 'v1') + parts)


def secret_view(caller: Caller, info: store.SecretInfo) -> dict[str, Any]:
    view: dict[str, Any] = {
        'secret_ref': href(caller, 'secrets', info.id), 'name': info.name,
        'status': 'ACTIVE', 'secret_type': info.secret_type,
        'created': _time(info.created_at), 'updated': _time(info.updated_at or info.created_at),
        'expiration': _time(info.expiration), 'algorithm': info.algorithm,
        'bit_length': info.bit_length, 'mode': info.mode, 'creator_id': info.creator_id,
        'consumers': []}
    if info.has_payload:
        view['content_types'] = {'default': info.content_type}
    return view


def container_view(caller: Caller, found: store.Container) -> dict[str, Any]:
    return {
        'container_ref': href(caller, 'containers', found.id), 'name': found.name,
        'type': found.type, 'status': 'ACTIVE', 'creator_id': found.creator_id,
        'created': _time(found.created_at),
        'updated': _time(found.updated_at or found.created_at), 'consumers': [],
        'secret_refs': [{'name': name, 'secret_ref': href(caller, 'secrets', secret_id)}
                        for name, secret_id in found.secret_ids.items()]}


def _page(caller: Caller, collection: str, items: list[dict[str, Any]], total: int,
          limit: int, offset: int, filters: Mapping[str, str]) -> dict[str, Any]:
    body: dict[str, Any] = {collection: items, 'total': total}

    def link(start: int) -> str:
        query = urlencode({**filters, 'limit': limit, 'offset': start})
        return href(caller, collection) + '?' + query
    if limit and offset + limit < total:
        body['next'] = link(offset + limit)
    if offset > 0 and limit:
        body['previous'] = link(max(0, offset - limit))
    return body


# --- secrets ---------------------------------------------------------------------
def create_secret(caller: Caller, body: Any) -> dict[str, str]:
    project = _own_project(caller)
    info = store.create_secret(project, caller.user_id, new_secret(body))
    return {'secret_ref': href(caller, 'secrets', info.id)}


def list_secrets(caller: Caller, params: Mapping[str, str]) -> dict[str, Any]:
    if caller.project_id is None or not caller.may(READ, caller.project_id):
        raise KeyManagerError(403, 'Forbidden.')
    limit, offset = paging(params)
    filters = {key: params[key] for key in ('name', 'alg', 'mode', 'bits', 'secret_type')
               if params.get(key)}
    try:
        bits = int(filters['bits']) if 'bits' in filters else None
    except ValueError:
        raise bad("'bits' must be an integer.")
    query = store.SecretQuery(name=filters.get('name'), algorithm=filters.get('alg'),
                              mode=filters.get('mode'), bit_length=bits or None,
                              secret_type=filters.get('secret_type'), limit=limit,
                              offset=offset)
    found, total = store.list_secrets(None if caller.sees_all else caller.project_id, query)
    return _page(caller, 'secrets', [secret_view(caller, s) for s in found], total,
                 limit, offset, filters)


def show_secret(caller: Caller, secret_id: str) -> dict[str, Any]:
    return secret_view(caller, _secret_info(caller, secret_id))


def wants_payload(accept: str | None) -> bool:
    """GET /secrets/{id} answers the payload when Accept names its type."""
    return any(media_type(part) in (TEXT, *BINARY_TYPES) for part in (accept or '').split(','))


def read_payload(caller: Caller, secret_id: str, accept: str | None) -> tuple[bytes, str]:
    """(payload, its content type), if `accept` takes that type."""
    found = _secret_info(caller, secret_id, payload=True)
    assert isinstance(found, store.Secret)
    if found.payload is None or found.content_type is None:
        raise KeyManagerError(404, 'The secret has no payload.')
    accepted = [media_type(part) for part in (accept or '').split(',') if media_type(part)]
    major = found.content_type.split('/')[0] + '/*'
    if accepted and not {found.content_type, major, '*/*'} & set(accepted):
        raise KeyManagerError(406, "The secret's payload is %s." % found.content_type)
    return found.payload, found.content_type


def put_payload(caller: Caller, secret_id: str, content_type: str | None,
                encoding: str | None, payload: bytes) -> None:
    """A payload for a secret created without one (Barbican's two-step create)."""
    _secret_info(caller, secret_id, write=True)
    kind = media_type(content_type)
    data = decode(payload, kind, encoding, raw=True)
    try:
        store.set_payload(None, secret_id, kind, data)
    except store.PayloadExists:
        raise KeyManagerError(409, 'The secret already has a payload; it cannot change.')
    except store.NotStored:
        raise _absent('secret')


def delete_secret(caller: Caller, secret_id: str) -> None:
    _secret_info(caller, secret_id, write=True)
    try:
        store.delete_secret(None, secret_id)
    except store.NotStored:
        raise _absent('secret')


# --- containers ------------------------------------------------------------------
def create_container(caller: Caller, body: Any) -> dict[str, str]:
    if not isinstance(body, dict):
        raise bad('The body must be a JSON object.')
    container_type = body.get('type')
    if container_type not in ('generic', 'certificate', 'rsa'):
        raise bad("'type' must be one of generic, certificate, rsa.")
    refs = container_refs(container_type, body.get('secret_refs') or [])
    project = _own_project(caller)
    try:
        made = store.create_container(project, caller.user_id, text_field(body, 'name'),
                                      container_type, refs)
    except store.ForeignSecret as exc:
        raise bad("The secret named '%s' (%s) is not a secret of this project."
                   % (exc.name, exc.secret_id))
    return {'container_ref': href(caller, 'containers', made.id)}


def list_containers(caller: Caller, params: Mapping[str, str]) -> dict[str, Any]:
    if caller.project_id is None or not caller.may(READ, caller.project_id):
        raise KeyManagerError(403, 'Forbidden.')
    limit, offset = paging(params)
    name = params.get('name') or None
    found, total = store.list_containers(None if caller.sees_all else caller.project_id,
                                         name, limit, offset)
    return _page(caller, 'containers', [container_view(caller, c) for c in found], total,
                 limit, offset, {'name': name} if name else {})


def show_container(caller: Caller, container_id: str) -> dict[str, Any]:
    return container_view(caller, _container(caller, container_id))


def delete_container(caller: Caller, container_id: str) -> None:
    _container(caller, container_id, write=True)
    try:
        store.delete_container(None, container_id)
    except store.NotStored:
        raise _absent('container')


# --- ACLs ------------------------------------------------------------------------
def _acl_owner(caller: Caller, kind: store.Kind, obj_id: str, write: bool) -> store.Acl:
    if kind == 'secret':
        return _secret_info(caller, obj_id, write).acl
    return _container(caller, obj_id, write).acl


def show_acl(caller: Caller, kind: store.Kind, obj_id: str) -> dict[str, Any]:
    acl = _acl_owner(caller, kind, obj_id, write=False)
    if not acl.is_set:
        return {'read': {'project-access': True}}
    return {'read': {'project-access': acl.project_access, 'users': list(acl.read_users),
                     'created': _time(acl.updated_at), 'updated': _time(acl.updated_at)}}


def put_acl(caller: Caller, kind: store.Kind, obj_id: str, body: Any) -> dict[str, str]:
    """Replace the read ACL: `{"read": {"users": [...], "project-access": bool}}`."""
    if not isinstance(body, dict) or set(body) - {'read'}:
        raise bad("An ACL body is an object whose only operation is 'read'.")
    read = body.get('read') or {}
    if not isinstance(read, dict):
        raise bad("'read' must be an object.")
    users, access = read.get('users') or [], read.get('project-access', True)
    if not isinstance(users, list) or not all(
            isinstance(u, str) and 0 < len(u) <= 255 for u in users):
        raise bad("'users' must be a list of user ids.")
    if not isinstance(access, bool):
        raise bad("'project-access' must be true or false.")
    _acl_owner(caller, kind, obj_id, write=True)
    try:
        store.set_acl(kind, None, obj_id, users, access)
    except store.NotStored:
        raise _absent(kind)
    return {'acl_ref': href(caller, kind + 's', obj_id, 'acl')}


def delete_acl(caller: Caller, kind: store.Kind, obj_id: str) -> None:
    _acl_owner(caller, kind, obj_id, write=True)
    try:
        store.delete_acl(kind, None, obj_id)
    except store.NotStored:
        raise _absent(kind)
