"""The embedded key-manager's input: what a request may send, decoded and
checked before anything is stored, and the errors in Barbican's terms."""
import base64
import binascii
import dataclasses
import datetime
import http
import uuid
from collections.abc import Mapping
from typing import Any

from lbaas.db import secrets as store
from lbaas.errors import ApiError

SECRET_TYPES = ('symmetric', 'public', 'private', 'passphrase', 'certificate', 'opaque')
TEXT = 'text/plain'
BINARY_TYPES = ('application/octet-stream', 'application/pkcs8', 'application/pkix-cert')
MAX_PAYLOAD_BYTES = 65536
MAX_LIMIT, DEFAULT_LIMIT = 100, 10
CONTAINER_ROLES = {  # type -> (names required, names allowed); generic: any name
    'certificate': ({'certificate'},
                    {'certificate', 'private_key', 'private_key_passphrase', 'intermediates'}),
    'rsa': ({'public_key', 'private_key'},
            {'public_key', 'private_key', 'private_key_passphrase'}),
}


class KeyManagerError(ApiError):
    """An answer in Barbican's terms: its status, title and description."""

    def __init__(self, status: int, description: str) -> None:
        super().__init__(description)
        self.status = status
        self.title = http.HTTPStatus(status).phrase


def bad(description: str) -> KeyManagerError:
    return KeyManagerError(400, description)


def text_field(body: Mapping[str, Any], key: str, limit: int = 255) -> str | None:
    value = body.get(key)
    if value is None:
        return None
    if not isinstance(value, str) or len(value) > limit:
        raise bad("'%s' must be a string of at most %d characters." % (key, limit))
    return value


def _expiration(value: Any) -> datetime.datetime | None:
    if value is None:
        return None
    try:
        when = datetime.datetime.fromisoformat(str(value))
    except ValueError:
        raise bad("'expiration' is not an ISO 8601 date and time.")
    if when.tzinfo is not None:
        when = when.astimezone(datetime.UTC).replace(tzinfo=None)
    if when <= datetime.datetime.now(datetime.UTC).replace(tzinfo=None):
        raise bad("'expiration' is in the past.")
    return when


def media_type(value: str | None) -> str:
    """'Text/Plain; charset=utf-8' -> 'text/plain'."""
    return (value or '').split(';', 1)[0].strip().lower()


def decode(payload: bytes, content_type: str, encoding: str | None,
            raw: bool = False) -> bytes:
    """A payload as stored: UTF-8 text, or bytes: base64-decoded, or as sent
    when `raw` (a PUT's body) and no encoding is named."""
    encoding = (encoding or '').strip().lower() or None
    if content_type == TEXT:
        if encoding is not None:
            raise bad("A 'text/plain' payload takes no content encoding.")
        try:
            payload.decode('utf-8')
        except UnicodeDecodeError:
            raise bad('A text/plain payload must be UTF-8.')
    elif content_type in BINARY_TYPES:
        if encoding == 'base64':
            try:
                payload = base64.b64decode(b''.join(payload.split()), validate=True)
            except (binascii.Error, ValueError):
                raise bad('The payload is not valid base64.')
        elif encoding is not None or not raw:
            raise bad("The payload content encoding must be 'base64' for %s." % content_type)
    else:
        raise KeyManagerError(415 if raw else 400,
                              "Payload content type '%s' is not supported." % content_type)
    if not payload:
        raise bad('The payload must not be empty.')
    if len(payload) > MAX_PAYLOAD_BYTES:
        raise KeyManagerError(413, 'The payload is larger than %d bytes.' % MAX_PAYLOAD_BYTES)
    return payload


def new_secret(body: Any) -> store.NewSecret:
    if not isinstance(body, dict):
        raise bad('The body must be a JSON object.')
    secret_type = body.get('secret_type') or 'opaque'
    if secret_type not in SECRET_TYPES:
        raise bad("'secret_type' must be one of %s." % ', '.join(SECRET_TYPES))
    bit_length = body.get('bit_length')
    if bit_length is not None and (type(bit_length) is not int or bit_length < 1):
        raise bad("'bit_length' must be a positive integer.")
    payload, content_type = body.get('payload'), body.get('payload_content_type')
    meta = store.NewSecret(secret_type=secret_type, name=text_field(body, 'name'),
                           algorithm=text_field(body, 'algorithm'), mode=text_field(body, 'mode'),
                           bit_length=bit_length, expiration=_expiration(body.get('expiration')))
    if payload is None:
        if content_type or body.get('payload_content_encoding'):
            raise bad("'payload_content_type' and 'payload_content_encoding' need a "
                       "'payload'.")
        return meta
    if not isinstance(payload, str) or not payload.strip():
        raise bad("'payload' must be a non-empty string.")
    if not isinstance(content_type, str) or not content_type:
        raise bad("A 'payload' needs its 'payload_content_type'.")
    kind = media_type(content_type)
    data = decode(payload.encode('utf-8'), kind, body.get('payload_content_encoding'))
    return dataclasses.replace(meta, content_type=kind, payload=data)


def paging(params: Mapping[str, str]) -> tuple[int, int]:
    def number(key: str, default: int) -> int:
        try:
            return max(0, int(params.get(key, default)))
        except ValueError:
            return default
    return min(number('limit', DEFAULT_LIMIT), MAX_LIMIT), number('offset', 0)


def secret_id_of(ref: Any) -> str:
    if not isinstance(ref, str):
        raise bad("Each of 'secret_refs' needs a 'secret_ref' string.")
    try:
        return str(uuid.UUID(ref.rstrip('/').rsplit('/', 1)[-1]))
    except ValueError:
        raise bad("'%s' is not a secret reference." % ref[:300])


def container_refs(container_type: str, refs: Any) -> dict[str, str]:
    if not isinstance(refs, list) or not all(isinstance(r, dict) for r in refs):
        raise bad("'secret_refs' must be a list of objects.")
    found: dict[str, str] = {}
    for ref in refs:
        name = text_field(ref, 'name') or ''
        if name in found:
            raise bad("The name '%s' appears twice in 'secret_refs'." % name)
        found[name] = secret_id_of(ref.get('secret_ref'))
    if container_type in CONTAINER_ROLES:
        required, allowed = CONTAINER_ROLES[container_type]
        if not required <= set(found) or not set(found) <= allowed:
            raise bad("A %s container needs %s and may hold only %s." % (
                container_type, ', '.join(sorted(required)), ', '.join(sorted(allowed))))
    return found
