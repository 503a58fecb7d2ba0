"""Connection draining: the timeout the agent reads, the Reaper's steps, the
status a draining member reports, and where the timeout comes from."""

import threading
import time

import pytest

from lbaas.agent import drain, heartbeat, runtime
from lbaas.agent.runtime import member_plan
from lbaas.controller.health import mapping, report
from lbaas.controller.health.mapping import LbShape, PoolShape
from lbaas.dataplane import build, render
from lbaas.service import providers

BACKEND = "pool:listener"
CFG = """global
    maxconn 100
    hard-stop-after {hard_stop}
defaults
    mode http
backend pool:listener
    balance roundrobin
    server a 10.0.0.1:80 weight 1
    server b 10.0.0.2:80 weight 1
"""


class FakeSocket:
    """What the Reaper sends; `del server` refused while `connections`."""

    def __init__(self, monkeypatch):
        self.sent, self.connections = [], True
        monkeypatch.setattr(drain, "try_delete", self.try_delete)
        monkeypatch.setattr(drain, "shutdown_sessions", self.shutdown)

    def try_delete(self, _socket, target):
        self.sent.append("del " + target)
        return not self.connections

    def shutdown(self, _socket, target):
        self.sent.append("shutdown " + target)


@pytest.mark.parametrize(
    "text, seconds",
    [("300s", 300.0), ("1ms", 0.001), ("2500", 2.5), ("5m", 300.0), ("1h", 3600.0), ("x", None)],
)
def test_haproxy_times(text, seconds):
    assert drain.parse_time(text) == seconds


def test_the_drain_timeout_is_the_global_hard_stop_after():
    assert drain.drain_timeout(CFG.format(hard_stop="2s")) == 2.0
    assert drain.drain_timeout(CFG.format(hard_stop="1ms")) == 0.001
    assert drain.drain_timeout("global\n    maxconn 1\n") == drain.DEFAULT_DRAIN_TIMEOUT
    # only the global section's
    late = "global\n    maxconn 1\ndefaults\n    hard-stop-after 5s\n"
    assert drain.drain_timeout(late) == drain.DEFAULT_DRAIN_TIMEOUT


def test_rendered_timeouts_read_back():
    for seconds in (0, 2, 300):
        text = render.hard_stop_after(seconds)
        assert drain.drain_timeout(CFG.format(hard_stop=text)) == pytest.approx(seconds, abs=0.01)
    assert render.hard_stop_after(0) == "1ms"  # HAProxy reads 0 as "never"


def test_a_removed_server_is_deleted_once_empty_before_the_timeout(monkeypatch):
    cli = FakeSocket(monkeypatch)
    reaper = drain.Reaper("sock", threading.Lock())
    reaper._pending["pool/a"] = drain.Drain(deadline=10.0, delete=True)
    reaper.reap_once(now=1.0)
    assert reaper.pending() == {"pool/a"} and cli.sent == ["del pool/a"]
    cli.connections = False
    reaper.reap_once(now=2.0)
    assert reaper.pending() == set()
    assert "shutdown pool/a" not in cli.sent


def test_after_the_timeout_connections_are_closed_then_the_server_deleted(monkeypatch):
    cli = FakeSocket(monkeypatch)
    reaper = drain.Reaper("sock", threading.Lock())
    reaper._pending["pool/a"] = drain.Drain(deadline=10.0, delete=True)
    reaper.reap_once(now=10.0)
    assert cli.sent == ["del pool/a", "shutdown pool/a"]
    reaper.reap_once(now=11.0)  # idle connections linger a little
    assert reaper.pending() == {"pool/a"}
    cli.connections = False
    reaper.reap_once(now=12.0)
    assert reaper.pending() == set()
    assert cli.sent.count("shutdown pool/a") == 1


def test_a_server_that_never_empties_is_given_up(monkeypatch):
    cli = FakeSocket(monkeypatch)
    reaper = drain.Reaper("sock", threading.Lock())
    reaper._pending["pool/a"] = drain.Drain(deadline=10.0, delete=True)
    reaper.reap_once(now=10.0)
    reaper.reap_once(now=10.0 + drain.DELETE_GIVE_UP - 1)
    assert reaper.pending() == {"pool/a"}
    reaper.reap_once(now=10.0 + drain.DELETE_GIVE_UP + 1)
    assert reaper.pending() == set() and cli.sent.count("shutdown pool/a") == 1


def test_a_disabled_server_is_only_closed_at_its_timeout(monkeypatch):
    cli = FakeSocket(monkeypatch)
    reaper = drain.Reaper("sock", threading.Lock())
    reaper._pending["pool/b"] = drain.Drain(deadline=10.0, delete=False)
    assert reaper.pending() == set()  # nothing to delete: planning may re-add it
    reaper.reap_once(now=5.0)
    assert cli.sent == [] and "pool/b" in reaper.draining()
    reaper.reap_once(now=10.0)
    assert cli.sent == ["shutdown pool/b"] and reaper.draining() == {}


