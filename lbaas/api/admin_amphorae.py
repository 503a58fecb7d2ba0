"""/v2/octavia/amphorae: the service VMs, for admins only.

Read-only views plus four actions: failover (rebuild through the LB's
reconcile), config (push the agent configuration), stats, and delete of an
amphora in ERROR.
"""
import datetime
from typing import Any

import falcon
from sqlalchemy import select
from sqlalchemy.orm import Session

from lbaas.api import base, errors, query
from lbaas.db import models, work
from lbaas.db import session as db
from lbaas.schemas import fields
from lbaas.service import loadbalancers

A = models.Amphora
LB = models.LoadBalancer
DELETED, ERROR, PENDING_DELETE = 'DELETED', 'ERROR', 'PENDING_DELETE'
STAT_FIELDS = ('active_connections', 'bytes_in', 'bytes_out', 'request_errors',
               'total_connections')


def _timestamp(value: datetime.datetime | None) -> str | None:
    return value.isoformat() if value else None


def amphora_view(amphora: models.Amphora) -> dict[str, Any]:
    body = dict(zip(fields.AMPHORA.body, fields.AMPHORA.values(amphora), strict=False))
    for name in ('cert_expiration', 'created_at', 'updated_at'):
        body[name] = _timestamp(getattr(amphora, name))
    return body


# Amphorae belong to no project; Octavia filters on their LB's.
COLUMNS = dict(base.columns(A, fields.AMPHORA), project_id=LB.project_id)
SPEC = base.Spec(A, COLUMNS, amphora_view, 'amphorae', 'amphora')


def _get(session: Session, amphora_id: str, lock: bool = False) -> models.Amphora:
    stmt = select(A).where(A.id == amphora_id, A.status != DELETED)
    if lock:
        stmt = stmt.with_for_update()
    amphora = session.scalars(stmt).first()
    if amphora is None:
        raise errors.NotFound('Amphora', amphora_id)
    return amphora


class Collection:
    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        base.authorize(req, 'amphora:get_all')
        listing = query.parse(req, SPEC.columns)
        stmt = (select(A).join(LB, A.load_balancer_id == LB.id, isouter=True)
                .where(A.status != DELETED))
        with db.reading() as session:
            rows = query.select_page(session, stmt, A, SPEC.columns, listing)
            items = [query.select_fields(amphora_view(r), listing.fields) for r in rows]
        base.respond(resp, 200, {'amphorae': items,
                                 'amphorae_links': query.links(req, listing, rows)})


class Item:
    def on_get(self, req: falcon.Request, resp: falcon.Response, amphora_id: str) -> None:
        base.authorize(req, 'amphora:get_one')
        with db.reading() as session:
            body = amphora_view(_get(session, amphora_id))
        base.respond(resp, 200, {'amphora': body})

    def on_delete(self, req: falcon.Request, resp: falcon.Response, amphora_id: str) -> None:
        base.authorize(req, 'amphora:delete')
        with base.write() as session:
            amphora = _get(session, amphora_id, lock=True)
            if amphora.status != ERROR:
                raise errors.Immutable('amphora', amphora_id)
            # As Octavia: PENDING_DELETE now, the worker tears it down.
            amphora.status = PENDING_DELETE
            if amphora.load_balancer_id:
                work.notify_after_commit(session, amphora.load_balancer_id)
        base.respond(resp, 204)


class Failover:
    def on_put(self, req: falcon.Request, resp: falcon.Response, amphora_id: str) -> None:
        base.authorize(req, 'amphora:put_failover')
        with base.write() as session:
            loadbalancers.failover_amphora(session, amphora_id)
        base.respond(resp, 202)


class Config:
    def on_put(self, req: falcon.Request, resp: falcon.Response, amphora_id: str) -> None:
        base.authorize(req, 'amphora:put_config')
        with db.reading() as session:
            _get(session, amphora_id)
        # Nothing to mark: the worker renders the agent configuration and
        # pushes it on every reconcile, so the request only has to be valid.
        base.respond(resp, 202)


class Stats:
    def on_get(self, req: falcon.Request, resp: falcon.Response, amphora_id: str) -> None:
        base.authorize(req, 'amphora:get_stats')
        stmt = (select(models.ListenerStatistics, A.load_balancer_id)
                .join(A, A.id == models.ListenerStatistics.amphora_id)
                .where(models.ListenerStatistics.amphora_id == amphora_id)
                .order_by(models.ListenerStatistics.listener_id))
        with db.reading() as session:
            rows = session.execute(stmt).all()
        if not rows:
            raise errors.NotFound('Amphora stats for', amphora_id)
        stats = [{'id': amphora_id, 'listener_id': row.listener_id,
                  'loadbalancer_id': lb_id,
                  **{name: getattr(row, name) or 0 for name in STAT_FIELDS}}
                 for row, lb_id in rows]
        base.respond(resp, 200, {'amphora_stats': stats})


def routes() -> list[tuple[str, object]]:
    return [('/amphorae', Collection()), ('/amphorae/{amphora_id}', Item()),
            ('/amphorae/{amphora_id}/failover', Failover()),
            ('/amphorae/{amphora_id}/config', Config()),
            ('/amphorae/{amphora_id}/stats', Stats())]
