"""ACTIVE_ACTIVE throughput on the netns data plane: figures, never pass/fail.

One run builds, side by side, an ACTIVE_ACTIVE load balancer of 1, 2 and 3
amphorae (flavors with `amphora_count`) and, for reference, a SINGLE one
(no distributor), each with an HTTP listener and a round-robin pool of the
same members (Python asyncio backends, one process each, HTTP monitor).
wrk runs in a client namespace against each VIP in turn, `--rounds` times
(interleaved: N=1, 2, 3, SINGLE, then again), `--seconds` per run, with
keep-alive connections from the kernel's ephemeral ports, which the
distributor hashes over the amphorae. The figure of each LB is the median
round (by req/s); every round is printed.

While each run lasts, the CPU time of the processes is read from /proc:
HAProxy (every process of the LB's amphora namespaces named haproxy), the
members, wrk (our reaped children), the rest of the machine (the lbaas
service, agents, ...), and the kernel's softirq time (packet processing:
the distributor's nftables `fwd`, veths, bridge), as a percentage of the
machine's CPU time (cores x seconds), with what was left idle.

Then the same rounds again with each amphora's processes (HAProxy and
agent) held to `--amphora-cpu` of a core by a cgroup CPU quota of its own,
as an amphora on a VM of its own would be: on 2 shared cores the first
table shows the machine's ceiling, the second how the distribution scales
when each amphora's CPU is what limits it.

    python benchmarks/active_active.py [--seconds 10] [--rounds 3]
                                       [--connections 64] [--threads 2]
                                       [--members 3] [--amphora-cpu 0.15]
                                       [--json PATH]
"""

import argparse
import contextlib
import os
import resource
import statistics
import sys
import time

import harness
import netns_env
from netns_env import traffic

from lbaas.drivers.netns import processes
from tests.scenario import conftest as scenario

DEFAULT_JSON = os.path.join(netns_env.RESULTS, 'active_active.json')
COUNTS = (1, 2, 3)
TICKS = os.sysconf('SC_CLK_TCK')
SETTLE = 120.0  # seconds for the LBs to be built


def build(api, members, client):
    """{label: (lb, amphorae)}: ACTIVE_ACTIVE N=1, 2, 3 and SINGLE, all ACTIVE
    and answering."""
    bodies = {}
    for count in COUNTS:
        body = netns_env.lb_body('bench-aa-%d' % count, members)['loadbalancer']
        data = {'loadbalancer_topology': 'ACTIVE_ACTIVE', 'amphora_count': count}
        body['flavor_id'] = traffic.make_flavor(api, 'bench-aa-%d' % count, data)['id']
        bodies['N=%d' % count] = body
    bodies['SINGLE'] = netns_env.lb_body('bench-single', members)['loadbalancer']
    made = {}
    for label, body in bodies.items():
        made[label] = api.call('POST', 'loadbalancers', {'loadbalancer': body}, expect=201).json()[
            'loadbalancer'
        ]
    built = {}
    for label, lb in made.items():
        api.wait_lb(lb['id'], timeout=SETTLE)
        traffic.first_good_response(client, traffic.url(lb['vip_address'], 80))
        built[label] = (lb, traffic.amphorae_of(api, lb['id']))
    return built


# -- CPU ----------------------------------------------------------------------------


def _ticks(pid):
    """utime + stime of `pid` (0 if it is gone)."""
    try:
        return harness.cpu_ticks(pid)
    except OSError:
        return 0


def _machine():
    """(softirq ticks, idle ticks incl. iowait, all ticks) from /proc/stat."""
    with open('/proc/stat') as f:
        values = [int(v) for v in f.readline().split()[1:]]
    user, nice, system, idle, iowait, irq, softirq, steal = values[:8]
    return softirq, idle + iowait, user + nice + system + idle + iowait + irq + softirq + steal


