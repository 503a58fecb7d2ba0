"""A heartbeat message checked and typed once, as it arrives.

`wire.decode_heartbeat` vouches for the envelope (HMAC, size, the id and
seq fields); `parse` checks the rest, so that nothing past the receiver
meets a value of the wrong type. A message that does not fit is garbled.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping

from lbaas.controller.health import mapping

# listener_statistics columns, in the order of `Counters`, with the
# heartbeat's names for them.
COLUMNS = ('bytes_in', 'bytes_out', 'total_connections', 'request_errors')
_NAMES = ('rx', 'tx', 'totconns', 'ereq')
Counters = tuple[int, int, int, int]


class Malformed(ValueError):
    """The message has the envelope's fields but not the expected contents."""


@dataclasses.dataclass(frozen=True, slots=True)
class Traffic:
    """One listener's counters: totals since the amphora first started (or,
    from a sender without them, what was added since its last message)."""

    counters: Counters
    cumulative: bool
    conns: int  # connections open now


@dataclasses.dataclass(frozen=True, slots=True)
class Report:
    amphora_id: str
    seq: int
    seen: mapping.Seen
    traffic: Mapping[str, Traffic]  # listener id -> counters


def _dict(value: object, what: str) -> dict[str, object]:
    if not isinstance(value, dict):
        raise Malformed('%s is not an object' % what)
    return value


def _count(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise Malformed('a counter is not a non-negative integer')
    return value


def _counters(data: dict[str, object]) -> Counters:
    a, b, c, d = (_count(data.get(name, 0)) for name in _NAMES)
    return a, b, c, d


def _text(value: object) -> str:
    if not isinstance(value, str):
        raise Malformed('a status is not text')
    return value


def _listeners(
    raw: dict[str, object],
) -> tuple[dict[str, str | None], dict[str, Traffic]]:
    statuses: dict[str, str | None] = {}
    traffic: dict[str, Traffic] = {}
    for listener_id, value in raw.items():
        entry = _dict(value, 'a listener')
        statuses[listener_id] = mapping.listener_status(_text(entry.get('status', '')))
        stats = _dict(entry.get('stats', {}), 'stats')
        conns = _count(stats.get('conns', 0))
        if 'totals' in entry:
            counters, cumulative = _counters(_dict(entry['totals'], 'totals')), True
        else:
            counters, cumulative = _counters(stats), False
        traffic[listener_id] = Traffic(counters, cumulative, conns)
    return statuses, traffic


def _pools(
    raw: dict[str, object],
) -> tuple[dict[str, str | None], dict[str, dict[str, str | None]]]:
    """Pools by pool id: a pool behind two listeners appears twice
    ("<pool>:<listener>"); the worse of the two reports stands."""
    pools: dict[str, str | None] = {}
    members: dict[str, dict[str, str | None]] = {}
    for key, value in raw.items():
        pool_id = key.partition(':')[0]
        entry = _dict(value, 'a pool')
        status = mapping.pool_status(_text(entry.get('status', '')))
        if pool_id in pools and pools[pool_id] == 'ERROR':
            status = 'ERROR'
        pools[pool_id] = status
        seen = members.setdefault(pool_id, {})
        for member_id, text in _dict(entry.get('members', {}), 'members').items():
            status = mapping.member_status(_text(text))
            seen[member_id] = (
                mapping.worse(seen[member_id], status) if member_id in seen else status
            )
    return pools, members


def parse(message: Mapping[str, object]) -> Report:
    """The typed report; Malformed if the message is not one."""
    listeners, traffic = _listeners(_dict(message.get('listeners', {}), 'listeners'))
    pools, members = _pools(_dict(message.get('pools', {}), 'pools'))
    amphora_id, seq = message['id'], message['seq']
    if not isinstance(amphora_id, str) or not isinstance(seq, int):
        raise Malformed('id or seq')  # decode_heartbeat checked these already
    return Report(amphora_id, seq, mapping.Seen(listeners, pools, members), traffic)
