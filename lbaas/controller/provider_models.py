"""Rows as octavia-lib's provider data models, as Octavia's
`api/drivers/utils.py` builds them (db_*_to_provider_*).

Used by the API's dispatch to external providers (`service/provider_drivers.py`)
and by the driver agent's `get_*` look-ups. Column names differ from the data
models' where Octavia's do too: `enabled` is `admin_state_up`, a monitor's
rise/fall thresholds are `max_retries`/`max_retries_down`, certificate
references are `*_container_ref`. Certificate contents (`*_container_data`)
are left Unset: the provider reads them through its own key manager.
"""

from __future__ import annotations

import json
from typing import Any

from octavia_lib.api.drivers import data_models as dm
from sqlalchemy.orm import Session

from lbaas.db import models

Unset = dm.Unset


def _or_unset(value: Any) -> Any:
    return value if value else Unset


def _profile(session: Session | None, lb: models.LoadBalancer) -> tuple[Any, Any]:
    """The flavor's and the availability zone's metadata, Unset when none."""
    flavor: Any = Unset
    zone: Any = Unset
    if session is not None and lb.flavor_id:
        row = session.get(models.Flavor, lb.flavor_id)
        if row is not None:
            flavor = json.loads(row.flavor_profile.flavor_data or '{}')
    if session is not None and lb.availability_zone:
        az = session.get(models.AvailabilityZone, lb.availability_zone)
        if az is not None:
            zone = json.loads(az.availability_zone_profile.availability_zone_data or '{}')
    return flavor, zone


def loadbalancer(lb: models.LoadBalancer, session: Session | None = None) -> Any:
    flavor, zone = _profile(session, lb)
    vip = lb.vip
    return dm.LoadBalancer(
        admin_state_up=lb.enabled,
        description=lb.description,
        flavor=flavor,
        listeners=_or_unset([listener(li) for li in lb.listeners]),
        loadbalancer_id=lb.id,
        name=lb.name,
        pools=_or_unset([pool(p) for p in lb.pools]),
        project_id=lb.project_id,
        vip_address=vip.ip_address if vip else None,
        vip_network_id=vip.network_id if vip else None,
        vip_port_id=vip.port_id if vip else None,
        vip_subnet_id=vip.subnet_id if vip else None,
        vip_qos_policy_id=vip.qos_policy_id if vip else None,
        vip_sg_ids=[sg.sg_id for sg in lb.vip_security_groups],
        additional_vips=[
            {
                'ip_address': v.ip_address,
                'network_id': v.network_id,
                'port_id': v.port_id,
                'subnet_id': v.subnet_id,
            }
            for v in lb.additional_vips
        ],
        availability_zone=zone,
    )


def listener(li: models.Listener) -> Any:
    default_pool = pool(li.default_pool) if li.default_pool is not None else None
    return dm.Listener(
        admin_state_up=li.enabled,
        connection_limit=li.connection_limit,
        default_pool=default_pool,
        default_pool_id=li.default_pool_id,
        default_tls_container_ref=li.default_tls_container_id,
        description=li.description,
        insert_headers=li.insert_headers or {},
        l7policies=[l7policy(p) for p in li.l7policies],
        listener_id=li.id,
        loadbalancer_id=li.load_balancer_id,
        name=li.name,
        protocol=li.protocol,
        protocol_port=li.protocol_port,
        sni_container_refs=list(li.sni_container_refs or []),
        timeout_client_data=li.timeout_client_data,
        timeout_member_connect=li.timeout_member_connect,
        timeout_member_data=li.timeout_member_data,
        timeout_tcp_inspect=li.timeout_tcp_inspect,
        client_ca_tls_container_ref=li.client_ca_tls_certificate_id,
        client_authentication=li.client_authentication,
        client_crl_container_ref=li.client_crl_container_id,
        project_id=li.project_id,
        allowed_cidrs=li.allowed_cidrs,
        tls_versions=li.tls_versions,
        tls_ciphers=li.tls_ciphers,
        alpn_protocols=li.alpn_protocols,
        hsts_max_age=li.hsts_max_age,
        hsts_include_subdomains=li.hsts_include_subdomains,
        hsts_preload=li.hsts_preload,
    )


