"""The Active/Active distributor for real: namespaces, a bridge, nftables fwd.

A private fabric (`dist<pid>`, host link `dist<pid>-m`, a free management
/24, the local network 198.18.0.0/24 + fd00:1b::/64 with no VXLAN) carries:
three fake amphorae `dist-a1-<pid>`.. (198.18.0.161-163, fd00:1b::161-163;
the VIPs 198.18.0.200 and fd00:1b::200 on `lo`, arp_ignore=1,
arp_announce=2, a tiny HTTP server on the VIPs answering its own name), a
client `dist-c-<pid>` (198.18.0.150, fd00:1b::150), and the distributor
of one load balancer, made by `Distributor.ensure` in a temporary state
dir. Nothing here has a default route or reaches beyond this machine.

Needs root, `ip` and `nft`; skipped otherwise. The module fixture's
finalizer stops every process and removes every namespace made here, also
when a test fails, and checks that none is left.
"""

import dataclasses
import ipaddress
import os
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import time
import types
import uuid

import pytest

from lbaas import config, supervisor
from lbaas.drivers.netns import Fabric, distributor, layout, netlink, processes
from lbaas.drivers.netns.distributor import Distributor
from tests.scenario.conftest import _free_management_network
from tests.skips import skip_if

NETWORK_ID = '5fd5b4c2-8bd1-4b1c-9a67-6b1f7d0c0a01'
V4_SUBNET = '9c3e0f7e-3f0b-4d8e-8d5b-2b6f9a4c1d01'
V6_SUBNET = '9c3e0f7e-3f0b-4d8e-8d5b-2b6f9a4c1d02'
SUBNET_SPECS = [
    'id=%s,subnet_id=%s,cidr=198.18.0.0/24,gateway=198.18.0.1' % (NETWORK_ID, V4_SUBNET),
    'id=%s,subnet_id=%s,cidr=fd00:1b::/64,gateway=fd00:1b::1' % (NETWORK_ID, V6_SUBNET),
]
TAG = str(os.getpid())
PORT = 8080
VIPS = {4: '198.18.0.200', 6: 'fd00:1b::200'}
CLIENT = {4: '198.18.0.150', 6: 'fd00:1b::150'}
AMPHORAE = {
    'a1': {4: '198.18.0.161', 6: 'fd00:1b::161'},
    'a2': {4: '198.18.0.162', 6: 'fd00:1b::162'},
    'a3': {4: '198.18.0.163', 6: 'fd00:1b::163'},
}
SOURCE_PORTS = range(42000, 42048)
FIXED_PORTS = (42000, 42011, 42022, 42033)
READY_TIMEOUT = 10.0
DROP_WAIT = 1.5  # a dropped SYN: the connection attempt is still waiting after this
HOST_SYSCTLS = {
    'net/ipv6/conf/all/accept_ra': 0,
    'net/ipv6/conf/default/accept_ra': 0,
    'net/ipv6/conf/all/accept_dad': 0,  # addresses usable at once
    'net/ipv6/conf/default/accept_dad': 0,
}
AMPHORA_SYSCTLS = {
    **HOST_SYSCTLS,
    'net/ipv4/conf/all/arp_ignore': 1,  # never answer ARP for the VIP on lo
    'net/ipv4/conf/all/arp_announce': 2,  # ask from our own address, not the VIP
}

SERVER = r'''
import http.server, socket, sys, threading
name, port, addresses = sys.argv[1], int(sys.argv[2]), sys.argv[3:]
class Hello(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        body = name.encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, *args):
        pass
class Server6(http.server.ThreadingHTTPServer):
    address_family = socket.AF_INET6
servers = [(Server6 if ":" in a else http.server.ThreadingHTTPServer)((a, port), Hello)
           for a in addresses]
for server in servers[1:]:
    threading.Thread(target=server.serve_forever, daemon=True).start()
servers[0].serve_forever()
'''


@dataclasses.dataclass
class Host:
    """A namespace with one veth onto the local network's bridge."""

    name: str
    namespace: str
    port: str
    addresses: dict[int, str]
    amphora_id: str = ''
    process: subprocess.Popen | None = None


def why_not_runnable():
    if os.geteuid() != 0:
        return 'needs root (network namespaces, veths, bridges)'
    for tool in ('ip', 'nft'):
        if shutil.which(tool) is None:
            return '`%s` is not installed' % tool
    return None


