"""Golden files: each case renders to exactly its file, and HAProxy accepts it.

`UPDATE_GOLDEN=1 pytest tests/unit/dataplane` rewrites the files; review the
diff before committing. Golden files name a fixed state directory; the
`haproxy -c` test points that at a temporary one holding real certificates.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from lbaas.dataplane.render import RuntimePaths, render_haproxy
from tests.unit.dataplane import cases, cases_l7, goldens

GOLDEN_DIR = goldens.GOLDEN_DIR
GOLDEN_STATE_DIR = "/var/lib/lbaas/amphora"
GOLDEN_PATHS = RuntimePaths.in_state_dir(GOLDEN_STATE_DIR)

CASES = {
    "http_round_robin": cases.http_round_robin,
    "tcp_leastconn_source_ip": cases.tcp_leastconn_source_ip,
    "https_passthrough_tls_hello": cases.https_passthrough,
    "terminated_https": cases.terminated_https,
    "http_monitor_full": cases.http_monitor_full,
    "ping_monitor": cases.ping_monitor,
    "cookie_persistence": cases.cookie_persistence,
    "proxy_protocols": cases.proxy_protocols,
    "member_options": cases.member_options,
    "allowed_cidrs": cases.allowed_cidrs,
    "insert_headers": cases.insert_headers,
    "l7_policies": cases_l7.l7_policies,
    "dual_vip": cases.dual_vip,
    "shared_pool": cases.shared_pool,
    "limits_and_timeouts": cases.limits_and_timeouts,
    "over_budget": cases.over_budget,
    "no_listeners": cases.no_listeners,
    "active_standby": cases.active_standby,
    "pool_reencryption": cases.pool_reencryption,
    "tcp_listener_http_pool": cases.tcp_listener_http_pool,
    "source_ip_port": cases.source_ip_port,
    "prometheus": cases.prometheus,
}


def _golden(name: str) -> Path:
    return GOLDEN_DIR / f"{name}.cfg"


@pytest.mark.parametrize("name", sorted(CASES))
def test_renders_golden(name: str) -> None:
    goldens.check(_golden(name), render_haproxy(CASES[name](), GOLDEN_PATHS))


def test_every_golden_file_has_a_case() -> None:
    assert {p.stem for p in GOLDEN_DIR.glob("*.cfg")} == set(CASES)


@pytest.fixture(scope="module")
def haproxy() -> str:
    binary = shutil.which("haproxy") or (
        "/usr/sbin/haproxy" if os.access("/usr/sbin/haproxy", os.X_OK) else None
    )
    if binary is None:
        pytest.skip("haproxy not installed: cannot run 'haproxy -c' on the golden files")
    return binary


@pytest.mark.parametrize("name", sorted(CASES))
def test_haproxy_accepts_golden(name: str, haproxy: str, state_dir: Path, tmp_path: Path) -> None:
    config = tmp_path / f"{name}.cfg"
    config.write_text(_golden(name).read_text().replace(GOLDEN_STATE_DIR, str(state_dir)))
    result = subprocess.run(
        [haproxy, "-c", "-f", str(config)], capture_output=True, text=True, timeout=30
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    # Warnings are failures too: each one is a directive HAProxy ignores or
    # second-guesses, i.e. a load balancer that does not do what it says.
    assert "[WARNING]" not in output and "[ALERT]" not in output, output
