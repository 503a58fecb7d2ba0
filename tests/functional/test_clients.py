"""The real clients against `lbaas serve`, with nothing else running.

No Keystone and no Neutron: openstacksdk with `auth_type='none'` and a
load-balancer endpoint override, and the `openstack loadbalancer ...` CLI
(python-octaviaclient) with `--os-auth-type none --os-endpoint`, which also
looks subnets up by name through the read-only Neutron view lbaas serves on
the same endpoint. Both create, list, show, update and delete every resource
type, wait for ACTIVE, read the status tree and statistics, and cascade-delete.

The CLI costs about a second of start-up per call and its `--wait` polls
every 3 seconds, so independent lifecycles run side by side in threads.
"""
import concurrent.futures
import json
import os
import subprocess
import sys
import time
import uuid

import openstack
import pytest
import requests

from tests.functional.served import served  # noqa: F401 (fixture)

LOCAL_V4_SUBNET = '9c3e0f7e-3f0b-4d8e-8d5b-2b6f9a4c1d01'
LOCAL_V4_SUBNET_NAME = 'lbaas-local-v4'
OPENSTACK = os.path.join(os.path.dirname(sys.executable), 'openstack')
WAIT = 30  # seconds any one object may take to settle


def unique(prefix):
    return '%s-%s' % (prefix, uuid.uuid4().hex[:8])


# --- openstacksdk ----------------------------------------------------------------
@pytest.fixture(scope='module')
def conn(served):
    connection = openstack.connect(auth_type='none',
                                   load_balancer_endpoint_override=served)
    yield connection
    connection.close()


def wait_active(conn, lb):
    return conn.load_balancer.wait_for_load_balancer(lb.id if hasattr(lb, 'id') else lb,
                                                     interval=0.05, wait=WAIT)


def status_tree(conn, lb_id):
    return conn.load_balancer.get('/lbaas/loadbalancers/%s/status' % lb_id).json()['statuses']


def test_sdk_load_balancer_lifecycle(conn):
    lb = conn.load_balancer.create_load_balancer(
        name=unique('sdk-lb'), vip_subnet_id=LOCAL_V4_SUBNET, description='first', tags=['a'])
    assert lb.provisioning_status == 'PENDING_CREATE'
    assert lb.vip_address.startswith('198.18.0.')
    lb = wait_active(conn, lb)
    assert lb.provisioning_status == 'ACTIVE' and lb.operating_status == 'OFFLINE'
    assert [x.id for x in conn.load_balancer.load_balancers(name=lb.name)] == [lb.id]
    assert conn.load_balancer.find_load_balancer(lb.name).id == lb.id
    assert conn.load_balancer.get_load_balancer(lb.id).vip_subnet_id == LOCAL_V4_SUBNET

    lb = conn.load_balancer.update_load_balancer(lb, description='second', tags=['a', 'b'])
    assert lb.provisioning_status == 'PENDING_UPDATE'
    lb = wait_active(conn, lb)
    assert lb.description == 'second' and sorted(lb.tags) == ['a', 'b']
    assert [x.id for x in conn.load_balancer.load_balancers(tags='b')] == [lb.id]

    stats = conn.load_balancer.get_load_balancer_statistics(lb.id)
    assert (stats.bytes_in, stats.bytes_out, stats.total_connections) == (0, 0, 0)
    tree = status_tree(conn, lb.id)
    assert tree['loadbalancer']['id'] == lb.id
    assert tree['loadbalancer']['provisioning_status'] == 'ACTIVE'

    amphorae = list(conn.load_balancer.amphorae(loadbalancer_id=lb.id))
    assert [a.role for a in amphorae] == ['STANDALONE']
    assert amphorae[0].status == 'ALLOCATED'
    conn.load_balancer.failover_load_balancer(lb.id)
    wait_active(conn, lb)
    after = list(conn.load_balancer.amphorae(loadbalancer_id=lb.id))
    assert len(after) == 1 and after[0].id != amphorae[0].id
    assert conn.load_balancer.get_amphora(after[0].id).status == 'ALLOCATED'

    conn.load_balancer.delete_load_balancer(lb)
    conn.load_balancer.wait_for_delete(lb, interval=0.05, wait=WAIT)
    assert conn.load_balancer.find_load_balancer(lb.name) is None


