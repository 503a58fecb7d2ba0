"""List endpoints: pagination and links, sorting, filtering, field selection,
the four tag filters, project scoping and the tenant_id alias (reference 1.4)."""
import urllib.parse

import pytest

from tests.functional.conftest import fault, new_admin, new_member

TAGS = {'alpha': ['red', 'blue'], 'beta': ['red'], 'gamma': ['green']}


@pytest.fixture(scope='module')
def lbs(owner):
    """Three LBs of the module's project by name; alpha carries one of each child."""
    made = {name: owner.create_lb(name=name, tags=tags, admin_state_up=name != 'gamma')
            for name, tags in TAGS.items()}
    lb_id = made['alpha']['id']
    listener = owner.create('listeners', 'listener', {
        'loadbalancer_id': lb_id, 'protocol': 'HTTP', 'protocol_port': 80}, lb_id)
    pool = owner.create('pools', 'pool', {'listener_id': listener['id'], 'protocol': 'HTTP',
                                          'lb_algorithm': 'ROUND_ROBIN'}, lb_id)
    owner.create('pools/%s/members' % pool['id'], 'member',
                 {'address': '198.18.6.1', 'protocol_port': 80}, lb_id)
    owner.create('healthmonitors', 'healthmonitor', {
        'pool_id': pool['id'], 'type': 'TCP', 'delay': 1, 'timeout': 1, 'max_retries': 1},
        lb_id)
    owner.create('l7policies', 'l7policy', {
        'listener_id': listener['id'], 'action': 'REJECT',
        'rules': [{'type': 'PATH', 'compare_type': 'EQUAL_TO', 'value': '/'}]}, lb_id)
    yield made
    for lb in made.values():
        owner.delete('loadbalancers/%s?cascade=true' % lb['id'])


def names(owner, query=''):
    resp = owner.get('loadbalancers' + query)
    assert resp.status_code == 200, resp.text
    return [lb['name'] for lb in resp.json()['loadbalancers']]


def test_list_has_the_envelope_and_only_the_callers_project(owner, lbs):
    body = owner.get('loadbalancers').json()
    assert set(body) == {'loadbalancers', 'loadbalancers_links'}
    assert body['loadbalancers_links'] == []
    assert sorted(lb['name'] for lb in body['loadbalancers']) == ['alpha', 'beta', 'gamma']
    assert {lb['project_id'] for lb in body['loadbalancers']} == {owner.project_id}


def test_pages_follow_next_and_previous_links(owner, lbs):
    first = owner.get('loadbalancers?limit=2&sort=name:asc').json()
    assert [lb['name'] for lb in first['loadbalancers']] == ['alpha', 'beta']
    (link,) = first['loadbalancers_links']
    assert link['rel'] == 'next'
    href = urllib.parse.urlsplit(link['href'])
    assert href.path == '/v2/lbaas/loadbalancers' and href.netloc == owner.base[7:]
    query = urllib.parse.parse_qs(href.query)
    assert (query['limit'], query['marker']) == (['2'], [lbs['beta']['id']])
    second = owner.session.get(link['href']).json()
    assert [lb['name'] for lb in second['loadbalancers']] == ['gamma']
    rels = {item['rel']: item['href'] for item in second['loadbalancers_links']}
    assert set(rels) == {'previous'}
    assert 'page_reverse=True' in rels['previous']
    back = owner.session.get(rels['previous']).json()
    assert [lb['name'] for lb in back['loadbalancers']] == ['alpha', 'beta']


def test_sorting_and_paging_by_a_joined_column(owner, lbs):
    by_address = sorted(lbs.values(), key=lambda lb: lb['vip_address'], reverse=True)
    seen, url = [], owner.url('loadbalancers?limit=1&sort=vip_address:desc')
    while url:
        body = owner.session.get(url).json()
        seen += [lb['id'] for lb in body['loadbalancers']]
        url = next((link['href'] for link in body['loadbalancers_links']
                    if link['rel'] == 'next'), None)
    assert seen == [lb['id'] for lb in by_address]


@pytest.mark.parametrize('query, expected', [
    ('?limit=0', ['alpha', 'beta', 'gamma']),
    ('?limit=-1', ['alpha', 'beta', 'gamma']),
    ('?limit=infinite', ['alpha', 'beta', 'gamma']),
    ('?limit=5', ['alpha', 'beta', 'gamma']),
    ('?sort=name:desc', ['gamma', 'beta', 'alpha']),
    ('?sort=admin_state_up:asc,name:desc', ['gamma', 'beta', 'alpha']),
    ('?sort=name', ['alpha', 'beta', 'gamma']),
    ('?sort_key=name&sort_dir=desc', ['gamma', 'beta', 'alpha']),
    ('?sort=name:asc&limit=1&page_reverse=True', ['gamma']),
    ('?sort=name&limit=5&limit=1', ['alpha']),                  # the last one counts
])
def test_limits_and_sorting(owner, lbs, query, expected):
    got = names(owner, query)
    assert got == expected if 'sort' in query else sorted(got) == expected


@pytest.mark.parametrize('query', [
    '?limit=two', '?marker=00000000-0000-0000-0000-000000000000', '?sort=name:sideways',
    '?sort=colour:asc', '?sort_key=colour', '?colour=red',
    '?name=a&name=b',
])
def test_bad_queries_are_400(owner, lbs, query):
    fault(owner.get('loadbalancers' + query), 400)


