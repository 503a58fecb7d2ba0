"""The Active/Active distributor: one namespace per load balancer that owns
its VIPs on the local network and spreads client flows over its amphorae.

Design. The distributor namespace `lbd-<8 hex of the lb id>` has one veth
onto the bridge of the load balancer's network (`eth-<6 hex>` inside,
`lbd<8 hex>` in the fabric, a MAC fixed from the lb id). It holds every VIP
as a host address (/32, /128), so it alone answers ARP and neighbour
solicitations for them. Its data path never reaches its IP stack: a netdev
ingress hook on that interface (`table netdev lbaas_dist`) matches TCP and
UDP for a VIP, hashes the client's address and source port (jhash, a fixed
seed) into one of `SLOTS` slots and `fwd`s the packet unchanged, out of the
same interface, to the amphora owning that slot. The amphorae hold the VIPs
on `lo` and answer the clients directly (direct server return), so nothing
is tracked here: the distributor is stateless, and a flow stays on its
amphora for as long as the slot does.

Slots belong to small integer keys, one per amphora (`assign_keys`): the
home table of K keys (`home_table`) is that of K - 1 keys with key K - 1
taking 64/K slots from the fullest ones, so it is balanced (shares differ
by one slot at most) and a key added moves only the slots it takes. The
slots of a key whose amphora is gone are lent, slot by slot, to one of the
present keys by rendezvous hashing (`assign_slots`). So an amphora that
leaves moves only its own slots and no slot ever moves between two amphorae
that stay; a newcomer takes the lowest free key, so the replacement of a
failed amphora gets back exactly the slots the failed one had (hashing
amphora ids, it would take 1/N of every amphora's slots, resetting their
connections), and an amphora added (N grew) takes only its share. The hash seed
is fixed too (from the lb id): without one, the kernel draws a random seed
each time the ruleset is loaded, and every update would move every flow.

The trap: the kernel picks the sender address of the ARP requests the
distributor sends to find an amphora's MAC from the addresses on the
interface. With only the VIPs there, that sender address is a VIP, which the
amphorae hold on `lo` and are told to ignore in ARP (arp_ignore=1) - they
drop the request, the neighbour entry fails and nothing is forwarded. So the
distributor has an address of its own on each VIP subnet, added before the
VIPs with the subnet's prefix (the primary address), and arp_announce=2
makes the kernel use it. Those addresses come from the top of the subnet
like the amphorae's, recorded in `<state_dir>/distributors/<lb id>.json`
so that the network driver counts them as taken (`addresses_in_use`).

Non-first IP fragments carry no ports: they hash differently from their
first fragment. Clients of a VIP are expected to use path MTU discovery.
"""

import collections
import dataclasses
import glob
import hashlib
import ipaddress
import itertools
import json
import os
import shutil
import subprocess
import zlib
from collections.abc import Iterable, Mapping, Sequence

import jinja2

from lbaas import config
from lbaas.drivers.base import PermanentError, TransientError
from lbaas.drivers.netns import layout, netlink
from lbaas.drivers.netns.fabric import Fabric
from lbaas.drivers.netns.layout import IPAddress, Subnet

SLOTS = 64
NAMESPACE_PREFIX = 'lbd-'
PORT_PREFIX = 'lbd'  # no '-': never taken for an amphora's `<8 hex>-...` port
RECORDS_DIR = 'distributors'
TABLE = 'netdev lbaas_dist'
TEMPLATE = 'distributor.nft.j2'
NFT_TIMEOUT = 30.0
FAMILY_WORD = {4: 'ip', 6: 'ip6'}
DISTRIBUTOR_SYSCTLS = {
    # ARP requests from our own address on the subnet, never from a VIP.
    'net/ipv4/conf/all/arp_announce': 2,
    'net/ipv4/conf/default/arp_announce': 2,
    # No router advertisement configures anything here, and the link-local
    # address (the source of neighbour solicitations) is usable at once.
    'net/ipv6/conf/all/accept_ra': 0,
    'net/ipv6/conf/default/accept_ra': 0,
    'net/ipv6/conf/all/autoconf': 0,
    'net/ipv6/conf/default/autoconf': 0,
    'net/ipv6/conf/all/accept_dad': 0,
    'net/ipv6/conf/default/accept_dad': 0,
    'net/ipv6/conf/all/keep_addr_on_down': 1,
    'net/ipv6/conf/default/keep_addr_on_down': 1,
}

Target = tuple[str, Mapping[str, str]]  # (amphora id, {subnet id: its address})


# -- names -----------------------------------------------------------------------


def namespace_for(lb_id: str) -> str:
    return NAMESPACE_PREFIX + layout.short_id(lb_id)


