"""The wake-up seam: UDP by default, oslo.messaging when transport_url is set."""
import logging
import socket
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from lbaas import config, wakeup
from lbaas.db import work


@pytest.fixture(autouse=True)
def conf():
    config.load([], [])
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(('127.0.0.1', 0))
        port = sock.getsockname()[1]
    config.CONF.set_override('wakeup_address', '127.0.0.1:%d' % port, 'controller_worker')
    wakeup.reset()
    yield config.CONF
    config.CONF.reset()
    wakeup.reset()


def broker(url='rabbit://guest:guest@127.0.0.1:1/'):
    """Set transport_url (port 1: nothing listens there)."""
    wakeup.register_options()
    config.CONF.set_override('transport_url', url)


def test_udp_is_the_default_and_carries_the_ids():
    assert not wakeup.broker_configured()
    assert isinstance(wakeup.sender(), wakeup.UdpSender)
    listener = wakeup.listener()
    try:
        assert isinstance(listener, wakeup.UdpListener)
        wakeup.notify(['lb-1', 'lb-2'])
        received = listener.wait(2)
        received += listener.wait(0.2)
        assert sorted(received) == ['lb-1', 'lb-2']
        assert listener.wait(0.05) == []
    finally:
        listener.close()


def hear(listener, count):
    """What `listener` receives until it has `count` ids (or hears nothing
    for 5 s), then whatever else comes within 0.2 s: duplicates, echoes."""
    received = []
    while len(received) < count:
        ids = listener.wait(5)
        if not ids:
            break
        received += ids
    return sorted(received + listener.wait(0.2))


def listeners_hear(count, address):
    """Three workers' listeners on one address, waiting at once (as the
    workers of one host do) while one wake-up per id is sent."""
    config.CONF.set_override('wakeup_address', address, 'controller_worker')
    listeners = [wakeup.listener() for _ in range(3)]
    try:
        with ThreadPoolExecutor(len(listeners)) as pool:
            heard = [pool.submit(hear, listener, count) for listener in listeners]
            wakeup.notify(['lb-%d' % n for n in range(1, count + 1)])
            return [future.result() for future in heard]
    finally:
        for listener in listeners:
            listener.close()


def test_every_worker_on_the_host_hears_each_wake_up_once():
    # The kernel hands the datagram to one of the three; it forwards it to
    # the others through the loopback group, and not back to itself.
    address = config.CONF.controller_worker.wakeup_address
    assert listeners_hear(2, address) == [['lb-1', 'lb-2']] * 3


def test_a_wildcard_address_does_not_forward_the_forwards():
    # Bound to 0.0.0.0, the address would also receive the group's datagrams
    # (and forward them again, for ever) but for IP_MULTICAST_ALL.
    port = config.CONF.controller_worker.wakeup_address.rpartition(':')[2]
    assert listeners_hear(1, '0.0.0.0:%s' % port) == [['lb-1']] * 3


def test_forwards_never_leave_the_host():
    listener = wakeup.listener()
    try:
        forwarder = listener.group.forwarder
        assert forwarder.getsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_TTL) == 0
        interface = forwarder.getsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_IF, 4)
        assert socket.inet_ntoa(interface) == '127.0.0.1'
        assert listener.group.address[0].startswith('239.255.')  # local scope
    finally:
        listener.close()


def test_without_multicast_one_worker_still_hears(monkeypatch, caplog):
    def no_multicast(port):
        raise OSError(19, 'No such device')

    monkeypatch.setattr(wakeup, 'LoopbackGroup', no_multicast)
    listener = wakeup.listener()
    try:
        assert listener.group is None
        assert 'no multicast on the loopback interface' in caplog.text
        wakeup.notify(['lb-1'])
        assert hear(listener, 1) == ['lb-1']
    finally:
        listener.close()


def test_transport_url_selects_the_broker(monkeypatch):
    broker()
    assert wakeup.broker_configured()
    made = []
    monkeypatch.setattr(wakeup, 'BrokerListener', lambda: made.append(1) or 'broker')
    assert wakeup.listener() == 'broker' and made == [1]
    assert isinstance(wakeup.sender(), wakeup.BrokerSender)
    assert wakeup.sender() is wakeup.sender()  # one per process


def test_a_forked_child_makes_its_own_sender(monkeypatch):
    first = wakeup.sender()
    monkeypatch.setattr(wakeup.os, 'getpid', lambda: -1)
    assert wakeup.sender() is not first


def test_an_unreachable_broker_never_blocks_and_warns_once(caplog):
    broker()
    sender = wakeup.BrokerSender()
    started = time.monotonic()
    for _ in range(50):
        wakeup.notify(['lb-1'])  # through the module's sender: queued only
    assert time.monotonic() - started < 0.5
    with caplog.at_level(logging.WARNING, logger='lbaas.wakeup'):
        for _ in range(3):
            sender.send(['lb-1'])  # the cast itself, as the sender thread makes it
    unreachable = [r for r in caplog.records if 'message broker unreachable' in r.getMessage()
                   and r.threadName == 'MainThread']  # not the module's sender thread
    assert len(unreachable) == 1
    assert sender.down_since is not None and sender.client is None


def test_a_failing_sender_never_fails_the_write(monkeypatch, caplog):
    class Broken:
        def notify(self, lb_ids):
            raise RuntimeError('boom')

    monkeypatch.setattr(wakeup, 'sender', Broken)
    wakeup.notify(['lb-1'])  # logged, not raised
    assert 'boom' in caplog.text


def test_the_unit_of_work_notifies_once_per_commit_with_every_lb(monkeypatch):
    sent = []
    unit = work.UnitOfWork(sent.append)

    class Session:
        info: dict = {}

    from contextlib import contextmanager

    @contextmanager
    def writing():
        yield Session()

    monkeypatch.setattr(work.db, 'writing', writing)
    with unit.writing() as session:
        for lb_id in ('a', 'b', 'a'):
            work.notify_after_commit(session, lb_id)
    assert sent == [['a', 'b']]
    with pytest.raises(ValueError), unit.writing() as session:
        work.notify_after_commit(session, 'c')
        raise ValueError('rolled back')
    assert sent == [['a', 'b']]
