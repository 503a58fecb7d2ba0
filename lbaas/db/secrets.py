"""The embedded key-manager store: secrets and containers, payloads encrypted at rest.

Every payload is a Fernet token in the database; the key is `secrets.key` in
the state directory (0600, made on first use), so a copy of the database
alone reveals no payload. Every function opens its own short transaction and
returns frozen values. `project_id` scopes each call: an object of another
project is as absent as one that does not exist (`NotStored`); None reaches
every project (the service itself, and the API once it has decided access).

Payloads are never logged, nor put in an exception's text.
"""
import dataclasses
import datetime
import os
import tempfile
import threading
import types
from collections.abc import Mapping, Sequence
from typing import Any, Literal

from cryptography.fernet import Fernet, InvalidToken
from sqlalchemy import Select, delete, func, select
from sqlalchemy.orm import Session, undefer

from lbaas import config
from lbaas.db import models
from lbaas.db import session as db

KEY_FILE = 'secrets.key'
Kind = Literal['secret', 'container']


class KeyUnavailable(RuntimeError):
    """The store's key cannot be read or made, or does not open a payload."""


class NotStored(LookupError):
    """No such object in the project asked about."""


class PayloadExists(Exception):
    """A payload was given to a secret that already has one."""


class ForeignSecret(ValueError):
    """A container names a secret that is absent or of another project."""

    def __init__(self, name: str, secret_id: str) -> None:
        super().__init__('secret %s (%s) is not a secret of this project' % (secret_id, name))
        self.name = name
        self.secret_id = secret_id


@dataclasses.dataclass(frozen=True)
class Acl:
    """The read ACL of a secret or container (Barbican's only operation)."""

    read_users: tuple[str, ...] = ()
    project_access: bool = True
    is_set: bool = False  # False: no ACL was ever set, the defaults apply
    updated_at: datetime.datetime | None = None


@dataclasses.dataclass(frozen=True)
class NewSecret:
    """What a new secret holds; `payload` already decoded (bytes)."""

    secret_type: str = 'opaque'
    name: str | None = None
    content_type: str | None = None
    payload: bytes | None = dataclasses.field(default=None, repr=False)
    algorithm: str | None = None
    bit_length: int | None = None
    mode: str | None = None
    expiration: datetime.datetime | None = None


@dataclasses.dataclass(frozen=True)
class SecretQuery:
    """A page of a project's secrets, with Barbican's filters."""

    name: str | None = None
    algorithm: str | None = None
    mode: str | None = None
    bit_length: int | None = None
    secret_type: str | None = None
    limit: int = 10
    offset: int = 0


@dataclasses.dataclass(frozen=True)
class SecretInfo:
    """A secret's metadata, without its payload."""

    id: str
    project_id: str
    name: str | None
    secret_type: str
    content_type: str | None
    algorithm: str | None
    bit_length: int | None
    mode: str | None
    expiration: datetime.datetime | None
    creator_id: str | None
    created_at: datetime.datetime
    updated_at: datetime.datetime | None
    acl: Acl

    @property
    def has_payload(self) -> bool:
        return self.content_type is not None


@dataclasses.dataclass(frozen=True)
class Secret(SecretInfo):
    """A secret with its payload decrypted (None: no payload yet)."""

    payload: bytes | None = dataclasses.field(default=None, repr=False)


@dataclasses.dataclass(frozen=True)
class Container:
    """A container: its secrets' ids by role name."""

    id: str
    project_id: str
    name: str | None
    type: str
    creator_id: str | None
    created_at: datetime.datetime
    updated_at: datetime.datetime | None
    secret_ids: Mapping[str, str]
    acl: Acl


# --- the key ---------------------------------------------------------------------
_fernets: dict[str, Fernet] = {}
_key_lock = threading.Lock()


def _read_key(path: str) -> Fernet:
    try:
        with open(path, 'rb') as f:
            data = f.read().strip()
    except FileNotFoundError:
        raise
    except OSError as exc:
        raise KeyUnavailable('cannot read the key-manager key %s: %s' % (path, exc.strerror))
    try:
        return Fernet(data)
    except ValueError:
        raise KeyUnavailable('the key-manager key %s is not a Fernet key' % path)


def _create_key(path: str) -> None:
    """Write a new key beside `path` and link it in: no reader ever sees a
    half-written key, and of two processes racing only one key wins."""
    directory = os.path.dirname(path)
    try:
        fd, temporary = tempfile.mkstemp(dir=directory, prefix='.secrets.key.')  # 0600
    except OSError as exc:
        raise KeyUnavailable('cannot create the key-manager key in %s: %s'
                             % (directory, exc.strerror))
    try:
        with os.fdopen(fd, 'wb') as f:
            f.write(Fernet.generate_key())
            f.flush()
            os.fsync(f.fileno())
        os.link(temporary, path)
    except FileExistsError:
        pass  # another process made it first: use theirs
    except OSError as exc:
        raise KeyUnavailable('cannot create the key-manager key %s: %s' % (path, exc.strerror))
    finally:
        os.unlink(temporary)


