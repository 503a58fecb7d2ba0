"""Load balancers for the golden-file tests, one per HAProxy feature area.

Ids are short readable names (valid HAProxy names, as UUIDs are) except in the
minimal case, which uses real UUIDs.
"""

from __future__ import annotations

from lbaas.dataplane.viewmodel import (
    HealthMonitorView,
    L7PolicyView,
    L7RuleView,
    ListenerTLSView,
    ListenerView,
    LoadBalancerView,
    MemberView,
    PeerView,
    PoolTLSView,
    PoolView,
    SessionPersistenceView,
)

VIP4 = "198.18.0.100"
VIP6 = "fd00:1b::100"


def members(prefix: str, count: int = 3, port: int = 8080) -> list[MemberView]:
    return [
        MemberView(id=f"{prefix}-m{i}", address=f"198.18.1.{10 + i}", port=port)
        for i in range(1, count + 1)
    ]


def lb(name: str, *listeners: ListenerView, vips=(VIP4,), **extra) -> LoadBalancerView:
    return LoadBalancerView(
        id=f"lb-{name}", project_id="project-a", vips=vips, listeners=listeners, **extra
    )


def http_round_robin() -> LoadBalancerView:
    pool = PoolView(
        id="7d0f3a52-3b8e-4e8e-9a53-0f6c1b2c3d4e",
        protocol="HTTP",
        lb_algorithm="ROUND_ROBIN",
        members=[
            MemberView(
                id=f"0a1b2c3d-0000-4000-8000-00000000000{i}", address=f"198.18.1.1{i}", port=8080
            )
            for i in (1, 2, 3)
        ],
    )
    listener = ListenerView(
        id="5f2e4c1a-9b7d-4a3e-8c6f-1d2e3f4a5b6c", protocol="HTTP", port=80, default_pool=pool
    )
    return LoadBalancerView(
        id="3c9a7b1e-2d4f-4e6a-8b0c-1a2b3c4d5e6f",
        project_id="project-a",
        vips=[VIP4],
        listeners=[listener],
    )


def tcp_leastconn_source_ip() -> LoadBalancerView:
    pool = PoolView(
        id="pool-tcp",
        protocol="TCP",
        lb_algorithm="LEAST_CONNECTIONS",
        members=members("tcp", port=5432),
        session_persistence=SessionPersistenceView("SOURCE_IP"),
        health_monitor=HealthMonitorView("TCP", delay=5, timeout=3, max_retries=3),
    )
    return lb("tcp", ListenerView(id="listener-tcp", protocol="TCP", port=5432, default_pool=pool))


def https_passthrough() -> LoadBalancerView:
    pool = PoolView(
        id="pool-https",
        protocol="HTTPS",
        lb_algorithm="SOURCE_IP",
        members=members("https", port=443),
        health_monitor=HealthMonitorView(
            "TLS-HELLO", delay=10, timeout=5, max_retries=2, max_retries_down=2
        ),
    )
    return lb(
        "https", ListenerView(id="listener-https", protocol="HTTPS", port=443, default_pool=pool)
    )


X_SSL_HEADERS = [
    "X-SSL-Client-Verify",
    "X-SSL-Client-Has-Cert",
    "X-SSL-Client-DN",
    "X-SSL-Client-CN",
    "X-SSL-Issuer",
    "X-SSL-Client-SHA1",
    "X-SSL-Client-Not-Before",
    "X-SSL-Client-Not-After",
]


def terminated_https() -> LoadBalancerView:
    tls = ListenerTLSView(
        default_cert="default.pem",
        sni_certs=["sni-api.pem", "sni-static.pem"],
        client_auth="MANDATORY",
        client_ca="client-ca.pem",
        client_crl="client.crl",
        versions=["TLSv1.2", "TLSv1.3"],
        ciphers="TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256:"
        "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384",
        alpn=["h2", "http/1.1"],
        hsts_max_age=31536000,
        hsts_include_subdomains=True,
        hsts_preload=True,
    )
    pool_tls = PoolTLSView(
        client_cert="pool-client.pem",
        ca_cert="pool-ca.pem",
        crl="pool.crl",
        versions=["TLSv1.3"],
        alpn=["http/1.1"],
    )
    monitor = HealthMonitorView(
        "HTTPS",
        delay=5,
        timeout=3,
        max_retries=2,
        url_path="/healthz",
        http_version="1.1",
        domain_name="www.example.test",
    )
    pool = PoolView(
        id="pool-reencrypt",
        protocol="HTTP",
        lb_algorithm="ROUND_ROBIN",
        members=members("tls", port=8443),
        health_monitor=monitor,
        tls=pool_tls,
    )
    listener = ListenerView(
        id="listener-tls",
        protocol="TERMINATED_HTTPS",
        port=443,
        default_pool=pool,
        tls=tls,
        insert_headers=["X-Forwarded-Proto", *X_SSL_HEADERS],
    )
    return lb("tls", listener)


