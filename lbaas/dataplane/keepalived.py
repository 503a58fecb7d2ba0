"""keepalived (VRRP only) for ACTIVE_STANDBY load balancers: view and render.

Both amphorae run HAProxy all the time (bound to the VIPs through
`ip_nonlocal_bind`); keepalived only decides which one holds the VIPs. The
controller describes one amphora's side of the pair as a `VrrpInstanceView`;
`render_keepalived` turns it into that amphora's `keepalived.cfg` and
`render_check_script` into the script its `vrrp_script` runs.

Choices made here rather than in the template:

* both sides start as BACKUP with `nopreempt`: whoever holds the VIPs keeps
  them, so a replacement amphora (or a restarted keepalived) never takes
  them back and causes a second interruption; priorities only break the tie
  when both start together;
* VRRP version 3, whose advertisement interval may be a fraction of a
  second (version 2 counts whole seconds), so a dead peer is noticed in
  about three intervals. Version 3 has no authentication: keepalived ignores
  an `authentication` block there (with a warning), so none is written; the
  peers are fixed unicast addresses instead;
* VIPs of the VRRP address's family go in `virtual_ipaddress`, the others in
  `virtual_ipaddress_excluded` (not announced in adverts, moved all the
  same); each is a host address (/32, /128) on the VRRP interface, as the
  network driver adds VIPs under the SINGLE topology.
"""

from __future__ import annotations

import ipaddress
import posixpath
import re
from dataclasses import dataclass, fields

from lbaas import wire
from lbaas.dataplane import templating

# Where the check script travels in the config bundle (`ConfigBundle.files`),
# and so where it lands under the agent's `current` bundle directory.
CHECK_SCRIPT_FILE = "keepalived/check-haproxy.sh"
CHECK_SCRIPT_NAME = "check_haproxy"

_UNSAFE = re.compile(r"[\s'\"#\\$;&|<>`{}]")
_NAME = re.compile(r"^[A-Za-z0-9_.:-]+$")


def _check_words(view: object, names: tuple[str, ...]) -> None:
    """Values written unquoted into the configuration must be single plain words."""
    for name in names:
        value = getattr(view, name)
        for word in value if isinstance(value, tuple) else (value,):
            if not isinstance(word, str) or not word or _UNSAFE.search(word):
                raise ValueError(f"{name}: {word!r} is not a plain word")


@dataclass(frozen=True, slots=True)
class VrrpTimers:
    """How fast the pair reacts; `[keepalived_vrrp]` options of the same names."""

    advert_int: float = 0.2  # seconds between adverts
    check_interval: int = 1  # seconds between HAProxy checks (keepalived's minimum)
    fail_count: int = 2  # failed checks before giving the VIPs up
    success_count: int = 2  # passed checks before holding them again
    garp_refresh_interval: int = 5  # seconds; 0: only on taking over
    garp_refresh_count: int = 2

    def __post_init__(self) -> None:
        # VRRPv3 carries the interval in hundredths of a second, in 12 bits.
        if not 0.01 <= self.advert_int <= 40.95:
            raise ValueError("advert_int must be between 0.01 and 40.95 seconds")
        if min(self.check_interval, self.fail_count, self.success_count) < 1:
            raise ValueError("check interval and counts must be at least 1")
        if self.garp_refresh_interval < 0 or self.garp_refresh_count < 1:
            raise ValueError("invalid gratuitous ARP refresh settings")


@dataclass(frozen=True, slots=True)
class VrrpInstanceView:
    """One amphora's side of an ACTIVE_STANDBY pair."""

    lb_id: str
    amphora_id: str
    interface: str  # where the VRRP address lives and the VIPs go
    virtual_router_id: int
    priority: int  # 100 for the MASTER role, 90 for the BACKUP role
    source_ip: str  # this amphora's VRRP address
    peer_ips: tuple[str, ...]  # the other amphorae's VRRP addresses
    vips: tuple[str, ...]  # primary first; IPv4 and IPv6
    timers: VrrpTimers = VrrpTimers()

    def __post_init__(self) -> None:
        for f in fields(self):
            if isinstance(getattr(self, f.name), list):
                object.__setattr__(self, f.name, tuple(getattr(self, f.name)))
        _check_words(self, ("lb_id", "amphora_id", "interface", "source_ip"))
        _check_words(self, ("peer_ips", "vips"))
        if not 1 <= self.virtual_router_id <= 255:
            raise ValueError("virtual_router_id must be between 1 and 255")
        if not 1 <= self.priority <= 254:
            raise ValueError("priority must be between 1 and 254 (255 is the address owner's)")
        if not self.vips:
            raise ValueError("an ACTIVE_STANDBY pair needs at least one VIP")
        family = _family(self.source_ip)
        if any(_family(peer) != family for peer in self.peer_ips):
            raise ValueError("peers must be of the VRRP address's IP family")
        for vip in self.vips:
            _family(vip)  # a ValueError for anything but an address

    @property
    def instance_name(self) -> str:
        # Octavia's name: the LB id without dashes (keepalived logs it).
        return self.lb_id.replace("-", "")

    def announced_vips(self) -> list[str]:
        """VIPs of the VRRP address's family, as `address/prefix`."""
        return [_host(v) for v in self.vips if _family(v) == _family(self.source_ip)]

    def excluded_vips(self) -> list[str]:
        """The other family's VIPs: moved with the others, never announced."""
        return [_host(v) for v in self.vips if _family(v) != _family(self.source_ip)]


@dataclass(frozen=True, slots=True)
class KeepalivedPaths:
    """Absolute paths, on the amphora, that keepalived and its check use."""

    check_script: str  # where the bundle's CHECK_SCRIPT_FILE lands
    stats_socket: str  # HAProxy's stats socket (the check asks it)
    haproxy_pid_file: str  # the HAProxy master's pid, when socat is missing

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            if not posixpath.isabs(value) or _UNSAFE.search(value):
                raise ValueError(f"{f.name} must be an absolute path without special characters")

    @classmethod
    def in_state_dir(cls, state_dir: str) -> KeepalivedPaths:
        """The agent's layout (lbaas.wire) under one amphora's state directory."""

        def join(*parts: str) -> str:
            return posixpath.join(state_dir, *parts)

        return cls(
            check_script=join(wire.CURRENT_BUNDLE, wire.FILES_SUBDIR, CHECK_SCRIPT_FILE),
            stats_socket=join(wire.STATS_SOCKET),
            haproxy_pid_file=join(wire.PID_FILE),
        )


def _family(address: str) -> int:
    return ipaddress.ip_address(address).version


def _host(address: str) -> str:
    ip = ipaddress.ip_address(address)
    return f"{ip}/{ip.max_prefixlen}"


def seconds(value: float) -> str:
    """keepalived's decimal seconds: '0.2', '1', never '1.0' or '2e-01'."""
    return f"{value:.2f}".rstrip("0").rstrip(".")


_ENV = templating.environment(filters={"seconds": seconds})


def render_keepalived(view: VrrpInstanceView, paths: KeepalivedPaths) -> str:
    """The complete keepalived.cfg of one amphora of the pair."""
    if not _NAME.match(view.instance_name):
        raise ValueError(f"load balancer id {view.lb_id!r} cannot name a VRRP instance")
    return _ENV.get_template("keepalived.cfg.j2").render(
        vrrp=view, paths=paths, check_name=CHECK_SCRIPT_NAME
    )


def render_check_script(paths: KeepalivedPaths) -> str:
    """The script keepalived runs every `check_interval`: exit 0 while HAProxy serves."""
    return _ENV.get_template("check_haproxy.sh.j2").render(paths=paths)
