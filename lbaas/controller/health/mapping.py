"""Octavia's mapping from a heartbeat to operating statuses, without I/O.

A load balancer's shape (which listeners, pools and members it has, which
are enabled) comes from the database; what HAProxy says about them comes
from one amphora's heartbeat. `derive()` turns both into the operating status
of every object, following Octavia's health manager (octavia.md 5.2):

- listener: OPEN is ONLINE, FULL is DEGRADED (and the LB DEGRADED); an
  enabled listener the amphora does not report is ERROR, a disabled one
  OFFLINE; a status Octavia does not know keeps the old value;
- pool: UP is ONLINE, DOWN is ERROR (and the LB ERROR); a member in ERROR
  makes an ONLINE pool DEGRADED (and the LB DEGRADED); a pool not reported
  is OFFLINE and its members keep their statuses;
- member: UP ONLINE, DOWN ERROR, DRAIN DRAINING, MAINT OFFLINE, "no check"
  NO_MONITOR, RESTARTING keeps the old value; in a reported pool a member
  not reported is OFFLINE unless it is NO_MONITOR;
- the LB: ONLINE, or OFFLINE when disabled, then degraded as above.

Disabled objects are OFFLINE whatever HAProxy says, as the HAProxy
configuration leaves them out or holds them in maintenance; but a disabled
member whose server still has connections is DRAINING (the agent reports a
server in maintenance with sessions as DRAIN) until they end or its drain
timeout closes them. A removed member's draining server is reported under an
id the database no longer has: ignored, like any member not in the shape.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence

from lbaas.statuses import AmphoraRole, Operating

Key = tuple[str, str]  # (kind, id): ('loadbalancer' | 'listener' | 'pool' | 'member', id)
Statuses = dict[Key, str]

# HAProxy's server statuses, by their first word, as Octavia maps them.
_MEMBER = {
    'UP': Operating.ONLINE,
    'DOWN': Operating.ERROR,
    'DRAIN': Operating.DRAINING,
    'NOLB': Operating.DRAINING,
    'MAINT': Operating.OFFLINE,
    'NO': Operating.NO_MONITOR,  # "no check": the pool has no health monitor
}
# Which status wins when one member appears in several backends (a pool
# served by two listeners): the worst news first; None keeps the old value.
_RANK: dict[str | None, int] = {
    Operating.ERROR: 0,
    Operating.OFFLINE: 1,
    Operating.DRAINING: 2,
    Operating.NO_MONITOR: 3,
    Operating.ONLINE: 4,
    None: 5,
}


def member_status(text: str) -> str | None:
    """Octavia's status for HAProxy's text ("UP 1/3" is still UP); None: keep."""
    word = text.split(' ', 1)[0].upper()
    return _MEMBER.get(word)


def listener_status(text: str) -> str | None:
    return {'OPEN': Operating.ONLINE, 'FULL': Operating.DEGRADED}.get(text.upper())


def pool_status(text: str) -> str | None:
    return {'UP': Operating.ONLINE, 'DOWN': Operating.ERROR}.get(text.upper())


def worse(a: str | None, b: str | None) -> str | None:
    """Of two reports about one member, the one to believe."""
    return a if _RANK.get(a, 5) <= _RANK.get(b, 5) else b


@dataclasses.dataclass(frozen=True, slots=True)
class PoolShape:
    id: str
    enabled: bool
    members: tuple[tuple[str, bool], ...]  # (id, enabled)


@dataclasses.dataclass(frozen=True, slots=True)
class LbShape:
    id: str
    generation: int
    enabled: bool
    listeners: tuple[tuple[str, bool], ...]  # (id, enabled)
    pools: tuple[PoolShape, ...]

    @property
    def listener_ids(self) -> frozenset[str]:
        return frozenset(listener_id for listener_id, _ in self.listeners)


@dataclasses.dataclass(frozen=True, slots=True)
class Seen:
    """What one heartbeat says, already mapped: listener and pool statuses
    (None: a word Octavia does not know), and each pool's members."""

    listeners: Mapping[str, str | None]
    pools: Mapping[str, str | None]
    members: Mapping[str, Mapping[str, str | None]]  # pool id -> member id -> status


