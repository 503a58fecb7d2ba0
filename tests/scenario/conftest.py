"""The real service for the traffic scenarios, and hosts to send traffic with.

`service` runs `lbaas serve` as a subprocess on the netns drivers, with
everything of its own so that it never meets a developer's `lbaas serve`
or another test run on the host: a short state dir `/tmp/lbs-<6 hex>`
(HAProxy socket paths are capped at 97 bytes), fabric namespace
`lbaas-t<pid>`, host link `lbt<pid>-m`, a free management /24 inside
198.19.0.0/16, and fresh API and wake-up ports. Member and client test hosts
sit on its local network (198.18.0.0/24, fd00:1b::/64, behind no router).

Teardown deletes the load balancers through the API, stops the service,
removes whatever is left (amphorae, hosts, processes, the fabric) and then
asserts that `ip netns list` shows none of the namespaces this run made.
The tier is skipped, with the reason printed, unless we are root, `ip netns`
works and HAProxy is installed.
"""
import ipaddress
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time

import pytest
import requests
from pyroute2 import IPRoute

from lbaas import config, supervisor
from lbaas.drivers.netns import Fabric, NetnsCompute, distributor, processes
from lbaas.testhosts import TestHost
from tests.scenario import traffic
from tests.skips import skip_if

NETWORK_ID = '5fd5b4c2-8bd1-4b1c-9a67-6b1f7d0c0a01'


def local_networks(v4_prefix=24):
    """`[networking] local_network` values: one network, an IPv4 subnet
    198.18.0.0/`v4_prefix` and an IPv6 /64."""
    return [
        'id=%s,subnet_id=%s,name=lbaas-local,subnet_name=lbaas-local-v4,'
        'cidr=198.18.0.0/%d,gateway=198.18.0.1' % (NETWORK_ID, traffic.V4_SUBNET, v4_prefix),
        'id=%s,subnet_id=%s,name=lbaas-local,subnet_name=lbaas-local-v6,'
        'cidr=fd00:1b::/64,gateway=fd00:1b::1' % (NETWORK_ID, traffic.V6_SUBNET)]


LOCAL_NETWORKS = local_networks()
# Test hosts take the middle of the subnet: the API hands out VIPs from the
# bottom and the network driver gives amphorae addresses from the top.
MEMBER_ADDRESSES = ['198.18.0.101', '198.18.0.102', '198.18.0.103', '198.18.0.104']
CLIENT_ADDRESSES = ['198.18.0.150', '198.18.0.151', '198.18.0.152', '198.18.0.153',
                    '198.18.0.154', '198.18.0.155', '198.18.0.156', '198.18.0.157',
                    'fd00:1b::150']
START_TIMEOUT = 60.0
CONFIG = """[DEFAULT]
state_dir = {state_dir}
[api_settings]
bind_host = 127.0.0.1
bind_port = {api_port}
workers = 1
[controller_worker]
compute_driver = netns
network_driver = netns
amphora_driver = rest
wakeup_address = 127.0.0.1:{wakeup_port}
poll_interval = 0.5
retry_backoff = 0.5
[health_manager]
heartbeat_interval = 0.5
[networking]
fabric_namespace = {fabric}
host_link = {host_link}
management_cidr = {management}
controller_ip = {controller_ip}
{local_networks}
"""


def why_not_runnable():
    if os.geteuid() != 0:
        return 'needs root (network namespaces, veths, bridges)'
    if shutil.which('haproxy') is None:
        return 'haproxy is not installed (apt-get install haproxy)'
    if shutil.which('ip') is None:
        return 'iproute2 (`ip`) is not installed'
    probe = 'lbaas-probe-%d' % os.getpid()
    try:
        made = subprocess.run(['ip', 'netns', 'add', probe], capture_output=True)
        if made.returncode != 0:
            return '`ip netns add` fails here: %s' % made.stderr.decode().strip()
        if subprocess.run(['ip', 'netns', 'exec', probe, 'true']).returncode != 0:
            return '`ip netns exec` does not work here'
    finally:
        subprocess.run(['ip', 'netns', 'del', probe], capture_output=True)
    return None


def _free_port(kind):
    with socket.socket(socket.AF_INET, kind) as sock:
        sock.bind(('127.0.0.1', 0))
        return sock.getsockname()[1]


