"""The few statements the health manager writes, for every database.

Each is one statement executed with many parameter sets (the driver's
executemany), so a flush costs a handful of round trips however many
amphorae it covers. Rows go in key order: two health managers writing the
same rows lock them in the same order and cannot deadlock each other.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from typing import Any, TypeVar

from sqlalchemy import Table, bindparam, update
from sqlalchemy.dialects import mysql, postgresql, sqlite
from sqlalchemy.orm import Session

from lbaas.db import models

T = TypeVar('T')
CHUNK = 500  # ids per IN (...): far below every database's parameter limit

Row = dict[str, Any]
STATUS_TABLES: dict[str, Table] = {
    'loadbalancer': models.LoadBalancer.__table__,  # type: ignore[dict-item]
    'listener': models.Listener.__table__,  # type: ignore[dict-item]
    'pool': models.Pool.__table__,  # type: ignore[dict-item]
    'member': models.Member.__table__,  # type: ignore[dict-item]
}


def chunks(items: Iterable[T], size: int = CHUNK) -> Iterator[list[T]]:
    batch: list[T] = []
    for item in items:
        batch.append(item)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch


def upsert(
    session: Session,
    table: Table,
    rows: Sequence[Row],
    keys: Sequence[str],
    add: Sequence[str] = (),
) -> None:
    """INSERT `rows`, or UPDATE the row with the same `keys`: columns named
    in `add` are added to the stored value, the others replace it."""
    if not rows:
        return
    columns = [c for c in rows[0] if c not in keys]
    ordered = sorted(rows, key=lambda row: tuple(row[k] for k in keys))
    dialect = session.get_bind().dialect.name
    if dialect == 'mysql':
        my = mysql.insert(table)
        mine = {c: (table.c[c] + my.inserted[c]) if c in add else my.inserted[c] for c in columns}
        session.execute(my.on_duplicate_key_update(mine), ordered)
        return
    stmt = postgresql.insert(table) if dialect == 'postgresql' else sqlite.insert(table)
    values = {c: (table.c[c] + stmt.excluded[c]) if c in add else stmt.excluded[c] for c in columns}
    session.execute(stmt.on_conflict_do_update(index_elements=list(keys), set_=values), ordered)


def set_statuses(session: Session, statuses: dict[tuple[str, str], str]) -> None:
    """operating_status of many objects of any kinds, one statement per kind."""
    for kind, table in STATUS_TABLES.items():
        params = sorted(
            (
                {'b_id': obj_id, 'b_status': status}
                for (k, obj_id), status in statuses.items()
                if k == kind
            ),
            key=lambda p: p['b_id'],
        )
        if params:
            stmt = (
                update(table)
                .where(table.c.id == bindparam('b_id'))
                .values(operating_status=bindparam('b_status'))
            )
            session.connection().execute(stmt, params)
