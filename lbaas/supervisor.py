"""`lbaas serve`'s supervision of its children: the api, worker,
housekeeping and health-manager processes.

Each child is started with the same configuration, watched, restarted with
backoff when it dies (and the restart logged), and stopped with `serve`,
even when `serve` is killed with SIGKILL. A child that dies within
QUICK_EXIT of starting QUICK_EXITS_MAX times in a row will not start: `serve`
stops as a whole with the reason. SIGHUP re-reads the configuration (the mutable
options: `debug`) and re-opens the log files here and in every child. Each
child logs to its own file, state_dir/logs/<service>.log, unless the
operator chose `log_file` or `log_dir` (lbaas/logsetup.py). The ready line
is printed once the API answers HTTP.
"""
import argparse
import ctypes
import logging
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable

from lbaas import config, logsetup

LOG = logging.getLogger('lbaas')
SERVICES = ('api', 'worker', 'housekeeping', 'health-manager')
READY_TIMEOUT = 120.0  # seconds `serve` waits for the API's first HTTP answer
QUICK_EXIT = 10.0  # seconds: a child that dies sooner did not really start
QUICK_EXITS_MAX = 3  # that many quick deaths in a row: it will not start; stop
BACKOFF_MAX = 30.0  # seconds, the longest wait before a restart
PR_SET_PDEATHSIG = 1  # <linux/prctl.h>


def _child_command(args, service):
    command = [sys.executable, '-m', 'lbaas.cli', service,
               '--state-dir', config.CONF.state_dir]
    if logsetup.configured_path(service) is None:
        command += ['--log-file', log_path(service)]
    for path in args.config_file:
        command += ['--config-file', path]
    for path in args.config_dir:
        command += ['--config-dir', path]
    if args.noop:
        command.append('--noop')
    if args.debug:
        command.append('--debug')
    if service == 'api':
        command += ['--bind', api_address()]
    return command


def log_path(service: str) -> str:
    """Where a child logs: as configured (log_file, log_dir), else state_dir/logs/."""
    return (logsetup.configured_path(service)
            or config.state_path('logs', service + '.log'))


def api_address():
    settings = config.CONF.api_settings
    host = settings.bind_host
    return ('[%s]:%d' if ':' in host else '%s:%d') % (host, settings.bind_port)


def die_with_parent(parent: int) -> None:
    """Have the kernel SIGTERM this process when `parent` dies, even by
    SIGKILL, which no handler in the parent can see. Neither subprocess nor
    a library we depend on offers this (it is Linux's prctl, one call). It
    fires when the forking thread ends: fork from a main thread only."""
    ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
    if os.getppid() != parent:  # the parent died before the prctl
        os._exit(1)


def child_preexec(parent):
    """Runs in a child of `serve` between fork and exec."""
    def preexec():
        die_with_parent(parent)
        # Until the child installs its own handler, a SIGHUP would kill it.
        signal.signal(signal.SIGHUP, signal.SIG_IGN)
    return preexec


def _how(code):
    if code < 0:
        return 'killed by %s' % signal.Signals(-code).name
    return 'exited with %d' % code


class _Child:
    """One service under `serve`: started, watched, restarted with backoff."""

    def __init__(self, args, service):
        self.args, self.service = args, service
        self.quick_exits = 0
        self.start()

    def start(self):
        self.popen = subprocess.Popen(_child_command(self.args, self.service),
                                      preexec_fn=child_preexec(os.getpid()))
        self.started = time.monotonic()
        self.restart_at = None

    def running(self):
        return self.restart_at is None and self.popen.poll() is None

    def check(self):
        """Restart when due; returns why `serve` must stop, or None."""
        now = time.monotonic()
        if self.restart_at is not None:
            if now >= self.restart_at:
                self.start()
                LOG.warning('restarted %s as pid %d', self.service, self.popen.pid)
            return None
        code = self.popen.poll()
        if code is None:
            return None
        lived = now - self.started
        self.quick_exits = self.quick_exits + 1 if lived < QUICK_EXIT else 0
        if self.quick_exits >= QUICK_EXITS_MAX:
            return ('%s %s within %.0f s of starting, %d times in a row; see %s'
                    % (self.service, _how(code), QUICK_EXIT, self.quick_exits,
                       log_path(self.service)))
        delay = min(BACKOFF_MAX, 2.0 ** self.quick_exits)
        LOG.warning('%s (pid %d) %s after %.1f s; restarting it in %.0f s',
                    self.service, self.popen.pid, _how(code), lived, delay)
        self.restart_at = now + delay
        return None


