"""The warm pool: amphorae built ahead of need, which no load balancer owns yet.

Housekeeping keeps `[house_keeping] spare_amphora_pool_size` spares (status
READY, no LB; see warm_pool.py). A spare is a whole amphora (namespace or
server, certificate, management address, agent running) built with an
empty LB id. A reconcile pass that needs a new amphora takes a spare with a
compare-and-set UPDATE (`take`), so two workers never take the same one;
the pass then only plugs it into the LB's networks and pushes its
configuration. With no spare left it builds one as before.

A spare joins no Nova server group, so ACTIVE_STANDBY pairs that must be
placed apart (`[nova] enable_anti_affinity`) never take spares.
"""

from __future__ import annotations

import random
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from lbaas import config
from lbaas.db import models
from lbaas.statuses import AmphoraStatus, Topology

Amp = models.Amphora
CANDIDATES = 8  # spares a taker chooses among, so concurrent takers rarely collide
UNOWNED = Amp.load_balancer_id.is_(None)
SPARE = (Amp.status == AmphoraStatus.READY) & UNOWNED


def usable(topology: str) -> bool:
    """Whether a new amphora of this topology may be a spare."""
    return not (topology == Topology.ACTIVE_STANDBY and config.CONF.nova.enable_anti_affinity)


def take(
    session: Session, lb_id: str, fields: dict[str, Any], host: str | None = None
) -> models.Amphora | None:
    """Give a spare (of `host`, if named) to `lb_id` in `session`'s
    transaction, with `fields` (its role and VRRP settings); None if none is left.

    The spare goes back to PENDING_CREATE with its compute id kept: the
    pass sees it built but not plugged.
    """
    query = select(Amp.id).where(SPARE)
    if host is not None:
        query = query.where(Amp.host == host)
    ids = list(session.scalars(query.limit(CANDIDATES)))
    random.shuffle(ids)
    for amphora_id in ids:
        taken = session.execute(
            update(Amp)
            .where(Amp.id == amphora_id, SPARE)
            .values(load_balancer_id=lb_id, status=AmphoraStatus.PENDING_CREATE, **fields)
        )
        if getattr(taken, 'rowcount', 0) == 1:
            return session.get(Amp, amphora_id, populate_existing=True)
    return None
