"""Member changes reach the running HAProxy without a reload.

A real agent and HAProxy on 127.0.0.1 (as in test_agent.py), in front of
three small HTTP backends that answer with their own name. Reloads are
counted by HAProxy itself: the master's reload count and the worker's pid
(`show proc` on the master CLI) stay the same across runtime changes.
"""
import collections
import http.client
import http.server
import os
import signal
import threading
import time

import pytest

from lbaas import wire
from lbaas.agent.haproxy import parse_show_proc, unix_command
from tests.scenario.test_agent import (  # noqa: F401 (fixtures)
    AMPHORA_ID,
    HAPROXY_CFG,
    agent,
    client,
    free_port,
    haproxy_installed,
    pki_dir,
    put,
)

# test_agent's configuration, with a pool of several servers that change.
CFG = HAPROXY_CFG.replace(
    "backend pool\n    server be1 127.0.0.1:{backend_port}\n",
    "backend pool\n    balance roundrobin\n    http-reuse safe\n{servers}",
)
assert "{servers}" in CFG


class _Named(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive: HAProxy keeps idle connections

    def do_GET(self):
        body = self.server.name.encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


class _Backend(http.server.ThreadingHTTPServer):
    daemon_threads = True


@pytest.fixture(scope="module")
def backends():
    servers = {}
    for name in ("be1", "be2", "be3"):
        server = _Backend(("127.0.0.1", 0), _Named)
        server.name = name
        threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
        servers[name] = server.server_address[1]
    yield servers
    # daemon threads; the sockets close with the process


def bundle(agent, vip, ports, members, generation="one"):
    """members: {name: options after the address}; be1-2 is another server on be1."""
    lines = "".join(f"    server {name} 127.0.0.1:{ports[name.split('-')[0]]} {options}\n"
                    for name, options in members.items())
    cfg = CFG.format(state=agent.state_dir, stats=wire.STATS_SOCKET,
                     server_state=wire.SERVER_STATE_FILE, port=vip,
                     generation=generation, servers=lines)
    return wire.ConfigBundle(haproxy_cfg=cfg)


def processes(agent):
    """(master reload count, worker pids) from HAProxy's master CLI."""
    return parse_show_proc(unix_command(wire.state_path(agent.state_dir, wire.MASTER_SOCKET),
                                        "show proc"))


def spread(vip, requests=30):
    seen = collections.Counter()
    for _ in range(requests):
        connection = http.client.HTTPConnection("127.0.0.1", vip, timeout=5)
        try:
            connection.request("GET", "/", headers={"Connection": "close"})
            response = connection.getresponse()
            assert response.status == 200
            seen[response.read().decode()] += 1
        finally:
            connection.close()
    return seen


CHECK = "weight 1 check inter 1s fall 2 rise 1"


def test_member_changes_do_not_reload(agent, client, backends):
    vip = free_port()
    members = {"be1": CHECK, "be2": CHECK}
    first = put(client, agent, bundle(agent, vip, backends, members))
    before = processes(agent)
    assert set(spread(vip)) == {"be1", "be2"}

    steps = [
        ("add be3", {**members, "be3": CHECK}, {"be1", "be2", "be3"}),
        ("be1 weight 0", {"be1": "weight 0 check inter 1s fall 2 rise 1", "be2": CHECK,
                          "be3": CHECK}, {"be2", "be3"}),
        ("disable be2", {"be1": "weight 0 check inter 1s fall 2 rise 1",
                         "be2": CHECK + " disabled", "be3": CHECK}, {"be3"}),
        ("enable be2, be1 weight 2", {"be1": "weight 2 check inter 1s fall 2 rise 1",
                                      "be2": CHECK, "be3": CHECK}, {"be1", "be2", "be3"}),
        ("remove be1", {"be2": CHECK, "be3": CHECK}, {"be2", "be3"}),
        ("add be1 without check", {"be1": "weight 1", "be2": CHECK, "be3": CHECK},
         {"be1", "be2", "be3"}),
    ]
    for label, wanted, reached in steps:
        new = bundle(agent, vip, backends, wanted)
        status = put(client, agent, new)
        assert status.config_digest == new.digest(), label
        assert status.haproxy_reloads == first.haproxy_reloads, label
        assert processes(agent) == before, label  # same reload count, same worker
        assert set(spread(vip)) == reached, label

    # A restart from the file gives the same servers.
    master = agent.haproxy_pid()
    os.kill(master, signal.SIGKILL)
    deadline = time.monotonic() + 10
    while agent.haproxy_pid() in (None, master) and time.monotonic() < deadline:
        time.sleep(0.05)
    while time.monotonic() < deadline:  # the old worker exits, the new one serves
        try:
            if processes(agent)[1] != before[1]:
                break
        except OSError:
            pass
        time.sleep(0.05)
    time.sleep(0.5)
    restarted = client.status(AMPHORA_ID, "127.0.0.1", agent.port)
    assert restarted.config_digest == new.digest()
    assert set(spread(vip)) == {"be1", "be2", "be3"}


def test_structural_change_still_reloads(agent, client, backends):
    vip = free_port()
    members = {"be1": CHECK}
    first = put(client, agent, bundle(agent, vip, backends, members))
    # A member change together with another change: one reload does both.
    second = put(client, agent, bundle(agent, vip, backends, {**members, "be2": CHECK}, "two"))
    assert second.haproxy_reloads == first.haproxy_reloads + 1
    assert set(spread(vip)) == {"be1", "be2"}


def test_runtime_failure_falls_back_to_reload(agent, client, backends):
    vip = free_port()
    first = put(client, agent, bundle(agent, vip, backends, {"be1": CHECK}))
    stats = wire.state_path(agent.state_dir, wire.STATS_SOCKET)
    os.rename(stats, stats + ".hidden")  # the worker's CLI is out of reach
    try:
        new = bundle(agent, vip, backends, {"be1": CHECK, "be2": CHECK})
        status = put(client, agent, new)
    finally:
        os.unlink(stats + ".hidden")
    assert status.config_digest == new.digest()
    assert status.haproxy_reloads == first.haproxy_reloads + 1
    assert set(spread(vip)) == {"be1", "be2"}
    with open(wire.state_path(agent.state_dir, wire.AGENT_LOG_FILE)) as f:
        assert "runtime member change failed, reloading instead" in f.read()


def test_removal_under_keep_alive_traffic(agent, client, backends):
    """A removed server leaves the traffic at once; `del server` follows when
    its idle connections (http-reuse) are gone, without a reload."""
    vip = free_port()
    first = put(client, agent, bundle(agent, vip, backends, {"be1": CHECK, "be2": CHECK}))
    done = threading.Event()
    results = []
    removals = []

    def keep_alive():
        connection = http.client.HTTPConnection("127.0.0.1", vip, timeout=5)
        while not done.is_set():
            try:
                connection.request("GET", "/")
                response = connection.getresponse()
                response.read()
                results.append(response.status == 200)
            except (OSError, http.client.HTTPException):
                results.append(False)
                connection.close()
                connection = http.client.HTTPConnection("127.0.0.1", vip, timeout=5)
        connection.close()

    threads = [threading.Thread(target=keep_alive) for _ in range(4)]
    for thread in threads:
        thread.start()
    try:
        time.sleep(0.3)
        for n in range(3):
            began = time.monotonic()
            put(client, agent, bundle(agent, vip, backends, {"be2": CHECK}))
            removals.append(time.monotonic() - began)
            time.sleep(0.2)
            put(client, agent, bundle(agent, vip, backends, {f"be1-{n}": CHECK, "be2": CHECK}))
            time.sleep(0.2)
    finally:
        done.set()
        for thread in threads:
            thread.join(10)
    status = client.status(AMPHORA_ID, "127.0.0.1", agent.port)
    print(f"{len(results)} keep-alive requests, {results.count(False)} failed, "
          f"{status.haproxy_reloads - first.haproxy_reloads} reloads; removal put "
          f"max {max(removals) * 1000:.0f} ms")
    assert results.count(False) == 0 and len(results) > 50
    assert status.haproxy_reloads == first.haproxy_reloads
    stats = wire.state_path(agent.state_dir, wire.STATS_SOCKET)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:  # idle connections go within a few pool-purge-delays
        names = unix_command(stats, "show servers state pool")
        if " be1 " not in names and " be1-0 " not in names and " be1-1 " not in names:
            break
        time.sleep(0.5)
    print(f"removed servers deleted {60 - (deadline - time.monotonic()):.1f} s after the run")
    assert " be1 " not in names and " be1-1 " not in names and " be1-2 " in names
    assert processes(agent)[0] == first.haproxy_reloads


def test_added_server_is_health_checked(agent, client, backends):
    vip = free_port()
    first = put(client, agent, bundle(agent, vip, backends, {"be1": CHECK}))
    dead = free_port()  # nothing listens there
    cfg = bundle(agent, vip, backends, {"be1": CHECK}).haproxy_cfg
    cfg += f"    server gone 127.0.0.1:{dead} {CHECK}\n"
    status = put(client, agent, wire.ConfigBundle(haproxy_cfg=cfg))
    assert status.haproxy_reloads == first.haproxy_reloads
    stats = wire.state_path(agent.state_dir, wire.STATS_SOCKET)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        rows = unix_command(stats, "show stat").splitlines()
        if any(",gone," in row and ",DOWN," in row for row in rows):
            break
        time.sleep(0.2)
    assert any(",gone," in row and ",DOWN," in row for row in rows)
    assert spread(vip, 10) == {"be1": 10}


def test_reload_after_runtime_changes_follows_the_file(agent, client, backends):
    """The server-state file does not carry a runtime `maint` into a reload."""
    vip = free_port()
    enabled = {"be1": CHECK, "be2": CHECK}
    disabled = {"be1": CHECK, "be2": CHECK + " disabled"}
    first = put(client, agent, bundle(agent, vip, backends, enabled))
    put(client, agent, bundle(agent, vip, backends, disabled))  # runtime: maint
    again = put(client, agent, bundle(agent, vip, backends, enabled, "two"))  # reload
    assert again.haproxy_reloads == first.haproxy_reloads + 1
    assert set(spread(vip)) == {"be1", "be2"}
    put(client, agent, bundle(agent, vip, backends, disabled, "two"))  # runtime: maint
    kept = put(client, agent, bundle(agent, vip, backends, disabled, "three"))  # reload
    assert kept.haproxy_reloads == first.haproxy_reloads + 2
    assert set(spread(vip)) == {"be1"}
