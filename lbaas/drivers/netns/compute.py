"""NetnsCompute: an amphora is a network namespace running `lbaas agent`.

build() makes, in this order and each step idempotent: the fabric, the
namespace `amp-<8 hex>` (loopback up, amphora sysctls), the state record
with a management address, the management veth, the agent's certificate,
its heartbeat key (rewritten by every build) and the agent process. The
agent sends heartbeats to every `[health_manager]` address, and offloads
its logs as `[amphora_agent]` says (read when the agent starts, like the
heartbeat options). A build interrupted anywhere is finished by the next
build of the same amphora id; one whose agent is alive returns at once.

The agent is started with `ip netns exec` in its own session, so it outlives
the worker that started it; its pid goes to `netns-agent.pid` in the state
dir. status() and delete() find it again from there after a restart.
"""

import dataclasses
import logging
import os
import shutil
import subprocess
import sys
import time

from lbaas import config, wire
from lbaas.drivers import agent_options
from lbaas.drivers.base import PermanentError, TransientError
from lbaas.drivers.netns import layout, netlink, processes
from lbaas.drivers.netns.fabric import Fabric
from lbaas.drivers.netns.layout import AmphoraRecord
from lbaas.drivers.netns.zygote import Zygote, ZygoteError
from lbaas.drivers.pki import ControllerPKI, write_atomic

LOG = logging.getLogger(__name__)
SPAWNED_PID_FILE = 'netns-agent.pid'
AGENT_CONSOLE_FILE = 'agent.console.log'  # the agent's stderr: tracebacks at start
HEARTBEAT_KEY_FILE = 'heartbeat.key'  # in the amphora's state dir, next to its certificate
EXEC_SETTLE = 0.5  # seconds an agent's empty command line (mid-execve) is read again
BUILD_GRACE = 60.0  # a namespace without an agent is BUILDING for this long, then ERROR
AMPHORA_SYSCTLS = {
    # HAProxy binds VIPs a standby does not hold yet (keepalived moves them).
    'net/ipv4/ip_nonlocal_bind': 1,
    'net/ipv6/ip_nonlocal_bind': 1,
    # IPv6 addresses survive a link flap.
    'net/ipv6/conf/all/keep_addr_on_down': 1,
    'net/ipv6/conf/default/keep_addr_on_down': 1,
    # No router advertisement may ever give an amphora a route off the machine.
    'net/ipv6/conf/all/accept_ra': 0,
    'net/ipv6/conf/default/accept_ra': 0,
}


@dataclasses.dataclass
class HostAmphora:
    """An amphora found on this host, for adoption and orphan sweeps."""

    amphora_id: str
    lb_id: str
    compute_id: str
    management_ip: str
    status: str


# Where `lbaas` is, for an agent started without `site` (`-S`).
_PACKAGE_PARENT = os.path.dirname(os.path.dirname(os.path.abspath(wire.__file__)))


