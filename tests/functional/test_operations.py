"""What operators point their tools at: /healthcheck, /metrics, and the
noauth identity subset the openstack CLI resolves projects through.

All against the in-process `service` (noauth) on every database backend.
"""
import datetime
import math
import time

import falcon
import falcon.testing
import pytest
import sqlalchemy
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import func, select

from lbaas import config
from lbaas.api import auth, errors, health, metrics
from lbaas.db import models
from lbaas.db import session as db
from tests.functional.conftest import _free_port, status_of

KIND_MODELS = {
    'loadbalancer': models.LoadBalancer, 'listener': models.Listener,
    'pool': models.Pool, 'member': models.Member,
    'healthmonitor': models.HealthMonitor, 'l7policy': models.L7Policy,
}


# --- /healthcheck ------------------------------------------------------------------
def test_healthcheck_answers_ok_without_credentials(service, admin):
    resp = admin.session.get(service['url'] + '/healthcheck', headers={'Accept': ''})
    assert (resp.status_code, resp.text) == (200, 'OK')
    assert resp.headers['Content-Type'].startswith('text/plain')
    assert admin.session.head(service['url'] + '/healthcheck').status_code == 204
    resp = admin.get('/healthcheck', headers={'Accept': 'application/json'})
    assert resp.json() == {'detailed': False, 'reasons': ['OK']}
    resp = admin.get('/healthcheck', headers={'Accept': 'text/html'})
    assert resp.status_code == 200 and '<HTML>' in resp.text


def test_healthcheck_details_only_for_admins(service, admin, client):
    json_accept = {'Accept': 'application/json'}
    body = admin.get('/healthcheck?detailed', headers=json_accept).json()
    assert body['detailed'] is True
    assert [r['reason'] for r in body['reasons']] == ['OK']
    assert 'SELECT 1' in body['reasons'][0]['details']
    # A member (X-Roles: member) asking the same gets the plain form.
    assert client.get('/healthcheck?detailed', headers=json_accept).json() == {
        'detailed': False, 'reasons': ['OK']}


def test_healthcheck_follows_the_database(service, admin, monkeypatch):
    """503 while the database is unreachable, 200 once it answers again."""
    # A dedicated engine on a port nobody listens on: the shared database
    # servers stay up for everyone else.
    unreachable = sqlalchemy.create_engine(
        'postgresql+psycopg://postgres@127.0.0.1:%d/lbaas' % _free_port(),
        connect_args={'connect_timeout': 2})
    monkeypatch.setattr(health, 'database_engine', lambda: unreachable)
    resp = admin.get('/healthcheck', headers={'Accept': 'application/json'})
    assert resp.status_code == 503, resp.text
    assert resp.json()['reasons'] == ['database unreachable']
    assert admin.session.head(service['url'] + '/healthcheck').status_code == 503
    # The API's other answers come from the real engine and are untouched.
    assert admin.get('loadbalancers').status_code == 200

    monkeypatch.undo()
    unreachable.dispose()
    resp = admin.get('/healthcheck')
    assert (resp.status_code, resp.text) == (200, 'OK')


# --- /metrics --------------------------------------------------------------------------
def scrape(caller):
    resp = caller.get('/metrics')
    assert resp.status_code == 200, resp.text
    assert resp.headers['Content-Type'].startswith('text/plain')
    return {family.name: family for family in text_string_to_metric_families(resp.text)}


def samples(family):
    return {tuple(sorted(s.labels.items())): s.value for s in family.samples}


def value(families, name):
    (sample,) = families[name].samples
    return sample.value


def database_counts():
    """What /metrics should say about objects, read straight from the database."""
    counts = {}
    with db.reading() as session:
        for kind, model in KIND_MODELS.items():
            stmt = select(model.provisioning_status, func.count()).group_by(
                model.provisioning_status)
            for status, count in session.execute(stmt):
                counts[(('kind', kind), ('provisioning_status', status))] = count
        attempts = session.scalar(select(func.coalesce(func.sum(models.LoadBalancer.attempts), 0)))
        amphorae = dict(session.execute(
            select(models.Amphora.status, func.count()).group_by(models.Amphora.status)
            .where(models.Amphora.status != 'DELETED')).all())
    return counts, attempts, amphorae


def settled_scrape(caller, attempts=50):
    """A scrape taken while the worker changes nothing (numbers and database agree)."""
    for _ in range(attempts):
        before = database_counts()
        families = scrape(caller)
        if database_counts() == before:
            return families, before
        time.sleep(0.1)
    pytest.fail('the database kept changing during every scrape')


