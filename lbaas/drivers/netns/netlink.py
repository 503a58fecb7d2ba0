"""Namespaces, links, addresses and sysctls, via pyroute2.

Everything here is idempotent: "ensure" means create what is missing and
leave what is already right alone, so a step interrupted by a crash can
simply run again. Nothing shells out to `ip`.
"""

import contextlib
import ctypes
import fcntl
import ipaddress
import os
import socket
import struct
import threading
from collections.abc import Callable, Collection, Container, Iterable, Iterator, Mapping
from typing import Any, Protocol, TypeAlias, TypeVar, TypeVarTuple

# pyroute2 ships no type information: what it gives back is typed once, by
# the `Rtnl` and `Message` protocols below (see `rtnl`).
from pyroute2 import IPRoute, netns  # type: ignore[import-untyped]
from pyroute2.netlink.exceptions import NetlinkError  # type: ignore[import-untyped]
from pyroute2.netlink.rtnl.ifaddrmsg import IFA_F_NODAD  # type: ignore[import-untyped]

NETNS_DIR = '/run/netns'
CLONE_NEWNET = 0x40000000
ENODEV, EEXIST, ENOENT = 19, 17, 2
NETLINK_ROUTE = 0
_libc = ctypes.CDLL(None, use_errno=True)

R = TypeVar('R')
Ts = TypeVarTuple('Ts')
AddressLike: TypeAlias = str | ipaddress.IPv4Address | ipaddress.IPv6Address


class Message(Protocol):
    """A pyroute2 netlink message: header fields by key, attributes by name."""

    def __getitem__(self, key: str) -> Any: ...

    def get(self, key: str) -> Any: ...


class Rtnl(Protocol):
    """What is used here of pyroute2's `IPRoute` (an rtnetlink socket)."""

    def link(self, command: str, **kwargs: Any) -> Iterable[Message]: ...

    def fileno(self) -> int: ...

    def addr(self, command: str, **kwargs: Any) -> Iterable[Message]: ...

    def route(self, command: str, **kwargs: Any) -> Iterable[Message]: ...

    def fdb(self, command: str, **kwargs: Any) -> Iterable[Message]: ...

    def close(self) -> None: ...


# -- namespaces -------------------------------------------------------------


def namespace_path(name: str) -> str:
    return os.path.join(NETNS_DIR, name)


def namespace_exists(name: str) -> bool:
    return os.path.exists(namespace_path(name))


def namespace_names(prefix: str = '') -> list[str]:
    return sorted(n for n in netns.listnetns() if n.startswith(prefix))


def _unshare_and_bind(name: str) -> None:
    if _libc.unshare(CLONE_NEWNET) != 0:
        raise OSError(ctypes.get_errno(), 'unshare of a network namespace failed')
    # What `ip netns add` does: bind-mount the namespace under /run/netns,
    # here this thread's own (the thread ends; the mount keeps it alive).
    netns.attach(name, 'thread-self')


def create_namespace(name: str) -> None:
    """Create `name` unless it exists; bring its loopback up either way.

    On a thread of its own, like `run_in_namespace`: pyroute2's create()
    forks, which a threaded worker is better off not doing.
    """
    if not namespace_exists(name):
        try:
            _on_own_thread(_unshare_and_bind, name)
        except FileExistsError:
            pass  # someone else created it between our check and now
    with rtnl(name) as ipr:
        ipr.link('set', index=link_index(ipr, 'lo'), state='up')


def remove_namespace(name: str) -> None:
    """Unmount and unlink the namespace; it dies with its last process."""
    if namespace_exists(name):
        try:
            netns.remove(name)
        except FileNotFoundError:
            pass


def _rtnetlink_socket_fd() -> int:
    return socket.socket(socket.AF_NETLINK, socket.SOCK_DGRAM, NETLINK_ROUTE).detach()


@contextlib.contextmanager
def rtnl(namespace: str | None = None) -> Iterator[Rtnl]:
    """An rtnetlink socket in `namespace` (None: our own), never creating one.

    The socket is opened by a thread inside the namespace (a socket stays in
    the namespace it was created in): a few hundred microseconds, where
    pyroute2's own `netns=` forks a helper process, 10-40 ms each time.
    """
    ipr: Rtnl  # an IPRoute
    if namespace is None:
        ipr = IPRoute(groups=0)
    else:
        fd = run_in_namespace(namespace, _rtnetlink_socket_fd)
        try:
            ipr = IPRoute(fileno=fd, groups=0)
        except BaseException:
            os.close(fd)
            raise
    try:
        yield ipr
    finally:
        ipr.close()


def _on_own_thread(function: Callable[[*Ts], R], *args: *Ts) -> R:
    """Run `function` on a new thread and return its result or raise its error.

    For calls that move the thread into another network namespace: that
    changes only the calling thread, and this one ends right after, so no
    other thread ever runs in the wrong namespace.
    """
    values: list[R] = []
    errors: list[BaseException] = []

    def call() -> None:
        try:
            values.append(function(*args))
        except BaseException as exc:  # handed to the caller's thread below
            errors.append(exc)

    thread = threading.Thread(target=call, name='netns-helper')
    thread.start()
    thread.join()
    if errors:
        raise errors[0]
    return values[0]


def _enter_and_call(name: str, function: Callable[[*Ts], R], args: tuple[*Ts]) -> R:
    fd = os.open(namespace_path(name), os.O_RDONLY)
    try:
        if _libc.setns(fd, CLONE_NEWNET) != 0:
            raise OSError(ctypes.get_errno(), 'setns into %s failed' % name)
    finally:
        os.close(fd)
    return function(*args)


