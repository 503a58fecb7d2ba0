"""Scale-out of the control plane over processes sharing one PostgreSQL
database: figures, never pass/fail.

(a) LB graphs provisioned to ACTIVE per minute with 1, 2 and 3 `lbaas
    worker` processes behind one `lbaas api` (2 gunicorn workers, the
    default), on the noop drivers. For each worker count, a fresh database:
    POST_THREADS clients POST `--graphs` full graphs (LB, HTTP listener,
    default pool of 2 members with a health monitor, one POST each) as fast
    as the API takes them, while the LB list is polled until all are ACTIVE.
    Workers share the work through leases on the LB rows: this shows whether
    a second and third worker add throughput, or only contend for the rows
    and for the machine's CPUs.
(b) GET of one LB, requests/s and p50/p99, from `--clients` concurrent
    keep-alive clients against 1 `lbaas api` process, then spread evenly
    over 2 (same database, same data). Each runs `[api_settings] workers =
    1`: one gunicorn arbiter and one serving process (4 API threads). The
    clients are always CLIENT_PROCESSES processes (wrk, else Python
    threads), so the client costs the same in both runs.

Clients, API, workers and PostgreSQL share the machine's CPUs: compare the
figures of one run with each other, not with another day's.

    python benchmarks/scale.py [--graphs 60] [--seconds 10] [--database-url URL]
"""
import argparse
import collections
import concurrent.futures
import contextlib
import datetime
import glob
import os
import shutil
import signal
import socket
import sys
import tempfile
import threading
import time

import harness
import requests
import sqlalchemy

sys.path.insert(0, harness.REPO)
from tests.functional import served

API = '/v2/lbaas'
SUBNET = '9c3e0f7e-3f0b-4d8e-8d5b-2b6f9a4c1d01'  # the default local IPv4 subnet
DEFAULT_URL = 'postgresql+psycopg://postgres@127.0.0.1/postgres'  # as tests/functional
DEFAULT_JSON = os.path.join(harness.REPO, 'benchmarks', 'results', 'scale.json')
POST_THREADS = 4
POLL_EVERY = 0.2  # seconds between polls of the LB list
READ_LBS = 10  # LBs in the database during (b)
CLIENT_PROCESSES = 2


