"""Reads cost a fixed number of SQL statements, however many rows they show.

Controllers poll GET one LB, lists and the status tree all the time; a
statement per row (an N+1) would make each poll grow with the fleet. Each
request here runs twice, over 5 and over 50 objects, and must issue the same
number of statements both times, no more than today's.
"""
import contextlib
import threading
import uuid

import falcon.testing
import pytest
from sqlalchemy import event

from lbaas.db import session as db
from tests.functional.conftest import LOCAL_V4_SUBNET

SIZES = (5, 50)
# Statements per request on SQLite, BEGIN included (the server databases
# begin implicitly, so they issue one fewer).
CEILINGS = {'one': 3, 'list': 3, 'members': 5, 'pools': 6, 'listeners': 4,
            'status': 7, 'stats': 4}


@contextlib.contextmanager
def counting():
    """Statements this thread sends (the worker's own polls are not counted)."""
    me = threading.get_ident()
    seen = []

    def on_execute(conn, cursor, statement, *args):
        if threading.get_ident() == me:
            seen.append(statement)
    engines = {id(e): e for e in (db.engine('read'), db.engine('write'))}.values()
    for engine in engines:
        event.listen(engine, 'before_cursor_execute', on_execute)
    try:
        yield seen
    finally:
        for engine in engines:
            event.remove(engine, 'before_cursor_execute', on_execute)


def _graph(name, members):
    pool = {'name': 'pool', 'protocol': 'HTTP', 'lb_algorithm': 'ROUND_ROBIN',
            'healthmonitor': {'type': 'TCP', 'delay': 5, 'timeout': 3, 'max_retries': 2},
            'members': [{'address': '10.%d.%d.%d' % (i // 62500, i // 250 % 250, 1 + i % 250),
                         'protocol_port': 80, 'tags': ['m']} for i in range(members)]}
    return {'loadbalancer': {
        'name': name, 'vip_subnet_id': LOCAL_V4_SUBNET, 'tags': ['a', 'b'], 'pools': [pool],
        'listeners': [{'name': 'http', 'protocol': 'HTTP', 'protocol_port': 80,
                       'default_pool': {'name': 'pool'}}]}}


@pytest.fixture(scope='module')
def app(service):
    from lbaas.api import app as api_app
    return falcon.testing.TestClient(api_app.create_app())


def _world(app, size):
    """`size` LBs in a fresh project, the first with `size` members; the paths to read."""
    project = 'p-' + uuid.uuid4().hex[:12]
    headers = {'X-Project-Id': project, 'X-Roles': 'member'}
    lb_ids = []
    for i in range(size):
        resp = app.simulate_post('/v2/lbaas/loadbalancers', headers=headers,
                                 json=_graph('lb%d' % i, size if i == 0 else 1))
        assert resp.status_code == 201, resp.text
        lb_ids.append(resp.json['loadbalancer']['id'])
    pool_id = app.simulate_get('/v2/lbaas/loadbalancers/' + lb_ids[0],
                               headers=headers).json['loadbalancer']['pools'][0]['id']
    paths = {'one': 'loadbalancers/' + lb_ids[0], 'list': 'loadbalancers',
             'members': 'pools/%s/members' % pool_id, 'pools': 'pools',
             'listeners': 'listeners', 'status': 'loadbalancers/%s/status' % lb_ids[0],
             'stats': 'loadbalancers/%s/stats' % lb_ids[0]}
    return headers, {name: '/v2/lbaas/' + path for name, path in paths.items()}


def _statements(app, headers, path):
    app.simulate_get(path, headers=headers)  # first use: caches warm
    with counting() as seen:
        resp = app.simulate_get(path, headers=headers)
    assert resp.status_code == 200, resp.text
    return seen


def test_reads_cost_the_same_statements_for_5_and_50_rows(app, service):
    counts = {}
    for size in SIZES:
        headers, paths = _world(app, size)
        body = app.simulate_get(paths['list'], headers=headers).json
        assert len(body['loadbalancers']) == size
        members = app.simulate_get(paths['members'], headers=headers).json['members']
        assert len(members) == size
        for name, path in paths.items():
            counts.setdefault(name, {})[size] = _statements(app, headers, path)
    print('\n[%s] statements per request: %s' % (
        service['backend'], {name: {n: len(s) for n, s in by.items()}
                             for name, by in counts.items()}))
    for name, by_size in counts.items():
        small, large = (by_size[size] for size in SIZES)
        assert len(large) == len(small), (name, small, large)
        assert len(small) <= CEILINGS[name], (name, small)
