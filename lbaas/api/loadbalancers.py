"""/v2/lbaas/loadbalancers: CRUD, status tree, stats, failover."""
from collections.abc import Sequence

import falcon
from sqlalchemy.orm import Session, joinedload, selectinload
from sqlalchemy.sql.base import ExecutableOption

from lbaas.api import base, query
from lbaas.db import models
from lbaas.db import session as db
from lbaas.schemas import fields, views
from lbaas.schemas.common import parse_bool
from lbaas.schemas.loadbalancer import LoadBalancerCreate, LoadBalancerUpdate
from lbaas.service import lifecycle, loadbalancers, status_tree

LB = models.LoadBalancer
COLUMNS = base.columns(LB, fields.LOADBALANCER)
COLUMNS.update({name: getattr(models.Vip, attr) for name, attr in fields.VIP.items()})
SPEC = base.Spec(LB, COLUMNS, views.loadbalancer, 'loadbalancers', 'loadbalancer')
# A list or show names its listeners and pools by id only: load just the
# ids, in one query for all rows, and none of their own relationships.
LOAD = (selectinload(LB.listeners).load_only(models.Listener.id).lazyload('*'),
        selectinload(LB.pools).load_only(models.Pool.id).lazyload('*'))
# One LB: its small collections joined into the row's own query as well.
SHOW = LOAD + (joinedload(LB.tag_rows), joinedload(LB.additional_vips),
               joinedload(LB.vip_security_groups))


def _get(session: Session, req: falcon.Request, lb_id: str, action: str = 'get_one',
         options: Sequence[ExecutableOption] = ()) -> models.LoadBalancer:
    lb = lifecycle.get_lb(session, lb_id, options=options)
    base.authorize(req, 'loadbalancer:%s' % action, lb.project_id)
    return lb


class Collection:
    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        with db.reading() as session:
            stmt = base.not_deleted(LB).join(models.Vip, isouter=True).options(*LOAD)
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
        with db.reading() as session:
            body = views.loadbalancer(_get(session, req, lb_id, options=SHOW))
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
        with db.reading() as session:
            body = status_tree.status_tree(session, _get(session, req, lb_id, 'get_status'))
        base.respond(resp, 200, body)


class Stats:
    def on_get(self, req: falcon.Request, resp: falcon.Response, lb_id: str) -> None:
        with db.reading() as session:
            lb = _get(session, req, lb_id, 'get_stats')
            body = loadbalancers.stats(session, lb)
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
