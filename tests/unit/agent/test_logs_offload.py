"""Log offloading: syslog messages from the agent to UDP and TCP receivers."""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from lbaas import config
from lbaas.agent import log_forward, logs, main
from lbaas.agent.log_forward import LogOffload, OffloadSettings, SyslogForwarder
from lbaas.drivers.netns import Fabric, NetnsCompute
from lbaas.drivers.netns.layout import AmphoraRecord

AMPHORA = "6f0f3c2e-0000-4000-8000-000000000001"
FLOW = b"<134>Dec  3 07:07:03 haproxy[7]: p lb l1 198.18.0.150:4242 \"GET / HTTP/1.1\" 200\n"


class UdpReceiver:
    def __init__(self) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.settimeout(5.0)
        self.target = ("127.0.0.1", self.sock.getsockname()[1])

    def receive(self) -> bytes:
        return self.sock.recv(65536)


class TcpReceiver:
    """Accepts connections on `port` (0: any) and collects their lines."""

    def __init__(self, port: int = 0) -> None:
        self.listener = socket.create_server(("127.0.0.1", port))
        self.target = ("127.0.0.1", self.listener.getsockname()[1])
        self.lines: list[bytes] = []
        self.connections = 0
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.listener.accept()
            except OSError:
                return
            self.connections += 1
            threading.Thread(target=self._read, args=(conn,), daemon=True).start()

    def _read(self, conn: socket.socket) -> None:
        with conn, conn.makefile("rb") as stream:
            self.lines.extend(line.rstrip(b"\n") for line in stream)

    def wait_lines(self, count: int, timeout: float = 5.0) -> list[bytes]:
        deadline = time.monotonic() + timeout
        while len(self.lines) < count:
            assert time.monotonic() < deadline, self.lines
            time.sleep(0.01)
        return self.lines

    def close(self) -> None:
        self.listener.close()


def free_tcp_port() -> int:
    with socket.create_server(("127.0.0.1", 0)) as sock:
        return int(sock.getsockname()[1])


@pytest.fixture
def offloads() -> Iterator[list[LogOffload]]:
    made: list[LogOffload] = []
    yield made
    for offload in made:
        offload.stop()


def started(made: list[LogOffload], **settings: object) -> LogOffload:
    offload = LogOffload(AMPHORA, OffloadSettings(**settings))  # type: ignore[arg-type]
    offload.start()
    made.append(offload)
    return offload


# -- format, framing, queue -------------------------------------------------------------


def test_messages_are_rfc3164_with_the_amphora_as_host_and_one_line_each() -> None:
    data = log_forward.message(134, "Dec  3 07:07:03", "amphora-x", b"haproxy[7]: a\nb\n")
    assert data == b"<134>Dec  3 07:07:03 amphora-x haproxy[7]: a b"
    assert log_forward.frame(data, "TCP") == data + b"\n"  # newline framing
    assert log_forward.frame(data, "UDP") == data  # a datagram each
    assert log_forward.priority(3, log_forward.INFO) == 158  # local3.info
    assert len(log_forward.timestamp(0)) == len("Jan  1 00:00:00")


def test_a_full_queue_drops_its_oldest_and_counts_them() -> None:
    settings = OffloadSettings(tenant_targets=(("127.0.0.1", 9),), queue_size=3)
    forwarder = SyslogForwarder("tenant", settings.tenant_targets, settings)
    for number in range(5):
        forwarder.submit(b"%d" % number)  # not started: nothing leaves
    assert list(forwarder.queue) == [b"2", b"3", b"4"]
    assert forwarder.dropped == 2


def test_haproxy_datagrams_are_sorted_by_facility(tmp_path: Path) -> None:
    assert logs.parse(FLOW)[:3] == (16, 6, "Dec  3 07:07:03")
    sent: list[tuple[str, int, bytes]] = []
    offload = LogOffload(AMPHORA, OffloadSettings(local_storage=False))
    offload.send_tenant = lambda sev, stamp, body: sent.append(("tenant", sev, body))  # type: ignore[method-assign]
    offload.send_admin = lambda sev, stamp, body: sent.append(("admin", sev, body))  # type: ignore[method-assign,assignment,arg-type]
    sink = logs.LogSink(str(tmp_path), offload=offload)
    sink.write(FLOW)
    sink.write(b"<132>Dec  3 07:07:04 haproxy[7]: Server p/m is DOWN")  # local0.warning
    sink.write(b"<141>Dec  3 07:07:04 haproxy[7]: Proxy l1 started.")  # local1.notice
    assert [(kind, sev) for kind, sev, _ in sent] == [("tenant", 6), ("admin", 5)]
    assert sent[1][2] == b"haproxy[7]: Proxy l1 started."
    assert not (tmp_path / "logs").exists() or not os.listdir(tmp_path / "logs")


