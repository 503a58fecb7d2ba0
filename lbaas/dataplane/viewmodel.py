"""Typed, database-free view of one load balancer, as HAProxy needs it.

The controller builds these from the desired state (its builder leaves out
disabled listeners and pools, and resolves certificate references into file
names); `render.py` turns them into one HAProxy configuration. Keeping the view
separate means templates never touch ORM objects, and unit tests can describe a
load balancer in a few lines.

String-valued choices are `StrEnum`s, so callers may pass either the enum or
Octavia's plain string; `__post_init__` checks the value and turns lists into
tuples so that every view stays immutable and hashable.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields
from enum import StrEnum
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from _typeshed import DataclassInstance


class Protocol(StrEnum):
    """Listener and pool protocols that HAProxy serves (UDP/SCTP go elsewhere).
    PROMETHEUS is a listener protocol only: HAProxy's own metrics exporter."""

    TCP = "TCP"
    HTTP = "HTTP"
    HTTPS = "HTTPS"
    TERMINATED_HTTPS = "TERMINATED_HTTPS"
    PROXY = "PROXY"
    PROXYV2 = "PROXYV2"
    PROMETHEUS = "PROMETHEUS"


class Algorithm(StrEnum):
    ROUND_ROBIN = "ROUND_ROBIN"
    LEAST_CONNECTIONS = "LEAST_CONNECTIONS"
    SOURCE_IP = "SOURCE_IP"
    # Octavia's amphora refuses it (501); HAProxy 2.6 serves it with `balance hash`.
    SOURCE_IP_PORT = "SOURCE_IP_PORT"


class PersistenceType(StrEnum):
    SOURCE_IP = "SOURCE_IP"
    HTTP_COOKIE = "HTTP_COOKIE"
    APP_COOKIE = "APP_COOKIE"


class MonitorType(StrEnum):
    HTTP = "HTTP"
    HTTPS = "HTTPS"
    PING = "PING"
    TCP = "TCP"
    TLS_HELLO = "TLS-HELLO"
    UDP_CONNECT = "UDP-CONNECT"  # UDP pools only (nftables.py)
    SCTP = "SCTP"  # UDP and SCTP pools: INIT answered by INIT-ACK (agent/sctp_check.py)


class L7Action(StrEnum):
    REJECT = "REJECT"
    REDIRECT_TO_URL = "REDIRECT_TO_URL"
    REDIRECT_PREFIX = "REDIRECT_PREFIX"
    REDIRECT_TO_POOL = "REDIRECT_TO_POOL"


class L7RuleType(StrEnum):
    HOST_NAME = "HOST_NAME"
    PATH = "PATH"
    FILE_TYPE = "FILE_TYPE"
    HEADER = "HEADER"
    COOKIE = "COOKIE"
    SSL_CONN_HAS_CERT = "SSL_CONN_HAS_CERT"
    SSL_VERIFY_RESULT = "SSL_VERIFY_RESULT"
    SSL_DN_FIELD = "SSL_DN_FIELD"


class CompareType(StrEnum):
    REGEX = "REGEX"
    STARTS_WITH = "STARTS_WITH"
    ENDS_WITH = "ENDS_WITH"
    CONTAINS = "CONTAINS"
    EQUAL_TO = "EQUAL_TO"


class ClientAuth(StrEnum):
    NONE = "NONE"
    OPTIONAL = "OPTIONAL"
    MANDATORY = "MANDATORY"


class Topology(StrEnum):
    SINGLE = "SINGLE"
    ACTIVE_STANDBY = "ACTIVE_STANDBY"
    ACTIVE_ACTIVE = "ACTIVE_ACTIVE"


# Octavia's listener default when connection_limit is -1 ("provider default").
UNLIMITED = -1


def _normalise(view: DataclassInstance, enums: Mapping[str, type[StrEnum]]) -> None:
    """Coerce enum-typed fields and turn list fields into tuples, in place."""
    for f in fields(view):
        value = getattr(view, f.name)
        if f.name in enums and value is not None:
            object.__setattr__(view, f.name, enums[f.name](value))
        elif isinstance(value, (list, set, frozenset)):
            object.__setattr__(view, f.name, tuple(value))


def enabled_headers(insert_headers: Mapping[str, str]) -> tuple[str, ...]:
    """Header names an Octavia `insert_headers` dict switches on ("true")."""
    return tuple(sorted(k for k, v in insert_headers.items() if str(v).strip().lower() == "true"))


@dataclass(frozen=True, slots=True)
class MemberView:
    id: str
    address: str
    port: int
    weight: int = 1  # 0 is valid: the member takes no new connections
    backup: bool = False
    enabled: bool = True  # disabled members stay listed, in admin-down state
    monitor_address: str | None = None
    monitor_port: int | None = None


@dataclass(frozen=True, slots=True)
class HealthMonitorView:
    type: MonitorType
    delay: int  # seconds between checks
    timeout: int  # seconds
    max_retries: int  # successes to go UP (HAProxy "rise")
    max_retries_down: int = 3  # failures to go DOWN (HAProxy "fall")
    http_method: str = "GET"
    url_path: str = "/"
    expected_codes: str = "200"  # "200", "200,202" or "200-204"
    http_version: str | None = None  # "1.0" or "1.1"
    domain_name: str | None = None
    enabled: bool = True

    def __post_init__(self) -> None:
        _normalise(self, {"type": MonitorType})
        if self.http_version is not None:
            object.__setattr__(self, "http_version", f"{float(self.http_version):.1f}")


@dataclass(frozen=True, slots=True)
class SessionPersistenceView:
    type: PersistenceType
    cookie_name: str | None = None  # APP_COOKIE only

    def __post_init__(self) -> None:
        _normalise(self, {"type": PersistenceType})


