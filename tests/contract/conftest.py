"""What the contract suites share: the real drivers' private world, and helpers.

`real_env` (one per module) is a private netns data plane, as in
tests/scenario/test_netns_drivers.py: a fabric `ctr-fabric-<pid>` with host
link `ctr-m<pid>`, a free management /24 in 198.19.224.0-198.19.253.255 (so it
meets neither the scenario tier's dynamic range, 198.19.64-223, nor
test_netns_drivers' fixed 198.19.254.0/24, nor a concurrent contract run), a
short state dir under /tmp, and the local subnets of test_netns_drivers. Its
finalizer deletes every amphora its state dir records, destroys the fabric and
then asserts that no namespace or process of this run is left, also when a test
failed. It is skipped, with the reason printed to stderr, unless we are root,
`ip netns` works and HAProxy is installed.

Timings of the real drivers are shown in a `contract timings` section at the
end of the run.
"""

import collections
import dataclasses
import functools
import inspect
import ipaddress
import os
import shutil
import socket
import tempfile
import time
import uuid

import pytest
from pyroute2 import IPRoute

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
from tests.scenario import conftest as scenario_conftest
from tests.scenario.test_netns_drivers import NETWORK_ID, SUBNET_SPECS, V4_SUBNET, V6_SUBNET
from tests.skips import skip_if

__all__ = [
    'LOCAL_SUBNETS',
    'NETWORK_ID',
    'V4_SUBNET',
    'V6_SUBNET',
    'Impl',
    'RealEnv',
    'assert_conforms',
    'fake_lb',
    'poll',
    'timed',
]

TAG = str(os.getpid())
LOCAL_SUBNETS = {s.id: s.cidr for s in map(config.LocalSubnet, SUBNET_SPECS)}
MANAGEMENT_RANGE = range(224, 254)  # third octet of the /24s in 198.19.0.0/16 we may take
AGENT_READY_TIMEOUT = 20.0
TIMINGS = collections.defaultdict(list)


# -- helpers for the suites -------------------------------------------------------------


@dataclasses.dataclass
class Impl:
    """One side of a contract: the driver, what it can do, and test hooks."""

    name: str  # 'fake' or 'real'
    driver: object
    caps: dict
    extra: dict = dataclasses.field(default_factory=dict)

    def __getattr__(self, item):
        try:
            return self.__dict__['extra'][item]
        except KeyError:
            raise AttributeError(item) from None


def poll(probe, done, timeout, interval=0.05):
    """Call `probe` until `done(value)` or `timeout`; every value seen, in order."""
    deadline = time.monotonic() + timeout
    seen = [probe()]
    while not done(seen[-1]) and time.monotonic() < deadline:
        time.sleep(interval)
        seen.append(probe())
    return seen


def timed(name, started):
    TIMINGS[name].append(time.monotonic() - started)


def fake_lb(vip, subnet_id, topology='SINGLE'):
    return base.LoadBalancerNetwork(
        id=str(uuid.uuid4()),
        topology=topology,
        vips=(base.Vip(subnet_id=subnet_id, address=vip, port_id=str(uuid.uuid4())),),
    )


def _parameter_names(cls, name):
    raw = inspect.getattr_static(cls, name)
    names = list(inspect.signature(getattr(cls, name)).parameters)
    if isinstance(raw, staticmethod):
        return names
    return names[1:]  # self (or cls)


def protocol_methods(protocol):
    return sorted(
        name
        for name, value in vars(protocol).items()
        if not name.startswith('_') and inspect.isfunction(value)
    )


def assert_conforms(cls, protocol):
    """`cls` has every method of `protocol`, with the same parameter names."""
    methods = protocol_methods(protocol)
    assert methods, 'no methods found on %s' % protocol.__name__
    missing = [m for m in methods if not callable(getattr(cls, m, None))]
    assert not missing, '%s lacks %s of %s' % (cls.__name__, missing, protocol.__name__)
    drift = {
        m: (_parameter_names(cls, m), _parameter_names(protocol, m))
        for m in methods
        if _parameter_names(cls, m) != _parameter_names(protocol, m)
    }
    assert not drift, '%s parameters differ from %s: {method: (driver, protocol)} %s' % (
        cls.__name__,
        protocol.__name__,
        drift,
    )


# -- the real drivers' world ------------------------------------------------------------


# Root, HAProxy and working namespaces: asked once, as the scenario tier asks.
why_not_runnable = functools.cache(scenario_conftest.why_not_runnable)


