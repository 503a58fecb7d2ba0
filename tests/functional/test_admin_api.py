"""The operator API over HTTP: quotas, providers, flavors, availability
zones, their profiles, and amphorae (reference 1.2, 1.3, 1.7, 1.8)."""
import json
import urllib.parse
import uuid

import pytest

from lbaas.db import models
from lbaas.db import session as db
from tests.functional.conftest import Client

NIL_UUID = '00000000-0000-0000-0000-000000000000'
UNKNOWN_ID = '5d1f2a8e-0000-4000-8000-00000000beef'
QUOTA_NAMES = ('loadbalancer', 'load_balancer', 'listener', 'member', 'pool',
               'healthmonitor', 'health_monitor', 'l7policy', 'l7rule')


def unique(prefix):
    return '%s-%s' % (prefix, uuid.uuid4().hex[:8])


def member_of(service, project_id=None):
    return Client(service['url'], project_id or unique('p'), roles='member')


def fault(resp):
    return resp.json()['faultstring']


def make_profile(admin, kind='flavorprofiles', provider='amphora', data=None):
    key, field = (('flavorprofile', 'flavor_data') if kind == 'flavorprofiles'
                  else ('availability_zone_profile', 'availability_zone_data'))
    body = {'name': unique('prof'), 'provider_name': provider,
            field: json.dumps(data or {})}
    resp = admin.post(kind, {key: body})
    assert resp.status_code == 201, resp.text
    return resp.json()[key]


def make_flavor(admin, profile_id=None, **fields):
    profile_id = profile_id or make_profile(admin)['id']
    body = {'name': unique('flavor'), 'flavor_profile_id': profile_id, **fields}
    resp = admin.post('flavors', {'flavor': body})
    assert resp.status_code == 201, resp.text
    return resp.json()['flavor']


def make_zone(admin, profile_id=None, **fields):
    profile_id = profile_id or make_profile(admin, 'availabilityzoneprofiles')['id']
    body = {'name': unique('az'), 'availability_zone_profile_id': profile_id, **fields}
    resp = admin.post('availabilityzones', {'availability_zone': body})
    assert resp.status_code == 201, resp.text
    return resp.json()['availability_zone']


# --- quotas -----------------------------------------------------------------

def test_quota_of_unset_project_is_the_defaults(admin):
    project = unique('p')
    for path in ('quotas/' + project, 'quotas/%s/default' % project, 'quotas/defaults',
                 '/v2.0/quotas/' + project):
        resp = admin.get(path)
        assert resp.status_code == 200, path
        quota = resp.json()['quota']
        assert all(quota[name] == -1 for name in QUOTA_NAMES), path


def test_quota_put_echoes_both_spellings_and_lists_stored_values(admin):
    project = unique('p')
    resp = admin.put('quotas/' + project, {'quota': {'load_balancer': 5, 'listener': 10,
                                                     'healthmonitor': 7}})
    assert resp.status_code == 202, resp.text
    quota = resp.json()['quota']
    assert quota['project_id'] == project
    assert (quota['loadbalancer'], quota['load_balancer']) == (5, 5)
    assert (quota['healthmonitor'], quota['health_monitor']) == (7, 7)
    assert (quota['listener'], quota['pool']) == (10, -1)
    assert admin.get('quotas/' + project).json()['quota'] == quota
    listed = admin.get('quotas?project_id=' + project).json()
    assert set(listed) == {'quotas', 'quotas_links'}
    [row] = listed['quotas']
    assert (row['project_id'], row['load_balancer'], row['pool']) == (project, 5, None)
    assert project in {q['project_id'] for q in admin.get('quotas').json()['quotas']}


def test_quota_delete_resets_to_defaults_and_unlists(admin):
    project = unique('p')
    admin.put('quotas/' + project, {'quota': {'member': 3}})
    resp = admin.delete('quotas/' + project)
    assert (resp.status_code, resp.text) == (202, '')
    assert admin.get('quotas/' + project).json()['quota']['member'] == -1
    assert admin.get('quotas?project_id=' + project).json()['quotas'] == []
    missing = admin.delete('quotas/' + unique('p'))
    assert missing.status_code == 404
    assert fault(missing).startswith('Quotas ')


@pytest.mark.parametrize('body', [{'loadbalancer': -2}, {'pool': 2000000001},
                                  {'listener': 'ten'}, {'bogus': 1}])
def test_quota_put_rejects_bad_values(admin, body):
    assert admin.put('quotas/' + unique('p'), {'quota': body}).status_code == 400


