"""What one reconcile pass costs the database (issue: read once, write little).

Adding one member must read the LB's graph once and write in at most three
transactions; here it writes in one (the final settle).
"""
from benchmarks.reconcile_cost import counting  # one counter for the test and the figures
from lbaas.controller import leases, reconcile
from lbaas.drivers import base, noop
from tests.functional.conftest import build_tree, held, new_member


def test_adding_one_member_loads_the_graph_once_and_writes_once(service):
    client = new_member(service)
    lb_id = client.create_lb()['id']
    pool = build_tree(client, lb_id, '198.18.5.1', monitor=True, rule_value='/a')['pool']
    drivers = base.Drivers(noop.NoopCompute(), noop.NoopNetwork(), noop.NoopAmphora())
    with held(lb_id):
        resp = client.post('pools/%s/members' % pool['id'],
                           {'member': {'address': '198.18.5.2', 'protocol_port': 80}})
        assert resp.status_code == 201, resp.text
        with counting() as counts:
            result = reconcile.reconcile(lb_id, drivers, leases.Lease(lb_id, 'functional-test'))
        assert result.done
        print('\n[%s] add one member: %s' % (service['backend'], counts))
        assert counts['graph_loads'] == 1, counts
        assert counts['write_transactions'] <= 3, counts
        assert client.show('loadbalancers/' + lb_id, 'loadbalancer')[
            'provisioning_status'] == 'ACTIVE'
    member = client.show('pools/%s/members/%s' % (pool['id'], resp.json()['member']['id']),
                         'member')
    assert member['provisioning_status'] == 'ACTIVE'
