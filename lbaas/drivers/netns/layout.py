"""Names, the address plan, and the per-amphora state record.

Naming (interface names are at most 15 bytes):

  namespace                 amp-<first 8 hex of the amphora id>
  in the amphora            mgmt0 (management), eth-<6 hex of network id> (one
                            per local network it is plugged into)
  in the fabric namespace   br-mgmt, br-<6 hex of network id> (bridges);
                            <8 hex of amphora>-mgmt, <8 hex>-<6 hex> (veth peers)

State: `<state_dir>/amphorae/<amphora_id>/amphora.json` records the
amphora's namespace, management address and its address on every subnet it
is plugged into. Addresses are allocated without the database: under one
host-wide file lock, against the records of all amphorae on this host (a
deleted amphora's directory goes, and its addresses with it).
"""

import dataclasses
import glob
import hashlib
import ipaddress
import json
import os
import shutil
import time
import zlib
from collections.abc import Iterable, Sequence
from typing import Protocol, TypeAlias

from lbaas import config, wire
from lbaas.drivers.base import PermanentError
from lbaas.drivers.pki import FileLock

AMPHORA_PREFIX = 'amp-'
MGMT_IFNAME = 'mgmt0'
MGMT_BRIDGE = 'br-mgmt'
RECORD_FILE = 'amphora.json'
ALLOCATION_LOCK = '.allocation.lock'
TENANT_PLAN = config.TENANT_PLAN  # checked at start too (config.validate)
MANAGEMENT_PLAN = config.MANAGEMENT_PLAN
# The agent refuses a state dir whose longest unix socket path under it does
# not fit in sun_path; build() checks first, to fail with a clear reason.
MAX_SOCKET_PATH = 107
LONGEST_STATE_SUFFIX = '/' + wire.SERVER_STATE_FILE

IPAddress: TypeAlias = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork: TypeAlias = ipaddress.IPv4Network | ipaddress.IPv6Network


class Subnet(Protocol):
    """A local subnet, as configured (`lbaas.config.LocalSubnet`)."""

    @property
    def id(self) -> str: ...

    @property
    def network_id(self) -> str: ...

    @property
    def cidr(self) -> IPNetwork: ...

    @property
    def gateway(self) -> IPAddress | None: ...

    @property
    def ip_version(self) -> int: ...


def _hex(uuid_text: str, length: int) -> str:
    return uuid_text.replace('-', '').lower()[:length]


def short_id(amphora_id: str) -> str:
    return _hex(amphora_id, 8)


def namespace_for(amphora_id: str) -> str:
    return AMPHORA_PREFIX + short_id(amphora_id)


def network_tag(network_id: str) -> str:
    return _hex(network_id, 6)


def tenant_ifname(network_id: str) -> str:
    return 'eth-' + network_tag(network_id)


def bridge_name(network_id: str) -> str:
    return 'br-' + network_tag(network_id)


def fabric_port(amphora_id: str, network_id: str | None = None) -> str:
    """The fabric-side end of an amphora's veth (management if no network)."""
    return '%s-%s' % (short_id(amphora_id), network_tag(network_id) if network_id else 'mgmt')


def interface_mac(amphora_id: str, network_id: str | None = None) -> str:
    """A fixed, locally administered MAC for an amphora's interface.

    A rebuilt or re-plugged amphora keeps its MACs, so what neighbours have
    cached stays right.
    """
    digest = hashlib.sha256(('%s/%s' % (amphora_id, network_id or 'mgmt')).encode()).digest()
    return ':'.join('%02x' % b for b in (0x02, *digest[:5]))


def check_in_plan(given: str | IPNetwork, plan: Sequence[IPNetwork], what: str) -> IPNetwork:
    network = ipaddress.ip_network(given, strict=False)
    if not any(_subnet_of(network, p) for p in plan):
        raise PermanentError(
            '%s %s is outside the address plan (%s)' % (what, network, ', '.join(map(str, plan)))
        )
    return network


def _subnet_of(network: IPNetwork, other: IPNetwork) -> bool:
    """`network` is inside `other`, of the same IP version."""
    if isinstance(network, ipaddress.IPv4Network) and isinstance(other, ipaddress.IPv4Network):
        return network.subnet_of(other)
    if isinstance(network, ipaddress.IPv6Network) and isinstance(other, ipaddress.IPv6Network):
        return network.subnet_of(other)
    return False


@dataclasses.dataclass
class AmphoraRecord:
    amphora_id: str
    lb_id: str
    namespace: str
    management_ip: str
    build_started_at: float = 0.0
    subnet_addresses: dict[str, str] = dataclasses.field(default_factory=dict)  # subnet id -> ip
    vips: list[list[str]] = dataclasses.field(default_factory=list)  # [subnet id, ip] of its LB
    holds_vips: bool = False  # plumbed statically (SINGLE), not by keepalived
    vips_on_loopback: bool = False  # ACTIVE_ACTIVE: accepted, never answered for


