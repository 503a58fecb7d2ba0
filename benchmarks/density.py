"""Density: what SINGLE load balancers cost this machine, per amphora and in all.

Creates `--lbs` SINGLE load balancers (an HTTP listener, a pool of two
members with an HTTP health monitor) on the real netns drivers, checks that
the first and the last serve through their VIP, lets them idle, and reads
every process of every amphora namespace (`ip netns pids`), and the agent
zygotes the agents were forked from, from /proc:

* RSS counts every page a process maps, shared or not, so summing it counts
  the Python interpreter, libssl and HAProxy's binary once per process;
* PSS splits each shared page between the processes sharing it: summed over
  all amphorae it is what they take, and per amphora it falls as more run;
* USS (private pages) is what stopping one amphora would give back;
* idle CPU: user + system time over `--idle-seconds`, nothing sent to them
  but their health checks and heartbeats;
* MemAvailable before and after: the machine's view, with the kernel's
  share (namespaces, veths, sockets, conntrack) included.

Figures, not pass/fail: the issue's goal (20 MB per amphora) is printed next
to them. Everything made is deleted on exit (also on Ctrl-C).
"""
import argparse
import collections
import concurrent.futures
import contextlib
import os
import subprocess
import sys
import time

import harness
import netns_env
from netns_env import traffic

from lbaas.drivers.netns.layout import AMPHORA_PREFIX

netns_env.widen()  # room for the LBs' VIPs and amphora addresses

DEFAULT_JSON = os.path.join(netns_env.RESULTS, 'density.json')
GOAL_MB = 20.0
TICKS = os.sysconf('SC_CLK_TCK')


def amphora_namespaces():
    out = subprocess.run(['ip', 'netns', 'list'], capture_output=True, text=True).stdout
    return {line.split()[0] for line in out.splitlines() if line.startswith(AMPHORA_PREFIX)}


def pids_in(namespace):
    out = subprocess.run(['ip', 'netns', 'pids', namespace], capture_output=True, text=True)
    return [int(p) for p in out.stdout.split()]


def zygotes():
    """The agent zygotes (lbaas/agent/zygote.py) the agents were forked
    from: in the host's namespace, they share their pages with the agents,
    so they count with them. (The agents have the same command line.)"""
    found = []
    host = os.readlink('/proc/self/ns/net')
    for entry in filter(str.isdigit, os.listdir('/proc')):
        with contextlib.suppress(OSError), open('/proc/%s/cmdline' % entry, 'rb') as f:
            if (b'lbaas.agent.zygote' in f.read()
                    and os.readlink('/proc/%s/ns/net' % entry) == host):
                found.append(int(entry))
    return found


def kind_of(pid):
    """agent, haproxy-master, haproxy-worker, keepalived or the command's name."""
    with open('/proc/%d/cmdline' % pid, 'rb') as f:
        argv = f.read().split(b'\0')
    with open('/proc/%d/stat' % pid) as f:
        parent = int(f.read().rsplit(')', 1)[1].split()[1])
    command = os.path.basename(argv[0].decode())
    if any(b'lbaas.agent' in arg for arg in argv):
        return 'agent'
    if command == 'haproxy':
        with open('/proc/%d/comm' % parent) as f:
            return 'haproxy-worker' if f.read().strip() == 'haproxy' else 'haproxy-master'
    return command


def memory_kb(pid):
    """{'rss', 'pss', 'uss'} in kB, from smaps_rollup."""
    fields = {}
    with open('/proc/%d/smaps_rollup' % pid) as f:
        for line in f:
            name, _, rest = line.partition(':')
            if rest.strip().endswith('kB'):
                fields[name] = int(rest.split()[0])
    return {'rss': fields.get('Rss', 0), 'pss': fields.get('Pss', 0),
            'uss': fields.get('Private_Clean', 0) + fields.get('Private_Dirty', 0)}


def mem_available_kb():
    with open('/proc/meminfo') as f:
        return next(int(line.split()[1]) for line in f if line.startswith('MemAvailable:'))


def measure(namespaces, idle_seconds):
    """Per process kind: summed memory and process count; idle CPU seconds in all.
    A process that ends meanwhile (a check's fork, a reload) is left out."""
    forks = zygotes()
    every = [p for ns in namespaces for p in pids_in(ns)] + forks
    before = {}
    for pid in every:
        with contextlib.suppress(OSError):
            before[pid] = harness.cpu_ticks(pid)
    time.sleep(idle_seconds)
    cpu = 0
    kinds = collections.defaultdict(lambda: {'count': 0, 'rss': 0, 'pss': 0, 'uss': 0})
    for pid, ticks in before.items():
        try:
            cpu += harness.cpu_ticks(pid) - ticks
            kind = 'agent zygote' if pid in forks else kind_of(pid)
            memory = memory_kb(pid)
        except OSError:
            continue
        kinds[kind]['count'] += 1
        for key, value in memory.items():
            kinds[kind][key] += value
    return dict(kinds), cpu / TICKS


