"""The controller <-> amphora agent wire schema.

This is the only lbaas module the agent imports, so it stays light: standard
library dataclasses and json, nothing else (the agent's start-up time is on the
path of provisioning a load balancer).

Paths: every `*_SOCKET`/`*_FILE`/`*_DIR` constant below is relative to the
agent's state directory. The HAProxy configuration the controller renders must
use them as absolute paths, e.g. ``stats socket <state_dir>/haproxy/stats.sock``
(see `state_path`). Files shipped in a bundle (certificates, ...) are referenced
by the same relative path as their key in `ConfigBundle.files`: the agent runs
HAProxy (``haproxy -c`` to validate, then the daemon) with ``-C <bundle>/files``
so ``crt listeners/abc.pem`` resolves inside the bundle being validated or served.

What the agent expects of a rendered haproxy.cfg: in `global`, ``stats socket
<state_dir>/haproxy/stats.sock mode 600 level admin`` (stats, server state),
``server-state-file <state_dir>/haproxy/server-state`` with
``load-server-state-from-file global`` in `defaults` (the agent dumps server
states there before each reload, so health survives it), ``maxconn`` derived
from the file limit, and ``hard-stop-after`` so old workers do not pile up.
No ``daemon``, ``master-worker`` or ``pidfile``: the agent's command line
sets those (``-W -S <master.sock> -p <pid file>``).
"""

from __future__ import annotations

import dataclasses
import datetime
import hashlib
import hmac
import json
import os.path
import zlib

# Not `typing.TYPE_CHECKING`: the agent never imports `typing` (start-up time,
# see above); type checkers treat a module-level TYPE_CHECKING the same way.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Protocol, Self, TypeVar

    T = TypeVar("T")

    class _Decodable(Protocol):
        @classmethod
        def from_dict(cls, data: object) -> Self: ...

    D = TypeVar("D", bound=_Decodable)

API_VERSION = "1.0"
AGENT_VERSION = "0.1.0"

# API paths (all JSON).
PATH_ROOT = "/"
PATH_INFO = "/1.0/info"  # GET -> AgentInfo
PATH_STATUS = "/1.0/status"  # GET -> AgentStatus
PATH_CONFIG = "/1.0/config"  # PUT ConfigBundle -> AgentStatus; DELETE -> AgentStatus
PATH_STATS = "/1.0/stats"  # GET -> list of `show stat` rows (dicts)

DEFAULT_PORT = 9443

# State directory layout (relative to the agent's --state-dir).
CA_FILE = "ca.pem"  # CA that signs the controller's client cert
CERT_FILE = "agent.pem"  # the agent's server certificate
KEY_FILE = "agent.key"  # its private key
AGENT_LOG_FILE = "agent.log"
AGENT_PID_FILE = "agent.pid"
HAPROXY_DIR = "haproxy"
STATS_SOCKET = "haproxy/stats.sock"  # put in `global` as `stats socket`
LOG_SOCKET = "haproxy/log.sock"  # connection logs: HAProxy sends, the agent binds
MASTER_SOCKET = "haproxy/master.sock"  # agent passes it as `-S`
PID_FILE = "haproxy/haproxy.pid"  # agent passes it as `-p`
SERVER_STATE_FILE = "haproxy/server-state"  # `server-state-file` in `global`
HAPROXY_LOG_FILE = "haproxy/haproxy.log"  # HAProxy's own stderr
PING_CHECK_FILE = "haproxy/ping-check.sh"  # `external-check command` of PING monitors
# HAProxy 2.6 refuses longer unix socket paths (it binds "<path>.<pid>.tmp"
# first, within sun_path's 108 bytes): keep state dirs under ~78 bytes.
MAX_SOCKET_PATH = 97
KEEPALIVED_DIR = "keepalived"  # its pid files and log
CONFIG_DIR = "config"  # bundle generations live here
CURRENT_BUNDLE = "config/current"  # symlink to the active bundle dir