def _free_management_network():
    """A /24 of 198.19.64.0-198.19.223.255 that no host address or specific
    route uses (below: the default controller, 198.19.0.1; above: fixed test
    networks such as test_netns_drivers' 198.19.254.0/24)."""
    with IPRoute() as ipr:
        taken = [ipaddress.ip_network('%s/%d' % (m.get('dst'), m['dst_len']), strict=False)
                 for m in ipr.route('dump', family=socket.AF_INET) if m.get('dst')]
        taken += [ipaddress.ip_network('%s/32' % m.get('address'))
                  for m in ipr.addr('dump', family=socket.AF_INET)]
    plan = ipaddress.ip_network('198.19.0.0/16')
    first = os.getpid() % 160  # concurrent runs start apart
    for offset in range(160):
        candidate = list(plan.subnets(new_prefix=24))[64 + (first + offset) % 160]
        if not any(n.overlaps(candidate) and n.prefixlen > 16 for n in taken):
            return candidate
    raise RuntimeError('no free /24 in %s' % plan)


def ip_netns_list():
    out = subprocess.run(['ip', 'netns', 'list'], capture_output=True, text=True).stdout
    return {line.split()[0] for line in out.splitlines() if line.strip()}


def pids_mentioning(text):
    return [int(p) for p in os.listdir('/proc')
            if p.isdigit() and int(p) != os.getpid() and processes.process_running(int(p), text)]


class ScenarioService:
    """One `lbaas serve` of the test run, with its fabric and test hosts.

    `options` ({section: {name: value}}) are added to its configuration;
    `letter` names its fabric (lbaas-<letter><pid>), so that services of
    different modules never share one.
    """

    def __init__(self, options=None, letter='t'):
        self.options = options or {}
        self.tag = secrets.token_hex(3)
        self.state_dir = '/tmp/lbs-' + self.tag
        self.management = _free_management_network()
        tag = '%s%d' % (letter, os.getpid())
        self.fabric = Fabric(name='lbaas-' + tag, host_link='lb%s-m' % tag,
                             management_cidr=str(self.management),
                             controller_ip=str(self.management.network_address + 1),
                             subnets=[config.LocalSubnet(s) for s in LOCAL_NETWORKS])
        self.api_port = _free_port(socket.SOCK_STREAM)
        self.endpoint = 'http://127.0.0.1:%d' % self.api_port
        self.api = traffic.Api(self.endpoint, 'scenario-' + self.tag)
        self.process = None
        self.hosts = []
        self.amphora_namespaces = set()
        self.delete_timeout = 60.0  # for teardown's deletes through the API

    def start(self):
        os.makedirs(self.state_dir, exist_ok=True)
        path = os.path.join(self.state_dir, 'lbaas.conf')
        with open(path, 'w') as f:
            f.write(CONFIG.format(
                state_dir=self.state_dir, api_port=self.api_port,
                wakeup_port=_free_port(socket.SOCK_DGRAM), fabric=self.fabric.name,
                host_link=self.fabric.host_link, management=self.management,
                controller_ip=self.fabric.controller_ip,
                local_networks='\n'.join('local_network = ' + s for s in LOCAL_NETWORKS)))
            for section, values in self.options.items():
                f.write('[%s]\n' % section)
                f.writelines('%s = %s\n' % item for item in values.items())
        with open(os.path.join(self.state_dir, 'serve.out'), 'ab') as out:
            # Its own session (teardown kills the group), and it dies with
            # this test run even when the run is killed before its teardown.
            self.process = subprocess.Popen(
                [sys.executable, '-m', 'lbaas.cli', 'serve', '--config-file', path],
                stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                cwd=self.state_dir, start_new_session=True,
                preexec_fn=supervisor.child_preexec(os.getpid()))
        self._wait_answering()
        self.fabric.ensure()  # the service makes it too, with its first amphora

    def restart(self, options):
        """Stop the controller (its amphorae keep running) and start it again."""
        self._stop_service()
        self.process = None
        self.options = options
        self.start()

    def _wait_answering(self):
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            assert self.process.poll() is None, 'lbaas serve exited; see %s' % self.state_dir
            try:
                if requests.get(self.endpoint + '/', timeout=2).status_code == 200:
                    return
            except requests.RequestException:
                pass
            assert time.monotonic() < deadline, 'lbaas serve did not answer in time'
            time.sleep(0.2)

    def host(self, kind, name, addresses):
        host = TestHost(self.fabric, '%s-%s-%s' % (kind, self.tag, name), addresses)
        self.hosts.append(host)
        return host

    # -- teardown ------------------------------------------------------------------

    def stop(self):
        """Everything back as it was; raises the first error after trying all."""
        errors = []
        for step in (self._note_amphorae, self._delete_load_balancers, self._note_amphorae,
                     self._stop_service,
                     self._remove_amphorae, self._remove_distributors, self._close_hosts, self._kill_leftovers,
                     self.fabric.destroy):
            try:
                step()
            except Exception as exc:  # keep cleaning; report at the end
                errors.append('%s: %r' % (step.__name__, exc))
        left = ip_netns_list() & (self.amphora_namespaces | {self.fabric.name} |
                                  {h.namespace for h in self.hosts})
        assert not left, 'namespaces left behind: %s' % sorted(left)
        assert not pids_mentioning(self.state_dir), 'processes left behind'
        assert not errors, errors

    def _delete_load_balancers(self):
        """Cascade-delete every load balancer, as a user would; one still
        busy with a change is deleted as soon as it is ACTIVE again."""
        if self.process is None or self.process.poll() is not None:
            return
        left = {lb['id'] for lb in self.api.show('loadbalancers', 'loadbalancers')}
        deadline = time.monotonic() + self.delete_timeout
        while left and time.monotonic() < deadline:
            for lb_id in sorted(left):
                status = self.api.lb_status(lb_id)
                if status == 'DELETED':
                    left.discard(lb_id)
                elif status in ('ACTIVE', 'ERROR'):
                    self.api.call('DELETE', 'loadbalancers/%s?cascade=true' % lb_id)
            time.sleep(0.1)
        assert not left, 'load balancers not deleted: %s' % sorted(left)

    def _note_amphorae(self):
        if self.process is not None and self.process.poll() is None:
            listing = self.api.call('GET', self.endpoint + '/v2/octavia/amphorae', expect=200)
            self.amphora_namespaces |= {a['compute_id'] for a in listing.json()['amphorae']
                                        if a['compute_id']}

    def _stop_service(self):
        if self.process is not None:
            stop_serve(self.process)

    def _remove_amphorae(self):
        compute = NetnsCompute(state_dir=self.state_dir, fabric=self.fabric)
        for record in compute.store.records():
            self.amphora_namespaces.add(record.namespace)
            compute.delete(record.namespace)

    def _remove_distributors(self):
        """ACTIVE_ACTIVE distributors a delete did not remove (checked below too)."""
        made = distributor.Distributor(self.fabric, self.state_dir)
        for record in distributor.records(self.state_dir):
            self.amphora_namespaces.add(record.namespace)
            made.remove(record.lb_id)

    def _close_hosts(self):
        for host in self.hosts:
            host.close()

    def _kill_leftovers(self):
        processes.terminate(pids_mentioning(self.state_dir), timeout=5.0)
        for namespace in self.amphora_namespaces & ip_netns_list():
            processes.terminate(processes.pids_in_namespace(namespace), timeout=5.0)
            subprocess.run(['ip', 'netns', 'del', namespace], capture_output=True)


