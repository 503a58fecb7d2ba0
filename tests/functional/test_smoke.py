"""The life of one load balancer through the API, end to end."""


def test_graph_create_to_active_and_cascade_delete(client):
    body = {'loadbalancer': {
        'name': 'web', 'vip_subnet_id': '9c3e0f7e-3f0b-4d8e-8d5b-2b6f9a4c1d01',
        'listeners': [{'name': 'http', 'protocol': 'HTTP', 'protocol_port': 80,
                       'default_pool': {'name': 'pool'}}],
        'pools': [{'name': 'pool', 'protocol': 'HTTP', 'lb_algorithm': 'ROUND_ROBIN',
                   'healthmonitor': {'type': 'HTTP', 'delay': 5, 'timeout': 3,
                                     'max_retries': 2},
                   'members': [{'address': '198.18.1.%d' % i, 'protocol_port': 8080}
                               for i in range(1, 11)]}]}}
    resp = client.post('loadbalancers', body)
    assert resp.status_code == 201, resp.text
    lb = resp.json()['loadbalancer']
    assert lb['provisioning_status'] == 'PENDING_CREATE'
    assert len(lb['pools'][0]['members']) == 10
    active = client.wait_lb(lb['id'])
    assert active['vip_address'].startswith('198.18.')
    tree = client.get('loadbalancers/%s/status' % lb['id']).json()['statuses']
    pool = tree['loadbalancer']['listeners'][0]['pools'][0]
    assert pool['health_monitor']['provisioning_status'] == 'ACTIVE'
    assert {m['provisioning_status'] for m in pool['members']} == {'ACTIVE'}
    assert client.delete('loadbalancers/' + lb['id']).status_code == 400
    assert client.delete('loadbalancers/%s?cascade=true' % lb['id']).status_code == 204
    client.wait_lb(lb['id'], 'DELETED')