# Inside a bundle directory.
HAPROXY_CFG_NAME = "haproxy.cfg"
KEEPALIVED_CFG_NAME = "keepalived.cfg"
DIGEST_NAME = "digest"
FILES_SUBDIR = "files"  # bundle.files land here; it is HAProxy's -C directory
HAPROXY_CFG_FROM_FILES = "../haproxy.cfg"  # -f argument, relative to -C


class WireError(ValueError):
    """A message that does not match the schema."""


def state_path(state_dir: str, relative: str) -> str:
    """Absolute path of one of the state-dir constants above."""
    return os.path.join(state_dir, relative)


def _require(data: dict[str, object], key: str, types: type[T]) -> T:
    value = data.get(key)
    if not isinstance(value, types) or (types is int and isinstance(value, bool)):
        raise WireError(f"field {key!r} must be {getattr(types, '__name__', types)}")
    return value


def _optional(data: dict[str, object], key: str, types: type[T]) -> T | None:
    """Like `_require`, but a missing or null field is None."""
    if data.get(key) is None:
        return None
    return _require(data, key, types)


def _check_relative_path(path: str) -> None:
    # A bundle file must stay inside the bundle directory.
    parts = path.split("/")
    if (
        not path
        or path.startswith("/")
        or "\\" in path
        or "\0" in path
        or any(p in ("", ".", "..") for p in parts)
    ):
        raise WireError(f"invalid bundle file path {path!r}")


@dataclasses.dataclass(frozen=True)
class ConfigBundle:
    """Everything an amphora runs, pushed as one unit and applied atomically."""

    haproxy_cfg: str
    # relative path (see the module docstring) -> text, e.g. PEM certificates
    files: dict[str, str] = dataclasses.field(default_factory=dict)
    keepalived_cfg: str | None = None

    def canonical(self) -> bytes:
        return json.dumps(
            {
                "haproxy_cfg": self.haproxy_cfg,
                "files": self.files,
                "keepalived_cfg": self.keepalived_cfg,
            },
            sort_keys=True,
            separators=(",", ":"),
            ensure_ascii=False,
        ).encode("utf-8")

    def digest(self) -> str:
        """sha256 of the canonical JSON: the agent reports it, the controller
        compares it with what it rendered to decide whether to push."""
        return hashlib.sha256(self.canonical()).hexdigest()

    def to_dict(self) -> dict[str, object]:
        return {
            "haproxy_cfg": self.haproxy_cfg,
            "files": dict(self.files),
            "keepalived_cfg": self.keepalived_cfg,
        }

    @classmethod
    def from_dict(cls, data: object) -> Self:
        if not isinstance(data, dict):
            raise WireError("a config bundle must be a JSON object")
        files = _bundle_files(data)
        return cls(
            haproxy_cfg=_require(data, "haproxy_cfg", str),
            files=files,
            keepalived_cfg=_optional(data, "keepalived_cfg", str),
        )


def _bundle_files(data: dict[str, object]) -> dict[str, str]:
    received: dict[str, object] = _optional(data, "files", dict) or {}
    files: dict[str, str] = {}
    for path, text in received.items():
        _check_relative_path(path)
        if not isinstance(text, str):
            raise WireError(f"file {path!r} must be text")
        files[path] = text
    return files


@dataclasses.dataclass(frozen=True)
class AgentStatus:
    """What an amphora runs right now, as the agent observes it."""

    amphora_id: str
    config_digest: str | None
    haproxy_running: bool
    haproxy_pid: int | None = None
    haproxy_reloads: int = 0
    keepalived_running: bool = False
    agent_version: str = AGENT_VERSION

    def to_dict(self) -> dict[str, object]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: object) -> Self:
        if not isinstance(data, dict):
            raise WireError("an agent status must be a JSON object")
        return cls(
            amphora_id=_require(data, "amphora_id", str),
            config_digest=_optional(data, "config_digest", str),
            haproxy_running=_require(data, "haproxy_running", bool),
            haproxy_pid=_optional(data, "haproxy_pid", int),
            haproxy_reloads=_optional(data, "haproxy_reloads", int) or 0,
            keepalived_running=bool(data.get("keepalived_running", False)),
            agent_version=_optional(data, "agent_version", str) or "",
        )


