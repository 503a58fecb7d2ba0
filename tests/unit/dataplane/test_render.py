"""What goes into the file: limits, policy order, backends, paths, hashing."""

from __future__ import annotations

import hashlib

import pytest

from lbaas.dataplane import directives
from lbaas.dataplane.render import (
    DEFAULT_MAX_CONNECTIONS,
    RuntimePaths,
    active_policies,
    backends_of,
    config_hash,
    global_maxconn,
    listener_maxconn,
    render_haproxy,
)
from lbaas.dataplane.viewmodel import (
    L7PolicyView,
    L7RuleView,
    ListenerView,
    LoadBalancerView,
    MemberView,
    PoolView,
)

PATHS = RuntimePaths.in_state_dir("/run/lbaas/amp-1")


def _listener(port: int, limit: int = -1, **extra) -> ListenerView:
    return ListenerView(id=f"l{port}", protocol="HTTP", port=port, connection_limit=limit, **extra)


def _lb(*listeners: ListenerView) -> LoadBalancerView:
    return LoadBalancerView(id="lb", project_id="p", vips=("198.18.0.1",), listeners=listeners)


def _pool(pool_id: str, algorithm: str = "ROUND_ROBIN") -> PoolView:
    return PoolView(
        id=pool_id,
        protocol="HTTP",
        lb_algorithm=algorithm,
        members=[MemberView("m", "198.18.1.1", 80)],
    )


def _rule(rule_id: str) -> L7RuleView:
    return L7RuleView(rule_id, "PATH", "STARTS_WITH", "/" + rule_id)


def test_maxconn_sums_listener_limits() -> None:
    assert global_maxconn(_lb(_listener(80, 1000), _listener(81, 2500))) == 3500


def test_maxconn_is_capped_by_the_descriptor_budget() -> None:
    assert global_maxconn(_lb(_listener(80), _listener(81, 100))) == DEFAULT_MAX_CONNECTIONS
    assert global_maxconn(_lb(_listener(80, 50000))) == DEFAULT_MAX_CONNECTIONS
    assert listener_maxconn(_listener(80, 50000), 8000) == 8000
    assert listener_maxconn(_listener(80, -1), 8000) == 8000


def test_maxconn_cap_is_a_parameter() -> None:
    text = render_haproxy(_lb(_listener(80)), PATHS, max_connections=2000)
    assert "    maxconn 2000\n    maxpipes 250\n" in text
    assert global_maxconn(_lb(), 2000) == 2000  # no listeners: the whole budget


def test_source_ip_port_hashes_address_and_port() -> None:
    listener = _listener(80, default_pool=_pool("p", "SOURCE_IP_PORT"))
    text = render_haproxy(_lb(listener), PATHS)
    # The variable is set before the balance line uses it, in the same backend.
    assert (
        "    tcp-request content set-var(sess.src_port) src_port\n"
        "    balance hash src,concat(:,sess.src_port)\n"
    ) in text
    plain = render_haproxy(_lb(_listener(80, default_pool=_pool("p", "SOURCE_IP"))), PATHS)
    assert "src_port" not in plain and "    balance source\n" in plain


def test_policies_follow_octavia_precedence_then_position() -> None:
    pool = _pool("target")
    policies = [
        L7PolicyView("pool-1", "REDIRECT_TO_POOL", 1, rules=[_rule("a")], redirect_pool=pool),
        L7PolicyView("url-2", "REDIRECT_TO_URL", 2, rules=[_rule("b")], redirect_url="http://x/"),
        L7PolicyView("reject-4", "REJECT", 4, rules=[_rule("c")]),
        L7PolicyView(
            "prefix-3", "REDIRECT_PREFIX", 3, rules=[_rule("d")], redirect_prefix="http://y"
        ),
        L7PolicyView("reject-5", "REJECT", 5, rules=[_rule("e")]),
        L7PolicyView("no-rules", "REJECT", 0),
        L7PolicyView("disabled-pool", "REDIRECT_TO_POOL", 6, rules=[_rule("f")]),
    ]
    ordered = active_policies(_listener(80, l7policies=policies))
    assert [p.id for p in ordered] == ["reject-4", "reject-5", "url-2", "prefix-3", "pool-1"]


