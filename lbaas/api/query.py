"""List queries: pagination, sorting, filtering, field selection and tags.

Semantics are Octavia's (api/common/pagination.py): `limit` defaults to and
is capped by `pagination_max_limit`, `marker` is the last id of the previous
page, `page_reverse=True` walks backwards, `sort=k1:asc,k2:desc` (or the
legacy `sort_key`/`sort_dir`), any attribute filters by equality, `fields`
trims the answer, and four tag filters combine.
"""
import dataclasses
import datetime
import math
import urllib.parse
from collections.abc import Mapping, Sequence
from typing import Any

import falcon
from sqlalchemy import Boolean, ColumnElement, Float, Integer, Select, and_, exists, not_, or_
from sqlalchemy.orm import Session
from sqlalchemy.sql import sqltypes

from lbaas import config
from lbaas.api.errors import InvalidInput
from lbaas.db.models import Tag
from lbaas.schemas.common import parse_bool

RESERVED = {'limit', 'marker', 'page_reverse', 'sort', 'sort_key', 'sort_dir',
            'fields', 'tags', 'tags-any', 'not-tags', 'not-tags-any'}


@dataclasses.dataclass
class Listing:
    limit: int | None
    marker: str | None
    page_reverse: bool
    sort: list[tuple[str, str]]
    fields: list[str]
    filters: dict[str, Any]
    tag_filters: dict[str, list[str]]


def _max_limit() -> int | None:
    value = config.CONF.api_settings.pagination_max_limit
    if value == 'infinite':
        return None
    number = int(value)
    return None if number < 0 else number


def _parse_limit(raw: Any) -> int | None:
    ceiling = _max_limit()
    if raw is None:
        return ceiling
    if raw == 'infinite':
        return None
    try:
        number = int(raw)
    except (TypeError, ValueError):  # TypeError: limit given twice
        raise InvalidInput('Supplied pagination limit is not valid: %s' % raw)
    if number < 1:
        return None
    return min(number, ceiling) if ceiling else number


def _parse_sort(params: Mapping[str, Any], sortable: Mapping[str, Any]) -> list[tuple[str, str]]:
    keys: list[tuple[str, str]] = []
    if params.get('sort'):
        for item in _as_list(params['sort']):
            key, _, direction = item.partition(':')
            keys.append((key.strip(), (direction or 'asc').strip()))
    elif params.get('sort_key'):
        names = _as_list(params['sort_key'])
        dirs = _as_list(params.get('sort_dir') or []) or ['asc'] * len(names)
        keys = list(zip(names, dirs + ['asc'] * (len(names) - len(dirs)), strict=False))
    for key, direction in keys:
        if direction not in ('asc', 'desc'):
            raise InvalidInput('Invalid sort direction: %s' % direction)
        if key not in sortable:
            raise InvalidInput('Invalid sort key: %s' % key)
    return keys


def _last(params: Mapping[str, Any], key: str) -> Any:
    """A single-valued parameter given more than once counts its last value (webob)."""
    value = params.get(key)
    return value[-1] if isinstance(value, list) else value


def _as_list(value: Any) -> list[str]:
    values = value if isinstance(value, list) else [value]
    return [part for v in values for part in str(v).split(',') if part]


def parse(req: falcon.Request, columns: Mapping[str, Any]) -> Listing:
    """Read a list request's query string; `columns` maps API names to columns."""
    params = req.params
    filters: dict[str, Any] = {}
    for key, value in params.items():
        if key in RESERVED:
            continue
        if key not in columns:
            raise InvalidInput('One or more arguments are either duplicate or invalid')
        if isinstance(value, list):
            raise InvalidInput('One or more arguments are either duplicate or invalid')
        filters[key] = value
    return Listing(
        limit=_parse_limit(_last(params, 'limit')),
        marker=_last(params, 'marker'),
        page_reverse=str(_last(params, 'page_reverse') or '').lower() == 'true',
        sort=_parse_sort(params, columns),
        fields=requested_fields(req),
        filters=filters,
        tag_filters={k: _as_list(params[k]) for k in
                     ('tags', 'tags-any', 'not-tags', 'not-tags-any') if params.get(k)})