def port_name(lb_id: str) -> str:
    """The fabric end of the distributor's veth: `lbd<8 hex>`, 11 bytes."""
    return PORT_PREFIX + layout.short_id(lb_id)


def distributor_mac(lb_id: str) -> str:
    """A fixed, locally administered MAC for the distributor's interface,
    so that clients' cached entries for the VIPs survive a rebuild."""
    return layout.interface_mac('distributor', lb_id)


def hash_seed(lb_id: str) -> str:
    """The jhash seed: the same for every ruleset of one load balancer."""
    return '0x%08x' % zlib.crc32(lb_id.encode())


# -- slots -----------------------------------------------------------------------


def _weight(slot: int, amphora_id: str) -> bytes:
    return hashlib.sha256(('%d/%s' % (slot, amphora_id)).encode()).digest()


def assign_keys(previous: Mapping[str, int], amphora_ids: Iterable[str]) -> dict[str, int]:
    """Each amphora's hash key: the one it had, else the lowest free one."""
    wanted = sorted(set(amphora_ids))
    keys = {a: previous[a] for a in wanted if a in previous}
    used = set(keys.values())
    free = (key for key in itertools.count() if key not in used)
    for amphora_id in wanted:
        if amphora_id not in keys:
            keys[amphora_id] = next(free)
            used.add(keys[amphora_id])
    return keys