def create_all(api, hosts, count, concurrency):
    def one(n):
        body = netns_env.lb_body('density-%03d' % n, hosts)
        body['loadbalancer']['vip_address'] = netns_env.vip(n)
        lb = api.call('POST', 'loadbalancers', body, expect=201).json()['loadbalancer']
        api.wait_lb(lb['id'], timeout=120)
        return lb

    with concurrent.futures.ThreadPoolExecutor(concurrency) as pool:
        return list(pool.map(one, range(count)))


def delete_all(api, lbs, concurrency):
    def one(lb):
        deadline = time.monotonic() + 180
        # 409 while the LB is busy (a failover the health manager started).
        while api.call('DELETE', 'loadbalancers/%s?cascade=true' % lb['id']).status_code == 409:
            assert time.monotonic() < deadline, 'LB %s stays busy' % lb['id']
            time.sleep(1.0)
        api.wait_lb(lb['id'], 'DELETED', timeout=180)

    with concurrent.futures.ThreadPoolExecutor(concurrency) as pool:
        list(pool.map(one, lbs))


def statuses(api):
    found = api.call('GET', 'loadbalancers', expect=200).json()['loadbalancers']
    return dict(collections.Counter(lb['provisioning_status'] for lb in found))


def run(args):
    with netns_env.environment(members=2) as (service, hosts, client):
        already = amphora_namespaces()
        available_before = mem_available_kb()
        started = time.monotonic()
        lbs = create_all(service.api, hosts, args.lbs, args.concurrency)
        created_s = time.monotonic() - started
        try:
            for lb in (lbs[0], lbs[-1]):
                traffic.first_good_response(client, 'http://%s:80/' % lb['vip_address'])
            time.sleep(args.settle)
            mine = amphora_namespaces() - already  # failovers' replacements included
            kinds, cpu = measure(mine, args.idle_seconds)
            available_after = mem_available_kb()
            seen = statuses(service.api)
        finally:
            delete_all(service.api, lbs, args.concurrency)
    return {
        'lbs': len(lbs), 'amphorae': len(mine), 'create_all_s': round(created_s, 1),
        'processes': kinds, 'idle_seconds': args.idle_seconds, 'statuses': seen,
        'idle_cpu_percent': round(100 * cpu / args.idle_seconds, 2),
        'mem_available_drop_mb': round((available_before - available_after) / 1024, 1),
    }


def table(result):
    amphorae = result['amphorae']
    rows = []
    totals = {'rss': 0, 'pss': 0, 'uss': 0}
    for kind, entry in sorted(result['processes'].items()):
        rows.append([kind, entry['count']] + [
            '%.1f' % (entry[k] / 1024 / amphorae) for k in ('rss', 'pss', 'uss')])
        for k in totals:
            totals[k] += entry[k]
    rows.append(['per amphora'] + [''] + [
        '%.1f' % (totals[k] / 1024 / amphorae) for k in ('rss', 'pss', 'uss')])
    rows.append(['all %d amphorae' % amphorae, ''] + [
        '%.0f' % (totals[k] / 1024) for k in ('rss', 'pss', 'uss')])
    return '\n'.join([
        netns_env.render(['process', 'count', 'RSS MB', 'PSS MB', 'USS MB'], rows), '',
        '%d SINGLE LBs created in %.1f s; idle CPU of all amphorae: %.2f %% of one core '
        'over %d s' % (result['lbs'], result['create_all_s'], result['idle_cpu_percent'],
                       result['idle_seconds']),
        'load balancers by status after the idle time: %s' % result['statuses'],
        'MemAvailable dropped by %.0f MB (%.1f MB per LB, kernel included); '
        'goal: %.0f MB per amphora' % (result['mem_available_drop_mb'],
                                       result['mem_available_drop_mb'] / result['lbs'],
                                       GOAL_MB)])


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--lbs', type=int, default=200)
    parser.add_argument('--concurrency', type=int, default=4)
    parser.add_argument('--settle', type=float, default=5.0)
    parser.add_argument('--idle-seconds', type=int, default=10)
    parser.add_argument('--json', default=DEFAULT_JSON)
    args = parser.parse_args()
    netns_env.install_signal_handlers()
    result = run(args)
    netns_env.write_json(args.json, {'meta': netns_env.meta(), 'density': result})
    print(table(result))
    print('results written to %s' % args.json)


if __name__ == '__main__':
    sys.exit(main())
