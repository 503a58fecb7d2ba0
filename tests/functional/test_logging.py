"""Logs that tell the story: the request line in api.log and the worker's
line for the reconcile it caused carry the same request id, the one the
client got in x-openstack-request-id; oslo.log's options say where the
lines go."""
import json
import logging
import os
import socket
import tempfile
import time

import requests

from lbaas import config
from tests.functional import served as serving
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
    # oslo.log's context part: the request id, then the user and the project.
    assert ' INFO lbaas.api.app [None %s - admin ' % request_id in line, line
    _wait(lambda: any(lb_id in x and request_id in x
                      for x in logs(served.state_dir, 'worker').splitlines()),
          'no reconcile line with the request id in worker.log')
    (done,) = [x for x in logs(served.state_dir, 'worker').splitlines()
               if lb_id in x and request_id in x]
    assert 'INFO' in done and 'settled' in done
    requests.delete(served + '/v2/lbaas/loadbalancers/' + lb_id, timeout=10)


def test_a_request_the_server_cannot_parse_is_answered_and_logged(served):
    host, port = served.rsplit('/', 1)[-1].split(':')
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        sock.sendall(b'GARBAGE\r\n\r\n')
        raw = b''
        while chunk := sock.recv(65536):
            raw += chunk
    head, _, body = raw.partition(b'\r\n\r\n')
    assert head.startswith(b'HTTP/1.1 400 '), raw
    assert b'content-type: application/json' in head.lower()
    assert json.loads(body)['faultcode'] == 'Client'
    _wait(lambda: '400 Bad Request from 127.0.0.1:' in logs(served.state_dir, 'api'),
          'no line about the malformed request in api.log')


def test_serve_with_log_dir_writes_each_service_log_there():
    state_dir = tempfile.mkdtemp(prefix='lbaas-logdir-')
    log_dir = os.path.join(state_dir, 'var-log')
    config_path = serving.write_config(state_dir, sections={
        'DEFAULT': {'log_dir': log_dir}, 'api_settings': {'log_reads': 'True'}})
    proc, url = serving.serve(state_dir, config_path)
    try:
        assert requests.get(url + '/v2/lbaas/loadbalancers', timeout=10).status_code == 200
        names = ('api', 'worker', 'housekeeping', 'health-manager', 'serve')

        def written():
            return all(os.path.exists(os.path.join(log_dir, n + '.log')) for n in names)
        _wait(written, 'a log file per service in %s' % log_dir)
        with open(os.path.join(log_dir, 'api.log')) as f:
            _wait(lambda: 'GET /v2/lbaas/loadbalancers 200' in f.read(), 'request line')
        assert not os.path.exists(os.path.join(state_dir, 'logs'))
        _wait(lambda: 'logs: %s/' % log_dir in proc.tail(), 'the ready lines')
    finally:
        code, left = proc.stop()
    assert code == 0 and not left, proc.tail()


def test_writes_and_failures_are_logged_at_info_successful_reads_at_debug(client, caplog):
    caplog.set_level(logging.DEBUG, logger='lbaas.api.app')

    def level_of(method, path, status):
        """The level of the request line of `method path` answered `status`."""
        line = '%s /v2/lbaas/%s %d ' % (method, path, status)
        (level,) = [r.levelname for r in caplog.records if r.getMessage().startswith(line)]
        return level
    lb = client.create_lb(name='log-levels')
    path = 'loadbalancers/' + lb['id']
    assert level_of('POST', 'loadbalancers', 201) == 'INFO'
    caplog.clear()
    assert client.get(path).status_code == 200
    assert client.get(path + '-gone').status_code == 404
    assert level_of('GET', path, 200) == 'DEBUG'  # what controllers poll, many times a second
    assert level_of('GET', path + '-gone', 404) == 'INFO'
    caplog.clear()
    config.CONF.set_override('log_reads', True, 'api_settings')
    try:
        assert client.get(path).status_code == 200
    finally:
        config.CONF.clear_override('log_reads', 'api_settings')
    assert level_of('GET', path, 200) == 'INFO'
    assert client.delete(path).status_code == 204