def test_quota_rbac_for_a_member(service, admin):
    member = member_of(service)
    own, other = member.project_id, unique('p')
    admin.put('quotas/' + own, {'quota': {'pool': 4}})
    admin.put('quotas/' + other, {'quota': {'pool': 4}})
    assert member.get('quotas/' + own).status_code == 200
    assert member.get('quotas/%s/default' % own).status_code == 200
    assert member.get('quotas/' + other).status_code == 403
    assert member.put('quotas/' + own, {'quota': {'pool': 9}}).status_code == 403
    assert member.delete('quotas/' + own).status_code == 403
    listed = member.get('quotas').json()['quotas']
    assert [q['project_id'] for q in listed] == [own]
    assert member.get('quotas?project_id=' + other).status_code == 403


# --- providers --------------------------------------------------------------

def test_provider_list_has_no_links(service, admin):
    body = member_of(service).get('providers').json()
    assert set(body) == {'providers'}
    assert {'name': 'amphora', 'description': 'The lbaas amphora provider.'} \
        in body['providers']
    names = admin.get('providers?fields=name').json()['providers']
    assert all(set(p) == {'name'} for p in names)


@pytest.mark.parametrize('kind, key, count', [
    # Octavia's 5 + member_drain_timeout and amphora_count
    ('flavor_capabilities', 'flavor_capabilities', 7),
    ('availability_zone_capabilities', 'availability_zone_capabilities', 4)])
def test_provider_capabilities(service, admin, kind, key, count):
    items = admin.get('providers/amphora/' + kind).json()[key]
    assert len(items) == count
    first = items[0]
    by_name = admin.get('providers/amphora/%s?name=%s' % (kind, first['name'])).json()[key]
    assert by_name == [first]
    query = urllib.parse.urlencode({'description': first['description']})
    assert admin.get('providers/amphora/%s?%s' % (kind, query)).json()[key] == [first]
    assert admin.get('providers/nope/' + kind).status_code == 400
    assert member_of(service).get('providers/amphora/' + kind).status_code == 403


# --- flavor and availability zone profiles --------------------------------------

@pytest.mark.parametrize('kind, key, field, plural, links', [
    ('flavorprofiles', 'flavorprofile', 'flavor_data', 'flavorprofiles',
     'flavorprofile_links'),
    ('availabilityzoneprofiles', 'availability_zone_profile', 'availability_zone_data',
     'availability_zone_profiles', 'availability_zone_profile_links')])
def test_profile_crud(admin, kind, key, field, plural, links):
    profile = make_profile(admin, kind, provider='noop_driver', data={'anything': 1})
    assert set(profile) == {'id', 'name', 'provider_name', field}
    assert admin.get('%s/%s' % (kind, profile['id'])).json()[key] == profile
    listed = admin.get('%s?name=%s' % (kind, profile['name'])).json()
    assert (listed[plural], listed[links]) == ([profile], [])
    resp = admin.put('%s/%s' % (kind, profile['id']), {key: {field: '{"x": "y"}'}})
    assert (resp.status_code, resp.json()[key][field]) == (200, '{"x": "y"}')
    assert admin.delete('%s/%s' % (kind, profile['id'])).status_code == 204
    for path in ('%s/%s' % (kind, profile['id']), '%s/%s' % (kind, NIL_UUID)):
        assert admin.get(path).status_code == 404
        assert admin.delete(path).status_code == 404


@pytest.mark.parametrize('kind, key, field, good, bad', [
    ('flavorprofiles', 'flavorprofile', 'flavor_data',
     {'loadbalancer_topology': 'ACTIVE_STANDBY', 'sriov_vip': False},
     [{'bogus': 1}, {'loadbalancer_topology': 'TRIPLE'}, {'sriov_vip': 'yes'}]),
    ('availabilityzoneprofiles', 'availability_zone_profile', 'availability_zone_data',
     {'compute_zone': 'nova', 'valid_vip_networks': ['n1']},
     [{'bogus': 1}, {'valid_vip_networks': 'n1'}])])
def test_profile_data_checked_by_provider(admin, kind, key, field, good, bad):
    def post(provider, data):
        body = {'name': unique('prof'), 'provider_name': provider, field: data}
        return admin.post(kind, {key: body})
    assert post('amphora', json.dumps(good)).status_code == 201
    # Octavia reports what the amphora driver refuses as
    # ProviderUnsupportedOptionError, a 501.
    for data in bad:
        resp = post('amphora', json.dumps(data))
        assert resp.status_code == 501, data
        assert "Provider 'amphora' does not support a requested option" in fault(resp)
    assert post('amphora', 'not json').status_code == 400
    assert post('amphora', '[1]').status_code == 400
    assert post('not-enabled', '{}').status_code == 400
    assert post('noop_driver', json.dumps(bad[0])).status_code == 201


