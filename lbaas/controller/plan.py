"""`plan(snapshot)`: what a reconcile pass must do, decided without side effects.

Which amphorae to retire (failover asked, or broken), which roles need a new
amphora, which amphorae still need building or booting. Rendering and pushing
follow from the amphorae that remain; see reconcile.py for the steps.
"""

from __future__ import annotations

import dataclasses

from lbaas.controller.snapshot import AmphoraState, Snapshot
from lbaas.statuses import AmphoraRole, AmphoraStatus, Topology

# Roles and VRRP priorities per topology, as Octavia assigns them;
# ACTIVE_ACTIVE (ours) has `amphora_count` STANDALONE amphorae.
Roles = tuple[tuple[AmphoraRole, int | None], ...]
ROLES: dict[str, Roles] = {
    Topology.SINGLE: ((AmphoraRole.STANDALONE, None),),
    Topology.ACTIVE_STANDBY: ((AmphoraRole.MASTER, 100), (AmphoraRole.BACKUP, 90)),
}
SERVING = AmphoraStatus.ALLOCATED  # built, plugged and configured


@dataclasses.dataclass(frozen=True)
class NewAmphora:
    role: str
    vrrp_priority: int | None


@dataclasses.dataclass(frozen=True)
class Plan:
    retire: tuple[str, ...] = ()  # amphora ids to delete
    create: tuple[NewAmphora, ...] = ()  # amphorae to add, by role
    build: tuple[str, ...] = ()  # kept amphorae not yet ALLOCATED
    keep: tuple[str, ...] = ()  # kept amphorae, in role order

    @property
    def changes_amphorae(self) -> bool:
        return bool(self.retire or self.create)


def _broken(amphora: AmphoraState, replace_all: bool) -> bool:
    return (
        replace_all
        or amphora.failover_requested
        or amphora.value.status in (AmphoraStatus.ERROR, AmphoraStatus.PENDING_DELETE)
    )


def roles(topology: str, amphora_count: int) -> Roles:
    """The (role, VRRP priority) of each amphora the topology needs."""
    if topology == Topology.ACTIVE_ACTIVE:
        return ((AmphoraRole.STANDALONE, None),) * amphora_count
    return ROLES[topology]


def plan(snapshot: Snapshot) -> Plan:
    """The amphorae this LB's topology needs, and what to do to get there."""
    if snapshot.deleting:
        return Plan(retire=tuple(a.value.id for a in snapshot.amphorae))
    retire = [a for a in snapshot.amphorae if _broken(a, snapshot.failover_requested)]
    # Serving amphorae first: an LB that needs fewer keeps those.
    unmatched = sorted(
        (a for a in snapshot.amphorae if a not in retire), key=lambda a: a.value.status != SERVING
    )
    ordered: list[AmphoraState] = []
    create: list[NewAmphora] = []
    for role, priority in roles(snapshot.topology, snapshot.amphora_count):
        match = next((a for a in unmatched if a.value.role == role), None)
        if match is None:
            create.append(NewAmphora(role, priority))
        else:
            unmatched.remove(match)
            ordered.append(match)
    retire += unmatched  # duplicates, roles this topology lacks, more than it needs
    return Plan(
        retire=tuple(a.value.id for a in retire),
        create=tuple(create),
        build=tuple(a.value.id for a in ordered if a.value.status != SERVING),
        keep=tuple(a.value.id for a in ordered),
    )
