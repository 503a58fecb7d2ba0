"""Integrity under concurrent writers, on every database.

Each burst fires 10 requests at once (a barrier releases them together).
With the worker held off the load balancer, exactly one write may win: it
makes the LB PENDING_UPDATE and every other write must see that and answer
409. A DELETE is never undone by a racing PUT, a quota is never exceeded,
and after a mixed hammer each amphora runs what the database describes.
"""
import concurrent.futures
import random
import threading
import time

import pytest
import requests
from sqlalchemy import select

from lbaas import config
from lbaas.controller import reconcile, snapshot
from lbaas.db import models
from lbaas.db import session as db
from lbaas.drivers import base, noop
from tests.functional.conftest import LOCAL_V4_SUBNET, build_tree, held, new_admin, new_member

BURST = 10
DRIVERS = base.Drivers(noop.NoopCompute(), noop.NoopNetwork(), noop.NoopAmphora())


def burst(client, calls):
    """Run (method, path, body) calls at the same instant; return status codes."""
    barrier = threading.Barrier(len(calls))
    headers = dict(client.session.headers)

    def one(call):
        method, path, body = call
        barrier.wait()
        return requests.request(method, client.url(path), json=body, headers=headers,
                                timeout=60).status_code
    with concurrent.futures.ThreadPoolExecutor(len(calls)) as pool:
        return list(pool.map(one, calls))


def one_wins(codes, success):
    assert sorted(codes) == sorted([success] + [409] * (len(codes) - 1)), codes


@pytest.fixture
def tree(service):
    client = new_member(service)
    lb = client.create_lb()
    objects = build_tree(client, lb['id'], '198.18.7.10', monitor=True, rule_value='/x')
    return client, lb['id'], objects


def _same(method, path, body):
    return [(method, path, body)] * BURST


def _writes(objects, lb_id):
    """Every kind of write, as a burst of 10 (the same or similar requests)."""
    pool, policy = objects['pool']['id'], objects['policy']['id']
    member, rule = objects['member']['id'], objects['rule']['id']
    return {
        'lb put': _same('PUT', 'loadbalancers/' + lb_id, {'loadbalancer': {'name': 'x'}}),
        'listener put': _same('PUT', 'listeners/' + objects['listener']['id'],
                              {'listener': {'name': 'x'}}),
        'listener post': [('POST', 'listeners', {'listener': {
            'loadbalancer_id': lb_id, 'protocol': 'TCP', 'protocol_port': 1000 + i}})
            for i in range(BURST)],
        'pool put': _same('PUT', 'pools/' + pool, {'pool': {'name': 'x'}}),
        'pool post': _same('POST', 'pools', {'pool': {
            'loadbalancer_id': lb_id, 'protocol': 'HTTP', 'lb_algorithm': 'ROUND_ROBIN'}}),
        'member put': _same('PUT', 'pools/%s/members/%s' % (pool, member),
                            {'member': {'weight': 7}}),
        'member post': [('POST', 'pools/%s/members' % pool, {'member': {
            'address': '198.18.7.%d' % (100 + i), 'protocol_port': 80}})
            for i in range(BURST)],
        'member batch': [('PUT', 'pools/%s/members' % pool, {'members': [
            {'address': '198.18.7.%d' % (200 + i), 'protocol_port': 80}]})
            for i in range(BURST)],
        'monitor put': _same('PUT', 'healthmonitors/' + objects['healthmonitor']['id'],
                             {'healthmonitor': {'delay': 3}}),
        'policy put': _same('PUT', 'l7policies/' + policy, {'l7policy': {'position': 1}}),
        'policy post': _same('POST', 'l7policies', {'l7policy': {
            'listener_id': objects['listener']['id'], 'action': 'REJECT'}}),
        'rule put': _same('PUT', 'l7policies/%s/rules/%s' % (policy, rule),
                          {'rule': {'value': '/y'}}),
        'rule post': _same('POST', 'l7policies/%s/rules' % policy, {'rule': {
            'type': 'PATH', 'compare_type': 'STARTS_WITH', 'value': '/z'}}),
        'lb failover': _same('PUT', 'loadbalancers/%s/failover' % lb_id, None),
    }


