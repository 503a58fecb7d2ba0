"""GET /loadbalancers/{id}/status: Octavia's status tree.

Read as plain rows, not ORM objects: an LB with thousands of members is a
handful of queries and no object construction. Pools appear under each
listener that uses them (default pool, then L7 redirect targets), with the
key `health_monitor`, as Octavia's implementation emits it.
"""
from collections.abc import Sequence
from typing import Any

from sqlalchemy import Row, Select, select
from sqlalchemy.orm import Session

from lbaas.db import models

_Row = Row[*tuple[Any, ...]]
_Groups = dict[Any, list[_Row]]


def _grouped(session: Session, stmt: Select[*tuple[Any, ...]], key: str) -> _Groups:
    groups: _Groups = {}
    for row in session.execute(stmt):
        groups.setdefault(getattr(row, key), []).append(row)
    return groups


def _rows(session: Session, lb_id: str) -> tuple[Sequence[_Row], _Groups, dict[str, _Row],
                                               dict[str, _Row], _Groups]:
    L, P, M, H, Pol = (models.Listener, models.Pool, models.Member,
                       models.HealthMonitor, models.L7Policy)
    listeners = session.execute(select(
        L.id, L.name, L.operating_status, L.provisioning_status, L.default_pool_id)
        .where(L.load_balancer_id == lb_id).order_by(L.created_at)).all()
    redirects = _grouped(session, select(Pol.listener_id, Pol.redirect_pool_id).where(
        Pol.listener_id.in_([li.id for li in listeners]),
        Pol.redirect_pool_id.is_not(None)).order_by(Pol.position), 'listener_id')
    pools = {row.id: row for row in session.execute(select(
        P.id, P.name, P.operating_status, P.provisioning_status)
        .where(P.load_balancer_id == lb_id))}
    monitors = {row.pool_id: row for row in session.execute(select(
        H.pool_id, H.id, H.name, H.type, H.provisioning_status, H.operating_status)
        .where(H.pool_id.in_(list(pools))))}
    members = _grouped(session, select(
        M.pool_id, M.id, M.name, M.operating_status, M.provisioning_status,
        M.ip_address, M.protocol_port).where(M.pool_id.in_(list(pools)))
        .order_by(M.created_at), 'pool_id')
    return listeners, redirects, pools, monitors, members


def _statuses(row: _Row | models.LoadBalancer) -> dict[str, Any]:
    return {'id': row.id, 'name': row.name or '',
            'operating_status': row.operating_status,
            'provisioning_status': row.provisioning_status}


def status_tree(session: Session, lb: models.LoadBalancer) -> dict[str, Any]:
    listeners, redirects, pools, monitors, members = _rows(session, lb.id)

    def pool_node(pool: _Row) -> dict[str, Any]:
        node = _statuses(pool)
        hm = monitors.get(pool.id)
        if hm is not None:
            node['health_monitor'] = dict(_statuses(hm), type=hm.type)
        node['members'] = [dict(_statuses(m), address=m.ip_address,
                                protocol_port=m.protocol_port)
                           for m in members.get(pool.id, [])]
        return node

    result = []
    for listener in listeners:
        pool_ids = [listener.default_pool_id] if listener.default_pool_id else []
        pool_ids += [r.redirect_pool_id for r in redirects.get(listener.id, [])]
        result.append(dict(_statuses(listener), pools=[
            pool_node(pools[pid]) for pid in dict.fromkeys(pool_ids) if pid in pools]))
    return {'statuses': {'loadbalancer': dict(_statuses(lb), listeners=result)}}
