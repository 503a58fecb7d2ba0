"""The harness of test_multihost.py: three simulated data-plane hosts.

A `SimHost` is one host: its own `[DEFAULT] host` name, state directory,
fabric namespace with host link and management /24, controller address and
`lbaas serve` process (API on a loopback port, health manager bound on the
controller address). `Deployment` holds the three hosts and what they
share: one fresh PostgreSQL database, RabbitMQ, one PKI directory, one
heartbeat key, the same local network, and the VXLAN underlay (a namespace
of its own holding a bridge, one veth per host whose other end is
`underlay0` in that host's fabric namespace, 198.19.253.<n>/24, MTU 1550).
Test hosts (members and a client) sit on host 1's fabric. `ChildKiller`
SIGKILLs random children of the hosts' `serve` processes; `RetryingApi`
drives an API through that.

`Deployment.close()` undoes everything, also after a failure, and says
what it could not.
"""

import collections
import ipaddress
import os
import random
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid

import requests
import sqlalchemy

from lbaas import config, supervisor
from lbaas.drivers.netns import Fabric, layout, netlink, processes
from lbaas.drivers.netns.vxlan import TENANT_MTU, VXLAN_OVERHEAD, Vxlan
from lbaas.testhosts import TestHost
from tests.scenario import conftest, traffic
from tests.scenario.conftest import (
    _free_management_network,
    _free_port,
    ip_netns_list,
    pids_mentioning,
    why_not_runnable,
)
from tests.scenario.test_vxlan import why_no_vxlan

RABBIT = ('127.0.0.1', 5672)
TRANSPORT_URL = 'rabbit://guest:guest@127.0.0.1:5672/'
POSTGRES_ADMIN_URL = 'postgresql+psycopg://postgres@127.0.0.1/postgres'
POSTGRES_URL = 'postgresql+psycopg://postgres@127.0.0.1/%s'
UNDERLAY_LINK = 'underlay0'
UNDERLAY_BRIDGE = 'br-underlay'
UNDERLAY_MTU = TENANT_MTU + VXLAN_OVERHEAD  # 1550
START_TIMEOUT = 120.0  # seconds for a `lbaas serve` to answer (2 cores, busy)
API_RETRY_FOR = 60.0  # seconds an API call is retried while an api child restarts
SERVICES_TO_KILL = ('api', 'worker', 'health-manager')
# The local networks of the scenario tier with a /22 for IPv4: 100 LBs take
# 100 VIPs (from the bottom) and 150 amphora addresses (from the top), more
# than a /24 holds beside the test hosts, which sit in the middle.
LOCAL_NETWORKS = conftest.local_networks(v4_prefix=22)
MEMBER_ADDRESSES = ('198.18.2.101', '198.18.2.102')
CLIENT_ADDRESS = '198.18.2.150'
RETRY_STATUSES = (502, 503)  # an api child was killed, or is restarting
PID = os.getpid()


def why_not():
    """Why this scenario cannot run here, or None."""
    reason = why_not_runnable() or why_no_vxlan()
    if reason:
        return reason
    try:
        socket.create_connection(RABBIT, timeout=2).close()
    except OSError as exc:
        return 'RabbitMQ does not answer on %s:%d: %s' % (RABBIT + (exc,))
    return None


# -- the shared database -------------------------------------------------------


