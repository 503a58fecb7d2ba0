"""SIGKILL the worker in the middle of reconciling; the next worker finishes.

`lbaas api` and `lbaas worker` run as real processes on one database. The
worker is made busy the honest way: many load balancers with large graphs
(listeners, two pools, 200 members, a health monitor, an L7 policy and rule
each; half of them ACTIVE_STANDBY through a flavor), all waiting before it
starts. It is SIGKILLed once it has finished some, holds leases on others and
others still wait. After a new worker runs, nothing may be left PENDING_* and
nothing half-written: every load balancer has exactly the amphorae its
topology needs, each built and configured, no amphora is left over, and
every graph is whole. The same again for a crash in the middle of cascade
deletes (mixed with updates), where the next worker runs as another host and
must wait for the dead worker's leases to expire.

SQLite always; PostgreSQL when it answers on loopback (skipped, with the
reason, when it does not).
"""
import json
import os
import signal
import tempfile
import time
import uuid

import pytest
import requests
import sqlalchemy
from sqlalchemy import text
from urllib3.util.retry import Retry

from tests.functional import served

LOCAL_V4_SUBNET = '9c3e0f7e-3f0b-4d8e-8d5b-2b6f9a4c1d01'
POSTGRES_ADMIN_URL = 'postgresql+psycopg://postgres@127.0.0.1/postgres'
POSTGRES_URL = 'postgresql+psycopg://postgres@127.0.0.1/%s'
LOAD_BALANCERS = 30
MEMBERS = 200
ROLES = {'SINGLE': ['STANDALONE'], 'ACTIVE_STANDBY': ['BACKUP', 'MASTER']}
TABLES = ('load_balancer', 'listener', 'pool', 'member', 'health_monitor', 'l7policy',
          'l7rule')
SETTLE_TIMEOUT = 120.0


class Deployment:
    """One database, `lbaas api` over it, and workers started on demand."""

    def __init__(self, backend, state_dir, database_url):
        self.backend = backend
        self.state_dir = state_dir
        self.config = served.write_config(state_dir, database_url)
        self.db = sqlalchemy.create_engine(
            database_url or 'sqlite:///' + os.path.join(state_dir, 'lbaas.sqlite'))
        self.procs = []
        self.api = None
        self.base = None
        self.http = requests.Session()
        # As a client does: a GET answered 503 is tried again after its Retry-After.
        self.http.mount('http://', requests.adapters.HTTPAdapter(max_retries=Retry(
            total=2, status_forcelist=[503], allowed_methods=['GET'], raise_on_status=False)))

    def start(self):
        migrate = served.Proc(['db', 'upgrade', '--config-file', self.config,
                               '--state-dir', self.state_dir], self.state_dir, 'db-upgrade')
        assert migrate.popen.wait(120) == 0, migrate.tail()
        migrate.output.close()
        self.api, endpoint = served.start_api(self.state_dir, self.config)
        self.procs.append(self.api)
        self.base = endpoint + '/v2/lbaas/'

    def worker(self, name, other_host=False):
        extra = None
        if other_host:
            extra = os.path.join(self.state_dir, 'other-host.conf')
            with open(extra, 'w') as f:
                f.write('[DEFAULT]\nhost = crash-test-other-host\n')
        proc = served.start_worker(self.state_dir, self.config, name, extra)
        self.procs.append(proc)
        return proc

    def stop(self):
        for proc in reversed(self.procs):
            if proc.popen.poll() is None:
                proc.stop()
            elif not proc.output.closed:
                proc.output.close()
        self.db.dispose()

    # --- HTTP -----------------------------------------------------------------
    def call(self, method, path, body=None, expect=(200, 201, 202, 204)):
        resp = self.http.request(method, self.base + path, json=body, timeout=120)
        assert resp.status_code in expect, '%s %s: %d %s' % (method, path, resp.status_code,
                                                             resp.text[:500])
        return resp.json() if resp.content else None

    # --- the database, read directly -------------------------------------------------
    def rows(self, sql, **params):
        with self.db.connect() as conn:
            return [dict(r._mapping) for r in conn.execute(text(sql), params)]

    def scalar(self, sql, **params):
        with self.db.connect() as conn:
            return conn.execute(text(sql), params).scalar()

    def pending_count(self):
        return self.scalar("SELECT count(*) FROM load_balancer "
                           "WHERE provisioning_status LIKE 'PENDING%'")

    def leased(self):
        return self.rows("SELECT id, provisioning_status, lease_owner FROM load_balancer "
                         "WHERE lease_owner IS NOT NULL")


