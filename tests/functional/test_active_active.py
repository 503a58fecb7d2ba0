"""ACTIVE_ACTIVE on the noop drivers, on every database.

A flavor with `loadbalancer_topology: ACTIVE_ACTIVE` and `amphora_count: N`
gives an LB N amphorae serving at once; the network driver's distribution
names exactly the serving ones. Changing to another ACTIVE_ACTIVE flavor on
the live LB changes N; an amphora failed over is replaced and the
distribution follows. Refusals: amphora_count outside 1..8 or without
ACTIVE_ACTIVE (the provider's 501), a flavor change to or from another
topology (400).
"""
import json
import uuid

import pytest

from lbaas.controller import housekeeping
from lbaas.drivers import base, noop
from tests.functional.conftest import fault


def make_flavor(admin, data):
    profile = admin.post('flavorprofiles', {'flavorprofile': {
        'name': 'aa-' + uuid.uuid4().hex[:6], 'provider_name': 'amphora',
        'flavor_data': json.dumps(data)}})
    assert profile.status_code == 201, profile.text
    flavor = admin.post('flavors', {'flavor': {
        'name': 'aa-' + uuid.uuid4().hex[:6],
        'flavor_profile_id': profile.json()['flavorprofile']['id']}})
    assert flavor.status_code == 201, flavor.text
    return flavor.json()['flavor']['id']


@pytest.fixture(scope='module')
def flavors(service):
    from tests.functional.conftest import new_admin
    admin = new_admin(service)
    return {n: make_flavor(admin, {'loadbalancer_topology': 'ACTIVE_ACTIVE',
                                   'amphora_count': n}) for n in (2, 3)}


def amphorae(admin, lb_id):
    resp = admin.get('/v2/octavia/amphorae?loadbalancer_id=' + lb_id)
    assert resp.status_code == 200, resp.text
    return [a for a in resp.json()['amphorae'] if a['status'] != 'DELETED']


def distribution(service, lb_id):
    return service['drivers'].network.distribution.get(lb_id)


def test_an_lb_gets_amphora_count_amphorae_all_distributed(service, client, admin, flavors):
    lb = client.create_lb(flavor_id=flavors[3])
    mine = amphorae(admin, lb['id'])
    assert len(mine) == 3
    assert {(a['role'], a['status']) for a in mine} == {('STANDALONE', 'ALLOCATED')}
    assert distribution(service, lb['id']) == tuple(sorted(a['id'] for a in mine))


def test_the_amphora_count_changes_on_a_live_lb(service, client, admin, flavors):
    lb = client.create_lb(flavor_id=flavors[2])
    before = {a['id'] for a in amphorae(admin, lb['id'])}
    client.update('loadbalancers/' + lb['id'], 'loadbalancer', {'flavor_id': flavors[3]},
                  lb['id'])
    grown = {a['id'] for a in amphorae(admin, lb['id'])}
    assert len(grown) == 3 and before < grown  # the two serving ones stay
    assert client.show('loadbalancers/' + lb['id'], 'loadbalancer')['flavor_id'] == flavors[3]
    client.update('loadbalancers/' + lb['id'], 'loadbalancer', {'flavor_id': flavors[2]},
                  lb['id'])
    shrunk = {a['id'] for a in amphorae(admin, lb['id'])}
    assert len(shrunk) == 2 and shrunk < grown
    assert distribution(service, lb['id']) == tuple(sorted(shrunk))


def test_a_failed_over_amphora_is_replaced_in_the_distribution(service, client, admin,
                                                               flavors):
    lb = client.create_lb(flavor_id=flavors[2])
    failed, kept = sorted(a['id'] for a in amphorae(admin, lb['id']))
    resp = admin.put('/v2/octavia/amphorae/%s/failover' % failed)
    assert resp.status_code == 202, resp.text
    client.wait_lb(lb['id'])
    now = sorted(a['id'] for a in amphorae(admin, lb['id']))
    assert len(now) == 2 and kept in now and failed not in now
    assert distribution(service, lb['id']) == tuple(now)


def test_deleting_the_lb_removes_its_distribution(service, client, flavors):
    lb = client.create_lb(flavor_id=flavors[2])
    assert client.delete('loadbalancers/' + lb['id']).status_code == 204
    client.wait_lb(lb['id'], 'DELETED')
    assert distribution(service, lb['id']) is None


@pytest.mark.parametrize('data, words', [
    ({'amphora_count': 2}, 'ACTIVE_ACTIVE only'),
    ({'loadbalancer_topology': 'SINGLE', 'amphora_count': 2}, 'ACTIVE_ACTIVE only'),
    ({'loadbalancer_topology': 'ACTIVE_ACTIVE', 'amphora_count': 0}, 'between 1 and 8'),
    ({'loadbalancer_topology': 'ACTIVE_ACTIVE', 'amphora_count': 9}, 'between 1 and 8'),
    ({'loadbalancer_topology': 'ACTIVE_ACTIVE', 'amphora_count': '2'}, "not of type"),
])
def test_profiles_the_topology_cannot_serve_are_refused(admin, data, words):
    resp = admin.post('flavorprofiles', {'flavorprofile': {
        'name': 'bad', 'provider_name': 'amphora', 'flavor_data': json.dumps(data)}})
    assert resp.status_code == 501, resp.text
    assert words in fault(resp, 501)


def test_the_flavor_changes_only_between_active_active_flavors(client, admin, flavors, lb):
    single = make_flavor(admin, {'loadbalancer_topology': 'SINGLE'})
    resp = client.put('loadbalancers/' + lb['id'], {'loadbalancer': {'flavor_id': flavors[2]}})
    assert resp.status_code == 400 and 'ACTIVE_ACTIVE' in fault(resp, 400)
    aa = client.create_lb(flavor_id=flavors[2])
    resp = client.put('loadbalancers/' + aa['id'], {'loadbalancer': {'flavor_id': single}})
    assert resp.status_code == 400 and 'ACTIVE_ACTIVE' in fault(resp, 400)
    resp = client.put('loadbalancers/' + aa['id'],
                      {'loadbalancer': {'flavor_id': str(uuid.uuid4())}})
    assert resp.status_code == 400 and 'not found' in fault(resp, 400)
    assert client.show('loadbalancers/' + aa['id'], 'loadbalancer')['flavor_id'] == flavors[2]


class HostDistributors(noop.NoopNetwork):
    """A noop network with distributors on this host, as the netns one has."""

    def __init__(self, lb_ids):
        super().__init__()
        self.on_host = list(lb_ids)

    def distributors(self):
        return list(self.on_host)

    def release_vip(self, lb):
        self.on_host.remove(lb.id)


def test_housekeeping_matches_distributors_with_lbs(client, flavors):
    """The distributor of an LB that is gone is removed; an ACTIVE LB whose
    distributor is missing gets a pass (which, on netns, makes it again)."""
    with_one, without = (client.create_lb(flavor_id=flavors[2])['id'] for _ in range(2))
    orphan = str(uuid.uuid4())
    network = HostDistributors([with_one, orphan])
    drivers = base.Drivers(noop.NoopCompute(), network, noop.NoopAmphora())
    # other tests' LBs on this database have no distributor here either
    removed, given = housekeeping.sweep_distributors(drivers)
    assert removed == 1 and network.on_host == [with_one] and given >= 1
    assert client.get('loadbalancers/' + without).json()['loadbalancer'][
        'provisioning_status'] in ('PENDING_UPDATE', 'ACTIVE')
    client.wait_lb(without)
    assert client.get('loadbalancers/' + with_one).json()['loadbalancer'][
        'provisioning_status'] == 'ACTIVE'
