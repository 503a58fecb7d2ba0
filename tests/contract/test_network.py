"""The NetworkDriver contract: NoopNetwork (fake), NetnsNetwork (real) and
NeutronNetwork (neutron, against the fake OpenStack API of tests/fakes/, whose
tenant network holds the same local subnets).

What the reconcile loop relies on (lbaas/controller/reconcile.py): after
build, plug_amphora() returns the Addressing recorded on the amphora row, with
the VIP as ha_ip, and gives the same answer when a retry plugs again (with or
without what the first answer recorded); unplug_amphora() of an amphora never
plugged does nothing; member_subnet_ids() names local subnets only and
plug_member_subnets() answers with addresses inside them, on every push;
release_vip() on LB delete does not fail.

The fake knows no local subnets: it finds none for any member address and
plugs none. `CAPS` says so; the assertions that hold for every driver are
written as subsets of the local subnets, the exact answers for the real one.
"""

import dataclasses
import ipaddress
import subprocess
import sys
import time
import uuid

import pytest

from lbaas.drivers import base, noop
from lbaas.drivers.netns import NetnsNetwork, layout
from lbaas.drivers.network.neutron import NeutronNetwork
from tests.contract.conftest import (
    LOCAL_SUBNETS,
    NETWORK_ID,
    V4_SUBNET,
    V6_SUBNET,
    Impl,
    assert_conforms,
    fake_lb,
    timed,
)
from tests.fakes.openstack_env import OpenStackEnv

LB = fake_lb('198.18.0.10', V4_SUBNET)
MEMBERS_V4, MEMBERS_V6 = '198.18.0.201', 'fd00:1b::201'
NOT_LOCAL = '203.0.113.7'
CAPS = {
    # Knows the local subnets: finds them for member addresses and plugs them.
    'fake': {'local_subnets': False, 'addresses_amphorae': False},
    'real': {'local_subnets': True, 'addresses_amphorae': True},
    # The VIP is an allowed address pair of both ACTIVE_STANDBY ports from plug on.
    'neutron': {'local_subnets': True, 'addresses_amphorae': True, 'vip_pairs_at_plug': True},
}


def neutron_impl(request):
    subnets = [(NETWORK_ID, s, str(c), str(c[1])) for s, c in LOCAL_SUBNETS.items()]
    env = OpenStackEnv(subnets, build_seconds=0)
    request.addfinalizer(env.close)
    compute = env.compute(anti_affinity=False)

    def new_amphora():
        amphora_id = str(uuid.uuid4())
        compute_id = compute.build(amphora_id, LB.id)
        return base.Amphora(id=amphora_id, lb_id=LB.id, status='BOOTING', compute_id=compute_id)

    def vip_is_held(amphora, lb):
        # Held: the VIP is an allowed address pair of the amphora's VRRP port.
        return any(
            p['name'] == 'octavia-lb-vrrp-' + amphora.id
            and lb.vips[0].address in {a['ip_address'] for a in p['allowed_address_pairs']}
            for p in env.cloud.neutron.ports.values()
        )

    extra = {'new_amphora': new_amphora, 'vip_is_held': vip_is_held}
    return Impl('neutron', env.network(), CAPS['neutron'], extra)


@pytest.fixture(scope='module', params=['fake', 'real', 'neutron'])
def impl(request):
    if request.param == 'neutron':
        return neutron_impl(request)
    if request.param == 'fake':

        def new_amphora():
            amphora_id = str(uuid.uuid4())
            compute_id = noop.NoopCompute().compute_id_for(amphora_id)
            return base.Amphora(id=amphora_id, lb_id=LB.id, status='BOOTING', compute_id=compute_id)

        return Impl('fake', noop.NoopNetwork(), CAPS['fake'], {'new_amphora': new_amphora})
    env = request.getfixturevalue('real_env')

    def new_amphora():
        # As `_build` hands it over: built, compute id set, nothing recorded yet.
        amphora_id = str(uuid.uuid4())
        compute_id = env.build(amphora_id, LB.id)
        return base.Amphora(id=amphora_id, lb_id=LB.id, status='BOOTING', compute_id=compute_id)

    return Impl('real', env.network, CAPS['real'], {'new_amphora': new_amphora})


@pytest.fixture(scope='module')
def amphora(impl):
    """One built amphora per module and driver (real_env deletes it)."""
    return impl.new_amphora()


