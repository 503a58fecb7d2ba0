"""Provisioning benchmark on the netns data plane: figures, never pass/fail.

For each of `--count` load balancers (sequential): one graph POST (HTTP
listener on port 80, a pool of 3 members that are real backends in member
namespaces, an HTTP health monitor) timed until
  - the POST is answered,
  - a GET shows the LB ACTIVE (polled every 10 ms in a second thread),
  - the first 200 through the VIP from a client namespace (a new connection
    every 10 ms, each given 250 ms).
Each LB is deleted (cascade, waited to DELETED; not timed) once measured, so
at most one amphora exists at a time.

    python benchmarks/provision.py [--count 20] [--json PATH]
"""
import argparse
import os
import sys
import threading
import time

import netns_env
from harness import summary_ms
from netns_env import traffic

PROBE_EVERY = 0.01
PROBE_TIMEOUT = 0.25
POLL_EVERY = 0.01
DEADLINE = 120.0
DEFAULT_JSON = os.path.join(netns_env.RESULTS, 'provision.json')


def wait_active(api, lb_id, started, out):
    """Puts into out['active'] the seconds from `started` to ACTIVE."""
    try:
        while time.perf_counter() - started < DEADLINE:
            status = api.lb_status(lb_id)
            if status == 'ACTIVE':
                out['active'] = time.perf_counter() - started
                return
            if status == 'ERROR':
                out['error'] = 'LB %s went to ERROR' % lb_id
                return
            time.sleep(POLL_EVERY)
        out['error'] = 'LB %s not ACTIVE after %ds' % (lb_id, DEADLINE)
    except Exception as exc:  # reported by the main thread
        out['error'] = repr(exc)


def first_good(client, target, started):
    while time.perf_counter() - started < DEADLINE:
        try:
            if client.request(target, timeout=PROBE_TIMEOUT).status == 200:
                return time.perf_counter() - started
        except traffic.NETWORK_ERRORS:
            pass
        time.sleep(PROBE_EVERY)
    raise RuntimeError('no good answer from %s after %ds' % (target, DEADLINE))


def provision_one(service, members, client, name):
    poller = traffic.Api(service.endpoint, service.api.session.headers['X-Project-Id'])
    started = time.perf_counter()
    resp = service.api.call('POST', 'loadbalancers',
                            netns_env.lb_body(name, members), expect=201)
    post = time.perf_counter() - started
    lb = resp.json()['loadbalancer']
    out = {}
    thread = threading.Thread(target=wait_active, args=(poller, lb['id'], started, out))
    thread.start()
    try:
        answered = first_good(client, traffic.url(lb['vip_address'], 80), started)
    finally:
        thread.join()
    if 'error' in out:
        raise RuntimeError(out['error'])
    service.api.delete_lb(lb['id'])
    return {'post': post, 'active': out['active'], 'first_good': answered,
            'vip': lb['vip_address']}


def run(count):
    with netns_env.environment(members=3) as (service, members, client):
        runs = []
        for i in range(count):
            one = provision_one(service, members, client, 'bench-prov-%d' % i)
            print('  LB %2d: POST %6.1f ms  ACTIVE %7.1f ms  first 200 %7.1f ms' % (
                i + 1, one['post'] * 1000, one['active'] * 1000, one['first_good'] * 1000),
                flush=True)
            runs.append(one)
    return {'post': summary_ms([r['post'] for r in runs]),
            'to_active': summary_ms([r['active'] for r in runs]),
            'to_first_good': summary_ms([r['first_good'] for r in runs]),
            'runs_ms': [{k: round(v * 1000, 1) for k, v in r.items() if k != 'vip'}
                        for r in runs]}


def table(results):
    rows = [
        ('POST -> first 200 through the VIP', results['to_first_good'], '< 1 s p50',
         '45-100 s'),
        ('POST -> ACTIVE (GET)', results['to_active'], '', ''),
        ('POST answered', results['post'], '', ''),
    ]
    return netns_env.render(
        ['figure (n=%d)' % results['post']['n'], 'p50', 'p95', 'max', 'goal', 'Octavia'],
        [(label, '%.0f ms' % s['p50_ms'], '%.0f ms' % s['p95_ms'], '%.0f ms' % s['max_ms'],
          goal, octavia) for label, s, goal, octavia in rows])


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--count', type=int, default=20, help='load balancers (%(default)s)')
    parser.add_argument('--json', default=DEFAULT_JSON, help='results file (%(default)s)')
    args = parser.parse_args(argv)
    netns_env.install_signal_handlers()
    results = {'meta': netns_env.meta()}
    results.update(run(args.count))
    netns_env.write_json(args.json, results)
    print(table(results))
    print()
    print('graph: 1 HTTP listener :80, 1 pool (ROUND_ROBIN), 3 members (one Python '
          'backend each, own namespace), 1 HTTP health monitor; amphora = namespace + HAProxy')
    print('sequential; each LB deleted after it answered; client, service, amphora and '
          'members share %d CPUs' % os.cpu_count())
    print('results written to %s' % args.json)


if __name__ == '__main__':
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    main()