def test_admin_messages_have_their_own_file(tmp_path: Path) -> None:
    sink = logs.LogSink(str(tmp_path))
    (tmp_path / "logs").mkdir()
    sink.write(FLOW)
    sink.write(b"<141>Dec  3 07:07:04 haproxy[7]: Proxy l1 started.")
    assert (tmp_path / logs.LOG_FILE).read_text().count("\n") == 1
    assert (tmp_path / logs.ADMIN_LOG_FILE).read_text() == (
        "Dec  3 07:07:04 haproxy[7]: Proxy l1 started.\n"
    )


# -- sending ------------------------------------------------------------------------------


def test_flow_logs_reach_a_udp_receiver(tmp_path: Path, offloads: list[LogOffload]) -> None:
    receiver = UdpReceiver()
    offload = started(offloads, tenant_targets=(receiver.target,), user_facility=3)
    sink = logs.LogSink(str(tmp_path), offload=offload)
    (tmp_path / "logs").mkdir()
    sink.write(FLOW)
    got = receiver.receive()
    assert (
        got
        == b"<158>"
        + FLOW[5:].replace(b"haproxy", b"amphora-%s haproxy" % AMPHORA.encode()).rstrip()
    )
    assert (tmp_path / logs.LOG_FILE).exists()  # local storage kept
    receiver.sock.close()


def test_flow_logs_reach_a_tcp_receiver_one_line_each(offloads: list[LogOffload]) -> None:
    receiver = TcpReceiver()
    offload = started(offloads, tenant_targets=(receiver.target,), protocol="TCP")
    for number in range(3):
        offload.send_tenant(6, "Dec  3 07:07:03", b"haproxy[7]: line %d\nwith a newline" % number)
    lines = receiver.wait_lines(3)
    assert lines[2] == b"<134>Dec  3 07:07:03 amphora-%s haproxy[7]: line 2 with a newline" % (
        AMPHORA.encode()
    )
    assert receiver.connections == 1
    receiver.close()


def test_a_tcp_receiver_that_appears_late_gets_the_queued_messages(
    offloads: list[LogOffload],
) -> None:
    port = free_tcp_port()
    offload = started(
        offloads,
        tenant_targets=(("127.0.0.1", port),),
        protocol="TCP",
        retry_count=50,
        retry_interval=0.1,
    )
    offload.send_tenant(6, "Dec  3 07:07:03", b"haproxy[7]: early")
    time.sleep(0.4)  # a few refused tries
    offload.send_tenant(6, "Dec  3 07:07:04", b"haproxy[7]: waiting")
    receiver = TcpReceiver(port)
    lines = receiver.wait_lines(2)
    assert [line.rsplit(b" ", 1)[1] for line in lines] == [b"early", b"waiting"]
    assert offload.tenant.failed == 0
    receiver.close()


def test_the_next_target_takes_over_while_the_first_fails(offloads: list[LogOffload]) -> None:
    backup = TcpReceiver()
    offload = started(
        offloads,
        admin_targets=(("127.0.0.1", free_tcp_port()), backup.target),
        protocol="TCP",
        retry_interval=30.0,
    )
    offload.send_admin(5, "Dec  3 07:07:03", "haproxy[7]: first")
    offload.send_admin(5, "Dec  3 07:07:03", "haproxy[7]: second")
    assert [line.rsplit(b" ", 1)[1] for line in backup.wait_lines(2)] == [b"first", b"second"]
    assert offload.admin.destinations[0].down
    backup.close()


def test_a_message_no_target_takes_is_dropped_after_its_retries(
    offloads: list[LogOffload],
) -> None:
    offload = started(
        offloads,
        tenant_targets=(("127.0.0.1", free_tcp_port()),),
        protocol="TCP",
        retry_count=2,
        retry_interval=0.05,
    )
    began = time.monotonic()
    offload.send_tenant(6, "Dec  3 07:07:03", b"haproxy[7]: lost")
    while offload.tenant.failed == 0:
        assert time.monotonic() - began < 5, "never gave up"
        time.sleep(0.01)
    assert offload.tenant.sent == 0


