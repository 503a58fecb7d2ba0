"""The PING health monitor's external check."""

import os

import pytest

from lbaas.agent import ping_check


def test_wrapper_runs_the_module_with_the_given_python(tmp_path):
    path = str(tmp_path / 'ping-check.sh')
    ping_check.install_wrapper(path, python='/opt/venv/bin/python')
    with open(path) as f:
        text = f.read()
    assert text.startswith('#!/bin/sh\n')
    assert 'exec /opt/venv/bin/python -m lbaas.agent.ping_check "$@"' in text
    assert os.stat(path).st_mode & 0o777 == 0o700


def test_echo_request_checksum_verifies():
    packet = ping_check._echo_request(4, 0x1234)
    assert ping_check._checksum(packet) == 0  # a correct checksum sums to zero


@pytest.mark.skipif(os.geteuid() != 0, reason='raw ICMP sockets need root')
@pytest.mark.parametrize('address', ['127.0.0.1', '::1'])
def test_loopback_answers(address):
    assert ping_check.ping(address, timeout=1.0)
    assert ping_check.main(['check', '', '', address]) == 0
