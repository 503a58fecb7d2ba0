"""Log offloading ([amphora_agent] log targets) to a syslog receiver, for real.

This module runs a `lbaas serve` of its own, as test_certificates does (the
shared one in conftest.py has no log targets), with `tenant_log_targets` and
`admin_log_targets` pointing at a syslog receiver: a test host namespace on
the local network, 198.18.0.160, listening on UDP and TCP (tenant logs on
port 5140, admin logs on 5141), whose sockets this process opened inside it.

Where the receiver sits: an amphora's namespace has no default route. It
reaches the health manager over the management network (the controller's
address on the host link) and the members over the local network's bridge,
on which its VIP subnet is on-link. A test host can only be placed on a
local network, so the receiver sits there, at an address of the VIP's
subnet: the amphora reaches it directly, as it reaches the members. (In
Octavia the receivers are on, or routed from, the management network; a
receiver at the controller's address would work here too.)

The story: flow logs of requests sent through the VIP reach the tenant
target in Octavia's format (project, LB, listener, client...), over UDP; a
listener with `connection_logging: false` sends none while its sibling
still does; HAProxy's own notices reach the admin target. Then the
controller restarts with `log_protocol = TCP`, and a new load balancer's
amphora sends both kinds over TCP, one message a line.
"""
import json
import re
import secrets
import socket
import threading
import time

import pytest

from lbaas.drivers.netns import netlink
from tests.scenario import conftest, traffic

RECEIVER = '198.18.0.160'
TENANT_PORT, ADMIN_PORT = 5140, 5141
LOGGED, QUIET = 80, 81  # listeners: connection logging on, then switched off
OPTIONS = {'amphora_agent': {
    'tenant_log_targets': '%s:%d' % (RECEIVER, TENANT_PORT),
    'admin_log_targets': '%s:%d' % (RECEIVER, ADMIN_PORT),
    'log_protocol': 'UDP', 'log_retry_interval': 1}}
TCP_OPTIONS = dict(OPTIONS['amphora_agent'], log_protocol='TCP')
ARRIVAL_TIMEOUT = 10.0
# <PRI>Mmm dd hh:mm:ss amphora-<id> haproxy[pid]: <the flow log line>
FLOW = re.compile(r'^<134>[A-Z][a-z]{2} [ \d]\d \d\d:\d\d:\d\d amphora-(\S+) haproxy\[\d+\]: (.*)$')


class SyslogReceiver:
    """UDP and TCP syslog on `ports` inside a test host's namespace: every
    message received, as (protocol, port, text)."""

    def __init__(self, host, ports):
        self.messages = []
        self.sockets = []
        for port in ports:
            udp = self._socket(host, socket.SOCK_DGRAM, port)
            tcp = self._socket(host, socket.SOCK_STREAM, port)
            tcp.listen(8)
            threading.Thread(target=self._datagrams, args=(udp, port), daemon=True).start()
            threading.Thread(target=self._accept, args=(tcp, port), daemon=True).start()

    def _socket(self, host, kind, port):
        sock = netlink.run_in_namespace(host.namespace, socket.socket, socket.AF_INET, kind)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host.addresses[0], port))
        self.sockets.append(sock)
        return sock

    def _datagrams(self, sock, port):
        while True:
            try:
                data = sock.recv(65536)
            except OSError:
                return
            self.messages.append(('UDP', port, data.decode(errors='replace')))

    def _accept(self, sock, port):
        while True:
            try:
                conn, _ = sock.accept()
            except OSError:
                return
            self.sockets.append(conn)
            threading.Thread(target=self._lines, args=(conn, port), daemon=True).start()

    def _lines(self, conn, port):
        with conn.makefile('rb') as stream:
            try:
                for line in stream:
                    self.messages.append(('TCP', port, line.decode(errors='replace').rstrip('\n')))
            except OSError:
                return

    def wait_for(self, predicate, timeout=ARRIVAL_TIMEOUT, since=0):
        """Messages from the `since`th on for which `predicate` holds."""
        deadline = time.monotonic() + timeout
        while True:
            found = [m for m in self.messages[since:] if predicate(*m)]
            if found:
                return found
            assert time.monotonic() < deadline, 'no such message; received: %s' % (
                self.messages[-10:],)
            time.sleep(0.05)

    def close(self):
        for sock in self.sockets:
            sock.close()