def pool(p: models.Pool) -> Any:
    hm = p.health_monitor
    return dm.Pool(
        admin_state_up=p.enabled,
        description=p.description,
        healthmonitor=healthmonitor(hm) if hm is not None else Unset,
        lb_algorithm=p.lb_algorithm,
        loadbalancer_id=p.load_balancer_id,
        members=_or_unset([member(m) for m in p.members]),
        name=p.name,
        pool_id=p.id,
        listener_id=p.default_listeners[0].id if p.default_listeners else Unset,
        protocol=p.protocol,
        session_persistence=p.session_persistence,
        tls_container_ref=p.tls_certificate_id,
        ca_tls_container_ref=p.ca_tls_certificate_id,
        crl_container_ref=p.crl_container_id,
        tls_enabled=p.tls_enabled,
        project_id=p.project_id,
        tls_versions=p.tls_versions,
        tls_ciphers=p.tls_ciphers,
        alpn_protocols=p.alpn_protocols,
    )


def member(m: models.Member) -> Any:
    return dm.Member(
        address=m.ip_address,
        admin_state_up=m.enabled,
        member_id=m.id,
        monitor_address=m.monitor_address,
        monitor_port=m.monitor_port,
        name=m.name,
        pool_id=m.pool_id,
        protocol_port=m.protocol_port,
        subnet_id=m.subnet_id,
        weight=m.weight,
        backup=m.backup,
        project_id=m.project_id,
        vnic_type=m.vnic_type,
    )


def healthmonitor(hm: models.HealthMonitor) -> Any:
    return dm.HealthMonitor(
        admin_state_up=hm.enabled,
        delay=hm.delay,
        expected_codes=hm.expected_codes,
        healthmonitor_id=hm.id,
        http_method=hm.http_method,
        max_retries=hm.rise_threshold,
        max_retries_down=hm.fall_threshold,
        name=hm.name,
        pool_id=hm.pool_id,
        timeout=hm.timeout,
        type=hm.type,
        url_path=hm.url_path,
        http_version=hm.http_version,
        domain_name=hm.domain_name,
        project_id=hm.project_id,
    )


def l7policy(policy: models.L7Policy) -> Any:
    return dm.L7Policy(
        action=policy.action,
        admin_state_up=policy.enabled,
        description=policy.description,
        l7policy_id=policy.id,
        listener_id=policy.listener_id,
        name=policy.name,
        position=policy.position,
        redirect_pool_id=policy.redirect_pool_id,
        redirect_url=policy.redirect_url,
        rules=[l7rule(r) for r in policy.rules],
        redirect_prefix=policy.redirect_prefix,
        redirect_http_code=policy.redirect_http_code,
        project_id=policy.project_id,
    )


def l7rule(rule: models.L7Rule) -> Any:
    return dm.L7Rule(
        admin_state_up=rule.enabled,
        compare_type=rule.compare_type,
        invert=rule.invert,
        key=rule.key,
        l7policy_id=rule.l7policy_id,
        l7rule_id=rule.id,
        type=rule.type,
        value=rule.value,
        project_id=rule.project_id,
    )


# The payload keys of octavia-lib (`constants.LOADBALANCERS`...), the rows
# they name, and the converters; the driver agent and the dispatch share it.
KINDS: dict[str, tuple[type[models.Base], Any]] = {
    'loadbalancers': (models.LoadBalancer, loadbalancer),
    'listeners': (models.Listener, listener),
    'pools': (models.Pool, pool),
    'members': (models.Member, member),
    'healthmonitors': (models.HealthMonitor, healthmonitor),
    'l7policies': (models.L7Policy, l7policy),
    'l7rules': (models.L7Rule, l7rule),
}


def convert(obj: models.Base, session: Session | None = None) -> Any:
    """Any row of an LB graph as its data model."""
    if isinstance(obj, models.LoadBalancer):
        return loadbalancer(obj, session)
    for model, converter in KINDS.values():
        if isinstance(obj, model):
            return converter(obj)
    raise TypeError('no provider data model for %r' % obj)


def lb_of(obj: models.Base) -> models.LoadBalancer:
    """The load balancer a row belongs to."""
    if isinstance(obj, models.LoadBalancer):
        return obj
    if isinstance(obj, models.Listener | models.Pool):
        return obj.load_balancer
    if isinstance(obj, models.Member | models.HealthMonitor):
        return obj.pool.load_balancer
    if isinstance(obj, models.L7Policy):
        return obj.listener.load_balancer
    if isinstance(obj, models.L7Rule):
        return obj.l7policy.listener.load_balancer
    raise TypeError('not part of a load balancer: %r' % obj)
