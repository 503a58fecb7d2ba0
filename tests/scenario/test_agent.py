"""The amphora agent for real: agent process, HAProxy, mutual TLS, traffic.

Everything runs on 127.0.0.1 without namespaces: the agent is started as
`python -m lbaas.agent`, HAProxy forwards to a small HTTP backend in this
process. Every process started here is stopped by a fixture finalizer, and
each test checks that nothing of its agent is left running.
"""
import http.client
import http.server
import os
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import threading
import time

import pytest

from lbaas import wire
from lbaas.agent.haproxy import process_alive
from lbaas.drivers.amphora.rest import AgentClient, AgentFailed, AgentRejected, AgentTLSError
from lbaas.drivers.pki import ControllerPKI

AMPHORA_ID = "0b7e6c52-3d1b-4b0e-9a51-6f1d2a7c8e90"
REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

HAPROXY_CFG = """global
    maxconn 2000
    stats socket {state}/{stats} mode 600 level admin
    server-state-file {state}/{server_state}
    hard-stop-after 10s
defaults
    mode http
    timeout connect 2s
    timeout client 10s
    timeout server 10s
    load-server-state-from-file global
frontend vip
    bind 127.0.0.1:{port}
    http-response set-header X-Generation {generation}
    default_backend pool
backend pool
    server be1 127.0.0.1:{backend_port}
"""


