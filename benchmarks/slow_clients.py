"""Slow and idle clients against `lbaas api`: what a normal client then waits.

p50/p95/p99 of a normal client's GET /v2/lbaas/loadbalancers (a new
connection each, from 127.0.0.1, one after another: up to --requests or
PHASE_SECONDS, REQUEST_TIMEOUT each) (a) with no other load, (b) with 200
idle keep-alive connections open (one GET /, then idle), (c) with 200
slowloris connections open (a request line, then a header byte a second),
(d) with both. A load connection the server closes is opened again. The
load runs in another process, from 127.0.0.2-127.0.0.9, at most 50
connections per address (under the default per-client limit of 100).

The server is `lbaas api --noop` alone (SQLite, a temporary state
directory, a free loopback port) with `[api_settings] frontend` from
--frontend: `gthread` is the former front end, for before/after figures.
Figures, never pass/fail; prints a table and writes JSON.

    python benchmarks/slow_clients.py [--frontend uvicorn|gthread] [--requests 300]
                                      [--json PATH] [--compare PATH]
"""
import argparse
import asyncio
import contextlib
import datetime
import json
import multiprocessing
import os
import platform
import signal
import subprocess
import sys
import time

import harness
import requests

PATH = '/v2/lbaas/loadbalancers'
PHASES = [('a', 'no extra load', 0, 0), ('b', '200 idle keep-alive', 200, 0),
          ('c', '200 slowloris', 0, 200), ('d', '200 idle + 200 slowloris', 200, 200)]
PHASE_SECONDS = 25.0      # the normal client's time per phase, at most
REQUEST_TIMEOUT = 5.0     # a request not answered by then counts as failed
SETTLE_SECONDS = 6.0      # load running before the normal client starts (past the
                          # 5 s header and keep-alive timeouts, so reconnects are in)
LOAD_DEADLINE = PHASE_SECONDS + 30.0  # the load process stops itself by then
PER_ADDRESS = 50          # load connections per loopback source address
IDLE_SOURCES = ['127.0.0.%d' % i for i in range(2, 6)]
SLOW_SOURCES = ['127.0.0.%d' % i for i in range(6, 10)]
SLOW_BYTES = b'X-Slowloris: 0123456789\r\n'
DEFAULT_JSON = os.path.join(os.path.dirname(os.path.abspath(__file__)),
                            'results', 'slow_clients.json')


