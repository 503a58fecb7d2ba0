"""The Active/Active distributor without namespaces: slot assignment, names,
the nftables ruleset (golden files, each checked by `nft -c`), the record.

`UPDATE_GOLDEN=1 pytest tests/unit/drivers/test_distributor.py` rewrites the
golden files; review the diff. The `nft -c` check runs in a throw-away
namespace of its own (with a veth named like the distributor's interface:
a netdev hook needs its device) and is skipped, with the reason, without
root, `ip` or `nft`.
"""

import collections
import ipaddress
import json
import os
import re
import shutil
import subprocess
import uuid
from pathlib import Path

import pytest

from lbaas import config
from lbaas.drivers.base import PermanentError
from lbaas.drivers.netns import distributor, layout
from lbaas.drivers.netns.distributor import (
    SLOTS,
    Distributor,
    DistributorRecord,
    assign_slots,
)
from lbaas.drivers.netns.fabric import Fabric
from tests.unit.dataplane import goldens

GOLDEN_DIR = Path(__file__).parent / 'golden'
ID_SPACE = uuid.UUID('6a1d2c3e-5b4f-4e6a-8c0d-7e1f2a3b4c5d')
LB_ID = '3c9a7b1e-2d4f-4e6a-8b0c-1a2b3c4d5e6f'
NETWORK_ID = '5fd5b4c2-8bd1-4b1c-9a67-6b1f7d0c0a01'
OTHER_NETWORK = '7e0a1b2c-3d4e-4f5a-8b6c-7d8e9f0a1b2c'
A1 = 'a1a1a1a1-0000-4000-8000-000000000001'
A2 = 'b2b2b2b2-0000-4000-8000-000000000002'
INTERFACE = layout.tenant_ifname(NETWORK_ID)
SUBNET4 = config.LocalSubnet(
    'id=%s,subnet_id=v4-subnet,cidr=198.18.0.0/24,gateway=198.18.0.1' % NETWORK_ID
)
SUBNET6 = config.LocalSubnet(
    'id=%s,subnet_id=v6-subnet,cidr=fd00:1b::/64,gateway=fd00:1b::1' % NETWORK_ID
)
ELSEWHERE = config.LocalSubnet(
    'id=%s,subnet_id=other-subnet,cidr=198.18.1.0/24,gateway=198.18.1.1' % OTHER_NETWORK
)
VIP4 = ipaddress.ip_address('198.18.0.100')
VIP6 = ipaddress.ip_address('fd00:1b::100')
TARGETS = [
    (A1, {'v4-subnet': '198.18.0.11', 'v6-subnet': 'fd00:1b::11'}),
    (A2, {'v4-subnet': '198.18.0.12', 'v6-subnet': 'fd00:1b::12'}),
]


def amphora_ids(set_number, count):
    return [str(uuid.uuid5(ID_SPACE, 'set%d/amphora%d' % (set_number, i))) for i in range(count)]


ID_SETS = [amphora_ids(n, 4) for n in range(6)]


# -- slots -------------------------------------------------------------------------


def test_assign_slots_is_deterministic_and_order_free():
    ids = ID_SETS[0][:3]
    assert assign_slots(ids) == assign_slots(list(reversed(ids))) == assign_slots(ids)
    assert len(assign_slots(ids)) == SLOTS
    assert set(assign_slots(ids)) == set(ids)


def test_assign_slots_edge_cases():
    assert assign_slots([]) == ()
    assert assign_slots([A1]) == (A1,) * SLOTS
    assert len(assign_slots([A1, A2], slots=8)) == 8


@pytest.mark.parametrize('count', [2, 3, 4])
@pytest.mark.parametrize('ids', ID_SETS)
def test_assign_slots_is_balanced_within_reason(ids, count):
    shares = collections.Counter(assign_slots(ids[:count]))
    assert set(shares) == set(ids[:count])
    assert min(shares.values()) >= SLOTS // (2 * count)


