"""The circuit breaker: when many amphorae fall silent at once, fail none over.

Amphorae rarely die together; when they seem to, the likelier fault is on
our side (the controller's network, a stopped fabric, a clock jump), and
rebuilding every load balancer at once would turn it into an outage. The
breaker opens when the silent amphorae number at least
`failover_threshold` (Octavia's option, if set) or more than
`failover_threshold_share` of the monitored ones (1.0 turns this off; it
needs two monitored amphorae to mean anything), and stays open until the
count drops below both limits again.
"""

from __future__ import annotations

import logging

LOG = logging.getLogger(__name__)


def hold(silent: int, monitored: int, threshold: int | None, share: float) -> bool:
    """Whether `silent` of `monitored` amphorae are too many to fail over."""
    if silent <= 0:
        return False
    if threshold is not None and silent >= threshold:
        return True
    return share < 1.0 and monitored >= 2 and silent > share * monitored


class Breaker:
    """`hold()` with memory, so that opening and closing are logged once each."""

    def __init__(self) -> None:
        self.open = False

    def check(self, silent: int, monitored: int, threshold: int | None, share: float) -> bool:
        """True while failovers are held back."""
        tripped = hold(silent, monitored, threshold, share)
        if tripped and not self.open:
            LOG.error(
                'circuit breaker open: %d of %d monitored amphorae are silent '
                '(failover_threshold=%s, failover_threshold_share=%.2f); no amphora is '
                'failed over until heartbeats resume. To fail one over anyway, use the '
                'API (PUT /v2/lbaas/amphorae/{id}/failover or '
                '/v2/lbaas/loadbalancers/{id}/failover): it bypasses the breaker.',
                silent,
                monitored,
                threshold,
                share,
            )
        elif self.open and not tripped:
            LOG.warning(
                'circuit breaker closed: %d of %d monitored amphorae silent; failovers resume',
                silent,
                monitored,
            )
        self.open = tripped
        return tripped
