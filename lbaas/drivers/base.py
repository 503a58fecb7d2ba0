"""The seams between the reconcile loop and the world (DESIGN section 4).

Each driver is chosen by name in `[controller_worker]` and is a `Protocol`
over frozen values: the controller hands drivers what they need to know, never
database rows, and drivers answer with values. `tests/contract/` runs one
suite per seam against the in-memory fake (`noop`) and the real driver.
"""

from __future__ import annotations

import dataclasses
import datetime
from collections.abc import Sequence
from typing import Protocol, TypeAlias

from lbaas import wire
from lbaas.statuses import AmphoraRole, AmphoraStatus

# One row of HAProxy's `show stat` as the agent sends it: CSV column -> value,
# numbers as ints, empty fields None (lbaas.agent.haproxy.StatRow).
StatRow: TypeAlias = dict[str, str | int | None]


class TransientError(Exception):
    """Worth retrying: a process not up yet, a lock, a timeout.

    `delay` (seconds) is when a retry may help; None leaves it to the
    worker's backoff.
    """

    def __init__(self, message: str, delay: float | None = None) -> None:
        super().__init__(message)
        self.delay = delay


class CertificateExpired(TransientError):
    """The amphora's server certificate has expired, so nothing but the
    rotation may talk to it. Housekeeping renews it (every
    `[house_keeping] cert_interval`); retrying after that succeeds."""


class PermanentError(Exception):
    """Retrying will not help: the object goes to ERROR with this reason."""


@dataclasses.dataclass(frozen=True)
class Amphora:
    """What a driver knows of an amphora: identity, role and addressing."""

    id: str
    lb_id: str | None
    role: str = AmphoraRole.STANDALONE
    status: str = AmphoraStatus.PENDING_CREATE
    compute_id: str | None = None
    lb_network_ip: str | None = None
    vrrp_ip: str | None = None
    vrrp_port_id: str | None = None
    vrrp_priority: int | None = None
    vrrp_interface: str | None = None
    vrrp_id: int | None = None  # the VRRP router id of its pair
    config_digest: str | None = None
    host: str | None = None  # the data-plane host it lives on


@dataclasses.dataclass(frozen=True)
class Vip:
    subnet_id: str | None
    address: str | None
    port_id: str | None = None


@dataclasses.dataclass(frozen=True)
class LoadBalancerNetwork:
    """What the network driver needs of a load balancer: its VIPs, first the main one."""

    id: str
    topology: str
    vips: tuple[Vip, ...]


@dataclasses.dataclass(frozen=True)
class Addressing:
    """Where plug_amphora put an amphora; recorded on its row."""

    lb_network_ip: str | None
    vrrp_ip: str | None
    vrrp_port_id: str | None
    ha_ip: str | None
    ha_port_id: str | None
    vrrp_interface: str | None


class ComputeDriver(Protocol):
    def build(self, amphora_id: str, lb_id: str) -> str:
        """Start an amphora; return its compute id. Idempotent per amphora id.
        `lb_id` is '' for a warm-pool spare, which no LB owns yet."""

    def compute_id_for(self, amphora_id: str) -> str:
        """The id build() gives this amphora, so a crashed build can be undone."""

    def delete(self, compute_id: str) -> None:
        """Stop and remove it; a missing one is already deleted."""

    def status(self, compute_id: str) -> str:
        """ACTIVE, BUILDING, ERROR or DELETED."""

    def runtime_dir(self, amphora_id: str) -> str:
        """Where, inside the amphora, its agent keeps the running configuration."""


class NetworkDriver(Protocol):
    def plug_amphora(self, amphora: Amphora, lb: LoadBalancerNetwork) -> Addressing:
        """Connect an amphora to the management and VIP networks. Idempotent."""

    def hold_vips(self, amphora: Amphora, lb: LoadBalancerNetwork) -> None:
        """SINGLE: the VIPs move to this amphora, which serves them. Idempotent.

        Called once its configuration runs, before the amphora it replaces
        is unplugged; under ACTIVE_STANDBY keepalived moves them instead.
        Under ACTIVE_ACTIVE the amphora accepts the VIPs' traffic without
        answering for the VIPs on the network (the distributor does).
        """

    def distribute(self, lb: LoadBalancerNetwork, amphorae: Sequence[Amphora]) -> None:
        """ACTIVE_ACTIVE: spread the VIPs' flows over these serving amphorae,
        each flow staying on one while the set is unchanged, and only the
        flows of an amphora that leaves moving. Idempotent; with none, the
        VIPs stay held and their flows wait."""

    def unplug_amphora(self, amphora: Amphora) -> None:
        """Remove what plug_amphora and hold_vips made; a missing one is already gone."""

    def member_subnet_ids(self, addresses: frozenset[str]) -> list[str]:
        """Local subnets that hold these member addresses."""

    def plug_member_subnets(self, amphora: Amphora, subnet_ids: list[str]) -> dict[str, str]:
        """Give the amphora an address on each subnet; {subnet id: address}."""

    def release_vip(self, lb: LoadBalancerNetwork) -> None:
        """The LB is deleted: free anything the VIP held outside the database."""


class AmphoraDriver(Protocol):
    """The transport to an amphora's agent: bundles in, digests and counters out."""

    def ready(self, amphora: Amphora) -> bool:
        """Whether the amphora's agent answers now (one quick probe)."""

    def running_digest(self, amphora: Amphora) -> str | None:
        """Digest of the configuration the amphora runs now; None if unknown."""

    def push(self, amphora: Amphora, bundle: wire.ConfigBundle) -> str:
        """Apply a whole configuration bundle; return its digest."""

    def rotate_certificate(self, amphora: Amphora, cert: wire.AmphoraCertificate) -> None:
        """Give the agent a new server certificate (and trust bundle), used
        from its next handshake on. Works on an agent whose certificate has
        already expired: this call alone checks its chain and name, not its dates."""

    def certificate_expiry(self, amphora: Amphora) -> datetime.datetime | None:
        """When the certificate the agent presents expires (UTC); None when
        the amphora cannot be reached to say."""


class CertificateAuthority(Protocol):
    """Issues amphora server certificates and keeps the controller's own
    credentials (client certificate, CA) from expiring."""

    def issue_amphora_cert(self, amphora_id: str, validity_seconds: int) -> wire.AmphoraCertificate:
        """A fresh key and certificate naming the amphora, with the trust bundle."""

    def refresh(self, expiry_buffer: int) -> datetime.datetime:
        """Renew what expires within `expiry_buffer` seconds; returns when the
        controller's client certificate expires (UTC)."""


def _noop_certificates() -> CertificateAuthority:
    # Callers that build Drivers by hand (tests, benchmarks) name three noop
    # drivers; the fourth seam follows them. registry.load() always names it.
    from lbaas.drivers.noop import NoopCertificateAuthority

    return NoopCertificateAuthority()


@dataclasses.dataclass(frozen=True)
class Drivers:
    compute: ComputeDriver
    network: NetworkDriver
    amphora: AmphoraDriver
    certificates: CertificateAuthority = dataclasses.field(default_factory=_noop_certificates)
