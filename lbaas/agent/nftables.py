"""The UDP and SCTP data plane: load, refill and remove the bundle's nftables table.

The controller renders one table (``nftables/lbaas.nft``) whose member maps
are empty, and a health plan (``nftables/udp-health.json``) that says which
members fill which map. Here the maps get their elements: each member that
is enabled, has a weight and is up (per `udp_health`) takes a share of the
map's fixed number of slots; backups only when no primary of the family is
up. Loading a bundle is one ``nft -f`` transaction (table text, then the
elements), so a reader sees the old table or the new one, never a table
without members; a health change refills only the maps (counters survive).

Forwarding is switched on in the amphora's namespace when a table is loaded
(DNAT'ed packets leave by the interface they came in on).
"""

from __future__ import annotations

import ipaddress
import json
import logging
import os
import subprocess
import threading

from lbaas.agent.udp_health import UdpHealth

LOG = logging.getLogger(__name__)

# The same names as lbaas.dataplane.nftables (the agent imports only wire).
RULESET_FILE = "nftables/lbaas.nft"
HEALTH_FILE = "nftables/udp-health.json"
NFT_TIMEOUT = 30  # seconds
FORWARDING = ("/proc/sys/net/ipv4/ip_forward", "/proc/sys/net/ipv6/conf/all/forwarding")

TYPE_CHECKING = False  # not `typing`: see wire.py
if TYPE_CHECKING:
    from collections.abc import Callable

    Plan = dict[str, object]
    Member = dict[str, object]


class NftError(RuntimeError):
    """`nft` refused a ruleset or is missing; `details` has its output."""

    def __init__(self, message: str, details: str = "") -> None:
        super().__init__(f"{message}: {details}" if details else message)
        self.details = details


def read_bundle(bundle_dir: str | None) -> tuple[str | None, Plan | None]:
    """(ruleset text, health plan) of a bundle directory; (None, None) if it has none."""
    if bundle_dir is None:
        return None, None
    files = os.path.join(bundle_dir, "files")
    try:
        with open(os.path.join(files, RULESET_FILE), encoding="utf-8") as f:
            ruleset = f.read()
        with open(os.path.join(files, HEALTH_FILE), encoding="utf-8") as f:
            plan = json.load(f)
    except FileNotFoundError:
        return None, None
    if not isinstance(plan, dict):
        raise NftError("the UDP health plan is not a JSON object")
    return ruleset, plan


def _dicts(value: object) -> list[dict[str, object]]:
    return [v for v in value if isinstance(v, dict)] if isinstance(value, list) else []


def _int(value: object, default: int = 0) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else default


def _family(address: str) -> str:
    return "6" if ":" in address else "4"


def active_members(members: list[Member], up: set[str], family: str) -> list[Member]:
    """Who takes new flows: enabled, weighted, up; backups only if no primary is."""
    ready = [
        m
        for m in members
        if m.get("enabled") is not False
        and _int(m.get("weight"), 1) > 0
        and m.get("id") in up
        and _family(str(m.get("address"))) == family
    ]
    primaries = [m for m in ready if not m.get("backup")]
    return primaries or [m for m in ready if m.get("backup")]


def slot_owners(members: list[Member], slots: int) -> list[Member]:
    """`slots` entries shared by weight, interleaved (smooth weighted round
    robin), so a run of consecutive slots already follows the weights."""
    if not members:
        return []
    weights = [_int(m.get("weight"), 1) for m in members]
    total = sum(weights)
    current = [0] * len(members)
    owners = []
    for _ in range(slots):
        for i, weight in enumerate(weights):
            current[i] += weight
        best = max(range(len(members)), key=lambda i: current[i])
        current[best] -= total
        owners.append(members[best])
    return owners


