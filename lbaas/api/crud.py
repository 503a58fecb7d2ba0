"""Generic REST handlers: the objects under a load balancer, and the catalogue.

Listeners, pools, members, health monitors, L7 policies and rules all follow
one pattern: validate the body against the resource's schema, authorize
against the owning project, call the service inside one write transaction,
answer with Octavia's envelope. A `Kind` names the pieces; the handlers here
are shared. `parent` is the id from the URL for members and rules.

The operator catalogue (flavors, availability zones and their profiles) uses
the same handlers as catalogue kinds, marked by `catalogue_key`: they belong
to no project, so the policy is checked without one and before any lookup,
and their lists page on that key column (see `admin_listing`).
"""
import dataclasses
from collections.abc import Callable
from typing import Any

import falcon
from sqlalchemy.orm import Session

from lbaas.api import admin_listing, base, query
from lbaas.db import session as db
from lbaas.schemas.common import apply_null_defaults


@dataclasses.dataclass
class Kind:
    key: str                 # envelope of one object, e.g. 'listener'
    spec: base.Spec          # listing: model, columns, view, plural, policy
    create_schema: Any
    update_schema: Any
    get: Callable[..., Any]            # (session, [parent,] id) -> row
    create: Callable[..., Any]         # (session, [parent,] values) -> row
    update: Callable[..., Any]         # (session, [parent,] id, changes) -> row
    delete: Callable[..., Any]         # (session, [parent,] id)
    list_stmt: Callable[..., Any]      # (session, [parent]) -> select
    null_defaults: dict[str, Any] = dataclasses.field(default_factory=dict)
    parent_project: Callable[[Session, Any], str | None] | None = None  # (session, parent) -> project id
    create_project: Callable[[Session, dict[str, Any]], str | None] | None = None  # (session, values) -> project id
    catalogue_key: Any = None  # catalogue kinds: the column lists page on

    def args(self, parent: str | None, *rest: Any) -> tuple[Any, ...]:
        return ((parent,) if parent is not None else ()) + rest


def _owner_project(kind: Kind, session: Session, parent: str | None,
                   values: dict[str, Any]) -> str | None:
    if kind.parent_project is not None:
        return kind.parent_project(session, parent)
    if kind.create_project is not None:
        return kind.create_project(session, values)
    assert kind.catalogue_key is not None  # a Kind has one of the three
    return None


class Collection:
    def __init__(self, kind: Kind) -> None:
        self.kind = kind

    def on_get(self, req: falcon.Request, resp: falcon.Response, parent: str | None = None) -> None:
        kind = self.kind
        with db.reading() as session:
            if parent is not None:
                assert kind.parent_project is not None  # a child Kind has one
                project = kind.parent_project(session, parent)
                base.authorize(req, '%s:get_all' % kind.spec.policy, project)
            stmt = kind.list_stmt(*kind.args(parent))
            if kind.catalogue_key is not None:
                admin_listing.catalogue_list(req, resp, session, kind.spec, stmt,
                                             kind.catalogue_key)
            else:
                base.scoped_list(req, resp, kind.spec, stmt, session)

    def on_post(self, req: falcon.Request, resp: falcon.Response, parent: str | None = None) -> None:
        kind = self.kind
        values = base.validate(kind.create_schema,
                               base.read_body(req, kind.key)).model_dump()
        with base.write() as session:
            project = _owner_project(kind, session, parent, values)
            base.authorize(req, '%s:post' % kind.spec.policy, project)
            row = kind.create(session, *kind.args(parent, values))
            body = kind.spec.view(row)
        base.respond(resp, 201, {kind.key: body})


class Item:
    def __init__(self, kind: Kind) -> None:
        self.kind = kind

    def _load(self, req: falcon.Request, session: Session, parent: str | None, obj_id: str,
              action: str) -> Any:
        rule = '%s:%s' % (self.kind.spec.policy, action)
        if self.kind.catalogue_key is not None:
            # No project to check against: refuse before the lookup, so a
            # caller who may not see the catalogue learns nothing of its ids.
            base.authorize(req, rule)
            return self.kind.get(session, *self.kind.args(parent, obj_id))
        row = self.kind.get(session, *self.kind.args(parent, obj_id))
        base.authorize(req, rule, row.project_id)
        return row

    def on_get(self, req: falcon.Request, resp: falcon.Response, obj_id: str, parent: str | None = None) -> None:
        with db.reading() as session:
            body = self.kind.spec.view(self._load(req, session, parent, obj_id, 'get_one'))
        base.respond(resp, 200, {self.kind.key: query.select_fields(
            body, query.requested_fields(req))})

    def on_put(self, req: falcon.Request, resp: falcon.Response, obj_id: str, parent: str | None = None) -> None:
        kind = self.kind
        data = base.validate(kind.update_schema, base.read_body(req, kind.key))
        changes = apply_null_defaults(data.model_dump(exclude_unset=True), kind.null_defaults)
        with base.write() as session:
            self._load(req, session, parent, obj_id, 'put')
            row = kind.update(session, *kind.args(parent, obj_id, changes))
            session.flush()  # foreign keys and updated_at as they will be committed
            body = kind.spec.view(row)
        base.respond(resp, 200, {kind.key: body})

    def on_delete(self, req: falcon.Request, resp: falcon.Response, obj_id: str, parent: str | None = None) -> None:
        with base.write() as session:
            self._load(req, session, parent, obj_id, 'delete')
            self.kind.delete(session, *self.kind.args(parent, obj_id))
        base.respond(resp, 204)


class ChildCollection(Collection):
    """Members under /pools/{obj_id}, rules under /l7policies/{obj_id}.

    Falcon needs one field name per path level, so the parent's id arrives
    as `obj_id` and the child's as `child_id`.
    """

    # The responders take Falcon's URL fields, not the parent's signature:
    # hence the [override] ignores here and in ChildItem.
    def on_get(  # type: ignore[override]
            self, req: falcon.Request, resp: falcon.Response, obj_id: str) -> None:
        super().on_get(req, resp, parent=obj_id)

    def on_post(  # type: ignore[override]
            self, req: falcon.Request, resp: falcon.Response, obj_id: str) -> None:
        super().on_post(req, resp, parent=obj_id)


class ChildItem(Item):
    def on_get(  # type: ignore[override]
            self, req: falcon.Request, resp: falcon.Response, obj_id: str,
            child_id: str) -> None:
        super().on_get(req, resp, child_id, parent=obj_id)

    def on_put(  # type: ignore[override]
            self, req: falcon.Request, resp: falcon.Response, obj_id: str,
            child_id: str) -> None:
        super().on_put(req, resp, child_id, parent=obj_id)

    def on_delete(  # type: ignore[override]
            self, req: falcon.Request, resp: falcon.Response, obj_id: str,
            child_id: str) -> None:
        super().on_delete(req, resp, child_id, parent=obj_id)
