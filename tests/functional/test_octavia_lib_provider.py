"""A provider written only against octavia-lib, loaded unchanged.

`tests/providers/tiny_provider.py` is installed under `octavia.api.drivers`
for this module (a `.dist-info` directory on the path) and enabled as
`tiny`; the driver agent's sockets run in this process, as `lbaas serve`
runs them beside its children. The provider is listed, receives each write
with octavia-lib data models, and its DriverLibrary callbacks settle the
objects; the worker leaves its load balancers alone.
"""
import sys
import time

import pytest

from lbaas import config
from lbaas.controller import driver_agent, provider_registry
from tests.functional.conftest import fault
from tests.providers import tiny_provider

PROVIDERS = {'amphora': 'The lbaas amphora provider.',
             'octavia': 'Alias of the amphora provider.',
             'noop_driver': 'The no-op provider.',
             'tiny': 'A tiny provider written against octavia-lib.'}


@pytest.fixture(scope='module')
def tiny(service):
    root = tiny_provider.install()
    sys.path.append(root)
    config.CONF.set_override('enabled_provider_drivers', PROVIDERS, 'api_settings')
    provider_registry.forget()
    agent = driver_agent.start()
    yield tiny_provider
    agent.stop()
    config.CONF.clear_override('enabled_provider_drivers', 'api_settings')
    sys.path.remove(root)
    provider_registry.forget()


def calls(method):
    return [args for name, args in tiny_provider.CALLS if name == method]


def wait_status(client, path, key, status='ACTIVE', timeout=10):
    deadline = time.time() + timeout
    while True:
        resp = client.get(path)
        current = 'DELETED' if resp.status_code == 404 else \
            resp.json()[key]['provisioning_status']
        if current == status:
            return resp.json().get(key)
        assert time.time() < deadline, '%s still %s' % (path, current)
        time.sleep(0.02)


def test_listed_with_its_capabilities(tiny, admin):
    listed = admin.get('providers').json()['providers']
    assert {'name': 'tiny', 'description': PROVIDERS['tiny']} in listed
    flavor = admin.get('providers/tiny/flavor_capabilities').json()
    assert flavor == {'flavor_capabilities': [
        {'name': 'tiny_size', 'description': 'How tiny the load balancer is.'}]}
    zone = admin.get('providers/tiny/availability_zone_capabilities').json()
    assert zone['availability_zone_capabilities'] == [
        {'name': 'tiny_zone', 'description': 'Where the tiny load balancer lives.'}]
    refused = admin.post('flavorprofiles', {'flavorprofile': {
        'name': 'x', 'provider_name': 'tiny', 'flavor_data': '{"huge": true}'}})
    assert fault(refused, 501) == ("Provider 'tiny' does not support a requested option: "
                                   "unknown flavor keys: huge")


def test_unsupported_option_is_501_and_nothing_is_written(tiny, client):
    before = len(client.get('loadbalancers').json()['loadbalancers'])
    resp = client.post('loadbalancers', {'loadbalancer': {
        'name': 'unsupported', 'provider': 'tiny', 'vip_subnet_id': LOCAL_SUBNET}})
    assert fault(resp, 501) == ("Provider 'tiny' does not support a requested option: "
                                "tiny load balancers cannot be called that")
    assert calls('loadbalancer_create')[-1][0]['name'] == 'unsupported'
    assert len(client.get('loadbalancers').json()['loadbalancers']) == before


LOCAL_SUBNET = '9c3e0f7e-3f0b-4d8e-8d5b-2b6f9a4c1d01'


@pytest.fixture(scope='module')
def graph(tiny, owner):
    """An LB of the tiny provider with a listener, a pool and a member, each
    created through the API and settled by the provider's callbacks."""
    client = owner
    lb = client.post('loadbalancers', {'loadbalancer': {
        'name': 'small', 'provider': 'tiny', 'vip_subnet_id': LOCAL_SUBNET}}).json()
    lb = lb['loadbalancer']
    active = wait_status(client, 'loadbalancers/' + lb['id'], 'loadbalancer')
    listener = client.post('listeners', {'listener': {
        'loadbalancer_id': lb['id'], 'protocol': 'HTTP', 'protocol_port': 80}}).json()
    listener = wait_status(client, 'listeners/' + listener['listener']['id'], 'listener')
    pool = client.post('pools', {'pool': {
        'listener_id': listener['id'], 'protocol': 'HTTP',
        'lb_algorithm': 'ROUND_ROBIN'}}).json()['pool']
    pool = wait_status(client, 'pools/' + pool['id'], 'pool')
    members = 'pools/%s/members' % pool['id']
    member = client.post(members, {'member': {
        'address': '198.18.0.50', 'protocol_port': 8080}}).json()['member']
    member = wait_status(client, '%s/%s' % (members, member['id']), 'member')
    wait_status(client, 'loadbalancers/' + lb['id'], 'loadbalancer')
    return {'client': client, 'lb': lb, 'active': active, 'listener': listener,
            'pool': pool, 'members': members, 'member': member}


