"""Version discovery: `/` lists v2.0 to v2.30, the last CURRENT; `/v2` says "v2"."""
import json

import falcon

from lbaas import config
from lbaas.api import health

LATEST_MINOR = 30
UPDATED = '2025-09-01T00:00:00Z'


class Root:
    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        base = (config.CONF.api_settings.api_base_uri or req.prefix).rstrip('/')
        versions = [{'id': 'v2.%d' % minor,
                     'status': 'CURRENT' if minor == LATEST_MINOR else 'SUPPORTED',
                     'updated': UPDATED,
                     'links': [{'href': base + '/v2', 'rel': 'self'}]}
                    for minor in range(LATEST_MINOR + 1)]
        resp.content_type = 'application/json'
        resp.text = json.dumps({'versions': versions})


class V2:
    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        resp.content_type = 'application/json'
        resp.text = json.dumps('v2')


def routes() -> list[tuple[str, object]]:
    # /healthcheck (lbaas.api.health) is oslo.middleware's, with a database check.
    return [('/', Root()), ('/v2', V2()), ('/v2.0', V2()), *health.routes()]
