"""A whole load-balancer life, counted: an IPv6 VIP in front of IPv4
members, then a cascade delete that must leave no namespace, link or
process behind.

Counts are of what belongs to this run's service (its amphora state
records, its fabric's ports, processes naming its state dir, its host link),
because other services on a shared host come and go meanwhile; the amphora's
own namespace is also looked for in `ip netns list` itself.
"""
import pytest

from lbaas.drivers.netns import netlink, processes
from lbaas.drivers.netns.layout import StateStore
from tests.scenario import traffic
from tests.scenario.conftest import ip_netns_list, pids_mentioning
from tests.scenario.traffic import answers, url


def inventory(service):
    """What this run's service has on the host right now."""
    records = {r.namespace for r in StateStore(service.state_dir).records()}
    return {
        'amphora namespaces': records,
        'fabric ports': set(service.fabric.port_names()),
        'processes': set(pids_mentioning(service.state_dir)),
        'host link': service.fabric.host_link in netlink.link_names(),
    }



@pytest.fixture
def ipv6_lb(api, members, client):
    pool = traffic.pool('v4-members', [traffic.member(m) for m in members[:3]])
    lb = api.create_lb('ipv6-vip', [traffic.listener(80, pool)],
                       vip_subnet_id=traffic.V6_SUBNET)
    yield lb
    if api.lb_status(lb['id']) != 'DELETED':
        api.delete_lb(lb['id'])


def test_ipv6_vip_in_front_of_ipv4_members_and_a_clean_delete(service, api, client,
                                                               members, request):
    before = inventory(service)
    lb = request.getfixturevalue('ipv6_lb')
    assert ':' in lb['vip_address']
    first = traffic.first_good_response(client, url(lb['vip_address'], 80))
    traffic.record('POST to first good response, IPv6 VIP (s)',
                   lb['seconds_to_active'] + first)

    assert answers(client, url(lb['vip_address'], 80), 9) == {'m1': 3, 'm2': 3, 'm3': 3}
    seen = client.request(url(lb['vip_address'], 80, '/headers')).json()
    assert '.' in seen['peer']  # members are reached over IPv4, from the amphora

    (amphora,) = traffic.amphorae_of(api, lb['id'])
    namespace = amphora['compute_id']
    during = inventory(service)
    assert during['amphora namespaces'] - before['amphora namespaces'] == {namespace}
    assert namespace in ip_netns_list()
    new_ports = during['fabric ports'] - before['fabric ports']
    assert len(new_ports) == 2, new_ports  # management and the local network
    amphora_processes = during['processes'] - before['processes']
    # The agent (and its `ip netns exec` parent until exec), HAProxy master and worker.
    assert len(amphora_processes) >= 3, amphora_processes
    inside = processes.pids_in_namespace(namespace)

    api.delete_lb(lb['id'])
    after = inventory(service)
    assert after == before
    assert namespace not in ip_netns_list()
    assert not any(processes.process_running(pid) for pid in inside)
    with pytest.raises(traffic.NETWORK_ERRORS):
        client.request(url(lb['vip_address'], 80), timeout=2)


def test_load_balancer_without_listeners_goes_online(api):
    """As with Octavia's first heartbeat: the amphora answers, so the LB is
    ONLINE even with nothing to serve yet."""
    lb = api.create_lb('no-listeners')
    try:
        api.wait_operating('loadbalancers/' + lb['id'], 'loadbalancer', 'ONLINE', timeout=10)
    finally:
        api.delete_lb(lb['id'])