def elements_script(plan: Plan, up: set[str]) -> str:
    """nft commands that refill every map of the plan from the members up."""
    table = str(plan.get("table", "inet lbaas"))
    slots = _int(plan.get("slots"), 256)
    lines = []
    for pool in _dicts(plan.get("pools")):
        maps = pool.get("maps")
        for family, name in (maps if isinstance(maps, dict) else {}).items():
            lines.append(f"flush map {table} {name}")
            owners = slot_owners(active_members(_dicts(pool.get("members")), up, family), slots)
            if owners:
                entries = ", ".join(
                    f"{i} : {m['address']} . {_int(m.get('port'))}" for i, m in enumerate(owners)
                )
                lines.append(f"add element {table} {name} {{ {entries} }}")
    return "\n".join(lines) + "\n"


def enable_forwarding() -> None:
    for path in FORWARDING:
        with open(path, "w") as f:
            f.write("1\n")


class NftTable:
    """The one table this amphora serves UDP with; thread-safe."""

    def __init__(
        self,
        nft: list[str] | None = None,
        forwarding: Callable[[], None] = enable_forwarding,
    ) -> None:
        self.nft = list(nft or ["nft"])
        self.forwarding = forwarding
        self._lock = threading.Lock()
        self._ruleset: str | None = None  # what is loaded now
        self._plan: Plan | None = None

    @property
    def loaded(self) -> str | None:
        return self._ruleset

    def run(self, args: list[str], script: str | None = None) -> str:
        try:
            result = subprocess.run(
                [*self.nft, *args],
                input=script,
                capture_output=True,
                text=True,
                timeout=NFT_TIMEOUT,
            )
        except FileNotFoundError:
            raise NftError("nft is not installed") from None
        except subprocess.TimeoutExpired:
            raise NftError("nft timed out") from None
        if result.returncode != 0:
            raise NftError("nft refused the ruleset", (result.stdout + result.stderr).strip())
        return result.stdout

    def load(self, ruleset: str | None, plan: Plan | None, up: set[str]) -> None:
        """Replace the table (None: remove it); on failure the old one stays."""
        with self._lock:
            if ruleset is None or plan is None:
                if self._ruleset is not None or self._exists():
                    self.run(["-f", "-"], "table inet lbaas\ndelete table inet lbaas\n")
                self._ruleset, self._plan = None, None
                return
            self.forwarding()
            # One transaction: nft applies the whole file or nothing, so a
            # refused file leaves the previous table (and its members) serving.
            self.run(["-f", "-"], ruleset + "\n" + elements_script(plan, up))
            self._ruleset, self._plan = ruleset, plan

    def _exists(self) -> bool:
        # A table left by an earlier agent process; without nft there is none.
        try:
            self.run(["list", "table", "inet", "lbaas"])
        except NftError:
            return False
        return True

    def refill(self, up: set[str]) -> None:
        """Members rose or fell: rewrite the maps only."""
        with self._lock:
            if self._plan is not None:
                self.run(["-f", "-"], elements_script(self._plan, up))

    def _objects(self, listing: str, kind: str) -> list[dict[str, object]]:
        """The `kind` objects of `nft -j list <listing> table inet lbaas`."""
        data = json.loads(self.run(["-j", "list", listing, "table", "inet", "lbaas"]))
        items = _dicts(data.get("nftables") if isinstance(data, dict) else None)
        return _dicts([item.get(kind) for item in items])

    def counters(self) -> dict[str, tuple[int, int]]:
        """Named counter -> (packets, bytes); empty when no table is loaded."""
        if self._ruleset is None:
            return {}
        return {
            str(c.get("name")): (_int(c.get("packets")), _int(c.get("bytes")))
            for c in self._objects("counters", "counter")
        }

    def refused(self) -> dict[tuple[str, int], int]:
        """(member address, port) -> ICMP errors it sent for forwarded flows;
        both families' sets in one `nft` call."""
        names = (self._plan or {}).get("refused_sets")
        if self._ruleset is None or not isinstance(names, dict):
            return {}
        found: dict[tuple[str, int], int] = {}
        for nft_set in self._objects("sets", "set"):
            if nft_set.get("name") in names.values():
                for element in _dicts(nft_set.get("elem")):
                    found.update(_refused_element(element.get("elem")))
        return found