def graph_body(index):
    members = [{'address': '10.0.%d.%d' % (index // 250, 1 + index % 250 + k),
                'protocol_port': 8080} for k in range(2)]
    pool = {'name': 'pool', 'protocol': 'HTTP', 'lb_algorithm': 'ROUND_ROBIN',
            'members': members,
            'healthmonitor': {'type': 'HTTP', 'delay': 5, 'timeout': 3, 'max_retries': 2}}
    return {'loadbalancer': {
        'name': 'scale-%d' % index, 'vip_subnet_id': SUBNET, 'pools': [pool],
        'listeners': [{'name': 'http', 'protocol': 'HTTP', 'protocol_port': 80,
                       'default_pool': {'name': 'pool'}}]}}


class Deployment:
    """`lbaas api` and `lbaas worker` processes over one database, in a temp dir."""

    def __init__(self, database_url, workers, api_workers):
        self.tmp = tempfile.mkdtemp(prefix='lbaas-scale-')
        # One UDP wake-up port per worker; the API nudges every one.
        self.wakeups = ['127.0.0.1:%d' % harness.free_port(socket.SOCK_DGRAM)
                        for _ in range(workers)]
        self.config = served.write_config(self.tmp, database_url, {
            'controller_worker': {'wakeup_address': ','.join(self.wakeups)},
            'api_settings': {'workers': str(api_workers)}})
        self.procs, self.workers, self.endpoints = [], [], []

    def start(self):
        migrate = served.Proc(['db', 'upgrade', '--config-file', self.config,
                               '--state-dir', self.tmp], self.tmp, 'db-upgrade')
        self.procs.append(migrate)
        if migrate.popen.wait(120) != 0:
            raise RuntimeError('lbaas db upgrade failed:\n%s' % migrate.tail())
        self.add_api()
        self.add_workers()

    def add_api(self):
        state_dir = os.path.join(self.tmp, 'api%d' % len(self.endpoints))  # its own logs
        os.makedirs(state_dir)
        proc, endpoint = served.start_api(state_dir, self.config)
        self.procs.append(proc)
        self.endpoints.append(endpoint)

    def add_workers(self, timeout=60.0):
        """One worker per wake-up port; returns once each of them polls."""
        for index, address in enumerate(self.wakeups):
            extra = os.path.join(self.tmp, 'worker%d.conf' % index)
            with open(extra, 'w') as f:
                f.write('[DEFAULT]\nlog_file = %s/worker%d.log\n[controller_worker]\n'
                        'wakeup_address = %s\n' % (self.tmp, index, address))
            self.workers.append(
                served.start_worker(self.tmp, self.config, 'worker%d' % index, extra))
            self.procs.append(self.workers[-1])
        deadline = time.monotonic() + timeout
        while self.log_count('worker*.log', 'polling every') < len(self.workers):
            if time.monotonic() > deadline or any(p.popen.poll() is not None
                                                  for p in self.workers):
                raise RuntimeError('workers not polling:\n%s'
                                   % '\n'.join(p.tail() for p in self.workers))
            time.sleep(0.1)

    def log_count(self, pattern, text):
        """Lines holding `text` in the log files `pattern` names (glob, in tmp)."""
        count = 0
        for path in glob.glob(os.path.join(self.tmp, pattern)):
            with open(path, errors='replace') as f:
                count += sum(text in line for line in f)
        return count

    def log_errors(self):
        return sum(self.log_count(pattern, text) for pattern in ('*.log', '*.out', '*/*.out')
                   for text in (' ERROR ', 'Traceback'))

    def close(self):
        for proc in reversed(self.procs):
            if proc.popen.poll() is None:
                proc.stop()
            elif not proc.output.closed:
                proc.output.close()
        shutil.rmtree(self.tmp, ignore_errors=True)


@contextlib.contextmanager
def deployment(server_url, workers, api_workers):
    """A started Deployment on a fresh database; all of it gone afterwards."""
    with harness.fresh_database(server_url) as url:
        made = Deployment(url, workers, api_workers)
        try:
            made.start()
            yield made
        finally:
            made.close()


def post_graphs(base, count, deadline, posted, errors):
    """POST `count` graphs from POST_THREADS threads; appends (id, sent, answered)."""
    indices = iter(range(count))  # shared: each next() hands out one index

    def client():
        with requests.Session() as http:
            for index in indices:
                if time.monotonic() > deadline:
                    return
                sent = time.monotonic()
                try:
                    resp = http.post(base + API + '/loadbalancers', json=graph_body(index),
                                     timeout=60)
                except requests.RequestException as exc:
                    errors.append(repr(exc))
                    continue
                if resp.status_code == 201:
                    posted.append((resp.json()['loadbalancer']['id'], sent, time.monotonic()))
                else:
                    errors.append('%d %s' % (resp.status_code, resp.text[:200]))

    threads = [threading.Thread(target=client, daemon=True) for _ in range(POST_THREADS)]
    for thread in threads:
        thread.start()
    return threads


def provision(base, count, timeout):
    """POST `count` graphs and poll until all are ACTIVE or `timeout` passes."""
    posted, errors, active, statuses, complete = [], [], {}, {}, False
    started = now = time.monotonic()
    threads = post_graphs(base, count, started + timeout, posted, errors)
    url = base + API + '/loadbalancers?fields=id&fields=provisioning_status'
    with requests.Session() as http:
        while not complete and time.monotonic() < started + timeout:
            time.sleep(POLL_EVERY)
            posting = any(t.is_alive() for t in threads)
            try:
                lbs = http.get(url, timeout=30).json()['loadbalancers']
            except (requests.RequestException, ValueError, KeyError) as exc:
                errors.append('poll: %r' % exc)
                continue
            now = time.monotonic()
            statuses = {lb['id']: lb['provisioning_status'] for lb in lbs}
            for lb_id in (i for i, s in statuses.items() if s == 'ACTIVE'):
                active.setdefault(lb_id, now)
            complete = not posting and all(p[0] in active for p in posted)
    # Complete: until the last ACTIVE was seen; cut off: the whole wait.
    elapsed = (max(active.values(), default=now) if complete else time.monotonic()) - started
    posts_took = max((p[2] for p in posted), default=now) - started
    latencies = [active[i] - sent for i, sent, _ in posted if i in active]
    return {'graphs': count, 'posted': len(posted), 'active': len(active),
            'not_active': dict(collections.Counter(
                s for s in statuses.values() if s != 'ACTIVE')),
            'errors': len(errors), 'first_errors': errors[:5],
            'posts_per_min': round(len(posted) / max(posts_took, 1e-3) * 60, 1),
            'seconds': round(elapsed, 2),
            'graphs_per_min': round(len(active) / elapsed * 60, 1),
            'post_to_active': harness.summary_ms(latencies) if latencies else None,
            'ids': [p[0] for p in posted]}


def provision_phase(database_url, workers, graphs, timeout):
    with deployment(database_url, workers, api_workers=2) as made:
        result = provision(made.endpoints[0], graphs, timeout)
        result['log_errors'] = made.log_errors()
    result.pop('ids')
    return result


def client_load(url, seconds, connections):
    """One client process's GETs of `url` for `seconds` (wrk, else threads)."""
    if harness.WRK:
        return harness.run_wrk(url, seconds, connections, threads=1)
    lock, latencies, errors = threading.Lock(), [], [0]
    deadline = time.monotonic() + seconds

    def client():
        with requests.Session() as http:
            while time.monotonic() < deadline:
                began = time.monotonic()
                try:
                    ok = http.get(url, timeout=10).status_code == 200
                except requests.RequestException:
                    ok = False
                with lock:
                    latencies.append(time.monotonic() - began)
                    errors[0] += not ok

    started = time.monotonic()
    threads = [threading.Thread(target=client) for _ in range(connections)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return {'requests': len(latencies), 'seconds': time.monotonic() - started,
            'errors': errors[0], 'latencies': latencies}


def measure_reads(urls, seconds, clients):
    """`clients` connections in CLIENT_PROCESSES client processes, spread
    evenly over `urls`; a 1 s warm-up first."""
    per_process = clients // CLIENT_PROCESSES
    targets = [urls[i % len(urls)] for i in range(CLIENT_PROCESSES)]
    with concurrent.futures.ProcessPoolExecutor(CLIENT_PROCESSES) as executor:
        for length in (1, seconds):
            runs = list(executor.map(client_load, targets, [length] * len(targets),
                                     [per_process] * len(targets)))
    result = {'endpoints': len(urls), 'clients': per_process * CLIENT_PROCESSES,
              'tool': 'wrk' if harness.WRK else 'python-requests',
              'requests': sum(r['requests'] for r in runs),
              'errors': sum(r['errors'] for r in runs),
              'req_per_s': round(sum(r['requests'] / r['seconds'] for r in runs), 1)}
    if harness.WRK:  # percentiles of two wrk runs do not merge: the worse one
        return dict(result, p50_ms=max(r['p50_ms'] for r in runs),
                    p99_ms=max(r['p99_ms'] for r in runs))
    merged = [x for r in runs for x in r['latencies']]
    return dict(result, p50_ms=round(harness.percentile(merged, 50) * 1000, 1),
                p99_ms=round(harness.percentile(merged, 99) * 1000, 1))


def read_phase(database_url, seconds, clients, timeout):
    with deployment(database_url, workers=1, api_workers=1) as made:
        lbs = provision(made.endpoints[0], READ_LBS, timeout)
        for worker in made.workers:  # its polls out of the way
            worker.stop()
        path = '%s/loadbalancers/%s' % (API, lbs['ids'][0])
        one = measure_reads([made.endpoints[0] + path], seconds, clients)
        made.add_api()
        two = measure_reads([e + path for e in made.endpoints], seconds, clients)
        log_errors = made.log_errors()
    return [dict(one, log_errors=log_errors), dict(two, log_errors=log_errors)]


def render(header, rows):
    widths = [max(len(str(r[i])) for r in [header] + rows) for i in range(len(header))]
    lines = ['  '.join(str(c).ljust(w) for c, w in zip(r, widths, strict=True)).rstrip()
             for r in [header] + rows]
    return '\n'.join([lines[0], '-' * len(lines[0])] + lines[1:])


def ratio(value, base):
    return 'x%.2f' % (value / base) if base else '-'


def provision_row(p, base):
    if 'error' in p:
        return [p['workers'], 'failed'] + [''] * 7
    return [p['workers'], '%d/%d' % (p['active'], p['graphs']), p['posts_per_min'],
            p['graphs_per_min'], ratio(p['graphs_per_min'], base),
            '%.0f' % p['post_to_active']['p50_ms'] if p['post_to_active'] else '-',
            ', '.join('%s %d' % kv for kv in p['not_active'].items()) or '-',
            p['errors'], p['log_errors']]


def tables(results):
    prov, reads, meta = results['provisioning'], results['reads'], results['meta']
    base = next((p['graphs_per_min'] for p in prov if p['workers'] == 1 and 'error' not in p), 0)
    one = reads[0]['req_per_s'] if reads else 0
    return [
        render(['workers', 'ACTIVE', 'POSTs/min', 'graphs/min', 'vs 1', 'POST->ACTIVE p50 ms',
                'not ACTIVE', 'errors', 'log errors'], [provision_row(p, base) for p in prov]),
        render(['API processes', 'GET one req/s', 'vs 1', 'p50 ms', 'p99 ms', 'errors',
                'log errors'],
               [[r['endpoints'], r['req_per_s'], ratio(r['req_per_s'], one), r['p50_ms'],
                 r['p99_ms'], r['errors'], r['log_errors']] for r in reads]),
        'database: a fresh one per phase on %s; %d CPUs shared by clients, API, workers and '
        'PostgreSQL; load average before %s, after %s: other work lowers every figure'
        % (meta['database'], os.cpu_count(), meta['load_before'], meta['load_after']),
        '(a) graph = LB + HTTP listener + pool (2 members, HTTP monitor), %d POST threads; '
        'lbaas api with 2 gunicorn workers; each lbaas worker 4 threads, 0.2 s poll, own UDP '
        'wake-up port; ACTIVE seen by polling the list every %.1f s; POSTs/min = POSTs '
        'answered while the workers run' % (POST_THREADS, POLL_EVERY),
        '(b) %d LBs; each lbaas api with [api_settings] workers = 1 (one serving process, '
        '4 threads); %d clients (%s) in %d processes, %d s after a 1 s warm-up'
        % (READ_LBS, reads[0]['clients'] if reads else 0, reads[0]['tool'] if reads else '-',
           CLIENT_PROCESSES, meta['seconds'])]


def load_average():
    return '/'.join('%.2f' % x for x in os.getloadavg())


def run_phase(function, *args):
    try:
        return function(*args)
    except Exception as exc:  # a failed phase is reported, the others still run
        print('  failed: %s: %s' % (type(exc).__name__, exc), flush=True)
        return {'error': '%s: %s' % (type(exc).__name__, str(exc)[-2000:])}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--graphs', type=int, default=60, help='graphs per worker count')
    parser.add_argument('--workers', default='1,2,3', help='worker counts (%(default)s)')
    parser.add_argument('--seconds', type=int, default=10, help='length of each read run')
    parser.add_argument('--clients', type=int, default=32, help='concurrent readers')
    parser.add_argument('--timeout', type=float, default=180.0, help='seconds per phase')
    parser.add_argument('--database-url', default=DEFAULT_URL, help='%(default)s')
    parser.add_argument('--json', default=DEFAULT_JSON, help='results file (%(default)s)')
    args = parser.parse_args(argv)
    # Clean up on kill and Ctrl-C too (a background job may inherit SIGINT ignored).
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    signal.signal(signal.SIGINT, signal.default_int_handler)
    engine = sqlalchemy.create_engine(args.database_url)
    try:
        engine.connect().close()
    except Exception as exc:
        print('scale.py: no database server, nothing measured: %s' % exc)
        return
    finally:
        engine.dispose()
    meta = {'date': datetime.datetime.now(datetime.UTC).isoformat(timespec='seconds'),
            'database': args.database_url.rsplit('@', 1)[-1], 'seconds': args.seconds,
            'graphs': args.graphs, 'load_before': load_average()}
    provisioning = []
    for workers in [int(n) for n in args.workers.split(',')]:
        print('(a) %d worker(s), %d graphs ...' % (workers, args.graphs), flush=True)
        provisioning.append(dict(run_phase(provision_phase, args.database_url, workers,
                                           args.graphs, args.timeout), workers=workers))
    print('(b) GET one LB, 1 then 2 API processes ...', flush=True)
    reads = run_phase(read_phase, args.database_url, args.seconds, args.clients, args.timeout)
    meta['load_after'] = load_average()
    results = {'meta': meta, 'provisioning': provisioning,
               'reads': reads if isinstance(reads, list) else [], 'read_error': reads}
    if isinstance(reads, list):
        del results['read_error']
    harness.report(args.json, results, *tables(results))


if __name__ == '__main__':
    main()
