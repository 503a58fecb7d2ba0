"""Asking the worker to replace one amphora.

The health manager (a silent amphora) and housekeeping (an amphora gone
from its host) both end here: the amphora is marked, its load balancer given
work, and the worker's next pass retires it and builds its successor.
"""

from __future__ import annotations

import datetime
import logging

from sqlalchemy import update

from lbaas.db import models, work
from lbaas.statuses import AmphoraStatus, Provisioning

FAILOVERABLE = (Provisioning.ACTIVE, Provisioning.ERROR)

LOG = logging.getLogger(__name__)


def request_failover(
    amphora_id: str, reason: str, *, unless_heard_after: datetime.datetime | None = None
) -> bool:
    """Mark the amphora for failover; False if it cannot be done now.

    The LB row's lock is taken first, as every writer does; then the
    amphora is read again under it. Nothing happens if the LB is busy (not
    ACTIVE or ERROR: the next look tries again), if the amphora is no longer
    allocated to it, or, given `unless_heard_after`, if a heartbeat recorded
    after that time arrived meanwhile (another health manager heard it).
    The amphora's health row, if any, is marked busy: it is not picked
    again until it reports once more.
    """
    with work.writing() as session:
        amphora = session.get(models.Amphora, amphora_id)
        if amphora is None or amphora.load_balancer_id is None:
            return False
        lb = session.get(
            models.LoadBalancer,
            amphora.load_balancer_id,
            with_for_update={'of': models.LoadBalancer},
        )
        if lb is None or lb.provisioning_status not in FAILOVERABLE:
            return False
        session.refresh(amphora)  # as committed before the lock was granted
        if amphora.status != AmphoraStatus.ALLOCATED or amphora.load_balancer_id != lb.id:
            return False
        if unless_heard_after is not None:
            health = session.get(models.AmphoraHealth, amphora_id, populate_existing=True)
            if health is not None and health.last_update > unless_heard_after:
                return False
        amphora.failover_requested = True
        H = models.AmphoraHealth
        session.execute(update(H).where(H.amphora_id == amphora_id).values(busy=True))
        work.give_work(session, lb, [lb])
        LOG.warning('amphora %s of load balancer %s %s: failing over', amphora_id, lb.id, reason)
        return True
