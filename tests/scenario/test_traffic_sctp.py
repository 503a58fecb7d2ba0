"""SCTP listeners for real, as far as this kernel lets them be real.

What is proven here: an SCTP listener and pool are served by the same
nftables full-NAT as UDP, in the amphora namespace. The client sends
crafted SCTP INIT packets (raw sockets, protocol 132, CRC32c by
`lbaas.agent.sctp_check`) to VIP:port, each from its own source port below
32768, so each is a new conntrack entry and a new pick. Each member host
runs small raw-socket responders, one per member port, that answer an INIT
with an INIT-ACK carrying the member's name as its state cookie, and record
every INIT they got. So the tests see:

* conntrack DNAT and masquerade of SCTP: INITs reach the member on the
  member's port from the amphora's address (never the client's), with a
  checksum the responder accepts after NAT, and the INIT-ACK comes back to
  the client from VIP:port, un-NATed;
* the balancing: weights 1:2:3 spread the INITs by weight, SOURCE_IP keeps
  one client address on one member;
* the agent's SCTP health check (INIT, INIT-ACK is up, silence is down):
  a stopped responder leaves rotation, its member's operating_status goes
  ERROR, and it comes back when the responder does.

What cannot be proven here: the kernel has no SCTP stack, so there is no
real association (no COOKIE-ECHO, no DATA chunks, no SACKs, no shutdown),
no multi-homing (no second path, no ASCONF), and no SCTP endpoint of the
kernel answering ABORT; conntrack sees only INIT and INIT-ACK.
"""

import itertools
import json
import sys
import time

import pytest

from lbaas.service import providers
from tests.scenario import traffic

pytestmark = pytest.mark.skipif(
    'SCTP' in getattr(providers, 'UNSERVED_PROTOCOLS', ()),
    reason='the amphora provider still refuses SCTP (providers.UNSERVED_PROTOCOLS)')

SCTP_PORT, HEALTH_SCTP_PORT = 9868, 9869
WEIGHTED_PORT, SOURCE_IP_PORT, HEALTH_PORT = 3868, 3869, 3870
DELAY, TIMEOUT, MAX_RETRIES, MAX_RETRIES_DOWN = 3, 1, 1, 2
SLACK = DELAY + 8.0  # check phase + CPU noise on a shared 2-core host
# Each INIT gets a source port of its own (a new conntrack entry), all below
# 32768 so none meets the kernel's ephemeral range.
SOURCE_PORTS = itertools.count(10000)

RESPOND = r'''
import socket, sys
from lbaas.agent import sctp_check as s
port, name, record = int(sys.argv[1]), sys.argv[2].encode(), sys.argv[3]
sock = socket.socket(socket.AF_INET, socket.SOCK_RAW, s.PROTOCOL)
with open(record, "a") as log:
    while True:
        data, peer = sock.recvfrom(65536)
        found = s.parse(s.strip_ip(data, 4))
        if found is None or found.chunk != s.INIT or found.destination_port != port:
            continue
        log.write("%s %d\n" % (peer[0], found.source_port))
        log.flush()
        ack = s.init_chunk(0x5EC7AB1E, 1, s.INIT_ACK, name)
        sock.sendto(s.packet(port, found.source_port, found.init_tag, ack), (peer[0], 0))
'''
ASK = r'''
import json, os, select, socket, sys, time
from lbaas.agent import sctp_check as s
vip, port, first, count = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
source = sys.argv[5] if len(sys.argv) > 5 else ""
found = []
with socket.socket(socket.AF_INET, socket.SOCK_RAW, s.PROTOCOL) as sock:
    if source:
        sock.bind((source, 0))
    for sport in range(first, first + count):
        tag = int.from_bytes(os.urandom(4), "big") or 1
        sock.sendto(s.packet(sport, port, 0, s.init_chunk(tag, tag)), (vip, 0))
        name, deadline = None, time.monotonic() + 0.5
        while name is None and (left := deadline - time.monotonic()) > 0:
            if not select.select([sock], [], [], left)[0]:
                break
            data, peer = sock.recvfrom(65536)
            ack = s.answer(s.strip_ip(data, 4), port, sport, tag)
            if ack is not None and ack.chunk == s.INIT_ACK and peer[0] == vip:
                name = ack.cookie.decode()
        found.append(name)
print(json.dumps(found))
'''


