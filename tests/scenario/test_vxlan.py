"""A local network spanning two hosts over VXLAN, simulated on this machine.

Two fabrics (`vxa<pid>`, `vxb<pid>`) stand for two hosts: each has its own
host link and management /24 and the SAME local network (198.18.0.0/24,
fd00:1b::/64). The underlay is one veth pair between the two fabric
namespaces, 198.19.253.1/30 <-> .2 (inside the management plan, outside the
/24s the scenario services take, and in no namespace but the two fabrics:
nothing here has a default route or reaches beyond this machine). Its MTU is
1550, so that the local network keeps 1500 across hosts (see fabric.py).

Test hosts: member-a on host A (198.18.0.101), member-b and client-b on
host B (198.18.0.102, 198.18.0.150), with their IPv6 twins. The fixture's
finalizer removes every namespace made here, also when a test fails, and
checks that none is left.
"""

import dataclasses
import http.client
import ipaddress
import os
import time

import pytest
from pyroute2.netlink.exceptions import NetlinkError

from lbaas import config, testhosts
from lbaas.drivers.base import TransientError
from lbaas.drivers.netns import Fabric, announce, netlink
from lbaas.drivers.netns import vxlan as vxlan_ports
from lbaas.drivers.netns.vxlan import FLOOD_MAC, TENANT_MTU, VXLAN_OVERHEAD, Vxlan
from tests.scenario.conftest import _free_management_network, why_not_runnable
from tests.skips import skip_if

NETWORK_ID = '5fd5b4c2-8bd1-4b1c-9a67-6b1f7d0c0a01'
SUBNET_SPECS = [
    'id=%s,subnet_id=9c3e0f7e-3f0b-4d8e-8d5b-2b6f9a4c1d01,cidr=198.18.0.0/24,'
    'gateway=198.18.0.1' % NETWORK_ID,
    'id=%s,subnet_id=9c3e0f7e-3f0b-4d8e-8d5b-2b6f9a4c1d02,cidr=fd00:1b::/64,'
    'gateway=fd00:1b::1' % NETWORK_ID,
]
TAG = str(os.getpid())
UNDERLAY = 'underlay0'
UNDERLAY_A, UNDERLAY_B = '198.19.253.1', '198.19.253.2'
UNDERLAY_PREFIX = 30
PORT = 8080
VIP = {4: '198.18.0.200', 6: 'fd00:1b::200'}
PREFIX = {4: 24, 6: 64}
MOVE_DEADLINE = 3.0  # a moved address answers at its new place well before this


def _url(address, path='/'):
    host = '[%s]' % address if ':' in address else address
    return 'http://%s:%d%s' % (host, PORT, path)


def why_no_vxlan():
    """None if this kernel makes VXLAN links, else why not."""
    probe = 'vxlan-probe-' + TAG
    try:
        netlink.create_namespace(probe)
        with netlink.rtnl(probe) as ipr:
            ipr.link('add', ifname='vxprobe', kind='vxlan', vxlan_id=1, vxlan_port=4789)
    except NetlinkError as exc:
        return 'this kernel makes no VXLAN links (vxlan module missing?): %s' % exc
    finally:
        netlink.remove_namespace(probe)
    return None


def _fabric(letter, local, peer):
    """A simulated host's fabric; its management /24 is free when made
    (call after the previous host's fabric is up)."""
    management = _free_management_network()
    return Fabric(
        name='vx%s%s' % (letter, TAG), host_link='vx%s%s-m' % (letter, TAG),
        management_cidr=str(management), controller_ip=str(management.network_address + 1),
        subnets=[config.LocalSubnet(spec) for spec in SUBNET_SPECS],
        vxlan=Vxlan(local_ip=ipaddress.IPv4Address(local), underlay_link=UNDERLAY,
                    peers=(ipaddress.IPv4Address(peer),)))


def _underlay(name_a, name_b):
    """The veth pair between the two fabric namespaces, addressed, MTU 1550."""
    netlink.ensure_veth(name_a, UNDERLAY, name_b, UNDERLAY)
    for namespace, address in ((name_a, UNDERLAY_A), (name_b, UNDERLAY_B)):
        with netlink.rtnl(namespace) as ipr:
            index = netlink.link_index(ipr, UNDERLAY)
            ipr.link('set', index=index, mtu=TENANT_MTU + VXLAN_OVERHEAD)
            netlink.ensure_addresses(ipr, UNDERLAY, [(address, UNDERLAY_PREFIX)])