def test_sdk_every_child_resource_and_cascade_delete(conn):
    lb = wait_active(conn, conn.load_balancer.create_load_balancer(
        name=unique('sdk-tree'), vip_subnet_id=LOCAL_V4_SUBNET))
    lbp = conn.load_balancer

    listener = lbp.create_listener(name='http', protocol='HTTP', protocol_port=80,
                                   load_balancer_id=lb.id)
    assert listener.provisioning_status == 'PENDING_CREATE'
    wait_active(conn, lb)
    listener = lbp.update_listener(listener, connection_limit=100, description='d')
    wait_active(conn, lb)
    assert lbp.get_listener(listener.id).connection_limit == 100
    assert [x.id for x in lbp.listeners(load_balancer_id=lb.id)] == [listener.id]
    assert lbp.get_listener_statistics(listener.id).total_connections == 0

    pool = lbp.create_pool(name='pool', protocol='HTTP', lb_algorithm='ROUND_ROBIN',
                           listener_id=listener.id)
    wait_active(conn, lb)
    pool = lbp.update_pool(pool, lb_algorithm='LEAST_CONNECTIONS',
                           session_persistence={'type': 'HTTP_COOKIE'})
    wait_active(conn, lb)
    pool = lbp.get_pool(pool.id)
    assert pool.lb_algorithm == 'LEAST_CONNECTIONS'
    assert pool.session_persistence['type'] == 'HTTP_COOKIE'
    assert lbp.get_listener(listener.id).default_pool_id == pool.id
    assert [x.id for x in lbp.pools(loadbalancer_id=lb.id)] == [pool.id]

    members = []
    for i in range(3):
        members.append(lbp.create_member(pool, address='198.18.0.%d' % (100 + i),
                                         protocol_port=8080, weight=1 + i))
        wait_active(conn, lb)
    member = lbp.update_member(members[0], pool, weight=10, backup=True)
    wait_active(conn, lb)
    member = lbp.get_member(member.id, pool)
    assert (member.weight, member.backup, member.provisioning_status) == (10, True, 'ACTIVE')
    assert member.operating_status == 'NO_MONITOR'
    assert sorted(m.address for m in lbp.members(pool)) == [
        '198.18.0.100', '198.18.0.101', '198.18.0.102']
    assert lbp.find_member(members[1].id, pool).id == members[1].id

    monitor = lbp.create_health_monitor(pool_id=pool.id, type='HTTP', delay=5, timeout=3,
                                        max_retries=2, url_path='/health')
    wait_active(conn, lb)
    monitor = lbp.update_health_monitor(monitor, delay=7, expected_codes='200-204')
    wait_active(conn, lb)
    monitor = lbp.get_health_monitor(monitor.id)
    assert (monitor.delay, monitor.expected_codes, monitor.url_path) == (7, '200-204',
                                                                        '/health')
    assert [x.id for x in lbp.health_monitors(pool_id=pool.id)] == [monitor.id]

    policy = lbp.create_l7_policy(listener_id=listener.id, action='REDIRECT_TO_URL',
                                  redirect_url='https://example.com/', name='redirect')
    wait_active(conn, lb)
    policy = lbp.update_l7_policy(policy, action='REDIRECT_TO_POOL', redirect_pool_id=pool.id)
    wait_active(conn, lb)
    policy = lbp.get_l7_policy(policy.id)
    assert (policy.action, policy.redirect_pool_id, policy.redirect_url) == (
        'REDIRECT_TO_POOL', pool.id, None)
    assert [x.id for x in lbp.l7_policies(listener_id=listener.id)] == [policy.id]

    rule = lbp.create_l7_rule(policy, type='PATH', compare_type='STARTS_WITH',
                              rule_value='/api')
    wait_active(conn, lb)
    rule = lbp.update_l7_rule(rule, policy, rule_value='/v2', invert=True)
    wait_active(conn, lb)
    rule = lbp.get_l7_rule(rule.id, policy)
    assert (rule.rule_value, rule.invert) == ('/v2', True)
    assert [x.id for x in lbp.l7_rules(policy)] == [rule.id]

    tree = status_tree(conn, lb.id)['loadbalancer']
    (tlistener,) = tree['listeners']
    (tpool,) = tlistener['pools']
    assert tpool['health_monitor']['id'] == monitor.id
    assert len(tpool['members']) == 3
    statuses = [tree, tlistener, tpool, tpool['health_monitor']] + tpool['members']
    assert {s['provisioning_status'] for s in statuses} == {'ACTIVE'}

    # Deletes, child first, each waited for.
    lbp.delete_l7_rule(rule, policy)
    wait_active(conn, lb)
    assert list(lbp.l7_rules(policy)) == []
    lbp.delete_member(members[2], pool)
    wait_active(conn, lb)
    assert len(list(lbp.members(pool))) == 2
    lbp.delete_health_monitor(monitor)
    wait_active(conn, lb)
    assert lbp.find_health_monitor(monitor.id) is None

    # The rest goes with the load balancer.
    lbp.delete_load_balancer(lb, cascade=True)
    lbp.wait_for_delete(lb, interval=0.05, wait=WAIT)
    for find, obj in ((lbp.find_listener, listener), (lbp.find_pool, pool),
                      (lbp.find_l7_policy, policy)):
        assert find(obj.id) is None


