"""Provisioning benchmark on the netns data plane: figures, never pass/fail.

Sequential: for each of `--count` load balancers, one graph POST (HTTP
listener on port 80, a pool of 3 members that are real backends in member
namespaces, an HTTP health monitor) timed until
  - the POST is answered,
  - a GET shows the LB ACTIVE (polled every 10 ms in a second thread),
  - the first 200 through the VIP from a client namespace (a new connection
    every 10 ms, each given 250 ms, in parallel: an attempt waiting on ARP
    for a VIP not up yet does not delay the next; in a burst, every 100 ms
    and 3 at once per LB).
Each LB is deleted (cascade, waited to DELETED; not timed) once measured.
This runs twice, side by side: building every amphora (cold), and with a
warm pool of 2 spares ([house_keeping] spare_amphora_pool_size), the next
LB started once the pool is full again (not timed).

Burst: `--burst` LBs POSTed at once (a client thread each), timed from the
first POST to each one's first 200 through the VIP; with a warm pool of
`--burst` spares (built before the clock starts), then cold.

    python benchmarks/provision.py [--count 20] [--burst 100] [--json PATH]
"""
import argparse
import concurrent.futures
import os
import sys
import threading
import time

import netns_env
from harness import summary_ms
from netns_env import traffic

netns_env.widen()  # room for a burst's VIPs and amphora addresses

PROBE_EVERY = 0.01
PROBE_TIMEOUT = 0.25
PROBE_PARALLEL = 26     # PROBE_TIMEOUT / PROBE_EVERY + 1: one new attempt every 10 ms
# Per LB of a burst: 100 LBs probing every 10 ms took more than one of the
# machine's two cores in the client alone, slowing what it measures.
BURST_PROBE_EVERY = 0.1
BURST_PARALLEL = 3
POLL_EVERY = 0.01
DEADLINE = 120.0
WARM_SPARES = 2
BURST_DEADLINE = 300.0
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


def first_good(client, target, started, deadline=DEADLINE, parallel=PROBE_PARALLEL,
               every=PROBE_EVERY):
    """Seconds from `started` to the first 200; None after `deadline` s.

    A new attempt every `every` s, up to `parallel` at once, each given
    PROBE_TIMEOUT s: one attempt stuck on ARP for an address not up yet
    (it waits out its whole timeout) does not hold back the next."""
    served = []
    done = threading.Event()

    def attempt():
        try:
            if client.request(target, timeout=PROBE_TIMEOUT).status == 200:
                served.append(time.perf_counter() - started)
                done.set()
        except traffic.NETWORK_ERRORS:
            pass

    with concurrent.futures.ThreadPoolExecutor(parallel) as attempts:
        while not done.is_set() and time.perf_counter() - started < deadline:
            attempts.submit(attempt)
            done.wait(every)
    return min(served, default=None)


def warm_options(spares):
    return {'house_keeping': {'spare_amphora_pool_size': spares, 'spare_check_interval': 0.2}}


def wait_pool(service, size):
    """Until `size` spares are READY (not timed)."""
    deadline = time.perf_counter() + DEADLINE + size
    while time.perf_counter() < deadline:
        listing = service.api.call('GET', service.endpoint + '/v2/octavia/amphorae', expect=200)
        if sum(a['status'] == 'READY' for a in listing.json()['amphorae']) >= size:
            return
        time.sleep(0.2)
    raise RuntimeError('the warm pool did not reach %d spares' % size)


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
    if 'error' in out or answered is None:
        raise RuntimeError(out.get('error') or 'LB %s never answered' % lb['id'])
    service.api.delete_lb(lb['id'])
    return {'post': post, 'active': out['active'], 'first_good': answered}


