"""The config diff that decides between runtime member changes and a reload."""

import os

from lbaas.agent import drain, runtime
from lbaas.agent.runtime import member_plan

GOLDEN = os.path.join(os.path.dirname(__file__), "..", "dataplane", "golden")
BACKEND = "pool-members:listener-members"


def golden(name):
    with open(os.path.join(GOLDEN, name)) as f:
        return f.read()


BASE = golden("member_options.cfg")
NORMAL = "    server member-normal 198.18.1.11:80 weight 10 check inter 5s fall 3 rise 3\n"
DISABLED = "    server member-disabled 198.18.1.14:80 weight 1 check inter 5s fall 3 rise 3 disabled\n"


def test_identical_configs_give_an_empty_plan():
    plan = member_plan(BASE, BASE)
    assert plan is not None and plan.empty()
    assert runtime.commands_for(plan) == []


def test_added_server_becomes_add_enable_health_enable_server():
    new = BASE.replace(NORMAL, NORMAL + NORMAL.replace("normal 198.18.1.11", "new 198.18.1.19"))
    plan = member_plan(BASE, new)
    assert plan is not None and [s.name for _, s in plan.added] == ["member-new"]
    assert runtime.commands_for(plan) == [
        f"add server {BACKEND}/member-new 198.18.1.19:80 weight 10 check inter 5s fall 3 rise 3",
        f"enable health {BACKEND}/member-new",
        f"enable server {BACKEND}/member-new",
    ]


def test_added_disabled_server_stays_in_maintenance():
    new = BASE.replace(DISABLED, DISABLED + DISABLED.replace("member-disabled", "member-off"))
    plan = member_plan(BASE, new)
    commands = runtime.commands_for(plan)
    assert commands[0].endswith("rise 3 disabled")
    assert not any(c.startswith("enable server") for c in commands)


def test_removed_server():
    plan = member_plan(BASE, BASE.replace(NORMAL, ""))
    assert plan is not None and plan.removed == [(BACKEND, "member-normal")]
    assert runtime.commands_for(plan) == []  # removal drains in apply()


def test_reweight_disable_and_enable():
    new = BASE.replace(NORMAL, NORMAL.replace("weight 10", "weight 3").replace("\n", " disabled\n"))
    new = new.replace(DISABLED, DISABLED.replace(" disabled", ""))
    plan = member_plan(BASE, new)
    assert runtime.commands_for(plan) == [
        f"set weight {BACKEND}/member-normal 3",
        f"set server {BACKEND}/member-normal state maint",
        f"set server {BACKEND}/member-disabled state ready",
    ]


def test_other_changes_reload():
    assert member_plan(BASE, BASE.replace("timeout check 3s", "timeout check 4s")) is None
    assert member_plan(BASE, BASE + "\nbackend extra\n    balance roundrobin\n") is None
    # A changed check, address or backup flag cannot be changed at runtime.
    assert member_plan(BASE, BASE.replace(NORMAL, NORMAL.replace("inter 5s", "inter 6s"))) is None
    assert member_plan(BASE, BASE.replace("198.18.1.11:80", "198.18.1.11:81")) is None
    assert member_plan(BASE, BASE.replace("rise 3 backup", "rise 3")) is None


def test_keywords_dynamic_servers_refuse_reload():
    cookies = golden("cookie_persistence.cfg")
    line = "    server cookie-m3 198.18.1.13:8080 weight 1 cookie cookie-m3\n"
    assert line in cookies
    assert member_plan(cookies, cookies.replace(line, "")) is not None  # removal is fine
    added = line.replace("m3 198.18.1.13", "m4 198.18.1.14").replace("cookie-m3\n", "cookie-m4\n")
    assert member_plan(cookies, cookies.replace(line, line + added)) is None
    # TLS to members: certificate paths would resolve in the worker's old bundle.
    tls = golden("pool_reencryption.cfg")
    server = next(x for x in tls.splitlines(keepends=True) if "server tlsnv-m2" in x)
    more = server.replace("tlsnv-m2 198.18.1.12", "tlsnv-m3 198.18.1.13")
    assert member_plan(tls, tls.replace(server, server + more)) is None


