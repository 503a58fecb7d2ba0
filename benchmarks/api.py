"""API benchmark on the noop drivers: figures, never pass/fail.

(a) graph POST of a full LB (1 listener, 1 pool, 10 members, 1 health
    monitor) to ACTIVE, p50/p95 over 100 sequential LBs;
(b) requests/s of GET list (100+ LBs), GET one (with 1, 4 and 32 keep-alive
    connections, p50/p99 latency) and the status tree of an LB with 1,000
    members;
(c) batch member updates of a pool: 1,000 new members, a new weight for all
    1,000, then removing 500, each timed to LB ACTIVE.

It starts `lbaas serve --noop` (the default setup) in a temporary directory,
prints a table with the goal next to each figure and writes JSON.

    python benchmarks/api.py [--quick] [--json PATH] [--database-url URL]
                             [--compare PATH]
"""
import argparse
import datetime
import json
import os
import platform
import signal
import sys
import time

import harness
import requests

API = '/v2/lbaas'
SIZES = {
    'full': dict(lbs=100, tree_members=1000, batch_members=1000,
                 rate_seconds=5, rate_requests=20000),
    'quick': dict(lbs=10, tree_members=200, batch_members=200,
                  rate_seconds=2, rate_requests=2000),
}
POLL_SECONDS = 0.005      # how often a GET asks whether the LB is ACTIVE yet
ACTIVE_TIMEOUT = 120.0
WRK_CONNECTIONS = 4       # client concurrency for (b), unless a read names its own
WRK_THREADS = 1
# GET one as the controllers poll it: one client alone, and 32 at once
# (wrk's threads share the 32 connections).
CONCURRENT_CONNECTIONS = 32
CONCURRENT_THREADS = 4
PYTHON_CLIENTS = 4
RATE_RUNS = 3             # (b) figures are the best of this many runs
DEFAULT_JSON = os.path.join(os.path.dirname(os.path.abspath(__file__)),
                            'results', 'api.json')


class Client:
    """A keep-alive session on the API, as the admin of noauth."""

    def __init__(self, base_url):
        self.base = base_url
        self.http = requests.Session()

    def call(self, method, path, body=None, expect=(200,)):
        started = time.perf_counter()
        resp = self.http.request(method, self.base + path, json=body, timeout=60)
        elapsed = time.perf_counter() - started
        if resp.status_code not in expect:
            raise RuntimeError('%s %s: %d %s' % (method, path, resp.status_code,
                                                 resp.text[:500]))
        return (resp.json() if resp.content else None), elapsed

    def wait_active(self, lb_id, started):
        """Seconds from `started` until a GET shows the LB ACTIVE."""
        deadline = started + ACTIVE_TIMEOUT
        while time.perf_counter() < deadline:
            body, _ = self.call('GET', '%s/loadbalancers/%s' % (API, lb_id))
            status = body['loadbalancer']['provisioning_status']
            if status == 'ACTIVE':
                return time.perf_counter() - started
            if status == 'ERROR':
                raise RuntimeError('load balancer %s went to ERROR' % lb_id)
            time.sleep(POLL_SECONDS)
        raise RuntimeError('load balancer %s not ACTIVE after %ds' % (lb_id, ACTIVE_TIMEOUT))

    def create_lb(self, body):
        """(lb id, POST seconds, POST-to-ACTIVE seconds)."""
        started = time.perf_counter()
        created, post_seconds = self.call('POST', API + '/loadbalancers', body, (201,))
        lb_id = created['loadbalancer']['id']
        return lb_id, post_seconds, self.wait_active(lb_id, started)


