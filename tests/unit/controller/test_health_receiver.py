"""The receiver's checks and the inbox, on no database and no socket."""

import socket
import time
import zlib

import pytest

from lbaas import wire
from lbaas.controller.health import receiver

KEY = b'test-key'


class Roster:
    def __init__(self, known):
        self.known = known

    def lookup(self, amphora_id):
        return self.known.get(amphora_id)


def make(known=None):
    inbox = receiver.Inbox()
    roster = Roster(known if known is not None else {'amp-1': ('lb-1', 'STANDALONE')})
    return receiver.Receiver(None, KEY, inbox, roster), inbox


def beat(seq, amphora_id='amp-1', key=KEY, **fields):
    return wire.encode_heartbeat({'id': amphora_id, 'seq': seq, 'ver': 3, **fields}, key)


def test_each_kind_of_bad_datagram_is_dropped_and_counted():
    rx, inbox = make()
    assert rx.handle(beat(5)) == 'accepted'
    assert rx.handle(beat(5)) == 'replayed'
    assert rx.handle(beat(4)) == 'replayed'
    assert rx.handle(beat(6, key=b'other')) == 'forged'
    payload = zlib.compress(b'not json')
    assert rx.handle(payload + wire._heartbeat_mac(payload, KEY)) == 'garbled'
    assert rx.handle(beat(7, listeners={'l': 'OPEN'})) == 'garbled'
    assert rx.handle(b'x' * 70000) == 'oversized'
    assert rx.handle(beat(8, amphora_id='amp-2')) == 'unknown'
    assert rx.handle(beat(9)) == 'accepted'
    assert dict(rx.counts) == {'accepted': 2, 'replayed': 2, 'forged': 1, 'garbled': 2,
                               'oversized': 1, 'unknown': 1}
    batch = inbox.take()
    assert list(batch) == ['amp-1'] and batch['amp-1'].report.seq == 9
    assert batch['amp-1'].lb_id == 'lb-1' and inbox.take() == {}


def listener(tx, conns, cumulative):
    stats = {'tx': tx, 'rx': 0, 'totconns': 0, 'ereq': 0, 'conns': conns}
    entry = {'status': 'OPEN', 'stats': stats}
    if cumulative:
        entry['totals'] = {'tx': tx, 'rx': 0, 'totconns': 0, 'ereq': 0}
    return entry


def test_the_inbox_keeps_the_newest_report_and_adds_up_deltas():
    rx, inbox = make()
    rx.handle(beat(1, listeners={'l': listener(10, 1, False), 't': listener(5, 1, True)}))
    rx.handle(beat(2, listeners={'l': listener(7, 2, False), 't': listener(9, 2, True)}))
    heard = inbox.take()['amp-1']
    assert heard.report.seq == 2
    assert heard.report.traffic['l'].counters[1] == 17  # deltas summed
    assert heard.report.traffic['l'].conns == 2
    assert heard.report.traffic['t'].counters[1] == 9  # totals replaced


def test_a_batch_that_failed_goes_back_under_newer_reports():
    rx, inbox = make()
    rx.handle(beat(1, listeners={'l': listener(10, 1, False)}))
    failed = inbox.take()
    rx.handle(beat(2, listeners={'l': listener(3, 1, False)}))
    inbox.restore(failed)
    heard = inbox.take()['amp-1']
    assert heard.report.seq == 2 and heard.report.traffic['l'].counters[1] == 13


def test_the_socket_binds_to_an_address_that_does_not_exist_yet():
    sock = receiver.open_socket(('198.19.255.254', 0))  # no interface has it
    try:
        assert sock.getsockname()[0] == '198.19.255.254'
    finally:
        sock.close()


def test_drain_reads_what_waits_and_returns():
    sock = receiver.open_socket(('127.0.0.1', 0))
    rx, inbox = make()
    rx.sock = sock
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sender:
        for seq in (1, 2, 3):
            sender.sendto(beat(seq), sock.getsockname())
    time.sleep(0.05)
    rx.drain()
    sock.close()
    assert rx.counts['accepted'] == 3 and inbox.take()['amp-1'].report.seq == 3


@pytest.mark.parametrize('seq', [True, '1', 1.5])
def test_a_seq_that_is_not_an_integer_is_garbled(seq):
    rx, _ = make()
    assert rx.handle(wire.encode_heartbeat({'id': 'amp-1', 'seq': seq}, KEY)) == 'garbled'