def test_static_balancing_algorithm_reloads():
    cfg = golden("dual_vip.cfg")
    source = [x for x in cfg.split("\nbackend ") if "balance source" in x]
    assert source
    line = next(x for x in source[0].splitlines(keepends=True) if x.startswith("    server "))
    assert member_plan(cfg, cfg.replace(line, "", 1)) is None


def test_server_option_words():
    assert runtime.dynamic_options_ok(("weight", "1", "check", "addr", "10.0.0.1", "port", "9"))
    assert runtime.dynamic_options_ok(("weight", "1", "send-proxy-v2", "backup"))
    assert not runtime.dynamic_options_ok(("weight",))  # missing its argument
    assert not runtime.dynamic_options_ok(("weight", "1", "cookie", "x"))
    assert not runtime.dynamic_options_ok(("check-sni", '"a b"'))
    assert not runtime.dynamic_options_ok(("ssl", "verify", "none"))


def test_duplicate_server_name_reloads():
    assert member_plan(BASE, BASE.replace(NORMAL, NORMAL + NORMAL)) is None


def test_same_files(tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    for root in (a, b):
        (root / "sub").mkdir(parents=True)
        (root / "sub" / "x.pem").write_text("x")
    assert runtime.same_files(str(a), str(b))
    (b / "sub" / "x.pem").write_text("y")
    assert not runtime.same_files(str(a), str(b))


class FakeCli:
    """An HAProxy stats socket that answers `del server` with `refusals`
    "still has connections" first; records every command."""

    def __init__(self, path, refusals, fixed=None):
        import socketserver
        import threading

        self.commands, self.refusals = [], refusals
        cli = self

        class Handler(socketserver.StreamRequestHandler):
            def handle(self):
                command = self.rfile.readline().decode().strip()
                cli.commands.append(command)
                answer = ""
                if command.startswith("del server"):
                    cli.refusals -= 1
                    answer = "Server still has connections attached to it, cannot remove it."
                    answer = answer if cli.refusals >= 0 else "Server deleted."
                answer = fixed if fixed is not None else answer
                self.wfile.write(answer.encode() + b"\n")

        self.server = socketserver.ThreadingUnixStreamServer(path, Handler)
        threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


def test_removed_server_with_connections_is_deleted_later(tmp_path, monkeypatch):
    import threading
    import time

    monkeypatch.setattr(drain, "REAP_INTERVAL", 0.02)
    path = str(tmp_path / "stats.sock")
    cli = FakeCli(path, refusals=5)
    try:
        plan = member_plan(BASE, BASE.replace(NORMAL, ""))
        left = runtime.apply(path, plan, wait=0)
        assert left == [f"{BACKEND}/member-normal"]
        assert cli.commands[0] == f"set server {BACKEND}/member-normal state maint"
        lock = threading.Lock()
        reaper = drain.Reaper(path, lock)
        with lock:
            reaper.schedule(left)
            assert reaper.pending() == set(left)
        deadline = time.monotonic() + 5
        while reaper.pending() and time.monotonic() < deadline:
            time.sleep(0.02)
        assert reaper.pending() == set()
        assert cli.commands.count(f"del server {BACKEND}/member-normal") == 6
    finally:
        cli.close()


def test_refused_command_raises(tmp_path):
    path = str(tmp_path / "stats.sock")
    cli = FakeCli(path, refusals=0, fixed="No such backend.")
    try:
        plan = member_plan(BASE, BASE.replace(NORMAL, NORMAL.replace("weight 10", "weight 2")))
        try:
            runtime.apply(path, plan)
        except runtime.RuntimeApplyError as exc:
            assert "No such backend" in str(exc)
        else:
            raise AssertionError("no RuntimeApplyError")
    finally:
        cli.close()
