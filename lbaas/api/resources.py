"""Listeners, pools, members, health monitors, L7 policies and rules."""
from typing import Any

import falcon
from sqlalchemy.orm import Session, selectinload

from lbaas.api import base, crud
from lbaas.db import models as m
from lbaas.db import session as db
from lbaas.schemas import healthmonitor as hm_schema
from lbaas.schemas import l7policy as policy_schema
from lbaas.schemas import l7rule as rule_schema
from lbaas.schemas import listener as listener_schema
from lbaas.schemas import member as member_schema
from lbaas.schemas import pool as pool_schema
from lbaas.schemas import views
from lbaas.schemas.common import parse_bool
from lbaas.service import healthmonitors, l7, lifecycle, listeners, loadbalancers, members, pools


def _lb_project(session: Session, values: dict[str, Any]) -> str | None:
    return lifecycle.get_lb(session, values['loadbalancer_id']).project_id


def _pool_create_project(session: Session, values: dict[str, Any]) -> str | None:
    if values.get('listener_id'):
        return listeners.get(session, values['listener_id']).project_id
    return _lb_project(session, values)


LISTENER = crud.Kind(
    key='listener',
    spec=base.Spec(m.Listener, dict(
        base.common_columns(m.Listener), name=m.Listener.name,
        description=m.Listener.description, protocol=m.Listener.protocol,
        protocol_port=m.Listener.protocol_port,
        connection_limit=m.Listener.connection_limit,
        default_pool_id=m.Listener.default_pool_id,
        loadbalancer_id=m.Listener.load_balancer_id,
        load_balancer_id=m.Listener.load_balancer_id,  # openstacksdk sends this
        timeout_client_data=m.Listener.timeout_client_data,
        timeout_member_connect=m.Listener.timeout_member_connect,
        timeout_member_data=m.Listener.timeout_member_data,
        timeout_tcp_inspect=m.Listener.timeout_tcp_inspect,
        client_authentication=m.Listener.client_authentication,
        default_tls_container_ref=m.Listener.default_tls_container_id,
        hsts_max_age=m.Listener.hsts_max_age, tls_ciphers=m.Listener.tls_ciphers),
        views.listener, 'listeners', 'listener'),
    create_schema=listener_schema.ListenerCreate,
    update_schema=listener_schema.ListenerUpdate,
    null_defaults=listener_schema.UPDATE_NULL_DEFAULTS,
    get=listeners.get, create=listeners.create, update=listeners.update,
    delete=listeners.delete,
    list_stmt=lambda: base.not_deleted(m.Listener).options(selectinload(m.Listener.l7policies)),
    create_project=_lb_project)

POOL = crud.Kind(
    key='pool',
    spec=base.Spec(m.Pool, dict(
        base.common_columns(m.Pool), name=m.Pool.name, description=m.Pool.description,
        protocol=m.Pool.protocol, lb_algorithm=m.Pool.lb_algorithm,
        loadbalancer_id=m.Pool.load_balancer_id, load_balancer_id=m.Pool.load_balancer_id,
        tls_enabled=m.Pool.tls_enabled,
        tls_container_ref=m.Pool.tls_certificate_id,
        ca_tls_container_ref=m.Pool.ca_tls_certificate_id,
        crl_container_ref=m.Pool.crl_container_id, tls_ciphers=m.Pool.tls_ciphers),
        views.pool, 'pools', 'pool'),
    create_schema=pool_schema.PoolCreate, update_schema=pool_schema.PoolUpdate,
    null_defaults=pool_schema.UPDATE_NULL_DEFAULTS,
    get=pools.get_pool, create=pools.create_pool, update=pools.update_pool,
    delete=pools.delete_pool,
    list_stmt=lambda: base.not_deleted(m.Pool).options(
        selectinload(m.Pool.members), selectinload(m.Pool.health_monitor),
        selectinload(m.Pool.default_listeners)),
    create_project=_pool_create_project)

MEMBER = crud.Kind(
    key='member',
    spec=base.Spec(m.Member, dict(
        base.common_columns(m.Member), name=m.Member.name, address=m.Member.ip_address,
        protocol_port=m.Member.protocol_port, weight=m.Member.weight,
        backup=m.Member.backup, subnet_id=m.Member.subnet_id,
        monitor_address=m.Member.monitor_address, monitor_port=m.Member.monitor_port,
        vnic_type=m.Member.vnic_type, pool_id=m.Member.pool_id),
        views.member, 'members', 'member'),
    create_schema=member_schema.MemberCreate, update_schema=member_schema.MemberUpdate,
    null_defaults=member_schema.UPDATE_NULL_DEFAULTS,
    get=members.get_member, create=members.create_member, update=members.update_member,
    delete=members.delete_member,
    list_stmt=lambda pool_id: base.not_deleted(m.Member).where(m.Member.pool_id == pool_id),
    parent_project=lambda session, pool_id: pools.get_pool(session, pool_id).project_id)

HEALTHMONITOR = crud.Kind(
    key='healthmonitor',
    spec=base.Spec(m.HealthMonitor, dict(
        base.common_columns(m.HealthMonitor), name=m.HealthMonitor.name,
        type=m.HealthMonitor.type, delay=m.HealthMonitor.delay,
        timeout=m.HealthMonitor.timeout, max_retries=m.HealthMonitor.rise_threshold,
        max_retries_down=m.HealthMonitor.fall_threshold,
        http_method=m.HealthMonitor.http_method, url_path=m.HealthMonitor.url_path,
        expected_codes=m.HealthMonitor.expected_codes,
        http_version=m.HealthMonitor.http_version,
        domain_name=m.HealthMonitor.domain_name, pool_id=m.HealthMonitor.pool_id),
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
    spec=base.Spec(m.L7Policy, dict(
        base.common_columns(m.L7Policy), name=m.L7Policy.name,
        description=m.L7Policy.description, action=m.L7Policy.action,
        listener_id=m.L7Policy.listener_id, redirect_pool_id=m.L7Policy.redirect_pool_id,
        redirect_url=m.L7Policy.redirect_url, redirect_prefix=m.L7Policy.redirect_prefix,
        redirect_http_code=m.L7Policy.redirect_http_code, position=m.L7Policy.position),
        views.l7policy, 'l7policies', 'l7policy'),
    create_schema=policy_schema.L7PolicyCreate,
    update_schema=policy_schema.L7PolicyUpdate,
    null_defaults=policy_schema.UPDATE_NULL_DEFAULTS,
    get=l7.get_policy, create=l7.create_policy, update=l7.update_policy,
    delete=l7.delete_policy,
    list_stmt=lambda: base.not_deleted(m.L7Policy).options(selectinload(m.L7Policy.rules)),
    create_project=lambda session, v: listeners.get(session, v['listener_id']).project_id)

L7RULE = crud.Kind(
    key='rule',
    spec=base.Spec(m.L7Rule, dict(
        base.common_columns(m.L7Rule), type=m.L7Rule.type,
        compare_type=m.L7Rule.compare_type, key=m.L7Rule.key, value=m.L7Rule.value,
        invert=m.L7Rule.invert, l7policy_id=m.L7Rule.l7policy_id), views.l7rule, 'rules', 'l7rule'),
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