def _processes(service, members, amphorae, every_amphora):
    """{kind: [pid]}: HAProxy of `amphorae` and the rest of their processes
    (agents: they receive HAProxy's log line of every request), the members,
    and `lbaas`: the service and every other amphora or distributor process."""
    inside = [pid for a in amphorae for pid in processes.pids_in_namespace(a['compute_id'])]
    haproxy = [
        pid
        for pid in inside
        if processes.process_running(pid, 'haproxy') and not processes.process_running(pid, 'lbaas')
    ]
    agents = [pid for pid in inside if pid not in haproxy]
    member_pids = [pid for m in members for pid in processes.pids_in_namespace(m.namespace)]
    namespaces = {a['compute_id'] for a in every_amphora} | {
        n for n in scenario.ip_netns_list() if n.startswith('lbd-')
    }
    lbaas = set(scenario.pids_mentioning(service.state_dir))
    lbaas |= {pid for n in namespaces for pid in processes.pids_in_namespace(n)}
    lbaas -= set(inside) | set(member_pids)
    return {'haproxy': haproxy, 'agents': agents, 'members': member_pids, 'lbaas': sorted(lbaas)}


class CpuSplit:
    """CPU time by kind over one run: `ticks` (clock ticks) and `percent` of
    the machine's time (CPUs x the run). Kinds: haproxy (of the LB under
    test), agents (the rest of its amphorae), members, wrk (our reaped
    children), lbaas (service, the other LBs' amphorae), elsewhere (every other process on the machine),
    softirq (kernel packet processing; also counted in whichever process it
    interrupted) and idle."""

    def __init__(self, service, members, amphorae, every_amphora):
        self.kinds = _processes(service, members, amphorae, every_amphora)
        self.known = {pid for pids in self.kinds.values() for pid in pids}

    def __enter__(self):
        self.before = {kind: sum(_ticks(p) for p in pids) for kind, pids in self.kinds.items()}
        self.all_before = self._all_ticks()
        self.children = resource.getrusage(resource.RUSAGE_CHILDREN)
        self.machine = _machine()
        return self

    def _all_ticks(self):
        return {int(p): _ticks(int(p)) for p in os.listdir('/proc') if p.isdigit()}

    def __exit__(self, *exc):
        machine = _machine()
        children = resource.getrusage(resource.RUSAGE_CHILDREN)
        after = self._all_ticks()
        self.total = machine[2] - self.machine[2] or 1
        split = {
            kind: sum(_ticks(p) for p in pids) - self.before[kind]
            for kind, pids in self.kinds.items()
        }
        wrk_seconds = (children.ru_utime + children.ru_stime) - (
            self.children.ru_utime + self.children.ru_stime
        )
        split['wrk'] = round(wrk_seconds * TICKS)
        # Processes alive at both ends and counted nowhere above.
        split['elsewhere'] = sum(
            max(0, after[p] - self.all_before[p])
            for p in after
            if p not in self.known and p in self.all_before
        )
        split['softirq'] = machine[0] - self.machine[0]
        split['idle'] = machine[1] - self.machine[1]
        self.ticks = split
        self.percent = {kind: round(100.0 * t / self.total, 1) for kind, t in split.items()}

    def us_per_request(self, requests):
        """CPU microseconds per request, by kind (idle left out)."""
        return {
            kind: round(t / TICKS * 1e6 / max(requests, 1), 1)
            for kind, t in self.ticks.items()
            if kind != 'idle'
        }


# -- CPU caps -----------------------------------------------------------------------

CGROUP_V1 = '/sys/fs/cgroup/cpu'
CGROUP_V2 = '/sys/fs/cgroup'
CFS_PERIOD_US = 100000


def _cgroup_root():
    """(root, v2?) of the CPU controller, or None when neither can be used."""
    if os.path.exists(os.path.join(CGROUP_V1, 'cpu.cfs_quota_us')):
        return CGROUP_V1, False
    try:
        with open(os.path.join(CGROUP_V2, 'cgroup.subtree_control')) as f:
            if 'cpu' in f.read().split():
                return CGROUP_V2, True
    except OSError:
        pass
    return None


def _write(path, value):
    with open(path, 'w') as f:
        f.write(str(value))


