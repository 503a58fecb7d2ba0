"""The agent's heartbeats: messages built from canned `show stat` rows, the
counters kept across beats and restarts, and real datagrams on loopback."""

import itertools
import json
import logging
import os
import socket
import stat
import time

import pytest

from lbaas import config, wire
from lbaas.agent import heartbeat, main
from lbaas.agent.heartbeat import CounterBook, HeartbeatSender, build_message
from lbaas.drivers.netns import Fabric, NetnsCompute
from lbaas.drivers.netns.layout import AmphoraRecord

AMPHORA = "4b0e5d4e-3c1a-4f4c-9a43-0d0a1c2b3e01"
LISTENER = "11111111-1111-4111-8111-111111111111"
FULL_LISTENER = "22222222-2222-4222-8222-222222222222"
POOL = "33333333-3333-4333-8333-333333333333"
DOWN_POOL = "44444444-4444-4444-8444-444444444444"
MEMBERS = [f"5555555{n}-5555-4555-8555-555555555555" for n in range(5)]
KEY = b"heartbeat key"


def frontend(name, scur=0, slim=100, bout=0, bin_=0, stot=0, ereq=0, status="OPEN"):
    return {
        "pxname": name,
        "svname": "FRONTEND",
        "scur": scur,
        "slim": slim,
        "bout": bout,
        "bin": bin_,
        "stot": stot,
        "ereq": ereq,
        "status": status,
    }


def server(proxy, name, status):
    return {"pxname": proxy, "svname": name, "scur": 0, "slim": None, "status": status}


def canned_rows(**counters):
    """One listener with two pools, a full listener, and HAProxy's own proxies."""
    pool, down = f"{POOL}:{LISTENER}", f"{DOWN_POOL}:{LISTENER}"
    return [
        frontend("stats", scur=1, stot=9),
        server("stats", "BACKEND", "UP"),
        frontend(LISTENER, scur=3, **counters),
        frontend(FULL_LISTENER, scur=10, slim=10),
        server(pool, MEMBERS[0], "UP"),
        server(pool, MEMBERS[1], "no check"),
        server(pool, MEMBERS[2], "DRAIN"),
        server(pool, MEMBERS[3], "UP 1/3"),
        server(pool, "backup-not-ours", "UP"),
        server(pool, "BACKEND", "UP"),
        server(down, MEMBERS[4], "MAINT"),
        server(down, "BACKEND", "DOWN"),
        server(f"{POOL}:not-a-listener", MEMBERS[0], "UP"),
    ]


class FakeSource:
    def __init__(self, rows=None, digest="d1"):
        self.rows = rows
        self.digest = digest
        self.failure = None
        self.reads = 0

    def stat_rows(self, timeout):
        self.reads += 1
        if self.failure is not None:
            raise self.failure
        return self.rows

    def running_digest(self):
        return self.digest


@pytest.fixture
def receiver():
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    sock.settimeout(5.0)
    yield sock
    sock.close()


def sender_for(tmp_path, source, addresses, interval=1.0):
    return HeartbeatSender(AMPHORA, str(tmp_path), source, addresses, KEY, interval)


# -- building the message --------------------------------------------------------------


def test_message_maps_listeners_pools_and_members(tmp_path):
    book = CounterBook(str(tmp_path / "hb.json"))
    message = build_message(AMPHORA, 7, "abc", canned_rows(), book)
    assert message["id"] == AMPHORA
    assert message["seq"] == 7
    assert message["ver"] == 3
    assert message["digest"] == "abc"
    assert set(message["listeners"]) == {LISTENER, FULL_LISTENER}
    assert message["listeners"][LISTENER]["status"] == "OPEN"
    assert message["listeners"][FULL_LISTENER]["status"] == "FULL"
    assert message["pools"] == {
        f"{POOL}:{LISTENER}": {
            "status": "UP",
            "members": {
                MEMBERS[0]: "UP",
                MEMBERS[1]: "no check",
                MEMBERS[2]: "DRAIN",
                MEMBERS[3]: "UP 1/3",
            },
        },
        f"{DOWN_POOL}:{LISTENER}": {"status": "DOWN", "members": {MEMBERS[4]: "MAINT"}},
    }


@pytest.mark.parametrize(
    ("scur", "slim", "status", "expected"),
    [
        (5, 5, "OPEN", "FULL"),
        (4, 5, "OPEN", "OPEN"),
        (5, 0, "OPEN", "OPEN"),
        (0, None, "STOP", "STOP"),
    ],
)
def test_listener_status(scur, slim, status, expected):
    assert heartbeat.listener_status(frontend(LISTENER, scur, slim, status=status)) == expected