def settled(graph):
    return wait_status(graph['client'], 'loadbalancers/' + graph['lb']['id'], 'loadbalancer')


def test_creates_reach_the_provider_as_data_models(graph):
    lb, listener, pool, member = (graph[k] for k in ('lb', 'listener', 'pool', 'member'))
    assert graph['active']['operating_status'] == 'ONLINE'  # the provider said so
    created = next(args[0] for args in calls('loadbalancer_create')
               if args[0]['loadbalancer_id'] == lb['id'])
    assert (created['name'], created['vip_address'], created['project_id']) == (
        'small', lb['vip_address'], graph['client'].project_id)
    assert created['vip_subnet_id'] == LOCAL_SUBNET and created['admin_state_up'] is True
    made = calls('listener_create')[-1][0]
    assert (made['listener_id'], made['loadbalancer_id'], made['protocol'],
            made['protocol_port'], made['connection_limit']) == (
        listener['id'], lb['id'], 'HTTP', 80, -1)
    made = calls('pool_create')[-1][0]
    assert (made['pool_id'], made['listener_id'], made['lb_algorithm']) == (
        pool['id'], listener['id'], 'ROUND_ROBIN')
    made = calls('member_create')[-1][0]
    assert (made['member_id'], made['pool_id'], made['address'], made['protocol_port'],
            made['weight']) == (member['id'], pool['id'], '198.18.0.50', 8080, 1)
    assert graph['pool']['provisioning_status'] == 'ACTIVE'


def test_updates_pass_the_old_object_and_what_changed(graph):
    client, lb, member = graph['client'], graph['lb'], graph['member']
    client.put('loadbalancers/' + lb['id'], {'loadbalancer': {'description': 'd'}})
    settled(graph)
    old, new = calls('loadbalancer_update')[-1]
    assert old['description'] is None
    assert new == {'loadbalancer_id': lb['id'], 'description': 'd'}
    path = '%s/%s' % (graph['members'], member['id'])
    client.put(path, {'member': {'weight': 5}})
    wait_status(client, path, 'member')
    old, new = calls('member_update')[-1]
    assert (old['weight'], new) == (1, {'member_id': member['id'],
                                        'pool_id': graph['pool']['id'], 'weight': 5})
    settled(graph)


def test_what_the_provider_does_not_implement_is_501_and_not_written(graph):
    client, pool = graph['client'], graph['pool']
    resp = client.post('healthmonitors', {'healthmonitor': {
        'pool_id': pool['id'], 'type': 'HTTP', 'delay': 5, 'timeout': 3, 'max_retries': 2}})
    assert fault(resp, 501) == ("Provider 'tiny' does not support a requested action: "
                                "This provider does not support creating health monitors.")
    assert client.get('pools/' + pool['id']).json()['pool']['healthmonitor_id'] is None
    resp = client.put(graph['members'], {'members': [{'address': '198.18.0.51',
                                                      'protocol_port': 80}]})
    assert fault(resp, 501).startswith("Provider 'tiny' does not support a requested action")
    listed = client.get(graph['members']).json()['members']
    assert [(m['id'], m['provisioning_status']) for m in listed] == [
        (graph['member']['id'], 'ACTIVE')]


def test_look_ups_answer_provider_data_models(graph):
    looked_up = tiny_provider._library().get_loadbalancer(graph['lb']['id'])
    assert looked_up.loadbalancer_id == graph['lb']['id'] and looked_up.description == 'd'
    assert looked_up.listeners[0]['listener_id'] == graph['listener']['id']
    assert looked_up.pools[0]['members'][0]['member_id'] == graph['member']['id']
    assert tiny_provider._library().get_member('no-such-member') is None


