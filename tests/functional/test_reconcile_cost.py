"""What one reconcile pass costs the database (issue: read once, write little).

Adding one member must read the LB's graph once and write in at most three
transactions; here it writes in one (the final settle).
"""
import contextlib
import re

from sqlalchemy import event

from lbaas.controller import leases, reconcile
from lbaas.db import session as db
from lbaas.drivers import base, noop
from tests.functional.conftest import build_tree, held, new_member


@contextlib.contextmanager
def counting():
    """Count graph loads (SELECTs of members by pool) and write transactions."""
    engines = {id(e): e for e in (db.engine('read'), db.engine('write'))}.values()
    counts = {'graph_loads': 0, 'write_transactions': 0, 'statements': 0}
    writing = set()

    def on_execute(conn, cursor, statement, *args):
        counts['statements'] += 1
        text = statement.lstrip().upper()
        if text.startswith('SELECT') and re.search(r'\bFROM MEMBER\b.*\bPOOL_ID IN\b', text, re.S):
            counts['graph_loads'] += 1
        if text.startswith(('INSERT', 'UPDATE', 'DELETE')) or 'FOR UPDATE' in text \
                or text.startswith('BEGIN IMMEDIATE'):
            writing.add(id(conn))

    def on_end(conn):
        if id(conn) in writing:
            counts['write_transactions'] += 1
            writing.discard(id(conn))
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


def test_adding_one_member_loads_the_graph_once_and_writes_once(service):
    client = new_member(service)
    lb_id = client.create_lb()['id']
    pool = build_tree(client, lb_id, '198.18.5.1', monitor=True, rule_value='/a')['pool']
    drivers = base.Drivers(noop.NoopCompute(), noop.NoopNetwork(), noop.NoopAmphora())
    with held(lb_id):
        resp = client.post('pools/%s/members' % pool['id'],
                           {'member': {'address': '198.18.5.2', 'protocol_port': 80}})
        assert resp.status_code == 201, resp.text
        with counting() as counts:
            result = reconcile.reconcile(lb_id, drivers, leases.Lease(lb_id, 'functional-test'))
        assert result.done
        print('\n[%s] add one member: %s' % (service['backend'], counts))
        assert counts['graph_loads'] == 1, counts
        assert counts['write_transactions'] <= 3, counts
        assert client.show('loadbalancers/' + lb_id, 'loadbalancer')[
            'provisioning_status'] == 'ACTIVE'
    member = client.show('pools/%s/members/%s' % (pool['id'], resp.json()['member']['id']),
                         'member')
    assert member['provisioning_status'] == 'ACTIVE'