def port_problem():
    """Why the API cannot listen on its address, or None when it can."""
    settings = config.CONF.api_settings
    try:
        family = socket.getaddrinfo(settings.bind_host, settings.bind_port,
                                    type=socket.SOCK_STREAM)[0][0]
        with socket.socket(family, socket.SOCK_STREAM) as sock:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as gunicorn
            sock.bind((settings.bind_host, settings.bind_port))
    except OSError as exc:
        return exc.strerror or str(exc)
    return None


def _wait_ready(api, url, stopping):
    """Poll the API until it answers HTTP; returns why it did not, or None."""
    deadline = time.monotonic() + READY_TIMEOUT
    while not stopping.is_set():
        if api.popen.poll() is not None:
            return 'the API %s before it answered at %s; see %s' % (
                _how(api.popen.returncode), url, log_path('api'))
        try:
            with urllib.request.urlopen(url, timeout=1):
                return None
        except urllib.error.HTTPError:
            return None  # an error page is an answer too
        except OSError:
            pass
        if time.monotonic() > deadline:
            return 'the API did not answer at %s within %.0f s' % (url, READY_TIMEOUT)
        stopping.wait(0.2)
    return None


def _supervise(children, stopping, hup, reload):
    while not stopping.wait(0.5):
        if hup.is_set():
            hup.clear()
            reload()
            for child in children.values():
                if child.running():
                    child.popen.send_signal(signal.SIGHUP)
        for child in children.values():
            reason = child.check()
            if reason:
                return reason
    return None


def _stop(children):
    running = [c.popen for c in children.values() if c.running()]
    for popen in running:
        popen.terminate()
    deadline = time.time() + 10
    for popen in running:
        try:
            popen.wait(max(0.1, deadline - time.time()))
        except subprocess.TimeoutExpired:
            popen.kill()


def _print_ready(endpoint):
    from lbaas.drivers import registry
    print('lbaas is serving the load-balancer API v2 at %s' % endpoint, flush=True)
    print(registry.describe())
    paths = sorted({log_path(service) for service in SERVICES})
    print('logs: %s' % (paths[0] if len(paths) == 1 else
                        os.path.join(os.path.dirname(paths[0]), '')))
    print('try:  openstack --os-auth-type none --os-endpoint %s loadbalancer list' % endpoint,
          flush=True)


def serve(args: argparse.Namespace, reload: Callable[[], None]) -> int:
    """Run the children until SIGTERM/SIGINT or a child that will not start."""
    stopping, hup = threading.Event(), threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stopping.set())
    signal.signal(signal.SIGHUP, lambda *_: hup.set())
    endpoint = 'http://%s' % api_address()
    host = config.CONF.api_settings.bind_host
    probe = endpoint.replace(host, {'0.0.0.0': '127.0.0.1', '::': '::1'}.get(host, host), 1)
    from lbaas.controller import driver_agent
    # The sockets external provider drivers call back on (octavia-lib's
    # DriverLibrary): threads of this process, up before the API takes writes.
    agent = driver_agent.start()
    children = {s: _Child(args, s) for s in SERVICES}
    try:
        reason = _wait_ready(children['api'], probe + '/', stopping)
        if reason is None and not stopping.is_set():
            _print_ready(endpoint)
            reason = _supervise(children, stopping, hup, reload)
    finally:
        _stop(children)
        agent.stop()
    if reason:
        LOG.error('stopping: %s', reason)
        print('lbaas: %s' % reason, file=sys.stderr)
        return 1
    return 0