def _fernet() -> Fernet:
    path = config.state_path(KEY_FILE)
    with _key_lock:
        fernet = _fernets.get(path)
        if fernet is None:
            try:
                fernet = _read_key(path)
            except FileNotFoundError:
                _create_key(path)
                fernet = _read_key(path)
            _fernets[path] = fernet
        return fernet


def forget_key() -> None:
    """Drop the cached keys (tests that move the state directory)."""
    with _key_lock:
        _fernets.clear()


def _encrypt(payload: bytes | None) -> bytes | None:
    return None if payload is None else _fernet().encrypt(payload)


def _decrypt(row: models.KeyManagerSecret) -> bytes | None:
    if row.encrypted_payload is None:
        return None
    try:
        return _fernet().decrypt(row.encrypted_payload)
    except InvalidToken:
        raise KeyUnavailable('the payload of secret %s does not open with the key-manager '
                             'key (was %s replaced?)' % (row.id, KEY_FILE))


# --- rows to values --------------------------------------------------------------
def _acl(row: models.KeyManagerSecret | models.KeyManagerContainer) -> Acl:
    if row.acl_read_users is None:
        return Acl()
    return Acl(tuple(row.acl_read_users), row.acl_project_access, True, row.acl_updated_at)


def _info_fields(row: models.KeyManagerSecret) -> dict[str, Any]:
    return dict(id=row.id, project_id=row.project_id, name=row.name,
                secret_type=row.secret_type, content_type=row.content_type,
                algorithm=row.algorithm, bit_length=row.bit_length, mode=row.mode,
                expiration=row.expiration, creator_id=row.creator_id,
                created_at=row.created_at, updated_at=row.updated_at, acl=_acl(row))


def _container(row: models.KeyManagerContainer) -> Container:
    refs = types.MappingProxyType({ref.name: ref.secret_id for ref in row.refs})
    return Container(row.id, row.project_id, row.name, row.type, row.creator_id,
                     row.created_at, row.updated_at, refs, _acl(row))


def _model(kind: Kind) -> Any:
    return models.KeyManagerSecret if kind == 'secret' else models.KeyManagerContainer


def _scoped(stmt: Select[Any], model: Any, project_id: str | None) -> Select[Any]:
    return stmt if project_id is None else stmt.where(model.project_id == project_id)


def _one(session: Session, kind: Kind, project_id: str | None, obj_id: str,
         lock: bool = False, payload: bool = False) -> Any:
    model = _model(kind)
    stmt = _scoped(select(model).where(model.id == obj_id), model, project_id)
    if payload:
        stmt = stmt.options(undefer(models.KeyManagerSecret.encrypted_payload))
    row = session.scalars(stmt.with_for_update() if lock else stmt).one_or_none()
    if row is None:
        raise NotStored('%s %s not found' % (kind, obj_id))
    return row


def _page(session: Session, model: Any, stmt: Select[Any], limit: int,
          offset: int) -> tuple[list[Any], int]:
    total = session.scalar(select(func.count()).select_from(stmt.subquery())) or 0
    rows = session.scalars(stmt.order_by(model.created_at, model.id)
                           .limit(limit).offset(offset)).all() if limit > 0 else []
    return list(rows), total


# --- secrets ---------------------------------------------------------------------
def create_secret(project_id: str, creator_id: str | None, new: NewSecret) -> SecretInfo:
    row = models.KeyManagerSecret(
        project_id=project_id, creator_id=creator_id, name=new.name,
        secret_type=new.secret_type, algorithm=new.algorithm, bit_length=new.bit_length,
        mode=new.mode, expiration=new.expiration,
        content_type=new.content_type if new.payload is not None else None,
        encrypted_payload=_encrypt(new.payload), acl_project_access=True)
    with db.writing() as session:
        session.add(row)
        session.flush()
        return SecretInfo(**_info_fields(row))


def list_secrets(project_id: str | None, query: SecretQuery) -> tuple[list[SecretInfo], int]:
    """One page of secrets (oldest first) and how many match in all."""
    model = models.KeyManagerSecret
    stmt = _scoped(select(model), model, project_id)
    for column, value in ((model.name, query.name), (model.algorithm, query.algorithm),
                          (model.mode, query.mode), (model.bit_length, query.bit_length),
                          (model.secret_type, query.secret_type)):
        if value is not None:
            stmt = stmt.where(column == value)
    with db.reading() as session:
        rows, total = _page(session, model, stmt, query.limit, query.offset)
        return [SecretInfo(**_info_fields(r)) for r in rows], total


