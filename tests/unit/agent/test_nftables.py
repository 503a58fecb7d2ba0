"""The agent's UDP table: slots by weight, backups, the nft transaction (real
`nft` in a scratch network namespace of our own), rollback and removal, and
the `show stat`-like rows heartbeats carry."""

from __future__ import annotations

import collections
import json
import os
import shutil
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from lbaas.agent import nftables as nft
from lbaas.agent.bundle import BundleStore, InvalidBundle

GOLDEN = Path(__file__).parents[1] / "dataplane" / "golden"
TABLE_TEXT = (GOLDEN / "nftables_round_robin.nft").read_text()
POOL = "7d1e0c2b-5a4f-4b3e-9c8d-0e1f2a3b4c5d"
LISTENER = "a1b2c3d4-0000-4000-8000-000000000001"
MAP = "p_7d1e0c2b5a4f4b3e9c8d0e1f2a3b4c5d_v4"


def _member(n: int, weight: int = 1, **changes: object) -> dict[str, object]:
    return {
        "id": f"m{n}",
        "address": f"198.18.0.1{n}",
        "port": 5353,
        "weight": weight,
        "backup": False,
        "enabled": True,
        **changes,
    }


MEMBERS = [_member(1), _member(2, 2), _member(3, 3), _member(4, backup=True)]
PLAN: dict[str, object] = {
    "table": "inet lbaas",
    "slots": 256,
    "refused_sets": {"4": "refused4", "6": "refused6"},
    "listeners": [
        {
            "id": LISTENER,
            "pool_id": POOL,
            "counters": {w: f"l_a1b2c3d4000040008000000000000001_{w}" for w in ("new", "rx", "tx")},
        }
    ],
    "pools": [{"id": POOL, "maps": {"4": MAP}, "monitor": None, "members": MEMBERS}],
}


def test_slots_follow_weights_and_interleave() -> None:
    owners = nft.slot_owners(MEMBERS[:3], 6)
    assert [m["id"] for m in owners] == ["m3", "m2", "m1", "m3", "m2", "m3"]
    shares = collections.Counter(m["id"] for m in nft.slot_owners(MEMBERS[:3], 256))
    assert shares["m3"] / shares["m1"] == pytest.approx(3, rel=0.05)


def test_backups_only_when_no_primary_is_up() -> None:
    up = {"m1", "m2", "m3", "m4"}
    assert [m["id"] for m in nft.active_members(MEMBERS, up, "4")] == ["m1", "m2", "m3"]
    assert [m["id"] for m in nft.active_members(MEMBERS, {"m4"}, "4")] == ["m4"]
    assert nft.active_members(MEMBERS, up, "6") == []


def test_disabled_and_weight_zero_members_take_no_flows() -> None:
    members = [_member(1, enabled=False), _member(2, 0), _member(3)]
    assert [m["id"] for m in nft.active_members(members, {"m1", "m2", "m3"}, "4")] == ["m3"]


def test_elements_script_flushes_then_fills() -> None:
    script = nft.elements_script(PLAN, {"m1"})
    lines = script.splitlines()
    assert lines[0] == f"flush map inet lbaas {MAP}"
    assert lines[1].startswith(f"add element inet lbaas {MAP} {{ 0 : 198.18.0.11 . 5353, ")
    assert nft.elements_script(PLAN, set()).splitlines() == [f"flush map inet lbaas {MAP}"]


@pytest.fixture
def scratch_netns() -> Iterator[str]:
    missing = [t for t in ("ip", "nft") if shutil.which(t) is None]
    if os.geteuid() != 0 or missing:
        reason = f"needs root and {', '.join(missing) or 'nothing else'}"
        print(f"skipping: {reason}")
        pytest.skip(reason)
    name = f"lbaas-nftag-{os.getpid()}-{uuid.uuid4().hex[:6]}"
    subprocess.run(["ip", "netns", "add", name], check=True)
    try:
        yield name
    finally:
        subprocess.run(["ip", "netns", "delete", name], check=False)


def _table(namespace: str) -> nft.NftTable:
    return nft.NftTable(["ip", "netns", "exec", namespace, "nft"], forwarding=lambda: None)


def _listed(table: nft.NftTable) -> str:
    try:
        return table.run(["list", "table", "inet", "lbaas"])
    except nft.NftError:
        return ""


def test_load_refill_and_remove(scratch_netns: str) -> None:
    table = _table(scratch_netns)
    table.load(TABLE_TEXT, PLAN, {"m1", "m2", "m3"})
    listed = _listed(table)
    assert "198.18.0.13 . 5353" in listed and "198.18.0.14" not in listed
    table.refill({"m4"})  # every primary down: the backup serves
    listed = _listed(table)
    assert "198.18.0.14 . 5353" in listed and "198.18.0.11" not in listed
    assert set(table.counters()) == {f"l_a1b2c3d4000040008000000000000001_{w}" for w in ("new", "rx", "tx")}  # fmt: skip
    table.load(None, None, set())
    assert _listed(table) == "" and table.loaded is None


