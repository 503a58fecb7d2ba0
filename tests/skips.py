"""Skipping a tier whose machine lacks something, and saying so on the console."""

import sys

import pytest


def skip_if(reason, what):
    """Skip (`reason` not None), printing which tests and why: `-q` runs
    show skip reasons only in the summary, and a whole tier going quiet
    should be visible where it happens."""
    if reason:
        print('\nskipping %s: %s' % (what, reason), file=sys.stderr)
        pytest.skip(reason)