SUCCESS = {'POST': 201, 'PUT': 200, 'DELETE': 204}
KINDS = list(_writes({k: {'id': 'x'} for k in ('pool', 'policy', 'member', 'rule',
                                               'listener', 'healthmonitor')}, 'x'))


@pytest.mark.parametrize('kind', KINDS)
def test_a_burst_of_writes_accepts_exactly_one(service, tree, kind):
    client, lb_id, objects = tree
    caller = new_admin(service) if kind == 'lb failover' else client  # admin only
    calls = _writes(objects, lb_id)[kind]
    method, path, _ = calls[0]
    success = 202 if path.endswith(('/failover', '/members')) and method == 'PUT' \
        else SUCCESS[method]
    with held(lb_id):
        one_wins(burst(caller, calls), success)
    client.wait_lb(lb_id)


@pytest.mark.parametrize('path', ['listeners', 'pools', 'healthmonitors', 'l7policies',
                                  'members', 'rules'])
def test_a_burst_of_deletes_accepts_exactly_one(tree, path):
    client, lb_id, objects = tree
    paths = {'listeners': 'listeners/' + objects['listener']['id'],
             'pools': 'pools/' + objects['pool']['id'],
             'healthmonitors': 'healthmonitors/' + objects['healthmonitor']['id'],
             'l7policies': 'l7policies/' + objects['policy']['id'],
             'members': 'pools/%s/members/%s' % (objects['pool']['id'],
                                                 objects['member']['id']),
             'rules': 'l7policies/%s/rules/%s' % (objects['policy']['id'],
                                                  objects['rule']['id'])}
    with held(lb_id):
        one_wins(burst(client, _same('DELETE', paths[path], None)), 204)
    client.wait_lb(lb_id)
    assert client.get(paths[path]).status_code == 404


@pytest.mark.parametrize('round_', range(3))
def test_a_delete_raced_by_puts_is_never_undone(tree, round_):
    client, lb_id, _ = tree
    calls = [('DELETE', 'loadbalancers/%s?cascade=true' % lb_id, None)] + \
        _same('PUT', 'loadbalancers/' + lb_id, {'loadbalancer': {'name': 'racer'}})[1:]
    random.shuffle(calls)
    codes = burst(client, calls)
    deleted = codes[[c[0] for c in calls].index('DELETE')] == 204
    if deleted:
        client.wait_lb(lb_id, 'DELETED', timeout=30)
        time.sleep(0.5)  # a resurrection would show now
        assert client.get('loadbalancers/' + lb_id).status_code == 404
        assert not _live_amphorae(lb_id)
    else:  # the worker may settle a PUT between two others: several can win
        assert set(codes) == {200, 409}, codes
        client.wait_lb(lb_id)


def _live_amphorae(lb_id):
    with db.reading() as session:
        return list(session.scalars(select(models.Amphora.id).where(
            models.Amphora.load_balancer_id == lb_id, models.Amphora.status != 'DELETED')))


@pytest.fixture
def quota_of_five(service):
    config.CONF.set_override('enforce_quotas_noauth', True, 'api_settings')
    client, admin = new_member(service), new_admin(service)

    def limit(**values):
        assert admin.put('quotas/' + client.project_id,
                         {'quota': values}).status_code == 202
    yield client, limit
    config.CONF.clear_override('enforce_quotas_noauth', 'api_settings')


def test_a_quota_of_five_holds_against_ten_concurrent_lb_creates(quota_of_five):
    client, limit = quota_of_five
    limit(loadbalancer=5)
    codes = burst(client, _same('POST', 'loadbalancers',
                                {'loadbalancer': {'vip_subnet_id': LOCAL_V4_SUBNET}}))
    assert sorted(codes) == [201] * 5 + [403] * 5, codes
    listed = client.get('loadbalancers').json()['loadbalancers']
    assert len(listed) == 5


