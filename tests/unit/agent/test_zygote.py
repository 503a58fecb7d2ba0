"""The agent zygote's protocol, without namespaces: a request it cannot
carry out is answered with the reason, it keeps serving after one, and it
ends when the controller closes its end. (Agents forked into real
namespaces: tests/contract/test_agent_zygote.py.)"""

import os
import sys

import pytest

from lbaas.drivers.netns.compute import _agent_environment
from lbaas.drivers.netns.processes import process_running
from lbaas.drivers.netns.zygote import Zygote, ZygoteError


@pytest.fixture
def zygote():
    made = Zygote(sys.executable, _agent_environment())
    yield made
    made.close()


def test_a_namespace_that_does_not_exist_is_answered_with_the_reason(zygote, tmp_path):
    console = str(tmp_path / 'console')
    for _ in range(2):  # the same zygote answers again
        with pytest.raises(ZygoteError, match='No such file'):
            zygote.spawn(['--help'], str(tmp_path / 'no-such-namespace'), str(tmp_path), console)
    assert process_running(zygote.pid)


def test_the_zygote_ends_when_the_controller_closes_its_end(zygote, tmp_path):
    with pytest.raises(ZygoteError):
        zygote.spawn([], str(tmp_path / 'none'), str(tmp_path), os.devnull)
    pid = zygote.pid
    zygote.close()
    assert zygote.pid is None and not process_running(pid)
