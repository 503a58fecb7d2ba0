"""HAProxy process control: master-worker, hitless reloads, sockets.

HAProxy runs as ``haproxy -W -S <master.sock> -p <pid> -C <current>/files
-f ../haproxy.cfg`` in its own session. The master keeps the listening sockets
and hands them to each new worker on reload, so a reload drops no new
connection (measured in reference/dataplane.md section 8). Reloads go through the master CLI; the
master re-executes itself with the same arguments, so ``-C`` follows the
`current` symlink to whatever bundle was swapped in.
"""

from __future__ import annotations

import csv
import logging
import os
import signal
import socket
import subprocess
import time

from lbaas import wire
from lbaas.agent import ping_check

TYPE_CHECKING = False  # not `typing`'s: the agent never imports it (see wire.py)
if TYPE_CHECKING:
    from collections.abc import Collection

LOG = logging.getLogger(__name__)
SOCKET_TIMEOUT = 2.0
RELOAD_TIMEOUT = 15.0  # a failing bind is retried by HAProxy for ~1 s
START_TIMEOUT = 30.0
ADMIN_STATE_COLUMN = 6  # srv_admin_state in `show servers state`
ADMIN_FORCED_MAINTENANCE = 0x01  # SRV_ADMF_FMAINT: `set server ... state maint`
ADMIN_CONFIG_MAINTENANCE = 0x04  # SRV_ADMF_CMAINT: `disabled` in the configuration
# The agent forces maintenance only to mirror `disabled` in the file
# (runtime.py), so the file, not the saved state, decides both.
ADMIN_MAINTENANCE = ADMIN_FORCED_MAINTENANCE | ADMIN_CONFIG_MAINTENANCE

# One `show stat` row: column name -> number, text, or None for an empty field.
StatRow = dict[str, int | str | None]