def test_profile_in_use_keeps_provider_and_data(admin):
    profile = make_profile(admin)
    make_flavor(admin, profile['id'])
    path = 'flavorprofiles/' + profile['id']
    assert admin.put(path, {'flavorprofile': {'flavor_data': '{}'}}).status_code == 409
    assert admin.put(path, {'flavorprofile': {'provider_name': 'octavia'}}).status_code == 409
    renamed = admin.put(path, {'flavorprofile': {'name': 'renamed'}})
    assert (renamed.status_code, renamed.json()['flavorprofile']['name']) == (200, 'renamed')
    assert admin.delete(path).status_code == 409
    zone_profile = make_profile(admin, 'availabilityzoneprofiles')
    make_zone(admin, zone_profile['id'])
    assert admin.delete('availabilityzoneprofiles/' + zone_profile['id']).status_code == 409


def test_profiles_are_admin_only(service, admin):
    member = member_of(service)
    profile = make_profile(admin)
    assert member.get('flavorprofiles').status_code == 403
    assert member.get('flavorprofiles/' + profile['id']).status_code == 403
    assert member.post('flavorprofiles', {'flavorprofile': {
        'name': 'x', 'provider_name': 'amphora', 'flavor_data': '{}'}}).status_code == 403
    assert member.put('flavorprofiles/' + profile['id'],
                      {'flavorprofile': {'name': 'x'}}).status_code == 403
    assert member.delete('flavorprofiles/' + profile['id']).status_code == 403
    assert member.get('availabilityzoneprofiles').status_code == 403


# --- flavors ----------------------------------------------------------------------

def test_flavor_crud(admin):
    flavor = make_flavor(admin)
    assert set(flavor) == {'id', 'name', 'description', 'enabled', 'flavor_profile_id'}
    assert (flavor['description'], flavor['enabled']) == ('', True)
    path = '/v2.0/lbaas/flavors/' + flavor['id']
    assert admin.get(path).json()['flavor'] == flavor
    change = {'name': unique('renamed'), 'description': 'gold', 'enabled': False}
    resp = admin.put(path, {'flavor': change})
    assert resp.status_code == 200
    assert resp.json()['flavor'] == {**flavor, **change}
    assert admin.put(path, {'flavor': {'flavor_profile_id': UNKNOWN_ID}}).status_code == 400
    assert admin.delete(path).status_code == 204
    assert admin.get(path).status_code == 404


def test_flavor_conflicts_and_missing(admin):
    flavor = make_flavor(admin)
    duplicate = {'name': flavor['name'], 'flavor_profile_id': flavor['flavor_profile_id']}
    resp = admin.post('flavors', {'flavor': duplicate})
    assert resp.status_code == 409
    assert fault(resp) == 'A flavor of %s already exists.' % flavor['name']
    other = make_flavor(admin, flavor['flavor_profile_id'])
    rename = admin.put('flavors/' + other['id'], {'flavor': {'name': flavor['name']}})
    assert rename.status_code == 409
    orphan = admin.post('flavors', {'flavor': {'name': unique('f'),
                                               'flavor_profile_id': UNKNOWN_ID}})
    assert orphan.status_code == 400
    assert admin.post('flavors', {'flavor': {'name': 'no-profile'}}).status_code == 400
    for path in ('flavors/' + NIL_UUID, 'flavors/' + UNKNOWN_ID):
        assert admin.get(path).status_code == 404
        assert admin.put(path, {'flavor': {'enabled': True}}).status_code == 404
        assert admin.delete(path).status_code == 404


def test_flavor_in_use_by_a_load_balancer(admin, client):
    profile = make_profile(admin, data={'loadbalancer_topology': 'SINGLE'})
    flavor = make_flavor(admin, profile['id'])
    lb = client.create_lb(flavor_id=flavor['id'])
    resp = admin.delete('flavors/' + flavor['id'])
    assert resp.status_code == 409
    assert fault(resp) == 'Flavor %s is in use and cannot be modified.' % flavor['id']
    assert client.delete('loadbalancers/' + lb['id']).status_code == 204
    client.wait_lb(lb['id'], 'DELETED')
    assert admin.delete('flavors/' + flavor['id']).status_code == 204


