"""lbaas as real processes: `lbaas serve`, or `lbaas api` and `lbaas worker`.

The `served` fixture runs `lbaas serve` in a subprocess on a free loopback
port with its own state directory and configuration file (noop drivers, a
free UDP wake-up port, 0.2 s polls, 3 s leases), waits until `GET /`
answers, yields its endpoint (a str that also carries `.state_dir` and
`.proc`), and on teardown stops it with SIGTERM and checks that it exited
with 0, that every child it started exited, and that no service log holds
a traceback. Nothing here touches the in-process `config.CONF`, so these
processes coexist with the in-process `service` fixture of conftest.py.

The helpers (`write_config`, `Proc`, `start_api`, `start_worker`) are shared
with the tests that kill processes on purpose.
"""
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time

import pytest
import requests

from lbaas import supervisor

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
START_TIMEOUT = 60.0
STOP_TIMEOUT = 20.0


def free_port(kind=socket.SOCK_STREAM):
    with socket.socket(socket.AF_INET, kind) as sock:
        sock.bind(('127.0.0.1', 0))
        return sock.getsockname()[1]


def write_config(state_dir, database_url=None, sections=None):
    """An lbaas.conf for one test deployment; returns its path.

    `sections` adds or overrides options: {'group': {'option': 'value'}}.
    """
    groups = {
        'DEFAULT': {'state_dir': state_dir},
        # The noop drivers: no namespaces, agents or HAProxy, whoever runs this.
        'controller_worker': {
            'wakeup_address': '127.0.0.1:%d' % free_port(socket.SOCK_DGRAM),
            'poll_interval': '0.2', 'lease_seconds': '3', 'retry_backoff': '0.1',
            'compute_driver': 'noop', 'network_driver': 'noop', 'amphora_driver': 'noop'},
    }
    if database_url:
        groups['database'] = {'connection': database_url}
    for group, options in (sections or {}).items():
        groups.setdefault(group, {}).update(options)
    path = os.path.join(state_dir, 'lbaas.conf')
    with open(path, 'w') as f:
        for group, options in groups.items():
            f.write('[%s]\n' % group)
            for key, value in options.items():
                f.write('%s = %s\n' % (key, value))
            f.write('\n')
    return path


def _environment():
    env = {k: v for k, v in os.environ.items() if not k.startswith('OS_')}
    env['PYTHONPATH'] = ROOT + os.pathsep + env.get('PYTHONPATH', '')
    env['PYTHONUNBUFFERED'] = '1'
    return env


def children_of(pid):
    """Pids whose parent is `pid` (from /proc; empty where there is none)."""
    found = []
    for entry in os.listdir('/proc') if os.path.isdir('/proc') else []:
        if not entry.isdigit():
            continue
        try:
            with open('/proc/%s/stat' % entry) as f:
                stat = f.read()
        except OSError:
            continue
        fields = stat.rsplit(')', 1)[-1].split()
        if int(fields[1]) == pid and fields[0] != 'Z':
            found.append(int(entry))
    return found


def alive(pid):
    try:
        with open('/proc/%d/stat' % pid) as f:
            return f.read().rsplit(')', 1)[-1].split()[0] != 'Z'
    except OSError:
        return False