def run_in_namespace(name: str, function: Callable[[*Ts], R], *args: *Ts) -> R:
    """Call `function` on a short-lived thread inside namespace `name`.

    /proc/sys/net and new sockets follow the thread's namespace.
    """
    return _on_own_thread(_enter_and_call, name, function, args)


def _write_sysctls(settings: Mapping[str, int], optional: Container[str]) -> None:
    for key, value in settings.items():
        path = os.path.join('/proc/sys', key)
        try:
            with open(path, 'w') as f:
                f.write(str(value))
        except FileNotFoundError:
            if key not in optional:
                raise


def write_sysctls(
    namespace: str | None, settings: Mapping[str, int], optional: Collection[str] = ()
) -> None:
    """Write {'net/ipv4/ip_nonlocal_bind': 1, ...} inside `namespace`
    (None: our own). Keys in `optional` may be absent from this kernel."""
    if namespace is None:
        _write_sysctls(settings, optional)
    else:
        run_in_namespace(namespace, _write_sysctls, settings, set(optional))


# -- links and addresses ------------------------------------------------------


SIOCGIFINDEX = 0x8933
IFREQ = struct.Struct('16si')  # struct ifreq: the name, then ifr_ifindex


def link_index(ipr: Rtnl, ifname: str) -> int | None:
    """The index of `ifname` in the namespace of `ipr`'s socket, or None.

    SIOCGIFINDEX on the rtnetlink socket itself (any socket answers it for
    its own namespace): about 1 us, where pyroute2's link_lookup decoded the
    whole link message in Python (about 320 us), several times per plug.
    """
    try:
        reply = fcntl.ioctl(ipr.fileno(), SIOCGIFINDEX, IFREQ.pack(ifname.encode(), 0))
    except OSError as exc:
        if exc.errno == ENODEV:
            return None
        raise
    index: int = IFREQ.unpack(reply)[1]
    return index


def ensure_bridge(ipr: Rtnl, name: str) -> int | None:
    if link_index(ipr, name) is None:
        try:
            ipr.link('add', ifname=name, kind='bridge')
        except NetlinkError as exc:
            if exc.code != EEXIST:
                raise
    index = link_index(ipr, name)
    ipr.link('set', index=index, state='up')
    return index


def delete_link(ipr: Rtnl, ifname: str) -> bool:
    """Delete a link (a veth takes its peer with it); missing is fine."""
    index = link_index(ipr, ifname)
    if index is None:
        return False
    try:
        ipr.link('del', index=index)
    except NetlinkError as exc:
        if exc.code != ENODEV:
            raise
    return True


def ensure_veth(
    near_ns: str | None,
    near_name: str,
    far_ns: str | None,
    far_name: str,
    far_mac: str | None = None,
) -> None:
    """A veth pair `near_name` in `near_ns` <-> `far_name` in `far_ns`.

    A pair is created whole (the peer is born in its namespace), so finding
    only one half means a stale leftover of an older pair: it is removed and
    the pair made again. `far_mac` fixes the far end's MAC address.
    """
    with rtnl(near_ns) as near, rtnl(far_ns) as far:
        near_index, far_index = link_index(near, near_name), link_index(far, far_name)
        if near_index is not None and far_index is not None:
            return
        if near_index is not None:
            delete_link(near, near_name)
        if far_index is not None:
            delete_link(far, far_name)
        peer: dict[str, str | int] = {'ifname': far_name}
        if far_mac is not None:
            peer['address'] = far_mac
        if far_ns is not None:
            peer['net_ns_fd'] = far_ns
        else:
            peer['net_ns_pid'] = os.getpid()
        try:
            near.link('add', ifname=near_name, kind='veth', peer=peer)
        except NetlinkError as exc:
            if exc.code != EEXIST:  # else another thread made it just now
                raise


def enslave_and_up(ipr: Rtnl, ifname: str, bridge: str) -> None:
    index, master = link_index(ipr, ifname), link_index(ipr, bridge)
    ipr.link('set', index=index, master=master, state='up')


def _existing_addresses(ipr: Rtnl, index: int | None) -> set[tuple[str, int]]:
    return {(msg.get('address'), msg['prefixlen']) for msg in ipr.addr('dump', index=index)}


def ensure_addresses(
    ipr: Rtnl, ifname: str, addresses: Iterable[tuple[AddressLike, int]]
) -> list[str]:
    """Add each (address, prefixlen) missing on `ifname`, in order, and set it up.

    Order matters: the first IPv4 address of a subnet becomes the primary one,
    the source of connections the namespace opens on that subnet. IPv6
    addresses are added without duplicate address detection: our plan hands
    out every address once, and DAD would delay their use by 1-2 s.
    Returns the addresses it added.
    """
    index = link_index(ipr, ifname)
    present = _existing_addresses(ipr, index)
    added = []
    for given, prefixlen in addresses:
        address = str(ipaddress.ip_address(given))
        if (address, prefixlen) in present:
            continue
        flags = IFA_F_NODAD if ':' in address else 0
        try:
            ipr.addr('add', index=index, address=address, prefixlen=prefixlen, flags=flags)
            added.append(address)
        except NetlinkError as exc:
            if exc.code != EEXIST:
                raise
    ipr.link('set', index=index, state='up')
    return added


def link_names(namespace: str | None = None) -> list[str]:
    """Every link's name in `namespace` (None: our own), sorted.

    libc's if_nameindex: one dump parsed in C. pyroute2 decoded every
    attribute of every link in Python, and the fabric holds a port per
    amphora: with 100 amphorae that was a third of the worker's CPU while
    it built and deleted them.
    """
    pairs = (
        socket.if_nameindex()
        if namespace is None
        else run_in_namespace(namespace, socket.if_nameindex)
    )
    return sorted(name for _, name in pairs)
