"""Wake-ups from the API to the workers: hints, never the source of truth.

After a write commits, the unit of work (`lbaas/db/work.py`) tells the
workers which load balancers have work; a worker that misses it still finds
the work on its next poll, so a lost wake-up costs latency, not correctness.

Two transports behind one seam (`Sender`, `Listener`):

- UDP datagrams (the default): one datagram per LB id to every address of
  `[controller_worker] wakeup_address`. Needs no broker: the embedded case.
  The kernel gives a unicast datagram to one of the workers bound to the
  address, and that worker passes it on, over a multicast group on the
  loopback interface, to every other worker of its host (`UdpListener`).
- oslo.messaging, when `[DEFAULT] transport_url` is set: a fanout cast of
  the ids on the `lbaas-worker` topic, which every worker on every host
  receives. Fanout rather than a cast to one worker of the pool: whichever
  worker has a free thread claims the LB through its lease (a compare-and-set,
  so the others' tries are harmless), and a worker that is busy or hung
  cannot swallow the only wake-up. It costs each worker one cheap look per
  write. The cast runs on a sender thread with no retries, so the API never
  waits for or fails on the broker; an outage logs one warning, and the
  workers' polling covers it.

The transport sits beside `wire.py` at the bottom of the layers.
"""

from __future__ import annotations

import logging
import os
import queue
import select
import socket
import threading
import time
import warnings
from collections.abc import Sequence
from typing import Any, Protocol

from lbaas import config

LOG = logging.getLogger(__name__)
TOPIC = 'lbaas-worker'
_QUEUED = 10000  # ids waiting for the sender thread; more are dropped (the poll finds them)


class Sender(Protocol):
    def notify(self, lb_ids: Sequence[str]) -> None:
        """Tell the workers these LBs have work; never blocks, never raises."""


class Listener(Protocol):
    def wait(self, timeout: float | None) -> list[str]:
        """Ids received within `timeout` seconds (empty list on timeout)."""

    def close(self) -> None: ...


def messaging() -> Any:
    """oslo_messaging, imported on first use (futurist pulls in eventlet,
    whose import warns; nothing is monkey-patched)."""
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')
        import oslo_messaging  # type: ignore[import-untyped]
    return oslo_messaging


def register_options() -> None:
    """oslo.messaging's `[DEFAULT] transport_url` and `control_exchange`."""
    if 'transport_url' not in config.CONF:
        messaging().TransportURL.parse(config.CONF)  # registers them, then parses


def broker_configured() -> bool:
    """True when `[DEFAULT] transport_url` (oslo.messaging's option) is set."""
    register_options()
    location = config.CONF.get_location('transport_url')
    return location is not None and location.location.name != 'opt_default'


# -- UDP ---------------------------------------------------------------------


def _addresses() -> list[tuple[str, int]]:
    result = []
    for item in config.CONF.controller_worker.wakeup_address.split(','):
        host, _, port = item.strip().rpartition(':')
        if host and port:
            result.append((host.strip('[]'), int(port)))
    return result


class UdpSender:
    def __init__(self) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.setblocking(False)

    def notify(self, lb_ids: Sequence[str]) -> None:
        for lb_id in lb_ids:
            try:
                for address in _addresses():
                    self.sock.sendto(lb_id.encode(), address)
            except OSError as exc:  # nobody listening is fine: the poll finds it
                LOG.debug('wake-up for %s not sent: %s', lb_id, exc)


# Each worker of a host binds the configured address, but the kernel hands a
# unicast datagram to only one socket bound to it (the last bound; with
# SO_REUSEPORT, one picked by a hash of the sender's address: still one). So
# the worker that gets a wake-up forwards it to a multicast group that every
# worker of the host joins on the loopback interface, and the kernel copies
# it to each member. The forwarding is on the receiving end, not the
# sender's, because the sender may be on another host (one address per
# worker host) and the group must never leave this one: it is joined on lo
# only and sent to with TTL 0 out of lo. A worker that misses the group
# still polls, so a failure here costs latency only.
_GROUP = '239.255.77.77'  # RFC 2365 organisation-local scope; used on lo only
_LOOPBACK = '127.0.0.1'
# Linux's IP_MULTICAST_ALL, which Python names only from 3.12.
_IP_MULTICAST_ALL = getattr(socket, 'IP_MULTICAST_ALL', 49)
_DATAGRAM = 256  # bytes read per datagram; an LB id is 36