@contextlib.contextmanager
def cpu_caps(amphorae, fraction):
    """Every process of each amphora's namespace in a cgroup of its own,
    limited to `fraction` of a core; everything moved back and removed after."""
    found = _cgroup_root()
    if found is None:
        raise SystemExit('no cgroup CPU controller to cap amphorae with (--amphora-cpu 0)')
    root, v2 = found
    made = []
    try:
        for amphora in amphorae:
            group = os.path.join(root, 'lbaas-bench-%s' % amphora['id'][:8])
            os.makedirs(group, exist_ok=True)
            made.append(group)
            quota = int(fraction * CFS_PERIOD_US)
            if v2:
                _write(os.path.join(group, 'cpu.max'), '%d %d' % (quota, CFS_PERIOD_US))
            else:
                _write(os.path.join(group, 'cpu.cfs_period_us'), CFS_PERIOD_US)
                _write(os.path.join(group, 'cpu.cfs_quota_us'), quota)
            for pid in processes.pids_in_namespace(amphora['compute_id']):
                with contextlib.suppress(OSError):  # gone meanwhile
                    _write(os.path.join(group, 'cgroup.procs'), pid)
        yield
    finally:
        for group in made:
            with open(os.path.join(group, 'cgroup.procs')) as f:
                pids = f.read().split()
            for pid in pids:
                with contextlib.suppress(OSError):
                    _write(os.path.join(root, 'cgroup.procs'), pid)
            with contextlib.suppress(OSError):
                os.rmdir(group)


# -- the runs -----------------------------------------------------------------------


def run(args):
    netns_env.install_signal_handlers()
    with netns_env.environment(members=args.members) as (service, members, client):
        built = build(service.api, members, client)
        for label, (lb, amphorae) in built.items():
            print(
                '%-7s VIP %s, %d amphorae (%s)'
                % (
                    label,
                    lb['vip_address'],
                    len(amphorae),
                    ', '.join(sorted(a['vrrp_ip'] or '?' for a in amphorae)),
                ),
                flush=True,
            )
        every_amphora = [a for _, amphorae in built.values() for a in amphorae]
        rounds = measure(args, service, members, client, built, every_amphora)
        capped = {}
        if args.amphora_cpu:
            print('each amphora held to %.2f of a core:' % args.amphora_cpu, flush=True)
            with cpu_caps(every_amphora, args.amphora_cpu):
                capped = measure(args, service, members, client, built, every_amphora)
        for lb, _ in built.values():
            service.api.delete_lb(lb['id'])
    results = summarise(rounds, built)
    if capped:
        results['capped'] = summarise(capped, built)
    return results


def measure(args, service, members, client, built, every_amphora):
    """{label: [figures of each round]}."""
    prefix = ['ip', 'netns', 'exec', client.namespace]
    rounds = {label: [] for label in built}
    for number in range(1, args.rounds + 1):
        for label, (lb, amphorae) in built.items():
            url = traffic.url(lb['vip_address'], 80)
            with CpuSplit(service, members, amphorae, every_amphora) as cpu:
                figure = harness.run_wrk(
                    url, args.seconds, args.connections, args.threads, prefix=prefix
                )
            figure['cpu_percent'] = cpu.percent
            figure['cpu_us_per_request'] = cpu.us_per_request(figure['requests'])
            rounds[label].append(figure)
            print(
                '  round %d %-7s %9.0f req/s  p99 %7.2f ms  errors %d  cpu %s'
                % (
                    number,
                    label,
                    figure['req_per_s'],
                    figure['p99_ms'],
                    figure['errors'],
                    cpu.percent,
                ),
                flush=True,
            )
            time.sleep(1.0)
    return rounds


