"""Logs that tell the story: the request line in api.log and the worker's
line for the reconcile it caused carry the same request id, the one the
client got in x-openstack-request-id."""
import time

import requests

from tests.functional.served import logs, served  # noqa: F401 (fixture)


def _wait(predicate, what, timeout=20.0):
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, what
        time.sleep(0.1)


def test_a_request_id_runs_from_the_api_log_to_the_worker_log(served):
    subnet = requests.get(served + '/v2.0/subnets?name=lbaas-local-v4',
                          timeout=10).json()['subnets'][0]['id']
    resp = requests.post(served + '/v2/lbaas/loadbalancers', timeout=10, json={
        'loadbalancer': {'name': 'logged', 'vip_subnet_id': subnet}})
    assert resp.status_code == 201, resp.text
    request_id = resp.headers['x-openstack-request-id']
    lb_id = resp.json()['loadbalancer']['id']
    _wait(lambda: request_id in logs(served.state_dir, 'api'), 'no request line in api.log')
    (line,) = [x for x in logs(served.state_dir, 'api').splitlines() if request_id in x]
    assert 'POST /v2/lbaas/loadbalancers 201' in line
    _wait(lambda: any(lb_id in x and request_id in x
                      for x in logs(served.state_dir, 'worker').splitlines()),
          'no reconcile line with the request id in worker.log')
    (done,) = [x for x in logs(served.state_dir, 'worker').splitlines()
               if lb_id in x and request_id in x]
    assert 'INFO' in done and 'settled' in done
    requests.delete(served + '/v2/lbaas/loadbalancers/' + lb_id, timeout=10)
