"""Listener writes and the rules that need the load balancer around them."""
from typing import Any

from sqlalchemy.orm import Session

from lbaas import config, errors
from lbaas.db import models
from lbaas.schemas import fields, rules
from lbaas.service import lifecycle, pools, providers, quotas, tls

TIMEOUTS = ('timeout_client_data', 'timeout_member_connect', 'timeout_member_data',
            'timeout_tcp_inspect')


def _config_defaults(protocol: str) -> dict[str, Any]:
    """Defaults that come from configuration, filled where the client sent null."""
    settings = config.CONF.api_settings
    values = {name: getattr(config.CONF.haproxy_amphora, name) for name in TIMEOUTS}
    if protocol == 'TERMINATED_HTTPS':
        values.update(tls_ciphers=settings.default_listener_ciphers,
                      tls_versions=list(settings.default_listener_tls_versions),
                      alpn_protocols=list(settings.default_listener_alpn_protocols))
    return values


def apply_fields(listener: models.Listener, values: dict[str, Any]) -> None:
    pools.assign(listener, values, fields.LISTENER)
    for name, value in _config_defaults(listener.protocol).items():
        if getattr(listener, name) is None:
            setattr(listener, name, value)
    if listener.connection_limit is None:
        listener.connection_limit = -1
    if listener.client_authentication is None:
        listener.client_authentication = 'NONE'


def _vip_addresses(lb: models.LoadBalancer) -> list[str]:
    addresses = [lb.vip.ip_address] + [v.ip_address for v in lb.additional_vips]
    return [a for a in addresses if a]


def check(lb: models.LoadBalancer, listener: models.Listener) -> None:
    """Rules over the listener as it will be, against its load balancer."""
    protocol = listener.protocol
    settings = config.CONF.api_settings
    if protocol == 'TERMINATED_HTTPS' and not settings.allow_tls_terminated_listeners:
        raise errors.ApiError('The selected protocol is not allowed in this deployment: '
                              'TERMINATED_HTTPS')
    if protocol == 'PROMETHEUS' and not settings.allow_prometheus_listeners:
        raise errors.ApiError('The selected protocol is not allowed in this deployment: '
                              'PROMETHEUS')
    for other in lb.listeners:
        if (other is not listener and other.protocol_port == listener.protocol_port
                and rules.l4_protocol(other.protocol) == rules.l4_protocol(protocol)
                and other.provisioning_status != lifecycle.DELETED):
            raise errors.Conflict(
                'Another Listener on this Load Balancer is already using '
                'protocol %s and protocol_port %d' % (protocol, listener.protocol_port))
    _check_protocol_rules(lb, listener)


def _check_protocol_rules(lb: models.LoadBalancer, listener: models.Listener) -> None:
    protocol = listener.protocol
    rules.check_insert_headers(protocol, listener.insert_headers or {})
    rules.check_listener_tls(
        protocol, default_tls_container_ref=listener.default_tls_container_id,
        sni_container_refs=listener.sni_container_refs or (),
        client_ca_tls_container_ref=listener.client_ca_tls_certificate_id,
        client_authentication=listener.client_authentication,
        client_crl_container_ref=listener.client_crl_container_id)
    rules.check_hsts(protocol, listener.hsts_max_age, listener.hsts_include_subdomains,
                     listener.hsts_preload)
    rules.check_allowed_cidrs_without_sgs(listener.allowed_cidrs,
                                          [sg.sg_id for sg in lb.vip_security_groups])
    rules.check_allowed_cidrs(listener.allowed_cidrs, _vip_addresses(lb))
    if listener.default_pool is not None:
        rules.check_listener_can_have_children(protocol)
        rules.check_listener_pool_protocol(protocol, listener.default_pool.protocol)


def _default_pool(session: Session, lb: models.LoadBalancer,
                  pool_id: str | None) -> models.Pool | None:
    if pool_id is None:
        return None
    pool = session.get(models.Pool, pool_id)
    if pool is None or pool.load_balancer_id != lb.id:
        raise errors.NotFound('Pool', pool_id)
    return pool


def build(session: Session, lb: models.LoadBalancer,
          values: dict[str, Any]) -> models.Listener:
    """A new listener on `lb` from validated API values (not yet flushed)."""
    listener = models.Listener(project_id=lb.project_id,
                               **lifecycle.new_status_fields(values.get('admin_state_up', True)))
    lb.listeners.append(listener)  # through the parent, so the session adopts it
    apply_fields(listener, {k: v for k, v in values.items() if k != 'default_pool_id'})
    listener.default_pool = _default_pool(session, lb, values.get('default_pool_id'))
    check(lb, listener)
    tls.check_listener(listener, values)
    return listener


def create(session: Session, values: dict[str, Any]) -> models.Listener:
    lb = lifecycle.lock_mutable_lb(session, values['loadbalancer_id'])
    quotas.check(session, lb.project_id, listener=1)
    pools.refuse_inline_children(values, 'default_pool', 'l7policies')
    listener = build(session, lb, values)
    providers.check_protocol(lb.provider, listener.protocol)
    session.flush()
    lifecycle.touch_lb(session, lb, [listener])
    return listener


def get(session: Session, listener_id: str) -> models.Listener:
    listener = session.get(models.Listener, listener_id)
    if listener is None or listener.provisioning_status == lifecycle.DELETED:
        raise errors.NotFound('Listener', listener_id)
    return listener


def lock(session: Session,
         listener_id: str) -> tuple[models.LoadBalancer, models.Listener]:
    """The listener's LB locked, then the listener read again under that lock."""
    lb = lifecycle.lock_mutable_lb(session, get(session, listener_id).load_balancer_id)
    return lb, get(session, listener_id)


def update(session: Session, listener_id: str, changes: dict[str, Any]) -> models.Listener:
    lb, listener = lock(session, listener_id)
    if 'default_pool_id' in changes:
        listener.default_pool = _default_pool(session, lb, changes['default_pool_id'])
    for name in TIMEOUTS + ('tls_ciphers', 'tls_versions', 'alpn_protocols'):
        if name in changes and changes[name] is None:
            changes[name] = _config_defaults(listener.protocol).get(name)
    apply_fields(listener, {k: v for k, v in changes.items() if k != 'default_pool_id'})
    check(lb, listener)
    tls.check_listener(listener, changes)
    listener.provisioning_status = lifecycle.PENDING_UPDATE
    lifecycle.touch_lb(session, lb, [listener])
    return listener


def delete(session: Session, listener_id: str) -> None:
    lb, listener = lock(session, listener_id)
    lifecycle.mark(lifecycle.PENDING_DELETE, listener, *listener.l7policies,
                   *[r for p in listener.l7policies for r in p.rules])
    lifecycle.touch_lb(session, lb, [listener])

