"""What the benchmarks share: a real `lbaas serve` in a temporary directory,
a fresh database on a server backend, load generators and percentiles.

The server is the default setup (`lbaas serve --noop`: gunicorn with its
default workers, a reconcile worker, SQLite unless a server URL is given);
the only setting changed is the worker's wake-up port, so a benchmark never
clashes with another instance on this machine.
"""
import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid

import requests

from lbaas import supervisor

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
WRK = shutil.which('wrk') or ('/usr/bin/wrk' if os.access('/usr/bin/wrk', os.X_OK) else None)

# wrk prints its own report; this one line is what we read back.
WRK_REPORT = r'''
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'BENCH {"requests": %d, "duration_us": %d, "non_2xx": %d, "socket_errors": %d, ' ..
    '"p50_us": %d, "p95_us": %d, "p99_us": %d}\n',
    summary.requests, summary.duration, e.status,
    e.connect + e.read + e.write + e.timeout,
    latency:percentile(50), latency:percentile(95), latency:percentile(99)))
end
'''


def report(path, results, *texts):
    """Write `results` as JSON to `path`, then print the texts (table, notes)."""
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with open(path, 'w') as out:
        json.dump(results, out, indent=2)
    print('\n\n'.join(texts))
    print('results written to %s' % path)


def free_port(kind=socket.SOCK_STREAM):
    with socket.socket(socket.AF_INET, kind) as sock:
        sock.bind(('127.0.0.1', 0))
        return sock.getsockname()[1]


def cpu_ticks(pid):
    """utime + stime of `pid` in clock ticks; OSError if it is gone."""
    with open('/proc/%d/stat' % pid) as f:
        fields = f.read().rsplit(')', 1)[1].split()
    return int(fields[11]) + int(fields[12])