def test_enabled_again_the_drain_is_cancelled(monkeypatch):
    FakeSocket(monkeypatch)
    reaper = drain.Reaper("sock", threading.Lock())
    reaper._pending["pool/b"] = drain.Drain(deadline=10.0, delete=False)
    reaper._pending["pool/a"] = drain.Drain(deadline=10.0, delete=True)
    reaper.cancel(["pool/b", "pool/a"])
    assert set(reaper.draining()) == {"pool/a"}  # a removed server stays removed


def test_a_failing_socket_forgets_the_drain(monkeypatch):
    def refuse(_socket, target):
        raise runtime.RuntimeApplyError("no worker")

    monkeypatch.setattr(drain, "try_delete", refuse)
    reaper = drain.Reaper("sock", threading.Lock())
    reaper._pending["pool/a"] = drain.Drain(deadline=10.0, delete=True)
    reaper.reap_once(now=1.0)
    assert reaper.draining() == {}


def test_the_thread_closes_after_the_timeout(monkeypatch):
    cli = FakeSocket(monkeypatch)
    monkeypatch.setattr(drain, "REAP_INTERVAL", 0.02)
    lock = threading.Lock()
    reaper = drain.Reaper("sock", lock)
    started = time.monotonic()
    with lock:
        reaper.schedule(["pool/b"], timeout=0.2, delete=False)
    deadline = started + 5
    while reaper.draining() and time.monotonic() < deadline:
        time.sleep(0.01)
    assert cli.sent == ["shutdown pool/b"]
    assert 0.2 <= time.monotonic() - started < 1.0


def test_plans_name_what_they_disable_and_enable():
    base = CFG.format(hard_stop="2s")
    disabled = base.replace("10.0.0.2:80 weight 1", "10.0.0.2:80 weight 1 disabled")
    plan = member_plan(base, disabled)
    assert plan.toggled(disabled=True) == [f"{BACKEND}/b"] and plan.toggled(disabled=False) == []
    back = member_plan(disabled, base)
    assert back.toggled(disabled=False) == [f"{BACKEND}/b"]


def test_a_zero_timeout_closes_at_once(monkeypatch):
    sent = []
    monkeypatch.setattr(runtime, "_send", lambda _s, command: sent.append(command) or "")
    base = CFG.format(hard_stop="1ms")
    plan = member_plan(base, base.replace("    server a 10.0.0.1:80 weight 1\n", ""))
    runtime.apply("sock", plan, wait=0.01, drain_timeout=0.001)
    assert sent[:2] == [
        f"set server {BACKEND}/a state maint",
        f"shutdown sessions server {BACKEND}/a",
    ]
    sent.clear()
    runtime.apply("sock", plan, wait=0.2, drain_timeout=300)
    assert not any(command.startswith("shutdown") for command in sent)


# -- status: MAINT with sessions is DRAIN, read as DRAINING -----------------


def test_maintenance_with_sessions_is_reported_as_drain():
    assert heartbeat.member_status({"status": "MAINT", "scur": 2}) == "DRAIN"
    assert heartbeat.member_status({"status": "MAINT", "scur": 0}) == "MAINT"
    assert heartbeat.member_status({"status": "UP", "scur": 5}) == "UP"


def _derive(member_text, enabled=False):
    message = {
        "id": "a",
        "seq": 1,
        "listeners": {"l1": {"status": "OPEN"}},
        "pools": {
            "p1:l1": {"status": "UP", "members": {"m1": member_text, "gone": "DRAIN", "m2": "UP"}}
        },
    }
    shape = LbShape(
        "lb", 1, True, (("l1", True),), (PoolShape("p1", True, (("m1", enabled), ("m2", True))),)
    )
    return mapping.derive(shape, report.parse(message).seen, {})


def test_a_disabled_member_drains_then_is_offline():
    assert _derive("DRAIN")["member", "m1"] == "DRAINING"
    assert _derive("MAINT")["member", "m1"] == "OFFLINE"
    assert _derive("UP")["member", "m1"] == "OFFLINE"  # disabled: whatever HAProxy says


def test_a_removed_member_still_draining_is_ignored():
    derived = _derive("UP", enabled=True)
    assert ("member", "gone") not in derived
    assert derived["pool", "p1"] == "ONLINE" and derived["loadbalancer", "lb"] == "ONLINE"


# -- where the timeout comes from -------------------------------------------


def test_the_flavor_key_is_a_non_negative_integer():
    schema = providers.AMPHORA_SCHEMAS["flavor"]
    assert providers._schema_problem({"member_drain_timeout": 30}, schema) is None
    assert providers._schema_problem({"member_drain_timeout": 0}, schema) is None
    for bad in (True, "30", -1, 1.5):
        assert providers._schema_problem({"member_drain_timeout": bad}, schema)


def test_the_flavor_overrides_the_deployment_default():
    from lbaas import config

    default = config.CONF.haproxy_amphora.member_drain_timeout
    assert default == 300
    assert build.member_drain_timeout({}) == default
    assert build.member_drain_timeout({"member_drain_timeout": 2}) == 2
    assert build.member_drain_timeout({"member_drain_timeout": 0}) == 0
    assert build.member_drain_timeout({"member_drain_timeout": "2"}) == default
