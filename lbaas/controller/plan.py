"""`plan(snapshot)`: what a reconcile pass must do, decided without side effects.

Which amphorae to retire (failover asked, or broken), which roles need a new
amphora, which amphorae still need building or booting. Rendering and pushing
follow from the amphorae that remain; see reconcile.py for the steps.
"""

from __future__ import annotations

import dataclasses

from lbaas.controller.snapshot import AmphoraState, Snapshot
from lbaas.statuses import AmphoraRole, AmphoraStatus, Topology

# Roles and VRRP priorities per topology, as Octavia assigns them.
ROLES: dict[str, tuple[tuple[AmphoraRole, int | None], ...]] = {
    Topology.SINGLE: ((AmphoraRole.STANDALONE, None),),
    Topology.ACTIVE_STANDBY: ((AmphoraRole.MASTER, 100), (AmphoraRole.BACKUP, 90)),
}
READY = AmphoraStatus.ALLOCATED


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


def plan(snapshot: Snapshot) -> Plan:
    """The amphorae this LB's topology needs, and what to do to get there."""
    if snapshot.deleting:
        return Plan(retire=tuple(a.value.id for a in snapshot.amphorae))
    retire = [a for a in snapshot.amphorae if _broken(a, snapshot.failover_requested)]
    kept = [a for a in snapshot.amphorae if a not in retire]
    roles = ROLES[snapshot.topology]
    by_role: dict[str, AmphoraState] = {}
    for amphora in kept:
        if amphora.value.role in by_role or amphora.value.role not in dict(roles):
            retire.append(amphora)  # a duplicate or a role this topology lacks
        else:
            by_role[amphora.value.role] = amphora
    create = tuple(NewAmphora(role, priority) for role, priority in roles if role not in by_role)
    ordered = [by_role[role] for role, _ in roles if role in by_role]
    return Plan(
        retire=tuple(a.value.id for a in retire),
        create=create,
        build=tuple(a.value.id for a in ordered if a.value.status != READY),
        keep=tuple(a.value.id for a in ordered),
    )