_Option = tuple[int, int, int | bytes]  # setsockopt's level, name, value


def _udp_socket(bound: tuple[str, int], *options: _Option) -> socket.socket:
    """A non-blocking UDP socket with `options` set, bound to `bound`
    (closed again if any step fails)."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        sock.setblocking(False)
        for level, name, value in options:
            sock.setsockopt(level, name, value)
        sock.bind(bound)
    except OSError:
        sock.close()
        raise
    return sock


def _member(port: int) -> socket.socket:
    """A socket in the loopback group on `port`, beside the other workers'."""
    sock = _udp_socket(
        (_GROUP, port),
        (socket.SOL_SOCKET, socket.SO_REUSEADDR, 1),
        (socket.IPPROTO_IP, _IP_MULTICAST_ALL, 0),  # this group, on lo, only
    )
    membership = socket.inet_aton(_GROUP) + socket.inet_aton(_LOOPBACK)
    try:
        sock.setsockopt(socket.IPPROTO_IP, socket.IP_ADD_MEMBERSHIP, membership)
    except OSError:
        sock.close()
        raise
    return sock


def _forwarder() -> socket.socket:
    """The socket a worker forwards wake-ups to the group from: out of lo,
    TTL 0 (never off this host), looped back to the members. Bound to a port
    of its own, so that the worker knows its own forwards (`LoopbackGroup`)."""
    return _udp_socket(
        (_LOOPBACK, 0),
        (socket.IPPROTO_IP, socket.IP_MULTICAST_IF, socket.inet_aton(_LOOPBACK)),
        (socket.IPPROTO_IP, socket.IP_MULTICAST_TTL, 0),
        (socket.IPPROTO_IP, socket.IP_MULTICAST_LOOP, 1),
    )


def _read(sock: socket.socket) -> list[tuple[bytes, tuple[str, int]]]:
    """Every datagram queued on `sock`, with its source, without waiting."""
    found = []
    try:
        while True:
            found.append(sock.recvfrom(_DATAGRAM))
    except BlockingIOError:
        return found


def _ids(datagrams: list[tuple[bytes, tuple[str, int]]]) -> list[str]:
    return [data.decode(errors='replace') for data, _ in datagrams]


class LoopbackGroup:
    """This worker's membership of its host's group, and its way in."""

    def __init__(self, port: int) -> None:
        self.address = (_GROUP, port)
        self.member = _member(port)
        try:
            self.forwarder = _forwarder()
        except OSError:
            self.member.close()
            raise
        self.source: tuple[str, int] = self.forwarder.getsockname()

    def forward(self, datagrams: list[tuple[bytes, tuple[str, int]]]) -> None:
        for data, _ in datagrams:
            try:
                self.forwarder.sendto(data, self.address)
            except OSError as exc:  # the other workers' poll finds it
                LOG.debug('wake-up not forwarded to the workers of this host: %s', exc)

    def read(self) -> list[tuple[bytes, tuple[str, int]]]:
        """What the other workers forwarded (this one's own it has already)."""
        return [(data, src) for data, src in _read(self.member) if src != self.source]

    def close(self) -> None:
        self.member.close()
        self.forwarder.close()


def _join(port: int, unicast: socket.socket) -> LoopbackGroup | None:
    """The loopback group, or None (then one worker of the host hears each
    wake-up and the others poll, as without it)."""
    try:
        # Else a unicast socket bound to 0.0.0.0 would get the group's
        # datagrams too and forward them again, for ever.
        unicast.setsockopt(socket.IPPROTO_IP, _IP_MULTICAST_ALL, 0)
        return LoopbackGroup(port)
    except OSError as exc:
        LOG.warning(
            'wake-ups: no multicast on the loopback interface (%s); of several '
            'workers on this host only one hears each wake-up, the others poll',
            exc,
        )
        return None