def test_stats_are_deltas_and_totals_running_sums(tmp_path):
    book = CounterBook(str(tmp_path / "hb.json"))

    def beat(**counters):
        rows = canned_rows(**counters)
        return build_message(AMPHORA, 1, None, rows, book)["listeners"][LISTENER]

    first = beat(bout=100, bin_=10, stot=2, ereq=1)
    assert first["stats"] == {"tx": 100, "rx": 10, "conns": 3, "totconns": 2, "ereq": 1}
    assert first["totals"] == {"tx": 100, "rx": 10, "totconns": 2, "ereq": 1}
    second = beat(bout=150, bin_=30, stot=5, ereq=1)
    assert second["stats"] == {"tx": 50, "rx": 20, "conns": 3, "totconns": 3, "ereq": 0}
    assert second["totals"] == {"tx": 150, "rx": 30, "totconns": 5, "ereq": 1}
    # A reload: HAProxy counts from zero again, so the raw values are all new.
    reloaded = beat(bout=40, bin_=40, stot=1, ereq=0)
    assert reloaded["stats"] == {"tx": 40, "rx": 40, "conns": 3, "totconns": 1, "ereq": 0}
    assert reloaded["totals"] == {"tx": 190, "rx": 70, "totconns": 6, "ereq": 1}


def test_haproxy_not_running_sends_an_empty_heartbeat_then_counts_afresh(tmp_path):
    source = FakeSource(canned_rows(bout=100))
    sender = sender_for(tmp_path, source, [])
    assert sender.beat()["listeners"][LISTENER]["totals"]["tx"] == 100
    source.rows = None
    message = sender.beat()
    assert (message["listeners"], message["pools"], message["digest"]) == ({}, {}, "d1")
    # Started again, HAProxy reports 60 bytes: all of them new, though fewer than before.
    source.rows = canned_rows(bout=160)
    assert sender.beat()["listeners"][LISTENER]["stats"]["tx"] == 160
    source.rows = canned_rows(bout=200)
    listener = sender.beat()["listeners"][LISTENER]
    assert (listener["stats"]["tx"], listener["totals"]["tx"]) == (40, 300)


def test_unreadable_stats_skip_the_beat(tmp_path, receiver, caplog):
    source = FakeSource(canned_rows())
    sender = sender_for(tmp_path, source, [receiver.getsockname()])
    source.failure = ConnectionRefusedError("refused")
    with caplog.at_level(logging.WARNING, logger=heartbeat.__name__):
        assert sender.beat() is None
        assert sender.beat() is None
    assert len([r for r in caplog.records if "do not answer" in r.message]) == 1
    source.failure = None
    message = sender.beat()
    received = wire.decode_heartbeat(receiver.recv(65536), KEY)
    assert received["seq"] == message["seq"]


def test_totals_and_seq_survive_a_restart(tmp_path, monkeypatch):
    source = FakeSource(canned_rows(bout=100, stot=4))
    first = sender_for(tmp_path, source, [])
    seqs = [first.beat()["seq"], first.beat()["seq"]]
    assert seqs[1] > seqs[0]
    path = tmp_path / heartbeat.STATE_FILE
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    # The clock went backwards meanwhile: the sequence still goes on upwards.
    monkeypatch.setattr(heartbeat.time, "time", lambda: 1.0)
    source.rows = canned_rows(bout=130, stot=5)
    second = sender_for(tmp_path, source, [])
    message = second.beat()
    assert message["seq"] > seqs[1]
    listener = message["listeners"][LISTENER]
    assert listener["stats"]["tx"] == 30  # HAProxy kept running: no double count
    assert listener["totals"] == {"tx": 130, "rx": 0, "totconns": 5, "ereq": 0}


def test_a_quiet_amphora_writes_its_counters_seldom(tmp_path):
    sender = sender_for(tmp_path, FakeSource(canned_rows(bout=5)), [])
    path = tmp_path / heartbeat.STATE_FILE
    sender.beat()
    inode = path.stat().st_ino  # a save replaces the file: a new inode
    for _ in range(heartbeat.SAVE_EVERY - 1):
        sender.beat()
    assert path.stat().st_ino == inode
    sender.beat()  # SAVE_EVERY beats since the last write
    assert path.stat().st_ino != inode


def test_garbled_counters_file_starts_afresh(tmp_path):
    (tmp_path / heartbeat.STATE_FILE).write_text("{not json")
    message = sender_for(tmp_path, FakeSource(canned_rows(bout=5)), []).beat()
    assert message["listeners"][LISTENER]["totals"]["tx"] == 5
    saved = json.loads((tmp_path / heartbeat.STATE_FILE).read_text())["seq"]
    assert saved == message["seq"] + heartbeat.SAVE_EVERY  # reserved ahead


# -- sending -----------------------------------------------------------------------------


