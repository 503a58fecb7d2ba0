"""The Provider contract: NoopProvider (fake) and AmphoraProvider (real).

What the service layer relies on (lbaas/service/providers.py): every method
answers a reason to refuse (a non-empty string, worded for the user) or None
to accept, and never raises; capabilities are name -> description. The
amphora provider refuses exactly what its data plane cannot serve, and its
capabilities are the metadata keys it accepts in profiles.
"""

import pytest

from lbaas.service import providers
from lbaas.service.providers import AmphoraProvider, NoopProvider, Provider
from tests.contract.conftest import assert_conforms

ALGORITHMS = ('ROUND_ROBIN', 'LEAST_CONNECTIONS', 'SOURCE_IP', 'SOURCE_IP_PORT')
PROTOCOLS = ('HTTP', 'HTTPS', 'TCP', 'TERMINATED_HTTPS', 'UDP', 'SCTP', 'PROMETHEUS')
KINDS = ('flavor', 'availability_zone')


@pytest.fixture(params=[NoopProvider, AmphoraProvider], ids=['fake', 'real'])
def provider(request):
    return request.param()


def _answer(value):
    assert value is None or (isinstance(value, str) and value), value
    return value


def test_conforms(provider):
    assert_conforms(type(provider), Provider)


def test_every_question_gets_a_reason_or_none(provider):
    for algorithm in ALGORITHMS:
        _answer(provider.algorithm_refused(algorithm))
    for protocol in PROTOCOLS:
        _answer(provider.protocol_refused(protocol))
        _answer(provider.l7_refused(protocol))
    for kind in KINDS:
        table = provider.capabilities(kind)
        assert all(isinstance(k, str) and isinstance(v, str) for k, v in table.items())
        _answer(provider.profile_refused({}, kind))
        _answer(provider.profile_refused({'no_such_key': 1}, kind))


def test_the_fake_accepts_everything():
    fake = NoopProvider()
    assert not any(fake.protocol_refused(p) for p in PROTOCOLS)
    assert not any(fake.algorithm_refused(a) for a in ALGORITHMS)
    assert fake.profile_refused({'anything': True}, 'flavor') is None


def test_the_amphora_refuses_what_its_data_plane_does_not_serve(monkeypatch):
    real = AmphoraProvider()
    assert {p for p in PROTOCOLS if real.protocol_refused(p)} == providers.UNSERVED_PROTOCOLS
    # Everything Octavia names is served: UDP and SCTP through nftables.
    assert not providers.UNSERVED_PROTOCOLS
    assert real.protocol_refused('SCTP') is None and real.protocol_refused('UDP') is None
    assert not any(real.algorithm_refused(a) for a in ALGORITHMS)
    assert {p for p in PROTOCOLS if not real.l7_refused(p)} == {'HTTP', 'TERMINATED_HTTPS'}
    assert 'unexpected' in real.profile_refused({'no_such_key': 1}, 'flavor')
    assert real.profile_refused({'loadbalancer_topology': 'ACTIVE_STANDBY'}, 'flavor') is None
    # The mechanism stays: a protocol put back in the set is refused, by name.
    monkeypatch.setattr(providers, 'UNSERVED_PROTOCOLS', frozenset({'SCTP'}))
    assert 'SCTP' in (real.protocol_refused('SCTP') or '')


@pytest.mark.parametrize('kind', KINDS)
def test_the_amphora_capabilities_are_the_keys_it_accepts(kind):
    assert set(AmphoraProvider().capabilities(kind)) == set(providers.AMPHORA_SCHEMAS[kind])