def percentile(values, pct):
    """Nearest-rank percentile of `values` (not empty)."""
    ordered = sorted(values)
    rank = max(1, -(-len(ordered) * pct // 100))
    return ordered[int(rank) - 1]


def summary_ms(seconds):
    """p50, p95, max and mean of durations given in seconds, in ms."""
    return {'n': len(seconds),
            'p50_ms': round(percentile(seconds, 50) * 1000, 1),
            'p95_ms': round(percentile(seconds, 95) * 1000, 1),
            'max_ms': round(max(seconds) * 1000, 1),
            'mean_ms': round(sum(seconds) / len(seconds) * 1000, 1)}


@contextlib.contextmanager
def fresh_database(server_url):
    """A new, empty database on the server `server_url` names; dropped after.

    Yields None (the embedded SQLite default) when no URL is given.
    """
    if not server_url:
        yield None
        return
    import sqlalchemy
    url = sqlalchemy.engine.make_url(server_url)
    name = 'lbaas_bench_%s' % uuid.uuid4().hex[:8]
    admin = sqlalchemy.create_engine(url, isolation_level='AUTOCOMMIT')
    with admin.connect() as conn:
        conn.exec_driver_sql('CREATE DATABASE %s' % name)
    try:
        yield url.set(database=name).render_as_string(hide_password=False)
    finally:
        force = ' WITH (FORCE)' if url.get_backend_name() == 'postgresql' else ''
        with admin.connect() as conn:
            conn.exec_driver_sql('DROP DATABASE IF EXISTS %s%s' % (name, force))
        admin.dispose()


class Server:
    """`lbaas serve --noop` as a subprocess in its own temporary state dir."""

    def __init__(self, database_url=None):
        self.database_url = database_url
        self.tmp = tempfile.mkdtemp(prefix='lbaas-bench-')
        self.port = free_port()
        self.url = 'http://127.0.0.1:%d' % self.port
        self.proc = None

    def _write_config(self):
        path = os.path.join(self.tmp, 'lbaas.conf')
        lines = ['[controller_worker]',
                 'wakeup_address = 127.0.0.1:%d' % free_port(socket.SOCK_DGRAM)]
        if self.database_url:
            lines += ['[database]', 'connection = %s' % self.database_url]
        with open(path, 'w') as out:
            out.write('\n'.join(lines) + '\n')
        return path

    def start(self, timeout=60.0):
        command = [sys.executable, '-m', 'lbaas.cli', 'serve', '--noop',
                   '--state-dir', self.tmp, '--bind', '127.0.0.1:%d' % self.port,
                   '--config-file', self._write_config()]
        with open(os.path.join(self.tmp, 'serve.out'), 'wb') as out:
            self.proc = subprocess.Popen(  # dies with the benchmark, even killed
                command, cwd=REPO, stdout=out, stderr=subprocess.STDOUT,
                start_new_session=True, preexec_fn=supervisor.child_preexec(os.getpid()))
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError('lbaas serve exited with %s:\n%s'
                                   % (self.proc.returncode, self.log_tail()))
            with contextlib.suppress(requests.RequestException):
                if requests.get(self.url + '/healthcheck', timeout=1).status_code == 200:
                    return self
            time.sleep(0.1)
        raise RuntimeError('lbaas serve did not answer within %ds:\n%s'
                           % (timeout, self.log_tail()))

    def log_tail(self, lines=30):
        text = []
        for name in ('serve.out', 'logs/api.log', 'logs/worker.log'):
            with contextlib.suppress(OSError), open(os.path.join(self.tmp, name)) as f:
                text.append('--- %s\n%s' % (name, ''.join(f.readlines()[-lines:])))
        return '\n'.join(text)

    def stop(self):
        """SIGTERM to `lbaas serve` (it stops its children), then SIGKILL its group."""
        try:
            if self.proc is not None and self.proc.poll() is None:
                self.proc.send_signal(signal.SIGTERM)
                try:
                    self.proc.wait(15)
                except subprocess.TimeoutExpired:
                    self.proc.kill()
                    self.proc.wait(5)
            if self.proc is not None:
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.killpg(self.proc.pid, signal.SIGKILL)  # stragglers, if any
        finally:
            shutil.rmtree(self.tmp, ignore_errors=True)

    def __enter__(self):
        try:
            return self.start()
        except BaseException:
            self.stop()
            raise

    def __exit__(self, *exc):
        self.stop()


def run_wrk(url, seconds, connections, threads=2, headers=(), prefix=()):
    """Requests/s for GET `url` from wrk (keep-alive unless a header says
    otherwise, bounded by `seconds`); `prefix` runs wrk under another
    command, such as `ip netns exec NAME`."""
    with tempfile.NamedTemporaryFile('w', suffix='.lua') as script:
        script.write(WRK_REPORT)
        script.flush()
        out = subprocess.run(
            list(prefix) +
            [WRK, '-t%d' % threads, '-c%d' % connections, '-d%ds' % seconds,
             '--timeout', '10s', '--latency', '-s', script.name, url] +
            [arg for header in headers for arg in ('-H', header)],
            capture_output=True, text=True, timeout=seconds + 30, check=True).stdout
    line = next(ln for ln in out.splitlines() if ln.startswith('BENCH '))
    raw = json.loads(line[len('BENCH '):])
    elapsed = raw['duration_us'] / 1e6
    return {'tool': 'wrk', 'threads': threads, 'connections': connections,
            'requests': raw['requests'], 'seconds': round(elapsed, 2),
            'req_per_s': round(raw['requests'] / elapsed, 1),
            'p50_ms': raw['p50_us'] / 1000, 'p95_ms': raw['p95_us'] / 1000,
            'p99_ms': raw['p99_us'] / 1000,
            'errors': raw['non_2xx'] + raw['socket_errors']}


def run_threads(url, count, seconds, concurrency):
    """Requests/s for GET `url`: `count` requests over `concurrency` keep-alive
    sessions, stopped early at `seconds`."""
    lock = threading.Lock()
    state = {'left': count, 'errors': 0}
    latencies = []
    deadline = time.perf_counter() + seconds

    def client():
        with requests.Session() as session:
            while True:
                with lock:
                    if state['left'] <= 0 or time.perf_counter() > deadline:
                        return
                    state['left'] -= 1
                started = time.perf_counter()
                try:
                    ok = session.get(url, timeout=10).status_code == 200
                except requests.RequestException:
                    ok = False
                with lock:
                    latencies.append(time.perf_counter() - started)
                    state['errors'] += not ok

    started = time.perf_counter()
    workers = [threading.Thread(target=client) for _ in range(concurrency)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    elapsed = time.perf_counter() - started
    stats = summary_ms(latencies)
    return {'tool': 'python-requests', 'threads': concurrency, 'connections': concurrency,
            'requests': len(latencies), 'seconds': round(elapsed, 2),
            'req_per_s': round(len(latencies) / elapsed, 1), 'p50_ms': stats['p50_ms'],
            'p95_ms': stats['p95_ms'], 'errors': state['errors']}
