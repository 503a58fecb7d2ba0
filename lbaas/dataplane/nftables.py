"""UDP and SCTP listeners as nftables full-NAT inside the amphora namespace.

This kernel has no IPVS, so Octavia's keepalived-LVS path cannot serve UDP
or SCTP; nftables can (docs: shared reference, data plane section 7). One
table, ``table inet lbaas``, carries every UDP and SCTP listener of the load
balancer; an SCTP listener's rules are a UDP one's with ``sctp`` for ``udp``
(conntrack follows SCTP associations and NAT rewrites their CRC32c):

* a NAT prerouting chain DNATs ``VIP:port`` to a member picked from a named
  map of ``SLOTS`` entries (``numgen inc`` for ROUND_ROBIN, ``jhash`` of the
  client address for SOURCE_IP or SOURCE_IP persistence), then drops what
  found no member (an empty map means nobody is up: like IPVS, say nothing);
* a NAT postrouting chain masquerades DNAT'ed flows toward the members, so
  replies come back through the amphora whatever the members' routes are;
* filter chains count each listener's bytes both ways; the DNAT rule's
  counter counts new flows (NAT chains see only a flow's first packet);
* a forward chain counts, per member address and port, the ICMP errors
  members send back for forwarded flows (sets ``refused4``/``refused6``). The
  agent reads them when a UDP-CONNECT check hears nothing: a member's
  kernel rate-limits its ICMP errors per peer (1/s, burst 6), so under
  traffic the check's own "port unreachable" is often never sent, and
  silence alone would keep a dead member in rotation forever.

The maps are rendered empty. The agent fills them, in the same transaction
that loads the table, from the health plan (`render_health_plan`) and its
checker's view of which members are up, and refills only them when a member
rises or falls: the rules never change between bundles, the counters survive
health changes, and weights, backups and admin-down members are decided in
one place (the agent) for both cases. SLOTS is fixed, so a member's weight
becomes its share of slots, and the rule need not change when members do.

LEAST_CONNECTIONS has no nftables selector; it is served as ROUND_ROBIN
(new UDP flows and SCTP INITs carry no connection count worth balancing on).
"""

from __future__ import annotations

import ipaddress
import json
import zlib
from dataclasses import dataclass

from lbaas.dataplane import templating
from lbaas.dataplane.viewmodel import (
    Algorithm,
    L4Protocol,
    LoadBalancerView,
    UdpListenerView,
    UdpPoolView,
)

# Where both files travel in `ConfigBundle.files` (the agent has the same).
RULESET_FILE = "nftables/lbaas.nft"
HEALTH_FILE = "nftables/udp-health.json"
TABLE = "inet lbaas"
SLOTS = 256  # map entries per pool and family; weights are shares of them
PLAN_VERSION = 1
DEFAULT_PERSISTENCE_TIMEOUT = 360  # Octavia's, seconds (jhash needs none)

_FAMILY_WORD = {4: "ip", 6: "ip6"}


def _hex(object_id: str) -> str:
    # nft identifiers: letters, digits and underscores; ids are UUIDs.
    return "".join(c for c in object_id.lower() if c.isalnum())


def map_name(pool_id: str, family: int) -> str:
    return f"p_{_hex(pool_id)}_v{family}"


def counter_name(listener_id: str, what: str) -> str:
    return f"l_{_hex(listener_id)}_{what}"


def _family(address: str) -> int:
    return ipaddress.ip_address(address).version


def _seed(pool_id: str) -> str:
    # The same seed on both amphorae of a pair: a failover keeps clients on
    # the member they had (while the member set is the same).
    return f"0x{zlib.crc32(pool_id.encode()):08x}"


def _word(protocol: L4Protocol) -> str:
    return str(protocol).lower()  # "udp" or "sctp", as nft spells them


def _selector(pool: UdpPoolView, family: int) -> str:
    if pool.lb_algorithm == Algorithm.SOURCE_IP_PORT:
        raise ValueError(f"SOURCE_IP_PORT is not served for {pool.protocol} pools")
    if pool.lb_algorithm == Algorithm.SOURCE_IP or pool.source_ip_persistence:
        return f"jhash {_FAMILY_WORD[family]} saddr mod {SLOTS} seed {_seed(pool.id)}"
    return f"numgen inc mod {SLOTS}"


@dataclass(frozen=True, slots=True)
class UdpService:
    """One VIP and port: what the template writes as rules."""

    listener_id: str
    family_word: str  # "ip" or "ip6"
    protocol_word: str  # "udp" or "sctp"
    vip: str
    port: int
    map: str | None  # None: no pool, so everything is dropped
    selector: str


@dataclass(frozen=True, slots=True)
class UdpMap:
    name: str
    family_word: str
    protocol_word: str