def test_metrics_match_the_database(service, admin, client):
    baseline = samples(scrape(admin)['lbaas_objects'])
    active = (('kind', 'loadbalancer'), ('provisioning_status', 'ACTIVE'))
    lbs = [client.create_lb(name='metrics-%d' % i) for i in range(2)]
    client.create('listeners', 'listener', {'loadbalancer_id': lbs[0]['id'],
                                            'protocol': 'HTTP', 'protocol_port': 80},
                  lbs[0]['id'])

    families, (counts, attempts, amphorae) = settled_scrape(admin)
    objects = samples(families['lbaas_objects'])
    assert objects[active] >= baseline[active] + 2
    for labels, count in counts.items():
        assert objects[labels] == count, labels
    assert {k for k, v in objects.items() if v} == {k for k, v in counts.items() if v}
    by_status = {dict(k)['status']: v for k, v in samples(families['lbaas_amphorae']).items()}
    assert {s: c for s, c in by_status.items() if c} == amphorae
    assert by_status['ALLOCATED'] >= 2
    assert value(families, 'lbaas_reconcile_attempts') == attempts
    errors_now = counts.get((('kind', 'loadbalancer'), ('provisioning_status', 'ERROR')), 0)
    assert value(families, 'lbaas_load_balancers_error') == errors_now
    operating = samples(families['lbaas_load_balancers_operating'])
    assert operating[(('operating_status', 'OFFLINE'),)] >= 2
    for lb in lbs:
        client.delete('loadbalancers/%s?cascade=true' % lb['id'])
        client.wait_lb(lb['id'], 'DELETED')


def test_metrics_heartbeats_certificates_and_pending_age(service, admin, client):
    lb = client.create_lb(name='metrics-hb')
    with db.reading() as session:
        amphora = session.scalars(select(models.Amphora).where(
            models.Amphora.load_balancer_id == lb['id'])).one()
    now = models.utcnow()
    silent_for = config.CONF.health_manager.heartbeat_timeout + 600
    expires = now + datetime.timedelta(seconds=5)  # sooner than any real certificate
    with db.writing() as session:
        # busy: already picked, so nothing fails this amphora over meanwhile.
        session.add(models.AmphoraHealth(amphora_id=amphora.id, busy=True,
                                         last_update=now - datetime.timedelta(seconds=silent_for)))
        saved_expiry = session.get(models.Amphora, amphora.id).cert_expiration
        session.get(models.Amphora, amphora.id).cert_expiration = expires
    try:
        families = scrape(admin)
        assert value(families, 'lbaas_heartbeat_lag_seconds') >= silent_for
        assert value(families, 'lbaas_heartbeat_stale_amphorae') >= 1
        assert value(families, 'lbaas_amphora_cert_expiry_seconds') <= 5
        with status_of('LoadBalancer', lb['id'], 'PENDING_UPDATE'):
            time.sleep(1.1)
            age = value(scrape(admin), 'lbaas_oldest_pending_load_balancer_age_seconds')
            assert age >= 1
    finally:
        with db.writing() as session:
            session.delete(session.get(models.AmphoraHealth, amphora.id))
            session.get(models.Amphora, amphora.id).cert_expiration = saved_expiry
    client.delete('loadbalancers/' + lb['id'])
    client.wait_lb(lb['id'], 'DELETED')


def test_metrics_open_under_noauth(service, client):
    families = scrape(client)  # a member, not an admin
    assert all(name.startswith('lbaas_') for name in families)
    assert not math.isnan(value(families, 'lbaas_heartbeat_lag_seconds'))


def test_metrics_admin_only_under_keystone(service):
    config.CONF.set_override('auth_strategy', 'keystone', 'api_settings')
    try:
        resource = metrics.Metrics()
        member = auth.RequestContext('p-1', 'u-1', ['member'], False, 'req-1')
        admin = auth.RequestContext('p-1', 'u-2', ['admin'], True, 'req-2')
        req = falcon.testing.create_req(path='/metrics')
        req.context['ctx'] = member
        with pytest.raises(errors.Forbidden):
            resource.on_get(req, falcon.Response())
        req.context['ctx'] = admin
        resp = falcon.Response()
        resource.on_get(req, resp)
        assert b'lbaas_objects' in resp.data
    finally:
        config.CONF.clear_override('auth_strategy', 'api_settings')


# --- noauth identity -------------------------------------------------------------------
@pytest.mark.parametrize('prefix', ['', '/v3'])
def test_identity_answers_for_any_project(service, client, prefix):
    project = client.get(prefix + '/projects/anything-at-all').json()['project']
    assert (project['id'], project['name'], project['domain_id'], project['enabled']) == (
        'anything-at-all', 'anything-at-all', 'default', True)
    listed = client.get(prefix + '/projects?name=team-a').json()['projects']
    assert [p['id'] for p in listed] == ['team-a']
    assert client.get(prefix + '/projects').json()['projects'] == []


def test_identity_version_document(service, client):
    version = client.get('/v3').json()['version']
    assert version['id'].startswith('v3') and version['status'] == 'stable'
