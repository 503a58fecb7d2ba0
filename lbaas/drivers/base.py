"""The seams between the reconcile loop and the world (DESIGN section 4).

Each driver is chosen by name in `[controller_worker]`; `noop` drivers keep
no state of their own beyond what the database holds, so the whole control
plane runs (and is tested) without namespaces, HAProxy or root.
"""
from typing import Protocol


class TransientError(Exception):
    """Worth retrying: a process not up yet, a lock, a timeout."""


class PermanentError(Exception):
    """Retrying will not help: the object goes to ERROR with this reason."""


class ComputeDriver(Protocol):
    def build(self, amphora_id: str, lb_id: str) -> str:
        """Start an amphora; return its compute id. Idempotent per amphora id."""

    def compute_id_for(self, amphora_id: str) -> str:
        """The id build() gives this amphora, so a crashed build can be undone."""

    def delete(self, compute_id: str) -> None:
        """Stop and remove it; a missing one is already deleted."""

    def status(self, compute_id: str) -> str:
        """ACTIVE, BUILDING, ERROR or DELETED."""


class NetworkDriver(Protocol):
    def plug_amphora(self, amphora, lb) -> dict:
        """Connect an amphora to the management and VIP networks.

        Returns the amphora's addressing: lb_network_ip, vrrp_ip,
        vrrp_port_id, ha_ip, ha_port_id, vrrp_interface.
        """

    def unplug_amphora(self, amphora) -> None:
        """Remove what plug_amphora made; a missing one is already gone."""

    def member_subnet_ids(self, addresses) -> list:
        """Local subnets that hold these member addresses."""

    def plug_member_subnets(self, amphora, subnet_ids) -> dict:
        """Give the amphora an address on each subnet; {subnet id: address}."""

    def release_vip(self, lb) -> None:
        """The LB is deleted: free anything the VIP held outside the database."""


class AmphoraDriver(Protocol):
    def wait_ready(self, amphora, timeout: float) -> None:
        """Return once the amphora's agent answers; TransientError otherwise."""

    def running_digest(self, amphora) -> str | None:
        """Digest of the configuration the amphora runs now."""

    def push(self, amphora, bundle) -> str:
        """Apply a whole configuration bundle; return its digest."""

    def stats(self, amphora) -> list:
        """Per-listener counters the amphora reports."""