def http_monitor_full() -> LoadBalancerView:
    def monitored_pool(name: str, codes: str) -> PoolView:
        monitor = HealthMonitorView(
            "HTTP",
            delay=7,
            timeout=4,
            max_retries=2,
            max_retries_down=5,
            http_method="HEAD",
            url_path="/status/check?full=1",
            expected_codes=codes,
            http_version=1.1,
            domain_name="app.example.test",
        )
        return PoolView(
            id=f"pool-{name}",
            protocol="HTTP",
            lb_algorithm="ROUND_ROBIN",
            members=members(name),
            health_monitor=monitor,
        )

    list_pool = monitored_pool("codes-list", "200, 202,204")
    range_pool = monitored_pool("codes-range", "150-349")
    old_http = HealthMonitorView(
        "HTTP", delay=3, timeout=2, max_retries=1, http_version="1.0", expected_codes="200"
    )
    plain = PoolView(
        id="pool-http10",
        protocol="HTTP",
        lb_algorithm="ROUND_ROBIN",
        members=members("http10", 1),
        health_monitor=old_http,
    )
    disabled = HealthMonitorView("HTTP", delay=3, timeout=2, max_retries=1, enabled=False)
    unmonitored = PoolView(
        id="pool-hm-disabled",
        protocol="HTTP",
        lb_algorithm="ROUND_ROBIN",
        members=members("hm-off", 1),
        health_monitor=disabled,
    )
    return lb(
        "monitors",
        *[
            ListenerView(id=f"listener-{i}", protocol="HTTP", port=8000 + i, default_pool=pool)
            for i, pool in enumerate([list_pool, range_pool, plain, unmonitored], start=1)
        ],
    )


def ping_monitor() -> LoadBalancerView:
    monitor = HealthMonitorView("PING", delay=2, timeout=1, max_retries=3, max_retries_down=2)
    pool = PoolView(
        id="pool-ping",
        protocol="TCP",
        lb_algorithm="ROUND_ROBIN",
        members=members("ping", 2, port=22),
        health_monitor=monitor,
    )
    return lb("ping", ListenerView(id="listener-ssh", protocol="TCP", port=22, default_pool=pool))


def cookie_persistence() -> LoadBalancerView:
    app = PoolView(
        id="pool-app-cookie",
        protocol="HTTP",
        lb_algorithm="ROUND_ROBIN",
        members=members("app"),
        session_persistence=SessionPersistenceView("APP_COOKIE", "JSESSIONID"),
    )
    http = PoolView(
        id="pool-http-cookie",
        protocol="HTTP",
        lb_algorithm="ROUND_ROBIN",
        members=members("cookie"),
        session_persistence=SessionPersistenceView("HTTP_COOKIE"),
    )
    return lb(
        "cookies",
        ListenerView(id="listener-app", protocol="HTTP", port=80, default_pool=app),
        ListenerView(id="listener-cookie", protocol="HTTP", port=81, default_pool=http),
    )


def proxy_protocols() -> LoadBalancerView:
    proxy = PoolView(
        id="pool-proxy", protocol="PROXY", lb_algorithm="ROUND_ROBIN", members=members("proxy", 2)
    )
    proxy_v2 = PoolView(
        id="pool-proxyv2",
        protocol="PROXYV2",
        lb_algorithm="ROUND_ROBIN",
        members=members("proxyv2", 2),
    )
    return lb(
        "proxy",
        ListenerView(id="listener-http", protocol="HTTP", port=80, default_pool=proxy),
        ListenerView(id="listener-tcp", protocol="TCP", port=25, default_pool=proxy_v2),
    )


