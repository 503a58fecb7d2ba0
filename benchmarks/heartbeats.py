"""Heartbeats one health-manager process handles per second: a figure, never
pass/fail.

`lbaas serve --noop` makes `--amphorae` load balancers (each one amphora,
one listener, one pool with 10 members) in a fresh SQLite database. This
process then runs a health manager (receiver, flusher, checker: the real
classes, one process, one GIL) on a loopback port, and a sender process
(the other core) sends Octavia v3 heartbeats for those amphorae, signed
with HMAC-SHA256, as fast as `--rate` allows for `--seconds`. Reported:
datagrams sent, accepted by the health manager (HMAC checked, decoded,
matched to an amphora, sequence checked), lost in the socket buffer, and
the accepted per second; the health rows are checked to be written.

    python benchmarks/heartbeats.py [--amphorae 200] [--seconds 10] [--rate 20000]
"""
import argparse
import json
import os
import socket
import subprocess
import sys
import threading
import time

from harness import REPO, Server, free_port, report

sys.path.insert(0, REPO)
from lbaas import config

KEY = b'benchmark heartbeat key'
DEFAULT_JSON = os.path.join(os.path.dirname(os.path.abspath(__file__)), 'results',
                            'heartbeats.json')
# The sender: pre-signs one datagram per amphora per round (the agent's own
# message shape), then sends them round after round at the asked rate.
SENDER = r'''
import json, socket, sys, time
from lbaas import wire
port, rate, seconds, key, trees = json.loads(sys.stdin.read())
key = key.encode()
def message(tree, seq):
    listeners = {tree["listener"]: {"status": "OPEN",
        "stats": {"tx": 10, "rx": 5, "conns": 1, "totconns": 1, "ereq": 0},
        "totals": {"tx": 10 * seq, "rx": 5 * seq, "totconns": seq, "ereq": 0}}}
    pools = {"%s:%s" % (tree["pool"], tree["listener"]): {"status": "UP",
        "members": {m: "UP" for m in tree["members"]}}}
    return {"id": tree["amphora"], "seq": seq, "ver": 3, "listeners": listeners,
            "pools": pools}
rounds = max(1, int(rate * seconds / len(trees)) + 1)
datagrams = [wire.encode_heartbeat(message(t, seq), key)
             for seq in range(1, rounds + 1) for t in trees]
sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
sent, started = 0, time.perf_counter()
for datagram in datagrams:
    if time.perf_counter() - started > seconds:
        break
    sock.sendto(datagram, ("127.0.0.1", port))
    sent += 1
    ahead = sent / rate - (time.perf_counter() - started)
    if ahead > 0.001:
        time.sleep(ahead)
print(json.dumps({"sent": sent, "seconds": time.perf_counter() - started,
                  "bytes": sum(len(d) for d in datagrams[:len(trees)]) // len(trees)}))
'''


def make_load_balancers(server, count):
    import requests
    http = requests.Session()
    subnet = http.get(server.url + '/v2.0/subnets?name=lbaas-local-v4').json()['subnets'][0]
    ids = []
    for n in range(count):
        members = [{'address': '10.9.%d.%d' % (n // 250, 1 + m), 'protocol_port': 80}
                   for m in range(10)]
        body = {'loadbalancer': {
            'name': 'hb-%d' % n, 'vip_subnet_id': subnet['id'],
            'pools': [{'name': 'p', 'protocol': 'HTTP', 'lb_algorithm': 'ROUND_ROBIN',
                       'members': members}],
            'listeners': [{'protocol': 'HTTP', 'protocol_port': 80,
                           'default_pool': {'name': 'p'}}]}}
        resp = http.post(server.url + '/v2/lbaas/loadbalancers', json=body, timeout=60)
        resp.raise_for_status()
        ids.append(resp.json()['loadbalancer']['id'])
    return ids


def trees(lb_ids):
    """(amphora, listener, pool, members) ids of each LB, read from the database."""
    from sqlalchemy import select

    from lbaas.db import models
    from lbaas.db import session as db
    found = []
    with db.reading() as session:
        for lb_id in lb_ids:
            lb = session.get(models.LoadBalancer, lb_id)
            amphora = session.scalars(select(models.Amphora.id).where(
                models.Amphora.load_balancer_id == lb_id)).first()
            listener, pool = lb.listeners[0], lb.pools[0]
            found.append({'amphora': amphora, 'listener': listener.id, 'pool': pool.id,
                          'members': [m.id for m in pool.members]})
    return found


def wait_all_active(lb_ids, timeout=120.0):
    from sqlalchemy import func, select

    from lbaas.db import models
    from lbaas.db import session as db
    deadline = time.monotonic() + timeout
    LB = models.LoadBalancer
    while time.monotonic() < deadline:
        with db.reading() as session:
            busy = session.scalar(select(func.count()).select_from(LB).where(
                LB.provisioning_status != 'ACTIVE'))
        if not busy:
            return
        time.sleep(0.2)
    raise RuntimeError('load balancers not ACTIVE after %.0f s' % timeout)


def run(args, server):
    config.load([], [os.path.join(server.tmp, 'lbaas.conf')])
    config.CONF.set_override('state_dir', server.tmp)
    lb_ids = make_load_balancers(server, args.amphorae)
    wait_all_active(lb_ids)
    port = free_port(socket.SOCK_DGRAM)
    config.CONF.set_override('bind_ip', '127.0.0.1', 'health_manager')
    config.CONF.set_override('bind_port', port, 'health_manager')
    config.CONF.set_override('heartbeat_timeout', 3600.0, 'health_manager')
    from lbaas.controller import health
    manager = health.HealthManager(key=KEY)
    stop = threading.Event()
    thread = threading.Thread(target=manager.run, args=(stop,), daemon=True)
    thread.start()
    plan = [port, args.rate, args.seconds, KEY.decode(), trees(lb_ids)]
    out = subprocess.run([sys.executable, '-c', SENDER], input=json.dumps(plan), text=True,
                         capture_output=True, check=True, cwd=REPO)
    sender = json.loads(out.stdout)
    time.sleep(1.0)  # the last datagrams handled, the last flush done
    stop.set()
    thread.join(10)
    counts = dict(manager.counts)
    from sqlalchemy import func, select

    from lbaas.db import models
    from lbaas.db import session as db
    with db.reading() as session:
        rows = session.scalar(select(func.count()).select_from(models.AmphoraHealth))
    accepted = counts.get('accepted', 0)
    return {'amphorae': args.amphorae, 'datagram_bytes': sender['bytes'],
            'asked_rate_per_s': args.rate, 'sent': sender['sent'],
            'send_seconds': round(sender['seconds'], 2), 'accepted': accepted,
            'dropped': {k: v for k, v in counts.items() if k != 'accepted'},
            'lost_in_socket_buffer': sender['sent'] - sum(counts.values()),
            # The receiver ran throughout the send; if nothing was lost it
            # kept up, and the rate asked is a floor of what it can do.
            'accepted_per_s': round(accepted / sender['seconds'], 1),
            'health_rows_written': rows}


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--amphorae', type=int, default=200)
    parser.add_argument('--seconds', type=float, default=10.0)
    parser.add_argument('--rate', type=float, default=20000.0)
    parser.add_argument('--json', default=DEFAULT_JSON)
    args = parser.parse_args()
    with Server() as server:
        result = run(args, server)
    lines = ['%-24s %s' % (k, v) for k, v in result.items()]
    report(args.json, result, 'heartbeats, one health-manager process\n' + '\n'.join(lines))


if __name__ == '__main__':
    sys.exit(main())