def _refused_element(element: object) -> dict[tuple[str, int], int]:
    """{"val": {"concat": [address, port]}, "counter": {"packets": n}} -> {key: n}"""
    if not isinstance(element, dict):
        return {}
    value, counter = element.get("val"), element.get("counter")
    parts = value.get("concat") if isinstance(value, dict) else None
    if not (isinstance(parts, list) and len(parts) == 2 and isinstance(counter, dict)):
        return {}
    address = str(ipaddress.ip_address(str(parts[0])))
    return {(address, _int(parts[1])): _int(counter.get("packets"))}


class UdpPlane:
    """The table and its health checker together: what the agent service drives."""

    def __init__(
        self, nft: list[str] | None = None, forwarding: Callable[[], None] = enable_forwarding
    ) -> None:
        self.table = NftTable(nft, forwarding)
        self.health = UdpHealth(self._changed, self._refused)
        self._plan: Plan | None = None

    def serve(self, bundle_dir: str | None) -> None:
        """Serve the UDP listeners of a bundle (none: remove the table)."""
        ruleset, plan = read_bundle(bundle_dir)
        self.health.configure(plan)
        self.table.load(ruleset, plan, self.health.up())
        self._plan = plan

    def ensure(self, bundle_dir: str | None) -> None:
        """Serve the bundle's table if it is not what this process loaded
        (an agent restarted keeps its table in the kernel, but not its checks)."""
        if read_bundle(bundle_dir)[0] != self.table.loaded:
            self.serve(bundle_dir)

    def _changed(self, up: set[str]) -> None:
        try:
            self.table.refill(up)
        except NftError as exc:
            LOG.error("cannot update UDP members: %s", exc)

    def _refused(self) -> dict[tuple[str, int], int]:
        try:
            return self.table.refused()
        except (NftError, ValueError) as exc:
            LOG.warning("cannot read members' ICMP errors: %s", exc)
            return {}

    def stop(self) -> None:
        self.health.configure(None)
        self._plan = None
        try:
            self.table.load(None, None, set())
        except NftError as exc:
            LOG.error("cannot remove the UDP table: %s", exc)

    def stat_rows(self) -> list[dict[str, int | str | None]]:
        """`show stat`-like rows for the UDP listeners, pools and members, so
        heartbeats report them as HAProxy's (counters from the table)."""
        plan = self._plan
        if plan is None:
            return []
        try:
            counters = self.table.counters()
        except (NftError, ValueError) as exc:
            LOG.warning("cannot read UDP counters: %s", exc)
            counters = {}
        statuses = self.health.statuses()
        rows: list[dict[str, int | str | None]] = []
        pools = {str(p.get("id")): p for p in _dicts(plan.get("pools"))}
        for listener in _dicts(plan.get("listeners")):
            names = listener.get("counters")
            names = names if isinstance(names, dict) else {}
            rows.append(
                {
                    "pxname": str(listener.get("id")),
                    "svname": "FRONTEND",
                    "status": "OPEN",
                    "bin": counters.get(str(names.get("rx")), (0, 0))[1],
                    "bout": counters.get(str(names.get("tx")), (0, 0))[1],
                    "stot": counters.get(str(names.get("new")), (0, 0))[0],
                    "scur": 0,  # UDP has no connections to count
                }
            )
            pool = pools.get(str(listener.get("pool_id")))
            if pool is not None:
                rows.extend(_pool_rows(pool, str(listener.get("id")), statuses))
        return rows


def _pool_rows(
    pool: dict[str, object], listener_id: str, statuses: dict[str, str]
) -> list[dict[str, int | str | None]]:
    proxy = f"{pool.get('id')}:{listener_id}"
    members = [str(m.get("id")) for m in _dicts(pool.get("members"))]
    words = [statuses.get(m, "UP") for m in members]
    # A pool is UP while a member can take traffic (as HAProxy's backend).
    up = any(w in ("UP", "no check") for w in words)
    rows: list[dict[str, int | str | None]] = [
        {"pxname": proxy, "svname": "BACKEND", "status": "UP" if up else "DOWN"}
    ]
    rows.extend(
        {"pxname": proxy, "svname": m, "status": w} for m, w in zip(members, words, strict=True)
    )
    return rows
