"""GET /loadbalancers/{id}/status: Octavia's status tree.

Read as plain rows, not ORM objects: an LB with thousands of members is a
handful of queries and no object construction. The statements are built
once, and each member's node is made in the pass that reads its row (a
poll of a 1,000-member tree spent most of its time in per-row attribute
lookups). Pools appear under each listener that uses them (default pool,
then L7 redirect targets), with the key `health_monitor`, as Octavia's
implementation emits it.
"""
from typing import Any

from sqlalchemy import Connection, Row, bindparam, select
from sqlalchemy.orm import Session

from lbaas.db import models
from lbaas.db import session as db

_Row = Row[*tuple[Any, ...]]
Node = dict[str, Any]

_L, _P, _M, _H, _Pol = (models.Listener, models.Pool, models.Member,
                        models.HealthMonitor, models.L7Policy)
_LB_ID: Any = bindparam('lb_id')
_IDS: Any = bindparam('ids', expanding=True)
_LISTENERS = select(_L.id, _L.name, _L.operating_status, _L.provisioning_status,
                    _L.default_pool_id).where(_L.load_balancer_id == _LB_ID) \
    .order_by(_L.created_at)
_REDIRECTS = select(_Pol.listener_id, _Pol.redirect_pool_id).where(
    _Pol.listener_id.in_(_IDS), _Pol.redirect_pool_id.is_not(None)).order_by(_Pol.position)
_POOLS = select(_P.id, _P.name, _P.operating_status, _P.provisioning_status) \
    .where(_P.load_balancer_id == _LB_ID)
_MONITORS = select(_H.pool_id, _H.id, _H.name, _H.operating_status,
                   _H.provisioning_status, _H.type).where(_H.pool_id.in_(_IDS))
_MEMBERS = select(_M.pool_id, _M.id, _M.name, _M.operating_status, _M.provisioning_status,
                  _M.ip_address, _M.protocol_port).where(_M.pool_id.in_(_IDS)) \
    .order_by(_M.created_at)


def _node(id_: str, name: str | None, operating: str, provisioning: str) -> Node:
    return {'id': id_, 'name': name or '', 'operating_status': operating,
            'provisioning_status': provisioning}


def _members(conn: Connection, pool_ids: list[str]) -> dict[str, list[Node]]:
    groups: dict[str, list[Node]] = {pool_id: [] for pool_id in pool_ids}
    if pool_ids:
        rows = conn.execute(_MEMBERS, {'ids': pool_ids})
        for pool_id, id_, name, operating, provisioning, address, port in rows:
            groups[pool_id].append({
                'id': id_, 'name': name or '', 'operating_status': operating,
                'provisioning_status': provisioning, 'address': address,
                'protocol_port': port})
    return groups


def _pool_nodes(conn: Connection, lb_id: str) -> dict[str, Node]:
    """Each pool's node, with its health monitor and members."""
    pools = {id_: _node(id_, name, operating, provisioning) for id_, name, operating, provisioning
             in conn.execute(_POOLS, {'lb_id': lb_id})}
    if not pools:
        return pools
    ids = list(pools)
    monitors = conn.execute(_MONITORS, {'ids': ids})
    for pool_id, id_, name, operating, provisioning, kind in monitors:
        pools[pool_id]['health_monitor'] = dict(_node(id_, name, operating, provisioning),
                                                type=kind)
    for pool_id, members in _members(conn, ids).items():
        pools[pool_id]['members'] = members
    return pools


def _statuses(row: _Row | models.LoadBalancer) -> Node:
    return _node(row.id, row.name, row.operating_status, row.provisioning_status)


def status_tree(source: Session | Connection,
                lb: _Row | models.LoadBalancer) -> dict[str, Any]:
    """The tree of `lb`, a row or an object with id, name and both statuses,
    read in `source`'s transaction (a Session's or a bare connection's)."""
    conn = db.connection_of(source)
    listeners = conn.execute(_LISTENERS, {'lb_id': lb.id}).all()
    redirects: dict[str, list[str | None]] = {}
    if listeners:
        for listener_id, pool_id in conn.execute(
                _REDIRECTS, {'ids': [li.id for li in listeners]}):
            redirects.setdefault(listener_id, []).append(pool_id)
    pools = _pool_nodes(conn, lb.id) if listeners else {}
    result = []
    for listener in listeners:
        pool_ids: list[str | None] = [listener.default_pool_id] if listener.default_pool_id \
            else []
        pool_ids += redirects.get(listener.id, [])
        result.append(dict(_statuses(listener), pools=[
            pools[pid] for pid in dict.fromkeys(pool_ids) if pid in pools]))
    return {'statuses': {'loadbalancer': dict(_statuses(lb), listeners=result)}}
