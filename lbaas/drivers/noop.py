"""No-op drivers: everything succeeds at once and nothing runs.

They behave as Octavia's noop drivers, which other tools test against:
objects reach ACTIVE, and since no amphora reports health, load balancers
and listeners stay OFFLINE and members NO_MONITOR. They keep in memory what
a real driver would have made (amphorae, plugs, pushed bundles), so the
contract suites and unit tests can look, and can be told to fail.
"""

from __future__ import annotations

import datetime
import threading
import uuid
from collections.abc import Sequence

from lbaas import wire
from lbaas.drivers.base import Addressing, Amphora, LoadBalancerNetwork

NOOP_RUNTIME_ROOT = '/nonexistent/noop-amphorae'
# vrrp_port_id of an amphora plugged without one: the same on every plug (a retry).
NOOP_PORT_NAMESPACE = uuid.UUID('6f3c9a52-1d7e-4b8a-9c04-2e5d8b1f7a93')
# compute_id of a noop amphora: a UUID, as Octavia's noop compute answers, and
# the same for the same amphora so a retried or crashed build finds its server.
NOOP_COMPUTE_NAMESPACE = uuid.UUID('0b7d4c1e-5a3f-4e62-9d8b-7c1f2a6e9b40')
# What a noop amphora says of a certificate nobody rotated: it was built with
# one of the default lifetime, from the moment it is first asked.
NOOP_CERT_LIFETIME = datetime.timedelta(days=30)
NOOP_CLIENT_CERT_END = datetime.datetime(2100, 1, 1, tzinfo=datetime.UTC)


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
        self.faults.check('compute_id_for')
        return str(uuid.uuid5(NOOP_COMPUTE_NAMESPACE, amphora_id))

    def delete(self, compute_id: str) -> None:
        self.faults.check('delete')
        with self._lock:
            self.built.pop(compute_id, None)
            self.deleted.add(compute_id)

    def status(self, compute_id: str) -> str:
        # A restarted worker's fake has forgotten what it built: say ACTIVE,
        # as Octavia's noop compute does, rather than rebuild the world.
        # What it deleted itself it does know.
        self.faults.check('status')
        with self._lock:
            return 'DELETED' if compute_id in self.deleted else 'ACTIVE'

    def runtime_dir(self, amphora_id: str) -> str:
        self.faults.check('runtime_dir')
        return '%s/%s' % (NOOP_RUNTIME_ROOT, amphora_id)


class NoopNetwork:
    def __init__(self) -> None:
        self.faults = Faults()
        self.plugged: dict[str, set[str]] = {}  # amphora id -> subnet ids
        self.vip_holder: dict[str, str] = {}  # LB id -> amphora id holding its VIPs (SINGLE)
        self.distribution: dict[str, tuple[str, ...]] = {}  # LB id -> amphora ids (A/A)

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

    def hold_vips(self, amphora: Amphora, lb: LoadBalancerNetwork) -> None:
        self.faults.check('hold_vips')
        if lb.topology == 'SINGLE':
            self.vip_holder[lb.id] = amphora.id

    def distribute(self, lb: LoadBalancerNetwork, amphorae: Sequence[Amphora]) -> None:
        self.faults.check('distribute')
        self.distribution[lb.id] = tuple(sorted(a.id for a in amphorae))

    def unplug_amphora(self, amphora: Amphora) -> None:
        self.faults.check('unplug_amphora')
        self.plugged.pop(amphora.id, None)
        for lb_id, holder in list(self.vip_holder.items()):
            if holder == amphora.id:
                del self.vip_holder[lb_id]

    def member_subnet_ids(self, addresses: frozenset[str]) -> list[str]:
        self.faults.check('member_subnet_ids')
        return []

    def plug_member_subnets(self, amphora: Amphora, subnet_ids: list[str]) -> dict[str, str]:
        self.faults.check('plug_member_subnets')
        return {}

    def release_vip(self, lb: LoadBalancerNetwork) -> None:
        self.faults.check('release_vip')
        self.distribution.pop(lb.id, None)


class NoopAmphora:
    def __init__(self) -> None:
        self.faults = Faults()
        self.pushed: dict[str, wire.ConfigBundle] = {}
        self.certificates: dict[str, wire.AmphoraCertificate] = {}  # amphora id -> last rotated
        self.expiry: dict[str, datetime.datetime] = {}  # what certificate_expiry answers

    def ready(self, amphora: Amphora) -> bool:
        self.faults.check('ready')
        return True

    def running_digest(self, amphora: Amphora) -> str | None:
        # The noop amphora "runs" whatever the database says was pushed last,
        # so a restarted worker does not push everything again.
        self.faults.check('running_digest')
        return amphora.config_digest

    def push(self, amphora: Amphora, bundle: wire.ConfigBundle) -> str:
        self.faults.check('push')
        self.pushed[amphora.id] = bundle
        return bundle.digest()

    def rotate_certificate(self, amphora: Amphora, cert: wire.AmphoraCertificate) -> None:
        self.faults.check('rotate_certificate')
        self.certificates[amphora.id] = cert
        self.expiry[amphora.id] = cert.not_after

    def certificate_expiry(self, amphora: Amphora) -> datetime.datetime | None:
        self.faults.check('certificate_expiry')
        now = datetime.datetime.now(datetime.UTC)
        return self.expiry.setdefault(amphora.id, now + NOOP_CERT_LIFETIME)


class NoopCertificateAuthority:
    """Issues placeholder certificates (no cryptography) and counts them."""

    def __init__(self) -> None:
        self.faults = Faults()
        self.issued: list[tuple[str, int]] = []  # (amphora id, validity seconds)
        self.refreshed: list[int] = []  # expiry buffers refresh() was called with

    def issue_amphora_cert(self, amphora_id: str, validity_seconds: int) -> wire.AmphoraCertificate:
        self.faults.check('issue_amphora_cert')
        self.issued.append((amphora_id, validity_seconds))
        now = datetime.datetime.now(datetime.UTC).replace(microsecond=0)
        serial = len(self.issued)
        return wire.AmphoraCertificate(
            cert_pem=b'noop certificate %d for %s\n' % (serial, amphora_id.encode()),
            key_pem=b'noop key %d\n' % serial,
            not_after=now + datetime.timedelta(seconds=validity_seconds),
            ca_pem=b'noop CA\n',
        )

    def refresh(self, expiry_buffer: int) -> datetime.datetime:
        self.faults.check('refresh')
        self.refreshed.append(expiry_buffer)
        return NOOP_CLIENT_CERT_END
