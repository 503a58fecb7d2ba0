"""GET one LB reads on a bare connection with its own children query; a
list reads a page in a Session with an expanding one. Both must show an LB
the same way, and the status tree must read the same on either."""
from tests.functional.conftest import LOCAL_V4_SUBNET


def _graph(name):
    pool = {'name': 'pool', 'protocol': 'HTTP', 'lb_algorithm': 'ROUND_ROBIN',
            'members': [{'address': '10.9.0.%d' % i, 'protocol_port': 80} for i in (1, 2)]}
    return {'loadbalancer': {
        'name': name, 'vip_subnet_id': LOCAL_V4_SUBNET, 'tags': ['b', 'a'],
        'pools': [pool, dict(pool, name='other', members=[])],
        'listeners': [{'name': 'http', 'protocol': 'HTTP', 'protocol_port': 80,
                       'default_pool': {'name': 'pool'}},
                      {'name': 'tcp', 'protocol': 'TCP', 'protocol_port': 81}]}}


def test_get_one_shows_an_lb_as_the_list_does(client):
    ids = []
    for name in ('first', 'second'):
        resp = client.post('loadbalancers', _graph(name))
        assert resp.status_code == 201, resp.text
        ids.append(resp.json()['loadbalancer']['id'])
    for lb_id in ids:
        client.wait_lb(lb_id)
    listed = {lb['id']: lb for lb in client.get('loadbalancers').json()['loadbalancers']}
    assert set(ids) <= set(listed)
    for lb_id in ids:
        one = client.show('loadbalancers/' + lb_id, 'loadbalancer')
        assert one == listed[lb_id]
        assert one['tags'] == ['a', 'b']
        assert len(one['listeners']) == 2 and len(one['pools']) == 2
        # The single-LB query orders children as the page query does.
        only = client.get('loadbalancers?id=' + lb_id).json()['loadbalancers']
        assert only == [one]


def test_status_tree_and_missing_lbs_on_the_bare_connection(client):
    resp = client.post('loadbalancers', _graph('tree'))
    lb_id = resp.json()['loadbalancer']['id']
    client.wait_lb(lb_id)
    tree = client.get('loadbalancers/%s/status' % lb_id).json()['statuses']['loadbalancer']
    assert tree['id'] == lb_id and tree['provisioning_status'] == 'ACTIVE'
    listeners = {li['name']: li for li in tree['listeners']}
    assert [p['name'] for p in listeners['http']['pools']] == ['pool']
    assert len(listeners['http']['pools'][0]['members']) == 2
    assert listeners['tcp']['pools'] == []
    for path in ('loadbalancers/%s', 'loadbalancers/%s/status'):
        missing = client.get(path % '00000000-0000-0000-0000-000000000000')
        assert missing.status_code == 404, missing.text