class Database:
    """A fresh PostgreSQL database of this run, dropped by `drop()`."""

    def __init__(self):
        self.name = 'lbaas_multihost_%s' % uuid.uuid4().hex[:8]
        self.url = POSTGRES_URL % self.name
        self.admin = sqlalchemy.create_engine(POSTGRES_ADMIN_URL, isolation_level='AUTOCOMMIT')
        with self.admin.connect() as conn:
            conn.exec_driver_sql('CREATE DATABASE %s' % self.name)
        self.engine = sqlalchemy.create_engine(self.url, poolclass=sqlalchemy.pool.NullPool)

    def amphorae(self):
        """Every amphora row: dicts of id, load_balancer_id, status, role,
        host, compute_id, vrrp_ip."""
        query = sqlalchemy.text('SELECT id, load_balancer_id, status, role, host, compute_id, '
                                'vrrp_ip FROM amphora ORDER BY load_balancer_id, role')
        with self.engine.connect() as conn:
            return [dict(row._mapping) for row in conn.execute(query)]

    def live_amphorae(self):
        """{lb id: [amphora rows serving it (ALLOCATED)]}."""
        found = collections.defaultdict(list)
        for row in self.amphorae():
            if row['status'] == 'ALLOCATED' and row['load_balancer_id']:
                found[row['load_balancer_id']].append(row)
        return found

    def unheard(self):
        """Ids of ALLOCATED amphorae no health manager has recorded a heartbeat of."""
        query = sqlalchemy.text(
            "SELECT a.id FROM amphora a LEFT JOIN amphora_health h ON h.amphora_id = a.id "
            "WHERE a.status = 'ALLOCATED' AND h.amphora_id IS NULL")
        with self.engine.connect() as conn:
            return [row[0] for row in conn.execute(query)]

    def drop(self):
        self.engine.dispose()
        with self.admin.connect() as conn:
            conn.exec_driver_sql('DROP DATABASE IF EXISTS %s WITH (FORCE)' % self.name)
        self.admin.dispose()


def postgres_problem():
    try:
        engine = sqlalchemy.create_engine(POSTGRES_ADMIN_URL)
        with engine.connect() as conn:
            conn.exec_driver_sql('SELECT 1')
        engine.dispose()
    except Exception as exc:  # any driver error: the server is not there for us
        return 'PostgreSQL does not answer at %s: %s' % (POSTGRES_ADMIN_URL, exc)
    return None


# -- the underlay --------------------------------------------------------------


class Underlay:
    """A namespace with one bridge: the network between the hosts' fabrics."""

    def __init__(self):
        self.namespace = 'lbaas-mu%d' % PID
        netlink.create_namespace(self.namespace)
        with netlink.rtnl(self.namespace) as ipr:
            netlink.ensure_bridge(ipr, UNDERLAY_BRIDGE)

    def plug(self, number, fabric_namespace, address):
        """Veth `ul<number>` on the bridge <-> `underlay0` (`address`/24) in the fabric."""
        port = 'ul%d' % number
        netlink.ensure_veth(self.namespace, port, fabric_namespace, UNDERLAY_LINK)
        with netlink.rtnl(self.namespace) as ipr:
            ipr.link('set', index=netlink.link_index(ipr, port), mtu=UNDERLAY_MTU)
            netlink.enslave_and_up(ipr, port, UNDERLAY_BRIDGE)
            ipr.link('set', index=netlink.link_index(ipr, UNDERLAY_BRIDGE), mtu=UNDERLAY_MTU)
        with netlink.rtnl(fabric_namespace) as ipr:
            ipr.link('set', index=netlink.link_index(ipr, UNDERLAY_LINK), mtu=UNDERLAY_MTU)
            netlink.ensure_addresses(ipr, UNDERLAY_LINK, [(address, 24)])

    def remove(self):
        netlink.remove_namespace(self.namespace)


# -- one host ------------------------------------------------------------------


def underlay_address(number):
    return '198.19.253.%d' % number


