"""What the amphora provider serves and refuses, over HTTP.

Rule: what the API accepts, the data plane serves. Today the amphora serves
every protocol Octavia names: UDP and SCTP through nftables full-NAT (SCTP
proven with crafted INIT/INIT-ACK packets, as this kernel has no SCTP
sockets), SOURCE_IP_PORT through HAProxy, PROMETHEUS too. The refusal
mechanism stays (`providers.UNSERVED_PROTOCOLS`, now empty): its tests put
SCTP back in it for their duration and check Octavia's 501 body, and that
nothing is written while other providers (noop) still take it.
"""
import pytest

from lbaas.service import providers
from tests.functional.conftest import LOCAL_V4_SUBNET, fault

UNSERVED = ['SCTP']  # stands in for a protocol the data plane would not serve


@pytest.fixture
def refusing(monkeypatch):
    """The amphora provider refusing SCTP, as it did before nftables served it."""
    monkeypatch.setattr(providers, 'UNSERVED_PROTOCOLS', frozenset(UNSERVED))


def _children(client, lb_id, collection):
    items = client.get(collection).json()[collection]
    return [i for i in items if {'id': lb_id} in i.get('loadbalancers', [])]


@pytest.mark.parametrize('protocol', UNSERVED)
def test_listener_of_an_unserved_protocol_is_501_and_nothing_is_written(client, lb, protocol,
                                                                         refusing):
    resp = client.post('listeners', {'listener': {
        'loadbalancer_id': lb['id'], 'protocol': protocol, 'protocol_port': 53}})
    message = fault(resp, 501)
    assert protocol in message and 'amphora' in message
    assert _children(client, lb['id'], 'listeners') == []
    assert client.show('loadbalancers/' + lb['id'], 'loadbalancer')['provisioning_status'] \
        == 'ACTIVE'


@pytest.mark.parametrize('protocol', UNSERVED)
def test_pool_of_an_unserved_protocol_is_501_and_nothing_is_written(client, lb, protocol,
                                                                     refusing):
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
def test_graph_create_with_an_unserved_protocol_is_501_and_writes_no_lb(client, protocol,
                                                                        refusing):
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
def test_the_noop_provider_still_accepts_them(client, protocol, refusing):
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


def test_nothing_is_unserved_today():
    assert not providers.UNSERVED_PROTOCOLS


def test_sctp_listener_pool_and_monitor_are_served_by_the_amphora(client, lb):
    # What Octavia's amphora answers: 201s, and the LB back to ACTIVE.
    listener = client.create('listeners', 'listener', {
        'loadbalancer_id': lb['id'], 'protocol': 'SCTP', 'protocol_port': 3868}, lb['id'])
    pool = client.create('pools', 'pool', {
        'listener_id': listener['id'], 'protocol': 'SCTP', 'lb_algorithm': 'ROUND_ROBIN',
        'session_persistence': {'type': 'SOURCE_IP'}}, lb['id'])
    client.create('pools/%s/members' % pool['id'], 'member', {
        'address': '198.18.0.21', 'protocol_port': 3868, 'weight': 2}, lb['id'])
    hm = client.create('healthmonitors', 'healthmonitor', {
        'pool_id': pool['id'], 'type': 'SCTP', 'delay': 3, 'timeout': 1,
        'max_retries': 2}, lb['id'])
    assert (listener['protocol'], pool['protocol'], hm['type']) == ('SCTP', 'SCTP', 'SCTP')
    shown = client.show('listeners/' + listener['id'], 'listener')
    assert (shown['provisioning_status'], shown['default_pool_id']) == ('ACTIVE', pool['id'])
    assert client.show('loadbalancers/' + lb['id'], 'loadbalancer')['provisioning_status'] \
        == 'ACTIVE'


def test_graph_create_with_sctp_is_served(client):
    body = {'vip_subnet_id': LOCAL_V4_SUBNET, 'name': 'graph', 'listeners': [
        {'name': 'diameter', 'protocol': 'SCTP', 'protocol_port': 3868,
         'default_pool': {'name': 'diameter-pool', 'protocol': 'SCTP',
                          'lb_algorithm': 'SOURCE_IP',
                          'healthmonitor': {'type': 'SCTP', 'delay': 3, 'timeout': 1,
                                            'max_retries': 2}}}]}
    resp = client.post('loadbalancers', {'loadbalancer': body})
    assert resp.status_code == 201, resp.text
    made = resp.json()['loadbalancer']
    assert [li['protocol'] for li in made['listeners']] == ['SCTP']
    client.wait_lb(made['id'])
    assert client.delete('loadbalancers/%s?cascade=true' % made['id']).status_code == 204
