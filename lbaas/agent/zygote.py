"""`python -m lbaas.agent.zygote --fd N`: agents forked from one loaded interpreter.

An agent started by `ip netns exec python -m lbaas.agent` builds its own
copy of everything it imports: about 14 MB of private memory each, most of
it module objects every agent holds alike. The zygote imports the agent
once, freezes those objects out of the garbage collector's reach (a
collection would write to every page and unshare it) and forks one child per
agent; each child enters its amphora's network namespace as `ip netns exec`
does, and runs `main.main(argv)`. The children share the zygote's pages
until they write to them: about 6.6 MB an agent instead of 14 (measured with
20 agents).

The controller talks to it over the socket pair of file descriptor N: one
JSON line a request, {"argv": [...], "netns": path, "cwd": dir, "console":
file}, one JSON line an answer, {"pid": N} or {"error": "..."}. It exits
when the controller closes its end (the controller stopped): the agents it
forked run on in sessions of their own, as agents started by `ip netns exec`
outlive the controller. Standard library only, as the rest of the agent.
"""

from __future__ import annotations

import argparse
import ctypes
import gc
import json
import os
import signal
import socket
import sys
import traceback
from typing import Any

from lbaas.agent import main

# <sched.h> and <sys/mount.h>: Python 3.11's os has neither setns nor
# unshare nor mount, so the calls `ip netns exec` makes go through libc.
CLONE_NEWNS = 0x00020000
CLONE_NEWNET = 0x40000000
MS_RDONLY, MS_REC, MS_SLAVE = 1, 0x4000, 0x80000
MNT_DETACH = 2


def _check(result: int, what: str) -> None:
    if result != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"{what}: {os.strerror(err)}")


def enter_namespace(path: str) -> None:
    """Join the network namespace at `path` as `ip netns exec` does: with a
    mount namespace of its own where /sys shows this namespace's links."""
    libc = ctypes.CDLL(None, use_errno=True)
    fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    try:
        _check(libc.setns(fd, CLONE_NEWNET), f"setns {path}")
    finally:
        os.close(fd)
    _check(libc.unshare(CLONE_NEWNS), "unshare the mount namespace")
    _check(libc.mount(b"none", b"/", None, MS_REC | MS_SLAVE, None), "mount / rslave")
    read_only = os.statvfs("/sys").f_flag & os.ST_RDONLY
    _check(libc.umount2(b"/sys", MNT_DETACH), "umount /sys")
    name = os.path.basename(path).encode()
    _check(libc.mount(name, b"/sys", b"sysfs", MS_RDONLY if read_only else 0, None), "mount /sys")


def _become_agent(request: dict[str, Any]) -> None:
    """In the forked child: the agent's session, namespace, directory and
    console."""
    signal.signal(signal.SIGCHLD, signal.SIG_DFL)  # the agent waits for HAProxy
    os.setsid()
    enter_namespace(request["netns"])
    os.chdir(request["cwd"])
    console = os.open(request["console"], os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    null = os.open(os.devnull, os.O_RDONLY)
    for fd, target in ((null, 0), (console, 1), (console, 2)):
        os.dup2(fd, target)
    os.close(console)
    os.close(null)


def _child(request: dict[str, Any], report: int, channel: socket.socket) -> None:
    """The forked child: it never returns into the zygote's loop."""
    code = 1
    try:
        channel.close()
        try:
            _become_agent(request)
        except (OSError, KeyError, TypeError) as exc:
            os.write(report, str(exc).encode() or b"error")
            return
        os.close(report)
        sys.argv = ["lbaas-agent", *request["argv"]]
        code = main.main(request["argv"])
    except SystemExit as exc:  # argparse's answer to a bad command line
        code = exc.code if isinstance(exc.code, int) else 1
    except BaseException:  # the console is where an agent's crash goes
        traceback.print_exc()
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)


def spawn(request: dict[str, Any], channel: socket.socket) -> dict[str, Any]:
    """Fork an agent for `request`; its pid once it is in its namespace."""
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(read_end)
        _child(request, write_end, channel)
    os.close(write_end)
    with os.fdopen(read_end, "rb") as report:
        failure = report.read()  # empty at the child's close: it is on its way
    if failure:
        return {"error": failure.decode(errors="replace")}
    return {"pid": pid}


def serve(channel: socket.socket) -> None:
    """Answer requests until the controller closes its end."""
    reader = channel.makefile("rb")
    for line in reader:
        try:
            answer = spawn(json.loads(line), channel)
        except (OSError, ValueError) as exc:
            answer = {"error": str(exc)}
        channel.sendall(json.dumps(answer).encode() + b"\n")


def run(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="lbaas-agent-zygote")
    parser.add_argument("--fd", type=int, required=True, help="the controller's socket")
    args = parser.parse_args(argv)
    channel = socket.socket(fileno=args.fd)
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)  # the kernel reaps exited agents
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the controller's Ctrl-C ends it by EOF
    gc.collect()
    gc.freeze()  # what the import made stays shared with every child
    serve(channel)
    return 0


if __name__ == "__main__":
    sys.exit(run())