def test_flavors_readable_by_members_writable_by_admins(service, admin):
    member = member_of(service)
    flavor = make_flavor(admin)
    assert member.get('flavors/' + flavor['id']).status_code == 200
    assert member.get('flavors').status_code == 200
    body = {'name': 'x', 'flavor_profile_id': flavor['flavor_profile_id']}
    assert member.post('flavors', {'flavor': body}).status_code == 403
    assert member.put('flavors/' + flavor['id'], {'flavor': {'name': 'y'}}).status_code == 403
    assert member.delete('flavors/' + flavor['id']).status_code == 403


def test_flavor_list_pages_sorts_filters_and_trims(admin):
    tag = unique('page')
    profile = make_profile(admin)
    made = sorted((make_flavor(admin, profile['id'], description=tag) for _ in range(3)),
                  key=lambda f: f['name'])
    first = admin.get('flavors?description=%s&limit=2&sort=name:asc' % tag).json()
    assert [f['id'] for f in first['flavors']] == [f['id'] for f in made[:2]]
    [next_link] = first['flavors_links']
    assert next_link['rel'] == 'next' and 'marker=%s' % made[1]['id'] in next_link['href']
    second = admin.session.get(next_link['href'] + '&description=' + tag).json()
    assert [f['id'] for f in second['flavors']] == [made[2]['id']]
    assert [link['rel'] for link in second['flavors_links']] == ['previous']
    backwards = admin.get('flavors?description=%s&sort=name:desc' % tag).json()['flavors']
    assert [f['id'] for f in backwards] == [f['id'] for f in reversed(made)]
    trimmed = admin.get('flavors?description=%s&fields=id&fields=name' % tag).json()
    assert all(set(f) == {'id', 'name'} for f in trimmed['flavors'])
    assert admin.get('flavors?bogus=1').status_code == 400
    assert admin.get('flavors?marker=' + UNKNOWN_ID).status_code == 400
    assert admin.get('flavors?limit=two').status_code == 400
    assert admin.get('flavors?sort=name:sideways').status_code == 400


# --- availability zones -------------------------------------------------------

def test_availability_zone_crud_keyed_by_name(admin):
    zone = make_zone(admin, description='first')
    assert set(zone) == {'name', 'description', 'enabled', 'availability_zone_profile_id'}
    path = 'availabilityzones/' + zone['name']
    assert admin.get(path).json()['availability_zone'] == zone
    listed = admin.get('availabilityzones?name=' + zone['name']).json()
    assert (listed['availability_zones'], listed['availability_zones_links']) == ([zone], [])
    resp = admin.put(path, {'availability_zone': {'description': 'second', 'enabled': False}})
    assert resp.status_code == 200
    assert resp.json()['availability_zone'] == {**zone, 'description': 'second',
                                                'enabled': False}
    assert admin.put(path, {'availability_zone': {'name': 'x'}}).status_code == 400
    assert admin.delete(path).status_code == 204
    assert admin.get(path).status_code == 404
    assert admin.get('availabilityzones/' + NIL_UUID).status_code == 404


def test_availability_zone_and_quota_pages_are_keyed_by_name_and_project(admin):
    tag = unique('page')
    names = sorted(make_zone(admin, description=tag)['name'] for _ in range(2))
    first = admin.get('availabilityzones?description=%s&limit=1' % tag).json()
    assert [z['name'] for z in first['availability_zones']] == names[:1]
    [next_link] = first['availability_zones_links']
    assert 'marker=' + names[0] in next_link['href']
    second = admin.session.get(next_link['href'] + '&description=' + tag).json()
    assert [z['name'] for z in second['availability_zones']] == names[1:]
    projects = sorted(unique('q') for _ in range(2))
    for project in projects:
        admin.put('quotas/' + project, {'quota': {'l7rule': 77}})
    page = admin.get('quotas?l7rule=77&limit=1&marker=' + projects[0]).json()
    assert [q['project_id'] for q in page['quotas']][:1] == projects[1:]


def test_availability_zone_conflicts_and_rbac(service, admin, client):
    zone = make_zone(admin)
    again = {'name': zone['name'],
             'availability_zone_profile_id': zone['availability_zone_profile_id']}
    resp = admin.post('availabilityzones', {'availability_zone': again})
    assert resp.status_code == 409
    orphan = {'name': unique('az'), 'availability_zone_profile_id': UNKNOWN_ID}
    assert admin.post('availabilityzones', {'availability_zone': orphan}).status_code == 400
    member = member_of(service)
    assert member.get('availabilityzones/' + zone['name']).status_code == 200
    assert member.post('availabilityzones', {'availability_zone': orphan}).status_code == 403
    assert member.delete('availabilityzones/' + zone['name']).status_code == 403
    lb = client.create_lb(availability_zone=zone['name'])
    assert admin.delete('availabilityzones/' + zone['name']).status_code == 409
    client.delete('loadbalancers/' + lb['id'])
    client.wait_lb(lb['id'], 'DELETED')
    assert admin.delete('availabilityzones/' + zone['name']).status_code == 204


