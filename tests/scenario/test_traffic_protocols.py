"""Protocols and algorithms the amphora serves beyond Octavia's, for real.

PROMETHEUS listeners are HAProxy's own exporter, behind allowed_cidrs.
Connections are logged, in Octavia's format, to the amphora's logs/haproxy.log.
SOURCE_IP_PORT (Octavia's amphora answers 501) is served with HAProxy's
`balance hash` on the client's address and port: one client address with
many source ports spreads over the members, while one fixed (address, port)
pair always lands on the same member. Requests come from the client test
host; each answer names the member that served it.
"""
import collections
import os
import secrets
import socket
import time

import pytest

from lbaas.drivers.netns import netlink
from tests.scenario import traffic

HTTP_HASH, TCP_HASH, METRICS = 80, 81, 9100
SPREAD_CONNECTIONS = 60
# Below the kernel's ephemeral range (32768-60999), so that no socket another
# test left open in the client's namespace can hold one of them.
FIXED_PORTS = (20001, 20002, 20003, 20004, 20005, 20006)
REPEATS = 5


@pytest.fixture(scope='module')
def lb(api, members, client):
    three = [traffic.member(m) for m in members[:3]]
    listeners = [
        traffic.listener(HTTP_HASH, traffic.pool('hash-http', three,
                                                 algorithm='SOURCE_IP_PORT')),
        traffic.listener(TCP_HASH, traffic.pool('hash-tcp', three, protocol='TCP',
                                                algorithm='SOURCE_IP_PORT'), protocol='TCP'),
        # Metrics for the first client address only.
        traffic.listener(METRICS, protocol='PROMETHEUS',
                         allowed_cidrs=[client.addresses[0] + '/32']),
    ]
    lb = api.create_lb('protocols', listeners)
    traffic.first_good_response(client, traffic.url(lb['vip_address'], HTTP_HASH))
    yield lb
    api.delete_lb(lb['id'])


def member_from(client, vip, port, source, source_port=0):
    """The member answering one GET sent from (source, source_port).

    The connection ends with a reset (SO_LINGER 0) so that no TIME_WAIT
    entry keeps the same source port from connecting again at once.
    """
    sock = netlink.run_in_namespace(client.namespace, socket.socket, socket.AF_INET,
                                    socket.SOCK_STREAM)
    try:
        sock.settimeout(5.0)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((source, source_port))
        sock.connect((vip, port))
        sock.sendall(b'GET / HTTP/1.1\r\nHost: vip\r\nConnection: close\r\n\r\n')
        data = b''
        while chunk := sock.recv(65536):
            data += chunk
    finally:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b'\x01\x00\x00\x00\x00\x00\x00\x00')
        sock.close()
    head, _, body = data.partition(b'\r\n\r\n')
    assert head.startswith(b'HTTP/1.1 200'), data
    return body.decode().strip()


@pytest.mark.parametrize('port', [HTTP_HASH, TCP_HASH], ids=['http', 'tcp'])
def test_source_ip_port_spreads_one_address_over_the_members(lb, client, port):
    source = client.addresses[0]
    seen = collections.Counter(member_from(client, lb['vip_address'], port, source)
                               for _ in range(SPREAD_CONNECTIONS))
    print('SOURCE_IP_PORT port %d, %d connections from one address:' % (
        port, SPREAD_CONNECTIONS), dict(sorted(seen.items())))
    traffic.record('SOURCE_IP_PORT: fewest of %d connections on one member (port %d)'
                   % (SPREAD_CONNECTIONS, port), min(seen.values()))
    assert set(seen) == {'m1', 'm2', 'm3'}, seen
    assert min(seen.values()) >= SPREAD_CONNECTIONS // 10, seen


@pytest.mark.parametrize('port', [HTTP_HASH, TCP_HASH], ids=['http', 'tcp'])
def test_source_ip_port_keeps_one_address_and_port_on_one_member(lb, client, port):
    source = client.addresses[0]
    chosen = {}
    for source_port in FIXED_PORTS:
        seen = {member_from(client, lb['vip_address'], port, source, source_port)
                for _ in range(REPEATS)}
        assert len(seen) == 1, (source_port, seen)
        chosen[source_port] = seen.pop()
    print('SOURCE_IP_PORT port %d, fixed source port -> member:' % port, chosen)
    traffic.record('SOURCE_IP_PORT: members chosen by %d fixed source ports (port %d)'
                   % (len(FIXED_PORTS), port), len(set(chosen.values())))
    assert len(set(chosen.values())) > 1, chosen  # the port is part of the hash


def test_prometheus_listener_serves_this_load_balancers_metrics(api, lb, client):
    started = time.monotonic()
    reply = client.request(traffic.url(lb['vip_address'], METRICS, '/metrics'),
                           source=client.addresses[0])
    traffic.record('PROMETHEUS scrape (s)', time.monotonic() - started)
    assert reply.status == 200, reply
    assert 'text/plain' in reply.headers.get('content-type', '')
    lines = reply.body.splitlines()
    frontends = [line for line in lines if line.startswith('haproxy_frontend_')]
    print('PROMETHEUS: %d lines, %d haproxy_frontend_ samples' % (len(lines), len(frontends)))
    traffic.record('PROMETHEUS haproxy_frontend_ samples', len(frontends))
    for port in (HTTP_HASH, TCP_HASH, METRICS):  # every frontend is a listener of this LB
        listener_id = api.listener_by_port(lb, port)['id']
        assert any('proxy="%s"' % listener_id in line for line in frontends), port


def test_prometheus_listener_refuses_clients_outside_allowed_cidrs(lb, client):
    outsider = client.addresses[1]
    with pytest.raises(traffic.NETWORK_ERRORS):
        client.request(traffic.url(lb['vip_address'], METRICS, '/metrics'), source=outsider,
                       timeout=2.0)
    # The same address is served on the other listeners: the refusal is the ACL.
    assert member_from(client, lb['vip_address'], HTTP_HASH, outsider) in {'m1', 'm2', 'm3'}


def amphora_log_files(api, service, lb):
    listing = api.call('GET', service.endpoint + '/v2/octavia/amphorae?loadbalancer_id='
                       + lb['id'], expect=200).json()['amphorae']
    return [os.path.join(service.state_dir, 'amphorae', amp['id'], 'logs', 'haproxy.log')
            for amp in listing]


def lines_with(files, marker):
    found = []
    for path in files:
        if os.path.exists(path):
            with open(path) as f:
                found += [line for line in f if marker in line]
    return found


def test_connections_are_logged_in_octavias_format(api, service, lb, client):
    marker = '/logged-' + secrets.token_hex(4)
    sent = time.monotonic()
    reply = client.request(traffic.url(lb['vip_address'], HTTP_HASH, marker))
    assert reply.status == 200
    files = amphora_log_files(api, service, lb)
    assert files
    deadline = time.monotonic() + 10
    while not (lines := lines_with(files, marker)):
        assert time.monotonic() < deadline, 'no log line for %s in %s' % (marker, files)
        time.sleep(0.05)
    traffic.record('request to its access-log line (s)', time.monotonic() - sent)
    print('access log:', lines[0].strip())
    words = lines[0].split()
    listener_id = api.listener_by_port(lb, HTTP_HASH)['id']
    pool = api.pool_by_name(lb, 'hash-http')
    member_ids = {m['id'] for m in api.members(pool['id'])}
    # project, LB, listener, client address, then the request and status.
    start = words.index(lb['project_id'])
    assert words[start + 1:start + 4] == [lb['id'], listener_id, client.addresses[0]]
    assert '"GET %s HTTP/1.1" 200' % marker in lines[0]
    assert '%s:%s' % (pool['id'], listener_id) in words  # the backend: pool:listener
    assert member_ids & set(words), (member_ids, words)  # the member that served it
