"""Connection logs from HAProxy to the agent's rotated file."""

from __future__ import annotations

import socket
import time
from pathlib import Path

from lbaas.agent import logs
from lbaas.dataplane import render


def test_haproxy_sends_where_the_agent_listens() -> None:
    paths = render.RuntimePaths.in_state_dir("/s")
    assert paths.log_socket == "/s/" + logs.LOG_SOCKET


def test_datagrams_become_lines_without_the_syslog_priority(tmp_path: Path) -> None:
    sink = logs.LogSink(str(tmp_path))
    sink.start()
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as client:
            client.sendto(
                b"<134>Dec  3 07:07:03 haproxy[1]: p lb l1 198.18.0.150\n", sink.socket_path
            )
            client.sendto(b"<134>second", sink.socket_path)
        log = tmp_path / logs.LOG_FILE
        deadline = time.monotonic() + 5
        while not log.exists() or log.read_text().count("\n") < 2:
            assert time.monotonic() < deadline, "no log lines"
            time.sleep(0.02)
    finally:
        sink.stop()
    assert log.read_text().splitlines() == [
        "Dec  3 07:07:03 haproxy[1]: p lb l1 198.18.0.150",
        "second",
    ]
    assert not Path(sink.socket_path).exists()


def test_the_file_rotates_and_keeps_a_bounded_number_of_old_ones(tmp_path: Path) -> None:
    sink = logs.LogSink(str(tmp_path), max_bytes=100, backups=2)
    (tmp_path / "logs").mkdir()
    for number in range(12):
        sink.write(b"<134>" + b"%02d" % number + b"x" * 37)  # 40 bytes a line
    log = tmp_path / logs.LOG_FILE
    kept = sorted(p.name for p in log.parent.iterdir())
    assert kept == ["haproxy.log", "haproxy.log.1", "haproxy.log.2"]
    assert all(p.stat().st_size <= 100 for p in log.parent.iterdir())
    assert log.read_text().splitlines()[-1].startswith("11")
    assert (log.parent / "haproxy.log.2").read_text().startswith("06")


def test_a_burst_of_datagrams_is_written_whole_and_in_order(tmp_path: Path) -> None:
    sink = logs.LogSink(str(tmp_path))
    sink.start()
    count = 3 * logs.BATCH  # more than one batch
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as client:
            for number in range(count):
                client.sendto(b"<134>line %d" % number, sink.socket_path)
            client.sendto(b"<141>admin", sink.socket_path)  # local1: the other file
        log, admin = tmp_path / logs.LOG_FILE, tmp_path / logs.ADMIN_LOG_FILE
        deadline = time.monotonic() + 5
        # The admin line, sent last, may come in a batch after the others.
        while not (admin.exists() and log.exists() and log.read_text().count("\n") >= count):
            assert time.monotonic() < deadline, "lines missing"
            time.sleep(0.02)
    finally:
        sink.stop()
    assert log.read_text().splitlines() == ["line %d" % n for n in range(count)]
    assert admin.read_text() == "admin\n"