def test_members_icmp_errors_are_read_per_address_and_port(scratch_netns: str) -> None:
    table = _table(scratch_netns)
    assert table.refused() == {}  # no table yet
    table.load(TABLE_TEXT, PLAN, {"m1"})
    assert table.refused() == {}
    # What the forward chain adds when a member answers a flow with an ICMP error.
    table.run(["add", "element", "inet", "lbaas", "refused4",
               "{ 198.18.0.11 . 5353 counter packets 3 bytes 171 }"])  # fmt: skip
    table.run(["add", "element", "inet", "lbaas", "refused6",
               "{ fd00:1b:0:0::11 . 53 counter packets 1 bytes 90 }"])  # fmt: skip
    assert table.refused() == {("198.18.0.11", 5353): 3, ("fd00:1b::11", 53): 1}
    table.load(None, None, set())


def test_a_refused_ruleset_leaves_the_old_table_serving(scratch_netns: str) -> None:
    table = _table(scratch_netns)
    table.load(TABLE_TEXT, PLAN, {"m1"})
    broken = TABLE_TEXT.replace("numgen inc mod 256", "numgen sideways")
    with pytest.raises(nft.NftError):
        table.load(broken, PLAN, {"m2"})
    listed = _listed(table)
    assert "198.18.0.11 . 5353" in listed and "198.18.0.12" not in listed
    assert table.loaded == TABLE_TEXT
    table.load(None, None, set())


def test_a_table_left_by_an_earlier_agent_is_removed(scratch_netns: str) -> None:
    _table(scratch_netns).load(TABLE_TEXT, PLAN, {"m1"})
    fresh = _table(scratch_netns)  # knows nothing of it
    fresh.load(None, None, set())
    assert _listed(fresh) == ""


def _bundle_dir(tmp_path: Path, ruleset: str) -> str:
    files = tmp_path / "gen" / "files" / "nftables"
    files.mkdir(parents=True)
    (files / "lbaas.nft").write_text(ruleset)
    (files / "udp-health.json").write_text(json.dumps(PLAN))
    return str(tmp_path / "gen")


def test_plane_serves_a_bundle_and_reports_rows(scratch_netns: str, tmp_path: Path) -> None:
    plane = nft.UdpPlane(["ip", "netns", "exec", scratch_netns, "nft"], forwarding=lambda: None)
    bundle_dir = _bundle_dir(tmp_path, TABLE_TEXT)
    plane.serve(bundle_dir)
    plane.ensure(bundle_dir)  # already loaded: nothing to do
    try:
        rows = {(r["pxname"], r["svname"]): r for r in plane.stat_rows()}
        assert rows[(LISTENER, "FRONTEND")]["status"] == "OPEN"
        assert rows[(f"{POOL}:{LISTENER}", "BACKEND")]["status"] == "UP"
        assert rows[(f"{POOL}:{LISTENER}", "m1")]["status"] == "no check"
    finally:
        plane.stop()
    assert plane.stat_rows() == []
    assert _listed(plane.table) == ""


def test_bundle_store_checks_the_ruleset(tmp_path: Path) -> None:
    if shutil.which("nft") is None or os.geteuid() != 0:
        pytest.skip("needs root and nft")
    store = BundleStore(str(tmp_path / "state"))
    store._check_nftables(_bundle_dir(tmp_path / "good", TABLE_TEXT))
    with pytest.raises(InvalidBundle):
        store._check_nftables(_bundle_dir(tmp_path / "bad", TABLE_TEXT.replace("udp", "udx")))


def test_heartbeat_reports_udp_listeners_pools_and_members(tmp_path: Path) -> None:
    from lbaas.agent.heartbeat import CounterBook, build_message

    ids = [f"0b7c6f1e-8a2d-4c3b-9e1f-5a6b7c8d9e0{n}" for n in (1, 2)]
    members = [{**_member(n + 1), "id": member_id} for n, member_id in enumerate(ids)]
    monitor = {"type": "UDP-CONNECT", "delay": 3600, "max_retries_down": 3}
    plan = {**PLAN, "pools": [{"id": POOL, "maps": {"4": MAP}, "members": members}]}
    plane = nft.UdpPlane(["false"], forwarding=lambda: None)  # no table: counters read 0
    plane.health.configure(plan)
    plane._plan = plan
    plan["pools"][0]["monitor"] = monitor  # type: ignore[index]  # no checker thread
    for _ in range(3):
        plane.health.record(monitor, [members[1]], [False])
    message = build_message(
        "amp", 1, None, plane.stat_rows(), CounterBook(str(tmp_path / "hb.json"))
    )
    listener = message["listeners"][LISTENER]  # type: ignore[index]
    assert listener["status"] == "OPEN" and listener["stats"]["totconns"] == 0
    pool = message["pools"][f"{POOL}:{LISTENER}"]  # type: ignore[index]
    assert pool["status"] == "UP"
    assert pool["members"] == {ids[0]: "UP", ids[1]: "DOWN"}