@pytest.fixture(scope='module')
def log_service(request):
    yield from conftest.own_service(request, 'log offloading', OPTIONS, 'l')


@pytest.fixture(scope='module')
def hosts(log_service):
    member = log_service.host('member', 'm1', conftest.MEMBER_ADDRESSES[:1])
    member.start_backend(traffic.MEMBER_PORT, name='m1')
    client = log_service.host('client', 'c', conftest.CLIENT_ADDRESSES[:1])
    receiver_host = log_service.host('client', 'syslog', [RECEIVER])
    receiver = SyslogReceiver(receiver_host, (TENANT_PORT, ADMIN_PORT))
    yield member, client, receiver
    receiver.close()


def make_lb(api, member, client, name, flavor_id=None):
    pools = [traffic.pool('p%d-%s' % (port, name), [traffic.member(member)])
             for port in (LOGGED, QUIET)]
    listeners = [traffic.listener(LOGGED, pools[0]), traffic.listener(QUIET, pools[1])]
    if flavor_id is None:
        lb = api.create_lb(name, listeners)
    else:
        body = {'name': name, 'vip_subnet_id': traffic.V4_SUBNET, 'flavor_id': flavor_id,
                'listeners': listeners}
        lb = api.call('POST', 'loadbalancers', {'loadbalancer': body},
                      expect=201).json()['loadbalancer']
        api.wait_lb(lb['id'])
    traffic.first_good_response(client, traffic.url(lb['vip_address'], LOGGED))
    return lb


def active_standby_flavor(api):
    profile = api.call('POST', 'flavorprofiles', {'flavorprofile': {
        'name': 'active-standby', 'provider_name': 'amphora',
        'flavor_data': json.dumps({'loadbalancer_topology': 'ACTIVE_STANDBY'})}},
        expect=201).json()['flavorprofile']
    return api.call('POST', 'flavors', {'flavor': {
        'name': 'active-standby', 'flavor_profile_id': profile['id']}},
        expect=201).json()['flavor']['id']


def amphora_hosts(api, lb):
    listing = api.call('GET', api.base.replace('/lbaas/', '/octavia/') + 'amphorae?'
                       'loadbalancer_id=' + lb['id'], expect=200).json()['amphorae']
    return {'amphora-' + a['id'] for a in listing}


def reload_haproxy(api, lb, timeout_client_data):
    """A change HAProxy's configuration shows: the agent reloads it."""
    listener = api.listener_by_port(lb, LOGGED)
    api.change('PUT', 'listeners/' + listener['id'], 'listener',
               {'timeout_client_data': timeout_client_data}, lb_id=lb['id'])


def flow_lines(receiver, protocol, marker):
    return receiver.wait_for(
        lambda proto, port, text: proto == protocol and port == TENANT_PORT and marker in text)


def check_flow_line(api, lb, client, text, port):
    """`text` is Octavia's flow log line for one request of `client` to `port`."""
    match = FLOW.match(text)
    assert match, text
    assert 'amphora-' + match.group(1) in amphora_hosts(api, lb)
    words = match.group(2).split()
    listener_id = api.listener_by_port(lb, port)['id']
    assert words[:4] == [lb['project_id'], lb['id'], listener_id, client.addresses[0]], words