def test_a_quota_of_five_holds_against_ten_concurrent_listener_creates(quota_of_five):
    client, limit = quota_of_five
    lbs = [client.create_lb()['id'] for _ in range(BURST)]
    limit(listener=5)
    codes = burst(client, [('POST', 'listeners', {'listener': {
        'loadbalancer_id': lb_id, 'protocol': 'HTTP', 'protocol_port': 80}})
        for lb_id in lbs])
    assert sorted(codes) == [201] * 5 + [403] * 5, codes
    assert len(client.get('listeners').json()['listeners']) == 5


def _hammer_call(rng, lb_ids, pools):
    lb_id = rng.choice(lb_ids)
    pool = pools[lb_id]
    choice = rng.randrange(5)
    if choice == 0:
        return 'PUT', 'loadbalancers/' + lb_id, {'loadbalancer': {
            'description': str(rng.random())}}
    if choice == 1:
        return 'PUT', 'pools/%s/members' % pool, {'members': [
            {'address': '198.18.8.%d' % host, 'protocol_port': 80,
             'weight': rng.randrange(1, 10)}  # distinct: a batch may not repeat a member
            for host in rng.sample(range(1, 250), rng.randrange(1, 4))]}
    if choice == 2:
        return 'POST', 'pools/%s/members' % pool, {'member': {
            'address': '198.18.9.%d' % rng.randrange(1, 250), 'protocol_port': 80}}
    if choice == 3:
        return 'PUT', 'pools/' + pool, {'pool': {'lb_algorithm': rng.choice(
            ['ROUND_ROBIN', 'LEAST_CONNECTIONS', 'SOURCE_IP'])}}
    return 'GET', 'loadbalancers/%s/status' % lb_id, None


def test_after_a_mixed_hammer_every_amphora_runs_its_database_state(service):
    client = new_member(service)
    lb_ids = [client.create_lb()['id'] for _ in range(3)]
    pools = {lb_id: build_tree(client, lb_id, '198.18.8.1')['pool']['id'] for lb_id in lb_ids}
    headers = dict(client.session.headers)
    deadline = time.monotonic() + 30
    codes = []

    def hammer(seed):
        rng, session = random.Random(seed), requests.Session()
        while time.monotonic() < deadline:
            method, path, body = _hammer_call(rng, lb_ids, pools)
            codes.append(session.request(method, client.url(path), json=body,
                                         headers=headers, timeout=60).status_code)
    with concurrent.futures.ThreadPoolExecutor(6) as pool:
        list(pool.map(hammer, range(6)))
    assert codes and not [c for c in codes if c >= 500], sorted(set(codes))
    assert set(codes) <= {200, 201, 202, 409}, sorted(set(codes))
    for lb_id in lb_ids:
        client.wait_lb(lb_id, timeout=30)
        wanted, running = _digests(lb_id)
        assert running and running == wanted, (wanted, running)


def _digests(lb_id):
    """(digests of the database's state, digests the LB's amphorae run)."""
    snap = snapshot.load(lb_id)
    wanted = {reconcile.render_bundle(snap, a.value, DRIVERS).digest() for a in snap.amphorae}
    return wanted, {a.value.config_digest for a in snap.amphorae}


def test_ten_concurrent_lb_creates_all_get_their_own_vip(service):
    client = new_member(service)
    codes = burst(client, _same('POST', 'loadbalancers',
                                {'loadbalancer': {'vip_subnet_id': LOCAL_V4_SUBNET}}))
    assert codes == [201] * BURST, codes
    lbs = client.get('loadbalancers').json()['loadbalancers']
    assert len({lb['vip_address'] for lb in lbs}) == BURST