def test_sdk_quota(conn):
    project = unique('sdk-project')
    defaults = conn.load_balancer.get_quota_default()
    assert defaults.load_balancers == -1
    quota = conn.load_balancer.update_quota(project, load_balancers=5, listeners=7,
                                            members=100)
    assert (quota.load_balancers, quota.listeners, quota.members) == (5, 7, 100)
    quota = conn.load_balancer.get_quota(project)
    assert (quota.load_balancers, quota.pools) == (5, -1)
    assert project in [q.project_id for q in conn.load_balancer.quotas()]
    conn.load_balancer.delete_quota(project)
    assert conn.load_balancer.get_quota(project).load_balancers == -1
    assert project not in [q.project_id for q in conn.load_balancer.quotas()]


def test_sdk_flavors_availability_zones_providers(conn):
    lbp = conn.load_balancer
    providers = {p.name for p in lbp.providers()}
    assert {'amphora', 'octavia'} <= providers
    capabilities = {c.name for c in lbp.provider_flavor_capabilities('amphora')}
    assert 'loadbalancer_topology' in capabilities

    profile = lbp.create_flavor_profile(
        name=unique('fp'), provider_name='amphora',
        flavor_data=json.dumps({'loadbalancer_topology': 'ACTIVE_STANDBY'}))
    profile = lbp.update_flavor_profile(profile, name=profile.name + '-x')
    assert lbp.get_flavor_profile(profile.id).name.endswith('-x')
    assert profile.id in [p.id for p in lbp.flavor_profiles()]
    flavor = lbp.create_flavor(name=unique('flavor'), flavor_profile_id=profile.id,
                               description='ha')
    flavor = lbp.update_flavor(flavor, description='active-standby')
    assert lbp.get_flavor(flavor.id).description == 'active-standby'
    assert lbp.find_flavor(flavor.name).id == flavor.id

    az_profile = lbp.create_availability_zone_profile(
        name=unique('azp'), provider_name='amphora',
        availability_zone_data=json.dumps({'compute_zone': 'nova'}))
    az_profile = lbp.update_availability_zone_profile(az_profile, name=az_profile.name + '-x')
    assert lbp.get_availability_zone_profile(az_profile.id).name.endswith('-x')
    assert az_profile.id in [p.id for p in lbp.availability_zone_profiles()]
    zone = lbp.create_availability_zone(name=unique('az'),
                                        availability_zone_profile_id=az_profile.id)
    # The SDK's AvailabilityZone has no id; its name is the key.
    zone = lbp.update_availability_zone(zone.name, description='zone one')
    assert lbp.get_availability_zone(zone.name).description == 'zone one'
    assert zone.name in [z.name for z in lbp.availability_zones()]

    lb = wait_active(conn, lbp.create_load_balancer(
        name=unique('sdk-ha'), vip_subnet_id=LOCAL_V4_SUBNET, flavor_id=flavor.id,
        availability_zone=zone.name))
    assert (lb.flavor_id, lb.availability_zone) == (flavor.id, zone.name)
    roles = sorted(a.role for a in lbp.amphorae(loadbalancer_id=lb.id))
    assert roles == ['BACKUP', 'MASTER']
    lbp.delete_load_balancer(lb)
    lbp.wait_for_delete(lb, interval=0.05, wait=WAIT)

    lbp.delete_availability_zone(zone.name)
    lbp.delete_availability_zone_profile(az_profile)
    lbp.delete_flavor(flavor)
    lbp.delete_flavor_profile(profile)
    assert lbp.find_flavor(flavor.name) is None
    assert lbp.find_flavor_profile(profile.id) is None
    assert zone.name not in [z.name for z in lbp.availability_zones()]
    assert lbp.find_availability_zone_profile(az_profile.id) is None