@pytest.mark.parametrize('query, expected', [
    ('?name=beta', ['beta']),
    ('?admin_state_up=false', ['gamma']),
    ('?admin_state_up=True', ['alpha', 'beta']),
    ('?provisioning_status=ACTIVE', ['alpha', 'beta', 'gamma']),
    ('?operating_status=ONLINE', []),
    ('?name=beta&admin_state_up=false', []),
    ('?tags=red', ['alpha', 'beta']),
    ('?tags=red,blue', ['alpha']),
    ('?tags=red&tags=blue', ['alpha']),
    ('?tags-any=blue,green', ['alpha', 'gamma']),
    ('?not-tags=red,blue', ['beta', 'gamma']),
    ('?not-tags-any=red', ['gamma']),
    ('?not-tags-any=red&not-tags-any=green', []),
    ('?tags=red&not-tags=blue', ['beta']),
    ('?tags-any=red,green&not-tags-any=blue', ['beta', 'gamma']),
])
def test_filters_and_tag_filters(owner, lbs, query, expected):
    assert sorted(names(owner, query)) == expected


def test_filter_by_vip_address_and_ids(owner, lbs):
    beta = lbs['beta']
    assert names(owner, '?vip_address=' + beta['vip_address']) == ['beta']
    assert names(owner, '?id=' + beta['id']) == ['beta']
    assert names(owner, '?vip_subnet_id=' + beta['vip_subnet_id'] + '&name=beta') == ['beta']


def test_fields_keep_only_the_named_attributes(owner, lbs):
    for query in ('?fields=id&fields=name', '?fields=id,name'):
        items = owner.get('loadbalancers' + query).json()['loadbalancers']
        assert len(items) == 3 and all(set(i) == {'id', 'name'} for i in items)
    shown = owner.get('loadbalancers/%s?fields=name&fields=id' % lbs['alpha']['id'])
    assert shown.json() == {'loadbalancer': {'id': lbs['alpha']['id'], 'name': 'alpha'}}


def test_project_scoping_and_the_tenant_id_alias(service, owner, lbs):
    stranger = new_member(service)
    assert stranger.get('loadbalancers').json()['loadbalancers'] == []
    fault(stranger.get('loadbalancers?project_id=' + owner.project_id), 403)
    assert sorted(names(owner, '?project_id=' + owner.project_id)) == ['alpha', 'beta', 'gamma']
    assert sorted(names(owner, '?tenant_id=' + owner.project_id)) == ['alpha', 'beta', 'gamma']
    admin = new_admin(service)
    assert sorted(names(admin, '?project_id=' + owner.project_id)) == ['alpha', 'beta', 'gamma']
    assert {lb['id'] for lb in lbs.values()} <= \
        {lb['id'] for lb in admin.get('loadbalancers?limit=0').json()['loadbalancers']}
    reader = new_member(service, roles='reader')
    reader.session.headers['X-Project-Id'] = owner.project_id
    assert sorted(names(reader)) == ['alpha', 'beta', 'gamma']


@pytest.mark.parametrize('path, plural', [
    ('listeners', 'listeners'), ('pools', 'pools'), ('healthmonitors', 'healthmonitors'),
    ('l7policies', 'l7policies')])
def test_child_lists_have_envelopes_filters_and_scoping(service, owner, lbs, path, plural):
    body = owner.get(path).json()
    assert set(body) == {plural, plural + '_links'}
    assert len(body[plural]) == 1
    item = body[plural][0]
    assert item['project_id'] == item['tenant_id'] == owner.project_id
    assert owner.get('%s?id=%s' % (path, item['id'])).json()[plural] == [item]
    assert owner.get('%s?name=nothing' % path).json()[plural] == []
    assert [set(i) for i in owner.get(path + '?fields=id').json()[plural]] == [{'id'}]
    fault(owner.get(path + '?colour=red'), 400)
    assert new_member(service).get(path).json()[plural] == []
    body = owner.get(path + '?limit=1').json()
    assert [link['rel'] for link in body[plural + '_links']] == ['next']


def test_listener_and_pool_lists_filter_by_load_balancer(owner, lbs):
    for path in ('listeners', 'pools'):
        plural = path
        alpha = owner.get('%s?loadbalancer_id=%s' % (path, lbs['alpha']['id'])).json()
        assert len(alpha[plural]) == 1
        assert owner.get('%s?loadbalancer_id=%s' % (path, lbs['beta']['id'])).json()[
            plural] == []


def test_member_and_rule_lists_live_under_their_parent(service, owner, lbs):
    pool = owner.get('pools').json()['pools'][0]
    body = owner.get('pools/%s/members' % pool['id']).json()
    assert set(body) == {'members', 'members_links'}
    assert [m['address'] for m in body['members']] == ['198.18.6.1']
    assert owner.get('pools/%s/members?address=198.18.6.2' % pool['id']).json()[
        'members'] == []
    policy = owner.get('l7policies').json()['l7policies'][0]
    body = owner.get('l7policies/%s/rules' % policy['id']).json()
    assert set(body) == {'rules', 'rules_links'}
    assert [r['value'] for r in body['rules']] == ['/']
    stranger = new_member(service)
    fault(stranger.get('pools/%s/members' % pool['id']), 403)
    fault(stranger.get('l7policies/%s/rules' % policy['id']), 403)