class HAProxyError(Exception):
    def __init__(self, message: str, details: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.details = details


def unix_command(path: str, command: str, timeout: float = SOCKET_TIMEOUT) -> str:
    """Send one command to an HAProxy CLI socket and return the whole answer."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(timeout)
        sock.connect(path)
        sock.sendall(command.encode() + b"\n")
        sock.shutdown(socket.SHUT_WR)  # the master CLI answers, then waits for EOF
        chunks: list[bytes] = []
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    return b"".join(chunks).decode("utf-8", "replace")


def parse_show_proc(text: str) -> tuple[int | None, list[int]]:
    """`show proc` on the master CLI -> (master reload count, worker pids)."""
    reloads: int | None = None
    workers: list[int] = []
    section = "master"
    for line in text.splitlines():
        if line.startswith("# workers"):
            section = "workers"
        elif line.startswith("#"):
            section = "other" if section == "workers" else section
        elif line.strip():
            fields = line.split()
            if len(fields) >= 3 and fields[1] == "master":
                reloads = int(fields[2])
            elif section == "workers" and fields[0].isdigit():
                workers.append(int(fields[0]))
    return reloads, workers


def parse_show_stat(text: str, columns: Collection[str] | None = None) -> list[StatRow]:
    """`show stat` CSV -> list of dicts; numbers become ints, empty fields None.

    Only `columns` (default: all), as HAProxy has about 90 of them and a
    heartbeat reads 9, every second."""
    lines = [line for line in text.splitlines() if line.strip()]
    if not lines or not lines[0].startswith("# "):
        return []
    header = next(csv.reader([lines[0][2:]]))
    wanted = [
        (i, name) for i, name in enumerate(header) if name and (columns is None or name in columns)
    ]
    rows: list[StatRow] = []
    for values in csv.reader(lines[1:]):
        rows.append({name: _stat_value(values[i]) for i, name in wanted if i < len(values)})
    return rows


def without_config_maintenance(state: str) -> str:
    """`show servers state` minus servers the configuration disabled.

    Such a server's saved operational state is STOPPED; restored into a
    configuration that enables it again, HAProxy keeps it STOPPED, and
    without a health check nothing ever brings it back. Left out, it starts
    fresh, and a server still disabled is disabled by the configuration.
    Servers the agent put in maintenance at runtime (to mirror a `disabled`
    it wrote in the file) are left out too: restored, a server the file
    enables again would stay in maintenance.
    """
    lines = state.splitlines(keepends=True)
    kept = []
    for line in lines:
        fields = line.split()
        if (
            len(fields) > ADMIN_STATE_COLUMN
            and not line.startswith("#")
            and fields[ADMIN_STATE_COLUMN].isdigit()
            and int(fields[ADMIN_STATE_COLUMN]) & ADMIN_MAINTENANCE
        ):
            continue
        kept.append(line)
    return "".join(kept)


def _stat_value(value: str) -> int | str | None:
    if value == "":
        return None
    try:
        return int(value)
    except ValueError:
        return value


def process_alive(pid: int, marker: str | None = None) -> bool:
    """True if `pid` is a live (not zombie) process whose command line contains
    `marker` (our pid file path: a recycled pid, even another amphora's
    HAProxy, is not mistaken for ours). No marker: any live process."""
    try:
        # Reap it if it is our exited child; harmless otherwise.
        if os.waitpid(pid, os.WNOHANG)[0] == pid:
            return False
    except ChildProcessError:
        pass
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            state = f.read().rsplit(b")", 1)[1].split()[0]
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            cmdline = f.read()
    except (FileNotFoundError, ProcessLookupError, IndexError):
        return False
    if state in (b"Z", b"X"):
        return False
    return marker is None or os.fsencode(marker) in cmdline


class HAProxyProcess:
    """One HAProxy master-worker instance whose files live under a state dir."""

    def __init__(self, state_dir: str, haproxy_bin: str = "haproxy") -> None:
        self.haproxy_bin = haproxy_bin
        self.master_socket = wire.state_path(state_dir, wire.MASTER_SOCKET)
        self.stats_socket = wire.state_path(state_dir, wire.STATS_SOCKET)
        self.pid_file = wire.state_path(state_dir, wire.PID_FILE)
        self.server_state_file = wire.state_path(state_dir, wire.SERVER_STATE_FILE)
        self.log_file = wire.state_path(state_dir, wire.HAPROXY_LOG_FILE)
        self.bundle_link = wire.state_path(state_dir, wire.CURRENT_BUNDLE)
        os.makedirs(wire.state_path(state_dir, wire.HAPROXY_DIR), 0o700, exist_ok=True)
        # Rendered configurations name it for PING monitors; it must exist.
        ping_check.install_wrapper(wire.state_path(state_dir, wire.PING_CHECK_FILE))
        self._version: str | None = None
        self._child: subprocess.Popen[bytes] | None = (
            None  # Popen of a master we started (None if adopted)
        )
        self._known_pid = 0

    # -- observation -------------------------------------------------------

    def master_pid(self) -> int | None:
        """PID of the live master, or None."""
        try:
            with open(self.pid_file) as f:
                pid = int(f.readline().strip() or 0)
        except (FileNotFoundError, ValueError):
            pid = 0
        # The master keeps its pid across reloads but rewrites the pid file
        # when it re-executes; a read in that instant finds it empty.
        pid = pid or self._known_pid
        if pid and process_alive(pid, self.pid_file):
            self._known_pid = pid
            return pid
        return None

    def is_running(self) -> bool:
        return self.master_pid() is not None

    def show_proc(self) -> tuple[int | None, list[int]]:
        return parse_show_proc(unix_command(self.master_socket, "show proc"))

    def reload_count(self) -> int:
        try:
            reloads, _ = self.show_proc()
        except OSError:
            return 0
        return reloads or 0

    def stats(
        self, timeout: float = SOCKET_TIMEOUT, columns: Collection[str] | None = None
    ) -> list[StatRow]:
        return parse_show_stat(unix_command(self.stats_socket, "show stat", timeout), columns)

    def version(self) -> str | None:
        """HAProxy's version string (None if HAProxy cannot be run)."""
        if self._version is None:
            try:
                out = subprocess.run(
                    [self.haproxy_bin, "-v"], capture_output=True, text=True, timeout=10
                ).stdout
            except (OSError, subprocess.SubprocessError) as exc:
                LOG.error("cannot run %s: %s", self.haproxy_bin, exc)
                return None
            words = out.split()
            self._version = words[2] if len(words) > 2 else out.strip()
        return self._version

    # -- control -----------------------------------------------------------

    def start(self) -> None:
        """Start the master on the current bundle; returns once a worker serves."""
        self._rotate_log()
        cmd = [
            self.haproxy_bin,
            "-W",
            "-S",
            f"{self.master_socket},mode,600",
            "-p",
            self.pid_file,
            "-C",
            os.path.join(self.bundle_link, wire.FILES_SUBDIR),
            "-f",
            wire.HAPROXY_CFG_FROM_FILES,
        ]
        offset = _file_size(self.log_file)
        # Not daemonised (-D): a daemon points its stderr at /dev/null, and the
        # master's stderr is where a failed reload says why. Its own session
        # keeps it out of the agent's signals; it survives an agent restart.
        with open(self.log_file, "ab") as log:
            self._child = subprocess.Popen(
                cmd, stdin=subprocess.DEVNULL, stdout=log, stderr=log, start_new_session=True
            )
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline and self._child.poll() is None:
            if self._serving(self._child.pid):
                LOG.info("HAProxy started, master pid %s", self._child.pid)
                return
            time.sleep(0.01)
        if self._child.poll() is None:
            self._child.kill()
        raise HAProxyError("HAProxy failed to start", _read_from(self.log_file, offset))

    def _serving(self, pid: int) -> bool:
        if self.master_pid() != pid:
            return False  # the pid file is written once the configuration loaded
        try:
            return bool(self.show_proc()[1])
        except OSError:
            return False

    def _rotate_log(self, limit: int = 1 << 20) -> None:
        # The master holds its log open for life, so rotate only between lives.
        if _file_size(self.log_file) > limit:
            os.replace(self.log_file, self.log_file + ".1")

    def reload(self) -> None:
        """Hitless reload; raises HAProxyError if no new worker took over."""
        master = self.master_pid()
        if master is None:
            raise HAProxyError("HAProxy is not running")
        reloads_before, workers_before = self.show_proc()
        self.save_server_state()
        offset = _file_size(self.log_file)
        self._trigger_reload()
        deadline = time.monotonic() + RELOAD_TIMEOUT
        while time.monotonic() < deadline:
            time.sleep(0.01)
            try:
                reloads, workers = self.show_proc()
            except OSError:
                if not process_alive(master):
                    raise HAProxyError(
                        "HAProxy died while reloading", _read_from(self.log_file, offset)
                    ) from None
                continue  # the master is re-executing
            if reloads is None or reloads <= (reloads_before or 0):
                continue
            if set(workers) - set(workers_before):
                LOG.info("HAProxy reloaded (reload %s, workers %s)", reloads, workers)
                return
            # The master came back without forking a worker: the new
            # configuration failed to start and the old workers still serve it.
            raise HAProxyError("HAProxy reload failed", _read_from(self.log_file, offset))
        raise HAProxyError("HAProxy reload timed out", _read_from(self.log_file, offset))

    def _trigger_reload(self) -> None:
        try:
            unix_command(self.master_socket, "reload")
        except OSError as exc:
            pid = self.master_pid()
            if pid is None:
                raise HAProxyError("HAProxy is not running") from exc
            LOG.warning("master CLI unusable (%s), reloading with SIGUSR2", exc)
            os.kill(pid, signal.SIGUSR2)

    def save_server_state(self) -> None:
        """Dump server states so the next worker starts with the same health
        (used when the config says `load-server-state-from-file global`)."""
        if not os.path.exists(self.stats_socket):
            return
        try:
            state = unix_command(self.stats_socket, "show servers state")
        except OSError as exc:
            LOG.warning("could not save server state: %s", exc)
            return
        temporary = self.server_state_file + ".tmp"
        with open(temporary, "w") as f:
            f.write(without_config_maintenance(state))
        os.replace(temporary, self.server_state_file)

    def stop(self, grace: float = 5.0) -> None:
        """Soft stop (finish connections) for `grace` s, then terminate, then kill."""
        pid = self.master_pid()
        if pid is None:
            _unlink_quietly(self.pid_file)
            return
        for sig, wait in ((signal.SIGUSR1, grace), (signal.SIGTERM, 2.0), (signal.SIGKILL, 2.0)):
            try:
                os.kill(pid, sig)
            except ProcessLookupError:
                break
            if _wait_dead(pid, self.pid_file, wait):
                break
            LOG.warning("HAProxy master %s still alive after %s", pid, sig.name)
        _unlink_quietly(self.pid_file)
        LOG.info("HAProxy stopped (master pid %s)", pid)


def _wait_dead(pid: int, marker: str, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while process_alive(pid, marker):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.01)
    return True


def _file_size(path: str) -> int:
    try:
        return os.path.getsize(path)
    except FileNotFoundError:
        return 0


def _read_from(path: str, offset: int, limit: int = 8192) -> str:
    try:
        with open(path, "rb") as f:
            f.seek(offset)
            return f.read(limit).decode("utf-8", "replace").strip()
    except FileNotFoundError:
        return ""


def _unlink_quietly(path: str) -> None:
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass
