"""`lbaas housekeeping`: periodic sweeps that keep the database small.

Deleted load balancers and amphorae stay visible as DELETED rows (as in
Octavia) until they are older than their expiry age; then they are purged.
"""
import datetime
import logging
import threading

from sqlalchemy import delete, select

from lbaas import config
from lbaas.controller import reconcile
from lbaas.db import models
from lbaas.db import session as db
from lbaas.drivers import registry
from lbaas.service import lifecycle

LOG = logging.getLogger(__name__)


def purge_deleted(now=None):
    now = now or models.utcnow()
    settings = config.CONF.house_keeping
    lb_cutoff = now - datetime.timedelta(seconds=settings.load_balancer_expiry_age)
    amp_cutoff = now - datetime.timedelta(seconds=settings.amphora_expiry_age)
    LB = models.LoadBalancer
    with db.writing() as session:
        lb_ids = list(session.scalars(select(LB.id).where(
            LB.provisioning_status == 'DELETED', LB.updated_at < lb_cutoff)))
        if lb_ids:
            session.execute(delete(models.Tag).where(models.Tag.resource_id.in_(lb_ids)))
            session.execute(delete(models.VipSecurityGroup).where(
                models.VipSecurityGroup.load_balancer_id.in_(lb_ids)))
            session.execute(delete(LB).where(LB.id.in_(lb_ids)))
        amps = session.execute(delete(models.Amphora).where(
            models.Amphora.status == 'DELETED', models.Amphora.updated_at < amp_cutoff))
    if lb_ids or amps.rowcount:
        LOG.info('purged %d load balancers and %d amphorae', len(lb_ids), amps.rowcount)
    return len(lb_ids), amps.rowcount


def reap_amphorae(drivers):
    """Tear down amphorae deleted through the API (their LB is not pending)."""
    Amp, LB = models.Amphora, models.LoadBalancer
    with db.reading() as session:
        doomed = list(session.scalars(select(Amp).outerjoin(LB).where(
            Amp.status == 'PENDING_DELETE',
            (LB.id.is_(None)) | (LB.provisioning_status.not_in(lifecycle.PENDING)))))
    for amphora in doomed:
        reconcile.delete_amphora(amphora, drivers)
    return len(doomed)


def run(stop=None):
    stop = stop or threading.Event()
    interval = config.CONF.house_keeping.cleanup_interval
    drivers = registry.load()
    while not stop.is_set():
        try:
            purge_deleted()
            reap_amphorae(drivers)
        except Exception:  # a database hiccup must not end the sweeps
            LOG.exception('housekeeping sweep failed')
        stop.wait(interval)
