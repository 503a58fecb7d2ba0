"""No-op drivers: everything succeeds at once and nothing runs.

They behave as Octavia's noop drivers, which other tools test against:
objects reach ACTIVE, and since no amphora reports health, load balancers
and listeners stay OFFLINE and members NO_MONITOR. They keep in memory what
a real driver would have made (amphorae, plugs, pushed bundles), so the
contract suites and unit tests can look, and can be told to fail.
"""

from __future__ import annotations

import threading
import uuid

from lbaas import wire
from lbaas.drivers.base import Addressing, Amphora, LoadBalancerNetwork, StatRow

NOOP_RUNTIME_ROOT = '/nonexistent/noop-amphorae'
# vrrp_port_id of an amphora plugged without one: the same on every plug (a retry).
NOOP_PORT_NAMESPACE = uuid.UUID('6f3c9a52-1d7e-4b8a-9c04-2e5d8b1f7a93')


class Faults:
    """Errors a test wants a fake to raise: {method name: exception}."""

    def __init__(self) -> None:
        self.planned: dict[str, Exception] = {}

    def check(self, method: str) -> None:
        error = self.planned.get(method)
        if error is not None:
            raise error


class NoopCompute:
    def __init__(self) -> None:
        self.faults = Faults()
        self.built: dict[str, str] = {}  # compute id -> lb id
        self.deleted: set[str] = set()  # compute ids this fake deleted
        self._lock = threading.Lock()

    def build(self, amphora_id: str, lb_id: str) -> str:
        self.faults.check('build')
        with self._lock:
            self.built[self.compute_id_for(amphora_id)] = lb_id
            self.deleted.discard(self.compute_id_for(amphora_id))
        return self.compute_id_for(amphora_id)

    def compute_id_for(self, amphora_id: str) -> str:
        return 'noop-' + amphora_id

    def delete(self, compute_id: str) -> None:
        self.faults.check('delete')
        with self._lock:
            self.built.pop(compute_id, None)
            self.deleted.add(compute_id)

    def status(self, compute_id: str) -> str:
        # A restarted worker's fake has forgotten what it built: say ACTIVE,
        # as Octavia's noop compute does, rather than rebuild the world.
        # What it deleted itself it does know.
        with self._lock:
            return 'DELETED' if compute_id in self.deleted else 'ACTIVE'

    def runtime_dir(self, amphora_id: str) -> str:
        return '%s/%s' % (NOOP_RUNTIME_ROOT, amphora_id)


class NoopNetwork:
    def __init__(self) -> None:
        self.faults = Faults()
        self.plugged: dict[str, set[str]] = {}  # amphora id -> subnet ids

    def plug_amphora(self, amphora: Amphora, lb: LoadBalancerNetwork) -> Addressing:
        self.faults.check('plug_amphora')
        vip = lb.vips[0] if lb.vips else None
        port_key = amphora.id + ((vip.subnet_id or '') if vip else '')
        self.plugged.setdefault(amphora.id, set()).update(
            v.subnet_id for v in lb.vips if v.subnet_id
        )
        return Addressing(
            lb_network_ip=None,
            vrrp_ip=None,
            vrrp_port_id=amphora.vrrp_port_id or str(uuid.uuid5(NOOP_PORT_NAMESPACE, port_key)),
            ha_ip=vip.address if vip else None,
            ha_port_id=vip.port_id if vip else None,
            vrrp_interface=None,
        )

    def unplug_amphora(self, amphora: Amphora) -> None:
        self.plugged.pop(amphora.id, None)

    def member_subnet_ids(self, addresses: frozenset[str]) -> list[str]:
        return []

    def plug_member_subnets(self, amphora: Amphora, subnet_ids: list[str]) -> dict[str, str]:
        self.faults.check('plug_member_subnets')
        return {}

    def release_vip(self, lb: LoadBalancerNetwork) -> None:
        pass


class NoopAmphora:
    def __init__(self) -> None:
        self.faults = Faults()
        self.pushed: dict[str, wire.ConfigBundle] = {}

    def ready(self, amphora: Amphora) -> bool:
        self.faults.check('ready')
        return True

    def running_digest(self, amphora: Amphora) -> str | None:
        # The noop amphora "runs" whatever the database says was pushed last,
        # so a restarted worker does not push everything again.
        return amphora.config_digest

    def push(self, amphora: Amphora, bundle: wire.ConfigBundle) -> str:
        self.faults.check('push')
        self.pushed[amphora.id] = bundle
        return bundle.digest()

    def stats(self, amphora: Amphora) -> list[StatRow] | None:
        return []
