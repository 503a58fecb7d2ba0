"""Pool, member and health monitor writes."""
from collections.abc import Mapping
from typing import Any

from sqlalchemy.orm import Session

from lbaas import config, errors
from lbaas.db import models
from lbaas.schemas import fields, rules
from lbaas.service import lifecycle, providers, quotas, tls


def assign(obj: models.Taggable, values: Mapping[str, Any], own: fields.Fields) -> None:
    """Write the request's values the resource lets a request write onto `obj`."""
    for name, value in values.items():
        if name == 'tags':
            obj.tags = value
        elif name in own.written:
            setattr(obj, own.attr(name), value)


def refuse_inline_children(values: Mapping[str, Any], *fields: str) -> None:
    """Octavia builds inline children only in a single-call LB create (its
    single-object POSTs accept them in the body, then fail storing them with a
    500): refuse them plainly rather than ignore them."""
    given = [name for name in fields if values.get(name)]
    if given:
        raise errors.ValidationFailure('%s can only be given inline when creating a fully '
                                       'populated load balancer.' % ', '.join(given))


def _pool_tls_defaults(pool: models.Pool) -> None:
    if not pool.tls_enabled:
        return
    settings = config.CONF.api_settings
    pool.tls_ciphers = pool.tls_ciphers or (settings.default_pool_ciphers
                                            or settings.default_listener_ciphers)
    pool.tls_versions = pool.tls_versions or list(settings.default_pool_tls_versions)
    pool.alpn_protocols = pool.alpn_protocols or list(settings.default_pool_alpn_protocols)


def check_pool(lb: models.LoadBalancer, pool: models.Pool) -> None:
    providers.check_algorithm(lb.provider, pool.lb_algorithm)
    sp = pool.session_persistence or {}
    if sp:
        rules.check_session_persistence(sp.get('type'), sp.get('cookie_name'))
    rules.check_session_persistence_for_protocol(
        pool.protocol, sp.get('type'), sp.get('persistence_timeout'),
        sp.get('persistence_granularity'))
    for listener in pool.default_listeners:
        rules.check_listener_pool_protocol(listener.protocol, pool.protocol)
    rules.check_pool_tls_refs(pool.ca_tls_certificate_id, pool.crl_container_id)


def build_pool(lb: models.LoadBalancer, values: dict[str, Any],
               listener: models.Listener | None = None) -> models.Pool:
    pool = models.Pool(project_id=lb.project_id,
                       **lifecycle.new_status_fields(values.get('admin_state_up', True)))
    lb.pools.append(pool)  # through the parent, so the session adopts it
    assign(pool, values, fields.POOL)
    _pool_tls_defaults(pool)
    if listener is not None:
        if listener.default_pool_id or listener.default_pool is not None:
            raise errors.Conflict('Listener %s already has a default pool' % listener.id)
        listener.default_pool = pool
    check_pool(lb, pool)
    tls.check_pool(pool, values)
    return pool


def create_pool(session: Session, values: dict[str, Any]) -> models.Pool:
    listener = None
    if values.get('listener_id'):
        listener = session.get(models.Listener, values['listener_id'])
        if listener is None or listener.provisioning_status == lifecycle.DELETED:
            raise errors.NotFound('Listener', values['listener_id'])
        lb_id = values.get('loadbalancer_id') or listener.load_balancer_id
        if lb_id != listener.load_balancer_id:
            raise errors.ValidationFailure('Listener and Load Balancer do not match.')
    else:
        lb_id = values['loadbalancer_id']
    lb = lifecycle.lock_mutable_lb(session, lb_id)
    if listener is not None:
        listener = session.get(models.Listener, listener.id)  # as it is under the lock
    quotas.check(session, lb.project_id, pool=1)
    refuse_inline_children(values, 'healthmonitor', 'members')
    pool = build_pool(lb, values, listener)
    providers.check_protocol(lb.provider, pool.protocol)
    session.flush()
    lifecycle.mark(lifecycle.PENDING_UPDATE, listener)
    lifecycle.touch_lb(session, lb, [pool])
    return pool


def get_pool(session: Session, pool_id: str) -> models.Pool:
    pool = session.get(models.Pool, pool_id)
    if pool is None or pool.provisioning_status == lifecycle.DELETED:
        raise errors.NotFound('Pool', pool_id)
    return pool


def _lock_pool(session: Session, pool_id: str) -> tuple[models.LoadBalancer, models.Pool]:
    """The pool's LB locked, then the pool read again under that lock."""
    lb = lifecycle.lock_mutable_lb(session, get_pool(session, pool_id).load_balancer_id)
    return lb, get_pool(session, pool_id)


def update_pool(session: Session, pool_id: str, changes: dict[str, Any]) -> models.Pool:
    lb, pool = _lock_pool(session, pool_id)
    sp = changes.get('session_persistence')
    if sp and not sp.get('type') and pool.session_persistence:
        sp['type'] = pool.session_persistence.get('type')  # PUT inherits the type
    for name in ('tls_ciphers', 'tls_versions', 'alpn_protocols'):
        if name in changes and changes[name] is None:
            setattr(pool, name, None)
    assign(pool, changes, fields.POOL)
    _pool_tls_defaults(pool)
    check_pool(lb, pool)
    tls.check_pool(pool, changes)
    pool.provisioning_status = lifecycle.PENDING_UPDATE
    lifecycle.mark(lifecycle.PENDING_UPDATE, *pool.default_listeners)
    lifecycle.touch_lb(session, lb, [pool])
    return pool


def delete_pool(session: Session, pool_id: str) -> None:
    lb, pool = _lock_pool(session, pool_id)
    for policy in pool.l7policies:
        if policy.provisioning_status != lifecycle.PENDING_DELETE:
            raise errors.Conflict('Pool %s is in use by L7 policy %s' % (pool.id, policy.id))
    lifecycle.mark(lifecycle.PENDING_DELETE, pool, pool.health_monitor, *pool.members)
    lifecycle.mark(lifecycle.PENDING_UPDATE, *pool.default_listeners)
    lifecycle.touch_lb(session, lb, [pool])


def lock_pool_parent(session: Session,
                     pool_id: str) -> tuple[models.LoadBalancer, models.Pool]:
    """For member and HM writes: the pool required ACTIVE (checked first, as
    Octavia does), and the LB locked."""
    lifecycle.require_active(get_pool(session, pool_id), 'Pool')
    lb, pool = _lock_pool(session, pool_id)
    lifecycle.require_active(pool, 'Pool')
    return lb, pool


def pool_pending(pool: models.Pool) -> None:
    lifecycle.mark(lifecycle.PENDING_UPDATE, pool, *pool.default_listeners)