_LB_RANK: dict[str, int] = {Operating.ONLINE: 0, Operating.DEGRADED: 1, Operating.ERROR: 2}


def _lower(lb: str, to: str) -> str:
    """The LB's status after news of `to`: it only ever gets worse."""
    return to if _LB_RANK.get(to, 0) > _LB_RANK.get(lb, 0) else lb


def _pool(pool: PoolShape, seen: Seen, previous: Mapping[Key, str], out: Statuses) -> str | None:
    """Statuses of a pool and its members; returns what it means for the LB."""
    if not pool.enabled or pool.id not in seen.pools:
        out['pool', pool.id] = Operating.OFFLINE
        return None
    members = seen.members.get(pool.id, {})
    status = seen.pools[pool.id] or previous.get(('pool', pool.id), Operating.OFFLINE)
    # HAProxy calls a backend without servers DOWN though nothing failed.
    if status == Operating.ERROR and not members:
        status = Operating.ONLINE
    effect = Operating.ERROR if status == Operating.ERROR else None
    for member_id, enabled in pool.members:
        before = previous.get(('member', member_id))
        if not enabled:  # OFFLINE once its connections have drained
            drained = members.get(member_id) != Operating.DRAINING
            now: str | None = Operating.OFFLINE if drained else Operating.DRAINING
        elif member_id in members:
            now = members[member_id] or before
        else:
            now = before if before == Operating.NO_MONITOR else Operating.OFFLINE
        if now is not None:
            out['member', member_id] = now
        if now == Operating.ERROR and status == Operating.ONLINE:
            status, effect = Operating.DEGRADED, Operating.DEGRADED
    out['pool', pool.id] = status
    return effect


def derive(shape: LbShape, seen: Seen, previous: Mapping[Key, str]) -> Statuses:
    """Every object's operating status; `previous` holds the current ones
    (for the values that are kept). Objects whose status is kept and unknown
    are left out."""
    out: Statuses = {}
    lb: str = Operating.ONLINE
    for listener_id, enabled in shape.listeners:
        if not enabled:
            status: str | None = Operating.OFFLINE
        elif listener_id in seen.listeners:
            status = seen.listeners[listener_id] or previous.get(('listener', listener_id))
        else:
            status = Operating.ERROR  # enabled on an ACTIVE LB, yet not served
        if status is not None:
            out['listener', listener_id] = status
        if status == Operating.DEGRADED:
            lb = _lower(lb, Operating.DEGRADED)
    for pool in shape.pools:
        effect = _pool(pool, seen, previous, out)
        if effect is not None:
            lb = _lower(lb, effect)
    out['loadbalancer', shape.id] = lb if shape.enabled else Operating.OFFLINE
    return out


def changes(derived: Mapping[Key, str], current: Mapping[Key, str]) -> Statuses:
    """What differs from what the database holds."""
    return {key: value for key, value in derived.items() if current.get(key) != value}


@dataclasses.dataclass(frozen=True, slots=True)
class Candidate:
    """One amphora's newest report, as a choice for its LB's statuses."""

    amphora_id: str
    role: str | None
    serving: bool  # its report has listeners


def choose(candidates: Sequence[Candidate]) -> Candidate | None:
    """Whose report describes an LB served by several amphorae.

    In ACTIVE_STANDBY both amphorae report. The one that serves is the one
    whose report has listeners (a standby whose HAProxy is stopped reports
    none); when both do, the MASTER's. Under ACTIVE_ACTIVE every amphora
    serves: the same one's (the highest id among those heard) each time. So
    two reports that disagree (each amphora checks the members itself) do
    not flip the statuses, and with them the database, at every heartbeat.
    A report with no listeners is used only when no amphora reports any:
    the LB then has no listener, or none is served anywhere.
    """
    if not candidates:
        return None

    def rank(c: Candidate) -> tuple[bool, bool, str]:
        preferred = c.role in (AmphoraRole.MASTER, AmphoraRole.STANDALONE, None)
        return c.serving, preferred, c.amphora_id

    return max(candidates, key=rank)