class UdpListener:
    """The worker's end: the configured address, bound by every worker of the
    host, and the host's loopback group."""

    def __init__(self) -> None:
        host, port = _addresses()[0]
        self.sock = _udp_socket((host, port), (socket.SOL_SOCKET, socket.SO_REUSEADDR, 1))
        self.group = _join(port, self.sock)
        # poll, not select: a worker may hold more than FD_SETSIZE descriptors.
        self.poller = select.poll()
        for sock in [self.sock] + ([self.group.member] if self.group else []):
            self.poller.register(sock, select.POLLIN)

    def wait(self, timeout: float | None) -> list[str]:
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            left = None if deadline is None else max(0.0, deadline - time.monotonic())
            if not self.poller.poll(None if left is None else left * 1000):
                return []
            ids = self._received()
            if ids:  # else only this worker's own forwards came back: wait on
                return ids

    def _received(self) -> list[str]:
        """The ids queued now; those that came to the address are forwarded."""
        direct = _read(self.sock)
        if self.group is None:
            return _ids(direct)
        self.group.forward(direct)
        return _ids(direct) + _ids(self.group.read())

    def close(self) -> None:
        self.sock.close()
        if self.group is not None:
            self.group.close()


# -- oslo.messaging ----------------------------------------------------------


def _drain(ids: queue.Queue[str], timeout: float | None) -> list[str]:
    """The first id within `timeout` (None: wait for ever), then all queued."""
    try:
        found = [ids.get(timeout=timeout)]
    except queue.Empty:
        return []
    while True:
        try:
            found.append(ids.get_nowait())
        except queue.Empty:
            return found


class _SenderThreadOnly(logging.Filter):
    """Drops oslo.messaging's own errors for the sender thread's casts: it
    logs one warning per outage instead of two errors per wake-up."""

    def filter(self, record: logging.LogRecord) -> bool:
        return record.threadName != _SENDER_THREAD


_SENDER_THREAD = 'wakeup-sender'
_RETRY_PAUSE = 1.0  # seconds between casts while the broker is away


class BrokerSender:
    """Casts on a thread of its own: `notify` only queues, so a broker that is
    down or slow never holds up the write that asked for the wake-up."""

    def __init__(self) -> None:
        self.ids: queue.Queue[str] = queue.Queue(_QUEUED)
        self.transport: Any = None
        self.client: Any = None
        self.down_since: float | None = None
        rabbit_log = logging.getLogger('oslo.messaging._drivers.impl_rabbit')
        if not any(isinstance(f, _SenderThreadOnly) for f in rabbit_log.filters):
            rabbit_log.addFilter(_SenderThreadOnly())
        threading.Thread(target=self._run, name=_SENDER_THREAD, daemon=True).start()

    def notify(self, lb_ids: Sequence[str]) -> None:
        for lb_id in lb_ids:
            try:
                self.ids.put_nowait(lb_id)
            except queue.Full:
                return

    def _run(self) -> None:
        while True:
            self.send(sorted(set(_drain(self.ids, None))))
            if self.down_since is not None:
                time.sleep(_RETRY_PAUSE)  # what arrives meanwhile goes in one cast

    def send(self, lb_ids: list[str]) -> None:
        """One fanout cast of `lb_ids`; a failure is logged once per outage."""
        try:
            if self.client is None:
                oslo = messaging()
                self.transport = oslo.get_rpc_transport(config.CONF)
                target = oslo.Target(topic=TOPIC, fanout=True)
                # retry=0: one connection attempt, then give up (the poll covers it)
                self.client = oslo.get_rpc_client(self.transport, target, retry=0)
            self.client.cast({}, 'wake', lb_ids=lb_ids)
        except Exception as exc:
            self._drop_connection()
            if self.down_since is None:
                self.down_since = time.monotonic()
                LOG.warning(
                    'wake-ups: message broker unreachable (%s); workers find the work '
                    'by polling until it is back',
                    exc,
                )
            return
        if self.down_since is not None:
            LOG.warning(
                'wake-ups: message broker back after %.1fs', time.monotonic() - self.down_since
            )
            self.down_since = None

    def _drop_connection(self) -> None:
        """Start afresh on the next cast (a broken pooled connection would
        otherwise keep its heartbeat thread retrying)."""
        transport, self.transport, self.client = self.transport, None, None
        if transport is not None:
            try:
                transport.cleanup()
            except Exception as exc:
                LOG.debug('wake-ups: closing the broker connection: %s', exc)