def _make_deployment(backend):
    state_dir = tempfile.mkdtemp(prefix='lbaas-crash-%s-' % backend)
    url = dropper = None
    if backend == 'postgresql':
        name = 'lbaas_crash_%s' % uuid.uuid4().hex[:8]
        try:
            admin = sqlalchemy.create_engine(POSTGRES_ADMIN_URL, isolation_level='AUTOCOMMIT')
            with admin.connect() as conn:
                conn.exec_driver_sql('CREATE DATABASE %s' % name)
        except Exception as exc:  # no server: say so, never pass silently
            print('\nPostgreSQL crash tests skipped: %s' % exc)
            pytest.skip('PostgreSQL not reachable on 127.0.0.1: %s' % exc)
        url, dropper = POSTGRES_URL % name, (admin, name)
    return Deployment(backend, state_dir, url), dropper


@pytest.fixture(scope='module', params=['sqlite', 'postgresql'])
def deployment(request):
    dep, dropper = _make_deployment(request.param)
    try:
        dep.start()
        yield dep
    finally:
        dep.stop()
        if dropper:
            admin, name = dropper
            with admin.connect() as conn:
                conn.exec_driver_sql('DROP DATABASE IF EXISTS %s WITH (FORCE)' % name)
            admin.dispose()


def _graph(index, flavor_id):
    members = [{'address': '198.18.%d.%d' % (100 + i // 250, 1 + i % 250),
                'protocol_port': 8080, 'weight': 1 + i % 5} for i in range(MEMBERS)]
    body = {'name': 'crash-%02d' % index, 'vip_subnet_id': LOCAL_V4_SUBNET,
            'listeners': [{'name': 'http', 'protocol': 'HTTP', 'protocol_port': 80,
                           'default_pool': {'name': 'web'},
                           'l7policies': [{'action': 'REDIRECT_TO_POOL',
                                           'redirect_pool': {'name': 'api'},
                                           'rules': [{'type': 'PATH',
                                                      'compare_type': 'STARTS_WITH',
                                                      'value': '/api'}]}]}],
            'pools': [{'name': 'web', 'protocol': 'HTTP', 'lb_algorithm': 'ROUND_ROBIN',
                       'healthmonitor': {'type': 'HTTP', 'delay': 5, 'timeout': 3,
                                         'max_retries': 2},
                       'members': members},
                      {'name': 'api', 'protocol': 'HTTP', 'lb_algorithm': 'LEAST_CONNECTIONS',
                       'members': members[:5]}]}
    if index % 2:
        body['flavor_id'] = flavor_id
    return {'loadbalancer': body}


def _wait_for(predicate, timeout, what):
    deadline = time.time() + timeout
    while True:
        value = predicate()
        if value:
            return value
        assert time.time() < deadline, 'timed out waiting for %s' % what
        time.sleep(0.01)


# A leased LB whose reconcile has begun and not ended: its amphorae are being
# built (PENDING_CREATE: rows exist, the LB is not ACTIVE yet) or torn down
# (PENDING_DELETE: fewer live amphorae than its topology needs, LB not DELETED).
STARTED = {
    'PENDING_CREATE': "SELECT lb.id FROM load_balancer lb WHERE lb.lease_owner = :owner "
                      "AND lb.provisioning_status = 'PENDING_CREATE' AND EXISTS "
                      "(SELECT 1 FROM amphora a WHERE a.load_balancer_id = lb.id)",
    'PENDING_DELETE': "SELECT lb.id FROM load_balancer lb WHERE lb.lease_owner = :owner "
                      "AND lb.provisioning_status = 'PENDING_DELETE' AND "
                      "(SELECT count(*) FROM amphora a WHERE a.load_balancer_id = lb.id "
                      "AND a.status != 'DELETED') < "
                      "(CASE lb.topology WHEN 'SINGLE' THEN 1 ELSE 2 END)",
}


def _kill_mid_reconcile(dep, worker, pending_kind, done_status, min_done):
    """SIGKILL `worker` once `min_done` of our LBs reached `done_status` and it
    is half way through reconciling one in `pending_kind`; return those."""
    owner = None

    def caught():
        nonlocal owner
        if owner is None:
            owners = {r['lease_owner'] for r in dep.leased()
                      if r['lease_owner'].endswith(':%d' % worker.pid)}
            owner = owners.pop() if owners else None
            if owner is None:
                return None
        started = dep.rows(STARTED[pending_kind], owner=owner)
        if not started:
            return None
        done = dep.scalar("SELECT count(*) FROM load_balancer WHERE name LIKE 'crash-%' "
                          "AND provisioning_status = :s", s=done_status)
        if done < min_done:
            return None
        # Freeze the worker, then look again: a pass can end between our look
        # and the kill, and only a frozen worker is certainly mid-way.
        os.kill(worker.pid, signal.SIGSTOP)
        started = dep.rows(STARTED[pending_kind], owner=owner)
        if not started:
            os.kill(worker.pid, signal.SIGCONT)
        return started or None
    held = _wait_for(caught, SETTLE_TIMEOUT, 'the worker to be mid-way (%s)' % pending_kind)
    worker.kill()
    still_pending = dep.pending_count()
    print('\n[%s] SIGKILLed %s half way through %d LB(s); %d LB(s) still PENDING'
          % (dep.backend, worker.name, len(held), still_pending))
    assert still_pending > 0, 'the worker finished before it was killed'
    # The dead worker's leases are still on the rows: the crash left them behind.
    orphaned = [r for r in dep.leased() if r['lease_owner'].endswith(':%d' % worker.pid)]
    assert orphaned, 'no lease of the dead worker left: it was not caught mid-reconcile'
    return held


def _settle(dep):
    _wait_for(lambda: dep.pending_count() == 0, SETTLE_TIMEOUT, 'every LB to settle')


def _assert_consistent(dep, deleted=(), updated=()):
    """Nothing PENDING_*, nothing half-written, nothing left over."""
    for table in TABLES:
        stuck = dep.rows("SELECT id, provisioning_status FROM %s "
                         "WHERE provisioning_status LIKE 'PENDING%%' "
                         "OR provisioning_status = 'ERROR'" % table)
        assert not stuck, '%s rows left behind: %s' % (table, stuck[:5])
    lbs = {r['id']: r for r in dep.rows(
        "SELECT id, name, topology, provisioning_status, lease_owner FROM load_balancer "
        "WHERE name LIKE 'crash-%'")}
    assert len(lbs) == LOAD_BALANCERS
    amphorae = dep.rows("SELECT id, load_balancer_id, status, role, compute_id, "
                        "config_digest FROM amphora")
    live = [a for a in amphorae if a['status'] != 'DELETED']
    for lb in lbs.values():
        assert lb['lease_owner'] is None, lb
        mine = [a for a in live if a['load_balancer_id'] == lb['id']]
        if lb['id'] in deleted:
            assert lb['provisioning_status'] == 'DELETED', lb
            assert not mine, 'amphorae left on deleted LB %s: %s' % (lb['name'], mine)
            for table in ('listener', 'pool'):
                assert not dep.scalar('SELECT count(*) FROM %s WHERE load_balancer_id = :i'
                                      % table, i=lb['id'])
            continue
        assert lb['provisioning_status'] == 'ACTIVE', lb
        assert sorted(a['role'] for a in mine) == ROLES[lb['topology']], (lb, mine)
        for amphora in mine:
            assert amphora['status'] == 'ALLOCATED', amphora
            assert amphora['compute_id'] and amphora['config_digest'], amphora
        members = dep.scalar('SELECT count(*) FROM member m JOIN pool p ON m.pool_id = p.id '
                             'WHERE p.load_balancer_id = :i', i=lb['id'])
        assert members == MEMBERS + 5, (lb['name'], members)
    assert {lb['topology'] for lb in lbs.values()} == set(ROLES)
    # No leftovers: every amphora not DELETED serves a live LB of ours, and
    # DELETED ones are detached.
    live_lbs = {i for i, lb in lbs.items() if lb['provisioning_status'] == 'ACTIVE'}
    assert all(a['load_balancer_id'] in live_lbs for a in live), live
    assert all(a['load_balancer_id'] is None for a in amphorae if a['status'] == 'DELETED')
    # Children whose parents are gone.
    for child, parent, column in (('member', 'pool', 'pool_id'),
                                  ('health_monitor', 'pool', 'pool_id'),
                                  ('l7policy', 'listener', 'listener_id'),
                                  ('l7rule', 'l7policy', 'l7policy_id')):
        orphans = dep.scalar('SELECT count(*) FROM %s c WHERE NOT EXISTS '
                             '(SELECT 1 FROM %s p WHERE p.id = c.%s)' % (child, parent, column))
        assert orphans == 0, '%d %s rows without their %s' % (orphans, child, parent)
    # And the API agrees.
    for lb_id in lbs:
        resp = dep.http.get(dep.base + 'loadbalancers/' + lb_id)
        if lb_id in deleted:
            assert resp.status_code == 404, resp.text
        else:
            assert resp.status_code == 200, '%d %s\n%s' % (resp.status_code, resp.text,
                                                           dep.api.tail())
            body = resp.json()['loadbalancer']
            assert body['provisioning_status'] == 'ACTIVE', body
            if lb_id in updated:
                assert body['description'] == 'updated after the crash', body


def test_sigkill_mid_create_then_mid_cascade_delete(deployment):
    dep = deployment
    profile = dep.call('POST', 'flavorprofiles', {'flavorprofile': {
        'name': 'ha', 'provider_name': 'amphora',
        'flavor_data': json.dumps({'loadbalancer_topology': 'ACTIVE_STANDBY'})}})
    flavor = dep.call('POST', 'flavors', {'flavor': {
        'name': 'ha', 'flavor_profile_id': profile['flavorprofile']['id']}})['flavor']

    # Thirty large graphs wait in PENDING_CREATE before any worker runs.
    # One at a time: this test is about the worker, not concurrent API writes.
    started = time.time()
    created = [dep.call('POST', 'loadbalancers', _graph(i, flavor['id']))
               for i in range(LOAD_BALANCERS)]
    ids = [c['loadbalancer']['id'] for c in created]
    assert dep.pending_count() == LOAD_BALANCERS
    print('\n[%s] %d LBs x %d members created in %.1fs' % (
        dep.backend, LOAD_BALANCERS, MEMBERS, time.time() - started))

    # Crash 1: in the middle of creating.
    first = dep.worker('worker-1')
    _kill_mid_reconcile(dep, first, 'PENDING_CREATE', 'ACTIVE', min_done=2)
    half_built = dep.rows("SELECT status, count(*) AS n FROM amphora GROUP BY status")
    print('[%s] amphorae when killed: %s' % (dep.backend, half_built))
    second = dep.worker('worker-2')  # same host: the dead pid's leases are freed at once
    started = time.time()
    _settle(dep)
    print('[%s] worker-2 finished in %.1fs' % (dep.backend, time.time() - started))
    _assert_consistent(dep)

    # Crash 2: in the middle of cascade deletes, with updates mixed in.
    code, _ = second.stop()
    assert code == 0, 'worker-2 did not stop cleanly on SIGTERM:\n' + second.tail()
    deleted, updated = ids[::2], ids[1::4]
    for lb_id in deleted:
        dep.call('DELETE', 'loadbalancers/%s?cascade=true' % lb_id)
    for lb_id in updated:
        dep.call('PUT', 'loadbalancers/' + lb_id,
                 {'loadbalancer': {'description': 'updated after the crash'}})
    third = dep.worker('worker-3')
    _kill_mid_reconcile(dep, third, 'PENDING_DELETE', 'DELETED', min_done=1)
    # Another host cannot tell the pid is dead: it waits out the leases (3 s).
    dep.worker('worker-4', other_host=True)
    started = time.time()
    _settle(dep)
    print('[%s] worker-4 (other host) finished in %.1fs' % (dep.backend, time.time() - started))
    _assert_consistent(dep, deleted=set(deleted), updated=set(updated))
    for proc in dep.procs:
        if proc.name.startswith('worker') and proc.popen.poll() is None:
            assert 'Traceback' not in proc.tail(200), proc.tail(200)
