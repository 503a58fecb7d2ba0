"""A read-only identity subset for noauth, so project arguments resolve.

`openstack loadbalancer quota set ... <project>` and `loadbalancer create
--project <project>` look the project up in the identity service before
talking to the load-balancer API. With `--os-auth-type none --os-endpoint
URL` that identity service is the same endpoint, and the client asks
`GET /projects/<name or id>`, then `GET /projects?name=<name>`, directly
under it (no discovery); clients configured with `/v3` ask there instead.
Without Keystone there is no project registry: every project a request
names exists, its id and name both the string named, in domain `default`.
Served only under `[api_settings] auth_strategy = noauth`.
"""
import json
from typing import Any

import falcon

from lbaas import config

DOMAIN = 'default'
UPDATED = '2025-09-01T00:00:00Z'
PREFIXES = ('', '/v3')


def _base(req: falcon.Request) -> str:
    return (config.CONF.api_settings.api_base_uri or req.prefix).rstrip('/')


def _respond(resp: falcon.Response, body: dict[str, Any]) -> None:
    resp.status = 200
    resp.content_type = 'application/json'
    resp.text = json.dumps(body)


def project_view(req: falcon.Request, project: str) -> dict[str, Any]:
    return {'id': project, 'name': project, 'domain_id': DOMAIN,
            'parent_id': DOMAIN, 'is_domain': False, 'enabled': True,
            'description': '', 'tags': [], 'options': {},
            'links': {'self': '%s/v3/projects/%s' % (_base(req), project)}}


class Version:
    """`GET /v3`: Keystone's version document, as discovery expects it."""

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        _respond(resp, {'version': {
            'id': 'v3.14', 'status': 'stable', 'updated': UPDATED,
            'links': [{'rel': 'self', 'href': _base(req) + '/v3/'}],
            'media-types': [{'base': 'application/json',
                             'type': 'application/vnd.openstack.identity-v3+json'}]}})


class Projects:
    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        # Only a name can be answered: listing "every project" has no meaning.
        name = req.get_param('name')
        projects = [project_view(req, name)] if name else []
        _respond(resp, {'projects': projects, 'links': {
            'self': _base(req) + '/v3/projects', 'next': None, 'previous': None}})


class Project:
    def on_get(self, req: falcon.Request, resp: falcon.Response, project_id: str) -> None:
        _respond(resp, {'project': project_view(req, project_id)})


def routes() -> list[tuple[str, object]]:
    """The identity routes, or none when a real Keystone is in use."""
    if config.CONF.api_settings.auth_strategy != 'noauth':
        return []
    found: list[tuple[str, object]] = [('/v3', Version())]
    for prefix in PREFIXES:
        found += [(prefix + '/projects', Projects()),
                  (prefix + '/projects/{project_id}', Project())]
    return found