def secret_info(project_id: str | None, secret_id: str) -> SecretInfo:
    with db.reading() as session:
        return SecretInfo(**_info_fields(_one(session, 'secret', project_id, secret_id)))


def secret(project_id: str | None, secret_id: str) -> Secret:
    """A secret with its payload decrypted."""
    with db.reading() as session:
        row = _one(session, 'secret', project_id, secret_id, payload=True)
        return Secret(**_info_fields(row), payload=_decrypt(row))


def set_payload(project_id: str | None, secret_id: str, content_type: str,
                payload: bytes) -> SecretInfo:
    """Give a secret created without one its payload; PayloadExists otherwise."""
    encrypted = _encrypt(payload)
    with db.writing() as session:
        row = _one(session, 'secret', project_id, secret_id, lock=True)
        if row.content_type is not None:
            raise PayloadExists(secret_id)
        row.content_type, row.encrypted_payload = content_type, encrypted
        session.flush()
        return SecretInfo(**_info_fields(row))


def delete_secret(project_id: str | None, secret_id: str) -> None:
    """Delete a secret; the containers that named it lose that entry."""
    with db.writing() as session:
        row = _one(session, 'secret', project_id, secret_id, lock=True)
        session.execute(delete(models.KeyManagerContainerSecret)
                        .where(models.KeyManagerContainerSecret.secret_id == secret_id))
        session.delete(row)


# --- containers ------------------------------------------------------------------
def create_container(project_id: str, creator_id: str | None, name: str | None,
                     container_type: str, secret_ids: Mapping[str, str]) -> Container:
    """A container of the project's own secrets; ForeignSecret for any other."""
    with db.writing() as session:
        wanted = set(secret_ids.values())
        found = set(session.scalars(
            select(models.KeyManagerSecret.id)
            .where(models.KeyManagerSecret.id.in_(wanted),
                   models.KeyManagerSecret.project_id == project_id)
            .with_for_update()).all()) if wanted else set()
        for role, secret_id in secret_ids.items():
            if secret_id not in found:
                raise ForeignSecret(role, secret_id)
        row = models.KeyManagerContainer(
            project_id=project_id, creator_id=creator_id, name=name, type=container_type,
            acl_project_access=True,
            refs=[models.KeyManagerContainerSecret(name=role, secret_id=secret_id)
                  for role, secret_id in secret_ids.items()])
        session.add(row)
        session.flush()
        return _container(row)


def list_containers(project_id: str | None, name: str | None, limit: int,
                    offset: int) -> tuple[list[Container], int]:
    model = models.KeyManagerContainer
    stmt = _scoped(select(model), model, project_id)
    if name is not None:
        stmt = stmt.where(model.name == name)
    with db.reading() as session:
        rows, total = _page(session, model, stmt, limit, offset)
        return [_container(r) for r in rows], total


def container(project_id: str | None, container_id: str) -> Container:
    with db.reading() as session:
        return _container(_one(session, 'container', project_id, container_id))


def delete_container(project_id: str | None, container_id: str) -> None:
    """Delete a container (its secrets stay)."""
    with db.writing() as session:
        session.delete(_one(session, 'container', project_id, container_id, lock=True))


# --- ACLs ------------------------------------------------------------------------
def set_acl(kind: Kind, project_id: str | None, obj_id: str, users: Sequence[str],
            project_access: bool) -> Acl:
    """Replace the read ACL of a secret or container."""
    with db.writing() as session:
        row = _one(session, kind, project_id, obj_id, lock=True)
        row.acl_read_users = list(dict.fromkeys(users))
        row.acl_project_access = project_access
        row.acl_updated_at = models.utcnow()
        return _acl(row)


def delete_acl(kind: Kind, project_id: str | None, obj_id: str) -> None:
    """Back to the defaults: no listed users, project access on."""
    with db.writing() as session:
        row = _one(session, kind, project_id, obj_id, lock=True)
        row.acl_read_users, row.acl_project_access, row.acl_updated_at = None, True, None


class Reader:
    """The store's read side for the certificate drivers (their `SecretReader`)."""

    def secret(self, project_id: str | None, secret_id: str) -> Secret:
        return secret(project_id, secret_id)

    def container(self, project_id: str | None, container_id: str) -> Container:
        return container(project_id, container_id)


READER = Reader()
