"""List pages of the operator catalogue: flavors, AZs, profiles, quotas.

`query.select_page` pages on (created_at, id), which every load-balancing
object has. The catalogue objects have neither a creation time nor always an
`id` (availability zones are keyed by name, quotas by project), so they page
on their one key column instead: the requested sort keys, then the key as
the tie-breaker, and the marker is the key of the previous page's last row.
Query-string parsing, field selection and links are `query`'s own.
"""
import collections
from collections.abc import Mapping, Sequence
from typing import Any

import falcon
from sqlalchemy import ColumnElement, Select, and_, or_
from sqlalchemy.orm import Session

from lbaas.api import base, errors, query

# query.links() reads `.id` of the first and last rows of a page.
_Marker = collections.namedtuple('_Marker', 'id')


def _order(listing: query.Listing, columns: Mapping[str, Any],
           key_column: Any) -> list[tuple[Any, str]]:
    keys = [(columns[name], direction) for name, direction in listing.sort]
    keys.append((key_column, 'asc'))
    if listing.page_reverse:
        keys = [(c, 'desc' if d == 'asc' else 'asc') for c, d in keys]
    return keys


def _after_marker(session: Session, model: Any, order: list[tuple[Any, str]],
                  marker_key: str) -> ColumnElement[bool]:
    """Keyset condition: rows strictly after the marker row in `order`."""
    marker = session.get(model, marker_key)
    if marker is None:
        raise errors.InvalidInput('Marker %s could not be found.' % marker_key)
    values = [getattr(marker, column.key) for column, _ in order]
    clauses = []
    for i, (column, direction) in enumerate(order):
        if values[i] is None:
            continue
        equal_before = [order[j][0] == values[j] for j in range(i)]
        step = column > values[i] if direction == 'asc' else column < values[i]
        clauses.append(and_(*equal_before, step))
    return or_(*clauses)


def select_page(session: Session, stmt: Select[Any], spec: base.Spec, key_column: Any,
                listing: query.Listing) -> list[Any]:
    """Filter, order and page `stmt`; return the page's rows in order."""
    for name, raw in listing.filters.items():
        stmt = stmt.where(query.filter_condition(spec.columns[name], name, raw))
    order = _order(listing, spec.columns, key_column)
    if listing.marker:
        stmt = stmt.where(_after_marker(session, spec.model, order, listing.marker))
    stmt = stmt.order_by(*[c.asc() if d == 'asc' else c.desc() for c, d in order])
    if listing.limit:
        stmt = stmt.limit(listing.limit)
    rows = list(session.scalars(stmt))
    if listing.page_reverse:
        rows.reverse()
    return rows


def respond_page(req: falcon.Request, resp: falcon.Response, spec: base.Spec,
                 key_column: Any, listing: query.Listing, rows: Sequence[Any]) -> None:
    items = [query.select_fields(spec.view(row), listing.fields) for row in rows]
    markers = [_Marker(getattr(row, key_column.key)) for row in rows]
    base.respond(resp, 200, {spec.plural: items,
                             spec.links_key: query.links(req, listing, markers)})


def catalogue_list(req: falcon.Request, resp: falcon.Response, session: Session,
                   spec: base.Spec, stmt: Select[Any], key_column: Any) -> None:
    """GET of a catalogue collection: one get_all check, then one page.

    These objects belong to no project, so there is no project scoping.
    """
    base.authorize(req, '%s:get_all' % spec.policy)
    listing = query.parse(req, spec.columns)
    rows = select_page(session, stmt, spec, key_column, listing)
    respond_page(req, resp, spec, key_column, listing, rows)