@pytest.fixture(scope="module", autouse=True)
def haproxy_installed():
    if shutil.which("haproxy") is None:
        pytest.skip("haproxy is not installed (apt-get install haproxy)")


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class _Hello(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        body = b"hello from backend\n"
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


class _Backend(http.server.ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 512  # the burst test must not be limited by the backend


@pytest.fixture(scope="module")
def backend_port():
    server = _Backend(("127.0.0.1", 0), _Hello)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield server.server_address[1]
    server.shutdown()
    server.server_close()


@pytest.fixture(scope="module")
def pki_dir(tmp_path_factory):
    path = tmp_path_factory.mktemp("pki")
    ControllerPKI(path)
    return path


@pytest.fixture
def client(pki_dir):
    return AgentClient(pki_dir)


class Agent:
    """One agent subprocess and what it started, for tests and cleanup."""

    def __init__(self, pki_dir, state_dir):
        self.state_dir = str(state_dir)
        self.port = free_port()
        ControllerPKI(pki_dir).write_agent_files(AMPHORA_ID, self.state_dir)
        self.pid_file = wire.state_path(self.state_dir, wire.PID_FILE)
        self.process = None

    def start(self):
        cmd = [sys.executable, "-m", "lbaas.agent", "--amphora-id", AMPHORA_ID,
               "--state-dir", self.state_dir, "--bind", f"127.0.0.1:{self.port}",
               "--stop-grace", "1"]
        self.process = subprocess.Popen(cmd, cwd=REPO, stdin=subprocess.DEVNULL)
        return self.process

    def haproxy_pid(self):
        try:
            with open(self.pid_file) as f:
                pid = int(f.read().strip())
        except (FileNotFoundError, ValueError):
            return None
        return pid if self.alive(pid) else None

    def alive(self, pid):
        return process_alive(pid, self.pid_file)

    def bundle(self, haproxy_port, backend_port, generation, extra=""):
        cfg = HAPROXY_CFG.format(state=self.state_dir, stats=wire.STATS_SOCKET,
                                 server_state=wire.SERVER_STATE_FILE, port=haproxy_port,
                                 backend_port=backend_port, generation=generation)
        return wire.ConfigBundle(haproxy_cfg=cfg + extra)

    def cleanup(self):
        """Stop the agent; kill and return whatever it left running."""
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)
        # Every process whose command line names this test's own state dir.
        leaked = self.processes_of_state_dir()
        for pid in leaked:
            os.kill(pid, signal.SIGKILL)
        return leaked

    def processes_of_state_dir(self):
        marker = os.fsencode(self.state_dir + "/")
        found = []
        for entry in filter(str.isdigit, os.listdir("/proc")):
            try:
                with open(f"/proc/{entry}/stat", "rb") as f:
                    zombie = f.read().rsplit(b")", 1)[1].split()[0] == b"Z"
                with open(f"/proc/{entry}/cmdline", "rb") as f:
                    if not zombie and marker in f.read():
                        found.append(int(entry))
            except (OSError, IndexError):
                pass  # gone meanwhile
        return found


@pytest.fixture
def agent(pki_dir, tmp_path, client):
    agent = Agent(pki_dir, tmp_path / "amphora")
    try:
        agent.start()
        client.wait_ready(AMPHORA_ID, "127.0.0.1", agent.port, timeout=10)
        yield agent
    finally:
        leaked = agent.cleanup()
    assert leaked == [], "the agent left processes running"


def get_through(port, timeout=5):
    """One request on a new connection; returns (status, X-Generation)."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        connection.request("GET", "/", headers={"Connection": "close"})
        response = connection.getresponse()
        response.read()
        return response.status, response.getheader("X-Generation")
    finally:
        connection.close()


def put(client, agent, bundle):
    return client.put_config(AMPHORA_ID, "127.0.0.1", agent.port, bundle)


# -- tests -------------------------------------------------------------------

def test_push_serve_change(agent, client, backend_port):
    vip = free_port()
    first = agent.bundle(vip, backend_port, "one")
    status = put(client, agent, first)
    assert status.haproxy_running and status.config_digest == first.digest()
    assert get_through(vip) == (200, "one")

    again = put(client, agent, first)  # same digest: nothing reloads
    assert again.haproxy_reloads == status.haproxy_reloads
    assert again.haproxy_pid == status.haproxy_pid

    second = agent.bundle(vip, backend_port, "two")
    changed = put(client, agent, second)
    assert changed.config_digest == second.digest() != first.digest()
    assert changed.haproxy_reloads == status.haproxy_reloads + 1
    assert changed.haproxy_pid == status.haproxy_pid  # reloaded, not restarted
    assert get_through(vip) == (200, "two")

    rows = client.stats(AMPHORA_ID, "127.0.0.1", agent.port)
    assert {(r["pxname"], r["svname"]) for r in rows} >= {("vip", "FRONTEND"),
                                                           ("pool", "be1")}


def _burst(port, done, results):
    while not done.is_set():
        try:
            status, _ = get_through(port, timeout=3)
            results.append(status == 200)
        except OSError:
            results.append(False)


def test_reloads_drop_no_new_connection(agent, client, backend_port):
    vip = free_port()
    put(client, agent, agent.bundle(vip, backend_port, "g0"))
    results = []
    done = threading.Event()
    clients = [threading.Thread(target=_burst, args=(vip, done, results))
               for _ in range(4)]
    for thread in clients:
        thread.start()
    # Counted, not timed: a loaded machine makes each reload slower, not fewer.
    time.sleep(0.3)
    for reloads in range(1, 6):
        put(client, agent, agent.bundle(vip, backend_port, f"g{reloads}"))
        time.sleep(0.2)
    done.set()
    for thread in clients:
        thread.join(10)
    failures = results.count(False)
    print(f"{len(results)} requests on new connections, {reloads} reloads, "
          f"{failures} failed")
    assert reloads >= 3 and len(results) > 100
    assert failures == 0


def test_invalid_config_is_refused_and_old_one_serves(agent, client, backend_port):
    vip = free_port()
    good = agent.bundle(vip, backend_port, "good")
    put(client, agent, good)
    with pytest.raises(AgentRejected) as caught:
        put(client, agent, agent.bundle(vip, backend_port, "bad", "    no_such_keyword\n"))
    assert caught.value.status == 400
    assert "no_such_keyword" in caught.value.details
    status = client.status(AMPHORA_ID, "127.0.0.1", agent.port)
    assert status.config_digest == good.digest()
    assert get_through(vip) == (200, "good")


def test_failed_reload_rolls_back(agent, client, backend_port):
    vip = free_port()
    good = agent.bundle(vip, backend_port, "good")
    before = put(client, agent, good)
    with socket.socket() as squatter:  # valid config, but its port is taken
        squatter.bind(("127.0.0.1", 0))
        squatter.listen()
        taken = squatter.getsockname()[1]
        extra = f"frontend other\n    bind 127.0.0.1:{taken}\n    default_backend pool\n"
        with pytest.raises(AgentFailed) as caught:
            put(client, agent, agent.bundle(vip, backend_port, "new", extra))
    assert caught.value.status == 500 and "bind" in caught.value.details
    after = client.status(AMPHORA_ID, "127.0.0.1", agent.port)
    assert after.config_digest == good.digest()
    assert after.haproxy_pid == before.haproxy_pid
    assert get_through(vip) == (200, "good")


def test_client_without_certificate_is_refused(agent):
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.load_verify_locations(wire.state_path(agent.state_dir, wire.CA_FILE))
    with pytest.raises((ssl.SSLError, ConnectionResetError, BrokenPipeError)):  # noqa: SIM117
        with socket.create_connection(("127.0.0.1", agent.port), timeout=5) as raw:
            with context.wrap_socket(raw, server_hostname=AMPHORA_ID) as tls:
                tls.sendall(b"GET /1.0/info HTTP/1.0\r\n\r\n")
                if not tls.recv(1024):
                    raise ConnectionResetError("closed without an answer")


def test_client_expecting_another_amphora_refuses_server(agent, client):
    with pytest.raises(AgentTLSError):
        client.info("another-amphora-id", "127.0.0.1", agent.port)


def test_sigterm_stops_haproxy(agent, client, backend_port):
    vip = free_port()
    put(client, agent, agent.bundle(vip, backend_port, "one"))
    master = agent.haproxy_pid()
    agent.process.send_signal(signal.SIGTERM)
    assert agent.process.wait(15) == 0
    assert not agent.alive(master)
    with pytest.raises(OSError):
        get_through(vip, timeout=1)


def test_dead_haproxy_is_restarted(agent, client, backend_port):
    vip = free_port()
    put(client, agent, agent.bundle(vip, backend_port, "one"))
    master = agent.haproxy_pid()
    os.kill(master, signal.SIGKILL)
    deadline = time.monotonic() + 10
    while agent.haproxy_pid() in (None, master) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert agent.haproxy_pid() not in (None, master)
    assert get_through(vip) == (200, "one")


def test_restarted_agent_adopts_running_haproxy(agent, client, backend_port):
    vip = free_port()
    bundle = agent.bundle(vip, backend_port, "one")
    put(client, agent, bundle)
    master = agent.haproxy_pid()
    agent.process.kill()  # the agent dies; HAProxy must keep serving
    agent.process.wait(5)
    assert get_through(vip) == (200, "one")
    agent.start()
    client.wait_ready(AMPHORA_ID, "127.0.0.1", agent.port, timeout=10)
    status = client.status(AMPHORA_ID, "127.0.0.1", agent.port)
    assert (status.haproxy_pid, status.config_digest) == (master, bundle.digest())


def test_delete_config_stops_haproxy(agent, client, backend_port):
    vip = free_port()
    put(client, agent, agent.bundle(vip, backend_port, "one"))
    master = agent.haproxy_pid()
    status = client.delete_config(AMPHORA_ID, "127.0.0.1", agent.port)
    assert (status.config_digest, status.haproxy_running) == (None, False)
    assert not agent.alive(master)
    with pytest.raises(OSError):
        get_through(vip, timeout=1)


def test_keepalived_follows_the_bundle(agent, client, backend_port):
    if shutil.which("keepalived") is None:
        pytest.skip("keepalived is not installed")
    vip = free_port()
    # No VRRP instance: keepalived runs but touches no interface.
    with_vrrp = agent.bundle(vip, backend_port, "one")
    with_vrrp = wire.ConfigBundle(haproxy_cfg=with_vrrp.haproxy_cfg,
                                  keepalived_cfg="global_defs {\n    router_id amp\n}\n")
    assert put(client, agent, with_vrrp).keepalived_running
    keepalived_pid_file = os.path.join(agent.state_dir, wire.KEEPALIVED_DIR,
                                       "keepalived.pid")
    with open(keepalived_pid_file) as f:
        keepalived_pid = int(f.read())
    bad = wire.ConfigBundle(haproxy_cfg=with_vrrp.haproxy_cfg,
                            keepalived_cfg="global_defs {\n    no_such_keyword 1\n}\n")
    with pytest.raises(AgentRejected):
        put(client, agent, bad)
    assert client.status(AMPHORA_ID, "127.0.0.1", agent.port).keepalived_running
    without = put(client, agent, agent.bundle(vip, backend_port, "two"))
    assert not without.keepalived_running
    assert not process_alive(keepalived_pid, keepalived_pid_file)


def test_timings(pki_dir, tmp_path, client, backend_port):
    """Figures for the record (printed with -s), loose bounds only."""
    agent = Agent(pki_dir, tmp_path / "timed")
    try:
        started = time.perf_counter()
        agent.start()
        client.wait_ready(AMPHORA_ID, "127.0.0.1", agent.port, timeout=10)
        ready = time.perf_counter() - started
        vip = free_port()
        timings = []
        for generation in range(6):  # first one starts HAProxy, then reloads
            began = time.perf_counter()
            put(client, agent, agent.bundle(vip, backend_port, str(generation)))
            timings.append(time.perf_counter() - began)
        began = time.perf_counter()
        for _ in range(20):
            client.status(AMPHORA_ID, "127.0.0.1", agent.port)
        status_rtt = (time.perf_counter() - began) / 20
    finally:
        leaked = agent.cleanup()
    reloads = sorted(timings[1:])
    print(f"\nagent start -> first info: {ready * 1000:.0f} ms; put_config with start: "
          f"{timings[0] * 1000:.0f} ms; with reload: median {reloads[2] * 1000:.0f} ms "
          f"(max {reloads[-1] * 1000:.0f}); status round trip {status_rtt * 1000:.1f} ms")
    assert leaked == []
    assert ready < 5 and max(timings) < 10
