"""Database rows -> the frozen view-model the HAProxy templates render.

What an amphora should serve: enabled listeners and pools only (Octavia
leaves disabled ones out), members admin-down when disabled, nothing that is
being deleted. Listener timeouts were filled with their defaults by the API.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, TypeGuard, TypeVar

from lbaas import config
from lbaas.dataplane import tls
from lbaas.dataplane import viewmodel as vm

if TYPE_CHECKING:
    from lbaas.db import models

_Row = TypeVar('_Row', bound='models.StatusMixin')

GONE = ('PENDING_DELETE', 'DELETED')
# Listeners HAProxy serves; UDP and SCTP go through nftables (no IPVS here).
# PROMETHEUS is HAProxy's built-in exporter, over TLS when given certificates.
SERVED_PROTOCOLS = ('HTTP', 'HTTPS', 'TCP', 'TERMINATED_HTTPS', 'PROMETHEUS')


def _live(obj: _Row | None) -> TypeGuard[_Row]:
    return obj is not None and obj.provisioning_status not in GONE


def _member(member: models.Member) -> vm.MemberView:
    return vm.MemberView(
        id=member.id,
        address=member.ip_address,
        port=member.protocol_port,
        weight=member.weight,
        backup=member.backup,
        enabled=member.enabled,
        monitor_address=member.monitor_address,
        monitor_port=member.monitor_port,
    )


def _monitor(hm: models.HealthMonitor | None) -> vm.HealthMonitorView | None:
    if not _live(hm) or not hm.enabled:
        return None
    return vm.HealthMonitorView(
        type=vm.MonitorType(hm.type),
        delay=hm.delay,
        timeout=hm.timeout,
        max_retries=hm.rise_threshold,
        max_retries_down=hm.fall_threshold,
        http_method=hm.http_method or 'GET',
        url_path=hm.url_path or '/',
        expected_codes=hm.expected_codes or '200',
        http_version=None if hm.http_version is None else str(hm.http_version),
        domain_name=hm.domain_name,
    )


def _haproxy_pool(pool: models.Pool) -> bool:
    """Live, enabled and HAProxy's (UDP and SCTP pools are not)."""
    return _live(pool) and pool.enabled and pool.protocol in vm.Protocol.__members__


def pool_view(pool: models.Pool) -> vm.PoolView | None:
    if not _haproxy_pool(pool):
        return None
    sp = pool.session_persistence
    return vm.PoolView(
        id=pool.id,
        protocol=vm.Protocol(pool.protocol),
        lb_algorithm=vm.Algorithm(pool.lb_algorithm),
        members=tuple(_member(m) for m in pool.members if _live(m)),
        health_monitor=_monitor(pool.health_monitor),
        session_persistence=vm.SessionPersistenceView(
            type=sp['type'], cookie_name=sp.get('cookie_name')
        )
        if sp
        else None,
        tls=tls.pool_tls(pool),
    )


def _rule(rule: models.L7Rule) -> vm.L7RuleView:
    return vm.L7RuleView(
        id=rule.id,
        type=vm.L7RuleType(rule.type),
        compare_type=vm.CompareType(rule.compare_type),
        value=rule.value,
        key=rule.key,
        invert=rule.invert,
    )


def _pool(pools: Mapping[str, vm.PoolView], pool_id: str | None) -> vm.PoolView | None:
    return None if pool_id is None else pools.get(pool_id)


def _policy(policy: models.L7Policy, pools: Mapping[str, vm.PoolView]) -> vm.L7PolicyView:
    rules = tuple(_rule(r) for r in policy.rules if _live(r) and r.enabled)
    return vm.L7PolicyView(
        id=policy.id,
        action=vm.L7Action(policy.action),
        position=policy.position,
        rules=rules,
        redirect_pool=_pool(pools, policy.redirect_pool_id),
        redirect_url=policy.redirect_url,
        redirect_prefix=policy.redirect_prefix,
        redirect_http_code=policy.redirect_http_code,
    )


def _filled(timeout: int | None, column: str) -> int:
    # The API fills every listener timeout left null from configuration.
    if timeout is None:
        raise ValueError(f"listener {column} is null")
    return timeout


def connection_logging() -> bool:
    """Octavia's `[haproxy_amphora] connection_logging`, for every listener."""
    return bool(config.CONF.haproxy_amphora.connection_logging)