@dataclasses.dataclass(frozen=True)
class AgentInfo:
    """Identity and versions; `GET /1.0/info` doubles as the readiness probe."""

    amphora_id: str
    api_version: str = API_VERSION
    agent_version: str = AGENT_VERSION
    haproxy_version: str | None = None
    hostname: str | None = None

    def to_dict(self) -> dict[str, object]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: object) -> Self:
        if not isinstance(data, dict):
            raise WireError("agent info must be a JSON object")
        return cls(
            amphora_id=_require(data, "amphora_id", str),
            api_version=_require(data, "api_version", str),
            agent_version=_optional(data, "agent_version", str) or "",
            haproxy_version=_optional(data, "haproxy_version", str),
            hostname=_optional(data, "hostname", str),
        )


# Heartbeats (amphora -> health manager), Octavia's v3 envelope: the JSON
# message zlib-compressed at level 9, then HMAC-SHA256 of the compressed bytes
# with the shared heartbeat key appended as 64 lowercase hex characters.
# Message: {"id": amphora id, "seq": int, "ver": 3, "digest": running bundle
# digest or null, "listeners": {listener id: {"status": "OPEN"|"FULL"|...,
# "stats": {"tx", "rx", "conns", "totconns", "ereq"}}}, "pools":
# {"<pool id>:<listener id>": {"status": "UP"|"DOWN", "members": {member id:
# HAProxy's status text}}}}; stats are deltas since the last datagram except
# "conns" (current). "digest" is ours; Octavia's receivers ignore it.
HEARTBEAT_VERSION = 3
HEARTBEAT_MAX_BYTES = 65535  # one UDP datagram; larger ones are dropped
_HMAC_HEX = 64


class HeartbeatError(WireError):
    """A datagram to drop; `kind` says why: oversized, forged or garbled."""

    def __init__(self, kind: str, detail: str = "") -> None:
        super().__init__(f"{kind} heartbeat{': ' + detail if detail else ''}")
        self.kind = kind


def _heartbeat_mac(payload: bytes, key: bytes) -> bytes:
    return hmac.new(key, payload, hashlib.sha256).hexdigest().encode("ascii")


def encode_heartbeat(message: dict[str, object], key: bytes) -> bytes:
    """One heartbeat datagram carrying `message`, signed with `key`."""
    payload = zlib.compress(json.dumps(message, separators=(",", ":")).encode("utf-8"), 9)
    return payload + _heartbeat_mac(payload, key)


def decode_heartbeat(datagram: bytes, key: bytes) -> dict[str, object]:
    """The message in a datagram; HeartbeatError if it is to be dropped.

    The HMAC is checked before anything is decompressed, so a forged datagram
    costs one hash; decompression is bounded, so a zlib bomb costs nothing.
    """
    if len(datagram) > HEARTBEAT_MAX_BYTES:
        raise HeartbeatError("oversized", f"{len(datagram)} bytes")
    payload, mac = datagram[:-_HMAC_HEX], datagram[-_HMAC_HEX:]
    if len(datagram) <= _HMAC_HEX or not hmac.compare_digest(mac, _heartbeat_mac(payload, key)):
        raise HeartbeatError("forged")
    inflater = zlib.decompressobj()
    try:
        raw = inflater.decompress(payload, 16 * HEARTBEAT_MAX_BYTES)
    except zlib.error as exc:
        raise HeartbeatError("garbled", str(exc)) from None
    if inflater.unconsumed_tail:
        raise HeartbeatError("oversized", "inflates beyond the limit")
    try:
        message = json.loads(raw)
    except ValueError as exc:
        raise HeartbeatError("garbled", str(exc)) from None
    if (
        not isinstance(message, dict)
        or not isinstance(message.get("id"), str)
        or not isinstance(message.get("seq"), int)
        or isinstance(message.get("seq"), bool)
        or not isinstance(message.get("listeners", {}), dict)
        or not isinstance(message.get("pools", {}), dict)
    ):
        raise HeartbeatError("garbled", "not a heartbeat message")
    return message