def summarise(rounds, built):
    results = {}
    for label, figures in rounds.items():
        ordered = sorted(figures, key=lambda f: f['req_per_s'])
        median = ordered[(len(ordered) - 1) // 2]  # the lower middle of an even count
        results[label] = {
            'median': median,
            'rounds': figures,
            'req_per_s_all': [f['req_per_s'] for f in figures],
            'spread': round(
                statistics.pstdev(f['req_per_s'] for f in figures) / (median['req_per_s'] or 1), 3
            ),
            'amphorae': len(built[label][1]),
        }
    base = results['N=1']['median']['req_per_s'] or 1
    for figures in results.values():
        figures['ratio_to_n1'] = round(figures['median']['req_per_s'] / base, 2)
    return results


CPU_KINDS = ('haproxy', 'agents', 'members', 'wrk', 'softirq', 'lbaas', 'elsewhere', 'idle')


def table(results):
    header = [
        'LB',
        'amphorae',
        'req/s',
        'ratio to N=1',
        'p50 ms',
        'p99 ms',
        'errors',
        'rounds req/s',
    ]
    rows = []
    for label, r in results.items():
        m = r['median']
        rows.append(
            (
                label,
                r['amphorae'],
                '%.0f' % m['req_per_s'],
                '%.2f' % r['ratio_to_n1'],
                '%.2f' % m['p50_ms'],
                '%.2f' % m['p99_ms'],
                sum(f['errors'] for f in r['rounds']),
                ' / '.join('%.0f' % v for v in r['req_per_s_all']),
            )
        )
    cpu_rows = []
    for label, r in results.items():
        m = r['median']
        cpu_rows.append(
            [label]
            + ['%.1f' % m['cpu_percent'][k] for k in CPU_KINDS]
            + ['%.0f' % m['cpu_us_per_request'][k] for k in CPU_KINDS if k != 'idle']
        )
    cpu_header = (
        [
            'CPU of the median run',
        ]
        + ['%s %%' % k for k in CPU_KINDS]
        + ['%s us/req' % k for k in CPU_KINDS if k != 'idle']
    )
    return netns_env.render(header, rows) + '\n\n' + netns_env.render(cpu_header, cpu_rows)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--seconds', type=int, default=10, help='per wrk run (%(default)s)')
    parser.add_argument('--rounds', type=int, default=3, help='runs per LB (%(default)s)')
    parser.add_argument('--connections', type=int, default=64)
    parser.add_argument('--threads', type=int, default=2)
    parser.add_argument('--members', type=int, default=3, choices=(1, 2, 3, 4))
    parser.add_argument(
        '--amphora-cpu',
        type=float,
        default=0.15,
        help='then again with each amphora held to this share of a core (0: skip)',
    )
    parser.add_argument('--json', default=DEFAULT_JSON, help='results file (%(default)s)')
    args = parser.parse_args(argv)
    if not harness.WRK:
        sys.exit('wrk is not installed')
    results = {
        'meta': dict(
            netns_env.meta(),
            seconds=args.seconds,
            rounds=args.rounds,
            connections=args.connections,
            threads=args.threads,
            members=args.members,
            amphora_cpu=args.amphora_cpu,
        )
    }
    results.update(run(args))
    netns_env.write_json(args.json, results)
    print()
    print(table({k: v for k, v in results.items() if k not in ('meta', 'capped')}))
    if 'capped' in results:
        print()
        print(
            'Each amphora (HAProxy and agent) held to %.2f of a core by a cgroup CPU quota:'
            % args.amphora_cpu
        )
        print(table(results['capped']))
    print()
    print(
        'wrk %d threads, %d keep-alive connections, %d s per run, median of %d rounds; GET / '
        '(a few bytes); HTTP listener, ROUND_ROBIN over %d members (1 Python process each), '
        'HTTP monitor.' % (args.threads, args.connections, args.seconds, args.rounds, args.members)
    )
    print(
        'CPU %% is of the machine (%d CPUs x the run); us/req is CPU time per request. '
        'softirq (the kernel moving packets: veths, bridge, the distributor\'s nftables fwd) '
        'is also counted in the process it interrupted, so the columns add up to more than '
        '100; agents: the amphora agents of the LB under test (each takes HAProxy\'s log '
        'line of every request); lbaas: the service and the idle LBs; elsewhere: whatever '
        'else ran on the machine.' % os.cpu_count()
    )
    print(
        'load average at the start: %s, at the end: %s'
        % (
            ', '.join('%.2f' % x for x in results['meta']['load_average']),
            ', '.join('%.2f' % x for x in os.getloadavg()),
        )
    )
    print('results written to %s' % args.json)


if __name__ == '__main__':
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    main()
