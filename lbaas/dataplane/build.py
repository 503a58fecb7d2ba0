"""Database rows -> the frozen view-model the HAProxy templates render.

What an amphora should serve: enabled listeners and pools only (Octavia
leaves disabled ones out), members admin-down when disabled, nothing that is
being deleted. Listener timeouts were filled with their defaults by the API.
"""
from lbaas.dataplane import viewmodel as vm

GONE = ('PENDING_DELETE', 'DELETED')
# Listeners the amphora data plane serves today; TERMINATED_HTTPS needs the
# certificate manager and UDP/SCTP need nftables (no IPVS on this kernel).
SERVED_PROTOCOLS = ('HTTP', 'HTTPS', 'TCP')


def _live(obj):
    return obj is not None and obj.provisioning_status not in GONE


def _member(member):
    return vm.MemberView(
        id=member.id, address=member.ip_address, port=member.protocol_port,
        weight=member.weight, backup=member.backup, enabled=member.enabled,
        monitor_address=member.monitor_address, monitor_port=member.monitor_port)


def _monitor(hm):
    if not _live(hm) or not hm.enabled:
        return None
    return vm.HealthMonitorView(
        type=hm.type, delay=hm.delay, timeout=hm.timeout, max_retries=hm.rise_threshold,
        max_retries_down=hm.fall_threshold, http_method=hm.http_method or 'GET',
        url_path=hm.url_path or '/', expected_codes=hm.expected_codes or '200',
        http_version=hm.http_version, domain_name=hm.domain_name)


def pool_view(pool):
    if not _live(pool) or not pool.enabled or pool.protocol not in vm.Protocol.__members__:
        return None  # UDP and SCTP pools are not HAProxy's
    sp = pool.session_persistence
    return vm.PoolView(
        id=pool.id, protocol=pool.protocol, lb_algorithm=pool.lb_algorithm,
        members=tuple(_member(m) for m in pool.members if _live(m)),
        health_monitor=_monitor(pool.health_monitor),
        session_persistence=vm.SessionPersistenceView(
            type=sp['type'], cookie_name=sp.get('cookie_name')) if sp else None)


def _rule(rule):
    return vm.L7RuleView(id=rule.id, type=rule.type, compare_type=rule.compare_type,
                         value=rule.value, key=rule.key, invert=rule.invert)


def _policy(policy, pools):
    rules = tuple(_rule(r) for r in policy.rules if _live(r) and r.enabled)
    return vm.L7PolicyView(
        id=policy.id, action=policy.action, position=policy.position, rules=rules,
        redirect_pool=pools.get(policy.redirect_pool_id),
        redirect_url=policy.redirect_url, redirect_prefix=policy.redirect_prefix,
        redirect_http_code=policy.redirect_http_code)


def _listener(listener, pools):
    return vm.ListenerView(
        id=listener.id, protocol=listener.protocol, port=listener.protocol_port,
        connection_limit=listener.connection_limit,
        timeout_client=listener.timeout_client_data,
        timeout_connect=listener.timeout_member_connect,
        timeout_server=listener.timeout_member_data,
        timeout_tcp_inspect=listener.timeout_tcp_inspect or 0,
        insert_headers=vm.enabled_headers(listener.insert_headers or {}),
        allowed_cidrs=tuple(listener.allowed_cidrs or ()),
        default_pool=pools.get(listener.default_pool_id),
        l7policies=tuple(_policy(p, pools) for p in listener.l7policies
                         if _live(p) and p.enabled))


def served_listeners(lb):
    return [li for li in lb.listeners
            if _live(li) and li.enabled and li.protocol in SERVED_PROTOCOLS]


def lb_view(lb, peers=(), local_peer=None):
    pools = {p.id: view for p in lb.pools if (view := pool_view(p)) is not None}
    vips = [lb.vip.ip_address] + [v.ip_address for v in lb.additional_vips]
    listeners = served_listeners(lb) if lb.enabled else []
    return vm.LoadBalancerView(
        id=lb.id, project_id=lb.project_id or '', vips=tuple(a for a in vips if a),
        topology=lb.topology, listeners=tuple(_listener(li, pools) for li in listeners),
        peers=tuple(peers), local_peer=local_peer)
