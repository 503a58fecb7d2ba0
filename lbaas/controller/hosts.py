"""Data-plane hosts: registration, liveness and where a new amphora goes.

The workers and the housekeeping of a host register it (`[DEFAULT] host`) in
the `host` table with its `[hosts]` availability zone and capacity, and
refresh `heartbeat_at` every `heartbeat_interval` seconds, so a restarted
worker does not make its host look gone. A host silent for `dead_after` is
dead: it gets no new amphorae, steps on its amphorae are skipped
(remote.py), and those never heard from are failed over (health/stale.py).

`place()` picks the host of a new amphora when its row is written, in the
pass's transaction: among the live hosts of the LB's zone (an AZ profile's
`compute_zone`; every live host without one) with room left, the least
loaded by its share of capacity, where an ACTIVE_STANDBY pair's second
amphora avoids the host of the first (anti-affinity) and an ACTIVE_ACTIVE
LB's amphorae join their siblings' host (the distributor that spreads their
flows lives in one host's fabric). A host that missed two beats may be
going down: it comes after the others, yet before a pair shares a host.
With one host left, a pair shares it: serving from one host beats not
serving. A worker that has not registered yet (tests, a first pass racing
the first beat) places on its own host.
"""

from __future__ import annotations

import datetime
import json
import logging
import threading
import time

from sqlalchemy import ColumnElement, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from lbaas import config
from lbaas.db import models
from lbaas.db import outage as db_outage
from lbaas.db import session as db
from lbaas.drivers import registry
from lbaas.drivers.base import TransientError
from lbaas.statuses import AmphoraStatus, Topology

LOG = logging.getLogger(__name__)
GONE = (AmphoraStatus.DELETED, AmphoraStatus.PENDING_DELETE)
_LIVENESS_TTL = 1.0  # seconds a host's liveness is trusted before it is read again


def placing() -> bool:
    """Whether amphorae have hosts: a netns amphora lives on the host that
    built it, where a Nova server is reached from anywhere."""
    return registry.driver_name('compute_driver') == 'netns'


def local() -> str:
    name: str = config.CONF.host
    return name


def register() -> None:
    """Insert or refresh this host's row (an upsert that all three engines take)."""
    settings = config.CONF.hosts
    values = {
        'availability_zone': settings.availability_zone,
        'capacity': settings.capacity,
        'heartbeat_at': models.utcnow(),
    }
    with db.writing() as session:
        found = session.execute(
            update(models.Host).where(models.Host.name == local()).values(**values)
        )
        if getattr(found, 'rowcount', 0):
            return
    try:
        with db.writing() as session:
            session.add(models.Host(name=local(), **values))
    except IntegrityError:
        register()  # another worker of this host inserted it first


def beat(stop: threading.Event) -> None:
    """Register every `heartbeat_interval` until stopped; an outage is waited out."""
    outage = db_outage.Outage('host registration')
    interval = config.CONF.hosts.heartbeat_interval
    while not stop.is_set():
        try:
            register()
        except Exception as exc:
            stop.wait(outage.failed(exc, interval))
            continue
        outage.ended()
        stop.wait(interval)


def cutoff() -> datetime.datetime:
    dead_after: float = config.CONF.hosts.dead_after
    when: datetime.datetime = models.utcnow() - datetime.timedelta(seconds=dead_after)
    return when


class Liveness:
    """Whether a host is alive, from its row, read at most once a second per host."""

    def __init__(self) -> None:
        self._seen: dict[str, tuple[float, bool]] = {}
        self._lock = threading.Lock()

    def alive(self, host: str) -> bool:
        now = time.monotonic()
        with self._lock:
            cached = self._seen.get(host)
        if cached and now - cached[0] < _LIVENESS_TTL:
            return cached[1]
        with db.reading() as session:
            beat_at = session.scalar(
                select(models.Host.heartbeat_at).where(models.Host.name == host)
            )
        alive = beat_at is not None and beat_at > cutoff()
        with self._lock:
            self._seen[host] = (now, alive)
        return alive


def live_names(session: Session) -> list[str]:
    return list(
        session.scalars(select(models.Host.name).where(models.Host.heartbeat_at > cutoff()))
    )


def zone_of(session: Session, lb_id: str) -> str | None:
    """The compute zone of the LB's availability zone, if its profile names one."""
    profile = session.scalar(
        select(models.AvailabilityZoneProfile.availability_zone_data)
        .join(
            models.AvailabilityZone,
            models.AvailabilityZone.availability_zone_profile_id
            == models.AvailabilityZoneProfile.id,
        )
        .join(
            models.LoadBalancer,
            models.LoadBalancer.availability_zone == models.AvailabilityZone.name,
        )
        .where(models.LoadBalancer.id == lb_id)
    )
    zone = json.loads(profile or '{}').get('compute_zone')
    return str(zone) if zone else None


def place(session: Session, lb_id: str, topology: str) -> str:
    """The host for a new amphora of `lb_id` (see the module's docstring)."""
    zone = zone_of(session, lb_id)
    query = select(models.Host.name, models.Host.capacity, models.Host.heartbeat_at).where(
        models.Host.heartbeat_at > cutoff(), models.Host.capacity > 0
    )
    if zone:
        query = query.where(models.Host.availability_zone == zone)
    found = session.execute(query).all()
    capacity: dict[str, int] = {row.name: row.capacity for row in found}
    # Missed two beats (MariaDB's DATETIME keeps whole seconds: one more of slack there).
    slack = 1.0 if db.engine().dialect.name == 'mysql' else 0.0
    fresh_after = models.utcnow() - datetime.timedelta(
        seconds=2 * config.CONF.hosts.heartbeat_interval + slack
    )
    stale: set[str] = {row.name for row in found if row.heartbeat_at <= fresh_after}
    if not capacity:
        if zone:
            raise TransientError('no live data-plane host in compute zone %r' % zone)
        return local()
    live = models.Amphora.status.not_in(GONE)
    counts = session.execute(
        select(models.Amphora.host, func.count())
        .where(models.Amphora.host.in_(capacity), live)
        .group_by(models.Amphora.host)
    )
    load = {host: count for host, count in counts}
    siblings = set(
        session.scalars(
            select(models.Amphora.host).where(models.Amphora.load_balancer_id == lb_id, live)
        )
    )
    room = [h for h in capacity if load.get(h, 0) < capacity[h]]
    if not room:
        raise TransientError('every live data-plane host is full (see [hosts] capacity)')
    together = topology == Topology.ACTIVE_ACTIVE

    def rank(host: str) -> tuple[bool, bool, float, str]:
        apart = host not in siblings if together else host in siblings
        return apart, host in stale, load.get(host, 0) / capacity[host], host

    return min(room, key=rank)


def looked_after_here() -> ColumnElement[bool]:
    """Amphora rows this host's housekeeping looks after: its own, those of
    no recorded host, and a dead host's (only their rows: their namespaces
    are that host's to sweep when it returns)."""
    amp = models.Amphora
    alive = select(models.Host.name).where(
        models.Host.heartbeat_at > cutoff(), models.Host.name != local()
    )
    return amp.host.is_(None) | amp.host.not_in(alive)