class _Endpoint:
    """The RPC method the worker exposes: `wake(lb_ids)`."""

    def __init__(self, ids: queue.Queue[str]) -> None:
        self.ids = ids

    def wake(self, ctxt: dict[str, Any], lb_ids: list[str]) -> None:
        for lb_id in lb_ids:
            self.ids.put(str(lb_id))


class BrokerListener:
    """An RPC server on the `lbaas-worker` topic, started on a thread of its
    own: oslo.messaging connects (and reconnects after an outage, with the
    `[oslo_messaging_rabbit]` backoff) while the worker goes on polling."""

    def __init__(self) -> None:
        self.ids: queue.Queue[str] = queue.Queue()
        self.lock = threading.Lock()
        self.closed = False
        self.server: Any = None
        threading.Thread(target=self._start, name='wakeup-listener', daemon=True).start()

    def _start(self) -> None:
        try:
            oslo = messaging()
            transport = oslo.get_rpc_transport(config.CONF)
            target = oslo.Target(topic=TOPIC, server=config.CONF.host)
            server = oslo.get_rpc_server(transport, target, [_Endpoint(self.ids)])
            server.start()  # waits, retrying, until the broker answers
        except Exception:
            LOG.exception('wake-ups: cannot listen on the message broker; polling only')
            return
        with self.lock:
            self.server = server
            closed = self.closed
        if closed:
            self._stop(server)
        else:
            LOG.info('wake-ups: listening on topic %s of the message broker', TOPIC)

    def wait(self, timeout: float | None) -> list[str]:
        return _drain(self.ids, timeout)

    def close(self) -> None:
        with self.lock:
            self.closed = True
            server, self.server = self.server, None
        if server is not None:
            self._stop(server)

    @staticmethod
    def _stop(server: Any) -> None:
        try:
            server.stop()
            server.wait()
        except Exception as exc:
            LOG.debug('wake-ups: stopping the broker listener: %s', exc)


# -- selection ---------------------------------------------------------------

_sender: tuple[int, Sender] | None = None  # (pid, sender): a forked child makes its own
_sender_lock = threading.Lock()


def sender() -> Sender:
    """This process's sender, chosen by the configuration on first use."""
    global _sender
    with _sender_lock:
        if _sender is None or _sender[0] != os.getpid():
            chosen: Sender = BrokerSender() if broker_configured() else UdpSender()
            _sender = (os.getpid(), chosen)
        return _sender[1]


def listener() -> Listener:
    """The worker's end, on the transport the configuration names."""
    return BrokerListener() if broker_configured() else UdpListener()


def reset() -> None:
    """Forget the chosen sender (tests that change the configuration)."""
    global _sender
    with _sender_lock:
        _sender = None


def notify(lb_ids: Sequence[str]) -> None:
    """Wake the workers for `lb_ids`; never blocks on, nor fails for, the transport."""
    if lb_ids:
        try:
            sender().notify(lb_ids)
        except Exception as exc:  # a wake-up is a hint: the poll finds the work
            LOG.warning('wake-up for %s not sent: %s', ', '.join(lb_ids), exc)


def nudge(lb_id: str) -> None:
    notify([lb_id])