@pytest.fixture(scope='module')
def env():
    skip_if(why_not_runnable(), 'the distributor scenarios')
    management = _free_management_network()
    fabric = Fabric(
        name='dist' + TAG,
        host_link='dist%s-m' % TAG,
        management_cidr=str(management),
        controller_ip=str(management.network_address + 1),
        subnets=[config.LocalSubnet(spec) for spec in SUBNET_SPECS],
        vxlan=None,
    )
    state_dir = tempfile.mkdtemp(prefix='lbaas-dist-', dir='/tmp')
    made = types.SimpleNamespace(
        fabric=fabric,
        state_dir=state_dir,
        hosts=[],
        lb_id=str(uuid.uuid4()),
        distributor=Distributor(fabric, state_dir),
    )
    try:
        fabric.ensure()
        made.client = _host(made, 'c', CLIENT)
        made.amphorae = [_amphora(made, name, addresses) for name, addresses in AMPHORAE.items()]
        yield made
    finally:
        _tear_down(made)


def _host(env, name, addresses, sysctls=HOST_SYSCTLS):
    host = Host(name, 'dist-%s-%s' % (name, TAG), 'd%s-%s' % (name, TAG), addresses)
    env.hosts.append(host)
    netlink.create_namespace(host.namespace)
    netlink.write_sysctls(host.namespace, sysctls)  # before the veth: it takes `default`
    env.fabric.attach(
        host.namespace,
        'eth0',
        host.port,
        env.fabric.bridge_for(NETWORK_ID),
        [(addresses[4], 24), (addresses[6], 64)],
    )
    return host


def _amphora(env, name, addresses):
    """A fake amphora: the VIPs on lo, an HTTP server on them saying `name`."""
    host = _host(env, name, addresses, AMPHORA_SYSCTLS)
    host.amphora_id = str(uuid.uuid4())
    with netlink.rtnl(host.namespace) as ipr:
        netlink.ensure_addresses(ipr, 'lo', [(VIPS[4], 32), (VIPS[6], 128)])
    host.process = subprocess.Popen(
        [
            'ip',
            'netns',
            'exec',
            host.namespace,
            sys.executable,
            '-c',
            SERVER,
            name,
            str(PORT),
            VIPS[4],
            VIPS[6],
        ],
        stdin=subprocess.DEVNULL,
        start_new_session=True,  # a Ctrl-C of the run does not reach it; teardown kills it
        preexec_fn=supervisor.child_preexec(os.getpid()),  # nor does it outlive the run
    )
    for family in (4, 6):  # from inside: the VIP on lo answers
        assert _retry(lambda f=family: fetch(host, VIPS[f]), READY_TIMEOUT) == name
    return host


def _tear_down(env):
    errors = []
    for step in (
        lambda: env.distributor.remove(env.lb_id),
        *[(lambda h=h: _remove_host(env, h)) for h in env.hosts],
        env.fabric.destroy,
    ):
        try:
            step()
        except Exception as exc:  # keep cleaning; report at the end
            errors.append(repr(exc))
    shutil.rmtree(env.state_dir, ignore_errors=True)
    left = [
        n
        for n in netlink.namespace_names()
        if n.endswith('-' + TAG) or n in (env.fabric.name, distributor.namespace_for(env.lb_id))
    ]
    assert not left, 'namespaces left behind: %s' % left
    assert not errors, errors


