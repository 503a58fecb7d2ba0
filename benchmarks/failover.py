"""Failover benchmark on the netns data plane: figures, never pass/fail.

A client sends a request every 50 ms through the VIP (each given 0.5 s)
while the amphora serving it dies; the figure is the longest time between
two answers (the client-visible gap). `--kills` times each:

  - SINGLE: kill -9 of every process in the amphora's namespace (HAProxy
    and agent). The health manager notices after heartbeat_timeout (3 s),
    the worker builds the replacement and moves the VIP to it.
  - ACTIVE_STANDBY: every process in the VIP holder's namespace killed and
    the namespace deleted. The peer's keepalived takes the VIP after three
    missed adverts (vrrp_advert_int 0.2 s); the health manager has the lost
    amphora replaced, and that second gap (the new BACKUP joining, the
    peer's keepalived reloaded) is measured too.

Each kill waits for the LB to be ACTIVE again, whole, before the next.

    python benchmarks/failover.py [--kills 10] [--json PATH]
"""
import argparse
import itertools
import os
import signal
import subprocess
import sys
import time

import netns_env
from harness import percentile
from netns_env import traffic

from lbaas.drivers.netns import processes
from tests.scenario.traffic import Probe, url

REPLACED = 60.0  # seconds for a failover to finish
DEFAULT_JSON = os.path.join(netns_env.RESULTS, 'failover.json')


def live_amphorae(api, lb_id):
    listing = api.call('GET', api.base.replace('/v2/lbaas/', '/v2/octavia/')
                       + 'amphorae?loadbalancer_id=' + lb_id, expect=200)
    return [a for a in listing.json()['amphorae']
            if a['status'] not in ('DELETED', 'PENDING_DELETE')]


def holds(amphora, address):
    out = subprocess.run(['ip', '-n', amphora['compute_id'], '-o', 'address', 'show'],
                         capture_output=True, text=True).stdout
    return any(line.split()[3].split('/')[0] == address for line in out.splitlines())


def kill(amphora, delete_namespace):
    for pid in processes.pids_in_namespace(amphora['compute_id']):
        processes.signal_quietly(pid, signal.SIGKILL)
    if delete_namespace:
        subprocess.run(['ip', 'netns', 'del', amphora['compute_id']], check=True)


def wait_whole(api, lb_id, gone, count):
    """Until `gone` is replaced, the LB ACTIVE and `count` amphorae live."""
    deadline = time.monotonic() + REPLACED
    while True:
        live = live_amphorae(api, lb_id)
        if (gone not in {a['id'] for a in live} and len(live) == count
                and api.lb_status(lb_id) == 'ACTIVE'):
            return live
        if time.monotonic() > deadline:
            raise RuntimeError('LB %s not whole again after %.0f s' % (lb_id, REPLACED))
        time.sleep(0.1)


def one_kill(api, client, lb, topology):
    """(gap when the amphora died, gap while it was replaced)."""
    live = live_amphorae(api, lb['id'])
    count = len(live)
    if topology == 'SINGLE':
        (victim,) = live
    else:
        (victim,) = [a for a in live if holds(a, lb['vip_address'])]
    target = url(lb['vip_address'], 80, '/headers')
    with Probe(client, target) as probe:
        time.sleep(1.0)
        kill(victim, delete_namespace=topology != 'SINGLE')
        killed = time.monotonic() - probe.started
        wait_whole(api, lb['id'], victim['id'], count)
        time.sleep(1.0)
    answered = [t for t, peer in probe.results if peer]
    after = [t for t in answered if t > killed]
    if not after:
        raise RuntimeError('the VIP of %s never answered again' % lb['id'])
    before = max([t for t in answered if t <= killed] or [0.0])
    first_gap = after[0] - before
    later = [b - a for a, b in itertools.pairwise(after)]
    return first_gap, max(later or [0.0])


def flavor(api):
    profile = api.call('POST', 'flavorprofiles', {'flavorprofile': {
        'name': 'bench-active-standby', 'provider_name': 'amphora',
        'flavor_data': '{"loadbalancer_topology": "ACTIVE_STANDBY"}'}},
        expect=201).json()['flavorprofile']
    return api.call('POST', 'flavors', {'flavor': {
        'name': 'bench-active-standby', 'flavor_profile_id': profile['id']}},
        expect=201).json()['flavor']['id']


def measure(api, client, members, topology, kills):
    pool = traffic.pool('pool', [traffic.member(m) for m in members])
    body = {'name': 'failover-' + topology.lower(), 'vip_subnet_id': traffic.V4_SUBNET,
            'listeners': [traffic.listener(80, pool)]}
    if topology != 'SINGLE':
        body['flavor_id'] = flavor(api)
    lb = api.call('POST', 'loadbalancers', {'loadbalancer': body},
                  expect=201).json()['loadbalancer']
    api.wait_lb(lb['id'])
    traffic.first_good_response(client, url(lb['vip_address'], 80))
    gaps, rejoin = [], []
    for n in range(kills):
        first, second = one_kill(api, client, lb, topology)
        gaps.append(first)
        rejoin.append(second)
        print('%s kill %d: gap %.2f s, then %.2f s while replaced'
              % (topology, n + 1, first, second), flush=True)
    api.delete_lb(lb['id'])
    return {'kills': kills,
            'gap_p50_s': round(percentile(gaps, 50), 2), 'gap_max_s': round(max(gaps), 2),
            'replacement_gap_max_s': round(max(rejoin), 2),
            'gaps_s': [round(g, 2) for g in gaps]}


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--kills', type=int, default=10)
    parser.add_argument('--json', default=DEFAULT_JSON)
    args = parser.parse_args()
    netns_env.install_signal_handlers()
    results = {'meta': netns_env.meta()}
    with netns_env.environment(members=2) as (service, members, client):
        for topology in ('SINGLE', 'ACTIVE_STANDBY'):
            results[topology] = measure(service.api, client, members, topology, args.kills)
    rows = [[t, r['kills'], r['gap_p50_s'], r['gap_max_s'], r['replacement_gap_max_s']]
            for t, r in results.items() if t != 'meta']
    netns_env.write_json(args.json, results)
    print(netns_env.render(['topology', 'kills', 'gap p50 (s)', 'gap max (s)',
                           'gap while replaced, max (s)'], rows))
    print('results written to %s' % args.json)


if __name__ == '__main__':
    sys.exit(main())
