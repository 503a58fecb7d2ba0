"""Quotas: limits per project, usage counted from the rows themselves.

Octavia keeps `in_use_*` counters that drift when a flow dies half way; we
count the project's live rows under the project's quota-row lock instead,
so usage is right by construction. Octavia skips quotas under noauth; we do
too unless `[api_settings] enforce_quotas_noauth` is set.
"""
from typing import cast

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from lbaas import config, errors
from lbaas.db import models
from lbaas.db import session as db

# API resource name -> (quota column, model counted, config default option)
RESOURCES: dict[str, tuple[str, type[models.StatusMixin], str]] = {
    'loadbalancer': ('load_balancer', models.LoadBalancer, 'default_load_balancer_quota'),
    'listener': ('listener', models.Listener, 'default_listener_quota'),
    'pool': ('pool', models.Pool, 'default_pool_quota'),
    'healthmonitor': ('health_monitor', models.HealthMonitor, 'default_health_monitor_quota'),
    'member': ('member', models.Member, 'default_member_quota'),
    'l7policy': ('l7policy', models.L7Policy, 'default_l7policy_quota'),
    'l7rule': ('l7rule', models.L7Rule, 'default_l7rule_quota'),
}
# Octavia names the resource with data_models.X._name(): "Load Balancer", ...
QUOTA_ERROR_NAMES = {'loadbalancer': 'Load Balancer', 'listener': 'Listener',
                     'pool': 'Pool', 'healthmonitor': 'Health Monitor',
                     'member': 'Member', 'l7policy': 'L7 Policy', 'l7rule': 'L7 Rule'}


def enforced() -> bool:
    settings = config.CONF.api_settings
    on: bool = settings.auth_strategy != 'noauth' or settings.enforce_quotas_noauth
    return on


def default_limit(resource: str) -> int:
    limit: int = getattr(config.CONF.quotas, RESOURCES[resource][2])
    return limit


def limits(quota: models.Quota | None) -> dict[str, int]:
    """Effective limits of a project (quota row or None) in API names."""
    result: dict[str, int] = {}
    for resource, (column, _, _) in RESOURCES.items():
        value = getattr(quota, column) if quota is not None else None
        result[resource] = default_limit(resource) if value is None else value
    return result


def _lock_quota_row(session: Session, project_id: str | None) -> models.Quota:
    """The project's quota row, locked: concurrent checks of one project queue here.

    The row is made first if missing (two first-time writers must not both
    insert it), then locked and read fresh; usage counted after this sees
    every create committed before the lock was granted (READ COMMITTED).
    """
    db.insert_ignore(session, models.Quota, project_id=project_id, explicit=False)
    stmt = (select(models.Quota).where(models.Quota.project_id == project_id)
            .with_for_update().execution_options(populate_existing=True))
    return session.scalars(stmt).one()


def _usage(session: Session, model: type[models.StatusMixin], project_id: str | None) -> int:
    stmt = select(func.count()).select_from(model).where(model.project_id == project_id)
    if model is models.LoadBalancer:
        stmt = stmt.where(model.provisioning_status != 'DELETED')
    return cast(int, session.scalar(stmt))  # COUNT(*) is never NULL


def check(session: Session, project_id: str | None, **wanted: int) -> None:
    """Raise 403 QuotaExceeded unless the project may add `wanted` more objects."""
    wanted = {k: v for k, v in wanted.items() if v}
    if not wanted or not enforced():
        return
    quota = _lock_quota_row(session, project_id)
    allowed = limits(quota)
    for resource, count in wanted.items():
        limit = allowed[resource]
        if limit == -1:
            continue
        used = _usage(session, RESOURCES[resource][1], project_id)
        if used + count > limit:
            raise errors.QuotaExceeded(QUOTA_ERROR_NAMES[resource])