def member_options() -> LoadBalancerView:
    pool = PoolView(
        id="pool-members",
        protocol="HTTP",
        lb_algorithm="ROUND_ROBIN",
        health_monitor=HealthMonitorView("TCP", delay=5, timeout=3, max_retries=3),
        members=[
            MemberView(id="member-normal", address="198.18.1.11", port=80, weight=10),
            MemberView(id="member-backup", address="198.18.1.12", port=80, backup=True),
            MemberView(id="member-drain", address="198.18.1.13", port=80, weight=0),
            MemberView(id="member-disabled", address="198.18.1.14", port=80, enabled=False),
            MemberView(
                id="member-monitored",
                address="198.18.1.15",
                port=80,
                monitor_address="198.18.2.15",
                monitor_port=9000,
            ),
            MemberView(id="member-v6", address="fd00:1b::15", port=80, monitor_port=9000),
        ],
    )
    empty = PoolView(id="pool-empty", protocol="HTTP", lb_algorithm="ROUND_ROBIN")
    return lb(
        "members",
        ListenerView(id="listener-members", protocol="HTTP", port=80, default_pool=pool),
        ListenerView(id="listener-empty", protocol="HTTP", port=81, default_pool=empty),
    )


def allowed_cidrs() -> LoadBalancerView:
    pool = PoolView(
        id="pool-acl", protocol="TCP", lb_algorithm="ROUND_ROBIN", members=members("acl", 2)
    )
    cidrs = ["198.18.0.0/16", "203.0.113.7/32", "fd00:1b::/48"]
    return lb(
        "cidrs",
        ListenerView(
            id="listener-tcp", protocol="TCP", port=443, default_pool=pool, allowed_cidrs=cidrs
        ),
        ListenerView(id="listener-http", protocol="HTTP", port=80, allowed_cidrs=cidrs),
        vips=(VIP4, VIP6),
    )


def insert_headers() -> LoadBalancerView:
    pool = PoolView(
        id="pool-headers", protocol="HTTP", lb_algorithm="ROUND_ROBIN", members=members("hdr", 1)
    )
    headers = [
        "X-Forwarded-For",
        "X-Forwarded-Port",
        "X-Forwarded-Proto",
        "X-Real-IP",
        "X-Client-IP",
        "X-Forwarded-IP",
    ]
    return lb(
        "headers",
        ListenerView(
            id="listener-headers",
            protocol="HTTP",
            port=80,
            default_pool=pool,
            insert_headers=headers,
        ),
    )


def dual_vip() -> LoadBalancerView:
    web = PoolView(
        id="pool-web",
        protocol="HTTP",
        lb_algorithm="ROUND_ROBIN",
        members=[MemberView("web-v4", "198.18.1.11", 80), MemberView("web-v6", "fd00:1b::11", 80)],
    )
    db = PoolView(
        id="pool-db",
        protocol="TCP",
        lb_algorithm="SOURCE_IP",
        members=members("db", 2, port=3306),
        session_persistence=SessionPersistenceView("SOURCE_IP"),
    )
    return lb(
        "dual",
        ListenerView(id="listener-web", protocol="HTTP", port=80, default_pool=web),
        ListenerView(id="listener-db", protocol="TCP", port=3306, default_pool=db),
        vips=(VIP4, VIP6),
    )


def shared_pool() -> LoadBalancerView:
    pool = PoolView(
        id="pool-shared", protocol="HTTP", lb_algorithm="ROUND_ROBIN", members=members("shared")
    )
    by_path = L7PolicyView(
        id="policy-same-pool",
        action="REDIRECT_TO_POOL",
        position=1,
        redirect_pool=pool,
        rules=[L7RuleView("rule-api", "PATH", "STARTS_WITH", "/api")],
    )
    return lb(
        "shared",
        ListenerView(
            id="listener-80", protocol="HTTP", port=80, default_pool=pool, l7policies=[by_path]
        ),
        ListenerView(id="listener-8080", protocol="HTTP", port=8080, default_pool=pool),
    )


def limits_and_timeouts() -> LoadBalancerView:
    pool = PoolView(
        id="pool-limits", protocol="HTTP", lb_algorithm="ROUND_ROBIN", members=members("lim", 2)
    )
    tcp_pool = PoolView(
        id="pool-limits-tcp",
        protocol="TCP",
        lb_algorithm="ROUND_ROBIN",
        members=members("limtcp", 2),
    )
    return lb(
        "limits",
        ListenerView(
            id="listener-limited",
            protocol="HTTP",
            port=80,
            default_pool=pool,
            connection_limit=1000,
            timeout_client=30000,
            timeout_connect=2500,
            timeout_server=120000,
            timeout_tcp_inspect=0,
        ),
        ListenerView(
            id="listener-inspect",
            protocol="TCP",
            port=8443,
            default_pool=tcp_pool,
            connection_limit=2500,
            timeout_client=600000,
            timeout_connect=1000,
            timeout_server=600000,
            timeout_tcp_inspect=3000,
        ),
    )