def plug(impl, amphora, lb):
    started = time.monotonic()
    addressing = impl.driver.plug_amphora(amphora, lb)
    if impl.name == 'real':
        timed('plug_amphora', started)
    return addressing


def recorded(amphora, addressing):
    """The amphora as the database has it after `_build` recorded `addressing`."""
    return dataclasses.replace(
        amphora,
        lb_network_ip=addressing.lb_network_ip,
        vrrp_ip=addressing.vrrp_ip,
        vrrp_port_id=addressing.vrrp_port_id,
    )


def check_addressing(impl, addressing, lb):
    vip = lb.vips[0]
    assert isinstance(addressing, base.Addressing)
    assert addressing.ha_ip == vip.address
    assert addressing.ha_port_id == vip.port_id
    assert addressing.vrrp_port_id  # recorded; a later plug passes it back
    if impl.caps['addresses_amphorae']:
        # The amphora driver reaches the agent at lb_network_ip.
        ipaddress.ip_address(addressing.lb_network_ip)
        assert ipaddress.ip_address(addressing.vrrp_ip) in LOCAL_SUBNETS[vip.subnet_id]
        assert addressing.vrrp_ip != vip.address
        assert addressing.vrrp_interface


# -- the contract ---------------------------------------------------------------------


@pytest.mark.parametrize(
    'cls', [noop.NoopNetwork, NetnsNetwork, NeutronNetwork], ids=['fake', 'real', 'neutron']
)
def test_conforms_to_the_protocol(cls):
    assert_conforms(cls, base.NetworkDriver)


def test_plug_amphora_returns_the_vip_as_ha_ip(impl, amphora):
    check_addressing(impl, plug(impl, amphora, LB), LB)


def test_plug_amphora_with_an_ipv6_vip(impl):
    lb = fake_lb('fd00:1b::10', V6_SUBNET)
    check_addressing(impl, plug(impl, impl.new_amphora(), lb), lb)


def test_plug_amphora_is_idempotent(request, impl, amphora):
    # A retry after a crash between plug and the row update: same value again.
    assert plug(impl, amphora, LB) == plug(impl, amphora, LB)


def test_plug_amphora_again_with_the_recorded_addressing(impl, amphora):
    first = plug(impl, amphora, LB)
    assert plug(impl, recorded(amphora, first), LB) == first


def test_unplug_of_a_never_plugged_amphora_does_not_raise(impl):
    never = base.Amphora(id=str(uuid.uuid4()), lb_id=LB.id)
    impl.driver.unplug_amphora(never)
    impl.driver.unplug_amphora(never)


def test_unplug_twice_does_not_raise(impl, amphora):
    plug(impl, amphora, LB)
    impl.driver.unplug_amphora(amphora)
    impl.driver.unplug_amphora(amphora)
    check_addressing(impl, plug(impl, amphora, LB), LB)  # and it can be plugged again


@pytest.mark.parametrize(
    'addresses, local',
    [
        ({MEMBERS_V4}, {V4_SUBNET}),
        ({MEMBERS_V4, MEMBERS_V6, NOT_LOCAL}, {V4_SUBNET, V6_SUBNET}),
        ({NOT_LOCAL}, set()),
        (set(), set()),
    ],
    ids=['v4', 'dual-stack-and-remote', 'remote-only', 'none'],
)
def test_member_subnet_ids_are_local_subnets(impl, addresses, local):
    found = impl.driver.member_subnet_ids(frozenset(addresses))
    assert isinstance(found, list)
    assert len(set(found)) == len(found)  # each subnet once
    assert set(found) <= set(LOCAL_SUBNETS)
    if impl.caps['local_subnets']:
        assert set(found) == local
    else:
        assert found == []


@pytest.mark.parametrize(
    'subnet_ids', [[V4_SUBNET], [V4_SUBNET, V6_SUBNET], []], ids=['v4', 'dual-stack', 'none']
)
def test_plug_member_subnets_gives_addresses_inside_them(impl, amphora, subnet_ids):
    plug(impl, amphora, LB)  # as in reconcile: plugged at build, members at push
    started = time.monotonic()
    plugged = impl.driver.plug_member_subnets(amphora, subnet_ids)
    if impl.name == 'real':
        timed('plug_member_subnets', started)
    assert isinstance(plugged, dict)
    assert set(plugged) <= set(subnet_ids)
    for subnet_id, address in plugged.items():
        assert ipaddress.ip_address(address) in LOCAL_SUBNETS[subnet_id]
        assert address not in {v.address for v in LB.vips}  # never the VIP as a source
    if impl.caps['local_subnets']:
        assert set(plugged) == set(subnet_ids)
    else:
        assert plugged == {}
    # Every push plugs again: nothing changes.
    assert impl.driver.plug_member_subnets(amphora, subnet_ids) == plugged


