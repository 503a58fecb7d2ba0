"""The netns compute and network drivers for real: namespaces, bridges, agents.

Needs root, working network namespaces and HAProxy; skipped otherwise. The
fabric here is a private one (`test-fabric-<pid>`, management network
198.19.254.0/24 on host link `test-m<pid>`), so a real `lbaas-fabric` on the
same host is never touched. A backend runs in `member-<pid>` at
198.18.0.201:8080 and traffic comes from `client-<pid>` (198.18.0.202,
fd00:1b::202). Finalizers delete every amphora, namespace and process made
here, also when a test fails; the last one checks that nothing is left.

Timings (build to agent answering, plug, delete) are printed; run with -s.
"""
import concurrent.futures
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import types
import uuid

import pytest

from lbaas import config, wire
from lbaas.drivers import base
from lbaas.drivers.amphora.rest import AgentClient
from lbaas.drivers.netns import (
    Fabric,
    NetnsCompute,
    NetnsNetwork,
    compute,
    layout,
    netlink,
    processes,
)
from tests.scenario.conftest import why_not_runnable
from tests.skips import skip_if

NETWORK_ID = '5fd5b4c2-8bd1-4b1c-9a67-6b1f7d0c0a01'
V4_SUBNET = '9c3e0f7e-3f0b-4d8e-8d5b-2b6f9a4c1d01'
V6_SUBNET = '9c3e0f7e-3f0b-4d8e-8d5b-2b6f9a4c1d02'
SUBNET_SPECS = [
    'id=%s,subnet_id=%s,cidr=198.18.0.0/24,gateway=198.18.0.1' % (NETWORK_ID, V4_SUBNET),
    'id=%s,subnet_id=%s,cidr=fd00:1b::/64,gateway=fd00:1b::1' % (NETWORK_ID, V6_SUBNET)]
MEMBER_IP, CLIENT_IP, CLIENT_IP6 = '198.18.0.201', '198.18.0.202', 'fd00:1b::202'
MEMBER_PORT = 8080
TAG = str(os.getpid())
TIMINGS = {}

MEMBER_SERVER = r'''
import http.server, sys
class Hello(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        body = ("hello from member; peer=%s\n" % self.client_address[0]).encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, *args):
        pass
http.server.ThreadingHTTPServer((sys.argv[1], int(sys.argv[2])), Hello).serve_forever()
'''

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
    bind {vip}:80
    default_backend pool
backend pool
    server member1 {member}:{member_port}
