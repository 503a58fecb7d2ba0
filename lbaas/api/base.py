"""What every resource module shares: bodies in, envelopes out, list pages."""
import json
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from typing import Any, cast

import falcon
import pydantic
from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from lbaas import config
from lbaas.api import auth, errors, policy, query
from lbaas.db import work
from lbaas.schemas import fields
from lbaas.schemas.common import format_validation_error

# (session, a page of rows) -> the objects the view renders
PlainRows = Callable[[Session, Sequence[Any]], Sequence[Any]]


def context(req: falcon.Request) -> auth.RequestContext:
    return cast(auth.RequestContext, req.context['ctx'])


def read_body(req: falcon.Request, key: str | None = None) -> Any:
    """The JSON body, unwrapped from its envelope `key` when one is named."""
    limit = config.CONF.api_settings.max_request_body_size
    raw = req.bounded_stream.read(limit + 1)  # chunked bodies carry no length
    if len(raw) > limit:
        raise errors.BodyTooLarge()
    try:
        body = json.loads(raw or b'null')
    except (ValueError, UnicodeDecodeError, RecursionError):  # RecursionError: deep nesting
        raise errors.InvalidInput('Invalid JSON body.')
    if key is None:
        return body
    if not isinstance(body, dict) or not isinstance(body.get(key), dict):
        raise errors.InvalidInput("Invalid input: the body must be an object "
                                  "with the key '%s'." % key)
    return body[key]


def validate(schema: type[pydantic.BaseModel], data: Any) -> Any:
    try:
        return schema.model_validate(data)
    except pydantic.ValidationError as exc:
        raise errors.InvalidInput(format_validation_error(exc))


def respond(resp: falcon.Response, status: int, body: Any = None) -> None:
    resp.status = status
    if body is None:
        resp.text = None
        return
    resp.content_type = 'application/json'
    resp.text = json.dumps(body)


def authorize(req: falcon.Request, action: str, project_id: str | None = None) -> None:
    try:
        policy.authorize(context(req), action, project_id)
    except policy.PolicyForbidden:
        raise errors.Forbidden()


def may(req: falcon.Request, action: str, project_id: str | None = None) -> bool:
    return policy.allowed(context(req), action, project_id)


def scoped_list(req: falcon.Request, resp: falcon.Response, spec: 'Spec',
                stmt: Select[Any], session: Session,
                project_column: Any = None) -> None:
    """Run a list query confined to the caller's project unless allowed global.

    `spec` is the resource's `Listing` description: model, API columns,
    view function, envelope name and policy resource.
    """
    listing = query.parse(req, spec.columns)
    ctx = context(req)
    authorize(req, '%s:get_all' % spec.policy)
    project_column = project_column or spec.model.project_id
    wanted = listing.filters.get('project_id')
    # Members and rules have no get_all-global: the parent's check covers them.
    if spec.policy not in ('member', 'l7rule') and \
            not may(req, '%s:get_all-global' % spec.policy):
        if wanted and wanted != ctx.project_id:
            raise errors.Forbidden()
        stmt = stmt.where(project_column == ctx.project_id)
    if spec.plain is None:
        rows = query.select_page(session, stmt, spec.model, spec.columns, listing)
        shown: Sequence[Any] = rows
    else:  # rows of columns, turned into what the view reads in one go
        rows = query.select_page(session, stmt, spec.model, spec.columns, listing, plain=True)
        shown = spec.plain(session, rows)
    items = [query.select_fields(spec.view(r), listing.fields) for r in shown]
    respond(resp, 200, {spec.plural: items,
                        spec.links_key: query.links(req, listing, rows)})


class Spec:
    """How a resource lists: its model, API columns, view and envelope."""

    def __init__(self, model: Any, columns: dict[str, Any], view: Callable[[Any], dict[str, Any]],
                 plural: str, policy: str, links_key: str | None = None,
                 plain: PlainRows | None = None) -> None:
        self.model = model
        # Lists select plain rows and this reads the rest of what the view needs.
        self.plain = plain
        self.columns = columns
        self.view = view
        self.plural = plural
        self.policy = policy
        self.links_key = links_key or plural + '_links'


def columns(model: Any, own: fields.Fields) -> dict[str, Any]:
    """A resource's list filters and sort keys: API names on the model's columns."""
    return {name: getattr(model, attr) for name, attr in own.filters()}


def not_deleted(model: Any) -> Select[Any]:
    return select(model).where(model.provisioning_status != 'DELETED')


def write() -> AbstractContextManager[Session]:
    """A write transaction: the unit of work wakes a worker for each LB it
    gave work to, once it has committed."""
    return work.writing()