def _free_management_network():
    """A /24 of 198.19.224.0-198.19.253.255 that no host address or route uses."""
    with IPRoute() as ipr:
        taken = [
            ipaddress.ip_network('%s/%d' % (m.get('dst'), m['dst_len']), strict=False)
            for m in ipr.route('dump', family=socket.AF_INET)
            if m.get('dst')
        ]
        taken += [
            ipaddress.ip_network('%s/32' % m.get('address'))
            for m in ipr.addr('dump', family=socket.AF_INET)
        ]
    first = os.getpid() % len(MANAGEMENT_RANGE)  # concurrent runs start apart
    for offset in range(len(MANAGEMENT_RANGE)):
        third = MANAGEMENT_RANGE[(first + offset) % len(MANAGEMENT_RANGE)]
        candidate = ipaddress.ip_network('198.19.%d.0/24' % third)
        if not any(n.overlaps(candidate) and n.prefixlen > 16 for n in taken):
            return candidate
    raise RuntimeError('no free management /24 in 198.19.224.0-198.19.253.255')


def processes_mentioning(text):
    return [
        int(e)
        for e in os.listdir('/proc')
        if e.isdigit() and processes.process_running(int(e), text)
    ]


class RealEnv:
    """A private fabric with the netns compute and network drivers on it."""

    def __init__(self):
        # Short: the agent's unix socket paths under it must fit in 107 bytes.
        self.root = tempfile.mkdtemp(prefix='lbc-', dir='/tmp')
        management = _free_management_network()
        self.fabric = Fabric(
            name='ctr-fabric-' + TAG,
            host_link='ctr-m' + TAG,
            management_cidr=str(management),
            controller_ip=str(management.network_address + 1),
            subnets=[config.LocalSubnet(spec) for spec in SUBNET_SPECS],
        )
        self.compute = NetnsCompute(state_dir=self.root, fabric=self.fabric)
        self.network = NetnsNetwork(state_dir=self.root, fabric=self.fabric)
        self.namespaces = set()  # every amphora namespace seen, for the final check
        self._client = None

    @property
    def client(self):
        if self._client is None:
            self._client = AgentClient(self.compute.pki_dir)
        return self._client

    def build(self, amphora_id, lb_id, wait_agent=False):
        """Build an amphora as the controller does; optionally wait for its agent."""
        started = time.monotonic()
        compute_id = self.compute.build(amphora_id, lb_id)
        timed('build call', started)
        self.namespaces.add(compute_id)
        if wait_agent:
            record = self.compute.store.load(amphora_id)
            self.client.wait_ready(
                amphora_id, record.management_ip, wire.DEFAULT_PORT, AGENT_READY_TIMEOUT
            )
            timed('build to agent ready', started)
        return compute_id

    def agent_console(self, amphora_id, lines=30):
        """The tail of the agent's console (its stderr), for failure messages."""
        path = os.path.join(self.compute.runtime_dir(amphora_id), compute.AGENT_CONSOLE_FILE)
        try:
            with open(path, errors='replace') as f:
                tail = f.read().splitlines()[-lines:]
        except OSError as exc:
            return '\n(no agent console: %s)' % exc
        return '\nagent console %s:\n%s' % (path, '\n'.join(tail))

    def inventory(self):
        """What exists of ours: amphora namespaces and processes under our state dir."""
        namespaces = sorted(
            n
            for n in netlink.namespace_names(layout.AMPHORA_PREFIX)
            if self.compute.store.find_by_namespace(n) is not None
        )
        return namespaces, sorted(processes_mentioning(self.root))

    def close(self):
        try:
            self.compute.zygote.close()
            for record in self.compute.store.records():
                self.namespaces.add(record.namespace)
                started = time.monotonic()
                self.compute.delete(record.namespace)
                timed('delete (teardown)', started)
        finally:
            try:
                self.fabric.destroy()
            finally:
                shutil.rmtree(self.root, ignore_errors=True)
        existing = set(netlink.namespace_names())
        left = sorted((self.namespaces | {self.fabric.name}) & existing)
        assert not left, 'namespaces left behind: %s' % left
        assert self.fabric.host_link not in netlink.link_names(), 'host link left behind'
        assert not processes_mentioning(self.root), 'processes left behind'


@pytest.fixture(scope='module')
def real_env():
    reason = why_not_runnable()
    skip_if(reason, 'the real-driver contract suites')
    env = RealEnv()
    try:
        started = time.monotonic()
        env.fabric.ensure()
        timed('fabric ensure', started)
        yield env
    finally:
        started = time.monotonic()
        env.close()
        timed('tear down', started)


def pytest_terminal_summary(terminalreporter):
    if not TIMINGS:
        return
    terminalreporter.section('contract timings (real drivers)')
    for name, values in TIMINGS.items():
        terminalreporter.write_line(
            '%-24s n=%-3d max %.3f s  mean %.3f s'
            % (name, len(values), max(values), sum(values) / len(values))
        )
