"""Health monitor writes: at most one monitor per pool."""
from typing import Any

from sqlalchemy.orm import Session

from lbaas import config, errors
from lbaas.db import models
from lbaas.schemas import fields, rules
from lbaas.service import lifecycle, quotas
from lbaas.service.pools import assign, lock_pool_parent, pool_pending


def build_healthmonitor(pool: models.Pool, values: dict[str, Any]) -> models.HealthMonitor:
    if pool.health_monitor is not None and \
            pool.health_monitor.provisioning_status != lifecycle.PENDING_DELETE:
        raise errors.Conflict('This pool already has a health monitor')
    settings = config.CONF.api_settings
    if values['type'] == 'PING' and not settings.allow_ping_health_monitors:
        raise errors.ApiError('The selected type is not allowed in this deployment: PING')
    rules.check_hm_type_for_pool(pool.protocol, values['type'])
    rules.check_udp_connect_delay(values['type'], values['delay'],
                                  settings.udp_connect_min_interval_health_monitor)
    hm = models.HealthMonitor(project_id=pool.project_id,
                              **lifecycle.new_status_fields(values.get('admin_state_up', True)))
    assign(hm, values, fields.HEALTHMONITOR)
    hm.fall_threshold = hm.fall_threshold or 3
    pool.health_monitor = hm
    return hm


def create_healthmonitor(session: Session, values: dict[str, Any]) -> models.HealthMonitor:
    lb, pool = lock_pool_parent(session, values['pool_id'])
    quotas.check(session, lb.project_id, healthmonitor=1)
    hm = build_healthmonitor(pool, values)
    session.flush()
    pool_pending(pool)
    lifecycle.touch_lb(session, lb, [hm])
    return hm


def get_healthmonitor(session: Session, hm_id: str) -> models.HealthMonitor:
    hm = session.get(models.HealthMonitor, hm_id)
    if hm is None or hm.provisioning_status == lifecycle.DELETED:
        raise errors.NotFound('Health Monitor', hm_id)
    return hm


def update_healthmonitor(session: Session, hm_id: str,
                         changes: dict[str, Any]) -> models.HealthMonitor:
    lb, pool = lock_pool_parent(session, get_healthmonitor(session, hm_id).pool_id)
    hm = get_healthmonitor(session, hm_id)
    if hm.type not in ('HTTP', 'HTTPS'):
        for name in ('http_method', 'url_path', 'expected_codes'):
            if changes.get(name) is not None:
                raise errors.InvalidInput('Invalid input for field/attribute %s. Value: '
                                          "'%s'. Only allowed for HTTP and HTTPS health "
                                          'monitors.' % (name, changes[name]))
    assign(hm, changes, fields.HEALTHMONITOR)
    rules.check_hm_domain_name(hm.http_version, hm.domain_name)
    hm.provisioning_status = lifecycle.PENDING_UPDATE
    pool_pending(pool)
    lifecycle.touch_lb(session, lb, [hm])
    return hm


def delete_healthmonitor(session: Session, hm_id: str) -> None:
    lb, pool = lock_pool_parent(session, get_healthmonitor(session, hm_id).pool_id)
    hm = get_healthmonitor(session, hm_id)
    hm.provisioning_status = lifecycle.PENDING_DELETE
    pool_pending(pool)
    lifecycle.touch_lb(session, lb, [hm])