_WHOLE_SECOND = datetime.timedelta(seconds=1)
_BIGGEST = 2 ** 63 - 1  # beyond what any database compares


def _bad_value(name: str, raw: str, reason: str) -> InvalidInput:
    return InvalidInput("Invalid input for field/attribute %s. Value: '%s'. %s"
                        % (name, raw, reason))


def parse_datetime(raw: str) -> datetime.datetime:
    """An ISO 8601 date and time as the columns hold it: naive UTC, whole seconds.

    Accepts what Octavia's API shows (`2017-02-28T00:41:44`) and the usual
    variants: a fraction, `Z` or an offset, a space instead of the `T`.
    Raises ValueError (or OverflowError) for anything else.
    """
    value = datetime.datetime.fromisoformat(raw.strip())
    if value.tzinfo is not None:
        value = value.astimezone(datetime.UTC).replace(tzinfo=None)
    return value.replace(microsecond=0)


def _datetime_condition(column: ColumnElement[Any], name: str,
                        raw: str) -> ColumnElement[bool]:
    """Equality at the second the API shows: [t, t + 1s)."""
    try:
        start = parse_datetime(raw)
    except (ValueError, OverflowError):
        raise _bad_value(name, raw, 'Value should be a date and time in ISO 8601 '
                                    'format, such as 2017-02-28T00:41:44.')
    if start >= datetime.datetime.max - _WHOLE_SECOND:
        return column >= start
    return and_(column >= start, column < start + _WHOLE_SECOND)


def _number(kind: sqltypes.TypeEngine[Any], name: str, raw: str) -> int | float:
    try:
        if isinstance(kind, Integer):
            number = int(raw)
            if abs(number) > _BIGGEST:
                raise ValueError(raw)
            return number
        value = float(raw)
        if not math.isfinite(value):  # MariaDB knows no NaN nor infinity
            raise ValueError(raw)
        return value
    except ValueError:
        what = 'an integer' if isinstance(kind, Integer) else 'a number'
        raise _bad_value(name, raw, 'Value should be %s.' % what)


def filter_condition(column: ColumnElement[Any], name: str, raw: str) -> ColumnElement[bool]:
    """`column == raw`, with `raw` converted to the column's type first.

    A value the column cannot hold answers 400 here, before any database
    sees it: PostgreSQL refuses to compare text with a timestamp.
    """
    kind = column.type
    if isinstance(kind, Boolean):
        return column == parse_bool(raw)
    if isinstance(kind, sqltypes.DateTime):
        return _datetime_condition(column, name, raw)
    if isinstance(kind, (Integer, Float)):
        return column == _number(kind, name, raw)
    if isinstance(kind, sqltypes.String):
        if '\x00' in raw:  # no text column holds one; PostgreSQL cannot even compare
            raise _bad_value(name, raw.replace('\x00', '\\x00'),
                             'Value should not contain a NUL character.')
        return column == raw
    raise InvalidInput('One or more arguments are either duplicate or invalid')


def _tag_conditions(model: Any,
                    tag_filters: Mapping[str, list[str]]) -> list[ColumnElement[bool]]:
    def has(tag: str) -> ColumnElement[bool]:
        return exists().where(Tag.resource_id == model.id, Tag.tag == tag)
    conditions = []
    if 'tags' in tag_filters:
        conditions.append(and_(*[has(t) for t in tag_filters['tags']]))
    if 'tags-any' in tag_filters:
        conditions.append(or_(*[has(t) for t in tag_filters['tags-any']]))
    if 'not-tags' in tag_filters:
        conditions.append(not_(and_(*[has(t) for t in tag_filters['not-tags']])))
    if 'not-tags-any' in tag_filters:
        conditions.append(not_(or_(*[has(t) for t in tag_filters['not-tags-any']])))
    return conditions


