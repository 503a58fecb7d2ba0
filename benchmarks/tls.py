"""TLS data-plane benchmark on the netns drivers: figures, never pass/fail.

In one run, from a client namespace, against
  - direct: one member's HTTPS backend (one Python process, its own
            certificate from a test CA),
  - LB:     the VIP of a load balancer with a TERMINATED_HTTPS listener
            (certificate: a PKCS12 bundle in lbaas's key manager, RSA 2048,
            with its intermediate) whose pool sends plain HTTP to the same
            member's HTTP backend,
it measures
  - full TLS handshakes per second: `openssl s_time -new` (no session
    reuse; connect, handshake, close), --clients copies at once;
  - HTTPS keep-alive requests per second: --clients Python processes, each
    one TLS connection sending GET / one after another;
each for --seconds and at most --max-requests per client, and prints LB /
direct ratios. Client, amphora, members and the lbaas service share the
machine's CPUs (2 on the reference machine): the figures say what this
machine does, the ratios how the LB compares with a member serving TLS.

    python benchmarks/tls.py [--seconds 5] [--clients 2] [--json PATH]
"""

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time

import netns_env

from tests.scenario import pki as tls

DEFAULT_JSON = os.path.join(netns_env.RESULTS, 'tls.json')
DIRECT_PORT, LISTENER_PORT = 8443, 443
SERVER_NAME = 'www.example.test'

KEEPALIVE_CLIENT = r'''
import http.client, json, ssl, sys, time
host, port, seconds, limit = sys.argv[1], int(sys.argv[2]), float(sys.argv[3]), int(sys.argv[4])
context = ssl.create_default_context()
context.check_hostname, context.verify_mode = False, ssl.CERT_NONE
def connect():
    return http.client.HTTPSConnection(host, port, context=context, timeout=10)
conn, done, errors, connections = connect(), 0, 0, 1
started = time.monotonic()
while done < limit and time.monotonic() - started < seconds:
    try:
        conn.request("GET", "/")
        answer = conn.getresponse()
        answer.read()
        ok = answer.status == 200
    except (OSError, http.client.HTTPException):
        ok = False
        conn.close()
        conn, connections = connect(), connections + 1
    done, errors = done + ok, errors + (not ok)
print(json.dumps({"requests": done, "errors": errors, "connections": connections,
                  "seconds": time.monotonic() - started}))
'''


def handshakes(client, host, port, args):
    """Full handshakes per second from --clients `openssl s_time -new`, each
    timed by the clock around it (s_time prints whole seconds only)."""
    script = ('date +%%s.%%N; openssl s_time -connect %s:%d -new -time %d; status=$?; '
              'date +%%s.%%N; exit $status' % (host, port, args.seconds))
    children = [client.popen(['sh', '-c', script], stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True)
                for _ in range(args.clients)]
    total, per_s, longest = 0, 0.0, 0.0
    for child in children:
        out, err = child.communicate(timeout=args.seconds + 60)
        found = re.search(r'^(\d+) connections in [\d.]+ real seconds', out, re.MULTILINE)
        if child.returncode != 0 or not found:
            sys.exit('openssl s_time against %s:%d failed:\n%s%s' % (host, port, out, err))
        lines = out.split()
        seconds = float(lines[-1]) - float(lines[0])
        total += int(found.group(1))
        per_s += int(found.group(1)) / seconds
        longest = max(longest, seconds)
    return {'handshakes': total, 'seconds': round(longest, 2), 'per_s': round(per_s, 1),
            'clients': args.clients}


def keepalive(client, host, port, args):
    """Keep-alive HTTPS requests per second from --clients processes."""
    argv = [sys.executable, '-c', KEEPALIVE_CLIENT, host, str(port), str(args.seconds),
            str(args.max_requests)]
    children = [client.popen(argv, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True)
                for _ in range(args.clients)]
    runs = []
    for child in children:
        out, err = child.communicate(timeout=args.seconds + 60)
        if child.returncode != 0:
            sys.exit('keep-alive client against %s:%d failed:\n%s' % (host, port, err))
        runs.append(json.loads(out))
    requests = sum(r['requests'] for r in runs)
    seconds = max(r['seconds'] for r in runs)
    return {'requests': requests, 'errors': sum(r['errors'] for r in runs),
            'connections': sum(r['connections'] for r in runs), 'seconds': round(seconds, 2),
            'per_s': round(requests / seconds, 1), 'clients': args.clients}


