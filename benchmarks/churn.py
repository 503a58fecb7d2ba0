"""Member churn under load through a real load balancer: figures, never pass/fail.

One LB (one HTTP listener, a pool with an HTTP health monitor) on the netns
data plane. A bounded load run (`--seconds`, `--threads`, each request on a
new connection, never retried) goes through the VIP while `--changes`
member changes are made through the API, one after the other, each waited
to ACTIVE: add, re-weight, disable, enable and delete members, in a cycle.
Reloads are counted by HAProxy itself: the master's reload count and the
worker pids (`show proc` on the amphora's master CLI) before and after.

    python benchmarks/churn.py [--changes 20] [--seconds 30] [--threads 4]
                               [--json PATH]

The agent applies member-only changes through HAProxy's runtime API
(lbaas/agent/runtime.py); LBAAS_AGENT_RUNTIME_MEMBERS=0 in the environment
of `lbaas serve` (inherited by its agents) makes every change a reload, for
comparison.
"""
import argparse
import glob
import os
import sys
import time

import netns_env
from harness import percentile
from netns_env import traffic

from lbaas.agent.haproxy import parse_show_proc, unix_command
from tests.scenario.traffic import url

DEFAULT_JSON = os.path.join(netns_env.RESULTS, 'churn.json')


def master_socket(service):
    (path,) = glob.glob(os.path.join(service.state_dir, '**', 'haproxy', 'master.sock'),
                        recursive=True)
    return path


def haproxy_processes(socket_path):
    """(reload count, worker pids) as HAProxy's master reports them."""
    return parse_show_proc(unix_command(socket_path, 'show proc'))


def changes(api, lb, pool_id, hosts):
    """The cycle of member changes: (label, method, path, body) makers."""
    base = 'pools/%s/members' % pool_id
    ids = {m['address']: m['id'] for m in api.members(pool_id)}
    m1, m2, m3, m4 = (h.addresses[0] for h in hosts)
    added = {}

    def add(address):
        def run():
            member = api.change('POST', base, 'member',
                                {'address': address, 'protocol_port': traffic.MEMBER_PORT},
                                lb['id'])
            added[address] = member['id']
        return run

    def update(address, **fields):
        return lambda: api.change('PUT', '%s/%s' % (base, ids.get(address) or added[address]),
                                  'member', fields, lb['id'])

    def delete(address):
        return lambda: api.change('DELETE', '%s/%s' % (base, added.pop(address)),
                                  lb_id=lb['id'])

    return [('add m3', add(m3)), ('weight m1 4', update(m1, weight=4)),
            ('disable m2', update(m2, admin_state_up=False)), ('add m4', add(m4)),
            ('enable m2', update(m2, admin_state_up=True)), ('weight m1 1', update(m1, weight=1)),
            ('delete m3', delete(m3)), ('delete m4', delete(m4))]


def run(args):
    with netns_env.environment(members=4) as (service, hosts, client):
        api = service.api
        body = netns_env.lb_body('bench-churn', hosts[:2])['loadbalancer']
        lb = api.create_lb('bench-churn', body['listeners'], body['pools'])
        traffic.first_good_response(client, url(lb['vip_address'], 80))
        pool = api.pool_by_name(lb, 'pool')
        socket_path = master_socket(service)
        before = haproxy_processes(socket_path)
        cycle = changes(api, lb, pool['id'], hosts)
        load = traffic.LoadRun(client, url(lb['vip_address'], 80), seconds=args.seconds,
                               threads=args.threads, max_requests=10**6).start()
        timings = []
        try:
            time.sleep(1.0)
            for n in range(args.changes):
                label, change = cycle[n % len(cycle)]
                if load.elapsed() > args.seconds - 2:
                    print('load run nearly over after %d changes' % n, flush=True)
                    break
                began = time.monotonic()
                change()
                timings.append(time.monotonic() - began)
                print('%3d %-12s %.2f s to ACTIVE' % (n + 1, label, timings[-1]), flush=True)
        finally:
            load.join()
        after = haproxy_processes(socket_path)
        api.delete_lb(lb['id'])
    failures = load.failures()
    return {
        'changes': len(timings), 'requests': len(load.results), 'failed': len(failures),
        'first_failures': [list(f) for f in failures[:5]],
        'haproxy_reloads': (after[0] or 0) - (before[0] or 0),
        'same_worker': after[1] == before[1],
        'change_to_active_p50_s': round(percentile(timings, 50), 2) if timings else None,
        'change_to_active_max_s': round(max(timings), 2) if timings else None,
        'runtime_members': os.environ.get('LBAAS_AGENT_RUNTIME_MEMBERS', '1') != '0',
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--changes', type=int, default=20)
    parser.add_argument('--seconds', type=float, default=30.0)
    parser.add_argument('--threads', type=int, default=4)
    parser.add_argument('--json', default=DEFAULT_JSON)
    args = parser.parse_args()
    netns_env.install_signal_handlers()
    results = {'meta': netns_env.meta(), 'churn': run(args)}
    netns_env.write_json(args.json, results)
    r = results['churn']
    print(netns_env.render(
        ['changes', 'requests', 'failed', 'HAProxy reloads', 'same worker',
         'change to ACTIVE p50 (s)', 'max (s)'],
        [[r['changes'], r['requests'], r['failed'], r['haproxy_reloads'], r['same_worker'],
          r['change_to_active_p50_s'], r['change_to_active_max_s']]]))
    print('results written to %s' % args.json)


if __name__ == '__main__':
    sys.exit(main())
