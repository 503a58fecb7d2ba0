"""Render one load balancer's view-model into one HAProxy 2.6 configuration.

Public API: `render_haproxy`, `RuntimePaths`, `config_hash`, and the maxconn
budget (`DEFAULT_MAX_CONNECTIONS`, `global_maxconn`, `listener_maxconn`).
This module decides what goes into the file (which backends, modes, limits,
the order of L7 policies); `directives.py` spells the tricky words and the
templates lay out the sections.
"""

from __future__ import annotations

import hashlib
import ipaddress
import posixpath
import re
from dataclasses import dataclass, fields

import jinja2

from lbaas import wire
from lbaas.dataplane import directives, templating
from lbaas.dataplane.viewmodel import (
    UNLIMITED,
    Algorithm,
    L7Action,
    L7PolicyView,
    ListenerView,
    LoadBalancerView,
    MonitorType,
    PoolView,
    Protocol,
)

# The amphora's open-file limit is 20000 and cannot be raised (no
# CAP_SYS_RESOURCE); HAProxy refuses to start when its descriptor need exceeds
# it. It needs two descriptors per connection (client and server side), two per
# splice pipe, plus a few per thread, listener and peer. Left alone, HAProxy
# reserves maxconn/4 pipes, i.e. 2.5 descriptors per connection: 8000
# connections then need 20033 (measured). With pipes set to maxconn/8 the same
# 8000 connections need ~18000, leaving ~2000 for listeners, checks and threads.
# A host with a higher limit can pass a larger cap.
DEFAULT_MAX_CONNECTIONS = 8000
PIPES_PER_CONNECTION = 1 / 8
STICK_TABLE_SIZE = "10k"
LOG_SOCKET = wire.LOG_SOCKET  # a datagram socket the agent binds (agent/logs.py)

# PROMETHEUS answers HTTP itself (HAProxy's exporter), so its frontend is http.
_HTTP_PROTOCOLS = {Protocol.HTTP, Protocol.TERMINATED_HTTPS, Protocol.PROMETHEUS}
_BALANCE = {
    Algorithm.ROUND_ROBIN: "roundrobin",
    Algorithm.LEAST_CONNECTIONS: "leastconn",
    Algorithm.SOURCE_IP: "source",
    # HAProxy 2.6 has no "source address and port" algorithm; the backend
    # template hashes both with `balance hash` (see backend.j2).
    Algorithm.SOURCE_IP_PORT: "hash",
}
# Octavia's documented precedence: all REJECTs, then URL/prefix redirects,
# then pool redirects, each group by position. HAProxy itself evaluates
# http-request, then redirect, then use_backend rules, so this order is native.
_ACTION_RANK = {
    L7Action.REJECT: 0,
    L7Action.REDIRECT_TO_URL: 1,
    L7Action.REDIRECT_PREFIX: 1,
    L7Action.REDIRECT_TO_POOL: 2,
}

_UNSAFE_PATH = re.compile(r"[\s'\"#\\$]")


@dataclass(frozen=True, slots=True)
class RuntimePaths:
    """Where HAProxy finds its runtime files on the amphora.

    Sockets and state are absolute paths. `cert_dir` may be absolute or
    relative to HAProxy's `-C` directory (the agent ships certificates inside
    the config bundle). `pid_file` is optional because HAProxy alerts when
    `pidfile` is set both here and with `-p` on its command line.
    `log_socket` is optional: without it HAProxy logs no connections.
    """

    stats_socket: str
    server_state_file: str
    cert_dir: str
    external_check_script: str
    pid_file: str | None = None
    log_socket: str | None = None

    def __post_init__(self) -> None:
        # These are written into the config unquoted; refuse anything that
        # would need quoting rather than risk a silently different path.
        for f in fields(self):
            if _UNSAFE_PATH.search(getattr(self, f.name) or ""):
                raise ValueError(f"unsafe character in {f.name}")

    @classmethod
    def in_state_dir(
        cls, state_dir: str, *, cert_dir: str | None = None, pid_file: bool = True
    ) -> RuntimePaths:
        """The agent's layout under one amphora's state directory (the same
        relative names as `lbaas.wire`), with certificates in `certs/`."""

        def join(name: str) -> str:
            return posixpath.join(state_dir, name)

        return cls(
            stats_socket=join("haproxy/stats.sock"),
            server_state_file=join("haproxy/server-state"),
            cert_dir=join("certs") if cert_dir is None else cert_dir,
            external_check_script=join(wire.PING_CHECK_FILE),
            pid_file=join("haproxy/haproxy.pid") if pid_file else None,
            log_socket=join(LOG_SOCKET),
        )

    def cert(self, name: str) -> str:
        if "/" in name or _UNSAFE_PATH.search(name):
            raise ValueError(f"certificate file name {name!r} is not a plain name")
        return posixpath.join(self.cert_dir, name)


def config_hash(text: str) -> str:
    """Hex SHA-256 of a rendered configuration, compared with what amphorae report."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def listener_maxconn(listener: ListenerView, cap: int) -> int:
    """A listener's own limit; "unlimited" (-1) means the whole budget."""
    if listener.connection_limit <= UNLIMITED:
        return cap
    return min(listener.connection_limit, cap)


