"""`lbaas demo`: a load balancer in front of two backends, end to end.

Against a running `lbaas serve` (netns data plane): two small backend
servers start in member namespaces on the first IPv4 local subnet, a load
balancer is created through the API in front of them, and requests from a
client namespace show the answers alternating. Everything is removed at the
end, also on Ctrl-C or failure. The namespaces and addresses come from this
host's configuration, so pass the same `--config-file` as the service.
"""
import ipaddress
import secrets
import signal
import sys
import time

import requests

from lbaas import config
from lbaas.drivers import registry
from lbaas.drivers.netns import netlink
from lbaas.testhosts import HOST_PREFIXES, TestHost

BACKEND_PORT = 8080
VIP_PORT = 80
PROJECT = 'lbaas-demo'
WAIT_ACTIVE = 120.0
WAIT_TRAFFIC = 30.0


class DemoError(Exception):
    pass


def main(endpoint, count=6):
    reason = registry.netns_unavailable_reason()
    if reason:
        print('lbaas demo needs the netns data plane: %s' % reason, file=sys.stderr)
        return 1
    sys.stdout.reconfigure(line_buffering=True)  # progress shows as it happens
    # A plain `kill` must clean up as Ctrl-C does: through the finally blocks.
    signal.signal(signal.SIGTERM, _stop)
    try:
        Demo(endpoint.rstrip('/'), count).run()
    except DemoError as exc:
        print('demo failed: %s' % exc, file=sys.stderr)
        return 1
    return 0


def _stop(signum, frame):
    raise SystemExit(128 + signum)


def _addresses_in_use():
    """Addresses of every member/client namespace on this host."""
    used = set()
    for namespace in netlink.namespace_names():
        if namespace.startswith(HOST_PREFIXES):
            with netlink.rtnl(namespace) as ipr:
                used.update(ipaddress.ip_address(m.get('address')) for m in ipr.addr('dump'))
    return used


def pick_addresses(subnet, count):
    """`count` free addresses from the middle of `subnet`: the API hands out
    VIPs from the bottom and amphorae take theirs from the top."""
    used = _addresses_in_use() | {subnet.gateway}
    first = int(subnet.cidr.network_address) + subnet.cidr.num_addresses // 2 - 28
    picked = []
    for value in range(first, int(subnet.cidr.broadcast_address)):
        candidate = ipaddress.ip_address(value)
        if candidate not in used:
            picked.append(str(candidate))
            if len(picked) == count:
                return picked
    raise DemoError('no free addresses left in %s' % subnet.cidr)


class Demo:
    def __init__(self, endpoint, count):
        self.endpoint, self.count = endpoint, count
        self.api = requests.Session()
        self.api.headers['X-Project-Id'] = PROJECT
        self.hosts, self.lb_id, self.posted_at = [], None, None
        self.tag = secrets.token_hex(2)

    def call(self, method, path, body=None):
        try:
            return self.api.request(method, self.endpoint + '/v2/lbaas/' + path, json=body,
                                    timeout=30)
        except requests.ConnectionError:
            raise DemoError('nothing answers at %s; start it with `lbaas serve`'
                            % self.endpoint) from None

    def run(self):
        self.call('GET', 'loadbalancers')  # is anyone there?
        subnet = next((s for s in config.local_subnets() if s.ip_version == 4), None)
        if subnet is None:
            raise DemoError('no IPv4 local subnet is configured')
        fabric = registry.netns_fabric()
        fabric.ensure()  # as the service makes it, from the same configuration
        print('lbaas demo against %s (fabric %s, subnet %s %s)'
              % (self.endpoint, fabric.name, subnet.name, subnet.cidr))
        try:
            backends, client = self.start_hosts(fabric, subnet)
            vip = self.create_lb(subnet, backends)
            self.show_traffic(client, vip)
        finally:
            self.clean_up()

    def start_hosts(self, fabric, subnet):
        *backend_ips, client_ip = pick_addresses(subnet, 3)
        backends = []
        for number, address in enumerate(backend_ips, start=1):
            host = self._host(fabric, 'member-demo-%s-%d' % (self.tag, number), address)
            host.start_backend(BACKEND_PORT, name='backend-%d' % number)
            print('backend-%d  %s:%d in namespace %s' % (number, address, BACKEND_PORT,
                                                         host.namespace))
            backends.append(host)
        client = self._host(fabric, 'client-demo-%s' % self.tag, client_ip)
        print('client     %s in namespace %s' % (client_ip, client.namespace))
        return backends, client

    def _host(self, fabric, name, address):
        host = TestHost(fabric, name, [address])
        self.hosts.append(host)
        return host

    def create_lb(self, subnet, backends):
        pool = {'name': 'demo-pool', 'protocol': 'HTTP', 'lb_algorithm': 'ROUND_ROBIN',
                'members': [{'address': h.addresses[0], 'protocol_port': BACKEND_PORT}
                            for h in backends]}
        body = {'loadbalancer': {'name': 'demo-' + self.tag, 'vip_subnet_id': subnet.id,
                                 'listeners': [{'name': 'demo-http', 'protocol': 'HTTP',
                                                'protocol_port': VIP_PORT,
                                                'default_pool': pool}]}}
        self.posted_at = time.monotonic()
        resp = self.call('POST', 'loadbalancers', body)
        if resp.status_code != 201:
            raise DemoError('creating the load balancer: %s %s' % (resp.status_code, resp.text))
        lb = resp.json()['loadbalancer']
        self.lb_id = lb['id']
        print('load balancer %s, VIP %s' % (lb['id'], lb['vip_address']))
        self.wait_status('ACTIVE', WAIT_ACTIVE)
        print('  ACTIVE after %.2f s' % (time.monotonic() - self.posted_at))
        return lb['vip_address']

    def wait_status(self, wanted, timeout):
        deadline = time.monotonic() + timeout
        while True:
            resp = self.call('GET', 'loadbalancers/' + self.lb_id)
            status = 'DELETED' if resp.status_code == 404 else \
                resp.json()['loadbalancer']['provisioning_status']
            if status == wanted:
                return
            if status == 'ERROR' or time.monotonic() > deadline:
                raise DemoError('load balancer %s is %s, not %s (see the worker log)'
                                % (self.lb_id, status, wanted))
            time.sleep(0.05)

    def show_traffic(self, client, vip):
        target = 'http://%s:%d/' % ('[%s]' % vip if ':' in vip else vip, VIP_PORT)
        deadline = time.monotonic() + WAIT_TRAFFIC
        while True:
            try:
                if client.request(target, timeout=1.0).status == 200:
                    break
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise DemoError('no answer through %s; does the service run the netns '
                                'data plane (see `lbaas serve` output)?' % target)
            time.sleep(0.02)
        print('  first good response through the VIP after %.2f s'
              % (time.monotonic() - self.posted_at))
        print('requests to %s from the client:' % target)
        for number in range(1, self.count + 1):
            reply = client.request(target)
            print('  %2d  %d %s' % (number, reply.status, reply.body.strip()))

    def clean_up(self):
        if self.lb_id:
            started = time.monotonic()
            try:
                self.call('DELETE', 'loadbalancers/%s?cascade=true' % self.lb_id)
                self.wait_status('DELETED', WAIT_ACTIVE)
                print('deleted the load balancer in %.2f s' % (time.monotonic() - started))
            except DemoError as exc:
                print('could not delete load balancer %s: %s' % (self.lb_id, exc),
                      file=sys.stderr)
        for host in self.hosts:
            host.close()
        if self.hosts:
            print('stopped the backends and removed their namespaces')