class Proc:
    """One lbaas command in its own session, output to a file."""

    def __init__(self, args, state_dir, name):
        self.name = name
        self.output_path = os.path.join(state_dir, '%s.out' % name)
        self.output = open(self.output_path, 'ab')  # noqa: SIM115 (closed by kill/stop)
        self.popen = subprocess.Popen(
            [sys.executable, '-m', 'lbaas.cli'] + args, cwd=ROOT, env=_environment(),
            stdout=self.output, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            # Own session (stop() kills the group); dies with this test run
            # even when the run is killed before any teardown.
            start_new_session=True, preexec_fn=supervisor.child_preexec(os.getpid()))
        self.pid = self.popen.pid

    def tail(self, lines=40):
        try:
            with open(self.output_path, errors='replace') as f:
                return ''.join(f.readlines()[-lines:])
        except OSError:
            return ''

    def kill(self):
        """SIGKILL, no questions asked; returns once the process is gone."""
        if self.popen.poll() is None:
            self.popen.send_signal(signal.SIGKILL)
        self.popen.wait(STOP_TIMEOUT)
        self.output.close()

    def stop(self):
        """SIGTERM and wait; returns (exit code, pids of children left running).

        Whatever is still running after STOP_TIMEOUT is SIGKILLed (the whole
        process group), so a failing test leaves nothing behind.
        """
        children = children_of(self.pid)
        code = None
        if self.popen.poll() is None:
            self.popen.terminate()
        try:
            code = self.popen.wait(STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            pass
        deadline = time.time() + 5
        while any(alive(c) for c in children) and time.time() < deadline:
            time.sleep(0.05)
        left = [c for c in children if alive(c)]
        try:
            os.killpg(self.pid, signal.SIGKILL)  # the session: us and our children
        except (ProcessLookupError, PermissionError):
            pass
        if code is None:
            code = self.popen.wait(STOP_TIMEOUT)
        self.output.close()
        return code, left


def wait_http(url, proc, timeout=START_TIMEOUT):
    deadline = time.time() + timeout
    while True:
        try:
            if requests.get(url, timeout=2).status_code == 200:
                return
        except requests.RequestException:
            pass
        if proc.popen.poll() is not None:
            raise RuntimeError('%s exited with %s before answering:\n%s'
                               % (proc.name, proc.popen.returncode, proc.tail()))
        if time.time() > deadline:
            raise RuntimeError('%s did not answer %s within %ss:\n%s'
                               % (proc.name, url, timeout, proc.tail()))
        time.sleep(0.1)


def start_api(state_dir, config_path):
    """`lbaas api` on a free port; returns (Proc, endpoint) once it answers."""
    port = free_port()
    proc = Proc(['api', '--config-file', config_path, '--state-dir', state_dir,
                 '--bind', '127.0.0.1:%d' % port], state_dir, 'api')
    endpoint = 'http://127.0.0.1:%d' % port
    try:
        wait_http(endpoint + '/', proc)
    except BaseException:
        proc.stop()
        raise
    return proc, endpoint


def start_worker(state_dir, config_path, name='worker', extra_config=None):
    args = ['worker', '--config-file', config_path]
    if extra_config:
        args += ['--config-file', extra_config]
    return Proc(args + ['--state-dir', state_dir], state_dir, name)


def serve(state_dir, config_path):
    """`lbaas serve` on a free port; returns (Proc, endpoint) once it answers."""
    port = free_port()
    proc = Proc(['serve', '--config-file', config_path, '--state-dir', state_dir,
                 '--bind', '127.0.0.1:%d' % port], state_dir, 'serve')
    endpoint = 'http://127.0.0.1:%d' % port
    try:
        wait_http(endpoint + '/', proc)
    except BaseException:
        proc.stop()
        raise
    return proc, endpoint


def logs(state_dir, name='api'):
    path = os.path.join(state_dir, 'logs', '%s.log' % name)
    try:
        with open(path, errors='replace') as f:
            return f.read()
    except OSError:
        return ''


class Endpoint(str):
    """The service's base URL, which also knows its state directory and process."""

    def __new__(cls, url, state_dir, proc):
        self = super().__new__(cls, url)
        self.state_dir, self.proc = state_dir, proc
        return self


@pytest.fixture(scope='module')
def served():
    """`lbaas serve` as a subprocess; yields its endpoint ('http://127.0.0.1:PORT')."""
    state_dir = tempfile.mkdtemp(prefix='lbaas-served-')
    config_path = write_config(state_dir)
    proc, url = serve(state_dir, config_path)
    try:
        yield Endpoint(url, state_dir, proc)
    finally:
        code, left = proc.stop()
        assert not left, 'children of lbaas serve still running: %s' % left
        assert code == 0, 'lbaas serve exited with %s:\n%s' % (code, proc.tail())
        for name in ('api', 'worker', 'housekeeping'):
            text = logs(state_dir, name)
            assert 'Traceback' not in text, '%s.log has a traceback:\n%s' % (name, text[-4000:])
