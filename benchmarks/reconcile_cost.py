"""What one reconcile pass costs the database: figures, never pass/fail.

In one process, on the noop drivers and a fresh SQLite database (or the
server given by --database-url): build an LB with a listener, a pool of N
members, a health monitor and an L7 policy through the API, then for each
change below run the worker's pass until the LB is ACTIVE again, counting SQL
statements, graph loads (SELECTs of members by pool) and write transactions.

    python benchmarks/reconcile_cost.py [--members N] [--database-url URL]

Runs on any checkout of the project (put the checkout first on PYTHONPATH to
measure an older one): it only uses the API app, `registry.load()` and
`reconcile.reconcile(lb_id, drivers, lease)`.
"""
import argparse
import contextlib
import json
import os
import re
import tempfile
import time

from falcon import testing
from sqlalchemy import event

from lbaas import config
from lbaas.controller import leases, reconcile
from lbaas.db import migrate
from lbaas.db import session as db
from lbaas.drivers import registry

DEFAULT_JSON = os.path.join(os.path.dirname(os.path.abspath(__file__)), 'results',
                            'reconcile_cost.json')
HEADERS = {'X-Project-Id': 'bench', 'Content-Type': 'application/json'}
GRAPH_LOAD = re.compile(r'\bFROM member\b.*\bpool_id IN\b', re.S | re.I)


@contextlib.contextmanager
def counting():
    counts = {'statements': 0, 'graph_loads': 0, 'write_transactions': 0}
    writing = set()

    def on_execute(conn, cursor, statement, *args):
        counts['statements'] += 1
        text = statement.lstrip().upper()
        if text.startswith('SELECT') and GRAPH_LOAD.search(statement):
            counts['graph_loads'] += 1
        if text.startswith(('INSERT', 'UPDATE', 'DELETE', 'BEGIN IMMEDIATE')) \
                or 'FOR UPDATE' in text:
            writing.add(id(conn))

    def on_end(conn):
        if id(conn) in writing:
            counts['write_transactions'] += 1
            writing.discard(id(conn))
    engines = {id(e): e for e in (db.engine('read'), db.engine('write'))}.values()
    hooks = (('before_cursor_execute', on_execute), ('commit', on_end), ('rollback', on_end))
    for engine in engines:
        for name, hook in hooks:
            event.listen(engine, name, hook)
    try:
        yield counts
    finally:
        for engine in engines:
            for name, hook in hooks:
                event.remove(engine, name, hook)


def settle(lb_id, drivers):
    """Run passes until the LB is no longer PENDING; returns the counts and seconds."""
    started = time.perf_counter()
    with counting() as counts:
        for _ in range(200):
            lease = leases.claim(lb_id, 'bench:0')
            if lease is None:
                break
            result = reconcile.reconcile(lb_id, drivers, lease)
            if result is not None and not result.done:
                time.sleep(result.requeue_after or 0)
    return dict(counts, ms=round((time.perf_counter() - started) * 1000, 1))


def post(client, path, body):
    resp = client.simulate_post('/v2/lbaas/' + path, json=body, headers=HEADERS)
    assert resp.status_code in (201, 202), resp.text
    return resp.json


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--members', type=int, default=100)
    parser.add_argument('--database-url')
    parser.add_argument('--json', default=DEFAULT_JSON, help='results file (%(default)s)')
    args = parser.parse_args()
    config.load([])
    config.CONF.set_override('state_dir', tempfile.mkdtemp(prefix='lbaas-bench-'))
    config.CONF.set_override('connection', args.database_url, 'database')
    for option in ('compute_driver', 'network_driver', 'amphora_driver'):
        config.CONF.set_override(option, 'noop', 'controller_worker')
    config.CONF.set_override('wakeup_address', '127.0.0.1:9', 'controller_worker')
    migrate.upgrade()
    from lbaas.api import app
    client, drivers = testing.TestClient(app.create_app()), registry.load()
    members = [{'address': '198.18.1.%d' % (i % 250 + 1), 'protocol_port': 1000 + i}
               for i in range(args.members)]
    lb = post(client, 'loadbalancers', {'loadbalancer': {
        'vip_subnet_id': config.local_subnets()[0].id, 'listeners': [{
            'protocol': 'HTTP', 'protocol_port': 80, 'default_pool': {'name': 'web'},
            'l7policies': [{'action': 'REJECT', 'rules': [
                {'type': 'PATH', 'compare_type': 'EQUAL_TO', 'value': '/x'}]}]}],
        'pools': [{'name': 'web', 'protocol': 'HTTP', 'lb_algorithm': 'ROUND_ROBIN',
                   'members': members, 'healthmonitor': {
                       'type': 'HTTP', 'delay': 5, 'timeout': 3, 'max_retries': 2}}]}})
    lb_id, pool_id = lb['loadbalancer']['id'], lb['loadbalancer']['pools'][0]['id']
    rows = {'create the graph': settle(lb_id, drivers)}
    post(client, 'pools/%s/members' % pool_id,
         {'member': {'address': '198.18.2.1', 'protocol_port': 80}})
    rows['add one member'] = settle(lb_id, drivers)
    resp = client.simulate_put('/v2/lbaas/loadbalancers/' + lb_id, headers=HEADERS,
                               json={'loadbalancer': {'description': 'x'}})
    assert resp.status_code == 200, resp.text
    rows['update the LB'] = settle(lb_id, drivers)
    print('%-18s %10s %11s %12s %8s' % ('pass', 'statements', 'graph loads', 'write txns',
                                        'ms'))
    for name, row in rows.items():
        print('%-18s %10d %11d %12d %8.1f' % (name, row['statements'], row['graph_loads'],
                                              row['write_transactions'], row['ms']))
    with open(args.json, 'w') as f:
        json.dump(rows, f, indent=2)
    return rows


if __name__ == '__main__':
    main()
