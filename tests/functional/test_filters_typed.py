"""List filters compare values of the column's type (reference 1.4).

A timestamp copied from a GET finds its object again; a value that is not
of the column's type is a 400 fault, never a database error (PostgreSQL
refuses to compare text with a timestamp); no filter value answers 5xx.
"""
import datetime
import uuid

import pytest

from tests.functional.conftest import build_tree, fault, new_admin

# The collections with created_at and updated_at; `locate` finds their paths.
COLLECTIONS = ('loadbalancers', 'listeners', 'pools', 'members', 'healthmonitors',
               'l7policies', 'l7rules', 'amphorae')
CERT_EXPIRATION = datetime.datetime(2031, 5, 6, 7, 8, 9, 654321)
ODD_VALUES = ('x', '', '-1', '99999999999999999999999', 'nan', 'true',
              '2026-12-02T17:19:22.123Z', '\x00', 'caf\u00e9 \u2603', '\U0001F600',
              'a' * 300)


@pytest.fixture(scope='module')
def tree(owner):
    lb = owner.create_lb(name='typed-' + uuid.uuid4().hex[:6])
    made = build_tree(owner, lb['id'], '198.18.7.1', monitor=True, rule_value='/typed')
    made['loadbalancer'] = lb
    yield made
    owner.delete('loadbalancers/%s?cascade=true' % lb['id'])


@pytest.fixture(scope='module')
def amphora(service, tree):
    """The tree's amphora, with a certificate expiry stored to the microsecond."""
    from lbaas.db import models
    from lbaas.db import session as db
    admin = new_admin(service)
    lb_id = tree['loadbalancer']['id']
    (found,) = admin.get('/v2/octavia/amphorae?loadbalancer_id=' + lb_id).json()['amphorae']
    with db.writing() as session:
        session.get(models.Amphora, found['id']).cert_expiration = CERT_EXPIRATION
    return found['id']


def locate(name, tree):
    """(list path, plural, path of the tree's object, its key) for a collection."""
    if name == 'members':
        pool = tree['pool']['id']
        return ('pools/%s/members' % pool, 'members',
                'pools/%s/members/%s' % (pool, tree['member']['id']), 'member')
    if name == 'l7rules':
        policy = tree['policy']['id']
        return ('l7policies/%s/rules' % policy, 'rules',
                'l7policies/%s/rules/%s' % (policy, tree['rule']['id']), 'rule')
    if name == 'amphorae':
        return '/v2/octavia/amphorae', 'amphorae', None, 'amphora'
    key = {'loadbalancers': 'loadbalancer', 'listeners': 'listener', 'pools': 'pool',
           'healthmonitors': 'healthmonitor', 'l7policies': 'l7policy'}[name]
    obj_key = 'policy' if key == 'l7policy' else key
    return name, name, '%s/%s' % (name, tree[obj_key]['id']), key


def shown(caller, name, tree, amphora=None):
    """The tree's object of a collection as a GET shows it now."""
    _, _, obj_path, key = locate(name, tree)
    if name == 'amphorae':
        obj_path = '/v2/octavia/amphorae/' + amphora
    return caller.show(obj_path, key)


def listed(caller, path, plural, params):
    resp = caller.get(path, params=params)
    assert resp.status_code == 200, resp.text
    return [item['id'] for item in resp.json()[plural]]


def caller_for(name, owner, service):
    return new_admin(service) if name == 'amphorae' else owner


@pytest.mark.parametrize('field', ['created_at', 'updated_at'])
@pytest.mark.parametrize('name', COLLECTIONS)
def test_a_timestamp_copied_from_a_get_finds_the_object(owner, service, tree, amphora,
                                                        name, field):
    caller = caller_for(name, owner, service)
    obj = shown(caller, name, tree, amphora)
    assert obj[field], '%s of %s is %r' % (field, name, obj[field])
    path, plural, _, _ = locate(name, tree)
    assert obj['id'] in listed(caller, path, plural, {field: obj[field]})


@pytest.mark.parametrize('field', ['created_at', 'updated_at'])
@pytest.mark.parametrize('name', COLLECTIONS)
@pytest.mark.parametrize('value', ['yesterday', '2026-13-01T00:00:00', '',
                                   '2026-12-02T25:00:00', '12/02/2026'])
def test_a_value_that_is_no_timestamp_is_a_400_fault(owner, service, tree, name, field,
                                                     value):
    caller = caller_for(name, owner, service)
    path = locate(name, tree)[0]
    message = fault(caller.get(path, params={field: value}), 400)
    assert message.startswith("Invalid input for field/attribute %s. Value: '%s'."
                              % (field, value)), message


def variants(stamp):
    """The same second written the ways ISO 8601 allows."""
    moment = datetime.datetime.fromisoformat(stamp)
    east = moment + datetime.timedelta(hours=2)
    west = moment - datetime.timedelta(hours=5, minutes=30)
    return [stamp, stamp + 'Z', stamp + '+00:00', stamp + '.000000', stamp + '.999',
            stamp.replace('T', ' '), east.isoformat() + '+02:00',
            west.isoformat() + '-05:30']


