"""UDP and SCTP listeners as nftables full-NAT: golden files, each checked by `nft -c`.

`UPDATE_GOLDEN=1 pytest tests/unit/dataplane` rewrites the files. `nft -c`
runs in a throw-away network namespace of our own (the check needs the
kernel's nftables, and must never touch the host's); it is skipped, with
the reason, without root, `ip netns` or `nft`.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import uuid
from collections.abc import Iterator
from types import SimpleNamespace

import pytest

from lbaas.agent import nftables as agent_nft
from lbaas.dataplane import build, nftables, render
from lbaas.dataplane import viewmodel as vm
from tests.unit.dataplane import goldens

GOLDEN_DIR = goldens.GOLDEN_DIR
LB_ID = "3c9a7b1e-2d4f-4e6a-8b0c-1a2b3c4d5e6f"
POOL_ID = "7d1e0c2b-5a4f-4b3e-9c8d-0e1f2a3b4c5d"
SCTP_POOL_ID = "9e2f1d3c-6b5a-4c4f-8d9e-1f2a3b4c5d6e"
L1 = "a1b2c3d4-0000-4000-8000-000000000001"
L2 = "a1b2c3d4-0000-4000-8000-000000000002"
UDP_CONNECT = vm.HealthMonitorView(type="UDP-CONNECT", delay=3, timeout=2, max_retries=2)
SCTP_CHECK = vm.HealthMonitorView(type="SCTP", delay=2, timeout=1, max_retries=2)


def member(n: int, address: str, **changes: object) -> vm.MemberView:
    return vm.MemberView(
        id=f"0b7c6f1e-8a2d-4c3b-9e1f-5a6b7c8d9e{n:02d}",
        address=address,
        port=5353,
        **changes,  # type: ignore[arg-type]
    )


def udp_lb(vips: tuple[str, ...], *listeners: vm.UdpListenerView) -> vm.LoadBalancerView:
    return vm.LoadBalancerView(id=LB_ID, project_id="p", vips=vips, udp_listeners=listeners)


def pool(algorithm: str = "ROUND_ROBIN", **changes: object) -> vm.UdpPoolView:
    fields: dict[str, object] = {
        "id": POOL_ID,
        "lb_algorithm": algorithm,
        "members": (
            member(1, "198.18.0.11"),
            member(2, "198.18.0.12", weight=2),
            member(3, "198.18.0.13", weight=3),
        ),
        "health_monitor": UDP_CONNECT,
    }
    fields.update(changes)
    return vm.UdpPoolView(**fields)  # type: ignore[arg-type]


CASES = {
    "nftables_round_robin": lambda: udp_lb(
        ("198.18.0.100",), vm.UdpListenerView(id=L1, port=53, default_pool=pool())
    ),
    "nftables_source_ip_dual_vip": lambda: udp_lb(
        ("198.18.0.100", "fd00:1b::100"),
        vm.UdpListenerView(
            id=L1,
            port=5060,
            default_pool=pool(
                "SOURCE_IP",
                members=(
                    member(1, "198.18.0.11"),
                    member(2, "fd00:1b::12", weight=5),
                    member(3, "198.18.0.13", backup=True),
                    member(4, "198.18.0.14", enabled=False),
                ),
                health_monitor=vm.HealthMonitorView(
                    type="HTTP", delay=5, timeout=3, max_retries=3, url_path="/health"
                ),
            ),
        ),
    ),
    "nftables_persistence_and_no_pool": lambda: udp_lb(
        ("198.18.0.100",),
        vm.UdpListenerView(
            id=L1,
            port=1194,
            default_pool=pool(source_ip_persistence=True, persistence_timeout=60),
        ),
        vm.UdpListenerView(id=L2, port=1195),
    ),
    # An SCTP listener beside a UDP one: same table, `sctp` where UDP has `udp`.
    "nftables_sctp_beside_udp": lambda: udp_lb(
        ("198.18.0.100",),
        vm.UdpListenerView(id=L1, port=53, default_pool=pool()),
        vm.UdpListenerView(
            id=L2,
            port=3868,
            protocol="SCTP",  # type: ignore[arg-type]
            default_pool=pool(
                "SOURCE_IP",
                id=SCTP_POOL_ID,
                protocol="SCTP",
                health_monitor=SCTP_CHECK,
                members=(member(1, "198.18.0.21"), member(2, "198.18.0.22", backup=True)),
            ),
        ),
    ),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_ruleset_golden(name: str) -> None:
    goldens.check(GOLDEN_DIR / f"{name}.nft", nftables.render_nftables(CASES[name]()))


@pytest.mark.parametrize("name", sorted(CASES))
def test_health_plan_golden(name: str) -> None:
    plan = nftables.render_health_plan(CASES[name]())
    goldens.check(GOLDEN_DIR / f"{name}.json", plan)


def test_every_nftables_golden_file_has_a_case() -> None:
    for suffix in ("nft", "json"):
        assert {p.stem for p in GOLDEN_DIR.glob(f"nftables_*.{suffix}")} == set(CASES)


@pytest.fixture(scope="module")
def scratch_netns() -> Iterator[str]:
    reasons = [
        why
        for ok, why in (
            (os.geteuid() == 0, "needs root"),
            (shutil.which("ip") is not None, "needs iproute2"),
            (shutil.which("nft") is not None, "needs nft (apt-get install nftables)"),
        )
        if not ok
    ]
    if reasons:
        print(f"skipping nft checks: {', '.join(reasons)}")
        pytest.skip(", ".join(reasons))
    name = f"lbaas-nftut-{os.getpid()}-{uuid.uuid4().hex[:6]}"
    subprocess.run(["ip", "netns", "add", name], check=True)
    try:
        yield name
    finally:
        subprocess.run(["ip", "netns", "delete", name], check=False)


def nft_in(namespace: str, *args: str, script: str | None = None) -> str:
    result = subprocess.run(
        ["ip", "netns", "exec", namespace, "nft", *args],
        input=script,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


@pytest.mark.parametrize("name", sorted(CASES))
def test_golden_rulesets_pass_nft_check(scratch_netns: str, name: str) -> None:
    nft_in(scratch_netns, "-c", "-f", str(GOLDEN_DIR / f"{name}.nft"))


def test_ruleset_loads_with_members_and_replaces_itself(scratch_netns: str) -> None:
    """The agent's transaction (table, then elements) loads twice in a row:
    the second replaces the first instead of failing on existing objects."""
    lb = CASES["nftables_source_ip_dual_vip"]()
    plan = json.loads(nftables.render_health_plan(lb))
    up = {m.id for li in lb.udp_listeners if li.default_pool for m in li.default_pool.members}
    script = nftables.render_nftables(lb) + agent_nft.elements_script(plan, up)
    for _ in range(2):
        nft_in(scratch_netns, "-f", "-", script=script)
    listed = nft_in(scratch_netns, "list", "table", "inet", "lbaas")
    assert "198.18.0.11 . 5353" in listed and "fd00:1b::12 . 5353" in listed
    assert "198.18.0.13" not in listed  # a backup, while a primary is up
    assert "198.18.0.14" not in listed  # admin down
    nft_in(scratch_netns, "delete", "table", "inet", "lbaas")


def test_selectors_follow_algorithm_and_persistence() -> None:
    rr = nftables.render_nftables(CASES["nftables_round_robin"]())
    assert "numgen inc mod 256" in rr and "jhash" not in rr
    sticky = nftables.render_nftables(CASES["nftables_persistence_and_no_pool"]())
    assert "jhash ip saddr mod 256" in sticky
    both = nftables.render_nftables(CASES["nftables_source_ip_dual_vip"]())
    assert "jhash ip6 saddr" in both and "dnat ip6 to" in both


def test_source_ip_port_is_refused() -> None:
    with pytest.raises(ValueError):
        nftables.render_nftables(
            udp_lb(
                ("198.18.0.100",), vm.UdpListenerView(L1, 53, default_pool=pool("SOURCE_IP_PORT"))
            )
        )


def test_no_udp_listeners_no_files() -> None:
    assert nftables.bundle_files(udp_lb(("198.18.0.100",))) == {}
    files = nftables.bundle_files(CASES["nftables_round_robin"]())
    assert set(files) == {nftables.RULESET_FILE, nftables.HEALTH_FILE}


def test_agent_and_controller_agree_on_file_names() -> None:
    assert (agent_nft.RULESET_FILE, agent_nft.HEALTH_FILE) == (
        nftables.RULESET_FILE,
        nftables.HEALTH_FILE,
    )


def test_udp_listeners_leave_haproxy_output_unchanged() -> None:
    paths = render.RuntimePaths.in_state_dir("/var/lib/lbaas/amphora")
    with_udp = CASES["nftables_round_robin"]()
    without = vm.LoadBalancerView(id=LB_ID, project_id="p", vips=with_udp.vips)
    assert render.render_haproxy(with_udp, paths) == render.render_haproxy(without, paths)


def _row(**fields: object) -> SimpleNamespace:
    fields.setdefault("provisioning_status", "ACTIVE")
    fields.setdefault("enabled", True)
    return SimpleNamespace(**fields)


def test_build_takes_enabled_udp_listeners_and_pools_only() -> None:
    hm = _row(
        type="UDP-CONNECT", delay=3, timeout=2, rise_threshold=2, fall_threshold=3,
        http_method=None, url_path=None, expected_codes=None, http_version=None, domain_name=None,
    )  # fmt: skip
    members = [
        _row(id="m1", ip_address="198.18.0.11", protocol_port=53, weight=1, backup=False,
             monitor_address=None, monitor_port=None),
        _row(id="m2", ip_address="198.18.0.12", protocol_port=53, weight=1, backup=False,
             monitor_address=None, monitor_port=None, provisioning_status="PENDING_DELETE"),
    ]  # fmt: skip
    udp_pool = _row(
        id=POOL_ID, protocol="UDP", lb_algorithm="SOURCE_IP", members=members,
        health_monitor=hm, session_persistence=None,
    )  # fmt: skip
    lb = SimpleNamespace(
        pools=[udp_pool],
        listeners=[
            _row(id=L1, protocol="UDP", protocol_port=53, connection_limit=-1,
                 default_pool_id=POOL_ID),
            _row(id=L2, protocol="UDP", protocol_port=54, connection_limit=-1,
                 default_pool_id=None, enabled=False),
        ],
    )  # fmt: skip
    (listener,) = build.udp_listeners(lb)  # type: ignore[arg-type]
    assert listener.id == L1 and listener.default_pool is not None
    assert [m.id for m in listener.default_pool.members] == ["m1"]
    assert listener.default_pool.health_monitor is not None
    assert listener.default_pool.health_monitor.type == vm.MonitorType.UDP_CONNECT
    assert build.pool_view(udp_pool) is None  # never HAProxy's  # type: ignore[arg-type]


def test_sctp_rules_match_sctp_and_udp_rules_stay_udp() -> None:
    text = nftables.render_nftables(CASES["nftables_sctp_beside_udp"]())
    assert "ip daddr 198.18.0.100 sctp dport 3868 counter name" in text
    assert "ip daddr 198.18.0.100 udp dport 53 counter name" in text
    assert "ip saddr 198.18.0.100 sctp sport 3868" in text
    assert f"map {nftables.map_name(SCTP_POOL_ID, 4)} {{" in text
    assert "ip daddr . sctp dport" in text and "ip daddr . udp dport" in text
    assert "meta l4proto { sctp, udp } masquerade" in text
    only_udp = nftables.render_nftables(CASES["nftables_round_robin"]())
    assert "sctp" not in only_udp and "meta l4proto udp masquerade" in only_udp
    plan = json.loads(nftables.render_health_plan(CASES["nftables_sctp_beside_udp"]()))
    monitors = {p["id"]: p["monitor"]["type"] for p in plan["pools"]}
    assert monitors == {POOL_ID: "UDP-CONNECT", SCTP_POOL_ID: "SCTP"}


def test_build_takes_sctp_listeners_with_sctp_pools() -> None:
    hm = _row(
        type="SCTP", delay=3, timeout=2, rise_threshold=2, fall_threshold=3,
        http_method=None, url_path=None, expected_codes=None, http_version=None, domain_name=None,
    )  # fmt: skip
    sctp_pool = _row(
        id=SCTP_POOL_ID, protocol="SCTP", lb_algorithm="ROUND_ROBIN", members=[],
        health_monitor=hm, session_persistence={"type": "SOURCE_IP"},
    )  # fmt: skip
    lb = SimpleNamespace(
        pools=[sctp_pool],
        listeners=[
            _row(id=L1, protocol="SCTP", protocol_port=3868, connection_limit=-1,
                 default_pool_id=SCTP_POOL_ID),
            _row(id=L2, protocol="TCP", protocol_port=3868, connection_limit=-1,
                 default_pool_id=None),
        ],
    )  # fmt: skip
    (listener,) = build.udp_listeners(lb)  # type: ignore[arg-type]
    assert listener.protocol == vm.L4Protocol.SCTP and listener.default_pool is not None
    assert listener.default_pool.protocol == vm.L4Protocol.SCTP
    assert listener.default_pool.source_ip_persistence
    assert listener.default_pool.health_monitor is not None
    assert listener.default_pool.health_monitor.type == vm.MonitorType.SCTP
    assert build.pool_view(sctp_pool) is None  # never HAProxy's  # type: ignore[arg-type]