@pytest.fixture(scope='module')
def hosts():
    skip_if(why_not_runnable() or why_no_vxlan(), 'VXLAN scenarios')
    made = {}
    try:
        names = ['vxa' + TAG, 'vxb' + TAG]
        for name in names:
            netlink.create_namespace(name)
        _underlay(*names)
        made['fabric_a'] = _fabric('a', UNDERLAY_A, UNDERLAY_B)
        made['fabric_a'].ensure()
        made['fabric_b'] = _fabric('b', UNDERLAY_B, UNDERLAY_A)
        made['fabric_b'].ensure()
        _add_host(made, 'member_a', 'fabric_a', 'member-vx%s-a' % TAG, '101')
        _add_host(made, 'member_b', 'fabric_b', 'member-vx%s-b' % TAG, '102')
        _add_host(made, 'client_b', 'fabric_b', 'client-vx%s-b' % TAG, '150')
        made['member_a'].start_backend(PORT)
        made['member_b'].start_backend(PORT)
        yield made
    finally:
        _tear_down(made)


def _add_host(made, key, fabric, name, last):
    made[key] = testhosts.TestHost(made[fabric], name, ['198.18.0.' + last, 'fd00:1b::' + last])


def _tear_down(made):
    for key in ('member_a', 'member_b', 'client_b'):
        if key in made:
            made[key].close()
    for key in ('fabric_a', 'fabric_b'):
        if key in made:
            made[key].destroy()
    for name in ('vxa' + TAG, 'vxb' + TAG):
        netlink.remove_namespace(name)  # also when a fabric was never made
    for letter in 'ab':
        with netlink.rtnl() as ipr:
            netlink.delete_link(ipr, 'vx%s%s-m' % (letter, TAG))
    mine = [n for n in netlink.namespace_names() if TAG in n and 'vx' in n]
    assert not mine, 'namespaces left behind: %s' % mine


# -- the fabric's part ---------------------------------------------------------


def _vxlan_state(fabric):
    """(link index, MTU, enslaved to the bridge, VNI, flood destinations) of
    its VXLAN link; learned entries come and go with traffic, so not them."""
    name = vxlan_ports.port_name(NETWORK_ID)
    with netlink.rtnl(fabric.name) as ipr:
        index = netlink.link_index(ipr, name)
        link = next(iter(ipr.link('get', index=index)))
        vni = link.get('IFLA_LINKINFO').get('IFLA_INFO_DATA').get('IFLA_VXLAN_ID')
        bridge = netlink.link_index(ipr, fabric.bridge_for(NETWORK_ID))
    flooded = sorted(dst for mac, dst in _fdb(fabric) if mac == FLOOD_MAC)
    return index, link.get('mtu'), link.get('IFLA_MASTER') == bridge, vni, flooded


def _fdb(fabric):
    """(MAC, remote address) of the fdb entries of its VXLAN link that have one."""
    with netlink.rtnl(fabric.name) as ipr:
        index = netlink.link_index(ipr, vxlan_ports.port_name(NETWORK_ID))
        return [(m.get('NDA_LLADDR'), m.get('NDA_DST')) for m in ipr.fdb('dump', ifindex=index)
                if m['ifindex'] == index and m.get('NDA_DST')]


def test_each_fabric_has_a_vxlan_port_on_the_network_bridge(hosts):
    fabric_a, fabric_b = hosts['fabric_a'], hosts['fabric_b']
    _, mtu, enslaved, vni, fdb = _vxlan_state(fabric_a)
    assert (mtu, enslaved) == (TENANT_MTU, True)
    assert vni == fabric_a.vxlan.vni(NETWORK_ID) == fabric_b.vxlan.vni(NETWORK_ID)
    assert fdb == [UNDERLAY_B]
    # One VXLAN link, for the local network: the management network stays
    # on its host.
    assert vxlan_ports.link_names_with_prefix(fabric_a.name, 'vx-') == [
        vxlan_ports.port_name(NETWORK_ID)]


def test_a_second_ensure_changes_nothing(hosts):
    before = _vxlan_state(hosts['fabric_a'])
    hosts['fabric_a'].ensure()
    assert _vxlan_state(hosts['fabric_a']) == before


def test_changed_peers_are_reconciled(hosts):
    """A peer dropped from the configuration loses its flood entry and the
    MACs learned behind it; a new one gets a flood entry."""
    fabric_b = hosts['fabric_b']
    member_a_mac = _mac(hosts['member_a'])
    hosts['client_b'].request(_url('198.18.0.101'))  # B learns member-a's MAC behind A
    assert (member_a_mac, UNDERLAY_A) in _fdb(fabric_b)
    other = ipaddress.IPv4Address('198.19.253.3')
    changed = _same_fabric(fabric_b, dataclasses.replace(fabric_b.vxlan, peers=(other,)))
    try:
        changed.ensure()
        assert _vxlan_state(fabric_b)[4] == [str(other)]
        # (member-a is idle: nothing of it crosses again meanwhile)
        assert (member_a_mac, UNDERLAY_A) not in _fdb(fabric_b)
    finally:
        fabric_b.ensure()
    assert _vxlan_state(fabric_b)[4] == [UNDERLAY_A]
    assert hosts['client_b'].request(_url('198.18.0.101')).status == 200


