"""What the OpenStack drivers do beyond the contract suites, on the fake cloud:
the server they boot, the image and group choices, the VIP's allowed address
pairs under both topologies, the security group, error mapping, the
`[service_auth]` path to a connection, and the fake's own faults.
"""

import base64
import json
import uuid

import pytest
from cryptography import x509
from keystoneauth1 import loading as ks_loading

from lbaas import config
from lbaas.drivers import agent_options, base, openstack
from tests.fakes.openstack_env import HEARTBEAT_KEY, MANAGEMENT_NETWORK, OpenStackEnv

NETWORK, V4, V6 = str(uuid.uuid4()), str(uuid.uuid4()), str(uuid.uuid4())
SUBNETS = [(NETWORK, V4, '10.9.0.0/24', '10.9.0.1'), (NETWORK, V6, 'fd00:9::/64', 'fd00:9::1')]


@pytest.fixture
def env():
    made = OpenStackEnv(SUBNETS, build_seconds=0)
    yield made
    made.close()


def lb(topology='SINGLE', vip='10.9.0.10'):
    vips = (base.Vip(subnet_id=V4, address=vip, port_id=str(uuid.uuid4())),)
    return base.LoadBalancerNetwork(id=str(uuid.uuid4()), topology=topology, vips=vips)


def amphora(env, compute, lb_id):
    amphora_id = str(uuid.uuid4())
    compute_id = compute.build(amphora_id, lb_id)
    return base.Amphora(id=amphora_id, lb_id=lb_id, compute_id=compute_id)


def server_of(env, amphora_id):
    return next(s for s in env.cloud.nova.servers.values() if s['name'].endswith(amphora_id))


def vrrp_port(env, amphora_id):
    name = 'octavia-lb-vrrp-' + amphora_id
    return next((p for p in env.cloud.neutron.ports.values() if p['name'] == name), None)


def pairs(port):
    return {p['ip_address'] for p in port['allowed_address_pairs']}


def writes(env):
    return [r for r in env.cloud.requests if r[0] != 'GET']


# -- compute ------------------------------------------------------------------------------


def test_the_server_boots_the_newest_tagged_image_with_the_agent_configured(env):
    compute = env.compute()
    amp = amphora(env, compute, 'lb-1')
    server = server_of(env, amp.id)
    assert server['name'] == 'amphora-' + amp.id
    assert server['image']['id'] == env.image_id  # newest with the tag, not the newest
    assert server['key_name'] == 'octavia-ssh-key'
    assert server['security_groups'] == [{'name': 'lb-mgmt-sec-grp'}]
    ports = [p for p in env.cloud.neutron.ports.values() if p['device_id'] == server['id']]
    assert [p['network_id'] for p in ports] == [MANAGEMENT_NETWORK]
    text = env.cloud.nova.user_data(server['id'])
    assert text.startswith('#cloud-config\n')
    files = {
        f['path'].rsplit('/', 1)[-1]: base64.b64decode(f['content'])
        for f in json.loads(text.split('\n', 1)[1])['write_files']
    }
    cert = x509.load_pem_x509_certificate(files['agent.pem'])
    assert cert.subject.rfc4514_string() == 'CN=' + amp.id
    assert files['heartbeat.key'] == HEARTBEAT_KEY
    unit = files['lbaas-agent.service'].decode()
    assert '--amphora-id %s' % amp.id in unit
    assert '--state-dir %s' % compute.runtime_dir(amp.id) in unit
    for host, port in config.health_manager_addresses():
        assert '--health-manager %s' % agent_options.host_port(host, port) in unit


def test_image_id_wins_and_a_missing_image_or_flavor_is_permanent(env):
    other = env.cloud.glance.add_image('pinned', [])
    amp = amphora(env, env.compute(image_id=other), 'lb-1')
    assert server_of(env, amp.id)['image']['id'] == other
    with pytest.raises(base.PermanentError, match='no active image is tagged'):
        env.compute(image_tag='missing').build(str(uuid.uuid4()), 'lb-1')
    with pytest.raises(base.PermanentError, match='400'):
        env.compute(flavor_id='no-such-flavor').build(str(uuid.uuid4()), 'lb-1')


def test_anti_affinity_puts_the_pair_on_two_hosts_and_the_group_goes_with_the_last(env):
    compute = env.compute()
    first, second = amphora(env, compute, 'lb-2'), amphora(env, compute, 'lb-2')
    (group,) = env.cloud.nova.groups.values()
    assert group['name'] == 'octavia-lb-lb-2' and group['policy'] == 'anti-affinity'
    hosts = {server_of(env, a.id)['hostId'] for a in (first, second)}
    assert len(hosts) == 2 and len(group['members']) == 2
    compute.delete(first.compute_id)
    assert env.cloud.nova.groups  # one member left
    compute.delete(second.compute_id)
    assert not env.cloud.nova.groups


def test_nova_statuses_map_onto_the_seam(env):
    compute = env.compute(anti_affinity=False)
    amp = amphora(env, compute, 'lb-1')
    server = server_of(env, amp.id)
    for nova, seam in [('ERROR', 'ERROR'), ('SHUTOFF', 'ERROR'), ('REBOOT', 'BUILDING')]:
        server['_forced'] = nova
        assert compute.status(amp.compute_id) == seam


def test_compute_faults_are_transient_or_permanent(env):
    compute = env.compute(anti_affinity=False)
    env.cloud.faults.add('POST', r'/compute/v2\.1/servers$', 503)
    with pytest.raises(base.TransientError):
        compute.build(str(uuid.uuid4()), 'lb-1')
    env.cloud.faults.add('GET', r'/servers/detail', 403)
    with pytest.raises(base.PermanentError):
        compute.status('amphora-x')
    assert compute.status('amphora-x') == 'DELETED'  # the fault was used up