class SimHost:
    """One simulated data-plane host (number 1, 2 or 3 of `count`)."""

    def __init__(self, number, count, shared):
        self.number, self.count = number, count
        self.name = 'h%d-%d' % (number, PID)
        self.state_dir = '/tmp/lbm%d-%s' % (number, shared['tag'])
        self.shared = shared
        self.management = _free_management_network()
        self.controller_ip = str(self.management.network_address + 1)
        self.peers = [underlay_address(n) for n in range(1, count + 1) if n != number]
        self.fabric = Fabric(
            name='lbaas-m%d%d' % (number, PID), host_link='lbm%d%d-m' % (number, PID),
            management_cidr=str(self.management), controller_ip=self.controller_ip,
            subnets=[config.LocalSubnet(s) for s in LOCAL_NETWORKS],
            vxlan=Vxlan(local_ip=ipaddress.IPv4Address(underlay_address(number)),
                        underlay_link=UNDERLAY_LINK,
                        peers=tuple(ipaddress.IPv4Address(p) for p in self.peers)))
        self.api_port = _free_port(socket.SOCK_STREAM)
        self.endpoint = 'http://127.0.0.1:%d' % self.api_port
        self.api = traffic.Api(self.endpoint, 'multihost-' + shared['tag'])
        self.process = None
        self.stopped = False

    def make_fabric(self, underlay):
        """The fabric namespace, its underlay link, then the fabric itself
        (bridges, host link, VXLAN ports), as an operator prepares a host."""
        netlink.create_namespace(self.fabric.name)
        underlay.plug(self.number, self.fabric.name, underlay_address(self.number))
        self.fabric.ensure()

    def config_text(self):
        hm_port = _free_port(socket.SOCK_DGRAM)
        sections = {
            'DEFAULT': {'state_dir': self.state_dir, 'host': self.name,
                        'transport_url': TRANSPORT_URL},
            'database': {'connection': self.shared['database_url']},
            'api_settings': {'bind_host': '127.0.0.1', 'bind_port': self.api_port,
                             'workers': 1},
            'controller_worker': {
                'compute_driver': 'netns', 'network_driver': 'netns', 'amphora_driver': 'rest',
                'wakeup_address': '127.0.0.1:%d' % _free_port(socket.SOCK_DGRAM),
                'poll_interval': 0.5, 'retry_backoff': 0.5},
            'health_manager': {
                'heartbeat_interval': 0.5, 'bind_ip': self.controller_ip,
                'bind_port': hm_port,
                'controller_ip_port_list': '%s:%d' % (self.controller_ip, hm_port),
                'heartbeat_key': self.shared['heartbeat_key']},
            'certificates': {'pki_dir': self.shared['pki_dir']},
            'oslo_messaging_rabbit': {'rabbit_interval_max': 2},
            'networking': {
                'fabric_namespace': self.fabric.name, 'host_link': self.fabric.host_link,
                'management_cidr': self.management, 'controller_ip': self.controller_ip,
                'vxlan_local_ip': underlay_address(self.number),
                'vxlan_peers': ','.join(self.peers), 'vxlan_underlay_link': UNDERLAY_LINK,
                # Each host its own share of the tenant addresses (one subnet spans them).
                'amphora_address_block': '%d/%d' % (self.number - 1, self.count)},
        }
        lines = []
        for section, options in sections.items():
            lines.append('[%s]' % section)
            lines += ['%s = %s' % item for item in options.items()]
        lines += ['local_network = ' + spec for spec in LOCAL_NETWORKS]  # in [networking]
        return '\n'.join(lines) + '\n'

    def start(self):
        os.makedirs(self.state_dir, exist_ok=True)
        path = os.path.join(self.state_dir, 'lbaas.conf')
        with open(path, 'w') as f:
            f.write(self.config_text())
        with open(os.path.join(self.state_dir, 'serve.out'), 'ab') as out:
            self.process = subprocess.Popen(
                [sys.executable, '-m', 'lbaas.cli', 'serve', '--config-file', path],
                stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                cwd=self.state_dir, start_new_session=True,
                preexec_fn=supervisor.child_preexec(os.getpid()))

    def wait_answering(self, timeout=START_TIMEOUT):
        deadline = time.monotonic() + timeout
        while True:
            assert self.process.poll() is None, '%s: lbaas serve exited; see %s' % (
                self.name, self.state_dir)
            try:
                if requests.get(self.endpoint + '/', timeout=2).status_code == 200:
                    return
            except requests.RequestException:
                pass
            assert time.monotonic() < deadline, '%s: lbaas serve did not answer' % self.name
            time.sleep(0.2)

    # -- its processes -------------------------------------------------------------

    def children(self):
        """{pid: service} of `lbaas serve`'s children."""
        found = {}
        if self.process is None or self.process.poll() is not None:
            return found
        for pid in _children_of(self.process.pid):
            words = _cmdline(pid)
            if 'lbaas.cli' in words:
                after = words[words.index('lbaas.cli') + 1:]
                if after:
                    found[pid] = after[0]
        return found

    def stop(self):
        if self.process is not None:
            conftest.stop_serve(self.process)

    def crash(self, amphora_namespaces):
        """The host dies: `serve` and its children SIGKILLed, the amphorae
        (`amphora_namespaces`, plus what its state directory records) and
        the fabric gone, with no clean-up by lbaas."""
        self.stopped = True
        _killpg(self.process.pid)
        self.process.wait(10)
        namespaces = set(amphora_namespaces) | self.recorded_namespaces()
        for pid in pids_mentioning(self.state_dir):
            processes.signal_quietly(pid, signal.SIGKILL)
        for namespace in sorted(namespaces):
            kill_namespace(namespace)
        self.fabric.destroy()

    def recorded_namespaces(self):
        return {r.namespace for r in layout.StateStore(self.state_dir).records()}