def test_beats_arrive_signed_in_sequence_and_on_time(tmp_path, receiver):
    interval = 0.2
    sender = sender_for(tmp_path, FakeSource(canned_rows()), [receiver.getsockname()], interval)
    sender.start()
    try:
        messages, arrivals = [], []
        for _ in range(3):
            messages.append(wire.decode_heartbeat(receiver.recv(65536), KEY))
            arrivals.append(time.monotonic())
    finally:
        sender.stop()
    assert not sender._thread.is_alive()
    assert [m["id"] for m in messages] == [AMPHORA] * 3
    assert messages[0]["seq"] < messages[1]["seq"] < messages[2]["seq"]
    assert set(messages[0]["listeners"]) == {LISTENER, FULL_LISTENER}
    gaps = [b - a for a, b in itertools.pairwise(arrivals)]
    assert all(interval / 2 < gap < interval * 10 for gap in gaps), gaps
    with pytest.raises(wire.HeartbeatError):
        wire.decode_heartbeat(wire.encode_heartbeat(messages[0], b"other key"), KEY)


def test_a_failing_address_is_logged_once_and_does_not_stop_the_others(tmp_path, receiver, caplog):
    # Broadcast without SO_BROADCAST: every send fails at once (EACCES).
    addresses = [("255.255.255.255", 5555), receiver.getsockname()]
    sender = sender_for(tmp_path, FakeSource(None), addresses)
    with caplog.at_level(logging.WARNING, logger=heartbeat.__name__):
        for _ in range(3):
            sender.beat()
            wire.decode_heartbeat(receiver.recv(65536), KEY)
    assert len([r for r in caplog.records if "255.255.255.255" in r.message]) == 1
    sender.stop()


def test_the_thread_outlives_errors(tmp_path, receiver):
    class Flaky(FakeSource):
        def stat_rows(self, timeout):
            if self.reads == 0:
                self.reads += 1
                raise RuntimeError("surprise")
            return super().stat_rows(timeout)

    sender = sender_for(tmp_path, Flaky(None), [receiver.getsockname()], interval=0.05)
    sender.start()
    try:
        assert wire.decode_heartbeat(receiver.recv(65536), KEY)["listeners"] == {}
    finally:
        sender.stop()


# -- the command line and the compute driver --------------------------------------------


def test_command_line_options(tmp_path):
    key_file = tmp_path / "key"
    key_file.write_text("  s3cret\n")
    args = main.parse_args(
        [
            "--amphora-id", AMPHORA, "--state-dir", str(tmp_path), "--bind", "127.0.0.1:9443",
            "--health-manager", "198.19.0.1:5555", "--health-manager", "[fd00::1]:5556",
            "--heartbeat-key-file", str(key_file), "--heartbeat-interval", "0.5",
        ]
    )  # fmt: skip
    assert args.health_managers == [("198.19.0.1", 5555), ("fd00::1", 5556)]
    assert args.heartbeat_interval == 0.5
    assert main.read_heartbeat_key(args.heartbeat_key_file) == b"s3cret"
    bare = main.parse_args(["--amphora-id", "a", "--state-dir", str(tmp_path), "--bind", ":1"])
    assert (bare.health_managers, bare.heartbeat_interval) == ([], 1.0)
    with pytest.raises(SystemExit):
        main.parse_args(["--amphora-id", "a", "--state-dir", "s", "--bind", ":1",
                         "--health-manager", "h:1"])  # fmt: skip


@pytest.fixture
def hm_config():
    group = "health_manager"
    config.CONF.set_override("controller_ip_port_list", ["10.0.0.1:5555", "[fd00::2]:5556"], group)
    config.CONF.set_override("heartbeat_key", "configured key", group)
    config.CONF.set_override("heartbeat_interval", 0.25, group)
    yield
    for name in ("controller_ip_port_list", "heartbeat_key", "heartbeat_interval"):
        config.CONF.clear_override(name, group)


def test_compute_driver_passes_heartbeat_options(tmp_path, hm_config):
    compute = NetnsCompute(state_dir=str(tmp_path), fabric=Fabric(subnets=[]))
    amphora_dir = compute.store.amphora_dir(AMPHORA)
    os.makedirs(amphora_dir)
    compute._write_heartbeat_key(AMPHORA)
    key_file = os.path.join(amphora_dir, "heartbeat.key")
    assert stat.S_IMODE(os.stat(key_file).st_mode) == 0o600
    assert main.read_heartbeat_key(key_file) == b"configured key"
    record = AmphoraRecord(AMPHORA, "lb", "amp-x", "198.19.0.9")
    command = compute._agent_command(record)
    tail = command[command.index("--health-manager") :]
    assert tail == [
        "--health-manager", "10.0.0.1:5555", "--health-manager", "[fd00::2]:5556",
        "--heartbeat-key-file", key_file, "--heartbeat-interval", "0.25",
    ]  # fmt: skip
    agent_argv = command[command.index("--amphora-id") :]
    agent_argv[agent_argv.index("--state-dir") + 1] = "/tmp/short"  # pytest's is too long
    args = main.parse_args(agent_argv)
    assert args.health_managers == [("10.0.0.1", 5555), ("fd00::2", 5556)]