# --- the openstack CLI ---------------------------------------------------------------------
def _cli_environment():
    env = {k: v for k, v in os.environ.items() if not k.startswith('OS_')}
    env['OS_CLIENT_CONFIG_FILE'] = os.devnull  # no clouds.yaml from the host
    return env


class Cli:
    def __init__(self, endpoint, log):
        self.endpoint = endpoint
        self.log = log

    def __call__(self, *args):
        """Run `openstack loadbalancer <args>`; parsed JSON output, or None."""
        command = [OPENSTACK, '--os-auth-type', 'none', '--os-endpoint', self.endpoint,
                   'loadbalancer'] + [str(a) for a in args]
        started = time.time()
        proc = subprocess.run(command, capture_output=True, text=True, timeout=120,
                              env=_cli_environment(), stdin=subprocess.DEVNULL)
        self.log.append((time.time() - started, ' '.join(command[5:])))
        assert proc.returncode == 0, '%s failed (%d):\n%s%s' % (
            ' '.join(command), proc.returncode, proc.stdout[-2000:], proc.stderr[-3000:])
        out = proc.stdout.strip()
        return json.loads(out) if out else None

    def many(self, *calls):
        """Run several independent calls at once; their results in order."""
        with concurrent.futures.ThreadPoolExecutor(len(calls)) as pool:
            return [f.result() for f in [pool.submit(self, *c) for c in calls]]


@pytest.fixture(scope='module')
def cli_log():
    log = []
    yield log
    if log:
        total = sum(t for t, _ in log)
        print('\n%d openstack CLI calls, %.1fs in all; slowest: %s' % (
            len(log), total, ', '.join('%.1fs %s' % item for item in sorted(log)[-3:])))


@pytest.fixture
def cli(served, cli_log):
    return Cli(served, cli_log)


class Http:
    """Plain HTTP, for setting the scene and polling without CLI start-up."""

    def __init__(self, endpoint):
        self.base = endpoint + '/v2/lbaas/'
        self.session = requests.Session()

    def create_lb(self, **body):
        body.setdefault('vip_subnet_id', LOCAL_V4_SUBNET)
        resp = self.session.post(self.base + 'loadbalancers', json={'loadbalancer': body})
        assert resp.status_code == 201, resp.text
        lb = resp.json()['loadbalancer']
        self.wait_lb(lb['id'])
        return lb

    def wait_lb(self, lb_id, status='ACTIVE'):
        deadline = time.time() + WAIT
        while True:
            resp = self.session.get(self.base + 'loadbalancers/' + lb_id)
            current = 'DELETED' if resp.status_code == 404 else \
                resp.json()['loadbalancer']['provisioning_status']
            if current == status:
                return
            assert time.time() < deadline and current != 'ERROR', current
            time.sleep(0.05)

    def get(self, path):
        return self.session.get(self.base + path)


@pytest.fixture
def http(served):
    return Http(served)


