"""Member changes through HAProxy's runtime API instead of a reload.

When a new haproxy.cfg differs from the running one only in ``server`` lines
of backends (servers added, removed, re-weighted, enabled or disabled), the
difference is applied to the running worker through its stats socket: ``add
server`` / ``del server`` (HAProxy 2.6 dynamic servers), ``set weight`` and
``set server ... state``. The file is still swapped in first, so a restart or
a later reload gives the same servers. Anything else (another line changed, a
keyword dynamic servers refuse, a static balancing algorithm) is `None`: the
caller reloads as before.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import time

from lbaas.agent.haproxy import unix_command

LOG = logging.getLogger(__name__)
FIRST_DELETE_WAIT = 0.2  # seconds apply() waits for a removed server to drain
DRAIN_POLL = 0.05  # then drain.Reaper waits for the rest, up to the drain timeout

# Server keywords a dynamic server accepts, with how many arguments each takes:
# the subset our rendered server lines use (lbaas/dataplane/directives.py).
# TLS keywords are left out on purpose: their relative paths resolve against
# the worker's directory, which is the bundle it started with, not `current`.
DYNAMIC_KEYWORDS = {
    "weight": 1,
    "check": 0,
    "check-ssl": 0,
    "check-sni": 1,
    "verify": 1,
    "inter": 1,
    "fall": 1,
    "rise": 1,
    "addr": 1,
    "port": 1,
    "send-proxy": 0,
    "send-proxy-v2": 0,
    "backup": 0,
    "disabled": 0,
}
# `add server` needs a backend whose algorithm can take new servers.
DYNAMIC_ALGORITHMS = {"roundrobin", "leastconn", "first", "random"}
SUCCESS_ANSWERS = {"", "New server registered.", "Server deleted."}


class RuntimeApplyError(Exception):
    """A runtime command failed; the caller reloads instead."""


@dataclasses.dataclass(frozen=True)
class Server:
    """One `server` line: name, address and options as words."""

    name: str
    address: str
    options: tuple[str, ...]

    @property
    def weight(self) -> str | None:
        words = self.options
        for i, word in enumerate(words[:-1]):
            if word == "weight":
                return words[i + 1]
        return None

    @property
    def disabled(self) -> bool:
        return "disabled" in self.options

    def invariant(self) -> tuple[str, tuple[str, ...]]:
        """Everything but weight and `disabled`: what the runtime cannot change."""
        words = list(self.options)
        if "weight" in words[:-1]:
            i = words.index("weight")
            del words[i : i + 2]
        return self.address, tuple(w for w in words if w != "disabled")


@dataclasses.dataclass
class MemberPlan:
    """Runtime commands taking the running servers to the new file's."""

    added: list[tuple[str, Server]] = dataclasses.field(default_factory=list)
    removed: list[tuple[str, str]] = dataclasses.field(default_factory=list)
    changed: list[tuple[str, Server, Server]] = dataclasses.field(default_factory=list)

    def empty(self) -> bool:
        return not (self.added or self.removed or self.changed)

    def toggled(self, disabled: bool) -> list[str]:
        """`backend/server` of the servers this plan disables (or enables)."""
        return [
            f"{backend}/{new.name}"
            for backend, old, new in self.changed
            if old.disabled != new.disabled and new.disabled == disabled
        ]


@dataclasses.dataclass
class _Section:
    header: str
    lines: list[str] = dataclasses.field(default_factory=list)
    servers: dict[str, Server] = dataclasses.field(default_factory=dict)


def _sections(text: str) -> list[_Section] | None:
    """Split a configuration into sections; None if a server line is odd."""
    sections = [_Section(header="")]
    for raw in text.splitlines():
        line = raw.strip()
        if raw[:1] not in ("", " ", "\t", "#"):
            sections.append(_Section(header=line))
        elif line.startswith("server ") and sections[-1].header.startswith("backend "):
            words = line.split()
            if len(words) < 3 or words[1] in sections[-1].servers:
                return None
            sections[-1].servers[words[1]] = Server(words[1], words[2], tuple(words[3:]))
        else:
            sections[-1].lines.append(line)
    return sections


def member_plan(running: str, wanted: str) -> MemberPlan | None:
    """The runtime changes from config `running` to `wanted`, or None when
    anything else differs or the runtime cannot express a change."""
    old, new = _sections(running), _sections(wanted)
    if old is None or new is None or len(old) != len(new):
        return None
    plan = MemberPlan()
    for before, after in zip(old, new, strict=True):
        if (before.header, before.lines) != (after.header, after.lines):
            return None
        if before.servers == after.servers:
            continue
        backend = after.header.split()[1] if len(after.header.split()) == 2 else ""
        if not backend or _algorithm(after.lines) not in DYNAMIC_ALGORITHMS:
            return None
        if not _plan_backend(plan, backend, before.servers, after.servers):
            return None
    return plan


