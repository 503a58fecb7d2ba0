"""The warm pool ([house_keeping] spare_amphora_pool_size), for real.

This module runs a `lbaas serve` of its own with a pool of 2 spares. The
story: the spares appear as READY amphorae that no load balancer owns, each
a running agent in its namespace; a new load balancer takes one (its
amphora is a former spare) and serves; the pool is refilled; an amphora
failover takes a spare too, and the load balancer serves again; an
ACTIVE_STANDBY load balancer takes two. Teardown deletes the spares with
everything else (the module's service checks no namespace is left).
"""
import time

import pytest

from tests.scenario import conftest, traffic
from tests.scenario.test_active_standby import ha_flavor  # noqa: F401 (a fixture)

POOL_SIZE = 2
OPTIONS = {'house_keeping': {'spare_amphora_pool_size': POOL_SIZE, 'spare_check_interval': 0.5}}
REFILL_TIMEOUT = 30.0


@pytest.fixture(scope='module')
def pool_service(request):
    yield from conftest.own_service(request, 'warm pool', OPTIONS, 'w')


@pytest.fixture(scope='module')
def api(pool_service):
    return pool_service.api


@pytest.fixture(scope='module')
def hosts(pool_service):
    member = pool_service.host('member', 'm1', conftest.MEMBER_ADDRESSES[:1])
    member.start_backend(traffic.MEMBER_PORT, name='m1')
    client = pool_service.host('client', 'c', conftest.CLIENT_ADDRESSES[:1])
    return member, client


def amphorae(service):
    return service.api.call(
        'GET', service.endpoint + '/v2/octavia/amphorae', expect=200).json()['amphorae']


def full_pool(service):
    """The ids of the READY spares once there are POOL_SIZE of them."""
    deadline = time.monotonic() + REFILL_TIMEOUT
    while True:
        spares = {a['id'] for a in amphorae(service)
                  if a['status'] == 'READY' and a['loadbalancer_id'] is None}
        if len(spares) == POOL_SIZE:
            return spares
        assert time.monotonic() < deadline, 'the pool holds %d spare(s)' % len(spares)
        time.sleep(0.2)


def serving(service, lb_id):
    return {a['id'] for a in amphorae(service)
            if a['loadbalancer_id'] == lb_id and a['status'] == 'ALLOCATED'}


def graph(member, name, **fields):
    pool = traffic.pool('p-' + name, [traffic.member(member)])
    return dict({'name': name, 'vip_subnet_id': traffic.V4_SUBNET,
                 'listeners': [traffic.listener(80, pool)]}, **fields)


def create(api, body):
    lb = api.call('POST', 'loadbalancers', {'loadbalancer': body}, expect=201).json()
    api.wait_lb(lb['loadbalancer']['id'])
    return lb['loadbalancer']


def test_spares_are_running_agents_no_lb_owns(pool_service):
    spares = full_pool(pool_service)
    rows = [a for a in amphorae(pool_service) if a['id'] in spares]
    assert all(a['compute_id'] and a['compute_id'].startswith('amp-') for a in rows)
    running = conftest.ip_netns_list()
    assert all(a['compute_id'] in running for a in rows)


def test_a_new_lb_takes_a_spare_serves_and_the_pool_refills(pool_service, api, hosts):
    member, client = hosts
    spares = full_pool(pool_service)
    started = time.monotonic()
    lb = create(api, graph(member, 'warm'))
    traffic.first_good_response(client, traffic.url(lb['vip_address'], 80))
    traffic.record('warm pool: POST to first good response (s)', time.monotonic() - started)
    taken = serving(pool_service, lb['id'])
    assert len(taken) == 1 and taken <= spares
    refilled = full_pool(pool_service)
    assert not refilled & taken

    # A failover replaces the amphora with another spare, and it serves.
    (old,) = taken
    pool_service.api.call('PUT', pool_service.endpoint + '/v2/octavia/amphorae/%s/failover'
                          % old, expect=202)
    deadline = time.monotonic() + REFILL_TIMEOUT
    while serving(pool_service, lb['id']) in (set(), taken):
        assert time.monotonic() < deadline, 'the failover did not finish'
        time.sleep(0.1)
    api.wait_lb(lb['id'])
    assert serving(pool_service, lb['id']) <= refilled
    traffic.first_good_response(client, traffic.url(lb['vip_address'], 80))
    api.delete_lb(lb['id'])


def test_an_active_standby_lb_takes_two_spares(pool_service, api, hosts, ha_flavor):
    member, client = hosts
    spares = full_pool(pool_service)
    lb = create(api, graph(member, 'warm-pair', flavor_id=ha_flavor['id']))
    assert serving(pool_service, lb['id']) == spares
    traffic.first_good_response(client, traffic.url(lb['vip_address'], 80))
    api.delete_lb(lb['id'])
    full_pool(pool_service)