def vip_is_held(impl, amphora, lb):
    """Whether the amphora holds the LB's main VIP now."""
    if 'vip_is_held' in impl.extra:
        return impl.vip_is_held(amphora, lb)
    if impl.name == 'fake':
        return impl.driver.vip_holder.get(lb.id) == amphora.id
    shown = subprocess.run(
        ['ip', '-n', layout.namespace_for(amphora.id), '-o', 'addr', 'show'],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return ' %s/' % lb.vips[0].address in shown


def test_hold_vips_moves_the_vip_only_when_asked(impl):
    # Build before remove: a replacement is plugged and configured while the
    # amphora it replaces still serves the VIP; then it takes the VIP over.
    lb = fake_lb('198.18.0.12', V4_SUBNET)
    amphora = impl.new_amphora()
    plug(impl, amphora, lb)
    assert not vip_is_held(impl, amphora, lb)
    impl.driver.hold_vips(amphora, lb)
    impl.driver.hold_vips(amphora, lb)  # idempotent
    assert vip_is_held(impl, amphora, lb)
    impl.driver.unplug_amphora(amphora)
    assert not vip_is_held(impl, amphora, lb)


def test_hold_vips_completes_a_hold_that_was_cut_short(impl, monkeypatch):
    # A worker killed while adding the address: its retry must still put
    # the VIP on the amphora.
    if impl.name != 'real':
        reason = '%s: only the netns driver adds the address itself' % impl.name
        print(reason, file=sys.stderr)
        pytest.skip(reason)
    lb = fake_lb('198.18.0.14', V4_SUBNET)
    amphora = impl.new_amphora()
    plug(impl, amphora, lb)
    with monkeypatch.context() as patch:
        patch.setattr(impl.driver.fabric, 'attach', _killed)
        with pytest.raises(KeyboardInterrupt):
            impl.driver.hold_vips(amphora, lb)
    impl.driver.hold_vips(amphora, lb)
    assert vip_is_held(impl, amphora, lb)


def _killed(*args, **kwargs):
    raise KeyboardInterrupt('killed while adding the address')


def test_hold_vips_under_active_standby_leaves_them_to_keepalived(impl):
    if impl.caps.get('vip_pairs_at_plug'):
        reason = (
            'neutron: both ACTIVE_STANDBY ports get the VIP as an allowed address pair '
            'at plug (keepalived moves it); Neutron shows permission, not which one holds it'
        )
        print(reason, file=sys.stderr)
        pytest.skip(reason)
    lb = fake_lb('198.18.0.13', V4_SUBNET, topology='ACTIVE_STANDBY')
    amphora = impl.new_amphora()
    plug(impl, amphora, lb)
    impl.driver.hold_vips(amphora, lb)
    assert not vip_is_held(impl, amphora, lb)


def test_release_vip_does_not_raise(impl):
    lb = fake_lb('198.18.0.11', V4_SUBNET)
    impl.driver.release_vip(lb)
    impl.driver.release_vip(lb)


# -- the fake's fault injection ------------------------------------------------------------


@pytest.mark.parametrize(
    'method, call',
    [
        ('plug_amphora', lambda d, a: d.plug_amphora(a, LB)),
        ('plug_member_subnets', lambda d, a: d.plug_member_subnets(a, [V4_SUBNET])),
    ],
    ids=['plug_amphora', 'plug_member_subnets'],
)
def test_fake_raises_a_planned_fault(method, call):
    driver = noop.NoopNetwork()
    amphora = base.Amphora(id=str(uuid.uuid4()), lb_id=LB.id)
    error = base.TransientError('port binding failed', delay=0.5)
    driver.faults.planned[method] = error
    with pytest.raises(base.TransientError) as raised:
        call(driver, amphora)
    assert raised.value is error
    assert driver.plugged == {}  # nothing recorded
    del driver.faults.planned[method]
    call(driver, amphora)