def sequential(count, spares):
    label = 'warm' if spares else 'cold'
    runs = []
    with netns_env.environment(3, warm_options(spares)) as (service, members, client):
        for i in range(count):
            if spares:
                wait_pool(service, spares)
            one = provision_one(service, members, client, 'bench-%s-%d' % (label, i))
            print('  %s LB %2d: POST %6.1f ms  ACTIVE %7.1f ms  first 200 %7.1f ms' % (
                label, i + 1, one['post'] * 1000, one['active'] * 1000,
                one['first_good'] * 1000), flush=True)
            runs.append(one)
    return {'post': summary_ms([r['post'] for r in runs]),
            'to_active': summary_ms([r['active'] for r in runs]),
            'to_first_good': summary_ms([r['first_good'] for r in runs])}


def burst(count, spares):
    """`count` LBs POSTed at once; seconds from the start to each first 200
    (those not serving after BURST_DEADLINE s are counted, not timed)."""
    with netns_env.environment(3, warm_options(spares)) as (service, members, client):
        service.delete_timeout = BURST_DEADLINE  # the teardown deletes them all
        if spares:
            wait_pool(service, spares)
        started = time.perf_counter()

        def one(i):
            body = netns_env.lb_body('bench-burst-%d' % i, members)
            body['loadbalancer']['vip_address'] = netns_env.vip(i)
            service.api.call('POST', 'loadbalancers', body, expect=201)
            return first_good(client, traffic.url(netns_env.vip(i), 80), started,
                              BURST_DEADLINE, BURST_PARALLEL, BURST_PROBE_EVERY)

        with concurrent.futures.ThreadPoolExecutor(count) as posters:
            times = list(posters.map(one, range(count)))
    served = [t for t in times if t is not None]
    print('  burst of %d (%d spares): %d serving, the last after %.2f s' % (
        count, spares, len(served), max(served, default=0)), flush=True)
    return {'to_first_good': summary_ms(served), 'all_serving_s': round(max(served), 2),
            'not_serving': count - len(served)}


def table(results):
    rows = []
    for label, key in (('POST -> first 200 through the VIP', 'to_first_good'),
                       ('POST -> ACTIVE (GET)', 'to_active'), ('POST answered', 'post')):
        if 'cold' not in results:
            break
        cold, warm = results['cold'][key], results['warm'][key]
        rows.append((label, '%.0f ms' % cold['p50_ms'], '%.0f ms' % warm['p50_ms'],
                     '%.2f' % (warm['p50_ms'] / cold['p50_ms']),
                     '%.0f / %.0f ms' % (cold['p95_ms'], warm['p95_ms'])))
    for label in ('burst_warm', 'burst_cold'):
        if label in results:
            b = results[label]
            rows.append(('%s: %d at once, first 200' % (
                label, b['to_first_good']['n'] + b['not_serving']), '', '', '',
                'p50 %.0f ms, last %.2f s, %d not serving' % (
                    b['to_first_good']['p50_ms'], b['all_serving_s'], b['not_serving'])))
    return netns_env.render(['figure', 'cold p50', 'warm p50', 'warm/cold', 'p95 cold / warm'],
                            rows)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--count', type=int, default=20,
                        help='sequential LBs; 0 skips (%(default)s)')
    parser.add_argument('--burst', type=int, default=100,
                        help='LBs created at once; 0 skips (%(default)s)')
    parser.add_argument('--json', default=DEFAULT_JSON, help='results file (%(default)s)')
    args = parser.parse_args(argv)
    netns_env.install_signal_handlers()
    results = {'meta': netns_env.meta()}
    if args.count:
        results['cold'] = sequential(args.count, 0)
        results['warm'] = sequential(args.count, WARM_SPARES)
    if args.burst:
        results['burst_warm'] = burst(args.burst, args.burst)
        results['burst_cold'] = burst(args.burst, 0)
    netns_env.write_json(args.json, results)
    print(table(results))
    print()
    print('graph: 1 HTTP listener :80, 1 pool (ROUND_ROBIN), 3 members (one Python '
          'backend each, own namespace), 1 HTTP health monitor; amphora = namespace + HAProxy')
    print('client, service, amphorae and members share %d CPUs' % os.cpu_count())
    print('results written to %s' % args.json)


if __name__ == '__main__':
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    main()