class Responders(traffic.MemberServers):
    """Raw-socket SCTP responders on member hosts, each recording its INITs."""

    def __init__(self, directory):
        super().__init__(RESPOND)
        self.directory = directory

    def record(self, name, port):
        return self.directory / ('%s-%d.log' % (name, port))

    def argv(self, name, port):
        return super().argv(name, port) + [str(self.record(name, port))]

    def inits(self, name, port):
        """(source address, source port) of each INIT the responder got."""
        path = self.record(name, port)
        lines = path.read_text().split() if path.exists() else []
        return list(zip(lines[::2], map(int, lines[1::2]), strict=True))


def ask(client, vip, port, count, source=None):
    """Which member answered each of `count` INITs (None: no INIT-ACK)."""
    first = next(SOURCE_PORTS)
    for _ in range(count - 1):
        next(SOURCE_PORTS)
    assert first + count < 32768, 'the test ran out of source ports below 32768'
    argv = [sys.executable, '-c', ASK, vip, str(port), str(first), str(count)]
    done = client.run(argv + ([source] if source else []), timeout=count + 10)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def wait_answers(client, vip, port, timeout=30.0):
    deadline = time.monotonic() + timeout
    while not any(ask(client, vip, port, 3)):
        assert time.monotonic() < deadline, 'no INIT-ACK through the VIP'
        time.sleep(0.2)


def monitor():
    return {'type': 'SCTP', 'delay': DELAY, 'timeout': TIMEOUT,
            'max_retries': MAX_RETRIES, 'max_retries_down': MAX_RETRIES_DOWN}


@pytest.fixture(scope='module')
def responders(members, tmp_path_factory):
    running = Responders(tmp_path_factory.mktemp('sctp'))
    try:
        for host in members[:3]:
            running.start(host, SCTP_PORT)
            running.start(host, HEALTH_SCTP_PORT)
        yield running
    finally:
        running.stop_all()


@pytest.fixture(scope='module')
def lb(api, members, responders, client):
    lb = traffic.l4_lb(api, 'sctp', 'SCTP', members[:3], SCTP_PORT, HEALTH_SCTP_PORT, monitor(),
                       (WEIGHTED_PORT, SOURCE_IP_PORT, HEALTH_PORT))
    try:
        wait_answers(client, lb['vip_address'], WEIGHTED_PORT)
        yield lb
    finally:
        api.delete_lb(lb['id'])


def test_inits_spread_by_weight_through_dnat_and_masquerade(lb, client, responders):
    answers = ask(client, lb['vip_address'], WEIGHTED_PORT, 120)
    traffic.assert_weighted_1_2_3(answers)
    # The members saw INITs on their own port, from the amphora, not the client.
    sources = {address for name in ('m1', 'm2', 'm3')
               for address, _ in responders.inits(name, SCTP_PORT)}
    assert len(sources) == 1 and not sources & set(client.addresses), sources
    seen = sum(len(responders.inits(name, SCTP_PORT)) for name in ('m1', 'm2', 'm3'))
    assert seen >= 118


def test_source_ip_keeps_a_client_on_one_member(lb, client):
    traffic.assert_source_ip_sticks(ask, client, lb['vip_address'], SOURCE_IP_PORT)


def test_stopped_responder_leaves_rotation_and_returns(api, lb, client, members, responders):
    m2 = members[1]
    checks_before = len(responders.inits('m2', HEALTH_SCTP_PORT))
    traffic.assert_leaves_rotation_and_returns(
        api, lb, ask, client, HEALTH_PORT, m2, lambda: responders.stop(m2, HEALTH_SCTP_PORT),
        lambda: responders.start(m2, HEALTH_SCTP_PORT), 'SCTP',
        (DELAY, TIMEOUT, MAX_RETRIES, MAX_RETRIES_DOWN), SLACK)
    # The agent's checks were INITs too, recorded by the responder.
    assert len(responders.inits('m2', HEALTH_SCTP_PORT)) > checks_before


def test_sctp_listener_reports_online(api, lb):
    listener = api.listener_by_port(lb, WEIGHTED_PORT)
    api.wait_operating('listeners/' + listener['id'], 'listener', 'ONLINE', timeout=10)