# -- network ------------------------------------------------------------------------------


def test_active_standby_ports_carry_the_vip_from_plug_and_hold_vips_writes_nothing(env):
    compute, network, balancer = env.compute(), env.network(), lb('ACTIVE_STANDBY')
    pair = [amphora(env, compute, balancer.id) for _ in range(2)]
    addressing = [network.plug_amphora(a, balancer) for a in pair]
    assert {a.vrrp_ip for a in addressing} and len({a.vrrp_port_id for a in addressing}) == 2
    for amp in pair:
        assert pairs(vrrp_port(env, amp.id)) == {'10.9.0.10'}
    before = len(writes(env))
    for amp in pair:
        network.hold_vips(amp, balancer)
    assert len(writes(env)) == before


def test_single_failover_moves_the_address_pair_to_the_replacement(env):
    compute, network, balancer = env.compute(), env.network(), lb()
    old, new = amphora(env, compute, balancer.id), amphora(env, compute, balancer.id)
    network.plug_amphora(old, balancer)
    network.hold_vips(old, balancer)
    network.plug_amphora(new, balancer)
    assert pairs(vrrp_port(env, new.id)) == set()  # not before it serves
    network.hold_vips(new, balancer)
    network.unplug_amphora(old)
    assert vrrp_port(env, old.id) is None
    assert pairs(vrrp_port(env, new.id)) == {'10.9.0.10'}


def test_vip_port_keeps_the_address_and_the_security_group_opens_the_lb(env):
    network, balancer = env.network(), lb()
    amp = amphora(env, env.compute(), balancer.id)
    network.plug_amphora(amp, balancer)
    (vip_port,) = [
        p for p in env.cloud.neutron.ports.values() if p['name'] == 'octavia-lb-' + balancer.id
    ]
    assert vip_port['fixed_ips'] == [{'subnet_id': V4, 'ip_address': '10.9.0.10'}]
    (group,) = [
        g for g in env.cloud.neutron.security_groups.values() if g['name'] == 'lb-' + balancer.id
    ]
    assert group['id'] in vip_port['security_groups']
    assert group['id'] in vrrp_port(env, amp.id)['security_groups']
    rules = {
        (r['protocol'], r['port_range_min'], r['remote_group_id'])
        for r in group['security_group_rules']
    }
    assert {('tcp', 1, None), ('udp', 1, None), ('112', None, group['id'])} <= rules
    with pytest.raises(base.TransientError):  # the VRRP port still uses the group
        network.release_vip(balancer)
    network.unplug_amphora(amp)
    network.release_vip(balancer)
    network.release_vip(balancer)
    names = {p['name'] for p in env.cloud.neutron.ports.values()}
    assert 'octavia-lb-' + balancer.id not in names
    assert not [
        g for g in env.cloud.neutron.security_groups.values() if g['name'] == 'lb-' + balancer.id
    ]


def test_a_booting_server_is_attached_before_the_first_push(env):
    network, balancer = env.network(), lb()
    amp = amphora(env, env.compute(anti_affinity=False), balancer.id)
    server = server_of(env, amp.id)
    server['_forced'] = 'BUILD'  # Nova attaches interfaces to ACTIVE servers only
    addressing = network.plug_amphora(amp, balancer)
    assert addressing.lb_network_ip and not vrrp_port(env, amp.id)['device_id']
    with pytest.raises(base.TransientError, match='BUILD'):
        network.plug_member_subnets(amp, [V6])
    server['_forced'] = None
    plugged = network.plug_member_subnets(amp, [V6])
    assert vrrp_port(env, amp.id)['device_id'] == server['id']
    assert plugged[V6].startswith('fd00:9::')


def test_ambiguous_member_addresses_are_not_plugged(env):
    env.cloud.neutron.add_network('other-tenant', [(str(uuid.uuid4()), '10.9.0.0/16', None)])
    network = env.network()
    assert network.member_subnet_ids(frozenset({'10.9.0.20'})) == []
    assert network.member_subnet_ids(frozenset({'fd00:9::20'})) == [V6]
    assert network.member_subnet_ids(frozenset({'192.0.2.9'})) == []  # management


# -- configuration ------------------------------------------------------------------------


def test_a_connection_from_the_service_auth_options(env):
    group = config.SERVICE_AUTH
    plugin_opts = ks_loading.get_auth_plugin_conf_options('password')
    config.CONF.register_opts(plugin_opts, group=group)
    overrides = {
        'auth_type': 'password',
        'auth_url': env.cloud.auth_url,
        'username': 'octavia',
        'password': 'secret',
        'project_name': 'service',
        'user_domain_name': 'Default',
        'project_domain_name': 'Default',
    }
    for name, value in overrides.items():
        config.CONF.set_override(name, value, group=group)
    try:
        conn = openstack.connect()
        assert [g.id for g in conn.network.security_groups()]
    finally:
        for name in overrides:
            config.CONF.clear_override(name, group=group)
        # The password plugin's options (auth_url is required) must not
        # outlive this test: a later config.load() would demand them.
        common = {opt.dest for opt in ks_loading.get_auth_common_conf_options()}
        config.CONF.reset()  # oslo.config unregisters only unparsed options
        for opt in plugin_opts:
            if opt.dest not in common:
                config.CONF.unregister_opt(opt, group=group)


def test_a_vip_address_neutron_gave_to_another_port_is_permanent(env):
    env.cloud.neutron.create_port(
        {'network_id': NETWORK, 'fixed_ips': [{'ip_address': '10.9.0.10'}]}
    )
    balancer = lb()
    amp = amphora(env, env.compute(), balancer.id)
    with pytest.raises(base.PermanentError, match='VIP address taken'):
        env.network().plug_amphora(amp, balancer)