def to_json(obj: object) -> bytes:
    """Encode a wire object (or plain JSON data) to UTF-8 bytes."""
    if hasattr(obj, "to_dict"):
        obj = obj.to_dict()
    return json.dumps(obj, separators=(",", ":")).encode("utf-8")


def from_json(cls: type[D], raw: bytes | str) -> D:
    """Decode bytes/str into `cls` (a wire dataclass), raising WireError."""
    try:
        data = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise WireError(f"invalid JSON: {exc}") from None
    return cls.from_dict(data)


# Certificate rotation (controller -> agent): PUT PATH_CERTIFICATE with an
# AmphoraCertificate; the agent answers with the CertificateStatus it now
# presents. Old agents answer 404, which the controller reports as such.
PATH_CERTIFICATE = "/1.0/certificate"  # PUT AmphoraCertificate -> CertificateStatus


def _pem(data: dict[str, object], key: str, required: bool = True) -> bytes | None:
    """A PEM field: ASCII text on the wire, bytes in the dataclass."""
    text = _require(data, key, str) if required else _optional(data, key, str)
    if text is None:
        return None
    try:
        return text.encode("ascii")
    except UnicodeEncodeError:
        raise WireError(f"field {key!r} must be ASCII PEM text") from None


def _timestamp(data: dict[str, object], key: str) -> datetime.datetime:
    """An ISO 8601 field with an offset, returned in UTC."""
    text = _require(data, key, str)
    try:
        value = datetime.datetime.fromisoformat(text)
    except ValueError:
        raise WireError(f"field {key!r} must be an ISO 8601 timestamp") from None
    if value.tzinfo is None:
        raise WireError(f"field {key!r} needs a UTC offset")
    return value.astimezone(datetime.UTC)


@dataclasses.dataclass(frozen=True)
class AmphoraCertificate:
    """An amphora's server certificate and key, as the CA issues them.

    `ca_pem` is the controller's trust bundle (one or more CA certificates):
    the agent trusts it for client certificates from then on. None leaves
    the agent's CA file as it is.
    """

    cert_pem: bytes
    key_pem: bytes = dataclasses.field(repr=False)  # never in a log line
    not_after: datetime.datetime = dataclasses.field(compare=False)
    ca_pem: bytes | None = None

    def to_dict(self) -> dict[str, object]:
        return {
            "cert_pem": self.cert_pem.decode("ascii"),
            "key_pem": self.key_pem.decode("ascii"),
            "not_after": self.not_after.isoformat(),
            "ca_pem": None if self.ca_pem is None else self.ca_pem.decode("ascii"),
        }

    @classmethod
    def from_dict(cls, data: object) -> Self:
        if not isinstance(data, dict):
            raise WireError("an amphora certificate must be a JSON object")
        return cls(
            cert_pem=_pem(data, "cert_pem") or b"",
            key_pem=_pem(data, "key_pem") or b"",
            not_after=_timestamp(data, "not_after"),
            ca_pem=_pem(data, "ca_pem", required=False),
        )


@dataclasses.dataclass(frozen=True)
class CertificateStatus:
    """The server certificate an agent presents to new connections."""

    amphora_id: str
    not_after: datetime.datetime
    serial_number: str  # hex, as the issuer wrote it

    def to_dict(self) -> dict[str, object]:
        return {
            "amphora_id": self.amphora_id,
            "not_after": self.not_after.isoformat(),
            "serial_number": self.serial_number,
        }

    @classmethod
    def from_dict(cls, data: object) -> Self:
        if not isinstance(data, dict):
            raise WireError("a certificate status must be a JSON object")
        return cls(
            amphora_id=_require(data, "amphora_id", str),
            not_after=_timestamp(data, "not_after"),
            serial_number=_require(data, "serial_number", str),
        )