# --- amphorae -----------------------------------------------------------------------

def _amphora_of(admin, lb_id):
    body = admin.get('/v2/octavia/amphorae?loadbalancer_id=' + lb_id).json()
    assert set(body) == {'amphorae', 'amphorae_links'}
    [amphora] = body['amphorae']
    return amphora


def _set_amphora(amphora_id, **values):
    with db.writing() as session:
        amphora = session.get(models.Amphora, amphora_id)
        for name, value in values.items():
            setattr(amphora, name, value)


def test_amphora_list_and_show(admin, client, lb):
    amphora = _amphora_of(admin, lb['id'])
    assert amphora['loadbalancer_id'] == lb['id'] and 'load_balancer_id' not in amphora
    assert (amphora['role'], amphora['status']) == ('STANDALONE', 'ALLOCATED')
    own = admin.get('/v2/octavia/amphorae?project_id=' + client.project_id).json()
    assert [a['id'] for a in own['amphorae']] == [amphora['id']]
    assert admin.get('/v2/octavia/amphorae?project_id=nobody').json()['amphorae'] == []
    shown = admin.get('/v2.0/octavia/amphorae/' + amphora['id']).json()['amphora']
    assert shown == amphora
    assert admin.get('/v2/octavia/amphorae/' + UNKNOWN_ID).status_code == 404
    assert admin.get('/v2/lbaas/amphorae').status_code == 404  # octavia prefix only


def test_amphora_actions_are_admin_only(service, admin, lb):
    amphora_path = '/v2/octavia/amphorae/' + _amphora_of(admin, lb['id'])['id']
    member = member_of(service)
    assert member.get('/v2/octavia/amphorae').status_code == 403
    assert member.get(amphora_path).status_code == 403
    assert member.get(amphora_path + '/stats').status_code == 403
    assert member.put(amphora_path + '/config').status_code == 403
    assert member.put(amphora_path + '/failover').status_code == 403
    assert member.delete(amphora_path).status_code == 403


def test_amphora_config_and_stats(admin, lb):
    amphora = _amphora_of(admin, lb['id'])
    path = '/v2/octavia/amphorae/' + amphora['id']
    assert admin.put(path + '/config').status_code == 202
    assert admin.put('/v2/octavia/amphorae/%s/config' % UNKNOWN_ID).status_code == 404
    missing = admin.get(path + '/stats')
    assert missing.status_code == 404
    assert fault(missing) == 'Amphora stats for %s not found.' % amphora['id']
    listener_id = str(uuid.uuid4())
    with db.writing() as session:
        session.add(models.ListenerStatistics(
            listener_id=listener_id, amphora_id=amphora['id'], bytes_in=10, bytes_out=20,
            active_connections=1, total_connections=5, request_errors=2))
    [stats] = admin.get(path + '/stats').json()['amphora_stats']
    assert stats == {'id': amphora['id'], 'listener_id': listener_id,
                     'loadbalancer_id': lb['id'], 'bytes_in': 10, 'bytes_out': 20,
                     'active_connections': 1, 'total_connections': 5, 'request_errors': 2}


def test_amphora_delete_only_in_error(admin, lb):
    amphora = _amphora_of(admin, lb['id'])
    path = '/v2/octavia/amphorae/' + amphora['id']
    resp = admin.delete(path)
    assert resp.status_code == 409
    assert fault(resp) == 'amphora %s is immutable and cannot be updated.' % amphora['id']
    _set_amphora(amphora['id'], status='ERROR')
    assert admin.delete(path).status_code == 204
    assert admin.get(path).json()['amphora']['status'] == 'PENDING_DELETE'
    assert admin.delete('/v2/octavia/amphorae/' + UNKNOWN_ID).status_code == 404


def test_amphora_failover(admin, client, lb):
    amphora = _amphora_of(admin, lb['id'])
    resp = admin.put('/v2/octavia/amphorae/%s/failover' % amphora['id'])
    assert resp.status_code == 202, resp.text
    client.wait_lb(lb['id'])
    assert _amphora_of(admin, lb['id'])['id'] != amphora['id']
    assert admin.put('/v2/octavia/amphorae/%s/failover' % UNKNOWN_ID).status_code == 404
    spare_id = str(uuid.uuid4())
    with db.writing() as session:
        session.add(models.Amphora(id=spare_id, status='READY'))
    assert admin.put('/v2/octavia/amphorae/%s/failover' % spare_id).status_code == 400