def _order(listing: Listing, columns: Mapping[str, Any], model: Any) -> list[tuple[Any, str]]:
    keys = [(columns[k], d) for k, d in listing.sort]
    keys += [(model.created_at, 'asc'), (model.id, 'asc')]
    if listing.page_reverse:
        keys = [(c, 'desc' if d == 'asc' else 'asc') for c, d in keys]
    return keys


def _after_marker(session: Session, base_stmt: Select[Any], model: Any,
                  order: list[tuple[Any, str]], marker_id: str) -> ColumnElement[bool]:
    """Keyset condition: rows strictly after the marker row in `order`."""
    # The list statement carries the joins that sort columns of other tables need.
    values = session.execute(base_stmt.with_only_columns(*[c for c, _ in order])
                             .where(model.id == marker_id)).first()
    if values is None:
        raise InvalidInput('Marker %s could not be found.' % marker_id)
    clauses = []
    for i, (column, direction) in enumerate(order):
        equal_before = [order[j][0] == values[j] for j in range(i)]
        if values[i] is None:
            continue
        step = column > values[i] if direction == 'asc' else column < values[i]
        clauses.append(and_(*equal_before, step))
    return or_(*clauses)


def _fetch(session: Session, stmt: Select[Any], plain: bool) -> list[Any]:
    if plain:
        return list(session.execute(stmt).all())
    return list(session.scalars(stmt).unique())


def select_page(session: Session, stmt: Select[Any], model: Any, columns: Mapping[str, Any],
                listing: Listing, plain: bool = False) -> list[Any]:
    """Apply filters, order and paging to `stmt`; return the page's rows.

    ORM objects, or with `plain` the statement's own rows (a statement of
    columns, not entities).
    """
    base_stmt = stmt
    for key, raw in listing.filters.items():
        stmt = stmt.where(filter_condition(columns[key], key, raw))
    for condition in _tag_conditions(model, listing.tag_filters):
        stmt = stmt.where(condition)
    order = _order(listing, columns, model)
    if listing.marker:
        stmt = stmt.where(_after_marker(session, base_stmt, model, order, listing.marker))
    stmt = stmt.order_by(*[c.asc() if d == 'asc' else c.desc() for c, d in order])
    if listing.limit:
        stmt = stmt.limit(listing.limit)
    rows = _fetch(session, stmt, plain)
    if listing.page_reverse:
        rows.reverse()
    return rows


def links(req: falcon.Request, listing: Listing, rows: Sequence[Any]) -> list[dict[str, str]]:
    """Octavia's `<plural>_links`: next when the page is full, previous after a marker."""
    result: list[dict[str, str]] = []
    if not rows or not listing.limit:
        return result
    base = (config.CONF.api_settings.api_base_uri or req.prefix).rstrip('/') + req.path
    common: list[tuple[str, Any]] = [('limit', listing.limit)]
    if listing.sort:
        common.append(('sort', ','.join('%s:%s' % kd for kd in listing.sort)))
    if len(rows) >= listing.limit:
        query = common + [('marker', rows[-1].id)]
        result.append({'rel': 'next', 'href': base + '?' + urllib.parse.urlencode(query)})
    if listing.marker:
        query = common + [('marker', rows[0].id), ('page_reverse', 'True')]
        result.append({'rel': 'previous', 'href': base + '?' + urllib.parse.urlencode(query)})
    return result


def requested_fields(req: falcon.Request) -> list[str]:
    """`fields` of a GET, repeated or comma separated; [] means every field."""
    return _as_list(req.params.get('fields') or [])


def select_fields(item: dict[str, Any], fields: Sequence[str]) -> dict[str, Any]:
    if not fields:
        return item
    return {k: v for k, v in item.items() if k in fields}
