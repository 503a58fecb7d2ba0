"""Load balancers read as plain rows: GET one, lists, the status tree, stats.

Controllers poll these all the time. Through the ORM one LB cost four
statements (the row with its VIP, then selectin loads of tags, listeners,
pools, VIPs and security groups) and most of the request's CPU in object
construction and cache keys. Here it is two statements for one LB or a
whole page: the LB rows joined with their VIPs, then one UNION ALL for
every LB's listener and pool ids, tags, VIP security groups and additional
VIPs. The rows go to `views.loadbalancer` unchanged, as the ORM objects did.

GET one and the status tree read on a bare Core connection
(`db.reading_rows`), not an ORM Session; every function here takes either.
"""
import dataclasses
import types
from collections.abc import Callable, Sequence
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Connection,
    DateTime,
    Row,
    Select,
    String,
    bindparam,
    cast,
    literal_column,
    null,
    select,
    union_all,
)
from sqlalchemy.orm import Session

from lbaas import errors
from lbaas.db import models
from lbaas.db import session as db
from lbaas.statuses import Provisioning

LB, VIP = models.LoadBalancer, models.Vip
_LB_ATTRS = ('id', 'project_id', 'provisioning_status', 'operating_status', 'enabled',
             'created_at', 'updated_at', 'name', 'description', 'provider', 'flavor_id',
             'availability_zone')
_VIP_ATTRS = ('load_balancer_id', 'ip_address', 'port_id', 'subnet_id', 'network_id',
              'qos_policy_id', 'vnic_type')
# The columns of a list or show: the LB's own, then its VIP's as vip_<attribute>.
COLUMNS = (tuple(getattr(LB, a) for a in _LB_ATTRS)
           + tuple(getattr(VIP, a).label('vip_' + a) for a in _VIP_ATTRS))


@dataclasses.dataclass(slots=True)
class Shown:
    """What `views.loadbalancer` reads of an LB, as the ORM object offers it."""

    id: str
    project_id: str | None
    provisioning_status: str
    operating_status: str
    enabled: bool
    created_at: Any
    updated_at: Any
    name: str | None
    description: str | None
    provider: str | None
    flavor_id: str | None
    availability_zone: str | None
    vip: types.SimpleNamespace | None
    tags: list[str] = dataclasses.field(default_factory=list)
    listeners: list[types.SimpleNamespace] = dataclasses.field(default_factory=list)
    pools: list[types.SimpleNamespace] = dataclasses.field(default_factory=list)
    vip_security_groups: list[types.SimpleNamespace] = dataclasses.field(default_factory=list)
    additional_vips: list[types.SimpleNamespace] = dataclasses.field(default_factory=list)


def _kind(letter: str) -> Any:
    return literal_column("'%s'" % letter, String)  # no bound parameter: PostgreSQL types it


def _children_stmt(of: Callable[[Any], ColumnElement[bool]]) -> Select[Any]:
    """(kind, owner, a, b, c, d, at) rows of every child the views name, of
    the LBs whose id column `of` accepts."""
    L, P, T, S, A = (models.Listener, models.Pool, models.Tag, models.VipSecurityGroup,
                     models.AdditionalVip)
    none, no_time = cast(null(), String(255)), cast(null(), DateTime)
    branches = [
        select(_kind('l').label('kind'), L.load_balancer_id.label('owner'),
               L.id.label('a'), none.label('b'), none.label('c'), none.label('d'),
               L.created_at.label('at')).where(of(L.load_balancer_id)),
        select(_kind('p'), P.load_balancer_id, P.id, none, none, none,
               P.created_at).where(of(P.load_balancer_id)),
        select(_kind('t'), T.resource_id, T.tag, none, none, none,
               no_time).where(of(T.resource_id)),
        select(_kind('s'), S.load_balancer_id, S.sg_id, none, none, none,
               no_time).where(of(S.load_balancer_id)),
        select(_kind('v'), A.load_balancer_id, A.subnet_id, A.ip_address,
               A.port_id, A.network_id, no_time).where(of(A.load_balancer_id)),
    ]
    union = union_all(*branches).subquery()
    # Relationship order: listeners and pools by (created_at, id), tags by
    # tag; security groups and additional VIPs by their key.
    return select(union).order_by(union.c.kind, union.c.at, union.c.a)


# Built once: building these costs more than running them. A page of LBs
# names them in an expanding IN; GET one compares with one parameter, which
# spares SQLAlchemy re-rendering the statement for each call.
_CHILDREN = _children_stmt(lambda column: column.in_(bindparam('ids', expanding=True)))
_CHILDREN_OF_ONE = _children_stmt(lambda column: column == bindparam('lb_id'))
_ONE = (select(*COLUMNS).outerjoin(VIP, VIP.load_balancer_id == LB.id)
        .where(LB.id == bindparam('lb_id')))
_LISTENER_IDS = select(models.Listener.id).where(
    models.Listener.load_balancer_id == bindparam('lb_id'))


def _attach(shown: Shown, kind: str, row: Row[Any]) -> None:
    if kind == 'l':
        shown.listeners.append(types.SimpleNamespace(id=row.a))
    elif kind == 'p':
        shown.pools.append(types.SimpleNamespace(id=row.a))
    elif kind == 't':
        shown.tags.append(row.a)
    elif kind == 's':
        shown.vip_security_groups.append(types.SimpleNamespace(sg_id=row.a))
    else:
        shown.additional_vips.append(types.SimpleNamespace(
            subnet_id=row.a, ip_address=row.b, port_id=row.c, network_id=row.d))


def _shown(row: Row[Any]) -> Shown:
    values = row._mapping
    vip = None
    if values['vip_load_balancer_id'] is not None:
        vip = types.SimpleNamespace(**{a: values['vip_' + a] for a in _VIP_ATTRS})
    own: dict[str, Any] = {a: values[a] for a in _LB_ATTRS}
    return Shown(**own, vip=vip)


def shown(source: Session | Connection, rows: Sequence[Row[Any]]) -> list[Shown]:
    """The LBs of `rows` (selected with COLUMNS) with their children, in order."""
    result = [_shown(row) for row in rows]
    if result:
        by_id = {s.id: s for s in result}
        # Core, not the ORM session's execute: plain rows need none of its work.
        conn = db.connection_of(source)
        if len(result) == 1:
            children = conn.execute(_CHILDREN_OF_ONE, {'lb_id': result[0].id})
        else:
            children = conn.execute(_CHILDREN, {'ids': list(by_id)})
        for child in children:
            _attach(by_id[child.owner], child.kind, child)
    return result


def lb_row(source: Session | Connection, lb_id: str) -> Row[Any]:
    """The LB's row with its VIP's (COLUMNS); 404 if missing or DELETED."""
    row = db.connection_of(source).execute(_ONE, {'lb_id': lb_id}).first()
    if row is None or row.provisioning_status == Provisioning.DELETED:
        raise errors.NotFound('Load Balancer', lb_id)
    return row


def listener_ids(source: Session | Connection, lb_id: str) -> list[str]:
    return list(db.connection_of(source).execute(_LISTENER_IDS, {'lb_id': lb_id}).scalars())
