"""Keeping the warm pool full (spares.py says what a spare is).

Housekeeping runs `run` on a thread of its own: every
`[house_keeping] spare_check_interval` seconds it builds the spares that
were taken, deletes spares beyond `spare_amphora_pool_size` (0 deletes them
all) and replaces spares whose compute instance broke. It builds nothing
while load balancers wait for a worker: a burst that emptied the pool is
served first, and the pool refills after it.
"""

from __future__ import annotations

import logging
import threading

from sqlalchemy import ColumnElement, func, select, true, update

from lbaas import config
from lbaas.controller import hosts, leases, reconcile
from lbaas.controller.snapshot import amphora_value
from lbaas.controller.spares import SPARE, UNOWNED, Amp
from lbaas.db import models
from lbaas.db import outage as db_outage
from lbaas.db import session as db
from lbaas.drivers.base import Drivers
from lbaas.statuses import AmphoraStatus

LOG = logging.getLogger(__name__)
BROKEN = (AmphoraStatus.ERROR, AmphoraStatus.DELETED)
_BUILDING = Amp.status.in_((AmphoraStatus.PENDING_CREATE, AmphoraStatus.BOOTING)) & UNOWNED


def _own_host() -> ColumnElement[bool]:
    """This host's spares, where amphorae have hosts: the pool is per host."""
    return Amp.host == hosts.local() if hosts.placing() else true()


def refill(drivers: Drivers) -> tuple[int, int]:
    """One look at the pool: (spares built, spares deleted)."""
    with db.reading() as session:
        spares = list(session.scalars(select(Amp).where(SPARE, _own_host())))
        building = (
            session.scalar(select(func.count()).select_from(Amp).where(_BUILDING, _own_host())) or 0
        )
    broken = [a for a in spares if drivers.compute.status(a.compute_id or '') in BROKEN]
    size = config.CONF.house_keeping.spare_amphora_pool_size
    extra = max(0, len(spares) - len(broken) + building - size)
    doomed = broken + [a for a in spares if a not in broken][:extra]
    deleted = sum(1 for amphora in doomed if _delete(amphora, drivers))
    built = 0
    for _ in range(size - (len(spares) - len(doomed)) - building):
        if backlog():
            break  # building spares now would slow those LBs down
        _build(drivers)
        built += 1
    if built or deleted:
        LOG.info('warm pool: %d spare(s) built, %d deleted; size %d', built, deleted, size)
    return built, deleted


def backlog() -> bool:
    """Load balancers wait for a worker."""
    return bool(leases.claimable_ids(limit=1))


def _build(drivers: Drivers) -> None:
    """Build one spare: its row first (PENDING_CREATE, no LB), READY once built."""
    with db.writing() as session:
        host = hosts.local() if hosts.placing() else None
        row = Amp(id=models.new_id(), status=AmphoraStatus.PENDING_CREATE, host=host)
        session.add(row)
        session.flush()
        spare = amphora_value(row)
    try:
        compute_id = drivers.compute.build(spare.id, '')
    except Exception:
        reconcile.delete_amphora(spare, drivers)
        raise
    with db.writing() as session:
        session.execute(
            update(Amp)
            .where(Amp.id == spare.id, Amp.status == AmphoraStatus.PENDING_CREATE, UNOWNED)
            .values(status=AmphoraStatus.READY, compute_id=compute_id)
        )


def _delete(amphora: models.Amphora, drivers: Drivers) -> bool:
    """Delete a spare unless a worker took it meanwhile."""
    with db.writing() as session:
        claimed = session.execute(
            update(Amp)
            .where(Amp.id == amphora.id, SPARE)
            .values(status=AmphoraStatus.PENDING_DELETE)
        )
    if getattr(claimed, 'rowcount', 0) != 1:
        return False
    reconcile.delete_amphora(amphora_value(amphora), drivers)
    return True


def run(drivers: Drivers, stop: threading.Event) -> None:
    """Refill the pool every `spare_check_interval` until stopped; errors
    (a database outage, a failed build) are logged and waited out. With no
    pool configured, one look deletes any spares left and the thread ends:
    the size is read at start only, so no later look could build one."""
    outage = db_outage.Outage('warm pool')
    settings = config.CONF.house_keeping
    while not stop.is_set():
        try:
            refill(drivers)
        except Exception as exc:
            stop.wait(outage.failed(exc, settings.spare_check_interval))
            continue
        outage.ended()
        if not settings.spare_amphora_pool_size:
            return
        stop.wait(settings.spare_check_interval)