class ApiServer(harness.Server):
    """`lbaas api --noop` alone (harness.Server runs `lbaas serve`), SQLite, its frontend."""

    def __init__(self, frontend):
        super().__init__()
        self.frontend = frontend

    def start(self, timeout=60.0):
        frontend = os.path.join(self.tmp, 'frontend.conf')
        with open(frontend, 'w') as out:
            out.write('[api_settings]\nfrontend = %s\n' % self.frontend)
        lbaas = [sys.executable, '-m', 'lbaas.cli']
        common = ['--noop', '--state-dir', self.tmp, '--config-file', self._write_config(),
                  '--config-file', frontend]
        subprocess.run([*lbaas, 'db', 'upgrade', *common], cwd=harness.REPO, check=True,
                       capture_output=True, timeout=120)
        with open(os.path.join(self.tmp, 'serve.out'), 'wb') as out:
            self.proc = subprocess.Popen(
                [*lbaas, 'api', '--bind', '127.0.0.1:%d' % self.port, *common],
                cwd=harness.REPO, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError('lbaas api exited with %s:\n%s'
                                   % (self.proc.returncode, self.log_tail()))
            with contextlib.suppress(requests.RequestException):
                if requests.get(self.url + '/healthcheck', timeout=1).status_code == 200:
                    return self
            time.sleep(0.1)
        raise RuntimeError('lbaas api did not answer within %ds:\n%s'
                           % (timeout, self.log_tail()))


# The load, in its own process (its own GIL) -------------------------------

def _count(stats, data):
    if data.startswith(b'HTTP/1.'):
        code = data[9:12].decode(errors='replace')
        stats['answers'][code] = stats['answers'].get(code, 0) + 1


async def _idle(reader, writer, stats):
    """A keep-alive connection: a GET, then idle until the server closes it."""
    writer.write(b'GET / HTTP/1.1\r\nHost: bench\r\n\r\n')
    while data := await reader.read(65536):
        _count(stats, data)


async def _slowloris(reader, writer, stats):
    """A request whose headers never end: one byte a second, until an answer."""
    answer = asyncio.ensure_future(reader.read(65536))
    try:
        writer.write(b'GET / HTTP/1.1\r\nHost: bench\r\n')
        sent = 0
        while not (await asyncio.wait({answer}, timeout=1.0))[0]:
            writer.write(SLOW_BYTES[sent % len(SLOW_BYTES):][:1])
            sent += 1
            await writer.drain()
        _count(stats, answer.result())
    finally:
        answer.cancel()


async def _keep_open(kind, port, source, stats):
    """One connection of `kind`, opened again whenever the server closes it."""
    while True:
        try:
            reader, writer = await asyncio.wait_for(asyncio.open_connection(
                '127.0.0.1', port, local_addr=(source, 0)), REQUEST_TIMEOUT)
        except (TimeoutError, OSError):
            stats['connect_errors'] += 1
            await asyncio.sleep(0.5)
            continue
        stats['connects'] += 1
        try:
            await kind(reader, writer, stats)
        except OSError:
            pass
        finally:
            writer.close()
        stats['closed_by_server'] += 1
        await asyncio.sleep(0.1)


async def _load(port, idle, slow, stop, ready, results):
    stats = {'connects': 0, 'connect_errors': 0, 'closed_by_server': 0, 'answers': {}}
    tasks = [asyncio.ensure_future(_keep_open(kind, port, sources[i // PER_ADDRESS], stats))
             for kind, sources, n in ((_idle, IDLE_SOURCES, idle),
                                      (_slowloris, SLOW_SOURCES, slow))
             for i in range(n)]
    deadline = time.monotonic() + LOAD_DEADLINE
    ramp_until = time.monotonic() + 10
    while stats['connects'] < idle + slow and time.monotonic() < ramp_until:
        await asyncio.sleep(0.05)
    ready.set()
    while not stop.is_set() and time.monotonic() < deadline:
        await asyncio.sleep(0.1)
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    results.put(stats)


def _load_process(port, idle, slow, stop, ready, results):
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent stops us
    asyncio.run(_load(port, idle, slow, stop, ready, results))


@contextlib.contextmanager
def load(port, idle, slow):
    """Yields a dict that holds the load's counts once the block ends."""
    stats = {}
    if not idle and not slow:
        yield stats
        return
    ctx = multiprocessing.get_context('spawn')
    stop, ready, results = ctx.Event(), ctx.Event(), ctx.Queue()
    proc = ctx.Process(target=_load_process, args=(port, idle, slow, stop, ready, results))
    proc.start()
    try:
        ready.wait(15)
        time.sleep(SETTLE_SECONDS)
        yield stats
    finally:
        stop.set()
        try:
            stats.update(results.get(timeout=15))
        except Exception:  # queue.Empty: it did not stop in time and is killed below
            stats['error'] = 'no counts from the load process'
        proc.join(5)
        if proc.is_alive():
            proc.kill()
            proc.join(5)


# The normal client --------------------------------------------------------

def measure(url, count):
    """Sequential GETs, each on a new connection; None for a failed one."""
    latencies = []
    deadline = time.monotonic() + PHASE_SECONDS
    while len(latencies) < count and time.monotonic() < deadline:
        started = time.perf_counter()
        try:
            ok = requests.get(url, timeout=REQUEST_TIMEOUT).status_code == 200
        except requests.RequestException:
            ok = False
        latencies.append(time.perf_counter() - started if ok else None)
    return latencies


def summary(latencies):
    """p50/p95/p99/max in ms; a percentile that falls on a failure is None."""
    ordered = sorted(latencies, key=lambda v: float('inf') if v is None else v)
    result = {'n': len(ordered), 'failed': sum(v is None for v in ordered)}
    for pct in (50, 95, 99, 100):
        value = harness.percentile(list(range(len(ordered))), pct)
        value = ordered[value]
        key = 'max_ms' if pct == 100 else 'p%d_ms' % pct
        result[key] = None if value is None else round(value * 1000, 1)
    return result


def run(url, count):
    phases = {}
    for key, label, idle, slow in PHASES:
        with load(int(url.rsplit(':', 1)[1]), idle, slow) as stats:
            figures = summary(measure(url + PATH, count))
        phases[key] = dict(figures, label=label, idle=idle, slowloris=slow, load=stats)
        print('(%s) %-26s done: %s' % (key, label, cell(figures)), file=sys.stderr)
    return phases


# Table --------------------------------------------------------------------

def ms(value):
    return '> %d' % (REQUEST_TIMEOUT * 1000) if value is None else '%.1f' % value


def cell(figures):
    return '%s / %s / %s' % (ms(figures['p50_ms']), ms(figures['p95_ms']),
                             ms(figures['p99_ms']))


def table(results, previous=None):
    this = results['meta']['frontend']
    header = ['figure', 'n', 'failed', '%s p50 / p95 / p99 ms' % this]
    if previous is not None:
        header.append('%s p50 / p95 / p99 ms' % previous['meta']['frontend'])
    rows = []
    for key, label, _, _ in PHASES:
        figures = results['phases'][key]
        row = ['(%s) %s' % (key, label), str(figures['n']), str(figures['failed']),
               cell(figures)]
        if previous is not None:
            old = previous['phases'].get(key)
            row.append('%s (n %d, failed %d)' % (cell(old), old['n'], old['failed'])
                       if old else '')
        rows.append(row)
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    lines = ['  '.join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip()
             for r in [header, *rows]]
    lines.insert(1, '-' * len(lines[0]))
    return '\n'.join(lines)


def describe(results):
    meta = results['meta']
    answers = {}
    for figures in results['phases'].values():
        for code, n in figures['load'].get('answers', {}).items():
            answers[code] = answers.get(code, 0) + n
    return '\n'.join([
        'server: lbaas api --noop, frontend %s, %d workers; SQLite; %d CPUs shared with '
        'the clients' % (meta['frontend'], meta['api_workers'], meta['cpus']),
        'normal client: a new connection per GET %s from 127.0.0.1, up to %d requests or '
        '%ds per phase, %ds timeout (a timed-out request counts as failed and as slower '
        'than any other)' % (PATH, meta['requests'], PHASE_SECONDS, REQUEST_TIMEOUT),
        'load: another process; idle from %s-%s, slowloris from %s-%s, at most %d '
        'connections per source address, so the per-client limit refuses none; a '
        'connection the server closes is opened again' % (
            IDLE_SOURCES[0], IDLE_SOURCES[-1], SLOW_SOURCES[0], SLOW_SOURCES[-1],
            PER_ADDRESS),
        'answers the load got, by status: %s' % (
            ', '.join('%s x%d' % kv for kv in sorted(answers.items())) or 'none'),
        'load average (1/5/15 min) before %s, after %s' % (
            '/'.join(map(str, meta['load_average_before'])),
            '/'.join(map(str, meta['load_average_after'])))])


def parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--frontend', default='uvicorn', choices=['uvicorn', 'gthread'],
                        help='[api_settings] frontend of the server (%(default)s)')
    parser.add_argument('--requests', type=int, default=300,
                        help='normal requests per phase, at most (%(default)s)')
    parser.add_argument('--json', default=DEFAULT_JSON, help='results file (%(default)s)')
    parser.add_argument('--compare', metavar='PATH',
                        help='an earlier results file (another front end) to show beside')
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    signal.signal(signal.SIGINT, signal.default_int_handler)
    previous = None
    if args.compare:
        with open(args.compare) as f:
            previous = json.load(f)
    from lbaas import config
    workers = next(o.default for o in config.api_opts if o.name == 'workers')
    meta = {'date': datetime.datetime.now(datetime.UTC).isoformat(timespec='seconds'),
            'host': platform.node(), 'cpus': os.cpu_count(),
            'python': platform.python_version(), 'frontend': args.frontend,
            'api_workers': workers, 'requests': args.requests,
            'load_average_before': [round(x, 2) for x in os.getloadavg()]}
    with ApiServer(args.frontend) as server:
        phases = run(server.url, args.requests)
    meta['load_average_after'] = [round(x, 2) for x in os.getloadavg()]
    results = {'meta': meta, 'phases': phases}
    harness.report(args.json, results, table(results, previous), describe(results))


if __name__ == '__main__':
    sys.path.insert(0, harness.REPO)
    main()
