"""Single-call create: a load balancer with its whole tree in one POST.

Pools may be defined inline (a listener's `default_pool`, a policy's
`redirect_pool`) or at the top level, and referred to elsewhere by name
alone; every definition is built once and references resolve by name.
"""
from collections.abc import Iterator
from typing import Any

from sqlalchemy.orm import Session

from lbaas import errors
from lbaas.db import models
from lbaas.service import healthmonitors, l7, listeners, members, pools, providers


def _is_definition(pool: dict[str, Any] | None) -> bool:
    return pool is not None and pool.get('protocol') is not None


def _pool_dicts(data: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """Every pool dict in the body, definitions and references alike."""
    yield from data.get('pools') or []
    for listener in data.get('listeners') or []:
        if listener.get('default_pool'):
            yield listener['default_pool']
        for policy in listener.get('l7policies') or []:
            if policy.get('redirect_pool'):
                yield policy['redirect_pool']


def _definitions(data: dict[str, Any]) -> dict[str, dict[str, Any]]:
    found: dict[str, dict[str, Any]] = {}
    for pool in _pool_dicts(data):
        if not pool.get('name'):
            raise errors.ValidationFailure('Pools in a single-call create must have a name.')
        if _is_definition(pool):
            if pool['name'] in found and found[pool['name']] is not pool:
                raise errors.ValidationFailure("Pool name '%s' is defined more than once."
                                               % pool['name'])
            found[pool['name']] = pool
    return found


def count_objects(data: dict[str, Any]) -> dict[str, int]:
    """Objects of each quota resource the body creates (besides the LB)."""
    definitions = _definitions(data).values()
    listener_list = data.get('listeners') or []
    policies = [p for li in listener_list for p in li.get('l7policies') or []]
    return {
        'listener': len(listener_list),
        'pool': len(definitions),
        'member': sum(len(p.get('members') or []) for p in definitions),
        'healthmonitor': sum(1 for p in definitions if p.get('healthmonitor')),
        'l7policy': len(policies),
        'l7rule': sum(len(p.get('rules') or []) for p in policies),
    }


def _resolve(built: dict[str, models.Pool],
             pool: dict[str, Any] | None) -> models.Pool | None:
    if pool is None:
        return None
    if pool['name'] not in built:
        raise errors.ValidationFailure("Pool '%s' was referenced but no full definition "
                                       'was found.' % pool['name'])
    return built[pool['name']]


def build_children(session: Session, lb: models.LoadBalancer, data: dict[str, Any]) -> None:
    built: dict[str, models.Pool] = {}
    for name, values in _definitions(data).items():
        pool = pools.build_pool(lb, values)
        built[name] = pool
        if values.get('healthmonitor'):  # first: members of a monitored pool start OFFLINE
            healthmonitors.build_healthmonitor(pool, values['healthmonitor'])
        for member in values.get('members') or []:
            members.build_member(pool, member)
    session.flush()  # pools get their ids before listeners and policies refer to them
    for values in data.get('listeners') or []:
        fields = {k: v for k, v in values.items()
                  if k not in ('default_pool', 'default_pool_id', 'l7policies')}
        listener = listeners.build(session, lb, fields)
        listener.default_pool = _resolve(built, values.get('default_pool'))
        if listener.default_pool is not None:
            pools.check_pool(lb, listener.default_pool)
        listeners.check(lb, listener)
        for policy in values.get('l7policies') or []:
            target = _resolve(built, policy.get('redirect_pool'))
            l7.build_policy(session, lb, listener,
                            {k: v for k, v in policy.items() if k != 'redirect_pool'},
                            redirect_pool=target)
    providers.check_graph_protocols(lb)
    session.flush()