def test_statistics_callbacks_land_in_the_stats(graph):
    client, listener = graph['client'], graph['listener']
    tiny_provider._library().update_listener_statistics({'listeners': [
        {'id': listener['id'], 'active_connections': 3, 'bytes_in': 100, 'bytes_out': 200,
         'request_errors': 1, 'total_connections': 7}]})
    stats = client.get('listeners/%s/stats' % listener['id']).json()['stats']
    assert stats == {'active_connections': 3, 'bytes_in': 100, 'bytes_out': 200,
                     'request_errors': 1, 'total_connections': 7}
    assert client.get('loadbalancers/%s/stats' % graph['lb']['id']).json()['stats'] == stats


def test_deletes_reach_the_provider_and_its_callbacks_remove(graph):
    client, lb = graph['client'], graph['lb']
    steps = (('%s/%s' % (graph['members'], graph['member']['id']), 'member', 'member_id'),
             ('pools/' + graph['pool']['id'], 'pool', 'pool_id'),
             ('listeners/' + graph['listener']['id'], 'listener', 'listener_id'))
    for path, key, id_attr in steps:
        assert client.delete(path).status_code == 204
        wait_status(client, path, key, 'DELETED')
        assert calls('%s_delete' % key)[-1][0][id_attr] == path.rsplit('/', 1)[1]
        settled(graph)
    assert client.delete('loadbalancers/' + lb['id']).status_code == 204
    client.wait_lb(lb['id'], 'DELETED')
    deleted, cascade = calls('loadbalancer_delete')[-1]
    assert (deleted['loadbalancer_id'], cascade) == (lb['id'], False)


def test_the_worker_leaves_external_load_balancers_alone(tiny, client):
    from lbaas.controller import leases
    from lbaas.db import models
    from lbaas.db import session as db
    lb = client.post('loadbalancers', {'loadbalancer': {
        'name': 'alone', 'provider': 'tiny', 'vip_subnet_id': LOCAL_SUBNET}}).json()
    lb_id = lb['loadbalancer']['id']
    assert lb_id not in leases.claimable_ids()
    assert leases.claim(lb_id, 'someone') is None
    wait_status(client, 'loadbalancers/' + lb_id, 'loadbalancer')
    with db.reading() as session:
        row = session.get(models.LoadBalancer, lb_id)
        assert row.amphorae == [] and row.lease_owner is None
    assert client.delete('loadbalancers/' + lb_id).status_code == 204
    client.wait_lb(lb_id, 'DELETED')


def test_lbaas_serve_loads_the_provider_and_serves_its_callbacks(monkeypatch):
    """The same provider under `lbaas serve`: found through PYTHONPATH, called
    in the API's processes, its callbacks served by serve's driver agent."""
    import json
    import os
    import tempfile

    import requests

    from tests.functional import served
    root = tiny_provider.install()
    state_dir = tempfile.mkdtemp(prefix='lbaas-served-')
    log_path = os.path.join(state_dir, 'tiny-calls.jsonl')
    monkeypatch.setenv('PYTHONPATH', root + os.pathsep + os.environ.get('PYTHONPATH', ''))
    monkeypatch.setenv('TINY_PROVIDER_LOG', log_path)
    enabled = 'amphora:The amphora provider,tiny:A tiny provider'
    config_path = served.write_config(state_dir, sections={
        'api_settings': {'enabled_provider_drivers': enabled}})
    proc, url = served.serve(state_dir, config_path)
    try:
        api = requests.Session()
        api.headers['X-Project-Id'] = 'p-tiny'
        names = [p['name'] for p in api.get(url + '/v2/lbaas/providers').json()['providers']]
        assert names == ['amphora', 'tiny']
        resp = api.post(url + '/v2/lbaas/loadbalancers', json={'loadbalancer': {
            'provider': 'tiny', 'vip_subnet_id': LOCAL_SUBNET, 'name': 'served'}})
        assert resp.status_code == 201, resp.text
        path = url + '/v2/lbaas/loadbalancers/' + resp.json()['loadbalancer']['id']
        deadline = time.time() + 45
        while api.get(path).json()['loadbalancer']['provisioning_status'] != 'ACTIVE':
            assert time.time() < deadline, api.get(path).text
            time.sleep(0.05)
        assert api.delete(path).status_code == 204
        while api.get(path).status_code != 404:
            assert time.time() < deadline, api.get(path).text
            time.sleep(0.05)
        with open(log_path) as f:
            methods = [json.loads(line)[0] for line in f]
        assert methods == ['loadbalancer_create', 'loadbalancer_delete']
    finally:
        code, left = proc.stop()
        assert not left and code == 0, proc.tail()
