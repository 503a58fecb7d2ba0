"""`[networking] vxlan_*`: checked at start, and the VNIs hosts agree on."""

import ipaddress
import subprocess
import sys

import pytest

from lbaas import config
from lbaas.drivers.base import PermanentError
from lbaas.drivers.netns import layout
from lbaas.drivers.netns import vxlan as vxlan_ports
from lbaas.drivers.netns.fabric import Fabric
from lbaas.drivers.netns.vxlan import VNI_MAX, Vxlan

GOOD = {
    'vxlan_local_ip': '198.19.253.1',
    'vxlan_peers': ['198.19.253.2', '198.19.253.3'],
    'vxlan_underlay_link': 'underlay0',
}
NETWORK_A = '5fd5b4c2-8bd1-4b1c-9a67-6b1f7d0c0a01'
NETWORK_B = '7a41e0d3-0c55-4e8e-b0a4-3c2d1e0f9a02'


def _subnets(*network_ids):
    return [
        config.LocalSubnet('id=%s,subnet_id=s%d,cidr=198.18.%d.0/24' % (network_id, n, n))
        for n, network_id in enumerate(network_ids)
    ]


@pytest.fixture
def override():
    """set_override for [networking], all cleared afterwards."""
    names = []

    def setter(**values):
        for name, value in values.items():
            config.CONF.set_override(name, value, 'networking')
            names.append(name)

    yield setter
    for name in names:
        config.CONF.clear_override(name, 'networking')


BAD = [
    ({'vxlan_local_ip': 'not-an-ip'}, '[networking] vxlan_local_ip: '),
    ({'vxlan_local_ip': '10.0.0.1'}, '[networking] vxlan_local_ip: 10.0.0.1 is not an IPv4'),
    ({'vxlan_local_ip': '198.18.0.1'}, '[networking] vxlan_local_ip: 198.18.0.1 is not'),
    ({'vxlan_local_ip': 'fd00:1b::1'}, '[networking] vxlan_local_ip: fd00:1b::1 is not an IPv4'),
    ({'vxlan_peers': ['198.19.253.2', 'peer-b']}, "[networking] vxlan_peers: 'peer-b'"),
    ({'vxlan_peers': ['192.168.1.2']}, '[networking] vxlan_peers: 192.168.1.2 is not'),
    ({'vxlan_peers': ['198.19.253.1']}, '[networking] vxlan_peers: 198.19.253.1 is vxlan_local'),
    ({'vxlan_underlay_link': None}, '[networking] vxlan_underlay_link'),
    ({'vxlan_underlay_link': 'a-much-too-long-link'}, '[networking] vxlan_underlay_link'),
    ({'vxlan_underlay_link': 'eth0:1'}, '[networking] vxlan_underlay_link'),
    ({'vxlan_local_ip': None}, '[networking] vxlan_local_ip: unset, yet vxlan_peers'),
    ({'amphora_address_block': '3/3'}, '[networking] amphora_address_block'),
    ({'amphora_address_block': 'half'}, '[networking] amphora_address_block'),
]


@pytest.mark.parametrize('values, named', BAD)
def test_each_bad_value_is_refused_by_name(override, values, named):
    override(**{**GOOD, **values})
    with pytest.raises(config.ConfigError) as caught:
        config.validate()
    assert named in str(caught.value)


def test_good_values_pass_and_make_the_fabric_settings(override):
    override(**{**GOOD, 'vxlan_peers': ['198.19.253.2', '198.19.253.3', '198.19.253.2']})
    config.validate()
    vxlan = Vxlan.from_config()
    assert vxlan == Vxlan(
        local_ip=ipaddress.IPv4Address('198.19.253.1'),
        underlay_link='underlay0',
        peers=(ipaddress.IPv4Address('198.19.253.2'), ipaddress.IPv4Address('198.19.253.3')),
        port=4789,
        vni_base=0x100000,
    )


def test_no_vxlan_by_default():
    config.validate()
    assert Vxlan.from_config() is None
    assert Fabric(subnets=_subnets(NETWORK_A)).vxlan is None


@pytest.mark.parametrize('text, named', [
    ('vxlan_vni_base = 0\n', '[networking] vxlan_vni_base'),
    ('vxlan_port = 70000\n', '[networking] vxlan_port'),
    ('vxlan_local_ip = 198.19.253.1\nvxlan_underlay_link = eth 0\n',
     '[networking] vxlan_underlay_link'),
], ids=['vni-base', 'port', 'underlay-link'])
def test_a_service_does_not_start_on_a_bad_vxlan_setting(tmp_path, text, named):
    conf = tmp_path / 'lbaas.conf'
    conf.write_text('[networking]\n' + text)
    done = subprocess.run(
        [sys.executable, '-m', 'lbaas.cli', 'serve', '--noop', '--config-file', str(conf),
         '--state-dir', str(tmp_path / 'state')],
        capture_output=True, text=True, timeout=60)
    assert done.returncode != 0
    assert named in done.stderr
    assert not (tmp_path / 'state' / 'lbaas.sqlite').exists()  # nothing was started


# -- VNIs ----------------------------------------------------------------------------


def _vxlan(vni_base=0x100000):
    return Vxlan(local_ip=ipaddress.IPv4Address('198.19.253.1'), underlay_link='underlay0',
                 vni_base=vni_base)


def test_a_networks_vni_depends_on_its_id_alone():
    vxlan = _vxlan()
    one = Fabric(subnets=_subnets(NETWORK_A, NETWORK_B), vxlan=vxlan)
    other = Fabric(subnets=_subnets(NETWORK_B, 'c0ffee00-0000-4000-8000-000000000003',
                                    NETWORK_A), vxlan=_vxlan())
    for network_id in (NETWORK_A, NETWORK_B):
        assert one.vxlan.vni(network_id) == other.vxlan.vni(network_id)
    assert vxlan.vni(NETWORK_A) != vxlan.vni(NETWORK_B)
    assert vxlan_ports.port_name(NETWORK_A) == 'vx-5fd5b4'


@pytest.mark.parametrize('base', [1, 0x100000, 0xF00000])
def test_vnis_lie_between_the_base_and_the_largest(base):
    vxlan = _vxlan(base)
    for n in range(200):
        assert base <= vxlan.vni('network-%d' % n) <= VNI_MAX


def test_two_networks_on_one_vni_are_refused():
    # One VNI left above the base: any two networks share it.
    with pytest.raises(PermanentError, match='vxlan_vni_base'):
        Fabric(subnets=_subnets(NETWORK_A, NETWORK_B), vxlan=_vxlan(VNI_MAX))


def test_a_vni_base_out_of_range_is_refused():
    with pytest.raises(PermanentError):
        _vxlan(VNI_MAX + 1)


def test_hosts_with_their_own_address_blocks_never_pick_the_same_address():
    """Three hosts on one /24, each allocating 40 amphora addresses with no
    view of the others: no address twice, none the gateway, all from the top."""
    (subnet,) = _subnets(NETWORK_A)
    picked = []
    for k in range(3):
        mine = set()
        for _ in range(40):
            mine.add(layout.pick_from_top(subnet, mine, (k, 3)))
        picked += mine
    assert len(set(picked)) == 120
    assert min(picked) > ipaddress.ip_address('198.18.0.100')
    assert max(picked) == ipaddress.ip_address('198.18.0.254')