@pytest.mark.parametrize('ids', ID_SETS)
def test_removing_an_amphora_moves_only_its_slots(ids):
    before = assign_slots(ids[:3])
    for gone in ids[:3]:
        after = assign_slots([a for a in ids[:3] if a != gone])
        for slot, owner in enumerate(before):
            if owner != gone:
                assert after[slot] == owner
        assert gone not in after


@pytest.mark.parametrize('ids', ID_SETS)
def test_adding_an_amphora_takes_about_a_share_and_moves_nothing_else(ids):
    before, after = assign_slots(ids[:3]), assign_slots(ids[:4])
    moved = [slot for slot in range(SLOTS) if before[slot] != after[slot]]
    assert all(after[slot] == ids[3] for slot in moved)
    assert SLOTS // 8 <= len(moved) <= SLOTS // 2  # about 1/4 of 64


def test_keys_are_kept_and_a_newcomer_takes_the_lowest_free_one():
    a, b, c, d, e = sorted(ID_SETS[0][:4] + ID_SETS[1][:1])
    keys = distributor.assign_keys({}, [c, a, b])  # new ones in id order
    assert keys == {a: 0, b: 1, c: 2}
    assert distributor.assign_keys(keys, [a, c]) == {a: 0, c: 2}
    assert distributor.assign_keys({a: 0, c: 2}, [a, c, d]) == {a: 0, c: 2, d: 1}
    assert distributor.assign_keys({a: 0, c: 2, d: 1}, [a, c, d, e]) == {
        a: 0, c: 2, d: 1, e: 3}


@pytest.mark.parametrize('count', range(1, 9))
def test_the_slots_of_present_keys_are_balanced_to_one_slot(count):
    shares = collections.Counter(distributor.slot_owners({'a%d' % k: k for k in range(count)}))
    assert len(shares) == count and max(shares.values()) - min(shares.values()) <= 1


@pytest.mark.parametrize('count', range(2, 9))
def test_a_key_that_leaves_moves_only_its_slots_and_an_added_key_takes_only_its_share(count):
    keys = {'a%d' % k: k for k in range(count)}
    before = distributor.slot_owners(keys)
    for gone in keys:
        after = distributor.slot_owners({a: k for a, k in keys.items() if a != gone})
        assert all(after[s] == owner for s, owner in enumerate(before) if owner != gone)
    grown = distributor.slot_owners(dict(keys, new=count))
    moved = [s for s in range(SLOTS) if grown[s] != before[s]]
    assert all(grown[s] == 'new' for s in moved) and len(moved) == SLOTS // (count + 1)


@pytest.mark.parametrize('ids', ID_SETS)
def test_a_replacement_takes_exactly_the_slots_of_the_amphora_it_replaces(ids):
    first, second, third, replacement = ids
    keys = distributor.assign_keys({}, [first, second, third])
    before = distributor.slot_owners(keys)
    keys = distributor.assign_keys(keys, [first, third])  # `second` failed: it leaves
    keys = distributor.assign_keys(keys, [first, third, replacement])  # its replacement joins
    after = distributor.slot_owners(keys)
    assert after == tuple(replacement if owner == second else owner for owner in before)


# -- names ---------------------------------------------------------------------------


def test_names_fit_and_never_look_like_an_amphora_port():
    assert distributor.namespace_for(LB_ID) == 'lbd-3c9a7b1e'
    port = distributor.port_name(LB_ID)
    assert port == 'lbd3c9a7b1e' and len(port) <= 15
    assert not re.fullmatch(r'[0-9a-f]{8}-.*', port)
    assert not port.startswith(layout.short_id(LB_ID) + '-')
    assert distributor.namespace_for(LB_ID) != layout.namespace_for(LB_ID)


def test_mac_is_fixed_local_unicast_and_its_own():
    mac = distributor.distributor_mac(LB_ID)
    assert re.fullmatch(r'02(:[0-9a-f]{2}){5}', mac)
    assert mac == distributor.distributor_mac(LB_ID)
    assert mac != distributor.distributor_mac(A1)
    assert mac != layout.interface_mac(LB_ID, NETWORK_ID)


# -- the ruleset -------------------------------------------------------------------------