def _remove_host(env, host):
    if host.process is not None:
        try:
            os.killpg(host.process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        host.process.wait(10)
    if netlink.namespace_exists(host.namespace):
        processes.terminate(processes.pids_in_namespace(host.namespace), timeout=5.0)
    env.fabric.detach(host.port)
    netlink.remove_namespace(host.namespace)


# -- traffic --------------------------------------------------------------------------


def fetch(host, vip, source_port=0, timeout=2.0):
    """GET / from `host` (from `source_port` if given); the answering name.

    The client ends each connection with a reset (SO_LINGER 0): the same
    address and port can be used again at once, TIME_WAIT left nowhere.
    """
    family = socket.AF_INET6 if ':' in vip else socket.AF_INET
    sock = netlink.run_in_namespace(host.namespace, socket.socket, family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack('ii', 1, 0))
        sock.settimeout(timeout)
        sock.bind((host.addresses[ipaddress.ip_address(vip).version], source_port))
        sock.connect((vip, PORT))
        sock.sendall(b'GET / HTTP/1.0\r\nHost: vip\r\n\r\n')
        answer = b''.join(iter(lambda: sock.recv(65536), b''))
    finally:
        sock.close()
    head, _, body = answer.partition(b'\r\n\r\n')
    assert head.split()[1] == b'200', head
    return body.decode()


def _retry(function, timeout):
    deadline = time.monotonic() + timeout
    while True:
        try:
            return function()
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


def ensure(env, amphora_names, families=(4, 6)):
    """The distributor (VIPs of `families`) in front of these fake amphorae;
    the first request through it answered (neighbours resolved)."""
    subnets = {s.ip_version: s for s in env.fabric.subnets}
    vips = [(subnets[f], ipaddress.ip_address(VIPS[f])) for f in families]
    chosen = [a for a in env.amphorae if a.name in amphora_names]
    targets = [
        (a.amphora_id, {V4_SUBNET: a.addresses[4], V6_SUBNET: a.addresses[6]}) for a in chosen
    ]
    taken = {ipaddress.ip_address(ip) for h in env.hosts for ip in h.addresses.values()}
    env.distributor.ensure(env.lb_id, vips, targets, taken | set(ip for _, ip in vips))
    if chosen:
        for family in families:
            _retry(lambda f=family: fetch(env.client, VIPS[f]), READY_TIMEOUT)


def interface_addresses(env):
    """(address, prefixlen) on the distributor's interface, link-local ones left out."""
    namespace = distributor.namespace_for(env.lb_id)
    with netlink.rtnl(namespace) as ipr:
        index = netlink.link_index(ipr, layout.tenant_ifname(NETWORK_ID))
        found = [(m.get('address'), m['prefixlen']) for m in ipr.addr('dump', index=index)]
    return [a for a in found if not ipaddress.ip_address(a[0]).is_link_local]


def owners(env, family, ports=SOURCE_PORTS):
    return {port: fetch(env.client, VIPS[family], port) for port in ports}


# -- tests ------------------------------------------------------------------------------


@pytest.mark.parametrize('family', [4, 6])
def test_flows_spread_over_every_amphora(env, family):
    ensure(env, AMPHORAE)
    ensure(env, AMPHORAE)  # idempotent
    assert set(owners(env, family).values()) == set(AMPHORAE)


def test_the_distributor_has_its_own_address_first(env):
    ensure(env, AMPHORAE)
    record = distributor.load_record(env.state_dir, env.lb_id)
    own4, own6 = record.addresses[V4_SUBNET], record.addresses[V6_SUBNET]
    assert (own4, own6) == ('198.18.0.254', 'fd00:1b::ffff:ffff:ffff:fffe')
    # IPv4: own address first, with the subnet's prefix (the primary one, the
    # source of ARP requests), the VIP a host address. IPv6 lists in its own order.
    listed = interface_addresses(env)
    assert [a for a in listed if ':' not in a[0]] == [(own4, 24), (VIPS[4], 32)]
    assert {a for a in listed if ':' in a[0]} == {(own6, 64), (VIPS[6], 128)}
    assert distributor.addresses_in_use(env.state_dir) == {
        ipaddress.ip_address(own4),
        ipaddress.ip_address(own6),
    }


def test_a_vip_gone_leaves_the_interface(env):
    ensure(env, AMPHORAE)
    ensure(env, AMPHORAE, families=(4,))
    record = distributor.load_record(env.state_dir, env.lb_id)
    assert list(record.addresses) == [V4_SUBNET]
    assert interface_addresses(env) == [(record.addresses[V4_SUBNET], 24), (VIPS[4], 32)]
    assert fetch(env.client, VIPS[4]) in AMPHORAE
    ensure(env, AMPHORAE)
    assert len(interface_addresses(env)) == 4


@pytest.mark.parametrize('family', [4, 6])
def test_a_fixed_source_port_stays_on_its_amphora(env, family):
    ensure(env, AMPHORAE)
    first = owners(env, family, FIXED_PORTS)
    for _ in range(3):
        assert owners(env, family, FIXED_PORTS) == first


@pytest.mark.parametrize('family', [4, 6])
def test_removing_an_amphora_moves_only_its_flows(env, family):
    ensure(env, AMPHORAE)
    before = owners(env, family)
    assert 'a3' in before.values()
    ensure(env, ['a1', 'a2'])
    after = owners(env, family)
    assert 'a3' not in after.values()
    assert {p: o for p, o in after.items() if before[p] != 'a3'} == {
        p: o for p, o in before.items() if o != 'a3'
    }
    ensure(env, AMPHORAE)  # back: a3 takes its own flows again, the others keep theirs
    assert owners(env, family) == before


@pytest.mark.parametrize('family', [4, 6])
def test_without_targets_connections_time_out(env, family):
    ensure(env, [])
    with pytest.raises(TimeoutError):
        fetch(env.client, VIPS[family], timeout=DROP_WAIT)
    ensure(env, AMPHORAE)
    assert fetch(env.client, VIPS[family]) in AMPHORAE


def test_remove_leaves_nothing(env):
    ensure(env, AMPHORAE)
    namespace = distributor.namespace_for(env.lb_id)
    assert namespace in netlink.namespace_names(distributor.NAMESPACE_PREFIX)
    assert distributor.port_name(env.lb_id) in env.fabric.port_names()
    env.distributor.remove(env.lb_id)
    assert namespace not in netlink.namespace_names()
    assert namespace not in netlink.namespace_names(distributor.NAMESPACE_PREFIX)
    assert distributor.port_name(env.lb_id) not in env.fabric.port_names()
    assert distributor.load_record(env.state_dir, env.lb_id) is None
    assert not os.path.exists(distributor.record_path(env.state_dir, env.lb_id))
    env.distributor.remove(env.lb_id)  # gone already: fine
