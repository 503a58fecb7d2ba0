"""What the amphora provider serves and refuses, over HTTP.

Rule: what the API accepts, the data plane serves. SCTP has no data plane
(no SCTP sockets on this kernel), so the amphora provider refuses it at once
with Octavia's 501 body and writes nothing; other providers (noop) still take
it. UDP (nftables), SOURCE_IP_PORT and PROMETHEUS are served.
"""
import pytest

from lbaas.service import providers
from tests.functional.conftest import LOCAL_V4_SUBNET, fault

UNSERVED = sorted(providers.UNSERVED_PROTOCOLS)


def _children(client, lb_id, collection):
    items = client.get(collection).json()[collection]
    return [i for i in items if {'id': lb_id} in i.get('loadbalancers', [])]


@pytest.mark.parametrize('protocol', UNSERVED)
def test_listener_of_an_unserved_protocol_is_501_and_nothing_is_written(client, lb, protocol):
    resp = client.post('listeners', {'listener': {
        'loadbalancer_id': lb['id'], 'protocol': protocol, 'protocol_port': 53}})
    message = fault(resp, 501)
    assert protocol in message and 'amphora' in message
    assert _children(client, lb['id'], 'listeners') == []
    assert client.show('loadbalancers/' + lb['id'], 'loadbalancer')['provisioning_status'] \
        == 'ACTIVE'


@pytest.mark.parametrize('protocol', UNSERVED)
def test_pool_of_an_unserved_protocol_is_501_and_nothing_is_written(client, lb, protocol):
    resp = client.post('pools', {'pool': {
        'loadbalancer_id': lb['id'], 'protocol': protocol, 'lb_algorithm': 'ROUND_ROBIN'}})
    assert protocol in fault(resp, 501)
    assert _children(client, lb['id'], 'pools') == []


def test_validation_still_comes_before_the_provider(client, lb):
    # Octavia validates first and asks the provider last: a bad UDP pool is a 400.
    resp = client.post('pools', {'pool': {
        'loadbalancer_id': lb['id'], 'protocol': 'UDP', 'lb_algorithm': 'ROUND_ROBIN',
        'session_persistence': {'type': 'HTTP_COOKIE'}}})
    fault(resp, 400)


@pytest.mark.parametrize('protocol', UNSERVED)
def test_graph_create_with_an_unserved_protocol_is_501_and_writes_no_lb(client, protocol):
    body = {'vip_subnet_id': LOCAL_V4_SUBNET, 'name': 'graph', 'listeners': [
        {'name': 'web', 'protocol': 'HTTP', 'protocol_port': 80,
         'default_pool': {'name': 'web-pool', 'protocol': 'HTTP',
                          'lb_algorithm': 'ROUND_ROBIN'}},
        {'name': 'dns', 'protocol': protocol, 'protocol_port': 53,
         'default_pool': {'name': 'dns-pool', 'protocol': protocol,
                          'lb_algorithm': 'ROUND_ROBIN'}}]}
    assert protocol in fault(client.post('loadbalancers', {'loadbalancer': body}), 501)
    assert client.get('loadbalancers').json()['loadbalancers'] == []
    assert client.get('listeners').json()['listeners'] == []
    assert client.get('pools').json()['pools'] == []


@pytest.mark.parametrize('protocol', UNSERVED)
def test_the_noop_provider_still_accepts_them(client, protocol):
    noop = client.create_lb(provider='noop_driver')
    listener = client.create('listeners', 'listener', {
        'loadbalancer_id': noop['id'], 'protocol': protocol, 'protocol_port': 53}, noop['id'])
    client.create('pools', 'pool', {
        'listener_id': listener['id'], 'protocol': protocol, 'lb_algorithm': 'ROUND_ROBIN'},
        noop['id'])
    assert client.delete('loadbalancers/%s?cascade=true' % noop['id']).status_code == 204


@pytest.mark.parametrize('protocol', ('TCP', 'HTTP'))
def test_source_ip_port_is_served_by_the_amphora(client, lb, protocol):
    listener = client.create('listeners', 'listener', {
        'loadbalancer_id': lb['id'], 'protocol': protocol, 'protocol_port': 80}, lb['id'])
    pool = client.create('pools', 'pool', {
        'listener_id': listener['id'], 'protocol': protocol,
        'lb_algorithm': 'SOURCE_IP_PORT'}, lb['id'])
    assert pool['lb_algorithm'] == 'SOURCE_IP_PORT'
    shown = client.show('pools/' + pool['id'], 'pool')
    assert shown['provisioning_status'] == 'ACTIVE'
    body = client.update('pools/' + pool['id'], 'pool', {'lb_algorithm': 'ROUND_ROBIN'}, lb['id'])
    assert body['lb_algorithm'] == 'ROUND_ROBIN'
    body = client.update('pools/' + pool['id'], 'pool', {'lb_algorithm': 'SOURCE_IP_PORT'},
                         lb['id'])
    assert body['lb_algorithm'] == 'SOURCE_IP_PORT'


def test_prometheus_listener_is_served_by_the_amphora(client, lb):
    listener = client.create('listeners', 'listener', {
        'loadbalancer_id': lb['id'], 'protocol': 'PROMETHEUS', 'protocol_port': 9100,
        'allowed_cidrs': ['198.18.0.0/24']}, lb['id'])
    shown = client.show('listeners/' + listener['id'], 'listener')
    assert (shown['protocol'], shown['provisioning_status']) == ('PROMETHEUS', 'ACTIVE')
    assert shown['allowed_cidrs'] == ['198.18.0.0/24']