@pytest.fixture(scope='session')
def service(request):
    yield from own_service(request, 'traffic')


def own_service(request, name, options=None, letter='t'):
    """A fixture's own `lbaas serve` (`options` added to its configuration,
    `letter` naming its fabric): skipped with the reason, or run and stopped."""
    skip_if(why_not_runnable(), 'the %s scenarios' % name)
    yield from running(request, ScenarioService(options, letter), '%s scenario' % name)


def running(request, run, label):
    """A fixture's life of `run`: started, yielded, stopped; its state
    directory removed unless a test failed meanwhile (or stop() did)."""
    failed_before = request.session.testsfailed
    keep = True  # the logs, unless everything went well
    try:
        run.start()
        yield run
    finally:
        try:
            run.stop()
            keep = request.session.testsfailed > failed_before
        finally:
            if keep:
                print('\n%s state and logs kept in %s' % (label, run.state_dir),
                      file=sys.stderr)
            else:
                shutil.rmtree(run.state_dir, ignore_errors=True)


@pytest.fixture(scope='session')
def api(service):
    return service.api


@pytest.fixture(scope='session')
def members(service):
    """Four member hosts, m1..m4, each with a backend on MEMBER_PORT."""
    hosts = []
    for number, address in enumerate(MEMBER_ADDRESSES, start=1):
        host = service.host('member', 'm%d' % number, [address])
        host.start_backend(traffic.MEMBER_PORT, name='m%d' % number)
        hosts.append(host)
    return hosts


@pytest.fixture(scope='session')
def client(service):
    return service.host('client', 'c', CLIENT_ADDRESSES)


def pytest_terminal_summary(terminalreporter):
    if not traffic.FIGURES:
        return
    terminalreporter.section('traffic scenario figures')
    for name, values in traffic.FIGURES.items():
        text = ', '.join('%.2f' % v for v in values)
        terminalreporter.write_line('%-44s %s' % (name, text))


def stop_serve(process):
    """SIGTERM a `lbaas serve` (it stops its children), SIGKILL its group after 20 s."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(20)
        except subprocess.TimeoutExpired:
            pass
    try:  # its api, worker and housekeeping children share its group
        os.killpg(process.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    process.wait(10)