@dataclass(frozen=True, slots=True)
class PoolTLSView:
    """Re-encryption towards members; file names are relative to the cert dir."""

    client_cert: str | None = None  # PEM with key, presented to members
    ca_cert: str | None = None  # verify members against this CA
    crl: str | None = None
    versions: tuple[str, ...] = ()
    ciphers: str | None = None
    alpn: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        _normalise(self, {})


@dataclass(frozen=True, slots=True)
class PoolView:
    id: str
    protocol: Protocol
    lb_algorithm: Algorithm
    members: tuple[MemberView, ...] = ()
    health_monitor: HealthMonitorView | None = None
    session_persistence: SessionPersistenceView | None = None
    tls: PoolTLSView | None = None  # None: plain connections to members

    def __post_init__(self) -> None:
        _normalise(self, {"protocol": Protocol, "lb_algorithm": Algorithm})

    @property
    def tls_enabled(self) -> bool:
        return self.tls is not None


@dataclass(frozen=True, slots=True)
class L7RuleView:
    id: str
    type: L7RuleType
    compare_type: CompareType
    value: str
    key: str | None = None  # header, cookie or DN field name
    invert: bool = False

    def __post_init__(self) -> None:
        _normalise(self, {"type": L7RuleType, "compare_type": CompareType})


@dataclass(frozen=True, slots=True)
class L7PolicyView:
    """One enabled policy. A REDIRECT_TO_POOL whose pool is disabled arrives
    with `redirect_pool=None` and, like a policy without rules, renders nothing."""

    id: str
    action: L7Action
    position: int
    rules: tuple[L7RuleView, ...] = ()
    redirect_pool: PoolView | None = None
    redirect_url: str | None = None
    redirect_prefix: str | None = None
    redirect_http_code: int | None = None

    def __post_init__(self) -> None:
        _normalise(self, {"action": L7Action})


@dataclass(frozen=True, slots=True)
class ListenerTLSView:
    """TLS termination; file names are relative to the runtime cert dir.
    Certificate files hold certificate, intermediates and key in one PEM."""

    default_cert: str
    sni_certs: tuple[str, ...] = ()
    client_auth: ClientAuth = ClientAuth.NONE
    client_ca: str | None = None
    client_crl: str | None = None
    versions: tuple[str, ...] = ()
    ciphers: str | None = None
    alpn: tuple[str, ...] = ()
    hsts_max_age: int | None = None
    hsts_include_subdomains: bool = False
    hsts_preload: bool = False

    def __post_init__(self) -> None:
        _normalise(self, {"client_auth": ClientAuth})


@dataclass(frozen=True, slots=True)
class ListenerView:
    id: str
    protocol: Protocol
    port: int
    connection_limit: int = UNLIMITED
    timeout_client: int = 50000  # ms
    timeout_connect: int = 5000  # ms
    timeout_server: int = 50000  # ms
    timeout_tcp_inspect: int = 0  # ms; 0 means no inspect delay
    insert_headers: tuple[str, ...] = ()  # enabled header names only
    allowed_cidrs: tuple[str, ...] = ()  # empty: allow everyone
    default_pool: PoolView | None = None
    l7policies: tuple[L7PolicyView, ...] = ()
    tls: ListenerTLSView | None = None  # TERMINATED_HTTPS only
    connection_logging: bool = True  # False: `no log`, Octavia's connection_logging

    def __post_init__(self) -> None:
        _normalise(self, {"protocol": Protocol})


@dataclass(frozen=True, slots=True)
class PeerView:
    """An amphora of an ACTIVE_STANDBY pair, for stick-table replication."""

    name: str
    address: str
    port: int = 1025


@dataclass(frozen=True, slots=True)
class LoadBalancerView:
    id: str
    project_id: str
    vips: tuple[str, ...]  # primary first; IPv4 or IPv6
    topology: Topology = Topology.SINGLE
    listeners: tuple[ListenerView, ...] = ()
    peers: tuple[PeerView, ...] = ()
    local_peer: str | None = None  # which of `peers` this config runs on
    udp_listeners: tuple[UdpListenerView, ...] = ()  # UDP and SCTP: nftables.py serves these
    # seconds a removed or disabled member keeps its connections (0: none),
    # which also bounds an old worker after a reload (`hard-stop-after`)
    member_drain_timeout: int = 300

    def __post_init__(self) -> None:
        _normalise(self, {"topology": Topology})
        if self.peers and self.local_peer not in {p.name for p in self.peers}:
            raise ValueError("local_peer must name one of the peers")


# -- UDP and SCTP (served by nftables full-NAT, not HAProxy; see nftables.py) -


class L4Protocol(StrEnum):
    """What nftables serves; the values are also nftables' own words, lowered."""

    UDP = "UDP"
    SCTP = "SCTP"


@dataclass(frozen=True, slots=True)
class UdpPoolView:
    """A UDP or SCTP pool: members, their monitor, and SOURCE_IP persistence."""

    id: str
    lb_algorithm: Algorithm
    members: tuple[MemberView, ...] = ()
    health_monitor: HealthMonitorView | None = None
    source_ip_persistence: bool = False
    persistence_timeout: int | None = None  # seconds; None: Octavia's 360
    protocol: L4Protocol = L4Protocol.UDP

    def __post_init__(self) -> None:
        _normalise(self, {"lb_algorithm": Algorithm, "protocol": L4Protocol})


@dataclass(frozen=True, slots=True)
class UdpListenerView:
    """A UDP or SCTP listener; its pool has the same protocol (the API says so)."""

    id: str
    port: int
    connection_limit: int = UNLIMITED
    default_pool: UdpPoolView | None = None
    protocol: L4Protocol = L4Protocol.UDP

    def __post_init__(self) -> None:
        _normalise(self, {"protocol": L4Protocol})