def home_table(key_count: int, slots: int = SLOTS) -> tuple[int, ...]:
    """The key of each slot when keys 0..key_count-1 are all present."""
    table = [0] * slots
    for new in range(1, key_count):
        held = collections.Counter(table)
        for _ in range(slots // (new + 1)):
            donor = max(held, key=lambda key: (held[key], -key))  # the fullest, lowest key
            slot = max(s for s, key in enumerate(table) if key == donor)
            table[slot] = new
            held[donor] -= 1
            held[new] += 1
    return tuple(table)


def slot_owners(keys: Mapping[str, int], slots: int = SLOTS) -> tuple[str, ...]:
    """For each slot, the amphora (of `keys`: amphora id -> key) owning it:
    its home key's, or, that key's amphora gone, a present key's by rendezvous."""
    if not keys:
        return ()
    by_key = {key: amphora_id for amphora_id, key in keys.items()}
    names = {'key-%d' % key: amphora_id for key, amphora_id in by_key.items()}
    owners = []
    for slot, home in enumerate(home_table(max(by_key) + 1, slots)):
        if home in by_key:
            owners.append(by_key[home])
        else:  # lent: the highest rendezvous weight among the present keys
            owners.append(names[max(names, key=lambda name: _weight(slot, name))])
    return tuple(owners)


def assign_slots(amphora_ids: Sequence[str], slots: int = SLOTS) -> tuple[str, ...]:
    """For each slot, the amphora with the highest weight for it.

    Rendezvous hashing: removing an amphora moves only its slots, adding
    one takes slots only for itself. Empty when there is no amphora.
    """
    if not amphora_ids:
        return ()
    unique = sorted(set(amphora_ids))
    return tuple(max(unique, key=lambda a: _weight(slot, a)) for slot in range(slots))


# -- the record ------------------------------------------------------------------


@dataclasses.dataclass
class DistributorRecord:
    lb_id: str
    namespace: str
    network_id: str
    addresses: dict[str, str] = dataclasses.field(default_factory=dict)  # subnet id -> own ip
    keys: dict[str, int] = dataclasses.field(default_factory=dict)  # amphora id -> hash key
    # digest of the addresses and ruleset last made, by any process of this
    # host: a pass that changes neither (a member update) needs no netlink, no nft
    applied: str = ''


def _records_dir(state_dir: str) -> str:
    return os.path.join(os.path.abspath(state_dir), RECORDS_DIR)


def record_path(state_dir: str, lb_id: str) -> str:
    return os.path.join(_records_dir(state_dir), '%s.json' % lb_id)


def load_record(state_dir: str, lb_id: str) -> DistributorRecord | None:
    try:
        with open(record_path(state_dir, lb_id)) as f:
            return DistributorRecord(**json.load(f))
    except FileNotFoundError:
        return None


def save_record(state_dir: str, record: DistributorRecord) -> None:
    layout.save_json(record_path(state_dir, record.lb_id), dataclasses.asdict(record))


def remove_record(state_dir: str, lb_id: str) -> None:
    try:
        os.unlink(record_path(state_dir, lb_id))
    except FileNotFoundError:
        pass


def records(state_dir: str) -> list[DistributorRecord]:
    found = []
    for path in sorted(glob.glob(os.path.join(_records_dir(state_dir), '*.json'))):
        record = load_record(state_dir, os.path.basename(path)[: -len('.json')])
        if record is not None:
            found.append(record)
    return found


def addresses_in_use(state_dir: str) -> set[IPAddress]:
    """Every distributor's own addresses on this host (VIPs not included)."""
    return {
        ipaddress.ip_address(ip)
        for record in records(state_dir)
        for ip in record.addresses.values()
    }


# -- the ruleset -----------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class VipRule:
    """One VIP as the template writes it; no slots: its flows are dropped."""

    family: str  # 'ip' or 'ip6'
    address: str
    interface: str
    slots: tuple[tuple[int, str], ...]  # (slot, amphora address on the VIP's subnet)


def vip_rules(
    vips: Sequence[tuple[Subnet, IPAddress]],
    targets: Sequence[Target],
    interface: str,
    keys: Mapping[str, int],
) -> list[VipRule]:
    """Per VIP, its slots' addresses: the same amphora per slot for every VIP,
    each at its address on that VIP's subnet.

    An amphora without an address on a VIP's subnet is left out of that VIP:
    by the rendezvous property only its own slots go to the others there.
    """
    rules = []
    for subnet, vip in vips:
        present = {amphora_id: a[subnet.id] for amphora_id, a in targets if subnet.id in a}
        slots = tuple(
            (slot, str(ipaddress.ip_address(present[owner])))
            for slot, owner in enumerate(slot_owners({a: keys[a] for a in present}))
        )
        rules.append(VipRule(FAMILY_WORD[vip.version], str(vip), interface, slots))
    return rules


_ENV = jinja2.Environment(
    loader=jinja2.FileSystemLoader(os.path.join(os.path.dirname(__file__), 'templates')),
    undefined=jinja2.StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
    keep_trailing_newline=True,
    autoescape=False,  # an nftables file, not HTML
)


def render_ruleset(lb_id: str, interface: str, rules: Sequence[VipRule]) -> str:
    """The whole table, replacing any previous one in one `nft -f` transaction."""
    return _ENV.get_template(TEMPLATE).render(
        lb_id=lb_id,
        table=TABLE,
        interface=interface,
        slots=SLOTS,
        seed=hash_seed(lb_id),
        rules=rules,
    )


def _run_nft(text: str) -> subprocess.CompletedProcess[str]:
    nft = shutil.which('nft') or '/usr/sbin/nft'
    return subprocess.run(
        [nft, '-f', '-'], input=text, capture_output=True, text=True, timeout=NFT_TIMEOUT
    )


def load_ruleset(namespace: str, text: str) -> None:
    """Run `nft -f -` with `text` inside `namespace` (forked from a thread in it)."""
    try:
        result = netlink.run_in_namespace(namespace, _run_nft, text)
    except FileNotFoundError:
        raise TransientError('nft is not installed') from None
    except subprocess.TimeoutExpired:
        raise TransientError('nft timed out in %s' % namespace) from None
    if result.returncode != 0:
        raise TransientError(
            'nft refused the distributor ruleset in %s: %s' % (namespace, result.stderr.strip())
        )


# -- the driver ------------------------------------------------------------------


class Distributor:
    """The distributors of the load balancers on this host."""

    def __init__(self, fabric: Fabric, state_dir: str) -> None:
        self.fabric = fabric
        self.state_dir = state_dir
        self.store = layout.StateStore(state_dir)  # for its allocation lock

    def ensure(
        self,
        lb_id: str,
        vips: Sequence[tuple[Subnet, IPAddress]],
        targets: Sequence[Target],
        taken: set[IPAddress],
    ) -> None:
        """Create or update the distributor of `lb_id`; idempotent.

        `targets` are the amphorae to spread over, each with its address on
        each subnet; `taken`, the tenant addresses in use on this host. Takes
        the host's address allocation lock: call without holding it.
        """
        network_id = _network_of(lb_id, vips)
        record = self._allocate(lb_id, network_id, vips, targets, taken)
        interface = layout.tenant_ifname(network_id)
        addresses = _interface_addresses(record, vips)
        text = render_ruleset(lb_id, interface, vip_rules(vips, targets, interface, record.keys))
        digest = hashlib.sha256(('%r\n%s' % (addresses, text)).encode()).hexdigest()
        if record.applied == digest and netlink.namespace_exists(record.namespace):
            return
        self.fabric.ensure()
        netlink.create_namespace(record.namespace)
        netlink.write_sysctls(record.namespace, DISTRIBUTOR_SYSCTLS)  # before the veth
        self.fabric.attach(
            record.namespace,
            interface,
            port_name(lb_id),
            self.fabric.bridge_for(network_id),
            addresses,
            mac=distributor_mac(lb_id),
        )
        _prune_addresses(record.namespace, interface, addresses)
        load_ruleset(record.namespace, text)
        save_record(self.state_dir, dataclasses.replace(record, applied=digest))

    def remove(self, lb_id: str) -> None:
        """Remove the port, the namespace and the record; missing is fine."""
        record = load_record(self.state_dir, lb_id)
        self.fabric.detach(port_name(lb_id))
        netlink.remove_namespace(record.namespace if record else namespace_for(lb_id))
        remove_record(self.state_dir, lb_id)

    def _allocate(
        self,
        lb_id: str,
        network_id: str,
        vips: Sequence[tuple[Subnet, IPAddress]],
        targets: Sequence[Target],
        taken: set[IPAddress],
    ) -> DistributorRecord:
        """The record, with an own address on every VIP subnet (kept if it
        has one there already) and a hash key per target (`assign_keys`);
        saved under the host's allocation lock."""
        with self.store.allocation_lock():
            others = [r for r in records(self.state_dir) if r.lb_id != lb_id]
            namespace = namespace_for(lb_id)
            clash = next((r.lb_id for r in others if r.namespace == namespace), None)
            if clash is not None:
                raise PermanentError(
                    'namespace %s is taken by load balancer %s' % (namespace, clash)
                )
            record = load_record(self.state_dir, lb_id)
            old = record.addresses if record else {}
            used = _used(taken, vips, targets, others) | self.store.tenant_addresses_in_use()
            addresses: dict[str, str] = {}
            for subnet, _ in vips:
                if subnet.id not in addresses:
                    mine = _kept(old.get(subnet.id), subnet) or layout.pick_from_top(
                        subnet, used, config.address_block()
                    )
                    used.add(mine)
                    addresses[subnet.id] = str(mine)
            keys = assign_keys(record.keys if record else {}, [a for a, _ in targets])
            applied = record.applied if record else ''
            record = DistributorRecord(lb_id, namespace, network_id, addresses, keys, applied)
            save_record(self.state_dir, record)
            return record


def _network_of(lb_id: str, vips: Sequence[tuple[Subnet, IPAddress]]) -> str:
    networks = sorted({subnet.network_id for subnet, _ in vips})
    if len(networks) != 1:
        raise PermanentError(
            'load balancer %s: a distributor needs its VIPs on one network, not %s'
            % (lb_id, networks or 'none')
        )
    return networks[0]


def _used(
    taken: Iterable[IPAddress],
    vips: Sequence[tuple[Subnet, IPAddress]],
    targets: Sequence[Target],
    others: Sequence[DistributorRecord],
) -> set[IPAddress]:
    used = set(taken) | {vip for _, vip in vips}
    used |= {ipaddress.ip_address(ip) for _, addresses in targets for ip in addresses.values()}
    used |= {ipaddress.ip_address(ip) for r in others for ip in r.addresses.values()}
    return used


def _kept(address: str | None, subnet: Subnet) -> IPAddress | None:
    if not address:
        return None
    ip = ipaddress.ip_address(address)
    return ip if ip in subnet.cidr else None


def _interface_addresses(
    record: DistributorRecord, vips: Sequence[tuple[Subnet, IPAddress]]
) -> list[tuple[netlink.AddressLike, int]]:
    """Own addresses with their subnet's prefix first (the primary ones, the
    source of ARP requests), then each VIP as a host address."""
    own: list[tuple[netlink.AddressLike, int]] = []
    for subnet, _ in vips:
        entry = (record.addresses[subnet.id], subnet.cidr.prefixlen)
        if entry not in own:
            own.append(entry)
    hosts: list[tuple[netlink.AddressLike, int]] = [
        (vip, 32 if vip.version == 4 else 128) for _, vip in vips
    ]
    return own + hosts


def _prune_addresses(
    namespace: str, interface: str, wanted: Iterable[tuple[netlink.AddressLike, int]]
) -> None:
    """Remove from `interface` the addresses of VIPs (and VIP subnets) the
    load balancer no longer has; link-local addresses stay."""
    keep = {(str(ipaddress.ip_address(address)), prefixlen) for address, prefixlen in wanted}
    with netlink.rtnl(namespace) as ipr:
        index = netlink.link_index(ipr, interface)
        for message in list(ipr.addr('dump', index=index)):
            address, prefixlen = message.get('address'), message['prefixlen']
            if (address, prefixlen) in keep or ipaddress.ip_address(address).is_link_local:
                continue
            ipr.addr('del', index=index, address=address, prefixlen=prefixlen)