def _listener(listener: models.Listener, pools: Mapping[str, vm.PoolView]) -> vm.ListenerView:
    return vm.ListenerView(
        id=listener.id,
        protocol=vm.Protocol(listener.protocol),
        port=listener.protocol_port,
        connection_limit=listener.connection_limit,
        timeout_client=_filled(listener.timeout_client_data, 'timeout_client_data'),
        timeout_connect=_filled(listener.timeout_member_connect, 'timeout_member_connect'),
        timeout_server=_filled(listener.timeout_member_data, 'timeout_member_data'),
        timeout_tcp_inspect=listener.timeout_tcp_inspect or 0,
        insert_headers=vm.enabled_headers(listener.insert_headers or {}),
        allowed_cidrs=tuple(listener.allowed_cidrs or ()),
        default_pool=_pool(pools, listener.default_pool_id),
        l7policies=tuple(_policy(p, pools) for p in listener.l7policies if _live(p) and p.enabled),
        connection_logging=connection_logging(),
        tls=tls.listener_tls(listener),
    )


def served_listeners(lb: models.LoadBalancer) -> list[models.Listener]:
    return [
        li for li in lb.listeners if _live(li) and li.enabled and li.protocol in SERVED_PROTOCOLS
    ]


def tls_files(lb: models.LoadBalancer) -> tuple[tls.TLSFile, ...]:
    """The certificate files the LB's served listeners and pools need."""
    if not lb.enabled:
        return ()
    wanted = [f for li in served_listeners(lb) for f in tls.listener_refs(li)]
    wanted += [f for p in lb.pools if _haproxy_pool(p) for f in tls.pool_refs(p)]
    return tuple(dict.fromkeys(wanted))


def member_drain_timeout(flavor: Mapping[str, object]) -> int:
    """Seconds removed members drain: the flavor's, else the deployment's."""
    value = flavor.get('member_drain_timeout')
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return value
    return int(config.CONF.haproxy_amphora.member_drain_timeout)


def lb_view(
    lb: models.LoadBalancer,
    peers: Iterable[vm.PeerView] = (),
    local_peer: str | None = None,
    flavor: Mapping[str, object] | None = None,
) -> vm.LoadBalancerView:
    """`flavor`: the metadata of the LB's flavor profile, if it has one."""
    pools = {p.id: view for p in lb.pools if (view := pool_view(p)) is not None}
    vips = [lb.vip.ip_address] + [v.ip_address for v in lb.additional_vips]
    listeners = served_listeners(lb) if lb.enabled else []
    return vm.LoadBalancerView(
        id=lb.id,
        project_id=lb.project_id or '',
        vips=tuple(a for a in vips if a),
        topology=vm.Topology(lb.topology),
        listeners=tuple(_listener(li, pools) for li in listeners),
        peers=tuple(peers),
        local_peer=local_peer,
        udp_listeners=udp_listeners(lb) if lb.enabled else (),
        member_drain_timeout=member_drain_timeout(flavor or {}),
    )


# -- UDP and SCTP: served by nftables (dataplane/nftables.py), never by HAProxy


def _udp_pool(pool: models.Pool | None, protocol: vm.L4Protocol) -> vm.UdpPoolView | None:
    if not _live(pool) or not pool.enabled or pool.protocol != protocol:
        return None
    sp = pool.session_persistence or {}
    return vm.UdpPoolView(
        id=pool.id,
        lb_algorithm=vm.Algorithm(pool.lb_algorithm),
        members=tuple(_member(m) for m in pool.members if _live(m)),
        health_monitor=_monitor(pool.health_monitor),
        source_ip_persistence=sp.get('type') == 'SOURCE_IP',
        persistence_timeout=sp.get('persistence_timeout'),
        protocol=protocol,
    )


def udp_listeners(lb: models.LoadBalancer) -> tuple[vm.UdpListenerView, ...]:
    """Enabled UDP and SCTP listeners, each with its default pool when that is
    enabled (and of the listener's protocol, as the API insists)."""
    pools = {p.id: p for p in lb.pools}
    views = []
    for li in lb.listeners:
        if not (_live(li) and li.enabled and li.protocol in vm.L4Protocol.__members__):
            continue
        protocol = vm.L4Protocol(li.protocol)
        pool = _udp_pool(pools.get(li.default_pool_id or ''), protocol)
        views.append(
            vm.UdpListenerView(
                id=li.id,
                port=li.protocol_port,
                connection_limit=li.connection_limit,
                default_pool=pool,
                protocol=protocol,
            )
        )
    return tuple(views)
