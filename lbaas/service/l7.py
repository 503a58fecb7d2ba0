"""L7 policy and rule writes; policy positions form a list counted from 1."""
from typing import Any

from sqlalchemy.orm import Session

from lbaas import errors
from lbaas.db import models
from lbaas.schemas import fields, rules
from lbaas.schemas.l7rule import check_l7rule_data
from lbaas.service import lifecycle, listeners, providers, quotas
from lbaas.service.pools import assign

MAX_RULES = 50


def _check_policy(lb: models.LoadBalancer, listener: models.Listener, policy: models.L7Policy,
                  redirect_pool: models.Pool | None) -> None:
    rules.check_l7policy_listener(listener.protocol)
    providers.check_l7_listener(lb.provider, listener.protocol)
    if policy.action == 'REDIRECT_TO_POOL':
        if redirect_pool is None:
            raise errors.ValidationFailure('A redirect_pool_id is required for '
                                           'REDIRECT_TO_POOL.')
        if redirect_pool.load_balancer_id != lb.id:
            raise errors.NotFound('Pool', redirect_pool.id)
        rules.check_listener_pool_protocol(listener.protocol, redirect_pool.protocol)


def _place(listener: models.Listener, policy: models.L7Policy, position: int | None) -> None:
    """Insert `policy` at `position` (1-based, clamped) and renumber the list."""
    others = [p for p in listener.l7policies if p is not policy]
    index = len(others) if position is None else max(0, min(position - 1, len(others)))
    ordered = others[:index] + [policy] + others[index:]
    for number, item in enumerate(ordered, start=1):
        item.position = number
    listener.l7policies = ordered


def _redirect_pool(session: Session, pool_id: str | None) -> models.Pool | None:
    if not pool_id:
        return None
    pool = session.get(models.Pool, pool_id)
    if pool is None or pool.provisioning_status == lifecycle.DELETED:
        raise errors.NotFound('Pool', pool_id)
    return pool


def build_policy(session: Session, lb: models.LoadBalancer, listener: models.Listener,
                 values: dict[str, Any],
                 redirect_pool: models.Pool | None = None) -> models.L7Policy:
    policy = models.L7Policy(project_id=listener.project_id,
                             **lifecycle.new_status_fields(values.get('admin_state_up', True)))
    assign(policy, values, fields.L7POLICY)
    if redirect_pool is None:
        redirect_pool = _redirect_pool(session, values.get('redirect_pool_id'))
    policy.redirect_pool = redirect_pool
    _check_policy(lb, listener, policy, redirect_pool)
    _place(listener, policy, values.get('position'))
    for rule_values in values.get('rules') or []:
        build_rule(policy, rule_values)
    return policy


def create_policy(session: Session, values: dict[str, Any]) -> models.L7Policy:
    lb, listener = listeners.lock(session, values['listener_id'])
    quotas.check(session, lb.project_id, l7policy=1, l7rule=len(values.get('rules') or []))
    policy = build_policy(session, lb, listener, values)
    session.flush()
    listener.provisioning_status = lifecycle.PENDING_UPDATE
    lifecycle.touch_lb(session, lb, [policy, *policy.rules])
    return policy


def get_policy(session: Session, policy_id: str) -> models.L7Policy:
    policy = session.get(models.L7Policy, policy_id)
    if policy is None or policy.provisioning_status == lifecycle.DELETED:
        raise errors.NotFound('L7 Policy', policy_id)
    return policy


def _lock_policy(session: Session,
                 policy_id: str) -> tuple[models.LoadBalancer, models.L7Policy]:
    """The policy's LB locked, then the policy read again under that lock."""
    lb = lifecycle.lock_mutable_lb(
        session, get_policy(session, policy_id).listener.load_balancer_id)
    return lb, get_policy(session, policy_id)


def update_policy(session: Session, policy_id: str,
                  changes: dict[str, Any]) -> models.L7Policy:
    lb, policy = _lock_policy(session, policy_id)
    listener = policy.listener
    assign(policy, changes, fields.L7POLICY)
    if 'redirect_pool_id' in changes:
        policy.redirect_pool = _redirect_pool(session, changes['redirect_pool_id'])
    _check_policy(lb, listener, policy, policy.redirect_pool)
    if 'position' in changes:
        _place(listener, policy, changes['position'])
    policy.provisioning_status = lifecycle.PENDING_UPDATE
    listener.provisioning_status = lifecycle.PENDING_UPDATE
    lifecycle.touch_lb(session, lb, [policy])
    return policy


def delete_policy(session: Session, policy_id: str) -> None:
    lb, policy = _lock_policy(session, policy_id)
    listener = policy.listener
    lifecycle.mark(lifecycle.PENDING_DELETE, policy, *policy.rules)
    listener.provisioning_status = lifecycle.PENDING_UPDATE
    lifecycle.touch_lb(session, lb, [policy])


def build_rule(policy: models.L7Policy, values: dict[str, Any]) -> models.L7Rule:
    live = [r for r in policy.rules if r.provisioning_status != lifecycle.PENDING_DELETE]
    if len(live) >= MAX_RULES:
        raise errors.Conflict('Too many rules on L7 policy %s' % policy.id)
    rule = models.L7Rule(project_id=policy.project_id,
                         **lifecycle.new_status_fields(values.get('admin_state_up', True)))
    assign(rule, values, fields.L7RULE)
    rule.invert = bool(rule.invert)
    policy.rules.append(rule)
    return rule


def _lock_policy_parent(session: Session,
                        policy_id: str) -> tuple[models.LoadBalancer, models.L7Policy]:
    lifecycle.require_active(get_policy(session, policy_id), 'L7Policy')  # first, as Octavia
    lb, policy = _lock_policy(session, policy_id)
    lifecycle.require_active(policy, 'L7Policy')
    return lb, policy


def _pending_parents(policy: models.L7Policy) -> None:
    lifecycle.mark(lifecycle.PENDING_UPDATE, policy, policy.listener)


def create_rule(session: Session, policy_id: str, values: dict[str, Any]) -> models.L7Rule:
    lb, policy = _lock_policy_parent(session, policy_id)
    quotas.check(session, lb.project_id, l7rule=1)
    rule = build_rule(policy, values)
    session.flush()
    _pending_parents(policy)
    lifecycle.touch_lb(session, lb, [rule])
    return rule


def get_rule(session: Session, policy_id: str, rule_id: str) -> models.L7Rule:
    rule = session.get(models.L7Rule, rule_id)
    if rule is None or rule.l7policy_id != policy_id or \
            rule.provisioning_status == lifecycle.DELETED:
        raise errors.NotFound('L7 Rule', rule_id)
    return rule


def update_rule(session: Session, policy_id: str, rule_id: str,
                changes: dict[str, Any]) -> models.L7Rule:
    lb, policy = _lock_policy_parent(session, policy_id)
    rule = get_rule(session, policy_id, rule_id)
    assign(rule, changes, fields.L7RULE)
    check_l7rule_data(rule.type, rule.compare_type, rule.key, rule.value)
    rule.provisioning_status = lifecycle.PENDING_UPDATE
    _pending_parents(policy)
    lifecycle.touch_lb(session, lb, [rule])
    return rule


def delete_rule(session: Session, policy_id: str, rule_id: str) -> None:
    lb, policy = _lock_policy_parent(session, policy_id)
    rule = get_rule(session, policy_id, rule_id)
    rule.provisioning_status = lifecycle.PENDING_DELETE
    _pending_parents(policy)
    lifecycle.touch_lb(session, lb, [rule])