KEYS = {A1: 0, A2: 1}
CASES = {
    'distributor_dual_stack': lambda: distributor.vip_rules(
        [(SUBNET4, VIP4), (SUBNET6, VIP6)], TARGETS, INTERFACE, KEYS
    ),
    'distributor_no_targets': lambda: distributor.vip_rules(
        [(SUBNET4, VIP4), (SUBNET6, VIP6)], [], INTERFACE, {}
    ),
}


@pytest.mark.parametrize('name', sorted(CASES))
def test_renders_golden(name):
    text = distributor.render_ruleset(LB_ID, INTERFACE, CASES[name]())
    goldens.check(GOLDEN_DIR / ('%s.nft' % name), text)


def test_every_golden_file_has_a_case():
    assert {p.stem for p in GOLDEN_DIR.glob('distributor_*.nft')} == set(CASES)


def test_rules_use_each_vips_subnet_and_one_assignment():
    v4, v6 = distributor.vip_rules([(SUBNET4, VIP4), (SUBNET6, VIP6)], TARGETS, INTERFACE, KEYS)
    assert (v4.family, v4.address, v6.family, v6.address) == ('ip', str(VIP4), 'ip6', str(VIP6))
    owners = distributor.slot_owners(KEYS)
    by_owner4 = {A1: '198.18.0.11', A2: '198.18.0.12'}
    by_owner6 = {A1: 'fd00:1b::11', A2: 'fd00:1b::12'}
    assert v4.slots == tuple((s, by_owner4[o]) for s, o in enumerate(owners))
    assert v6.slots == tuple((s, by_owner6[o]) for s, o in enumerate(owners))


def test_an_amphora_without_an_address_on_a_subnet_is_left_out_of_its_vip():
    targets = [TARGETS[0], (A2, {'v4-subnet': '198.18.0.12'})]
    v4, v6 = distributor.vip_rules([(SUBNET4, VIP4), (SUBNET6, VIP6)], targets, INTERFACE, KEYS)
    assert {a for _, a in v6.slots} == {'fd00:1b::11'}
    assert {a for _, a in v4.slots} == {'198.18.0.11', '198.18.0.12'}
    for (_, four), (_, six) in zip(v4.slots, v6.slots, strict=True):
        if four == '198.18.0.11':  # A1's slots stay A1's
            assert six == 'fd00:1b::11'


def test_seed_is_fixed_per_load_balancer():
    text = distributor.render_ruleset(LB_ID, INTERFACE, CASES['distributor_dual_stack']())
    assert 'seed %s map' % distributor.hash_seed(LB_ID) in text
    assert distributor.hash_seed(LB_ID) != distributor.hash_seed(A1)


@pytest.fixture(scope='module')
def scratch_netns():
    reasons = [
        why
        for ok, why in (
            (os.geteuid() == 0, 'needs root'),
            (shutil.which('ip') is not None, 'needs iproute2'),
            (shutil.which('nft') is not None, 'needs nft (apt-get install nftables)'),
        )
        if not ok
    ]
    if reasons:
        print('skipping nft checks: %s' % ', '.join(reasons))
        pytest.skip(', '.join(reasons))
    name = 'lbaas-distut-%d-%s' % (os.getpid(), uuid.uuid4().hex[:6])
    subprocess.run(['ip', 'netns', 'add', name], check=True)
    try:
        subprocess.run(
            ['ip', '-n', name, 'link', 'add', INTERFACE, 'type', 'veth', 'peer', 'name', 'peer0'],
            check=True,
        )
        yield name
    finally:
        subprocess.run(['ip', 'netns', 'delete', name], check=False)


