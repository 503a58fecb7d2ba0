"""/metrics: the service's state in the Prometheus text format.

Every number is read from the database at scrape time by a custom
collector in a registry of our own (not prometheus_client's global one with
its process metrics), so whichever API worker process answers a scrape, it
answers the same numbers. Admin only under keystone; open under noauth.
"""
import datetime
from collections.abc import Iterable, Iterator
from typing import Any

import falcon
import prometheus_client
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import CollectorRegistry
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from lbaas import config
from lbaas.api import base
from lbaas.db import models
from lbaas.db import session as db
from lbaas.statuses import PENDING, AmphoraStatus, Operating, Provisioning

LB = models.LoadBalancer
A = models.Amphora
H = models.AmphoraHealth
KINDS: dict[str, Any] = {
    'loadbalancer': LB, 'listener': models.Listener, 'pool': models.Pool,
    'member': models.Member, 'healthmonitor': models.HealthMonitor,
    'l7policy': models.L7Policy,
}


def _now() -> datetime.datetime:
    # The database holds naive UTC timestamps (models.utcnow).
    return datetime.datetime.now(datetime.UTC).replace(tzinfo=None)


def _seconds(delta: datetime.timedelta) -> float:
    return delta.total_seconds()


def _counts(session: Session, column: Any, known: Iterable[str],
            *where: Any) -> dict[str, int]:
    """Rows per value of `column`; every known value present, at 0 if absent,
    so a status that empties shows 0 rather than vanishing."""
    counts = dict.fromkeys(known, 0)
    stmt = select(column, func.count()).group_by(column)
    if where:
        stmt = stmt.where(*where)
    for value, count in session.execute(stmt):
        counts[str(value)] = int(count)
    return counts


def _objects(session: Session) -> Iterator[Any]:
    family = GaugeMetricFamily(
        'lbaas_objects', 'Objects by kind and provisioning status.',
        labels=['kind', 'provisioning_status'])
    known = [s.value for s in Provisioning if s != Provisioning.DELETED]
    for kind, model in KINDS.items():
        for status, count in _counts(session, model.provisioning_status, known).items():
            family.add_metric([kind, status], count)
    yield family
    family = GaugeMetricFamily(
        'lbaas_load_balancers_operating', 'Load balancers by operating status.',
        labels=['operating_status'])
    for status, count in _counts(session, LB.operating_status,
                                 [s.value for s in Operating]).items():
        family.add_metric([status], count)
    yield family


def _load_balancers(session: Session, now: datetime.datetime) -> Iterator[Any]:
    oldest = session.scalar(select(func.min(func.coalesce(LB.updated_at, LB.created_at)))
                            .where(LB.provisioning_status.in_(sorted(PENDING))))
    yield GaugeMetricFamily(
        'lbaas_oldest_pending_load_balancer_age_seconds',
        'Seconds since the oldest PENDING_* load balancer last changed (0: none).',
        value=max(0.0, _seconds(now - oldest)) if oldest else 0.0)
    errors = session.scalar(select(func.count()).select_from(LB)
                            .where(LB.provisioning_status == Provisioning.ERROR))
    yield GaugeMetricFamily('lbaas_load_balancers_error',
                            'Load balancers in provisioning status ERROR.',
                            value=int(errors or 0))
    attempts = session.scalar(select(func.coalesce(func.sum(LB.attempts), 0)))
    # A gauge: attempts drop back to 0 when a load balancer settles.
    yield GaugeMetricFamily('lbaas_reconcile_attempts',
                            'Reconcile attempts of the load balancers not yet settled.',
                            value=int(attempts or 0))


def _amphorae(session: Session, now: datetime.datetime) -> Iterator[Any]:
    family = GaugeMetricFamily('lbaas_amphorae', 'Amphorae by status (DELETED left out).',
                               labels=['status'])
    known = [s.value for s in AmphoraStatus if s != AmphoraStatus.DELETED]
    for status, count in _counts(session, A.status, known,
                                 A.status != AmphoraStatus.DELETED).items():
        family.add_metric([status], count)
    yield family
    allocated = (select(H.last_update).join(A, A.id == H.amphora_id)
                 .where(A.status == AmphoraStatus.ALLOCATED).subquery())
    oldest = session.scalar(select(func.min(allocated.c.last_update)))
    yield GaugeMetricFamily(
        'lbaas_heartbeat_lag_seconds',
        'Seconds since the oldest heartbeat of an ALLOCATED amphora (0: none).',
        value=max(0.0, _seconds(now - oldest)) if oldest else 0.0)
    timeout = datetime.timedelta(seconds=config.CONF.health_manager.heartbeat_timeout)
    stale = session.scalar(select(func.count()).select_from(allocated)
                           .where(allocated.c.last_update < now - timeout))
    yield GaugeMetricFamily(
        'lbaas_heartbeat_stale_amphorae',
        'ALLOCATED amphorae whose last heartbeat is older than heartbeat_timeout.',
        value=int(stale or 0))
    expiry = session.scalar(select(func.min(A.cert_expiration))
                            .where(A.status != AmphoraStatus.DELETED))
    family = GaugeMetricFamily(
        'lbaas_amphora_cert_expiry_seconds',
        'Seconds until the soonest amphora certificate expires (no sample: none).')
    if expiry is not None:
        family.add_metric([], _seconds(expiry - now))
    yield family


class DatabaseCollector:
    """Reads everything in one read transaction per scrape."""

    def collect(self) -> Iterator[Any]:
        now = _now()
        with db.reading() as session:
            families = [*_objects(session), *_load_balancers(session, now),
                        *_amphorae(session, now)]
        yield from families


def registry() -> CollectorRegistry:
    """A fresh registry holding only the database collector."""
    fresh = CollectorRegistry(auto_describe=False)
    fresh.register(DatabaseCollector())
    return fresh


class Metrics:
    def __init__(self) -> None:
        self._registry = registry()

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        if config.CONF.api_settings.auth_strategy == 'keystone':
            # The numbers span every project and include the amphorae: the
            # audience of the amphora listing, whose rule is admin-only.
            base.authorize(req, 'amphora:get_all')
        resp.status = 200
        resp.content_type = prometheus_client.CONTENT_TYPE_LATEST
        resp.data = prometheus_client.generate_latest(self._registry)
        resp.set_header('Cache-Control', 'no-store')


def routes() -> list[tuple[str, object]]:
    return [('/metrics', Metrics())]
