"""`lbaas serve` as a supervisor: a taken port, SIGHUP, kill -9, a dead child.

Each test runs its own `lbaas serve --noop` in a subprocess (its own session,
state directory, free ports) and kills the whole session afterwards. None
uses the `service` fixture, so none is repeated per database.
"""
import os
import re
import signal
import socket
import tempfile
import time

import requests

from tests.functional import served

WAIT = 30.0  # seconds any one expected change may take on a loaded machine


def _wait_for(predicate, what, proc, timeout=WAIT):
    deadline = time.time() + timeout
    while not predicate():
        assert time.time() < deadline, 'no %s within %ss:\n%s' % (what, timeout, proc.tail())
        time.sleep(0.2)


def _group(pgid):
    """Live pids of the process group `pgid` (serve's session)."""
    found = []
    for entry in filter(str.isdigit, os.listdir('/proc')):
        try:
            with open('/proc/%s/stat' % entry) as f:
                fields = f.read().rsplit(')', 1)[-1].split()
        except OSError:
            continue
        if int(fields[2]) == pgid and fields[0] != 'Z':
            found.append(int(entry))
    return found


def _cmdline(pid):
    try:
        with open('/proc/%d/cmdline' % pid, 'rb') as f:
            return f.read().split(b'\0')
    except OSError:
        return []


def _child(proc, service):
    pids = [p for p in served.children_of(proc.pid) if service.encode() in _cmdline(p)]
    return pids[0] if pids else None


def _serve():
    state_dir = tempfile.mkdtemp(prefix='lbaas-serve-')
    config_path = served.write_config(state_dir)
    proc, url = served.serve(state_dir, config_path)
    return state_dir, config_path, proc, url


def _stop_cleanly(proc):
    code, left = proc.stop()
    assert not left, 'children of lbaas serve still running: %s' % left
    assert code == 0, 'lbaas serve exited with %s:\n%s' % (code, proc.tail())


def test_a_taken_api_port_stops_serve_at_once_naming_the_address():
    state_dir = tempfile.mkdtemp(prefix='lbaas-serve-')
    config_path = served.write_config(state_dir)
    with socket.socket() as taken:
        taken.bind(('127.0.0.1', 0))
        taken.listen()
        address = '127.0.0.1:%d' % taken.getsockname()[1]
        proc = served.Proc(['serve', '--config-file', config_path, '--state-dir', state_dir,
                            '--bind', address], state_dir, 'serve')
        try:
            code = proc.popen.wait(WAIT)
        finally:
            proc.stop()
    assert code != 0
    assert 'cannot serve the API on %s' % address in proc.tail(), proc.tail()


def _debug_line_pids(text):
    """Pids of the processes whose SIGHUP turned DEBUG on, from a log's text."""
    return {int(m) for m in re.findall(r'^\S+ \S+ (\d+) DEBUG lbaas \[-\] logging at DEBUG level',
                                       text, re.MULTILINE)}


def test_sighup_kills_nothing_and_children_take_the_new_debug_setting():
    state_dir, config_path, proc, url = _serve()
    try:
        _wait_for(lambda: _child(proc, 'api') and len(served.children_of(_child(proc, 'api'))) == 2,
                  'the API and its two worker processes', proc)
        api = _child(proc, 'api')
        children = sorted(served.children_of(proc.pid))
        api_workers = sorted(served.children_of(api))
        with open(config_path) as f:
            text = f.read()
        with open(config_path, 'w') as f:
            f.write(text.replace('[DEFAULT]\n', '[DEFAULT]\ndebug = True\n', 1))
        services = ('worker', 'housekeeping', 'health-manager')

        def all_debug():
            # Sent again until seen: a child ignores SIGHUP until it is set up.
            proc.popen.send_signal(signal.SIGHUP)
            time.sleep(1.0)
            return (all(_debug_line_pids(served.logs(state_dir, s)) for s in services)
                    and _debug_line_pids(served.logs(state_dir, 'api'))
                    >= {api, *api_workers})  # gunicorn's arbiter and each worker
        _wait_for(all_debug, 'DEBUG level in the logs of every service', proc)
        assert sorted(served.children_of(proc.pid)) == children
        assert sorted(served.children_of(api)) == api_workers  # not replaced
        resp = requests.get(url + '/v2/lbaas/loadbalancers', timeout=10)
        assert resp.status_code == 200
        request_id = resp.headers['x-openstack-request-id']
        _wait_for(lambda: re.search(r' DEBUG .*%s' % request_id, served.logs(state_dir, 'api')),
                  'a DEBUG line of the request in api.log', proc)
    finally:
        _stop_cleanly(proc)


def test_kill_9_of_serve_leaves_no_process_behind():
    proc = _serve()[2]
    try:
        before = [p for p in _group(proc.pid) if p != proc.pid]
        assert len(before) >= 4, before  # api (and its workers) and three services
        proc.popen.send_signal(signal.SIGKILL)
        proc.popen.wait(WAIT)
        # gunicorn's arbiter gives its workers 30 s (graceful_timeout) to end.
        _wait_for(lambda: not _group(proc.pid), 'end of the children %s' % before, proc,
                  timeout=2 * WAIT)
    finally:
        proc.stop()


def test_a_killed_worker_is_restarted_and_the_restart_logged():
    proc = _serve()[2]
    try:
        _wait_for(lambda: _child(proc, 'worker'), 'worker child', proc)
        old = _child(proc, 'worker')
        os.kill(old, signal.SIGKILL)
        _wait_for(lambda: re.search(r'restarted worker as pid (\d+)', proc.tail()),
                  'restart line', proc)
        new = int(re.search(r'restarted worker as pid (\d+)', proc.tail()).group(1))
        assert new != old
        assert new in served.children_of(proc.pid)
        assert 'worker (pid %d) killed by SIGKILL' % old in proc.tail()
    finally:
        _stop_cleanly(proc)


def test_a_child_that_keeps_dying_at_start_stops_serve_with_the_reason():
    proc = _serve()[2]
    try:
        others = [p for p in served.children_of(proc.pid) if p != _child(proc, 'worker')]
        killed = []
        deadline = time.time() + 3 * WAIT
        while proc.popen.poll() is None and len(killed) < 5:
            assert time.time() < deadline, proc.tail()
            pids = [int(p) for p in re.findall(r'restarted worker as pid (\d+)', proc.tail())]
            pid = pids[-1] if pids else _child(proc, 'worker')
            if pid and pid not in killed:
                os.kill(pid, signal.SIGKILL)  # at once: it dies young
                killed.append(pid)
            time.sleep(0.1)
        code = proc.popen.wait(WAIT)
        assert code == 1, proc.tail()
        assert re.search(r'lbaas: worker killed by SIGKILL within \d+ s of starting, '
                         r'3 times in a row', proc.tail()), proc.tail()
        _wait_for(lambda: not any(served.alive(p) for p in others), 'end of %s' % others,
                  proc)
    finally:
        proc.stop()