def members(count, port=8080, weight=1):
    return [{'address': '10.%d.%d.%d' % (1 + i // 62500, i // 250 % 250, 1 + i % 250),
             'protocol_port': port, 'weight': weight} for i in range(count)]


def graph_body(name, subnet_id, member_count, monitor=True):
    pool = {'name': 'pool', 'protocol': 'HTTP', 'lb_algorithm': 'ROUND_ROBIN',
            'members': members(member_count)}
    if monitor:
        pool['healthmonitor'] = {'type': 'HTTP', 'delay': 5, 'timeout': 3,
                                 'max_retries': 2}
    return {'loadbalancer': {
        'name': name, 'vip_subnet_id': subnet_id, 'pools': [pool],
        'listeners': [{'name': 'http', 'protocol': 'HTTP', 'protocol_port': 80,
                       'default_pool': {'name': 'pool'}}]}}


def local_subnet_id(client):
    body, _ = client.call('GET', '/v2.0/subnets?name=lbaas-local-v4')
    return body['subnets'][0]['id']


def measure_create(client, subnet_id, count):
    """(a): `count` sequential graph POSTs, each waited to ACTIVE."""
    posts, actives, lb_ids = [], [], []
    for i in range(count):
        lb_id, post, active = client.create_lb(graph_body('bench-%d' % i, subnet_id, 10))
        posts.append(post)
        actives.append(active)
        lb_ids.append(lb_id)
    return {'post': harness.summary_ms(posts), 'to_active': harness.summary_ms(actives)}, \
        lb_ids


def measure_rate(url, size, connections=WRK_CONNECTIONS, threads=WRK_THREADS):
    if harness.WRK:
        return harness.run_wrk(url, size['rate_seconds'], connections,
                               min(threads, connections))
    return harness.run_threads(url, size['rate_requests'], size['rate_seconds'] * 2,
                               min(PYTHON_CLIENTS, connections))


def measure_reads(client, lb_id, tree_lb_id, size):
    """(b): requests/s of list, one and status tree, warmed up first.

    gunicorn's workers accept connections as they come, so one run's few
    keep-alive connections sometimes all land on one worker, which then has
    half the CPU. Each figure is the best of RATE_RUNS runs (fresh
    connections each); the worst is kept next to it.
    """
    one = '%s/loadbalancers/%s' % (API, lb_id)
    # name -> (path, connections, wrk threads)
    reads = {'list': (API + '/loadbalancers', WRK_CONNECTIONS, WRK_THREADS),
             'one': (one, WRK_CONNECTIONS, WRK_THREADS),
             'one_1': (one, 1, 1),
             'one_32': (one, CONCURRENT_CONNECTIONS, CONCURRENT_THREADS),
             'status_tree': ('%s/loadbalancers/%s/status' % (API, tree_lb_id),
                             WRK_CONNECTIONS, WRK_THREADS)}
    listed, _ = client.call('GET', reads['list'][0])
    result = {'lbs_listed': len(listed['loadbalancers'])}
    for name, (path, connections, threads) in reads.items():
        url = client.base + path
        # Warm every gunicorn worker (a keep-alive session reaches only one).
        measure_rate(url, dict(size, rate_seconds=1, rate_requests=200),
                     max(connections, WRK_CONNECTIONS), threads)
        runs = [measure_rate(url, size, connections, threads) for _ in range(RATE_RUNS)]
        best = max(runs, key=lambda run: run['req_per_s'])
        result[name] = dict(best, worst_req_per_s=min(r['req_per_s'] for r in runs),
                            runs=[r['req_per_s'] for r in runs])
    return result


def measure_batch(client, subnet_id, count):
    """(c): batch updates of one pool's members, each timed to LB ACTIVE."""
    lb_id, _, _ = client.create_lb(graph_body('bench-batch', subnet_id, 0, monitor=False))
    lb, _ = client.call('GET', '%s/loadbalancers/%s' % (API, lb_id))
    pool_id = lb['loadbalancer']['pools'][0]['id']
    steps = {'create': members(count), 'reweight': members(count, weight=5),
             'remove': members(count, weight=5)[:count // 2]}
    result = {}
    for step, wanted in steps.items():
        started = time.perf_counter()
        _, put = client.call('PUT', '%s/pools/%s/members' % (API, pool_id),
                             {'members': wanted}, (202,))
        active = client.wait_active(lb_id, started)
        result[step] = {'members': len(wanted), 'put_ms': round(put * 1000, 1),
                        'to_active_ms': round(active * 1000, 1)}
    body, _ = client.call('GET', '%s/pools/%s' % (API, pool_id))
    result['members_left'] = len(body['pool']['members'])
    return result


def run(base_url, size):
    client = Client(base_url)
    subnet_id = local_subnet_id(client)
    client.create_lb(graph_body('bench-warmup', subnet_id, 10))  # worker awake, caches warm
    create, lb_ids = measure_create(client, subnet_id, size['lbs'])
    tree_lb_id, post, active = client.create_lb(
        graph_body('bench-tree', subnet_id, size['tree_members']))
    setup = {'tree_lb_graph_post_ms': round(post * 1000, 1),
             'tree_lb_to_active_ms': round(active * 1000, 1)}
    reads = measure_reads(client, lb_ids[0], tree_lb_id, size)
    batch = measure_batch(client, subnet_id, size['batch_members'])
    return {'create': create, 'reads': reads, 'batch': batch, 'setup': setup}


# Table --------------------------------------------------------------------

OCTAVIA_ACTIVE = 'POST 100-200 ms, ACTIVE ~1 s later'
# (JSON path, label, unit, goal text, goal check, Octavia reference)
ROWS = [
    ('create.to_active.p50_ms', '(a) graph POST -> ACTIVE, p50', 'ms',
     '< 100 ms', lambda v: v < 100, OCTAVIA_ACTIVE),
    ('create.to_active.p95_ms', '(a) graph POST -> ACTIVE, p95', 'ms', '', None, ''),
    ('create.post.p50_ms', '(a) graph POST answered, p50', 'ms', '', None, '100-200 ms'),
    ('create.post.p95_ms', '(a) graph POST answered, p95', 'ms', '', None, ''),
    ('reads.list.req_per_s', '(b) GET list ({lbs_listed} LBs)', 'req/s', '', None,
     '~20 req/s (50 LBs)'),
    ('reads.list.p99_ms', '(b)   p99 latency', 'ms', '', None, ''),
    ('reads.one.req_per_s', '(b) GET one, 4 connections', 'req/s', '> 500 req/s',
     lambda v: v > 500, ''),
    ('reads.one_1.req_per_s', '(b) GET one, 1 connection', 'req/s', '', None, ''),
    ('reads.one_1.p50_ms', '(b)   p50 latency', 'ms', '', None, ''),
    ('reads.one_1.p99_ms', '(b)   p99 latency', 'ms', '', None, ''),
    ('reads.one_32.req_per_s', '(b) GET one, 32 connections', 'req/s', '>= 2000 req/s',
     lambda v: v >= 2000, ''),
    ('reads.one_32.p50_ms', '(b)   p50 latency', 'ms', '', None, ''),
    ('reads.one_32.p99_ms', '(b)   p99 latency', 'ms', '< 20 ms', lambda v: v < 20, ''),
    ('reads.status_tree.req_per_s', '(b) GET status tree ({tree_members} members)',
     'req/s', '', None, ''),
    ('reads.status_tree.p99_ms', '(b)   p99 latency', 'ms', '', None, ''),
    ('batch.create.to_active_ms', '(c) batch PUT {batch_members} new -> ACTIVE', 'ms',
     '< 1 s', lambda v: v < 1000, '160 members: > 60 s (field)'),
    ('batch.create.put_ms', '(c)   that PUT answered', 'ms', '', None, ''),
    ('batch.reweight.to_active_ms', '(c) batch PUT weight of {batch_members} -> ACTIVE',
     'ms', '< 1 s', lambda v: v < 1000, ''),
    ('batch.remove.to_active_ms', '(c) batch PUT removing {removed} -> ACTIVE', 'ms',
     '< 1 s', lambda v: v < 1000, ''),
]


def lookup(results, path):
    value = results
    for key in path.split('.'):
        if not isinstance(value, dict) or key not in value:
            return None
        value = value[key]
    return value


def table(results, previous=None):
    names = dict(results['meta']['sizes'], lbs_listed=results['reads']['lbs_listed'],
                 removed=results['meta']['sizes']['batch_members'] // 2)
    header = ['figure', 'value', 'goal', '', 'Octavia (same noop drivers)']
    if previous is not None:
        header.insert(2, 'previous')
    lines = []
    for path, label, unit, goal, check, octavia in ROWS:
        value = lookup(results, path)
        if value is None:  # the Python client measures no p99
            verdict, figure = '', '-'
        else:
            verdict = '' if check is None else ('met' if check(value) else 'MISSED')
            figure = '%.1f %s' % (value, unit)
        worst = lookup(results, path.replace('req_per_s', 'worst_req_per_s'))
        if unit == 'req/s' and worst is not None:
            figure += ' (worst run %.1f)' % worst
        row = [label.format(**names), figure, goal, verdict, octavia]
        if previous is not None:
            old = lookup(previous, path)
            row.insert(2, '' if old is None else '%.1f %s' % (old, unit))
        lines.append(row)
    widths = [max(len(r[i]) for r in [header] + lines) for i in range(len(header))]
    render = ['  '.join(cell.ljust(w) for cell, w in zip(row, widths, strict=False)).rstrip()
              for row in [header] + lines]
    render.insert(1, '-' * len(render[0]))
    return '\n'.join(render)


def describe(results):
    meta, reads = results['meta'], results['reads']['one']
    return '\n'.join([
        'database: %s; server: lbaas serve --noop (gunicorn %d workers x %d threads, '
        'one reconcile worker)%s' % (meta['database'], meta['api_workers'],
                                     meta['api_threads'],
                                     ''.join('; ' + o for o in meta['settings'])),
        '(b) client: %s, %d thread(s), %d keep-alive connections (GET one also with 1, '
        'and with %d over %d threads), best of %d runs of %d s; client and server share '
        '%d CPUs' % (reads['tool'], reads['threads'], reads['connections'],
                     CONCURRENT_CONNECTIONS, CONCURRENT_THREADS, RATE_RUNS,
                     meta['sizes']['rate_seconds'], meta['cpus']),
        '(a)/(c) client: one session, sequential, polling GET every %d ms'
        % (POLL_SECONDS * 1000),
        'load average (1/5/15 min) before %s, after %s; other work on this machine '
        'lowers every figure' % ('/'.join(map(str, meta['load_average_before'])),
                                 '/'.join(map(str, meta['load_average_after'])))])


class Server(harness.Server):
    """harness.Server with extra `[section] option = value` lines (--set)."""

    def __init__(self, database_url, settings):
        super().__init__(database_url)
        self.settings = settings

    def _write_config(self):
        path = super()._write_config()
        with open(path, 'a') as out:
            for setting in self.settings:
                name, _, value = setting.partition('=')
                section, _, option = name.partition('.')
                out.write('[%s]\n%s = %s\n' % (section.strip(), option.strip(),
                                               value.strip()))
        return path


def _setting(args, section, name, default):
    """The value --set gives `section.name`, else `default`."""
    for setting in args.set:
        key, _, value = setting.partition('=')
        if key.strip() == '%s.%s' % (section, name):
            return int(value)
    return default


def meta(args, size, database_url):
    from lbaas import config
    defaults = {o.name: o.default for o in config.api_opts}
    workers = _setting(args, 'api_settings', 'workers', defaults['workers'])
    threads = _setting(args, 'api_settings', 'threads', defaults['threads'])
    database = 'sqlite (default)'
    if database_url:  # the fresh database, without any password
        database = database_url.split('://')[0] + '://' + database_url.rsplit('@', 1)[-1]
    return {'date': datetime.datetime.now(datetime.UTC).isoformat(timespec='seconds'),
            'host': platform.node(), 'cpus': os.cpu_count(), 'python': platform.python_version(),
            'database': database, 'api_workers': workers, 'api_threads': threads,
            'settings': args.set, 'quick': args.quick,
            'sizes': size, 'poll_ms': POLL_SECONDS * 1000,
            'load_average_before': [round(x, 2) for x in os.getloadavg()]}


def parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--quick', action='store_true', help='smaller counts, a smoke run')
    parser.add_argument('--json', default=DEFAULT_JSON, help='results file (%(default)s)')
    parser.add_argument('--database-url', help='a PostgreSQL or MariaDB server, e.g. '
                        'postgresql+psycopg://postgres@127.0.0.1/postgres; a fresh '
                        'database is created on it and dropped afterwards')
    parser.add_argument('--set', action='append', default=[], metavar='SECTION.OPTION=VALUE',
                        help='a configuration option for the server, e.g. '
                        'api_settings.workers=3 (repeatable)')
    parser.add_argument('--compare', metavar='PATH',
                        help='an earlier results file to show next to these figures')
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    # Clean up on kill and Ctrl-C too (a background job may inherit SIGINT ignored).
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    signal.signal(signal.SIGINT, signal.default_int_handler)
    size = SIZES['quick' if args.quick else 'full']
    previous = None
    if args.compare:
        with open(args.compare) as f:
            previous = json.load(f)
    with harness.fresh_database(args.database_url) as url, Server(url, args.set) as server:
        results = {'meta': meta(args, size, url)}
        results.update(run(server.url, size))
        results['meta']['load_average_after'] = [round(x, 2) for x in os.getloadavg()]
    harness.report(args.json, results, table(results, previous), describe(results))


if __name__ == '__main__':
    main()