def kill_namespace(namespace):
    """SIGKILL everything in `namespace` and remove it."""
    if not netlink.namespace_exists(namespace):
        return
    for pid in processes.pids_in_namespace(namespace):
        processes.signal_quietly(pid, signal.SIGKILL)
    processes.terminate(processes.pids_in_namespace(namespace), timeout=5.0)
    netlink.remove_namespace(namespace)


def _killpg(pid):
    try:
        os.killpg(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def _children_of(parent):
    found = []
    for entry in os.listdir('/proc'):
        if entry.isdigit():
            try:
                with open('/proc/%s/stat' % entry) as f:
                    fields = f.read().rsplit(')', 1)[-1].split()
            except OSError:
                continue
            if int(fields[1]) == parent and fields[0] not in ('Z', 'X'):
                found.append(int(entry))
    return found


def _cmdline(pid):
    try:
        with open('/proc/%d/cmdline' % pid, 'rb') as f:
            return [w.decode(errors='replace') for w in f.read().split(b'\0') if w]
    except OSError:
        return []


def process_age(pid):
    """Seconds since `pid` started (0 if it is gone)."""
    try:
        with open('/proc/%d/stat' % pid) as f:
            started = int(f.read().rsplit(')', 1)[-1].split()[19])
        with open('/proc/uptime') as f:
            uptime = float(f.read().split()[0])
    except (OSError, IndexError, ValueError):
        return 0.0
    return uptime - started / os.sysconf('SC_CLK_TCK')


# -- the API while processes die ------------------------------------------------


class RetryingApi:
    """An API (traffic.Api), retried while an api child is down (connection
    errors, 502/503); creates are never sent again once one was answered."""

    def __init__(self, api):
        self.api = api

    def call(self, method, path, body=None, expect=None):
        deadline = time.monotonic() + API_RETRY_FOR
        while True:
            try:
                resp = self.api.call(method, path, body)
                if resp.status_code not in RETRY_STATUSES:
                    break
                last = resp.status_code
            except requests.RequestException as exc:
                last = exc
            assert time.monotonic() < deadline, '%s %s: no answer: %r' % (method, path, last)
            time.sleep(0.5)
        if expect is not None:
            assert resp.status_code == expect, '%s %s: %s %s' % (
                method, path, resp.status_code, resp.text)
        return resp

    def create_lb(self, body):
        """POST once; when no answer came, the LB is looked up by its
        (unique) name before posting again."""
        deadline = time.monotonic() + API_RETRY_FOR
        while True:
            try:
                resp = self.api.call('POST', 'loadbalancers', {'loadbalancer': body})
                if resp.status_code == 201:
                    return resp.json()['loadbalancer']
                assert resp.status_code in RETRY_STATUSES, resp.text
            except requests.RequestException:
                pass
            found = self.by_name(body['name'])
            if found:
                return found[0]
            assert time.monotonic() < deadline, 'POST loadbalancers: no answer'
            time.sleep(0.5)

    def by_name(self, name):
        return self.call('GET', 'loadbalancers?name=' + name, expect=200).json()['loadbalancers']

    def status(self, lb_id):
        resp = self.call('GET', 'loadbalancers/' + lb_id)
        if resp.status_code == 404:
            return 'DELETED'
        return resp.json()['loadbalancer']['provisioning_status']


# -- child killer --------------------------------------------------------------


class ChildKiller(threading.Thread):
    """`kills` times, a second or so apart: SIGKILL a random api, worker or
    health-manager child of a random host's `lbaas serve`. A child younger
    than the supervisor's QUICK_EXIT is left alone (three quick deaths in a
    row make `serve` give up, which is not what this simulates)."""

    def __init__(self, hosts, kills, seed=None):
        super().__init__(daemon=True)
        self.hosts, self.kills = hosts, kills
        self.random = random.Random(seed)
        self.killed = []  # (host name, service, pid)
        self.errors = []

    def run(self):
        try:
            while len(self.killed) < self.kills:
                time.sleep(self.random.uniform(0.8, 1.5))
                victims = [(host, pid, service) for host in self.hosts if not host.stopped
                           for pid, service in host.children().items()
                           if service in SERVICES_TO_KILL
                           and process_age(pid) > supervisor.QUICK_EXIT]
                if not victims:
                    continue
                host, pid, service = self.random.choice(victims)
                processes.signal_quietly(pid, signal.SIGKILL)
                self.killed.append((host.name, service, pid))
        except Exception as exc:  # reported by the test
            self.errors.append(repr(exc))


# -- the deployment ------------------------------------------------------------


class Deployment:
    """Three hosts on one database, broker, PKI and VXLAN underlay."""

    def __init__(self, count=3):
        self.tag = secrets.token_hex(3)
        self.count = count
        self.hosts = []
        self.test_hosts = []
        self.underlay = None
        self.database = None
        self.pki_dir = '/tmp/lbm-%s-pki' % self.tag
        self.seen_namespaces = set()  # amp-* of this run, for the clean-up

    def build(self):
        self.database = Database()
        shared = {'tag': self.tag, 'database_url': self.database.url,
                  'pki_dir': self.pki_dir, 'heartbeat_key': secrets.token_hex(16)}
        os.makedirs(self.pki_dir, mode=0o700, exist_ok=True)
        self.underlay = Underlay()
        for number in range(1, self.count + 1):
            host = SimHost(number, self.count, shared)  # its /24 free after the last
            self.hosts.append(host)
            host.make_fabric(self.underlay)

    def start(self):
        """Host 1 first (it migrates the database), then the others at once."""
        first, others = self.hosts[0], self.hosts[1:]
        first.start()
        first.wait_answering()
        for host in others:
            host.start()
        for host in others:
            host.wait_answering()

    def test_host(self, kind, name, addresses):
        """A member or client namespace on host 1's fabric."""
        host = TestHost(self.hosts[0].fabric, '%s-%s-%s' % (kind, self.tag, name), addresses)
        self.test_hosts.append(host)
        return host

    def amphora_namespaces(self):
        """amp-* namespaces of this run: the database's and the hosts' records."""
        found = set(self.seen_namespaces)
        try:
            found |= {row['compute_id'] for row in self.database.amphorae() if row['compute_id']}
        except Exception:  # the database may be the thing that broke
            pass
        for host in self.hosts:
            found |= host.recorded_namespaces()
        self.seen_namespaces = found
        return found

    def pids(self):
        return [pid for host in self.hosts for pid in pids_mentioning(host.state_dir)]

    def close(self, keep_state=False):
        """Everything back as it was; returns what could not be undone."""
        errors = []

        def attempt(what, *args):
            try:
                what(*args)
            except Exception as exc:
                errors.append('%s%r: %r' % (getattr(what, '__name__', what), args, exc))

        for host in self.hosts:  # first: nothing builds anything after this
            attempt(host.stop)
        if self.database is not None:
            attempt(self.amphora_namespaces)
        for namespace in sorted(self.seen_namespaces & ip_netns_list()):
            attempt(kill_namespace, namespace)
        for test_host in self.test_hosts:
            attempt(test_host.close)
        for pid in self.pids():
            processes.signal_quietly(pid, signal.SIGKILL)
        for host in self.hosts:
            attempt(host.fabric.destroy)
        if self.underlay is not None:
            attempt(self.underlay.remove)
        if self.database is not None:
            attempt(self.database.drop)
        left = ip_netns_list() & (self.seen_namespaces | {h.fabric.name for h in self.hosts}
                                  | {h.namespace for h in self.test_hosts}
                                  | {'lbaas-mu%d' % PID})
        if left:
            errors.append('namespaces left behind: %s' % sorted(left))
        if not keep_state:
            for path in [h.state_dir for h in self.hosts] + [self.pki_dir]:
                shutil.rmtree(path, ignore_errors=True)
        return errors