def test_cli_load_balancer_by_subnet_name_and_id(cli, http):
    by_name, by_id = unique('cli-name'), unique('cli-id')
    created = cli.many(
        ('create', '--name', by_name, '--vip-subnet-id', LOCAL_V4_SUBNET_NAME, '--wait',
         '-f', 'json'),
        ('create', '--name', by_id, '--vip-subnet-id', LOCAL_V4_SUBNET, '--description',
         'by id', '--wait', '-f', 'json'))
    for lb in created:
        assert lb['vip_subnet_id'] == LOCAL_V4_SUBNET
        assert lb['vip_address'].startswith('198.18.0.')
    # --wait returned, so both are ACTIVE now.
    listed, shown, status, stats, amphorae, providers = cli.many(
        ('list', '-f', 'json'), ('show', by_name, '-f', 'json'),
        ('status', 'show', by_id), ('stats', 'show', by_id, '-f', 'json'),
        ('amphora', 'list', '--loadbalancer', created[1]['id'], '-f', 'json'),
        ('provider', 'list', '-f', 'json'))
    states = {lb['name']: lb['provisioning_status'] for lb in listed}
    assert states[by_name] == states[by_id] == 'ACTIVE'
    assert shown['id'] == created[0]['id'] and shown['provisioning_status'] == 'ACTIVE'
    assert shown['operating_status'] == 'OFFLINE'
    assert status['loadbalancer']['id'] == created[1]['id']
    assert status['loadbalancer']['provisioning_status'] == 'ACTIVE'
    assert stats['total_connections'] == 0 and stats['bytes_in'] == 0
    assert [a['role'] for a in amphorae] == ['STANDALONE']
    assert {'amphora', 'octavia'} <= {p['name'] for p in providers}

    # Update with --wait; then delete one plainly and cascade-delete one with a tree.
    cli('set', '--name', by_name + '-renamed', '--description', 'renamed', '--wait', by_name)
    lb = http.get('loadbalancers/' + created[0]['id']).json()['loadbalancer']
    assert (lb['name'], lb['description'], lb['provisioning_status']) == (
        by_name + '-renamed', 'renamed', 'ACTIVE')
    resp = http.session.post(http.base + 'listeners', json={'listener': {
        'loadbalancer_id': created[1]['id'], 'protocol': 'HTTP', 'protocol_port': 80}})
    assert resp.status_code == 201, resp.text
    http.wait_lb(created[1]['id'])
    cli.many(('delete', '--wait', by_name + '-renamed'),
             ('delete', '--cascade', '--wait', by_id))
    for lb in created:
        assert http.get('loadbalancers/' + lb['id']).status_code == 404
    assert http.get('listeners/' + resp.json()['listener']['id']).status_code == 404


def _pool_graph(names, **listener):
    return {'name': names['lb'], 'listeners': [dict(
        name=names['lb'] + '-l', protocol='HTTP', protocol_port=80,
        default_pool={'name': names['lb'] + '-p', 'protocol': 'HTTP',
                      'lb_algorithm': 'ROUND_ROBIN'}, **listener)]}


# Each lifecycle: create --wait, list and show (at once), set --wait, delete --wait,
# with the parents made over plain HTTP and names used wherever the CLI takes them.
def _listener_lifecycle(cli, http, names):
    lb = http.create_lb(name=names['lb'])
    made = cli('listener', 'create', '--name', names['obj'], '--protocol', 'HTTP',
               '--protocol-port', 80, '--wait', '-f', 'json', names['lb'])
    listed, shown = cli.many(('listener', 'list', '--loadbalancer', names['lb'], '-f', 'json'),
                             ('listener', 'show', names['obj'], '-f', 'json'))
    assert [x['id'] for x in listed] == [made['id']]
    assert shown['provisioning_status'] == 'ACTIVE' and shown['protocol_port'] == 80
    # The CLI sends --connection-limit as a JSON string ("42"); Octavia takes it.
    cli('listener', 'set', '--connection-limit', 42, '--description', 'set', '--wait',
        names['obj'])
    listener = http.get('listeners/' + made['id']).json()['listener']
    assert (listener['connection_limit'], listener['description']) == (42, 'set')
    cli('listener', 'delete', '--wait', names['obj'])
    assert http.get('listeners/' + made['id']).status_code == 404
    return lb