def test_backends_are_unique_per_listener() -> None:
    shared, extra = _pool("shared"), _pool("extra")
    policies = [
        L7PolicyView(f"p{i}", "REDIRECT_TO_POOL", i, rules=[_rule(f"r{i}")], redirect_pool=pool)
        for i, pool in enumerate([shared, extra, shared])
    ]
    listener = _listener(80, default_pool=shared, l7policies=policies)
    assert [p.id for p in backends_of(listener)] == ["shared", "extra"]
    assert render_haproxy(_lb(listener), PATHS).count("\nbackend shared:l80\n") == 1


def test_rendering_is_deterministic_and_hashed() -> None:
    lb = _lb(_listener(80, default_pool=_pool("p")))
    first, second = render_haproxy(lb, PATHS), render_haproxy(lb, PATHS)
    assert first == second
    assert config_hash(first) == hashlib.sha256(first.encode()).hexdigest()
    assert config_hash(first) != config_hash(first + "\n")


def test_runtime_paths_layout() -> None:
    assert PATHS.stats_socket == "/run/lbaas/amp-1/haproxy/stats.sock"
    assert PATHS.cert("server.pem") == "/run/lbaas/amp-1/certs/server.pem"
    text = render_haproxy(_lb(), PATHS)
    assert "    stats socket /run/lbaas/amp-1/haproxy/stats.sock mode 600 level admin" in text
    assert "    pidfile /run/lbaas/amp-1/haproxy/haproxy.pid\n" in text
    assert "    server-state-file /run/lbaas/amp-1/haproxy/server-state\n" in text


def test_pidfile_and_cert_dir_can_be_left_to_the_command_line() -> None:
    # The agent passes -p and -C <bundle files>: no pidfile, relative certs.
    paths = RuntimePaths.in_state_dir("/run/lbaas/amp-1", cert_dir="certs", pid_file=False)
    assert paths.cert("server.pem") == "certs/server.pem"
    assert "pidfile" not in render_haproxy(_lb(), paths)


@pytest.mark.parametrize("bad", ["/tmp/a b", "/tmp/'x'", "/tmp/#x", "/tmp/$x"])
def test_runtime_paths_refuse_characters_that_need_quoting(bad: str) -> None:
    with pytest.raises(ValueError):
        RuntimePaths.in_state_dir(bad)


@pytest.mark.parametrize("bad", ["../escape.pem", "sub/dir.pem", "a b.pem"])
def test_certificate_names_must_be_plain(bad: str) -> None:
    with pytest.raises(ValueError):
        PATHS.cert(bad)


def test_external_check_only_with_a_ping_monitor() -> None:
    assert "external-check" not in render_haproxy(_lb(_listener(80)), PATHS)


def test_prometheus_listener_is_the_exporter_in_http_mode() -> None:
    listener = ListenerView(id="metrics", protocol="PROMETHEUS", port=9100)
    text = render_haproxy(_lb(listener), PATHS)
    frontend = text.split("frontend metrics\n")[1]
    assert frontend.startswith("    mode http\n")
    assert "    http-request use-service prometheus-exporter\n" in frontend
    assert "default_backend" not in frontend and "\nbackend" not in text


def test_connections_are_logged_in_octavias_format_unless_switched_off() -> None:
    pool = _pool("p")
    quiet = ListenerView(
        id="quiet", protocol="TCP", port=81, default_pool=pool, connection_logging=False
    )
    text = render_haproxy(_lb(_listener(80, default_pool=pool), quiet), PATHS)
    assert "    log /run/lbaas/amp-1/haproxy/log.sock len 8192 local0\n" in text
    assert "defaults\n    log global\n" in text
    http = text.split("frontend l80\n")[1].split("\n\n")[0]
    assert "    log-format p\\ lb\\ %f\\ %ci\\ %cp\\ %t\\ %{+Q}r\\ %ST\\ " in http
    assert "%b\\ %s\\ %Tt\\ %tsc\n" in http  # pool:listener and member
    tcp = text.split("frontend quiet\n")[1].split("\n\n")[0]
    assert "    no log\n" in tcp and "log-format" not in tcp


def test_tcp_log_format_drops_http_fields_and_ids_are_escaped() -> None:
    fmt = directives.log_format("project a", "lb%1", "tcp")
    assert fmt.startswith("project\\ a\\ lb%%1\\ %f\\ ")
    assert "%r" not in fmt and "%ST" not in fmt and "%t\\ -\\ -\\ %B" in fmt


def test_no_log_socket_no_logging() -> None:
    paths = RuntimePaths("/s/stats.sock", "/s/state", "/s/certs", "/s/ping")
    text = render_haproxy(_lb(_listener(80, default_pool=_pool("p"))), paths)
    assert "log" not in text.replace("load-server-state", "")
