"""keepalived process control (VRRP only: this kernel has no IPVS).

keepalived runs in the foreground (`-n`) as the agent's child, so its log
(`-l`: to the console, there being no syslog daemon in the namespace) goes
to a file we choose, which the agent follows to offload it
(logs.KeepalivedLogFollower), and its PID is known; it reads the configuration
through the `current` bundle symlink, so SIGHUP picks up a swapped bundle.

A keepalived that stops cleanly removes the VIPs it holds; one that is
killed (or freezes, then is killed) leaves them on the interface, and the
amphora would answer for the VIPs next to the peer that took them over
(reference/dataplane.md section 10.5). So whenever keepalived is started, and
after it is stopped, the VIPs its configuration names are removed here: at
that moment none of them can rightly be ours (a starting keepalived begins in
BACKUP state and adds them back only if it becomes MASTER).
"""

from __future__ import annotations

import ipaddress
import logging
import os
import signal
import subprocess
import time

from lbaas import wire
from lbaas.agent.haproxy import process_alive

LOG = logging.getLogger(__name__)
IP_TIMEOUT = 5.0  # seconds for one `ip` command
_VIP_BLOCKS = ("virtual_ipaddress", "virtual_ipaddress_excluded")


class KeepalivedProcess:
    def __init__(self, state_dir: str, keepalived_bin: str = "keepalived") -> None:
        self.keepalived_bin = keepalived_bin
        run_dir = wire.state_path(state_dir, wire.KEEPALIVED_DIR)
        os.makedirs(run_dir, 0o700, exist_ok=True)
        self.pid_file = os.path.join(run_dir, "keepalived.pid")
        self.vrrp_pid_file = os.path.join(run_dir, "vrrp.pid")
        self.log_file = os.path.join(run_dir, "keepalived.log")
        self._child: subprocess.Popen[bytes] | None = None
        self._started_cfg: str | None = None  # the configuration last started with
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
        self.release_vips()  # left by a keepalived that was killed
        self._started_cfg = _read(self.config_path)
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
            self.release_vips()  # it may have died without cleaning up
            return
        # SIGTERM lets keepalived release its VIPs (a SIGKILLed master would
        # leave them configured: reference/dataplane.md section 10.5).
        for sig, wait in ((signal.SIGTERM, 5.0), (signal.SIGKILL, 2.0)):
            try:
                os.kill(pid, sig)
            except ProcessLookupError:
                break
            deadline = time.monotonic() + wait
            while process_alive(pid, self.pid_file):
                if time.monotonic() > deadline:
                    break
                time.sleep(0.01)
            else:
                LOG.info("keepalived stopped (pid %s)", pid)
                break
        self.release_vips()  # only a SIGKILLed one leaves any

    def release_vips(self) -> None:
        """Remove the VIPs the configuration names from their interfaces.

        Call only while keepalived is not running. Best effort: a failure is
        logged, and the next start tries again.
        """
        wanted: set[tuple[str, str]] = set()
        for text in (self._started_cfg, _read(self.config_path)):
            wanted.update(configured_vips(text or ""))
        if not wanted:
            return
        try:
            present = _addresses_present()
            stale = sorted(v for v in wanted if v in present)
            if stale:
                batch = "".join(f"address del {vip} dev {dev}\n" for vip, dev in stale)
                _ip(["-force", "-batch", "-"], batch)
                LOG.warning("removed VIPs a stopped keepalived left behind: %s", stale)
        except (OSError, subprocess.SubprocessError) as exc:
            LOG.error("could not remove stale VIPs %s: %s", sorted(wanted), exc)


def configured_vips(text: str) -> set[tuple[str, str]]:
    """(address/prefix, device) of each VIP in a keepalived configuration, as
    lbaas.dataplane renders it: one `<address>/<prefix> dev <device>` a line
    inside `virtual_ipaddress` and `virtual_ipaddress_excluded` blocks."""
    found: set[tuple[str, str]] = set()
    inside = False
    for line in text.splitlines():
        words = line.split()
        if len(words) == 2 and words[0] in _VIP_BLOCKS and words[1] == "{":
            inside = True
        elif inside and words == ["}"]:
            inside = False
        elif inside and len(words) >= 3 and "dev" in words[1:-1]:
            try:
                address = ipaddress.ip_interface(words[0])
            except ValueError:
                continue
            found.add((str(address), words[words.index("dev", 1) + 1]))
    return found


def _addresses_present() -> set[tuple[str, str]]:
    """(address/prefix, device) of every address in this network namespace."""
    present: set[tuple[str, str]] = set()
    for line in _ip(["-o", "address", "show"]).splitlines():
        # "2: eth0    inet 198.18.0.100/32 scope global eth0 ..."
        words = line.split()
        if len(words) >= 4 and words[2] in ("inet", "inet6"):
            device = words[1].split("@")[0]
            present.add((str(ipaddress.ip_interface(words[3])), device))
    return present


def _ip(args: list[str], stdin: str | None = None) -> str:
    result = subprocess.run(
        ["ip", *args],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=IP_TIMEOUT,
    )
    if result.returncode != 0 and "-force" not in args:
        raise OSError(f"ip {' '.join(args)}: {result.stderr.strip()}")
    return result.stdout


def _read(path: str) -> str | None:
    try:
        with open(path) as f:
            return f.read()
    except FileNotFoundError:
        return None
