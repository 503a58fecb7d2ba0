"""Listeners, pools, members, health monitors, L7 policies and rules."""
from typing import Any

import falcon
from sqlalchemy.orm import Session, selectinload

from lbaas.api import base, crud
from lbaas.db import models as m
from lbaas.db import session as db
from lbaas.schemas import fields, views
from lbaas.schemas import healthmonitor as hm_schema
from lbaas.schemas import l7policy as policy_schema
from lbaas.schemas import l7rule as rule_schema
from lbaas.schemas import listener as listener_schema
from lbaas.schemas import member as member_schema
from lbaas.schemas import pool as pool_schema
from lbaas.schemas.common import parse_bool
from lbaas.service import healthmonitors, l7, lifecycle, listeners, loadbalancers, members, pools


def _ids_of(relationship: Any) -> Any:
    """A list names these children by id only: one query for the whole page
    loads just their ids, none of their own columns or relationships (tags)."""
    return selectinload(relationship).load_only(relationship.property.mapper.class_.id) \
        .lazyload('*')


def _lb_project(session: Session, values: dict[str, Any]) -> str | None:
    return lifecycle.get_lb(session, values['loadbalancer_id']).project_id


def _pool_create_project(session: Session, values: dict[str, Any]) -> str | None:
    if values.get('listener_id'):
        return listeners.get(session, values['listener_id']).project_id
    return _lb_project(session, values)


LISTENER = crud.Kind(
    key='listener',
    spec=base.Spec(m.Listener, base.columns(m.Listener, fields.LISTENER),
                   views.listener, 'listeners', 'listener'),
    create_schema=listener_schema.ListenerCreate,
    update_schema=listener_schema.ListenerUpdate,
    null_defaults=listener_schema.UPDATE_NULL_DEFAULTS,
    get=listeners.get, create=listeners.create, update=listeners.update,
    delete=listeners.delete,
    list_stmt=lambda: base.not_deleted(m.Listener).options(_ids_of(m.Listener.l7policies)),
    create_project=_lb_project)

POOL = crud.Kind(
    key='pool',
    spec=base.Spec(m.Pool, base.columns(m.Pool, fields.POOL),
                   views.pool, 'pools', 'pool'),
    create_schema=pool_schema.PoolCreate, update_schema=pool_schema.PoolUpdate,
    null_defaults=pool_schema.UPDATE_NULL_DEFAULTS,
    get=pools.get_pool, create=pools.create_pool, update=pools.update_pool,
    delete=pools.delete_pool,
    list_stmt=lambda: base.not_deleted(m.Pool).options(
        _ids_of(m.Pool.members), _ids_of(m.Pool.health_monitor),
        _ids_of(m.Pool.default_listeners)),
    create_project=_pool_create_project)

MEMBER = crud.Kind(
    key='member',
    spec=base.Spec(m.Member, base.columns(m.Member, fields.MEMBER),
                   views.member, 'members', 'member'),
    create_schema=member_schema.MemberCreate, update_schema=member_schema.MemberUpdate,
    null_defaults=member_schema.UPDATE_NULL_DEFAULTS,
    get=members.get_member, create=members.create_member, update=members.update_member,
    delete=members.delete_member,
    list_stmt=lambda pool_id: base.not_deleted(m.Member).where(m.Member.pool_id == pool_id),
    parent_project=lambda session, pool_id: pools.get_pool(session, pool_id).project_id)

HEALTHMONITOR = crud.Kind(
    key='healthmonitor',
    spec=base.Spec(m.HealthMonitor, base.columns(m.HealthMonitor, fields.HEALTHMONITOR),
                   views.healthmonitor, 'healthmonitors', 'healthmonitor'),
    create_schema=hm_schema.HealthMonitorCreate,
    update_schema=hm_schema.HealthMonitorUpdate,
    null_defaults=hm_schema.UPDATE_NULL_DEFAULTS,
    get=healthmonitors.get_healthmonitor, create=healthmonitors.create_healthmonitor,
    update=healthmonitors.update_healthmonitor, delete=healthmonitors.delete_healthmonitor,
    list_stmt=lambda: base.not_deleted(m.HealthMonitor),
    create_project=lambda session, v: pools.get_pool(session, v['pool_id']).project_id)

L7POLICY = crud.Kind(
    key='l7policy',
    spec=base.Spec(m.L7Policy, base.columns(m.L7Policy, fields.L7POLICY),
                   views.l7policy, 'l7policies', 'l7policy'),
    create_schema=policy_schema.L7PolicyCreate,
    update_schema=policy_schema.L7PolicyUpdate,
    null_defaults=policy_schema.UPDATE_NULL_DEFAULTS,
    get=l7.get_policy, create=l7.create_policy, update=l7.update_policy,
    delete=l7.delete_policy,
    list_stmt=lambda: base.not_deleted(m.L7Policy).options(_ids_of(m.L7Policy.rules)),
    create_project=lambda session, v: listeners.get(session, v['listener_id']).project_id)

L7RULE = crud.Kind(
    key='rule',
    spec=base.Spec(m.L7Rule, base.columns(m.L7Rule, fields.L7RULE),
                   views.l7rule, 'rules', 'l7rule'),
    create_schema=rule_schema.L7RuleCreate, update_schema=rule_schema.L7RuleUpdate,
    null_defaults=rule_schema.UPDATE_NULL_DEFAULTS,
    get=l7.get_rule, create=l7.create_rule, update=l7.update_rule, delete=l7.delete_rule,
    list_stmt=lambda policy_id: base.not_deleted(m.L7Rule).where(m.L7Rule.l7policy_id == policy_id),
    parent_project=lambda session, pid: l7.get_policy(session, pid).project_id)


class MemberBatch(crud.ChildCollection):
    """PUT /pools/{pool_id}/members: replace the pool's members in one call."""

    def on_put(self, req: falcon.Request, resp: falcon.Response, obj_id: str) -> None:
        parent = obj_id
        body = base.read_body(req)
        data = base.validate(member_schema.MemberBatch, body if isinstance(body, dict) else {})
        wanted = [item.model_dump() for item in data.members]
        additive = parse_bool(req.params.get('additive_only', 'false'))
        with base.write() as session:
            project = pools.get_pool(session, parent).project_id
            for action in ('post', 'put') + (() if additive else ('delete',)):
                base.authorize(req, 'member:%s' % action, project)
            members.batch_update_members(session, parent, wanted, additive)
        base.respond(resp, 202)


class ListenerStats:
    def on_get(self, req: falcon.Request, resp: falcon.Response, obj_id: str) -> None:
        with db.reading() as session:
            listener = listeners.get(session, obj_id)
            base.authorize(req, 'listener:get_stats', listener.project_id)
            body = loadbalancers.sum_stats(session, [listener.id])
        base.respond(resp, 200, body)


def routes() -> list[tuple[str, object]]:
    result: list[tuple[str, object]] = []
    for kind, path in ((LISTENER, '/listeners'), (POOL, '/pools'),
                       (HEALTHMONITOR, '/healthmonitors'), (L7POLICY, '/l7policies')):
        result += [(path, crud.Collection(kind)), (path + '/{obj_id}', crud.Item(kind))]
    result += [('/listeners/{obj_id}/stats', ListenerStats()),
               ('/pools/{obj_id}/members', MemberBatch(MEMBER)),
               ('/pools/{obj_id}/members/{child_id}', crud.ChildItem(MEMBER)),
               ('/l7policies/{obj_id}/rules', crud.ChildCollection(L7RULE)),
               ('/l7policies/{obj_id}/rules/{child_id}', crud.ChildItem(L7RULE))]
    return result
