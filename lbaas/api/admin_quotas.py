"""/v2/lbaas/quotas: per-project limits (reference 1.2 and 1.8).

A limit stored as null means "use the [quotas] default". Responses show the
deprecated spellings `load_balancer` and `health_monitor` next to the
current ones, as Octavia does.
"""
from typing import Any

import falcon
from sqlalchemy import select
from sqlalchemy.orm import Session

from lbaas.api import admin_listing, base, errors, query
from lbaas.db import models
from lbaas.db import session as db
from lbaas.schemas.quota import QuotaUpdate
from lbaas.service import quotas

Q = models.Quota
# Deprecated response spellings, echoing the current field of the same value.
ECHOES = {'load_balancer': 'loadbalancer', 'health_monitor': 'healthmonitor'}


def _limits_body(project_id: str | None, limits: dict[str, Any]) -> dict[str, Any]:
    body = {'project_id': project_id, 'tenant_id': project_id, **limits}
    for old, new in ECHOES.items():
        body[old] = limits[new]
    return body


def stored_view(quota: models.Quota) -> dict[str, Any]:
    """A quota row as stored: unset limits stay null (Octavia's list)."""
    limits = {resource: getattr(quota, column)
              for resource, (column, _, _) in quotas.RESOURCES.items()}
    return _limits_body(quota.project_id, limits)


def effective_view(project_id: str, quota: models.Quota | None) -> dict[str, Any]:
    """The limits in force: unset ones filled from the configured defaults."""
    return _limits_body(project_id, quotas.limits(quota))


def default_view(project_id: str) -> dict[str, Any]:
    return effective_view(project_id, None)


def _columns() -> dict[str, Any]:
    columns = {'project_id': Q.project_id, 'tenant_id': Q.project_id}
    for resource, (column, _, _) in quotas.RESOURCES.items():
        columns[resource] = getattr(Q, column)
    for old, new in ECHOES.items():
        columns[old] = columns[new]
    return columns


SPEC = base.Spec(Q, _columns(), stored_view, 'quotas', 'quota')


def _quota_row(session: Session, project_id: str, lock: bool = False) -> models.Quota | None:
    stmt = select(Q).where(Q.project_id == project_id)
    if lock:
        stmt = stmt.with_for_update()
    return session.scalars(stmt).first()


class Collection:
    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        listing = query.parse(req, SPEC.columns)
        wanted = listing.filters.get('project_id') or listing.filters.get('tenant_id')
        # As Octavia: without get_all-global a caller lists its own project
        # only, and naming another project is refused by get_all's target.
        if not base.may(req, 'quota:get_all-global', wanted):
            wanted = wanted or base.context(req).project_id
            base.authorize(req, 'quota:get_all', wanted)
            listing.filters['project_id'] = wanted
        # Rows made only to serialise quota checks were never set by anyone.
        stmt = select(Q).where(Q.explicit.is_(True))
        with db.reading() as session:
            rows = admin_listing.select_page(session, stmt, SPEC, Q.project_id, listing)
        admin_listing.respond_page(req, resp, SPEC, Q.project_id, listing, rows)


class Item:
    def on_get(self, req: falcon.Request, resp: falcon.Response, project_id: str) -> None:
        # GET /quotas/defaults lands here too and, as in Octavia, answers the
        # defaults of a project called "defaults" under the get_one rule.
        base.authorize(req, 'quota:get_one', project_id)
        with db.reading() as session:
            body = effective_view(project_id, _quota_row(session, project_id))
        base.respond(resp, 200, {'quota': body})

    def on_put(self, req: falcon.Request, resp: falcon.Response, project_id: str) -> None:
        data = base.validate(QuotaUpdate, base.read_body(req, 'quota'))
        base.authorize(req, 'quota:put', project_id)
        changes = data.model_dump(exclude_unset=True)
        with base.write() as session:
            db.insert_ignore(session, Q, project_id=project_id, explicit=False)
            quota = _quota_row(session, project_id, lock=True)
            assert quota is not None  # insert_ignore just made sure of the row
            for resource, value in changes.items():
                setattr(quota, quotas.RESOURCES[resource][0], value)
            quota.explicit = True
            session.flush()
            body = effective_view(project_id, quota)
        base.respond(resp, 202, {'quota': body})

    def on_delete(self, req: falcon.Request, resp: falcon.Response, project_id: str) -> None:
        base.authorize(req, 'quota:delete', project_id)
        with base.write() as session:
            quota = _quota_row(session, project_id, lock=True)
            if quota is None:
                raise errors.NotFound('Quotas', project_id)
            for column, _, _ in quotas.RESOURCES.values():
                setattr(quota, column, None)
            quota.explicit = False
        # Octavia answers 202 with no body (the api-ref says 204).
        base.respond(resp, 202)


class Defaults:
    def on_get(self, req: falcon.Request, resp: falcon.Response, project_id: str) -> None:
        base.authorize(req, 'quota:get_defaults', project_id)
        base.respond(resp, 200, {'quota': default_view(project_id)})


def routes() -> list[tuple[str, object]]:
    return [('/quotas', Collection()), ('/quotas/{project_id}', Item()),
            ('/quotas/{project_id}/default', Defaults())]
