"""Response bodies: database rows translated to Octavia's field names.

Plain functions building dicts, because list endpoints serialise thousands
of rows and this is their hot path. `name` and `description` come back as ""
when null, every project-owned object also shows `tenant_id`, datetimes have
no zone and no fraction (Octavia's format).
"""
from __future__ import annotations

import datetime
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:  # rows come in; the schemas layer does not import db at run time
    from lbaas.db import models

    StatusRow = (models.LoadBalancer | models.Listener | models.Pool | models.Member
                 | models.HealthMonitor | models.L7Policy | models.L7Rule)

Body = dict[str, Any]


class HasId(Protocol):
    id: str


def _ts(value: datetime.datetime | None) -> str | None:
    return value.isoformat() if value else None


def _ids(objects: Iterable[HasId]) -> list[dict[str, str]]:
    return [{'id': o.id} for o in objects]


def _common(obj: StatusRow) -> Body:
    return {
        'id': obj.id,
        'project_id': obj.project_id,
        'tenant_id': obj.project_id,
        'provisioning_status': obj.provisioning_status,
        'operating_status': obj.operating_status,
        'admin_state_up': obj.enabled,
        'created_at': _ts(obj.created_at),
        'updated_at': _ts(obj.updated_at),
        'tags': obj.tags,
    }


def loadbalancer(lb: models.LoadBalancer) -> Body:
    vip = lb.vip
    body = _common(lb)
    body.update({
        'name': lb.name or '',
        'description': lb.description or '',
        'vip_address': vip.ip_address if vip else None,
        'vip_port_id': vip.port_id if vip else None,
        'vip_subnet_id': vip.subnet_id if vip else None,
        'vip_network_id': vip.network_id if vip else None,
        'vip_qos_policy_id': vip.qos_policy_id if vip else None,
        'vip_vnic_type': vip.vnic_type if vip else 'normal',
        'vip_sg_ids': [sg.sg_id for sg in lb.vip_security_groups],
        'additional_vips': [{'subnet_id': v.subnet_id, 'ip_address': v.ip_address,
                             'port_id': v.port_id, 'network_id': v.network_id}
                            for v in lb.additional_vips],
        'provider': lb.provider or 'octavia',
        'flavor_id': lb.flavor_id,
        'availability_zone': lb.availability_zone,
        'listeners': _ids(lb.listeners),
        'pools': _ids(lb.pools),
    })
    return body


def listener(li: models.Listener) -> Body:
    body = _common(li)
    body.update({
        'name': li.name or '',
        'description': li.description or '',
        'protocol': li.protocol,
        'protocol_port': li.protocol_port,
        'connection_limit': li.connection_limit,
        'default_pool_id': li.default_pool_id,
        'default_tls_container_ref': li.default_tls_container_id,
        'sni_container_refs': list(li.sni_container_refs or []),
        'client_ca_tls_container_ref': li.client_ca_tls_certificate_id,
        'client_authentication': li.client_authentication,
        'client_crl_container_ref': li.client_crl_container_id,
        'insert_headers': dict(li.insert_headers or {}),
        'timeout_client_data': li.timeout_client_data,
        'timeout_member_connect': li.timeout_member_connect,
        'timeout_member_data': li.timeout_member_data,
        'timeout_tcp_inspect': li.timeout_tcp_inspect,
        'allowed_cidrs': li.allowed_cidrs,
        'tls_ciphers': li.tls_ciphers,
        'tls_versions': li.tls_versions,
        'alpn_protocols': li.alpn_protocols,
        'hsts_max_age': li.hsts_max_age,
        'hsts_include_subdomains': li.hsts_include_subdomains,
        'hsts_preload': li.hsts_preload,
        'loadbalancers': [{'id': li.load_balancer_id}],
        'l7policies': _ids(li.l7policies),
    })
    return body


def pool(po: models.Pool) -> Body:
    body = _common(po)
    hm = po.health_monitor
    body.update({
        'name': po.name or '',
        'description': po.description or '',
        'protocol': po.protocol,
        'lb_algorithm': po.lb_algorithm,
        'session_persistence': session_persistence(po.session_persistence),
        'tls_enabled': po.tls_enabled,
        'tls_container_ref': po.tls_certificate_id,
        'ca_tls_container_ref': po.ca_tls_certificate_id,
        'crl_container_ref': po.crl_container_id,
        'tls_ciphers': po.tls_ciphers,
        'tls_versions': po.tls_versions,
        'alpn_protocols': po.alpn_protocols,
        'healthmonitor_id': hm.id if hm else None,
        'loadbalancers': [{'id': po.load_balancer_id}],
        'listeners': _ids(po.default_listeners),
        'members': _ids(po.members),
    })
    return body


def session_persistence(sp: dict[str, Any] | None) -> Body | None:
    if not sp:
        return None
    return {'type': sp.get('type'), 'cookie_name': sp.get('cookie_name'),
            'persistence_timeout': sp.get('persistence_timeout'),
            'persistence_granularity': sp.get('persistence_granularity')}


def member(me: models.Member) -> Body:
    body = _common(me)
    body.update({
        'name': me.name or '',
        'address': me.ip_address,
        'protocol_port': me.protocol_port,
        'weight': me.weight,
        'backup': me.backup,
        'subnet_id': me.subnet_id,
        'monitor_address': me.monitor_address,
        'monitor_port': me.monitor_port,
        'vnic_type': me.vnic_type,
        'pool_id': me.pool_id,
    })
    return body


def healthmonitor(hm: models.HealthMonitor) -> Body:
    body = _common(hm)
    body.update({
        'name': hm.name or '',
        'type': hm.type,
        'delay': hm.delay,
        'timeout': hm.timeout,
        'max_retries': hm.rise_threshold,
        'max_retries_down': hm.fall_threshold,
        'http_method': hm.http_method,
        'url_path': hm.url_path,
        'expected_codes': hm.expected_codes,
        'http_version': hm.http_version,
        'domain_name': hm.domain_name,
        'pools': [{'id': hm.pool_id}],
    })
    return body


def l7policy(po: models.L7Policy) -> Body:
    body = _common(po)
    body.update({
        'name': po.name or '',
        'description': po.description or '',
        'listener_id': po.listener_id,
        'action': po.action,
        'redirect_pool_id': po.redirect_pool_id,
        'redirect_url': po.redirect_url,
        'redirect_prefix': po.redirect_prefix,
        'redirect_http_code': po.redirect_http_code,
        'position': po.position,
        'rules': _ids(po.rules),
    })
    return body


def l7rule(ru: models.L7Rule) -> Body:
    body = _common(ru)
    body.update({
        'type': ru.type,
        'compare_type': ru.compare_type,
        'key': ru.key,
        'value': ru.value,
        'invert': ru.invert,
    })
    return body


def full_graph(lb: models.LoadBalancer) -> Body:
    """POST /loadbalancers answers with every child object in full."""
    body = loadbalancer(lb)
    listeners = []
    for li in lb.listeners:
        item = listener(li)
        item['l7policies'] = []
        for l7 in li.l7policies:
            policy = l7policy(l7)
            policy['rules'] = [l7rule(r) for r in l7.rules]
            item['l7policies'].append(policy)
        listeners.append(item)
    pools = []
    for po in lb.pools:
        item = pool(po)
        item['members'] = [member(m) for m in po.members]
        item['healthmonitor'] = healthmonitor(po.health_monitor) if po.health_monitor else None
        pools.append(item)
    body['listeners'] = listeners
    body['pools'] = pools
    return body