def test_the_agents_warnings_go_to_the_admin_targets(offloads: list[LogOffload]) -> None:
    receiver = UdpReceiver()
    offload = started(offloads, admin_targets=(receiver.target,), admin_facility=2)
    logger = logging.getLogger("lbaas.agent.test-offload")
    handler = log_forward.AdminLogHandler(offload)
    logger.addHandler(handler)
    try:
        logger.info("not sent without forward_all_logs")
        logger.warning("HAProxy is not running; starting it")
    finally:
        logger.removeHandler(handler)
    got = receiver.receive().decode()
    assert got.startswith("<148>")  # local2.warning
    assert got.endswith("WARNING lbaas.agent.test-offload: HAProxy is not running; starting it")
    assert f" amphora-{AMPHORA} lbaas-agent[{os.getpid()}]: " in got
    receiver.sock.close()


def test_keepalived_lines_are_sent_and_the_file_emptied_without_local_storage(
    tmp_path: Path, offloads: list[LogOffload]
) -> None:
    receiver = UdpReceiver()
    offload = started(offloads, admin_targets=(receiver.target,), local_storage=False)
    path = tmp_path / "keepalived.log"
    path.write_text("old line, before the agent\n")
    follower = logs.KeepalivedLogFollower(str(path), offload)
    follower.start()
    try:
        with open(path, "a") as f:
            f.write("Thu Dec  3 07:07:03 2026: (lb_1) Entering MASTER STATE\npartial")
        got = receiver.receive().decode()
    finally:
        follower.stop()
    assert got.startswith("<14")  # local1
    assert got.endswith("keepalived: (lb_1) Entering MASTER STATE")
    assert path.read_text() in ("", "partial")
    receiver.sock.close()


# -- settings: the configuration, the compute driver, the agent's command line -----------


@pytest.fixture
def agent_config() -> Iterator[None]:
    group = "amphora_agent"
    values = {
        "tenant_log_targets": ["198.18.0.160:514"],
        "admin_log_targets": ["198.18.0.160:515", "[fd00:1b::160]:515"],
        "log_protocol": "tcp",
        "disable_local_log_storage": True,
    }
    for name, value in values.items():
        config.CONF.set_override(name, value, group)
    yield
    for name in values:
        config.CONF.clear_override(name, group)


def test_the_compute_driver_passes_the_log_options(tmp_path: Path, agent_config: None) -> None:
    compute = NetnsCompute(state_dir=str(tmp_path), fabric=Fabric(subnets=[]))
    command = compute._agent_command(AmphoraRecord(AMPHORA, "lb", "amp-x", "198.19.0.9"))
    argv = command[command.index("--amphora-id") :]
    argv[argv.index("--state-dir") + 1] = "/tmp/short"
    args = main.parse_args(argv)
    settings = main.offload_settings(args)
    assert settings.tenant_targets == (("198.18.0.160", 514),)
    assert settings.admin_targets == (("198.18.0.160", 515), ("fd00:1b::160", 515))
    assert (settings.protocol, settings.retry_count, settings.retry_interval) == ("TCP", 5, 2.0)
    assert (settings.queue_size, settings.user_facility, settings.admin_facility) == (10000, 0, 1)
    assert not settings.local_storage and not settings.forward_all


def test_without_log_options_the_agent_command_is_unchanged(tmp_path: Path) -> None:
    compute = NetnsCompute(state_dir=str(tmp_path), fabric=Fabric(subnets=[]))
    command = compute._agent_command(AmphoraRecord(AMPHORA, "lb", "amp-x", "198.19.0.9"))
    assert not any(word.startswith("--") and "log" in word for word in command)
    bare = main.parse_args(["--amphora-id", "a", "--state-dir", str(tmp_path), "--bind", ":1"])
    assert main.offload_settings(bare) == OffloadSettings()


@pytest.mark.parametrize("option", ["tenant_log_targets", "admin_log_targets"])
def test_a_bad_target_is_refused_at_start_naming_the_option(option: str) -> None:
    config.CONF.set_override(option, ["logs.example:514"], "amphora_agent")
    try:
        with pytest.raises(config.ConfigError, match=r"\[amphora_agent\] %s: " % option):
            config.validate()
    finally:
        config.CONF.clear_override(option, "amphora_agent")