def _mac(host):
    with netlink.rtnl(host.namespace) as ipr:
        index = netlink.link_index(ipr, testhosts.INNER_IFNAME)
        return next(iter(ipr.link('get', index=index))).get('IFLA_ADDRESS')


@pytest.mark.parametrize('change, named', [
    ({'underlay_link': 'nosuchlink'}, 'nosuchlink is not in namespace'),
    ({'local_ip': ipaddress.IPv4Address('198.19.253.5')}, 'does not hold vxlan_local_ip'),
], ids=['no-link', 'no-address'])
def test_a_missing_underlay_is_named_and_breaks_nothing(hosts, change, named):
    fabric_a = hosts['fabric_a']
    before = _vxlan_state(fabric_a)
    wrong = _same_fabric(fabric_a, dataclasses.replace(fabric_a.vxlan, **change))
    with pytest.raises(TransientError, match='vxlan_underlay_link .*' + named):
        wrong.ensure()
    assert _vxlan_state(fabric_a) == before


def _same_fabric(fabric, vxlan):
    """`fabric` (same namespace, links, networks) with other VXLAN settings."""
    return Fabric(
        name=fabric.name, host_link=fabric.host_link,
        management_cidr=str(fabric.management), controller_ip=str(fabric.controller_ip),
        subnets=fabric.subnets, vxlan=vxlan)


# -- traffic across the hosts ----------------------------------------------------


@pytest.mark.parametrize('version', [4, 6])
def test_a_request_crosses_hosts(hosts, version):
    member_a, member_b = hosts['member_a'], hosts['member_b']
    address_a = member_a.addresses[0 if version == 4 else 1]
    reply = hosts['client_b'].request(_url(address_a))
    assert (reply.status, reply.body) == (200, member_a.name + '\n')
    # Full-size frames cross both ways (MTU 1500 end to end): a body of
    # many full segments from B to A, and from A to B.
    big = b'x' * 200_000
    reply = hosts['client_b'].request(_url(address_a), method='POST', body=big, timeout=10)
    assert reply.status == 200
    address_b = member_b.addresses[0 if version == 4 else 1]
    reply = member_a.request(_url(address_b), method='POST', body=big, timeout=10)
    assert (reply.status, reply.body) == (200, member_b.name + '\n')


@pytest.mark.parametrize('version', [4, 6])
def test_an_address_moved_to_another_host_is_reached_there(hosts, version):
    """A "VIP" on host A, then on host B (announced), then back on A: the
    client on B reaches it at each new place within a second or two."""
    vip, client = VIP[version], hosts['client_b']
    member_a, member_b = hosts['member_a'], hosts['member_b']
    try:
        _hold(member_a, vip)
        _wait_answer(client, vip, member_a.name)
        for old, new in ((member_a, member_b), (member_b, member_a)):
            _release(old, vip)
            _hold(new, vip)
            _wait_answer(client, vip, new.name)
    finally:
        _release(member_a, vip)
        _release(member_b, vip)


def _hold(host, address):
    prefixlen = PREFIX[ipaddress.ip_address(address).version]
    with netlink.rtnl(host.namespace) as ipr:
        added = netlink.ensure_addresses(ipr, testhosts.INNER_IFNAME, [(address, prefixlen)])
    announce.addresses(host.namespace, testhosts.INNER_IFNAME, added)


def _release(host, address):
    prefixlen = PREFIX[ipaddress.ip_address(address).version]
    with netlink.rtnl(host.namespace) as ipr:
        if vxlan_ports.has_address(ipr, testhosts.INNER_IFNAME, address):
            index = netlink.link_index(ipr, testhosts.INNER_IFNAME)
            ipr.addr('del', index=index, address=address, prefixlen=prefixlen)


def _wait_answer(client, address, name):
    """Until `address` answers with `name` (new connections, 0.5 s each)."""
    deadline = time.monotonic() + MOVE_DEADLINE
    last = None
    while time.monotonic() < deadline:
        try:
            last = client.request(_url(address), timeout=0.5).body
            if last == name + '\n':
                return
        except (OSError, http.client.HTTPException) as exc:
            last = exc
        time.sleep(0.05)
    pytest.fail('%s did not answer as %s within %.0f s; last: %r'
                % (address, name, MOVE_DEADLINE, last))
