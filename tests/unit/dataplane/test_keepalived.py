"""keepalived for ACTIVE_STANDBY: the view's rules, golden files, and
`keepalived --config-test` on each golden file.

`UPDATE_GOLDEN=1 pytest tests/unit/dataplane` rewrites the files. The config
test needs the interface the file names, so it runs in a throw-away network
namespace (`unshare --net`) holding a veth of that name; it is skipped
without root, `unshare` or keepalived.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from lbaas.agent.keepalived import configured_vips
from lbaas.dataplane.keepalived import (
    KeepalivedPaths,
    VrrpInstanceView,
    VrrpTimers,
    render_check_script,
    render_keepalived,
    seconds,
)
from tests.unit.dataplane import goldens

GOLDEN_DIR = goldens.GOLDEN_DIR
PATHS = KeepalivedPaths.in_state_dir("/var/lib/lbaas/amphora")
LB_ID = "3c9a7b1e-2d4f-4e6a-8b0c-1a2b3c4d5e6f"
IFACE = "eth-5fd5b4"


def pair_member(**changes: object) -> VrrpInstanceView:
    fields: dict[str, object] = {
        "lb_id": LB_ID,
        "amphora_id": "0b7c6f1e-8a2d-4c3b-9e1f-5a6b7c8d9e01",
        "interface": IFACE,
        "virtual_router_id": 1,
        "priority": 100,
        "source_ip": "198.18.0.254",
        "peer_ips": ("198.18.0.253",),
        "vips": ("198.18.0.10",),
    }
    fields.update(changes)
    return VrrpInstanceView(**fields)  # type: ignore[arg-type]


CASES = {
    "keepalived_ipv4_master": lambda: pair_member(),
    "keepalived_dual_vip_backup": lambda: pair_member(
        amphora_id="0b7c6f1e-8a2d-4c3b-9e1f-5a6b7c8d9e02",
        priority=90,
        source_ip="198.18.0.253",
        peer_ips=["198.18.0.254"],
        vips=["198.18.0.10", "fd00:1b::10"],
        timers=VrrpTimers(advert_int=0.5, check_interval=2, fail_count=3, success_count=1),
    ),
    "keepalived_ipv6_vrrp": lambda: pair_member(
        virtual_router_id=7,
        source_ip="fd00:1b::ffff:fffe",
        peer_ips=["fd00:1b::ffff:fffd"],
        vips=["fd00:1b::10", "198.18.0.10"],
        timers=VrrpTimers(advert_int=1, garp_refresh_interval=0),
    ),
}


def _golden(name: str) -> Path:
    return GOLDEN_DIR / f"{name}.conf"


@pytest.mark.parametrize("name", sorted(CASES))
def test_renders_golden(name: str) -> None:
    goldens.check(_golden(name), render_keepalived(CASES[name](), PATHS))


def test_check_script_golden() -> None:
    goldens.check(GOLDEN_DIR / "check_haproxy.sh", render_check_script(PATHS))


def test_every_keepalived_golden_file_has_a_case() -> None:
    assert {p.stem for p in GOLDEN_DIR.glob("*.conf")} == set(CASES)


def test_vips_split_by_the_vrrp_family() -> None:
    view = pair_member(vips=["198.18.0.10", "fd00:1b::10", "198.18.0.11"])
    assert view.announced_vips() == ["198.18.0.10/32", "198.18.0.11/32"]
    assert view.excluded_vips() == ["fd00:1b::10/128"]
    text = render_keepalived(view, PATHS)
    assert "virtual_ipaddress_excluded" in text
    assert "authentication" not in text  # VRRPv3 has none (see the module)
    assert "state BACKUP" in text and "nopreempt" in text and "version 3" in text


def test_the_agent_finds_every_vip_it_may_have_to_remove() -> None:
    view = pair_member(vips=["198.18.0.10", "fd00:1b::10"])
    assert configured_vips(render_keepalived(view, PATHS)) == {
        ("198.18.0.10/32", IFACE),
        ("fd00:1b::10/128", IFACE),
    }
    assert configured_vips("") == set()


def test_single_vip_config_has_no_excluded_block() -> None:
    assert "virtual_ipaddress_excluded" not in render_keepalived(pair_member(), PATHS)


@pytest.mark.parametrize(
    "changes",
    [
        {"virtual_router_id": 0},
        {"virtual_router_id": 256},
        {"priority": 255},
        {"vips": ()},
        {"peer_ips": ("fd00:1b::1",)},  # another family than the VRRP address
        {"vips": ("not-an-address",)},
        {"interface": "eth0 dev lo"},
        {"source_ip": "198.18.0.1}"},
    ],
)
def test_invalid_views_are_refused(changes: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        pair_member(**changes)


@pytest.mark.parametrize(
    "timers",
    [
        {"advert_int": 0.001},
        {"advert_int": 41},
        {"check_interval": 0},
        {"fail_count": 0},
        {"garp_refresh_count": 0},
    ],
)
def test_invalid_timers_are_refused(timers: dict[str, float]) -> None:
    with pytest.raises(ValueError):
        VrrpTimers(**timers)  # type: ignore[arg-type]


def test_paths_must_be_plain_and_absolute() -> None:
    with pytest.raises(ValueError):
        KeepalivedPaths.in_state_dir("relative/dir")
    with pytest.raises(ValueError):
        KeepalivedPaths.in_state_dir("/state dir")


@pytest.mark.parametrize(
    ("value", "text"), [(0.2, "0.2"), (1, "1"), (1.25, "1.25"), (0.05, "0.05")]
)
def test_seconds(value: float, text: str) -> None:
    assert seconds(value) == text


@pytest.fixture(scope="module")
def keepalived_bin() -> str:
    binary = shutil.which("keepalived") or "/usr/sbin/keepalived"
    if not os.access(binary, os.X_OK):
        pytest.skip("keepalived not installed: cannot run 'keepalived --config-test'")
    if os.geteuid() != 0 or shutil.which("unshare") is None or shutil.which("ip") is None:
        pytest.skip("the config test needs root, unshare and ip (a namespace with the interface)")
    return binary


@pytest.mark.parametrize("name", sorted(CASES))
def test_keepalived_accepts_golden(name: str, keepalived_bin: str, tmp_path: Path) -> None:
    config = tmp_path / "keepalived.conf"
    config.write_text(_golden(name).read_text())
    script = (
        f"ip link add {IFACE} type veth peer name peer0 && "
        f'exec {keepalived_bin} --config-test -f "$1"'
    )
    result = subprocess.run(
        ["unshare", "--net", "sh", "-c", script, "sh", str(config)],
        capture_output=True,
        text=True,
        timeout=30,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert "WARNING" not in output and "ignoring" not in output.lower(), output
