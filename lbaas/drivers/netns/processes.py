"""Processes of an amphora: find them, check them, stop them.

A process is identified by its pid and a marker in its command line or its
working directory (the amphora id), so a pid recycled by an unrelated
process is never taken for an agent; and by the network namespace it runs
in, which is how everything an amphora started (HAProxy, keepalived,
whatever they forked) is found, whichever process started it and whoever
its parent is now.
"""

import os
import signal
import time
from collections.abc import Callable, Sequence

from lbaas.drivers.netns.netlink import namespace_path


def _identity(path: str) -> tuple[int, int] | None:
    try:
        st = os.stat(path)
    except OSError:
        return None  # gone, or a zombie (it holds no namespace any more)
    return st.st_dev, st.st_ino


def namespace_identity(name: str) -> tuple[int, int] | None:
    return _identity(namespace_path(name))


def process_namespace(pid: int) -> tuple[int, int] | None:
    """The identity of the network namespace `pid` runs in (None if gone)."""
    return _identity('/proc/%d/ns/net' % pid)


def pids_in_namespace(name: str) -> list[int]:
    """Processes whose network namespace is `name` (ours excluded)."""
    wanted = namespace_identity(name)
    if wanted is None:
        return []
    return [
        int(entry)
        for entry in os.listdir('/proc')
        if entry.isdigit() and int(entry) != os.getpid() and process_namespace(int(entry)) == wanted
    ]


def process_running(pid: int, marker: str | None = None, settle: float = 0.0) -> bool:
    """`pid` exists, is not a zombie, and its command line (or working
    directory) holds `marker`.

    A process inside execve shows an empty command line for a moment (the
    new one is not set up yet), as `ip netns exec` does while it becomes the
    agent; an empty one is read again for up to `settle` seconds. Kernel
    threads never have one, so the default (0) suits scans of /proc.
    """
    deadline = time.monotonic() + settle
    while True:
        try:
            with open('/proc/%d/stat' % pid) as f:
                state = f.read().rpartition(')')[2].split()[0]
            with open('/proc/%d/cmdline' % pid, 'rb') as f:
                cmdline = f.read()
        except (FileNotFoundError, ProcessLookupError, IndexError):
            return False
        if state in ('Z', 'X'):
            return False
        if marker is None:
            return True
        if cmdline or time.monotonic() >= deadline:
            return os.fsencode(marker) in cmdline or marker in _directory(pid)
        time.sleep(0.002)


def _directory(pid: int) -> str:
    """The working directory of `pid`: an agent forked by the zygote has the
    zygote's command line, and its amphora's directory as its own."""
    try:
        return os.readlink('/proc/%d/cwd' % pid)
    except OSError:
        return ''


def signal_quietly(pid: int, signum: int) -> None:
    try:
        os.kill(pid, signum)
    except ProcessLookupError:
        pass


def _wait_gone(pids: Sequence[int], timeout: float, is_running: Callable[[int], bool]) -> bool:
    deadline = time.monotonic() + timeout
    interval = 0.01
    while any(is_running(pid) for pid in pids):
        if time.monotonic() > deadline:
            return False
        time.sleep(interval)
        interval = min(interval * 2, 0.1)
    return True


def terminate(
    pids: Sequence[int],
    timeout: float,
    is_running: Callable[[int], bool] = process_running,
    kill_wait: float = 5.0,
) -> list[int]:
    """SIGTERM `pids`, SIGKILL whatever still runs after `timeout` seconds.

    Returns the pids that survived even SIGKILL (stuck in the kernel).
    """
    for pid in pids:
        signal_quietly(pid, signal.SIGTERM)
    if _wait_gone(pids, timeout, is_running):
        return []
    for pid in pids:
        if is_running(pid):
            signal_quietly(pid, signal.SIGKILL)
    _wait_gone(pids, kill_wait, is_running)
    return [pid for pid in pids if is_running(pid)]