def create_lb(service, member, ref):
    api = service.api
    body = {'loadbalancer': {
        'name': 'bench-tls', 'vip_subnet_id': netns_env.traffic.V4_SUBNET,
        'pools': [netns_env.traffic.pool('web', [netns_env.traffic.member(member)])],
        'listeners': [netns_env.traffic.listener(
            LISTENER_PORT, {'name': 'web'}, protocol='TERMINATED_HTTPS',
            default_tls_container_ref=ref)]}}
    resp = api.call('POST', 'loadbalancers', body)
    if resp.status_code != 201:
        sys.exit('cannot create a TERMINATED_HTTPS load balancer (%d): %s'
                 % (resp.status_code, resp.text))
    lb = resp.json()['loadbalancer']
    api.wait_lb(lb['id'])
    return lb


def wait_serving(client, vip, root_file):
    """The listener answers, with the certificate stored (checked by curl)."""
    argv = ['curl', '-sS', '--max-time', '5', '--cacert', root_file, '--resolve',
            '%s:%d:%s' % (SERVER_NAME, LISTENER_PORT, vip),
            'https://%s:%d/' % (SERVER_NAME, LISTENER_PORT)]
    deadline = time.monotonic() + 30
    while (done := client.run(argv, timeout=20)).returncode != 0:
        if time.monotonic() > deadline:
            sys.exit('the TERMINATED_HTTPS listener does not answer: ' + done.stderr)
        time.sleep(0.2)


def run(args):
    with netns_env.environment(members=1) as (service, members, client), \
            tempfile.TemporaryDirectory(prefix='lbaas-bench-tls-') as tmp:
        member = members[0]
        address = member.addresses[0]
        authority = tls.Pki([address])
        files = authority.write(tmp)
        member.start_backend(DIRECT_PORT, name='m1', tls_files=(
            files['member-%s.pem' % address], files['member-%s.key' % address]))
        ref = tls.store_secret(service.api.session, service.endpoint, 'bench-tls',
                               authority.server(SERVER_NAME).pkcs12())
        lb = create_lb(service, member, ref)
        vip = lb['vip_address']
        wait_serving(client, vip, files['root.pem'])
        results = {
            'handshakes': {'direct': handshakes(client, address, DIRECT_PORT, args),
                           'lb': handshakes(client, vip, LISTENER_PORT, args)},
            'keepalive': {'direct': keepalive(client, address, DIRECT_PORT, args),
                          'lb': keepalive(client, vip, LISTENER_PORT, args)},
        }
        member.stop_backend(DIRECT_PORT)
        service.api.delete_lb(lb['id'])
    for kind in ('handshakes', 'keepalive'):
        figures = results[kind]
        figures['lb_over_direct'] = round(
            figures['lb']['per_s'] / max(figures['direct']['per_s'], 1e-9), 2)
    return results


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--seconds', type=float, default=5,
                        help='length of each of the 4 measurements (%(default)s)')
    parser.add_argument('--clients', type=int, default=2,
                        help='client processes at once (%(default)s)')
    parser.add_argument('--max-requests', type=int, default=200000,
                        help='keep-alive requests per client at most (%(default)s)')
    parser.add_argument('--json', default=DEFAULT_JSON, help='results file (%(default)s)')
    args = parser.parse_args(argv)
    args.seconds = max(1, int(args.seconds))  # openssl s_time counts whole seconds
    netns_env.install_signal_handlers()
    results = {'meta': dict(netns_env.meta(), seconds=args.seconds, clients=args.clients,
                            key='RSA 2048', tls='openssl/python defaults (TLS 1.3)')}
    results.update(run(args))
    netns_env.write_json(args.json, results)
    hand, keep = results['handshakes'], results['keepalive']
    rows = [('full TLS handshakes/s (openssl s_time -new)', '%.0f' % hand['direct']['per_s'],
             '%.0f' % hand['lb']['per_s'], '%.2f' % hand['lb_over_direct']),
            ('HTTPS keep-alive requests/s (Python clients)', '%.0f' % keep['direct']['per_s'],
             '%.0f' % keep['lb']['per_s'], '%.2f' % keep['lb_over_direct'])]
    print(netns_env.render(['figure', 'direct to 1 member', 'through the LB', 'LB / direct'],
                           rows))
    print('%d clients at once, %d s per measurement; keep-alive errors: direct %d, LB %d; '
          'the member is one Python process; all share %d CPUs' % (
              args.clients, args.seconds, keep['direct']['errors'], keep['lb']['errors'],
              os.cpu_count()))
    print('results written to %s' % args.json)


if __name__ == '__main__':
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    main()