def _algorithm(lines: list[str]) -> str:
    """The backend's `balance` algorithm; HAProxy's default is roundrobin."""
    for line in lines:
        words = line.split()
        if words[:1] == ["balance"]:
            return words[1] if len(words) == 2 else ""
    return "roundrobin"


def _plan_backend(
    plan: MemberPlan, backend: str, before: dict[str, Server], after: dict[str, Server]
) -> bool:
    for name, server in after.items():
        old = before.get(name)
        if old is None:
            if not dynamic_options_ok(server.options):
                return False
            plan.added.append((backend, server))
        elif old != server:
            if old.invariant() != server.invariant() or server.weight is None:
                return False
            plan.changed.append((backend, old, server))
    plan.removed.extend((backend, name) for name in before if name not in after)
    return True


def dynamic_options_ok(options: tuple[str, ...]) -> bool:
    """True if `add server` takes these words as they are."""
    i = 0
    while i < len(options):
        word = options[i]
        arity = DYNAMIC_KEYWORDS.get(word)
        if arity is None or i + arity >= len(options):
            return False
        if any(c in w for w in options[i : i + arity + 1] for c in "\"'\\#"):
            return False  # the CLI does not unquote
        i += arity + 1
    return True


def commands_for(plan: MemberPlan) -> list[str]:
    """Commands for additions and changes (removals need draining, see apply)."""
    commands: list[str] = []
    for backend, old, new in plan.changed:
        target = f"{backend}/{new.name}"
        if old.weight != new.weight:
            commands.append(f"set weight {target} {new.weight}")
        if old.disabled != new.disabled:
            commands.append(f"set server {target} state {'maint' if new.disabled else 'ready'}")
    for backend, server in plan.added:
        target = f"{backend}/{server.name}"
        commands.append(f"add server {target} {server.address} {' '.join(server.options)}")
        if "check" in server.options:
            commands.append(f"enable health {target}")
        if not server.disabled:
            commands.append(f"enable server {target}")
    return commands


def apply(
    stats_socket: str,
    plan: MemberPlan,
    wait: float = FIRST_DELETE_WAIT,
    drain_timeout: float | None = None,
) -> list[str]:
    """Apply `plan` to the worker behind `stats_socket`; RuntimeApplyError if
    HAProxy refuses a command (what came before it stays applied).

    Removed servers go to maintenance at once (no new traffic), but `del
    server` refuses one with connections, idle ones included (HAProxy closes
    half of those every `pool-purge-delay`, 5 s): returns the `backend/server`
    names not deleted within `wait`, for a `drain.Reaper`. A `drain_timeout`
    shorter than `wait` closes the connections of removed and disabled
    servers at once.
    """
    for command in commands_for(plan):
        _run(stats_socket, command)
    left = [f"{backend}/{name}" for backend, name in plan.removed]
    for target in left:
        _run(stats_socket, f"set server {target} state maint")
    if drain_timeout is not None and drain_timeout <= wait:
        for target in left + plan.toggled(disabled=True):
            shutdown_sessions(stats_socket, target)
    deadline = time.monotonic() + wait
    while True:
        left = [target for target in left if not try_delete(stats_socket, target)]
        if not left or time.monotonic() > deadline:
            return left
        time.sleep(DRAIN_POLL)


def try_delete(stats_socket: str, target: str) -> bool:
    """`del server`; True once the server is gone, False while it has connections."""
    answer = _send(stats_socket, f"del server {target}")
    return answer == "Server deleted." or answer.startswith("No such")


def shutdown_sessions(stats_socket: str, target: str) -> None:
    """Close every connection of a server (the end of its drain)."""
    _run(stats_socket, f"shutdown sessions server {target}")


def _run(stats_socket: str, command: str) -> None:
    answer = _send(stats_socket, command)
    if answer not in SUCCESS_ANSWERS:
        raise RuntimeApplyError(f"{command}: {answer}")


def _send(stats_socket: str, command: str) -> str:
    try:
        answer = unix_command(stats_socket, command).strip()
    except OSError as exc:
        raise RuntimeApplyError(f"{command}: {exc}") from None
    LOG.debug("runtime: %s -> %r", command, answer)
    return answer


def same_files(dir_a: str, dir_b: str) -> bool:
    """True if two bundle `files/` trees hold the same paths and contents."""
    return _tree(dir_a) == _tree(dir_b)


def _tree(root: str) -> dict[str, bytes]:
    found: dict[str, bytes] = {}
    for base, _dirs, names in os.walk(root):
        for name in names:
            path = os.path.join(base, name)
            with open(path, "rb") as f:
                found[os.path.relpath(path, root)] = f.read()
    return found