def test_every_iso_form_of_the_second_matches(owner, tree):
    lb = owner.show('loadbalancers/' + tree['loadbalancer']['id'], 'loadbalancer')
    for value in variants(lb['created_at']):
        assert lb['id'] in listed(owner, 'loadbalancers', 'loadbalancers',
                                  {'created_at': value}), value
    later = datetime.datetime.fromisoformat(lb['created_at']) + datetime.timedelta(seconds=1)
    assert lb['id'] not in listed(owner, 'loadbalancers', 'loadbalancers',
                                  {'created_at': later.isoformat()})


def test_cert_expiration_matches_at_the_second(service, amphora):
    admin = new_admin(service)
    shown_value = admin.show('/v2/octavia/amphorae/' + amphora, 'amphora')['cert_expiration']
    assert shown_value.startswith(CERT_EXPIRATION.replace(microsecond=0).isoformat())
    path = '/v2/octavia/amphorae'
    for value in (shown_value, CERT_EXPIRATION.replace(microsecond=0).isoformat(),
                  CERT_EXPIRATION.isoformat() + 'Z'):
        assert amphora in listed(admin, path, 'amphorae', {'cert_expiration': value})
    assert amphora not in listed(admin, path, 'amphorae',
                                 {'cert_expiration': '2031-05-06T07:08:10'})
    assert fault(admin.get(path, params={'cert_expiration': 'soon'}), 400).startswith(
        "Invalid input for field/attribute cert_expiration. Value: 'soon'.")


@pytest.mark.parametrize('path, plural, params', [
    ('listeners', 'listeners', {'protocol_port': 'eighty'}),
    ('listeners', 'listeners', {'protocol_port': '9' * 30}),
    ('listeners', 'listeners', {'connection_limit': '1.5'}),
    ('healthmonitors', 'healthmonitors', {'http_version': 'nan'}),
    ('healthmonitors', 'healthmonitors', {'http_version': 'one'}),
    ('loadbalancers', 'loadbalancers', {'name': 'a\x00b'}),
])
def test_numbers_and_text_that_do_not_fit_are_400(owner, tree, path, plural, params):
    (field,) = params
    assert fault(owner.get(path, params=params), 400).startswith(
        'Invalid input for field/attribute %s.' % field)


def test_integer_and_float_filters_compare_numbers(owner, tree):
    listener = tree['listener']['id']
    assert listener in listed(owner, 'listeners', 'listeners', {'protocol_port': '80'})
    assert listener in listed(owner, 'listeners', 'listeners', {'protocol_port': ' 80'})
    assert listener not in listed(owner, 'listeners', 'listeners', {'protocol_port': '81'})
    monitor = tree['healthmonitor']['id']
    assert monitor in listed(owner, 'healthmonitors', 'healthmonitors', {'delay': '1'})
    assert listed(owner, 'healthmonitors', 'healthmonitors', {'http_version': '1.1'}) == []


def test_quota_filters_are_typed(service):
    admin = new_admin(service)
    project = 'q-' + uuid.uuid4().hex[:8]
    assert admin.put('quotas/' + project, {'quota': {'loadbalancer': 7}}).status_code == 202
    found = admin.get('quotas', params={'loadbalancer': '7'}).json()['quotas']
    assert project in [q['project_id'] for q in found]
    assert fault(admin.get('quotas', params={'loadbalancer': 'seven'}), 400).startswith(
        "Invalid input for field/attribute loadbalancer. Value: 'seven'.")
    admin.delete('quotas/' + project)


def _spec_filters():
    from lbaas.api import (
        admin_amphorae,
        admin_catalog,
        admin_profiles,
        admin_quotas,
        loadbalancers,
        resources,
    )
    return {
        'loadbalancers': loadbalancers.SPEC, 'listeners': resources.LISTENER.spec,
        'pools': resources.POOL.spec, 'members': resources.MEMBER.spec,
        'healthmonitors': resources.HEALTHMONITOR.spec,
        'l7policies': resources.L7POLICY.spec, 'l7rules': resources.L7RULE.spec,
        'amphorae': admin_amphorae.SPEC, 'quotas': admin_quotas.SPEC,
        'flavors': admin_catalog.FLAVOR.spec,
        'availabilityzones': admin_catalog.AVAILABILITY_ZONE.spec,
        'flavorprofiles': admin_profiles.FLAVOR_PROFILE.spec,
        'availabilityzoneprofiles': admin_profiles.AZ_PROFILE.spec,
    }


@pytest.mark.parametrize('name', sorted(_spec_filters()))
def test_no_filter_value_answers_5xx(service, tree, name):
    """Every filterable attribute of every collection, with odd values, as an admin."""
    admin = new_admin(service)
    path = locate(name, tree)[0] if name in COLLECTIONS else name
    spec = _spec_filters()[name]
    failures = []
    for field in sorted(spec.columns):
        if field in ('project_id', 'tenant_id') and name == 'quotas':
            continue  # a project id of any shape is just a name
        for value in ODD_VALUES:
            resp = admin.get(path, params={field: value})
            if resp.status_code >= 500 or resp.status_code not in (200, 400):
                failures.append((field, value, resp.status_code, resp.text[:200]))
            elif resp.status_code == 400:
                fault(resp, 400)
    assert not failures, failures
