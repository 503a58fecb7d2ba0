"""What the data-plane benchmarks share: the real `lbaas serve` on the netns
drivers, isolated exactly as the scenario tier does it (it reuses
`tests.scenario.conftest.ScenarioService`: state dir `/tmp/lbs-<hex>`,
fabric `lbaas-t<pid>`, host link, a free management /24, free ports), plus
member hosts with backends and a client host, and a small table printer.

`environment()` yields the service; everything (LBs through the API, the
service, amphorae, hosts, processes, the fabric) goes away on exit, also on
Ctrl-C and SIGTERM.
"""
import contextlib
import datetime
import ipaddress
import json
import os
import platform
import shutil
import signal
import sys

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if REPO not in sys.path:
    sys.path.insert(0, REPO)

from tests.scenario import conftest as scenario  # noqa: E402
from tests.scenario import traffic  # noqa: E402
from tests.scenario.conftest import (  # noqa: E402
    CLIENT_ADDRESSES,
    MEMBER_ADDRESSES,
    ScenarioService,
    why_not_runnable,
)

# The scenario tier's local network is a /24, room for about 120 LBs (a VIP
# and an amphora address each). `widen()` makes it a /20 of the same start;
# `vip(n)` gives VIPs from 198.18.8.1 up, away from the test hosts
# (198.18.0.101...) and from the amphorae (taken from the top, 198.18.15.254 down).
FIRST_VIP = ipaddress.ip_address('198.18.8.1')


def widen():
    scenario.LOCAL_NETWORKS = [s.replace('cidr=198.18.0.0/24', 'cidr=198.18.0.0/20')
                               for s in scenario.LOCAL_NETWORKS]


def vip(n):
    return str(FIRST_VIP + n)


RESULTS = os.path.join(os.path.dirname(os.path.abspath(__file__)), 'results')
MEMBER_PORT = traffic.MEMBER_PORT


def install_signal_handlers():
    # Clean up on kill and Ctrl-C too (a background job may inherit SIGINT ignored).
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    signal.signal(signal.SIGINT, signal.default_int_handler)


@contextlib.contextmanager
def environment(members=3, options=None):
    """(service, member hosts, client host); all removed on exit. `options`
    ({section: {name: value}}) are added to the service's configuration."""
    reason = why_not_runnable()
    if reason:
        sys.exit('cannot run: ' + reason)
    run = ScenarioService(options)
    ok = False
    try:
        run.start()
        hosts = []
        for number, address in enumerate(MEMBER_ADDRESSES[:members], start=1):
            host = run.host('member', 'm%d' % number, [address])
            host.start_backend(MEMBER_PORT, name='m%d' % number)
            hosts.append(host)
        client = run.host('client', 'c', CLIENT_ADDRESSES[:1])
        yield run, hosts, client
        ok = True
    finally:
        try:
            run.stop()
        finally:
            if ok:
                shutil.rmtree(run.state_dir, ignore_errors=True)
            else:
                print('state and logs kept in %s' % run.state_dir, file=sys.stderr)


def lb_body(name, member_hosts, monitor=True):
    pool = traffic.pool('pool', [traffic.member(h) for h in member_hosts])
    if monitor:
        pool['healthmonitor'] = {'type': 'HTTP', 'delay': 1, 'timeout': 1,
                                 'max_retries': 2, 'url_path': '/'}
    return {'loadbalancer': {
        'name': name, 'vip_subnet_id': traffic.V4_SUBNET, 'pools': [pool],
        'listeners': [traffic.listener(80, default_pool={'name': 'pool'})]}}


def meta():
    return {'date': datetime.datetime.now(datetime.UTC).isoformat(timespec='seconds'),
            'host': platform.node(), 'cpus': os.cpu_count(),
            'python': platform.python_version(),
            'load_average': [round(x, 2) for x in os.getloadavg()]}


def write_json(path, results):
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with open(path, 'w') as out:
        json.dump(results, out, indent=2)


def render(header, rows):
    rows = [[str(c) for c in row] for row in rows]
    widths = [max(len(r[i]) for r in [header] + rows) for i in range(len(header))]
    lines = ['  '.join(c.ljust(w) for c, w in zip(row, widths, strict=False)).rstrip()
             for row in [header] + rows]
    lines.insert(1, '-' * len(lines[0]))
    return '\n'.join(lines)