class StateStore:
    """The amphorae directory: one sub-directory per amphora on this host."""

    def __init__(self, state_dir: str) -> None:
        self.state_dir = os.path.abspath(state_dir)
        self.root = os.path.join(self.state_dir, 'amphorae')

    def amphora_dir(self, amphora_id: str) -> str:
        return os.path.join(self.root, amphora_id)

    def check_path_length(self, amphora_id: str) -> None:
        longest = self.amphora_dir(amphora_id) + LONGEST_STATE_SUFFIX
        if len(os.fsencode(longest)) > MAX_SOCKET_PATH:
            raise PermanentError(
                'state_dir %s is too long: the agent\'s unix sockets '
                'under it must fit in %d bytes' % (os.path.dirname(self.root), MAX_SOCKET_PATH)
            )

    def load(self, amphora_id: str) -> AmphoraRecord | None:
        try:
            with open(os.path.join(self.amphora_dir(amphora_id), RECORD_FILE)) as f:
                return AmphoraRecord(**json.load(f))
        except FileNotFoundError:
            return None

    def save(self, record: AmphoraRecord) -> None:
        path = os.path.join(self.amphora_dir(record.amphora_id), RECORD_FILE)
        save_json(path, dataclasses.asdict(record))

    def records(self) -> list[AmphoraRecord]:
        return self._load_paths(glob.glob(os.path.join(self.root, '*', RECORD_FILE)))

    def find_by_namespace(self, namespace: str) -> AmphoraRecord | None:
        # A UUID's first 8 characters are the namespace's 8 hex digits, so a
        # glob finds the directory at once; other ids fall back to a scan.
        prefix = glob.escape(namespace[len(AMPHORA_PREFIX) :])
        likely = glob.glob(os.path.join(self.root, prefix + '*', RECORD_FILE))
        for record in self._load_paths(likely) or self.records():
            if record.namespace == namespace:
                return record
        return None

    def _load_paths(self, paths: Iterable[str]) -> list[AmphoraRecord]:
        loaded = (self.load(os.path.basename(os.path.dirname(p))) for p in paths)
        return [record for record in loaded if record is not None]

    def remove(self, amphora_id: str) -> None:
        shutil.rmtree(self.amphora_dir(amphora_id), ignore_errors=True)

    def allocation_lock(self) -> FileLock:
        os.makedirs(self.root, mode=0o700, exist_ok=True)
        return FileLock(os.path.join(self.root, ALLOCATION_LOCK))

    def new_record(
        self,
        amphora_id: str,
        lb_id: str,
        management_network: IPNetwork,
        controller_ip: IPAddress | str,
    ) -> AmphoraRecord:
        """Record a new amphora with a free management address (call locked)."""
        taken = {ipaddress.ip_address(r.management_ip) for r in self.records()}
        taken.add(ipaddress.ip_address(controller_ip))
        address = _spread_pick(management_network, amphora_id, taken)
        record = AmphoraRecord(
            amphora_id=amphora_id,
            lb_id=lb_id,
            namespace=namespace_for(amphora_id),
            management_ip=str(address),
            build_started_at=time.time(),
        )
        self.save(record)
        return record

    def tenant_addresses_in_use(self) -> set[IPAddress]:
        """Every amphora's own addresses and every VIP recorded on this host."""
        used: set[IPAddress] = set()
        for record in self.records():
            used.update(ipaddress.ip_address(ip) for ip in record.subnet_addresses.values())
            used.update(ipaddress.ip_address(ip) for _, ip in record.vips)
        return used


def save_json(path: str, data: object) -> None:
    """Write `data` to `path` whole, or leave the previous file (a temporary
    file renamed over it); its directory is made, private, if missing."""
    os.makedirs(os.path.dirname(path), mode=0o700, exist_ok=True)
    temporary = '%s.tmp-%d' % (path, os.getpid())
    with open(temporary, 'w') as f:
        json.dump(data, f, indent=1, sort_keys=True)
    os.replace(temporary, path)


def _spread_pick(network: IPNetwork, amphora_id: str, taken: set[IPAddress]) -> IPAddress:
    """A free host address, starting from a point derived from the id.

    Starting from a hash spreads amphorae over the whole range, so an address
    freed by a deleted amphora is rarely the next one handed out.
    """
    first, size = int(network.network_address) + 1, network.num_addresses - 2
    start = zlib.crc32(amphora_id.encode()) % size
    for step in range(size):
        candidate = ipaddress.ip_address(first + (start + step) % size)
        if candidate not in taken:
            return candidate
    raise PermanentError('no free address left in %s' % network)


def pick_from_top(
    subnet: Subnet, taken: Iterable[IPAddress], block: tuple[int, int] = (0, 1)
) -> IPAddress:
    """A free address on a tenant subnet, counting down from its last host.

    VIPs are handed out by the API from the bottom of the subnet (first
    free host after the gateway); amphora addresses from the top, so the two
    meet only when the subnet is nearly full. Of those, only the addresses
    k, k+n, k+2n... below the top (`block` (k, n)): this host's share of a
    network that spans hosts (`[networking] amphora_address_block`).
    """
    cidr = subnet.cidr
    last = int(cidr.broadcast_address) - 1
    lowest = int(cidr.network_address) + 1
    excluded = set(taken) | ({subnet.gateway} if subnet.gateway else set())
    k, n = block
    for value in range(last - k, max(lowest, last - 65536) - 1, -n):
        candidate = ipaddress.ip_address(value)
        if candidate not in excluded:
            return candidate
    raise PermanentError('no free address left on subnet %s (%s)' % (subnet.id, cidr))