def global_maxconn(lb: LoadBalancerView, cap: int = DEFAULT_MAX_CONNECTIONS) -> int:
    total = sum(listener_maxconn(listener, cap) for listener in lb.listeners)
    return min(total, cap) if total > 0 else cap


def frontend_mode(listener: ListenerView) -> str:
    return "http" if listener.protocol in _HTTP_PROTOCOLS else "tcp"


def backend_mode(pool: PoolView, listener: ListenerView) -> str:
    if pool.protocol in (Protocol.PROXY, Protocol.PROXYV2):
        return frontend_mode(listener)
    return "http" if pool.protocol == Protocol.HTTP else "tcp"


def balance(pool: PoolView) -> str:
    try:
        return _BALANCE[pool.lb_algorithm]
    except KeyError:
        raise ValueError(
            f"pool {pool.id}: algorithm {pool.lb_algorithm} is not "
            "supported by the HAProxy data plane"
        ) from None


def active_policies(listener: ListenerView) -> list[L7PolicyView]:
    """Policies that render, in the order HAProxy will evaluate them."""
    usable = [
        p
        for p in listener.l7policies
        if p.rules and (p.action != L7Action.REDIRECT_TO_POOL or p.redirect_pool is not None)
    ]
    return sorted(usable, key=lambda p: (_ACTION_RANK[p.action], p.position))


def backends_of(listener: ListenerView) -> list[PoolView]:
    """Pools this listener sends traffic to, each rendered once per listener."""
    pools = [listener.default_pool] if listener.default_pool else []
    pools += [
        p.redirect_pool
        for p in active_policies(listener)
        if p.action == L7Action.REDIRECT_TO_POOL and p.redirect_pool is not None
    ]
    unique: dict[str, PoolView] = {}
    for pool in pools:
        unique.setdefault(pool.id, pool)
    return list(unique.values())


def stick_key_type(lb: LoadBalancerView) -> str:
    # "ip" keys hold IPv4 only; clients of an IPv6 VIP need "ipv6" keys.
    has_v6 = any(ipaddress.ip_address(vip).version == 6 for vip in lb.vips)
    return "ipv6" if has_v6 else "ip"


def uses_external_check(lb: LoadBalancerView) -> bool:
    return any(
        pool.health_monitor
        and pool.health_monitor.enabled
        and pool.health_monitor.type == MonitorType.PING
        for listener in lb.listeners
        for pool in backends_of(listener)
    )


def _environment() -> jinja2.Environment:
    filters = dict(
        quote=directives.quote, status_regex=directives.status_regex, fetch_arg=directives.fetch_arg
    )
    names = dict(
        listener_maxconn=listener_maxconn,
        frontend_mode=frontend_mode,
        backend_mode=backend_mode,
        balance=balance,
        active_policies=active_policies,
        backends_of=backends_of,
        stick_size=STICK_TABLE_SIZE,
        hostport=directives.hostport,
        bind_options=directives.bind_options,
        hsts_value=directives.hsts_value,
        acl_criterion=directives.acl_criterion,
        condition=directives.condition,
        server_options=directives.server_options,
        log_format=directives.log_format,
    )
    return templating.environment(filters, names)


_ENV = _environment()


def render_haproxy(
    lb: LoadBalancerView, paths: RuntimePaths, *, max_connections: int = DEFAULT_MAX_CONNECTIONS
) -> str:
    """The complete HAProxy configuration for one load balancer.

    `max_connections` caps the global and per-listener `maxconn` so that HAProxy
    fits the amphora's open-file limit (see DEFAULT_MAX_CONNECTIONS).
    """
    for listener in lb.listeners:
        for pool in backends_of(listener):
            balance(pool)  # fail before rendering anything half-way
    maxconn = global_maxconn(lb, max_connections)
    text = _ENV.get_template("haproxy.cfg.j2").render(
        lb=lb,
        paths=paths,
        cap=max_connections,
        maxconn=maxconn,
        maxpipes=max(int(maxconn * PIPES_PER_CONNECTION), 1),
        external_check=uses_external_check(lb),
        peers_section=lb.id.replace("-", "") + "_peers" if lb.peers else None,
        stick_key=stick_key_type(lb),
        hard_stop_after=hard_stop_after(lb.member_drain_timeout),
    )
    return _tidy(text)


def hard_stop_after(drain_timeout: int) -> str:
    """`hard-stop-after` for a drain timeout in seconds: HAProxy reads 0 as
    "never", so "at once" is one millisecond."""
    return f"{drain_timeout}s" if drain_timeout > 0 else "1ms"


def _tidy(text: str) -> str:
    """Drop the blank lines template logic leaves behind and put exactly one
    before each section, so templates need no whitespace-control tricks."""
    lines = [line.rstrip() for line in text.splitlines() if line.strip()]
    out: list[str] = []
    for line in lines:
        starts_section = not line[0].isspace() and not line.startswith("#")
        if starts_section and out:
            out.append("")
        out.append(line)
    return "\n".join(out) + "\n"
