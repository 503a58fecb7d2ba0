"""UDP listeners for real: nftables full-NAT in the amphora namespace.

Each member host runs a tiny UDP echo server (answering with its name) on
UDP_PORT, started here with `ip netns exec`, on another port than the
listeners'. The client sends each request from a fresh socket (a new source
port, so a new flow and a new pick) and reads which member answered.

Runs once the amphora provider accepts UDP (`UNSERVED_PROTOCOLS` in
lbaas/service/providers.py); skipped, with that reason, before.
"""

import json
import sys
import time

import pytest

from lbaas.service import providers
from tests.scenario import traffic

pytestmark = pytest.mark.skipif(
    'UDP' in getattr(providers, 'UNSERVED_PROTOCOLS', ()),
    reason='the amphora provider still refuses UDP (providers.UNSERVED_PROTOCOLS)')

UDP_PORT, HEALTH_UDP_PORT = 9053, 9054
WEIGHTED_PORT, SOURCE_IP_PORT, HEALTH_PORT = 5000, 5001, 5002
DELAY, TIMEOUT, MAX_RETRIES, MAX_RETRIES_DOWN = 3, 1, 1, 2
SLACK = DELAY + 8.0  # check phase + CPU noise on a shared 2-core host

ECHO = r'''
import socket, sys
family = socket.AF_INET
s = socket.socket(family, socket.SOCK_DGRAM)
s.bind(("0.0.0.0", int(sys.argv[1])))
name = sys.argv[2].encode()
while True:
    data, peer = s.recvfrom(2048)
    s.sendto(name, peer)
'''
ASK = r'''
import json, socket, sys
vip, port, count = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
source = sys.argv[4] if len(sys.argv) > 4 else ""
found = []
for _ in range(count):
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.settimeout(0.5)
        if source:
            s.bind((source, 0))
        s.sendto(b"who", (vip, port))
        try:
            found.append(s.recv(100).decode())
        except OSError:
            found.append(None)
print(json.dumps(found))
'''


def ask(client, vip, port, count, source=None):
    argv = [sys.executable, '-c', ASK, vip, str(port), str(count)] + ([source] if source else [])
    done = client.run(argv, timeout=count + 10)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def wait_answers(client, vip, port, timeout=30.0):
    deadline = time.monotonic() + timeout
    while not any(ask(client, vip, port, 3)):
        assert time.monotonic() < deadline, 'no UDP answer through the VIP'
        time.sleep(0.2)


def monitor():
    return {'type': 'UDP-CONNECT', 'delay': DELAY, 'timeout': TIMEOUT,
            'max_retries': MAX_RETRIES, 'max_retries_down': MAX_RETRIES_DOWN}


@pytest.fixture(scope='module')
def echoes(members):
    running = traffic.MemberServers(ECHO)
    for host in members[:3]:
        running.start(host, UDP_PORT)
        running.start(host, HEALTH_UDP_PORT)
    yield running
    running.stop_all()


@pytest.fixture(scope='module')
def lb(api, members, echoes, client):
    lb = traffic.l4_lb(api, 'udp', 'UDP', members[:3], UDP_PORT, HEALTH_UDP_PORT, monitor(),
                       (WEIGHTED_PORT, SOURCE_IP_PORT, HEALTH_PORT))
    wait_answers(client, lb['vip_address'], WEIGHTED_PORT)
    yield lb
    api.delete_lb(lb['id'])


def test_requests_spread_by_weight(lb, client):
    answers = ask(client, lb['vip_address'], WEIGHTED_PORT, 120)
    traffic.assert_weighted_1_2_3(answers)


def test_source_ip_keeps_a_client_on_one_member(lb, client):
    traffic.assert_source_ip_sticks(ask, client, lb['vip_address'], SOURCE_IP_PORT)


def test_stopped_member_leaves_rotation_and_returns(api, lb, client, members, echoes):
    m2 = members[1]
    traffic.assert_leaves_rotation_and_returns(
        api, lb, ask, client, HEALTH_PORT, m2, lambda: echoes.stop(m2, HEALTH_UDP_PORT),
        lambda: echoes.start(m2, HEALTH_UDP_PORT), 'UDP',
        (DELAY, TIMEOUT, MAX_RETRIES, MAX_RETRIES_DOWN), SLACK)


def test_udp_listener_reports_online(api, lb):
    listener = api.listener_by_port(lb, WEIGHTED_PORT)
    api.wait_operating('listeners/' + listener['id'], 'listener', 'ONLINE', timeout=10)