@pytest.mark.parametrize('name', sorted(CASES))
def test_golden_rulesets_pass_nft_check(scratch_netns, name):
    result = subprocess.run(
        [
            'ip',
            'netns',
            'exec',
            scratch_netns,
            'nft',
            '-c',
            '-f',
            str(GOLDEN_DIR / (name + '.nft')),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr


# -- the record --------------------------------------------------------------------------


def test_record_round_trip(tmp_path):
    record = DistributorRecord(
        LB_ID, 'lbd-3c9a7b1e', NETWORK_ID, {'v4-subnet': '198.18.0.254', 'v6-subnet': 'fd00:1b::fe'}
    )
    assert distributor.load_record(str(tmp_path), LB_ID) is None
    distributor.save_record(str(tmp_path), record)
    path = tmp_path / 'distributors' / ('%s.json' % LB_ID)
    assert json.loads(path.read_text())['network_id'] == NETWORK_ID
    assert distributor.load_record(str(tmp_path), LB_ID) == record
    assert [p.name for p in path.parent.iterdir()] == [path.name]  # no temporary left
    distributor.remove_record(str(tmp_path), LB_ID)
    distributor.remove_record(str(tmp_path), LB_ID)  # gone already: fine
    assert distributor.load_record(str(tmp_path), LB_ID) is None


def test_addresses_in_use(tmp_path):
    assert distributor.addresses_in_use(str(tmp_path)) == set()
    distributor.save_record(
        str(tmp_path), DistributorRecord(LB_ID, 'lbd-3c9a7b1e', NETWORK_ID, {'a': '198.18.0.254'})
    )
    distributor.save_record(
        str(tmp_path),
        DistributorRecord(
            A1, 'lbd-a1a1a1a1', NETWORK_ID, {'a': '198.18.0.253', 'b': 'fd00:1b::fe'}
        ),
    )
    assert distributor.addresses_in_use(str(tmp_path)) == {
        ipaddress.ip_address('198.18.0.254'),
        ipaddress.ip_address('198.18.0.253'),
        ipaddress.ip_address('fd00:1b::fe'),
    }


# -- allocation (no namespaces touched) ----------------------------------------------------


@pytest.fixture
def driver(tmp_path):
    fabric = Fabric(name='unused-fabric', subnets=[SUBNET4, SUBNET6, ELSEWHERE], vxlan=None)
    return Distributor(fabric, str(tmp_path))


def test_own_addresses_avoid_everything_taken_and_are_kept(driver, tmp_path):
    taken = {ipaddress.ip_address('198.18.0.254')}
    targets = [(A1, {'v4-subnet': '198.18.0.253', 'v6-subnet': 'fd00:1b::ffff:ffff:ffff:fffe'})]
    distributor.save_record(
        str(tmp_path),
        DistributorRecord(A2, 'lbd-b2b2b2b2', NETWORK_ID, {'v4-subnet': '198.18.0.252'}),
    )
    vips = [(SUBNET4, VIP4), (SUBNET6, VIP6)]
    record = driver._allocate(LB_ID, NETWORK_ID, vips, targets, taken)
    assert record.addresses == {
        'v4-subnet': '198.18.0.251',
        'v6-subnet': 'fd00:1b::ffff:ffff:ffff:fffd',
    }
    assert distributor.load_record(str(tmp_path), LB_ID) == record
    # Kept on the next call, even with other addresses taken meanwhile.
    again = driver._allocate(
        LB_ID, NETWORK_ID, vips, [], taken | {ipaddress.ip_address('198.18.0.251')}
    )
    assert again.addresses == record.addresses


def test_vips_on_two_networks_are_refused(driver):
    with pytest.raises(PermanentError, match='one network'):
        driver.ensure(
            LB_ID, [(SUBNET4, VIP4), (ELSEWHERE, ipaddress.ip_address('198.18.1.5'))], [], set()
        )
    with pytest.raises(PermanentError):
        driver.ensure(LB_ID, [], [], set())


def test_a_namespace_taken_by_another_load_balancer_is_refused(driver, tmp_path):
    twin = LB_ID[:8] + '-ffff-4fff-8fff-ffffffffffff'
    distributor.save_record(str(tmp_path), DistributorRecord(twin, 'lbd-3c9a7b1e', NETWORK_ID, {}))
    with pytest.raises(PermanentError, match='taken'):
        driver._allocate(LB_ID, NETWORK_ID, [(SUBNET4, VIP4)], [], set())
