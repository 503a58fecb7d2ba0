"""The circuit breaker's decisions, and that it speaks once per change."""

import logging

import pytest

from lbaas.controller.health import breaker


@pytest.mark.parametrize(
    'silent, monitored, threshold, share, held',
    [
        (0, 0, None, 0.5, False),
        (0, 10, 1, 0.0, False),  # nothing silent: nothing to hold
        (1, 1, None, 0.5, False),  # one amphora alone: the share means nothing
        (1, 2, None, 0.5, False),  # half is not more than half
        (2, 3, None, 0.5, True),
        (5, 10, None, 0.5, False),
        (6, 10, None, 0.5, True),
        (10, 10, None, 1.0, False),  # share 1.0: off
        (3, 100, 3, 1.0, True),  # Octavia's threshold: at least
        (2, 100, 3, 1.0, False),
        (2, 3, 5, 0.5, True),  # either limit trips it
    ],
)
def test_hold(silent, monitored, threshold, share, held):
    assert breaker.hold(silent, monitored, threshold, share) is held


def test_opening_and_closing_are_logged_once(caplog):
    caplog.set_level(logging.INFO)
    b = breaker.Breaker()
    assert b.check(1, 10, None, 0.5) is False
    assert b.check(8, 10, None, 0.5) is True
    assert b.check(9, 10, None, 0.5) is True
    assert b.check(6, 10, None, 0.5) is True  # still more than half: held
    assert b.check(2, 10, None, 0.5) is False
    assert b.check(1, 10, None, 0.5) is False
    errors = [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR]
    assert len(errors) == 1 and '8 of 10' in errors[0] and 'bypasses the breaker' in errors[0]
    closed = [r for r in caplog.records if 'circuit breaker closed' in r.getMessage()]
    assert len(closed) == 1