@dataclass(frozen=True, slots=True)
class RefusedSet:
    """Per family: the set counting members' ICMP errors, and its rule's words."""

    family: int
    name: str
    family_word: str
    key_type: str
    icmp: str


REFUSED_SETS = (
    RefusedSet(4, "refused4", "ip", "ipv4_addr", "icmp"),
    RefusedSet(6, "refused6", "ip6", "ipv6_addr", "icmpv6"),
)


def _services(lb: LoadBalancerView, listener: UdpListenerView) -> list[UdpService]:
    pool = listener.default_pool
    services = []
    for vip in lb.vips:
        family = _family(vip)
        services.append(
            UdpService(
                listener_id=listener.id,
                family_word=_FAMILY_WORD[family],
                protocol_word=_word(listener.protocol),
                vip=str(ipaddress.ip_address(vip)),
                port=listener.port,
                map=map_name(pool.id, family) if pool else None,
                selector=_selector(pool, family) if pool else "",
            )
        )
    return services


def _pools(lb: LoadBalancerView) -> dict[str, UdpPoolView]:
    return {li.default_pool.id: li.default_pool for li in lb.udp_listeners if li.default_pool}


def _maps(lb: LoadBalancerView) -> list[UdpMap]:
    families = sorted({_family(v) for v in lb.vips})
    return [
        UdpMap(map_name(pool.id, f), _FAMILY_WORD[f], _word(pool.protocol))
        for pool in _pools(lb).values()
        for f in families
    ]


def _nat_protocols(lb: LoadBalancerView) -> str:
    words = sorted({_word(li.protocol) for li in lb.udp_listeners}) or ["udp"]
    return words[0] if len(words) == 1 else "{ " + ", ".join(words) + " }"


_ENV = templating.environment(names={"counter_name": counter_name})


def has_udp(lb: LoadBalancerView) -> bool:
    return bool(lb.udp_listeners)


def render_nftables(lb: LoadBalancerView) -> str:
    """The whole table, replacing any previous one in one `nft -f` transaction."""
    services = [s for li in lb.udp_listeners for s in _services(lb, li)]
    return _ENV.get_template("nftables.nft.j2").render(
        lb=lb,
        table=TABLE,
        slots=SLOTS,
        services=services,
        maps=_maps(lb),
        nat_protocols=_nat_protocols(lb),
        refused_sets=REFUSED_SETS,
    )


def _monitor(pool: UdpPoolView) -> dict[str, object] | None:
    hm = pool.health_monitor
    if hm is None:
        return None
    return {
        "type": str(hm.type),
        "delay": hm.delay,
        "timeout": hm.timeout,
        "max_retries": hm.max_retries,
        "max_retries_down": hm.max_retries_down,
        "http_method": hm.http_method,
        "url_path": hm.url_path,
        "expected_codes": hm.expected_codes,
        "domain_name": hm.domain_name,
    }


def _pool_plan(lb: LoadBalancerView, pool: UdpPoolView) -> dict[str, object]:
    families = sorted({_family(v) for v in lb.vips})
    return {
        "id": pool.id,
        "listener_ids": [
            li.id for li in lb.udp_listeners if li.default_pool and li.default_pool.id == pool.id
        ],
        "maps": {str(f): map_name(pool.id, f) for f in families},
        "monitor": _monitor(pool),
        "members": [
            {
                "id": m.id,
                "address": str(ipaddress.ip_address(m.address)),
                "port": m.port,
                "weight": m.weight,
                "backup": m.backup,
                "enabled": m.enabled,
                "check_address": m.monitor_address or m.address,
                "check_port": m.monitor_port or m.port,
            }
            for m in pool.members
        ],
    }


def render_health_plan(lb: LoadBalancerView) -> str:
    """JSON for the agent: which maps to fill from which members, how to check them."""
    plan = {
        "version": PLAN_VERSION,
        "table": TABLE,
        "slots": SLOTS,
        "refused_sets": {str(r.family): r.name for r in REFUSED_SETS},
        "listeners": [
            {
                "id": li.id,
                "pool_id": li.default_pool.id if li.default_pool else None,
                "counters": {w: counter_name(li.id, w) for w in ("new", "rx", "tx")},
            }
            for li in lb.udp_listeners
        ],
        "pools": [_pool_plan(lb, pool) for pool in _pools(lb).values()],
    }
    return json.dumps(plan, indent=1, sort_keys=True) + "\n"


def bundle_files(lb: LoadBalancerView) -> dict[str, str]:
    """The bundle files for the LB's UDP and SCTP listeners; none without any."""
    if not has_udp(lb):
        return {}
    return {RULESET_FILE: render_nftables(lb), HEALTH_FILE: render_health_plan(lb)}