"""



@pytest.fixture(scope='module')
def env():
    reason = why_not_runnable()
    skip_if(reason, 'netns driver scenarios')
    # Short: the agent's unix socket paths under it must fit in 107 bytes.
    root = tempfile.mkdtemp(prefix='lbaas-netns-', dir='/tmp')
    fabric = Fabric(name='test-fabric-' + TAG, host_link='test-m' + TAG,
                    management_cidr='198.19.254.0/24', controller_ip='198.19.254.1',
                    subnets=[config.LocalSubnet(spec) for spec in SUBNET_SPECS])
    drivers = types.SimpleNamespace(
        root=root, fabric=fabric, compute=NetnsCompute(state_dir=root, fabric=fabric),
        network=NetnsNetwork(state_dir=root, fabric=fabric), helpers=[])
    try:
        fabric.ensure()
        drivers.client = AgentClient(drivers.compute.pki_dir)
        yield drivers
    finally:
        _tear_down(drivers)
        _print_timings()


def _tear_down(env):
    for namespace in netlink.namespace_names(layout.AMPHORA_PREFIX):
        if env.compute.store.find_by_namespace(namespace) is not None:
            env.compute.delete(namespace)
    for process in env.helpers:
        _stop_helper(process)
    for name in ('member-' + TAG, 'client-' + TAG):
        netlink.remove_namespace(name)
    env.fabric.destroy()
    shutil.rmtree(env.root, ignore_errors=True)
    mine = [n for n in netlink.namespace_names() if n.endswith('-' + TAG)]
    assert not mine, 'namespaces left behind: %s' % mine
    assert not _processes_mentioning(env.root), 'processes left behind'


def _print_timings():
    for name, values in TIMINGS.items():
        print('netns timing %-22s %s' % (name, ', '.join('%.3f s' % v for v in values)),
              file=sys.stderr)


def _time(name, started):
    TIMINGS.setdefault(name, []).append(time.monotonic() - started)


def _stop_helper(process):
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGKILL)
    process.wait(10)


def _processes_mentioning(text):
    found = []
    for entry in os.listdir('/proc'):
        if entry.isdigit() and processes.process_running(int(entry), text):
            found.append(int(entry))
    return found


def _start_helper(env, namespace, *argv):
    process = subprocess.Popen(['ip', 'netns', 'exec', namespace, sys.executable, *argv],
                               stdin=subprocess.DEVNULL, start_new_session=True)
    env.helpers.append(process)
    return process


def http_get(namespace, host, port=80, timeout=10.0):
    """GET / from inside `namespace`, retried until `timeout`; (status, body)."""
    deadline = time.monotonic() + timeout
    family = socket.AF_INET6 if ':' in host else socket.AF_INET
    while True:
        sock = netlink.run_in_namespace(namespace, socket.socket, family, socket.SOCK_STREAM)
        try:
            sock.settimeout(2.0)
            sock.connect((host, port))
            sock.sendall(b'GET / HTTP/1.0\r\nHost: test\r\n\r\n')
            answer = b''.join(iter(lambda: sock.recv(65536), b''))  # noqa: B023 (called at once)
            head, _, body = answer.partition(b'\r\n\r\n')
            return int(head.split()[1]), body.decode()
        except (OSError, IndexError, ValueError):
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)
        finally:
            sock.close()


@pytest.fixture(scope='module')
def member(env):
    namespace = 'member-' + TAG
    netlink.create_namespace(namespace)
    env.fabric.attach(namespace, 'eth0', 'mem-' + TAG, env.fabric.bridge_for(NETWORK_ID),
                      [(MEMBER_IP, 24)])
    _start_helper(env, namespace, '-c', MEMBER_SERVER, MEMBER_IP, str(MEMBER_PORT))
    assert http_get(namespace, MEMBER_IP, MEMBER_PORT)[0] == 200
    return namespace


@pytest.fixture(scope='module')
def client(env):
    namespace = 'client-' + TAG
    netlink.create_namespace(namespace)
    env.fabric.attach(namespace, 'eth0', 'cli-' + TAG, env.fabric.bridge_for(NETWORK_ID),
                      [(CLIENT_IP, 24), (CLIENT_IP6, 64)])
    return namespace


@pytest.fixture
def amphorae(env):
    """Amphora ids to build; whatever a test built is deleted afterwards."""
    built = []

    def new_id():
        amphora_id = str(uuid.uuid4())
        built.append(amphora_id)
        return amphora_id

    yield new_id
    for amphora_id in built:
        env.compute.delete(layout.namespace_for(amphora_id))


def fake_lb(vip, subnet_id, topology='SINGLE'):
    return base.LoadBalancerNetwork(
        id=str(uuid.uuid4()), topology=topology,
        vips=(base.Vip(subnet_id=subnet_id, address=vip, port_id=str(uuid.uuid4())),))


def build_and_wait(env, amphora_id, lb_id):
    started = time.monotonic()
    compute_id = env.compute.build(amphora_id, lb_id)
    _time('build_call', started)
    record = env.compute.store.load(amphora_id)
    info = env.client.wait_ready(amphora_id, record.management_ip, wire.DEFAULT_PORT, 20)
    _time('build_to_ready', started)
    assert info.amphora_id == amphora_id
    return compute_id, record


def push_bundle(env, amphora_id, management_ip, vip):
    state = env.compute.store.amphora_dir(amphora_id)
    bind = '[%s]' % vip if ':' in vip else vip
    cfg = HAPROXY_CFG.format(state=state, stats=wire.STATS_SOCKET,
                             server_state=wire.SERVER_STATE_FILE, vip=bind,
                             member=MEMBER_IP, member_port=MEMBER_PORT)
    status = env.client.put_config(amphora_id, management_ip, wire.DEFAULT_PORT,
                                   wire.ConfigBundle(haproxy_cfg=cfg))
    assert status.haproxy_running


def agent_pid(env, amphora_id):
    with open(os.path.join(env.compute.store.amphora_dir(amphora_id),
                           compute.SPAWNED_PID_FILE)) as f:
        return int(f.read())


def routes(namespace):
    with netlink.rtnl(namespace) as ipr:
        return [(r.get('dst'), r['dst_len'], r.get('gateway'))
                for family in (socket.AF_INET, socket.AF_INET6)
                for r in ipr.route('dump', family=family, table=254)]


def our_namespaces(env, *extra):
    """Namespaces of this module (others may come and go on a shared host)."""
    return [n for n in netlink.namespace_names()
            if n.endswith('-' + TAG) or n in extra
            or env.compute.store.find_by_namespace(n) is not None]


def assert_gone(env, amphora_id, compute_id, namespaces_before, ports_before, host_before):
    assert env.compute.status(compute_id) == 'DELETED'
    assert our_namespaces(env, compute_id) == namespaces_before
    assert env.fabric.port_names() == ports_before
    assert netlink.link_names() == host_before
    assert not os.path.exists(env.compute.store.amphora_dir(amphora_id))
    assert not _processes_mentioning(amphora_id)


# -- scenarios ----------------------------------------------------------------------

def test_fabric_ensure_is_idempotent(env):
    first = (env.fabric.port_names(), netlink.link_names())
    started = time.monotonic()
    env.fabric.ensure()
    _time('fabric_ensure_again', started)
    assert (env.fabric.port_names(), netlink.link_names()) == first
    assert {'br-mgmt', 'br-5fd5b4', 'host-mgmt'} <= set(first[0])
    with netlink.rtnl() as ipr:
        index = netlink.link_index(ipr, env.fabric.host_link)
        addresses = [(m.get('address'), m['prefixlen']) for m in ipr.addr('dump', index=index)]
    assert addresses == [('198.19.254.1', 24)]
    assert routes(env.fabric.name) == []  # pure layer 2: no route at all


def test_ipv4_vip_build_plug_traffic_delete(env, member, client, amphorae):
    namespaces_before = our_namespaces(env)
    ports_before, host_before = env.fabric.port_names(), netlink.link_names()
    amphora_id, lb = amphorae(), fake_lb('198.18.0.200', V4_SUBNET)
    compute_id, record = build_and_wait(env, amphora_id, lb.id)
    assert compute_id == 'amp-' + amphora_id[:8]
    assert env.compute.status(compute_id) == 'ACTIVE'

    pid = agent_pid(env, amphora_id)
    assert env.compute.build(amphora_id, lb.id) == compute_id  # idempotent
    assert agent_pid(env, amphora_id) == pid
    assert netlink.namespace_names(layout.AMPHORA_PREFIX).count(compute_id) == 1

    amphora = base.Amphora(id=amphora_id, lb_id=lb.id)
    started = time.monotonic()
    addressing = env.network.plug_amphora(amphora, lb)
    _time('plug_amphora', started)
    assert addressing.lb_network_ip == record.management_ip
    assert addressing.vrrp_ip == '198.18.0.254' and addressing.ha_ip == '198.18.0.200'
    assert addressing.vrrp_interface == 'eth-5fd5b4'
    assert env.network.plug_amphora(amphora, lb) == addressing  # idempotent
    assert all(gateway is None for _, _, gateway in routes(compute_id))

    push_bundle(env, amphora_id, record.management_ip, '198.18.0.200')
    env.network.hold_vips(amphora, lb)  # the VIP comes once the amphora serves
    status, body = http_get(client, '198.18.0.200')
    assert status == 200 and body == 'hello from member; peer=198.18.0.254\n'
    assert [a.amphora_id for a in env.compute.list_amphorae()] == [amphora_id]

    started = time.monotonic()
    env.compute.delete(compute_id)
    _time('delete', started)
    assert_gone(env, amphora_id, compute_id, namespaces_before, ports_before, host_before)


def test_ipv6_vip_in_front_of_ipv4_member(env, member, client, amphorae):
    namespaces_before = our_namespaces(env)
    ports_before, host_before = env.fabric.port_names(), netlink.link_names()
    amphora_id, lb = amphorae(), fake_lb('fd00:1b::200', V6_SUBNET)
    compute_id, record = build_and_wait(env, amphora_id, lb.id)
    amphora = base.Amphora(id=amphora_id, lb_id=lb.id)
    addressing = env.network.plug_amphora(amphora, lb)
    assert addressing.vrrp_ip.startswith('fd00:1b::')
    subnet_ids = env.network.member_subnet_ids([MEMBER_IP])
    assert subnet_ids == [V4_SUBNET]
    own_v4 = env.network.plug_member_subnets(amphora, subnet_ids)[V4_SUBNET]

    push_bundle(env, amphora_id, record.management_ip, 'fd00:1b::200')
    env.network.hold_vips(amphora, lb)
    status, body = http_get(client, 'fd00:1b::200')
    assert status == 200 and body == 'hello from member; peer=%s\n' % own_v4

    env.network.unplug_amphora(amphora)
    assert set(env.fabric.port_names()) == set(ports_before) | {'%s-mgmt' % amphora_id[:8]}
    env.compute.delete(compute_id)
    assert_gone(env, amphora_id, compute_id, namespaces_before, ports_before, host_before)


def test_vip_reaches_a_replacement_amphora_at_once(env, member, client, amphorae):
    """Failover under SINGLE: the client still caches the old amphora's MAC
    for the VIP; the new one's announcement must correct it, well before the
    ~30 s the cache would otherwise keep it."""
    lb = fake_lb('198.18.0.200', V4_SUBNET)
    for _ in range(2):
        amphora_id = amphorae()
        compute_id, record = build_and_wait(env, amphora_id, lb.id)
        amphora = base.Amphora(id=amphora_id, lb_id=lb.id)
        env.network.plug_amphora(amphora, lb)
        push_bundle(env, amphora_id, record.management_ip, '198.18.0.200')
        env.network.hold_vips(amphora, lb)
        assert http_get(client, '198.18.0.200', timeout=2.0)[0] == 200
        env.compute.delete(compute_id)


def test_builds_on_parallel_worker_threads(env, amphorae):
    ids = [amphorae() for _ in range(3)]
    with concurrent.futures.ThreadPoolExecutor(3) as pool:
        list(pool.map(lambda amphora_id: build_and_wait(env, amphora_id, 'lb'), ids))
    addresses = {env.compute.store.load(amphora_id).management_ip for amphora_id in ids}
    assert len(addresses) == 3
    assert {a.status for a in env.compute.list_amphorae()} == {'ACTIVE'}


def test_interrupted_build_is_finished_by_the_next(env, amphorae, monkeypatch):
    amphora_id = amphorae()
    compute_id = layout.namespace_for(amphora_id)

    def crash(record):
        raise RuntimeError('worker died before starting the agent')

    monkeypatch.setattr(env.compute, '_start_agent', crash)
    with pytest.raises(RuntimeError):
        env.compute.build(amphora_id, 'lb')
    assert netlink.namespace_exists(compute_id)
    assert env.compute.status(compute_id) == 'BUILDING'
    monkeypatch.setattr(compute, 'BUILD_GRACE', 0.0)
    assert env.compute.status(compute_id) == 'ERROR'
    monkeypatch.undo()

    build_and_wait(env, amphora_id, 'lb')
    assert env.compute.status(compute_id) == 'ACTIVE'
    assert netlink.namespace_names(layout.AMPHORA_PREFIX).count(compute_id) == 1
    # One agent: nothing else runs in the namespace before a bundle comes.
    assert len(processes.pids_in_namespace(compute_id)) == 1
    assert processes.process_running(agent_pid(env, amphora_id), amphora_id)


def test_status_is_error_once_the_agent_is_killed(env, amphorae):
    namespaces_before = our_namespaces(env)
    ports_before, host_before = env.fabric.port_names(), netlink.link_names()
    amphora_id = amphorae()
    compute_id, record = build_and_wait(env, amphora_id, 'lb')
    push_bundle(env, amphora_id, record.management_ip, '198.18.0.200')
    haproxy_pid = env.client.status(amphora_id, record.management_ip,
                                    wire.DEFAULT_PORT).haproxy_pid
    os.kill(agent_pid(env, amphora_id), signal.SIGKILL)
    deadline = time.monotonic() + 5
    while env.compute.status(compute_id) != 'ERROR' and time.monotonic() < deadline:
        time.sleep(0.05)
    assert env.compute.status(compute_id) == 'ERROR'
    assert processes.process_running(haproxy_pid)  # orphaned, still in the namespace

    env.compute.delete(compute_id)  # what reconcile does with an ERROR amphora
    assert not processes.process_running(haproxy_pid)
    assert_gone(env, amphora_id, compute_id, namespaces_before, ports_before, host_before)


def test_build_replaces_an_agent_whose_namespace_was_deleted(env, amphorae):
    amphora_id = amphorae()
    compute_id, _ = build_and_wait(env, amphora_id, 'lb')
    old_pid = agent_pid(env, amphora_id)
    netlink.remove_namespace(compute_id)  # `ip netns del` behind our back
    assert env.compute.status(compute_id) == 'DELETED'
    build_and_wait(env, amphora_id, 'lb')
    assert not processes.process_running(old_pid)
    assert env.compute.status(compute_id) == 'ACTIVE'


def test_delete_of_a_missing_amphora_is_a_no_op(env):
    env.compute.delete('amp-00000000')
    assert env.compute.status('amp-00000000') == 'DELETED'
