"""UDP data-plane benchmark on the netns drivers: figures, never pass/fail.

In one run, a Python UDP client inside a client namespace sends datagrams
(each socket keeps --window in flight, --sockets sockets, i.e. flows) for
--seconds against
  - direct: one member's UDP echo server (one Python process),
  - LB:     the VIP of a load balancer whose UDP listener (nftables full-NAT
            in the amphora namespace) spreads the flows over --members echo
            servers, one Python process each, on another port,
and reports answered datagrams per second and the ratio LB/direct. Client,
members, the amphora's NAT and the lbaas service share the machine's CPUs.

Needs the amphora provider to accept UDP (lbaas/service/providers.py).

    python benchmarks/udp.py [--seconds 5] [--sockets 16] [--window 4]
                             [--members 3] [--json PATH]
"""

import argparse
import json
import os
import sys
import time

import netns_env

DEFAULT_JSON = os.path.join(netns_env.RESULTS, 'udp.json')
ECHO_PORT, LISTENER_PORT = 9053, 5000

ECHO = r'''
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("0.0.0.0", int(sys.argv[1])))
while True:
    data, peer = s.recvfrom(2048)
    s.sendto(data, peer)
'''
CLIENT = r'''
import json, selectors, socket, sys, time
host, port, seconds, count, window = sys.argv[1], int(sys.argv[2]), float(sys.argv[3]), \
    int(sys.argv[4]), int(sys.argv[5])
selector = selectors.DefaultSelector()
socks = []
for _ in range(count):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.setblocking(False)
    s.connect((host, port))
    selector.register(s, selectors.EVENT_READ)
    socks.append(s)
def send(s, n):
    for _ in range(n):
        try:
            s.send(b"ping")
        except OSError:
            pass
for s in socks:
    send(s, window)
answered = 0
end = time.monotonic() + seconds
while time.monotonic() < end:
    events = selector.select(0.1)
    if not events:  # datagrams lost: put the windows back in flight
        for s in socks:
            send(s, window)
    for key, _ in events:
        while True:
            try:
                key.fileobj.recv(64)
            except BlockingIOError:
                break
            except OSError:
                continue
            answered += 1
            send(key.fileobj, 1)
print(json.dumps({"answered": answered, "per_s": answered / seconds}))
'''


def measure(client, host, port, args):
    argv = [sys.executable, '-c', CLIENT, host, str(port), str(args.seconds),
            str(args.sockets), str(args.window)]
    done = client.run(argv, timeout=args.seconds + 30)
    if done.returncode != 0:
        sys.exit('client failed: ' + done.stderr)
    return json.loads(done.stdout)


def wait_answers(client, vip, args):
    probe = argparse.Namespace(seconds=0.5, sockets=1, window=1)
    deadline = time.monotonic() + 30
    while measure(client, vip, LISTENER_PORT, probe)['answered'] == 0:
        if time.monotonic() > deadline:
            sys.exit('the UDP listener does not answer')


def create_lb(service, members):
    api = service.api
    pool = {'name': 'udp', 'protocol': 'UDP', 'lb_algorithm': 'ROUND_ROBIN',
            'members': [{'address': h.addresses[0], 'protocol_port': ECHO_PORT}
                        for h in members]}
    body = {'loadbalancer': {
        'name': 'bench-udp', 'vip_subnet_id': netns_env.traffic.V4_SUBNET,
        'pools': [pool],
        'listeners': [{'name': 'udp', 'protocol': 'UDP', 'protocol_port': LISTENER_PORT,
                       'default_pool': {'name': 'udp'}}]}}
    resp = api.call('POST', 'loadbalancers', body)
    if resp.status_code != 201:
        sys.exit('cannot create a UDP load balancer (%d): %s' % (resp.status_code, resp.text))
    lb = resp.json()['loadbalancer']
    api.wait_lb(lb['id'])
    return lb


def run(args):
    with netns_env.environment(members=args.members) as (service, members, client):
        echoes = [h.popen([sys.executable, '-c', ECHO, str(ECHO_PORT)]) for h in members]
        try:
            lb = create_lb(service, members)
            wait_answers(client, lb['vip_address'], args)
            results = {
                'direct': measure(client, members[0].addresses[0], ECHO_PORT, args),
                'lb': measure(client, lb['vip_address'], LISTENER_PORT, args),
            }
            service.api.delete_lb(lb['id'])
        finally:
            for child in echoes:
                child.kill()
                child.wait(10)
    results['ratio'] = {'lb_over_direct': round(
        results['lb']['per_s'] / max(results['direct']['per_s'], 1e-9), 2)}
    return results


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--seconds', type=float, default=5)
    parser.add_argument('--sockets', type=int, default=16)
    parser.add_argument('--window', type=int, default=4)
    parser.add_argument('--members', type=int, default=3, choices=(1, 2, 3, 4))
    parser.add_argument('--json', default=DEFAULT_JSON, help='results file (%(default)s)')
    args = parser.parse_args(argv)
    netns_env.install_signal_handlers()
    results = {'meta': dict(netns_env.meta(), seconds=args.seconds, sockets=args.sockets,
                            window=args.window, members=args.members)}
    results.update(run(args))
    netns_env.write_json(args.json, results)
    rows = [('direct to 1 member (1 process)', '%.0f' % results['direct']['per_s']),
            ('through the LB (%d members)' % args.members, '%.0f' % results['lb']['per_s']),
            ('LB / direct', '%.2f' % results['ratio']['lb_over_direct'])]
    print(netns_env.render(['target', 'answered datagrams/s'], rows))
    print('%d sockets x %d datagrams in flight, %.0f s per run, Python echo servers; all '
          'share %d CPUs' % (args.sockets, args.window, args.seconds, os.cpu_count()))
    print('results written to %s' % args.json)


if __name__ == '__main__':
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    main()
