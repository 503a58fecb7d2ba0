"""keepalived process control (VRRP only: this kernel has no IPVS).

keepalived runs in the foreground (`-n`) as the agent's child, so its log
goes to a file we choose and its PID is known; it reads the configuration
through the `current` bundle symlink, so SIGHUP picks up a swapped bundle.
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import time

from lbaas import wire
from lbaas.agent.haproxy import process_alive

LOG = logging.getLogger(__name__)


class KeepalivedProcess:
    def __init__(self, state_dir: str, keepalived_bin: str = "keepalived") -> None:
        self.keepalived_bin = keepalived_bin
        run_dir = wire.state_path(state_dir, wire.KEEPALIVED_DIR)
        os.makedirs(run_dir, 0o700, exist_ok=True)
        self.pid_file = os.path.join(run_dir, "keepalived.pid")
        self.vrrp_pid_file = os.path.join(run_dir, "vrrp.pid")
        self.log_file = os.path.join(run_dir, "keepalived.log")
        self._child: subprocess.Popen[bytes] | None = None
        self.config_path = os.path.join(
            wire.state_path(state_dir, wire.CURRENT_BUNDLE), wire.KEEPALIVED_CFG_NAME
        )

    def pid(self) -> int | None:
        try:
            with open(self.pid_file) as f:
                pid = int(f.readline().strip() or 0)
        except (FileNotFoundError, ValueError):
            return None
        return pid if pid > 0 and process_alive(pid, self.pid_file) else None

    def is_running(self) -> bool:
        return self.pid() is not None

    def start(self) -> None:
        cmd = [
            self.keepalived_bin,
            "-n",
            "-l",
            "-G",
            "-D",
            "-P",
            "-f",
            self.config_path,
            "-p",
            self.pid_file,
            "-r",
            self.vrrp_pid_file,
        ]
        with open(self.log_file, "ab") as log:
            self._child = child = subprocess.Popen(
                cmd, stdin=subprocess.DEVNULL, stdout=log, stderr=log, start_new_session=True
            )
        # keepalived writes its pid file once it has read its configuration.
        deadline = time.monotonic() + 5.0
        while time.monotonic() < deadline and child.poll() is None:
            if self.pid() == child.pid:
                LOG.info("keepalived started, pid %s", child.pid)
                return
            time.sleep(0.01)
        raise RuntimeError(f"keepalived did not start (exit code {child.poll()})")

    def reload(self) -> None:
        pid = self.pid()
        if pid is None:
            self.start()
        else:
            os.kill(pid, signal.SIGHUP)

    def stop(self) -> None:
        pid = self.pid()
        if pid is None:
            return
        # SIGTERM lets keepalived release its VIPs (a SIGKILLed master would
        # leave them configured: reference/dataplane.md section 10.5).
        for sig, wait in ((signal.SIGTERM, 5.0), (signal.SIGKILL, 2.0)):
            try:
                os.kill(pid, sig)
            except ProcessLookupError:
                return
            deadline = time.monotonic() + wait
            while process_alive(pid, self.pid_file):
                if time.monotonic() > deadline:
                    break
                time.sleep(0.01)
            else:
                LOG.info("keepalived stopped (pid %s)", pid)
                return
