"""RestAmphora's mapping of what the agent client says onto the worker's rules.

No agent runs here: the client is a stand-in that answers or raises as told.
"""

import pytest

from lbaas import wire
from lbaas.drivers import base
from lbaas.drivers.amphora import rest
from lbaas.drivers.amphora.driver import PORT, RestAmphora

AMPHORA = base.Amphora(id='amp-1', lb_id='lb-1', lb_network_ip='198.19.0.7')
NEVER_PLUGGED = base.Amphora(id='amp-2', lb_id='lb-1')
BUNDLE = wire.ConfigBundle(haproxy_cfg='global\n')


class Client:
    """Records calls; answers with `status` or raises `error`."""

    def __init__(self, status=None, error=None):
        self.status_answer, self.error, self.calls = status, error, []

    def _answer(self, name, *args, **kwargs):
        self.calls.append((name, args))
        if self.error is not None:
            raise self.error
        return self.status_answer

    def info(self, *args, **kwargs):
        return self._answer('info', *args, **kwargs)

    def status(self, *args):
        return self._answer('status', *args)

    def put_config(self, *args):
        return self._answer('put_config', *args)

    def stats(self, *args):
        return self._answer('stats', *args)


def driver(client):
    made = RestAmphora.__new__(RestAmphora)  # no PKI: the client is a stand-in
    made.client = client
    return made


def status(digest):
    return wire.AgentStatus(amphora_id='amp-1', config_digest=digest, haproxy_running=True)


def test_push_returns_the_digest_the_agent_runs():
    client = Client(status=status('abc'))
    assert driver(client).push(AMPHORA, BUNDLE) == 'abc'
    assert client.calls == [('put_config', ('amp-1', '198.19.0.7', PORT, BUNDLE))]


def test_push_answered_without_a_digest_is_transient():
    with pytest.raises(base.TransientError):
        driver(Client(status=status(None))).push(AMPHORA, BUNDLE)


@pytest.mark.parametrize(
    'error, expected',
    [
        (rest.AgentUnreachable('amp-1', 'refused'), base.TransientError),
        (rest.AgentRejected('amp-1', 400, 'bad', 'haproxy -c said no'), base.PermanentError),
        (rest.AgentFailed('amp-1', 500, 'reload failed'), base.TransientError),
    ],
)
def test_push_maps_agent_errors(error, expected):
    with pytest.raises(expected):
        driver(Client(error=error)).push(AMPHORA, BUNDLE)


def test_an_amphora_without_a_management_address_is_unreachable():
    client = Client(status=status('abc'))
    amphorae = driver(client)
    assert amphorae.ready(NEVER_PLUGGED) is False
    assert amphorae.running_digest(NEVER_PLUGGED) is None
    with pytest.raises(base.TransientError):
        amphorae.push(NEVER_PLUGGED, BUNDLE)
    assert client.calls == []  # nothing was sent anywhere