def _pool_lifecycle(cli, http, names):
    lb = http.create_lb(name=names['lb'], listeners=[
        {'name': names['lb'] + '-l', 'protocol': 'HTTP', 'protocol_port': 80}])
    made = cli('pool', 'create', '--name', names['obj'], '--protocol', 'HTTP',
               '--lb-algorithm', 'ROUND_ROBIN', '--listener', names['lb'] + '-l',
               '--session-persistence', 'type=APP_COOKIE,cookie_name=sid', '--wait',
               '-f', 'json')
    listed, shown = cli.many(('pool', 'list', '--loadbalancer', lb['id'], '-f', 'json'),
                             ('pool', 'show', names['obj'], '-f', 'json'))
    assert [x['id'] for x in listed] == [made['id']]
    assert shown['provisioning_status'] == 'ACTIVE'
    cli('pool', 'set', '--lb-algorithm', 'SOURCE_IP', '--wait', names['obj'])
    assert http.get('pools/' + made['id']).json()['pool']['lb_algorithm'] == 'SOURCE_IP'
    cli('pool', 'delete', '--wait', names['obj'])
    assert http.get('pools/' + made['id']).status_code == 404
    return lb


def _member_lifecycle(cli, http, names):
    lb = http.create_lb(**_pool_graph(names))
    pool, pool_id = names['lb'] + '-p', lb['pools'][0]['id']
    made = cli('member', 'create', '--name', names['obj'], '--address', '198.18.0.50',
               '--protocol-port', 8080, '--subnet-id', LOCAL_V4_SUBNET, '--wait',
               '-f', 'json', pool)
    listed, shown = cli.many(('member', 'list', pool, '-f', 'json'),
                             ('member', 'show', pool, names['obj'], '-f', 'json'))
    assert [x['id'] for x in listed] == [made['id']]
    assert shown['provisioning_status'] == 'ACTIVE' and shown['address'] == '198.18.0.50'
    cli('member', 'set', '--weight', 7, '--wait', pool, names['obj'])
    member = http.get('pools/%s/members/%s' % (pool_id, made['id'])).json()['member']
    assert member['weight'] == 7
    cli('member', 'delete', '--wait', pool, names['obj'])
    assert http.get('pools/%s/members/%s' % (pool_id, made['id'])).status_code == 404
    return lb


def _healthmonitor_lifecycle(cli, http, names):
    lb = http.create_lb(**_pool_graph(names))
    made = cli('healthmonitor', 'create', '--name', names['obj'], '--delay', 5, '--timeout', 3,
               '--max-retries', 2, '--type', 'HTTP', '--url-path', '/health', '--wait',
               '-f', 'json', names['lb'] + '-p')
    listed, shown = cli.many(('healthmonitor', 'list', '-f', 'json'),
                             ('healthmonitor', 'show', names['obj'], '-f', 'json'))
    assert made['id'] in [x['id'] for x in listed]
    assert shown['provisioning_status'] == 'ACTIVE' and shown['url_path'] == '/health'
    cli('healthmonitor', 'set', '--delay', 9, '--expected-codes', '200-299', '--wait',
        names['obj'])
    monitor = http.get('healthmonitors/' + made['id']).json()['healthmonitor']
    assert (monitor['delay'], monitor['expected_codes']) == (9, '200-299')
    cli('healthmonitor', 'delete', '--wait', names['obj'])
    assert http.get('healthmonitors/' + made['id']).status_code == 404
    return lb


def _l7policy_lifecycle(cli, http, names):
    lb = http.create_lb(**_pool_graph(names))
    listener = names['lb'] + '-l'
    made = cli('l7policy', 'create', '--name', names['obj'], '--action', 'REDIRECT_TO_URL',
               '--redirect-url', 'https://example.com/', '--wait', '-f', 'json', listener)
    listed, shown = cli.many(('l7policy', 'list', '--listener', listener, '-f', 'json'),
                             ('l7policy', 'show', names['obj'], '-f', 'json'))
    assert [x['id'] for x in listed] == [made['id']]
    assert shown['provisioning_status'] == 'ACTIVE'
    cli('l7policy', 'set', '--action', 'REDIRECT_TO_POOL', '--redirect-pool',
        names['lb'] + '-p', '--wait', names['obj'])
    policy = http.get('l7policies/' + made['id']).json()['l7policy']
    assert (policy['action'], policy['redirect_pool_id'], policy['redirect_url']) == (
        'REDIRECT_TO_POOL', lb['pools'][0]['id'], None)
    cli('l7policy', 'delete', '--wait', names['obj'])
    assert http.get('l7policies/' + made['id']).status_code == 404
    return lb