def request_logged(receiver, client, lb, port, protocol):
    marker = '/offloaded-' + secrets.token_hex(4)
    sent = time.monotonic()
    assert client.request(traffic.url(lb['vip_address'], port, marker)).status == 200
    (line,) = [text for _, _, text in flow_lines(receiver, protocol, marker)]
    traffic.record('request to its offloaded flow log, %s (s)' % protocol,
                   time.monotonic() - sent)
    return line


def admin_messages(receiver, protocol, hosts, words, since=0):
    """Admin messages over `protocol` from one of `hosts` holding `words`."""
    return receiver.wait_for(
        lambda proto, port, text: (proto == protocol and port == ADMIN_PORT
                                   and text.split()[3:4] == [h for h in hosts if h in text][:1]
                                   and words in text), since=since)


def test_flow_and_admin_logs_reach_their_targets_over_udp(log_service, hosts):
    member, client, receiver = hosts
    api = log_service.api
    lb = make_lb(api, member, client, 'offload-udp')
    log_service.udp_lb = lb
    line = request_logged(receiver, client, lb, LOGGED, 'UDP')
    print('tenant flow log (UDP):', line)
    check_flow_line(api, lb, client, line, LOGGED)
    request_logged(receiver, client, lb, QUIET, 'UDP')  # every listener logs
    reload_haproxy(api, lb, 40000)
    # The reload's notices from the old HAProxy worker, as admin logs (local1).
    (admin, *_) = admin_messages(receiver, 'UDP', amphora_hosts(api, lb), ' stopped ')
    print('admin log (UDP):', admin[2])
    assert re.match(r'^<14[0-7]>.* haproxy\[\d+\]: Proxy \S+ stopped ', admin[2]), admin
    assert not [m for m in receiver.messages if m[1] == ADMIN_PORT and 'offloaded-' in m[2]]
    assert not [m for m in receiver.messages if m[1] == TENANT_PORT and ' stopped ' in m[2]]


def test_both_kinds_go_over_tcp_after_a_restart_with_log_protocol_tcp(log_service, hosts):
    """An ACTIVE_STANDBY pair this time: keepalived's messages are admin logs too."""
    member, client, receiver = hosts
    log_service.restart({'amphora_agent': TCP_OPTIONS})
    api = log_service.api
    lb = make_lb(api, member, client, 'offload-tcp', active_standby_flavor(api))  # new amphorae
    log_service.tcp_lb = lb
    line = request_logged(receiver, client, lb, LOGGED, 'TCP')
    print('tenant flow log (TCP):', line)
    check_flow_line(api, lb, client, line, LOGGED)
    (vrrp, *_) = admin_messages(receiver, 'TCP', amphora_hosts(api, lb), 'Entering MASTER STATE')
    print('admin log from keepalived (TCP):', vrrp[2])
    assert re.match(r'^<14\d>.* keepalived: ', vrrp[2]), vrrp


def test_connection_logging_false_stops_the_flow_logs(log_service, hosts):
    """`[haproxy_amphora] connection_logging = False` (Octavia's switch, for
    every listener), applied to the TCP pair at its next change."""
    _member, client, receiver = hosts
    log_service.restart({'amphora_agent': TCP_OPTIONS,
                         'haproxy_amphora': {'connection_logging': False}})
    api, lb = log_service.api, log_service.tcp_lb
    before = len(receiver.messages)
    reload_haproxy(api, lb, 40000)
    (admin, *_) = admin_messages(receiver, 'TCP', amphora_hosts(api, lb), ' stopped ', before)
    print('admin log from HAProxy (TCP):', admin[2])
    quiet = '/quiet-' + secrets.token_hex(4)
    for port in (LOGGED, QUIET):
        assert client.request(traffic.url(lb['vip_address'], port, quiet)).status == 200
    # The UDP load balancer's amphora was not changed: it still logs, and its
    # line arriving after the requests above shows the receiver got what came.
    request_logged(receiver, client, log_service.udp_lb, LOGGED, 'UDP')
    time.sleep(0.5)
    assert not [m for m in receiver.messages if quiet in m[2]]