def _agent_environment() -> dict[str, str]:
    """The agent's environment: it finds lbaas without `site`, which saves
    each amphora the site-packages' start-up (about 2 MB), and keeps one
    malloc arena for all its threads (glibc's default is one per thread)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith('PYTHON')}
    env['PYTHONPATH'] = _PACKAGE_PARENT
    env['MALLOC_ARENA_MAX'] = '1'
    return env


class NetnsCompute:
    def __init__(
        self,
        state_dir: str | None = None,
        pki_dir: str | None = None,
        fabric: Fabric | None = None,
        agent_port: int = wire.DEFAULT_PORT,
        stop_grace: float = 2.0,
        stop_timeout: float = 10.0,
        python: str = sys.executable,
    ) -> None:
        self.pki_dir = pki_dir or (
            os.path.join(state_dir, 'pki') if state_dir else config.pki_dir()
        )
        state_dir = state_dir or config.CONF.state_dir
        self.store = layout.StateStore(state_dir)
        self.fabric = fabric or Fabric()
        self.agent_port = agent_port
        self.stop_grace = stop_grace
        self.stop_timeout = stop_timeout
        self.python = python
        self._pki: ControllerPKI | None = None
        # pid -> Popen of agents this process started
        self._children: dict[int, subprocess.Popen[bytes]] = {}
        # Forks agents from one loaded interpreter: they share its memory.
        self.zygote = Zygote(python, _agent_environment())

    # -- ComputeDriver ---------------------------------------------------------

    def build(self, amphora_id: str, lb_id: str) -> str:
        self.store.check_path_length(amphora_id)
        self.fabric.ensure()
        namespace = layout.namespace_for(amphora_id)
        record = self._record_for_build(amphora_id, lb_id)
        netlink.create_namespace(namespace)
        netlink.write_sysctls(namespace, AMPHORA_SYSCTLS)
        self.fabric.attach_management(record)
        self._ensure_certificate(amphora_id)
        self._write_heartbeat_key(amphora_id)
        pid = self._agent_pid(record)
        if pid is not None and not self._at_home(pid, namespace):
            # Its namespace was deleted under it (`ip netns del`): the agent
            # lives on in an unreachable copy. Replace it.
            processes.terminate([pid], self.stop_timeout, self._running)
            pid = None
        if pid is None:
            self._start_agent(record)
        return namespace

    @staticmethod
    def compute_id_for(amphora_id: str) -> str:
        """The compute id build() returns: known before build, for cleaning up
        after a build that crashed before its id was recorded."""
        return layout.namespace_for(amphora_id)

    def runtime_dir(self, amphora_id: str) -> str:
        """The agent's state directory: rendered paths point into it."""
        return self.store.amphora_dir(amphora_id)

    def status(self, compute_id: str) -> str:
        if not netlink.namespace_exists(compute_id):
            return 'DELETED'
        record = self.store.find_by_namespace(compute_id)
        if record is None:
            return 'ERROR'  # a namespace we know nothing about
        pid = self._agent_pid(record)
        if pid is not None and self._at_home(pid, compute_id):
            return 'ACTIVE'
        if (
            not os.path.exists(self._pid_file(record))
            and time.time() - record.build_started_at < BUILD_GRACE
        ):
            return 'BUILDING'
        return 'ERROR'

    def delete(self, compute_id: str) -> None:
        record = self.store.find_by_namespace(compute_id)
        if record is not None:
            self._stop_agent(record)
        survivors = processes.terminate(
            processes.pids_in_namespace(compute_id), self.stop_timeout, self._running
        )
        if survivors:
            raise TransientError('processes %s in %s survived SIGKILL' % (survivors, compute_id))
        self._reap()
        # The kernel tears a namespace down asynchronously, its veths with
        # it; removing our fabric ends first means they are gone on return.
        self.fabric.detach_amphora(compute_id[len(layout.AMPHORA_PREFIX) :])
        netlink.remove_namespace(compute_id)
        if record is not None:
            self.store.remove(record.amphora_id)

    # -- host inventory ------------------------------------------------------------

    def list_amphorae(self) -> list[HostAmphora]:
        """Amphorae on this host: every state record, with its status.

        A record whose namespace is gone shows as DELETED; housekeeping
        compares this with the database and deletes what nothing owns.
        """
        return [
            HostAmphora(
                amphora_id=r.amphora_id,
                lb_id=r.lb_id,
                compute_id=r.namespace,
                management_ip=r.management_ip,
                status=self.status(r.namespace),
            )
            for r in self.store.records()
        ]

    def adopt(self) -> list[HostAmphora]:
        """After a controller restart: the fabric back in place, and what runs."""
        self.fabric.ensure()
        return self.list_amphorae()

    def orphan_namespaces(self) -> list[str]:
        """`amp-*` namespaces without a state record: delete() removes them."""
        known = {r.namespace for r in self.store.records()}
        return [n for n in netlink.namespace_names(layout.AMPHORA_PREFIX) if n not in known]

    # -- steps -------------------------------------------------------------------

    def _record_for_build(self, amphora_id: str, lb_id: str) -> AmphoraRecord:
        with self.store.allocation_lock():
            record = self.store.load(amphora_id)
            if record is None:
                self._check_namespace_free(amphora_id)
                return self.store.new_record(
                    amphora_id, lb_id, self.fabric.management, self.fabric.controller_ip
                )
            if self._agent_pid(record) is None:
                record.build_started_at = time.time()  # a new attempt: BUILDING again
                self.store.save(record)
            return record

    def _check_namespace_free(self, amphora_id: str) -> None:
        namespace = layout.namespace_for(amphora_id)
        other = self.store.find_by_namespace(namespace)
        if other is not None and other.amphora_id != amphora_id:
            raise PermanentError(
                'namespace %s is taken by amphora %s' % (namespace, other.amphora_id)
            )

    def _ensure_certificate(self, amphora_id: str) -> None:
        # The certificate's expiry is not reported from here: housekeeping's
        # certificate sweep asks the agent of every ALLOCATED amphora whose
        # row has none (lbaas/controller/certificates.py), by design.
        directory = self.store.amphora_dir(amphora_id)
        names = (wire.CA_FILE, wire.CERT_FILE, wire.KEY_FILE)
        if all(os.path.exists(os.path.join(directory, n)) for n in names):
            return
        settings = config.CONF.certificates
        if self._pki is None:
            self._pki = ControllerPKI(self.pki_dir, ca_validity_seconds=settings.ca_validity_time)
        self._pki.write_agent_files(amphora_id, directory, settings.cert_validity_time)

    def _heartbeat_key_path(self, amphora_id: str) -> str:
        return os.path.join(self.store.amphora_dir(amphora_id), HEARTBEAT_KEY_FILE)

    def _write_heartbeat_key(self, amphora_id: str) -> None:
        """The key the agent signs heartbeats with; an agent reads it once, at start."""
        write_atomic(self._heartbeat_key_path(amphora_id), config.heartbeat_key(), 0o600)

    def _agent_argv(self, record: AmphoraRecord) -> list[str]:
        bind = agent_options.host_port(record.management_ip, self.agent_port)
        return [
            '--amphora-id',
            record.amphora_id,
            '--state-dir',
            self.store.amphora_dir(record.amphora_id),
            '--bind',
            bind,
            '--stop-grace',
            str(self.stop_grace),
            *agent_options.log_options(),
            *agent_options.heartbeat_options(self._heartbeat_key_path(record.amphora_id)),
        ]

    def _agent_command(self, record: AmphoraRecord) -> list[str]:
        """The agent as its own interpreter: when the zygote cannot fork it."""
        return [
            shutil.which('ip') or '/usr/sbin/ip',
            'netns',
            'exec',
            record.namespace,
            self.python,
            '-S',  # no site: the agent needs only the standard library and lbaas
            '-m',
            'lbaas.agent',
            *self._agent_argv(record),
        ]

    def _start_agent(self, record: AmphoraRecord) -> None:
        directory = self.store.amphora_dir(record.amphora_id)
        console = os.path.join(directory, AGENT_CONSOLE_FILE)
        try:
            pid = self.zygote.spawn(
                self._agent_argv(record),
                netlink.namespace_path(record.namespace),
                directory,
                console,
            )
        except ZygoteError as exc:
            LOG.warning(
                'amphora %s: %s; starting its agent as a process of its own', record.amphora_id, exc
            )
            pid = self._exec_agent(record, directory, console)
        _write_atomic(self._pid_file(record), '%d\n' % pid)
        LOG.info(
            'amphora %s: agent pid %d in %s on %s',
            record.amphora_id,
            pid,
            record.namespace,
            record.management_ip,
        )

    def _exec_agent(self, record: AmphoraRecord, directory: str, console_path: str) -> int:
        with open(console_path, 'ab') as console:
            # Its own session: a signal to the worker's process group (Ctrl-C,
            # a service manager stopping the worker) must not reach agents.
            child = subprocess.Popen(
                self._agent_command(record),
                env=_agent_environment(),
                cwd=directory,
                stdin=subprocess.DEVNULL,
                stdout=console,
                stderr=console,
                start_new_session=True,
            )
        self._children[child.pid] = child
        return child.pid

    def _stop_agent(self, record: AmphoraRecord) -> None:
        pid = self._agent_pid(record)
        if pid is not None:
            processes.terminate([pid], self.stop_timeout, self._running)

    # -- processes ---------------------------------------------------------------

    def _pid_file(self, record: AmphoraRecord) -> str:
        return os.path.join(self.store.amphora_dir(record.amphora_id), SPAWNED_PID_FILE)

    def _agent_pid(self, record: AmphoraRecord) -> int | None:
        """The agent's pid if it runs; it is checked by its command line, so a
        recycled pid is never taken for the agent."""
        try:
            with open(self._pid_file(record)) as f:
                pid = int(f.read().strip())
        except (FileNotFoundError, ValueError):
            return None
        return pid if self._running(pid, record.amphora_id) else None

    @staticmethod
    def _at_home(pid: int, namespace: str) -> bool:
        """The agent runs in `namespace`, or is still `ip netns exec` in ours
        on its way there."""
        where = processes.process_namespace(pid)
        return where is not None and where in (
            processes.namespace_identity(namespace),
            processes.process_namespace(os.getpid()),
        )

    def _running(self, pid: int, marker: str | None = None) -> bool:
        self._reap()
        return processes.process_running(pid, marker, settle=EXEC_SETTLE if marker else 0.0)

    def _reap(self) -> None:
        """Collect agents of ours that exited, so none lingers as a zombie."""
        for pid, child in list(self._children.items()):
            if child.poll() is not None:
                self._children.pop(pid, None)


def _write_atomic(path: str, text: str) -> None:
    temporary = '%s.tmp-%d' % (path, os.getpid())
    with open(temporary, 'w') as f:
        f.write(text)
    os.replace(temporary, path)