def _l7rule_lifecycle(cli, http, names):
    lb = http.create_lb(**_pool_graph(names, l7policies=[
        {'name': names['lb'] + '-r', 'action': 'REJECT'}]))
    policy = names['lb'] + '-r'
    policy_id = lb['listeners'][0]['l7policies'][0]['id']
    made = cli('l7rule', 'create', '--compare-type', 'STARTS_WITH', '--type', 'PATH',
               '--value', '/api', '--wait', '-f', 'json', policy)
    listed, shown = cli.many(('l7rule', 'list', policy, '-f', 'json'),
                             ('l7rule', 'show', policy, made['id'], '-f', 'json'))
    assert [x['id'] for x in listed] == [made['id']]
    assert shown['provisioning_status'] == 'ACTIVE' and shown['value'] == '/api'
    cli('l7rule', 'set', '--value', '/v2', '--invert', '--wait', policy, made['id'])
    rule = http.get('l7policies/%s/rules/%s' % (policy_id, made['id'])).json()['rule']
    assert (rule['value'], rule['invert']) == ('/v2', True)
    cli('l7rule', 'delete', '--wait', policy, made['id'])
    assert http.get('l7policies/%s/rules/%s' % (policy_id, made['id'])).status_code == 404
    return lb


LIFECYCLES = {
    'listener': _listener_lifecycle, 'pool': _pool_lifecycle, 'member': _member_lifecycle,
    'healthmonitor': _healthmonitor_lifecycle, 'l7policy': _l7policy_lifecycle,
    'l7rule': _l7rule_lifecycle,
}


def test_cli_child_resource_lifecycles(cli, http):
    """Every child resource type through the CLI, each on its own load
    balancer, all six at once (the CLI's --wait polls every 3 seconds)."""
    def run(kind):
        names = {'lb': unique('cli-%s-lb' % kind), 'obj': unique('cli-%s' % kind)}
        lb = LIFECYCLES[kind](cli, http, names)
        resp = http.session.delete(http.base + 'loadbalancers/%s?cascade=true' % lb['id'])
        assert resp.status_code == 204, resp.text
        http.wait_lb(lb['id'], 'DELETED')

    with concurrent.futures.ThreadPoolExecutor(len(LIFECYCLES)) as pool:
        futures = {kind: pool.submit(run, kind) for kind in LIFECYCLES}
    failures = {kind: f.exception() for kind, f in futures.items() if f.exception()}
    assert not failures, '\n\n'.join('%s: %s: %s' % (k, type(e).__name__, e)
                                      for k, e in failures.items())


# --- projects by name under noauth (the identity subset on the same endpoint) -----------
def test_cli_quota_set_for_any_project(cli, http):
    """`quota set <project>` resolves the project through /projects first."""
    project = unique('cli-quota-project')
    answered = cli('quota', 'set', '--loadbalancer', 5, '--listener', 7, project, '-f', 'json')
    assert (answered['load_balancer'], answered['listener']) == (5, 7)
    quota = http.get('quotas/' + project).json()['quota']
    assert (quota['load_balancer'], quota['listener']) == (5, 7)
    shown = cli('quota', 'show', project, '-f', 'json')
    assert shown['load_balancer'] == 5
    assert http.session.delete(http.base + 'quotas/' + project).status_code == 202


def test_cli_create_for_another_project(cli, http):
    project, name = unique('cli-other-project'), unique('cli-owned')
    lb = cli('create', '--project', project, '--name', name, '--vip-subnet-id',
             LOCAL_V4_SUBNET_NAME, '--wait', '-f', 'json')
    assert (lb['project_id'], lb['provisioning_status']) == (project, 'ACTIVE')
    listed = http.get('loadbalancers?project_id=' + project).json()['loadbalancers']
    assert [x['id'] for x in listed] == [lb['id']]
    cli('delete', '--wait', lb['id'])
    assert http.get('loadbalancers/' + lb['id']).status_code == 404
