"""Data-plane benchmark on the netns drivers: figures, never pass/fail.

wrk runs inside a client namespace (`ip netns exec client-... wrk ...`),
in one run against
  - direct:  one member backend (one Python process) at member:8080,
  - ceiling: one member port served by N backend processes sharing it
             (SO_REUSEPORT), the most this machine gives without the LB,
  - LB:      the VIP of one load balancer (HAProxy in an amphora namespace)
             whose pool has N members, one Python process each,
each with keep-alive and with `Connection: close`, bounded by --seconds,
--connections and --threads. Reports req/s, p50/p99 latency and the ratios
LB/direct and LB/ceiling. Client, LB, members and the lbaas service share
the machine's CPUs, so every figure includes that contention.

    python benchmarks/dataplane.py [--seconds 5] [--connections 50]
                                   [--threads 2] [--members 3] [--json PATH]
"""
import argparse
import os
import subprocess
import sys

import harness
import netns_env
from netns_env import traffic

CEILING_PORT = 8081
DEFAULT_JSON = os.path.join(netns_env.RESULTS, 'dataplane.json')
MODES = {'keep-alive': (), 'close': ('Connection: close',)}


def start_shared_backends(host, port, count):
    """`count` backend processes on one port (SO_REUSEPORT); their Popens."""
    children = [host.popen([sys.executable, '-m', 'lbaas.testhosts', 'serve',
                            '--name', '%s-%d' % (host.name, i), '--port', str(port),
                            '--reuse-port'], stdout=subprocess.DEVNULL)
                for i in range(count)]
    for _ in range(50):
        try:
            if host.request('http://%s:%d/' % (host.addresses[0], port),
                            timeout=0.5).status == 200:
                break
        except traffic.NETWORK_ERRORS:
            pass
    return children


def stop(children):
    for child in children:
        try:
            os.killpg(child.pid, 9)
        except ProcessLookupError:
            pass
        child.wait(10)


def run(args):
    with netns_env.environment(members=args.members) as (service, members, client):
        lb = service.api.create_lb('bench-dataplane', **{
            k: v for k, v in netns_env.lb_body('x', members)['loadbalancer'].items()
            if k in ('listeners', 'pools')})
        vip = traffic.url(lb['vip_address'], 80)
        traffic.first_good_response(client, vip)
        shared = start_shared_backends(members[0], CEILING_PORT, args.members)
        try:
            targets = {
                'direct': 'http://%s:%d/' % (members[0].addresses[0], netns_env.MEMBER_PORT),
                'ceiling': 'http://%s:%d/' % (members[0].addresses[0], CEILING_PORT),
                'lb': vip}
            prefix = ['ip', 'netns', 'exec', client.namespace]
            results = {}
            for mode, headers in MODES.items():
                for name, url in targets.items():
                    figure = harness.run_wrk(url, args.seconds, args.connections,
                                             args.threads, headers=headers, prefix=prefix)
                    figure['url'] = url
                    results['%s/%s' % (name, mode)] = figure
                    print('  %-8s %-10s %9.0f req/s  p50 %6.2f ms  p99 %6.2f ms  errors %d'
                          % (name, mode, figure['req_per_s'], figure['p50_ms'],
                             figure['p99_ms'], figure['errors']), flush=True)
        finally:
            stop(shared)
        service.api.delete_lb(lb['id'])
    for mode in MODES:
        lb_rate = results['lb/%s' % mode]['req_per_s']
        results['ratio/%s' % mode] = {
            'lb_over_direct': round(lb_rate / results['direct/%s' % mode]['req_per_s'], 2),
            'lb_over_ceiling': round(lb_rate / results['ceiling/%s' % mode]['req_per_s'], 2)}
    return results


def table(results, members):
    labels = {'direct': 'direct to 1 member (1 process)',
              'ceiling': 'ceiling: 1 member port, %d processes' % members,
              'lb': 'through the LB (%d members x 1 process)' % members}
    rows = []
    for mode in MODES:
        for name, label in labels.items():
            r = results['%s/%s' % (name, mode)]
            rows.append((mode, label, '%.0f' % r['req_per_s'], '%.2f' % r['p50_ms'],
                         '%.2f' % r['p99_ms'], r['errors']))
        ratio = results['ratio/%s' % mode]
        rows.append((mode, 'LB / direct = %.2f   LB / ceiling = %.2f'
                     % (ratio['lb_over_direct'], ratio['lb_over_ceiling']), '', '', '', ''))
    return netns_env.render(['mode', 'target', 'req/s', 'p50 ms', 'p99 ms', 'errors'], rows)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--seconds', type=int, default=5)
    parser.add_argument('--connections', type=int, default=50)
    parser.add_argument('--threads', type=int, default=2)
    parser.add_argument('--members', type=int, default=3, choices=(1, 2, 3, 4))
    parser.add_argument('--json', default=DEFAULT_JSON, help='results file (%(default)s)')
    args = parser.parse_args(argv)
    if not harness.WRK:
        sys.exit('wrk is not installed')
    netns_env.install_signal_handlers()
    results = {'meta': dict(netns_env.meta(), seconds=args.seconds,
                            connections=args.connections, threads=args.threads,
                            members=args.members)}
    results.update(run(args))
    netns_env.write_json(args.json, results)
    print(table(results, args.members))
    print()
    print('wrk %d threads, %d connections, %d s per run, from a client namespace; GET / '
          '(a few bytes); HTTP listener, ROUND_ROBIN, HTTP health monitor'
          % (args.threads, args.connections, args.seconds))
    print('client (wrk), LB (HAProxy), members (Python asyncio backends) and the lbaas '
          'service all share the same %d CPUs: the ceiling is what this machine allows, '
          'not what HAProxy could do alone' % os.cpu_count())
    print('results written to %s' % args.json)


if __name__ == '__main__':
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    main()