def over_budget() -> LoadBalancerView:
    """Limits beyond the file-descriptor budget are capped, not rendered as asked."""
    pool = PoolView(
        id="pool-big", protocol="TCP", lb_algorithm="ROUND_ROBIN", members=members("big", 1)
    )
    return lb(
        "budget",
        ListenerView(id="listener-unlimited", protocol="TCP", port=80, default_pool=pool),
        ListenerView(
            id="listener-huge", protocol="TCP", port=81, default_pool=pool, connection_limit=50000
        ),
    )


def no_listeners() -> LoadBalancerView:
    return lb("empty")


def active_standby() -> LoadBalancerView:
    sticky = PoolView(
        id="pool-sticky",
        protocol="HTTP",
        lb_algorithm="ROUND_ROBIN",
        members=members("sticky", 2),
        session_persistence=SessionPersistenceView("SOURCE_IP"),
    )
    app = PoolView(
        id="pool-app",
        protocol="HTTP",
        lb_algorithm="ROUND_ROBIN",
        members=members("appck", 2),
        session_persistence=SessionPersistenceView("APP_COOKIE", "SESSION"),
    )
    return lb(
        "pair",
        ListenerView(id="listener-sticky", protocol="HTTP", port=80, default_pool=sticky),
        ListenerView(id="listener-app", protocol="HTTP", port=81, default_pool=app),
        topology="ACTIVE_STANDBY",
        local_peer="amp-a",
        peers=[PeerView("amp-a", "198.19.0.21"), PeerView("amp-b", "198.19.0.22")],
    )


def pool_reencryption() -> LoadBalancerView:
    """TLS to members without a CA (no verification) behind a plain HTTP listener."""
    tls = PoolTLSView(
        versions=["TLSv1.2", "TLSv1.3"],
        ciphers="ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256",
        alpn=["h2", "http/1.1"],
    )
    monitor = HealthMonitorView(
        "HTTPS", delay=5, timeout=3, max_retries=2, url_path="/health", expected_codes="200-299"
    )
    pool = PoolView(
        id="pool-tls-noverify",
        protocol="HTTP",
        lb_algorithm="ROUND_ROBIN",
        members=members("tlsnv", 2, port=8443),
        health_monitor=monitor,
        tls=tls,
    )
    return lb(
        "reencrypt", ListenerView(id="listener-plain", protocol="HTTP", port=80, default_pool=pool)
    )


def tcp_listener_http_pool() -> LoadBalancerView:
    """A TCP listener may use an HTTP pool: HAProxy upgrades the stream to HTTP."""
    monitor = HealthMonitorView("HTTP", delay=5, timeout=3, max_retries=2)
    pool = PoolView(
        id="pool-http-behind-tcp",
        protocol="HTTP",
        lb_algorithm="ROUND_ROBIN",
        members=members("upg", 2),
        health_monitor=monitor,
        session_persistence=SessionPersistenceView("HTTP_COOKIE"),
    )
    return lb(
        "upgrade",
        ListenerView(
            id="listener-tcp",
            protocol="TCP",
            port=80,
            default_pool=pool,
            insert_headers=["X-Forwarded-For"],
        ),
    )


def source_ip_port() -> LoadBalancerView:
    """SOURCE_IP_PORT hashes the client's address and port, in tcp and http mode."""
    tcp = PoolView(
        id="pool-tcp",
        protocol="TCP",
        lb_algorithm="SOURCE_IP_PORT",
        members=members("tcp", 2, port=5432),
    )
    http = PoolView(
        id="pool-http", protocol="HTTP", lb_algorithm="SOURCE_IP_PORT", members=members("web", 2)
    )
    return lb(
        "sip-port",
        ListenerView(id="listener-tcp", protocol="TCP", port=5432, default_pool=tcp),
        ListenerView(id="listener-http", protocol="HTTP", port=80, default_pool=http),
        vips=(VIP4, VIP6),
    )


def prometheus() -> LoadBalancerView:
    """A PROMETHEUS listener is HAProxy's exporter on the listener's port,
    behind its allowed_cidrs, next to an ordinary listener."""
    pool = PoolView(
        id="pool-web", protocol="HTTP", lb_algorithm="ROUND_ROBIN", members=members("web", 1)
    )
    return lb(
        "metrics",
        ListenerView(id="listener-http", protocol="HTTP", port=80, default_pool=pool),
        ListenerView(
            id="listener-prometheus",
            protocol="PROMETHEUS",
            port=9100,
            connection_limit=100,
            allowed_cidrs=["198.18.0.0/24"],
        ),
    )
