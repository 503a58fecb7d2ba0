"""/v2/lbaas/loadbalancers: CRUD, status tree, stats, failover."""
from typing import Any

import falcon
from sqlalchemy import Connection, Row, select
from sqlalchemy.orm import Session

from lbaas.api import base, lb_rows, query
from lbaas.db import models
from lbaas.db import session as db
from lbaas.schemas import fields, views
from lbaas.schemas.common import parse_bool
from lbaas.schemas.loadbalancer import LoadBalancerCreate, LoadBalancerUpdate
from lbaas.service import lifecycle, loadbalancers, status_tree

LB = models.LoadBalancer
COLUMNS = base.columns(LB, fields.LOADBALANCER)
COLUMNS.update({name: getattr(models.Vip, attr) for name, attr in fields.VIP.items()})
# Reads (show, list, status tree, stats) are plain rows: see lb_rows.
SPEC = base.Spec(LB, COLUMNS, views.loadbalancer, 'loadbalancers', 'loadbalancer',
                 plain=lb_rows.shown)


def _get(session: Session, req: falcon.Request, lb_id: str,
         action: str) -> models.LoadBalancer:
    lb = lifecycle.get_lb(session, lb_id)
    base.authorize(req, 'loadbalancer:%s' % action, lb.project_id)
    return lb


def _row(source: Session | Connection, req: falcon.Request, lb_id: str,
         action: str) -> Row[Any]:
    """The LB's plain row (lb_rows.COLUMNS), once the caller may `action` it."""
    row = lb_rows.lb_row(source, lb_id)
    base.authorize(req, 'loadbalancer:%s' % action, row.project_id)
    return row


class Collection:
    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        with db.reading() as session:
            stmt = (select(*lb_rows.COLUMNS)
                    .outerjoin(models.Vip, models.Vip.load_balancer_id == LB.id)
                    .where(LB.provisioning_status != 'DELETED'))
            base.scoped_list(req, resp, SPEC, stmt, session)

    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        data = base.validate(LoadBalancerCreate, base.read_body(req, 'loadbalancer'))
        values = data.model_dump()
        ctx = base.context(req)
        project_id = values.get('project_id') or ctx.project_id
        base.authorize(req, 'loadbalancer:post', project_id)
        if values.get('vip_sg_ids'):
            base.authorize(req, 'loadbalancer:post:vip_sg_ids', project_id)
        values['project_id'] = project_id
        with base.write() as session:
            lb = loadbalancers.create(session, ctx, values)
            body = views.full_graph(lb)
        base.respond(resp, 201, {'loadbalancer': body})


class Item:
    def on_get(self, req: falcon.Request, resp: falcon.Response, lb_id: str) -> None:
        with db.reading_rows() as conn:
            row = _row(conn, req, lb_id, 'get_one')
            body = views.loadbalancer(lb_rows.shown(conn, [row])[0])
        base.respond(resp, 200, {'loadbalancer': query.select_fields(
            body, query.requested_fields(req))})

    def on_put(self, req: falcon.Request, resp: falcon.Response, lb_id: str) -> None:
        data = base.validate(LoadBalancerUpdate, base.read_body(req, 'loadbalancer'))
        changes = data.model_dump(exclude_unset=True)
        with base.write() as session:
            lb = _get(session, req, lb_id, 'put')
            if 'vip_sg_ids' in changes:
                base.authorize(req, 'loadbalancer:put:vip_sg_ids', lb.project_id)
            lb = loadbalancers.update(session, lb_id, changes)
            session.flush()  # updated_at as it will be committed
            body = views.loadbalancer(lb)
        base.respond(resp, 200, {'loadbalancer': body})

    def on_delete(self, req: falcon.Request, resp: falcon.Response, lb_id: str) -> None:
        cascade = parse_bool(req.params.get('cascade', 'false'))
        with base.write() as session:
            _get(session, req, lb_id, 'delete')
            loadbalancers.delete(session, lb_id, cascade)
        base.respond(resp, 204)


class Status:
    def on_get(self, req: falcon.Request, resp: falcon.Response, lb_id: str) -> None:
        with db.reading_rows() as conn:
            body = status_tree.status_tree(conn, _row(conn, req, lb_id, 'get_status'))
        base.respond(resp, 200, body)


class Stats:
    def on_get(self, req: falcon.Request, resp: falcon.Response, lb_id: str) -> None:
        with db.reading() as session:
            row = _row(session, req, lb_id, 'get_stats')
            body = loadbalancers.sum_stats(session, lb_rows.listener_ids(session, row.id))
        base.respond(resp, 200, body)


class Failover:
    def on_put(self, req: falcon.Request, resp: falcon.Response, lb_id: str) -> None:
        with base.write() as session:
            _get(session, req, lb_id, 'put_failover')
            loadbalancers.failover(session, lb_id)
        base.respond(resp, 202)


def routes() -> list[tuple[str, object]]:
    return [('/loadbalancers', Collection()), ('/loadbalancers/{lb_id}', Item()),
            ('/loadbalancers/{lb_id}/status', Status()),
            ('/loadbalancers/{lb_id}/statuses', Status()),
            ('/loadbalancers/{lb_id}/stats', Stats()),
            ('/loadbalancers/{lb_id}/failover', Failover())]
