"""The AmphoraDriver contract: NoopAmphora (fake) and RestAmphora (real).

What the reconcile loop relies on (lbaas/controller/reconcile.py): ready() turns True once the
amphora is built and never raises; running_digest() is compared with the
rendered bundle's digest to decide whether to push; push() returns the
bundle's digest, after which running_digest() reports it; a configuration the
amphora refuses is a PermanentError (the LB goes to ERROR), an amphora that
cannot be reached a TransientError (retried). Statuses and counters come
with the heartbeats, not through this seam.

Certificates (lbaas/controller/certificates.py): certificate_expiry() says
when the certificate the agent presents ends (aware UTC), None when it cannot
be reached; after rotate_certificate() it reports the new certificate's end
and everything else keeps working. The real driver reaches an agent whose
certificate has expired for the rotation, and only for it: meanwhile its
pushes are a CertificateExpired, a TransientError.

The fake runs whatever the database says was pushed last: its
running_digest() reads amphora.config_digest. The tests model that for both
drivers by passing `dataclasses.replace(amphora, config_digest=<returned
digest>)` after a push, as settle.finish() records it. The fake accepts any
configuration and is never unreachable (`CAPS`).

Bundles are rendered as `reconcile.render_bundle` does: lbaas.dataplane, with
paths inside the compute driver's runtime_dir for the amphora.
"""

import dataclasses
import datetime
import inspect
import socket
import time
import uuid

import pytest

from lbaas import config, wire
from lbaas.dataplane import render
from lbaas.dataplane.viewmodel import ListenerView, LoadBalancerView, MemberView, PoolView
from lbaas.drivers import base, noop
from lbaas.drivers.amphora.driver import RestAmphora
from lbaas.drivers.pki import ControllerPKI
from tests.contract.conftest import (
    V4_SUBNET,
    Impl,
    assert_conforms,
    fake_lb,
    poll,
    protocol_methods,
    timed,
)

LB = fake_lb('198.18.0.20', V4_SUBNET)
MEMBER = '198.18.0.201'
READY_TIMEOUT = 10.0
CAPS = {
    'fake': {'validates_config': False, 'reachability': False, 'checks_certificates': False},
    'real': {'validates_config': True, 'reachability': True, 'checks_certificates': True},
}
SHORT_LIVED = 2  # seconds: a certificate that expires during the test
INVALID = '\nbackend contract-broken\n    this-is-not-a-directive 42\n'


def rest_amphora_for(env):
    """RestAmphora as the service makes it: it reads its PKI from
    `CONF.state_dir`/pki, so point state_dir at the compute driver's for the
    construction (NetnsCompute(state_dir=root).pki_dir is root/pki)."""
    config.CONF.set_override('state_dir', env.root)
    try:
        driver = RestAmphora()
    finally:
        config.CONF.clear_override('state_dir')
    assert driver.client is not None
    return driver


@pytest.fixture(scope='module', params=['fake', 'real'])
def impl(request):
    if request.param == 'fake':
        amphora_id = str(uuid.uuid4())
        compute_id = noop.NoopCompute().compute_id_for(amphora_id)
        amphora = base.Amphora(id=amphora_id, lb_id=LB.id, status='BOOTING', compute_id=compute_id)
        return Impl(
            'fake',
            noop.NoopAmphora(),
            CAPS['fake'],
            {
                'amphora': amphora,
                'runtime_dir': noop.NoopCompute().runtime_dir,
                'authority': noop.NoopCertificateAuthority(),
            },
        )
    env = request.getfixturevalue('real_env')
    # As `_build` leaves it: built, plugged, the Addressing recorded; the agent
    # is not waited for (that is what ready() is for).
    amphora_id = str(uuid.uuid4())
    started = time.monotonic()
    compute_id = env.build(amphora_id, LB.id)
    amphora = base.Amphora(id=amphora_id, lb_id=LB.id, status='BOOTING', compute_id=compute_id)
    addressing = env.network.plug_amphora(amphora, LB)
    amphora = dataclasses.replace(
        amphora,
        lb_network_ip=addressing.lb_network_ip,
        vrrp_ip=addressing.vrrp_ip,
        vrrp_port_id=addressing.vrrp_port_id,
    )
    return Impl(
        'real',
        rest_amphora_for(env),
        CAPS['real'],
        {
            'amphora': amphora,
            'runtime_dir': env.compute.runtime_dir,
            'env': env,
            'built_at': started,
            'authority': ControllerPKI(env.compute.pki_dir),
        },
    )


@pytest.fixture
def amphora(impl):
    """The module's amphora once ready() says so (built above, deleted by real_env)."""
    if not impl.driver.ready(impl.amphora):
        seen = poll(lambda: impl.driver.ready(impl.amphora), bool, READY_TIMEOUT)
        assert seen[-1], 'amphora not ready after %.0f s' % READY_TIMEOUT
    return impl.amphora


def bundle_for(impl, amphora):
    """A fresh, valid bundle (its own listener id), rendered as the controller does."""
    listener_id = str(uuid.uuid4())
    pool = PoolView(
        id=str(uuid.uuid4()),
        protocol='HTTP',
        lb_algorithm='ROUND_ROBIN',
        members=(MemberView(id=str(uuid.uuid4()), address=MEMBER, port=8080),),
    )
    view = LoadBalancerView(
        id=LB.id,
        project_id='contract',
        vips=(LB.vips[0].address,),
        listeners=(ListenerView(id=listener_id, protocol='HTTP', port=80, default_pool=pool),),
    )
    paths = render.RuntimePaths.in_state_dir(
        impl.runtime_dir(amphora.id), cert_dir='certs', pid_file=False
    )
    return wire.ConfigBundle(haproxy_cfg=render.render_haproxy(view, paths)), listener_id


def push(impl, amphora, bundle):
    started = time.monotonic()
    digest = impl.driver.push(amphora, bundle)
    if impl.name == 'real':
        timed('push', started)
    return digest


def unreachable(impl, where):
    """An amphora whose agent is not there: one never plugged (no management
    address recorded), or the controller's own management address, where
    nothing listens on the agent port."""
    if not impl.caps['reachability']:
        pytest.skip('the %s amphora driver is never unreachable' % impl.name)
    lost = dataclasses.replace(impl.amphora, id=str(uuid.uuid4()))
    if where == 'no-address':
        return dataclasses.replace(lost, lb_network_ip=None)
    address = str(impl.env.fabric.controller_ip)
    with socket.socket() as probe:
        probe.settimeout(1.0)
        if probe.connect_ex((address, wire.DEFAULT_PORT)) == 0:
            pytest.skip('something listens on %s:%d' % (address, wire.DEFAULT_PORT))
    return dataclasses.replace(lost, lb_network_ip=address)


# -- the contract ---------------------------------------------------------------------


@pytest.mark.parametrize('cls', [noop.NoopAmphora, RestAmphora], ids=['fake', 'real'])
def test_conforms_to_the_protocol(cls):
    assert_conforms(cls, base.AmphoraDriver)


def test_ready_becomes_true_after_build(impl):
    seen = poll(lambda: impl.driver.ready(impl.amphora), bool, READY_TIMEOUT)
    assert seen[-1] is True, 'not ready within %.0f s: %s' % (READY_TIMEOUT, seen)
    assert set(seen) <= {False, True}
    if impl.name == 'real':
        timed('build to ready()', impl.built_at)


def test_running_digest_differs_before_a_push(impl, amphora):
    bundle, _ = bundle_for(impl, amphora)
    running = impl.driver.running_digest(amphora)
    assert running is None or (isinstance(running, str) and running != bundle.digest())


def test_push_returns_the_digest_and_then_runs_it(impl, amphora):
    bundle, _ = bundle_for(impl, amphora)
    digest = push(impl, amphora, bundle)
    assert digest == bundle.digest()
    after = dataclasses.replace(amphora, config_digest=digest)  # what settle records
    assert impl.driver.running_digest(after) == digest
    # The next change differs again, and replaces it.
    following, _ = bundle_for(impl, amphora)
    assert impl.driver.running_digest(after) != following.digest()
    digest = push(impl, after, following)
    assert digest == following.digest()
    assert impl.driver.running_digest(dataclasses.replace(after, config_digest=digest)) == digest


def test_push_of_the_running_bundle_again(impl, amphora):
    # A put whose answer was lost is retried: same bundle, same digest.
    bundle, _ = bundle_for(impl, amphora)
    digest = push(impl, amphora, bundle)
    again = push(impl, dataclasses.replace(amphora, config_digest=digest), bundle)
    assert again == digest == bundle.digest()


def test_a_refused_configuration_is_a_permanent_error(impl, amphora):
    good, _ = bundle_for(impl, amphora)
    digest = push(impl, amphora, good)
    current = dataclasses.replace(amphora, config_digest=digest)
    bad = wire.ConfigBundle(haproxy_cfg=good.haproxy_cfg + INVALID)
    if not impl.caps['validates_config']:
        assert push(impl, current, bad) == bad.digest()  # the fake accepts anything
        return
    with pytest.raises(base.PermanentError) as raised:
        impl.driver.push(current, bad)
    assert 'refused' in str(raised.value)
    assert impl.driver.running_digest(current) == digest  # the old one still runs


@pytest.mark.parametrize('where', ['nothing-listens', 'no-address'])
def test_an_unreachable_amphora_is_not_ready_and_transient(impl, where):
    lost = unreachable(impl, where)
    started = time.monotonic()
    assert impl.driver.ready(lost) is False
    assert time.monotonic() - started < 2.0  # one quick probe
    assert impl.driver.running_digest(lost) is None
    bundle, _ = bundle_for(impl, lost)
    with pytest.raises(base.TransientError):
        impl.driver.push(lost, bundle)
    assert impl.driver.certificate_expiry(lost) is None
    with pytest.raises(base.TransientError):
        impl.driver.rotate_certificate(lost, impl.authority.issue_amphora_cert(lost.id, 600))


# -- certificates ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    'cls', [noop.NoopCertificateAuthority, ControllerPKI], ids=['fake', 'real']
)
def test_authorities_conform_to_the_protocol(cls):
    assert_conforms(cls, base.CertificateAuthority)


def now():
    return datetime.datetime.now(datetime.UTC)


def test_certificate_expiry_is_ahead_after_build(impl, amphora):
    expiry = impl.driver.certificate_expiry(amphora)
    assert expiry is not None and expiry.tzinfo is not None
    assert expiry > now() + datetime.timedelta(days=1)  # the default lifetime: 30 days


def test_rotation_is_reported_and_nothing_else_changes(impl, amphora):
    bundle, _ = bundle_for(impl, amphora)
    digest = push(impl, amphora, bundle)
    running = dataclasses.replace(amphora, config_digest=digest)
    cert = impl.authority.issue_amphora_cert(amphora.id, 600)
    impl.driver.rotate_certificate(running, cert)
    assert impl.driver.certificate_expiry(running) == cert.not_after
    assert impl.driver.ready(running) is True
    assert impl.driver.running_digest(running) == digest  # HAProxy untouched
    following, _ = bundle_for(impl, amphora)
    assert push(impl, running, following) == following.digest()


def test_a_certificate_for_another_amphora_is_refused(impl, amphora):
    if not impl.caps['checks_certificates']:
        pytest.skip('the %s amphora driver accepts any certificate' % impl.name)
    before = impl.driver.certificate_expiry(amphora)
    with pytest.raises(base.PermanentError) as refused:
        impl.driver.rotate_certificate(amphora, impl.authority.issue_amphora_cert('other', 600))
    assert 'refused the certificate' in str(refused.value)
    assert impl.driver.certificate_expiry(amphora) == before
    assert impl.driver.ready(amphora) is True


def test_an_expired_certificate_is_transient_until_rotated(impl, amphora):
    if not impl.caps['checks_certificates']:
        pytest.skip('certificates of the %s amphora driver never expire' % impl.name)
    bundle, _ = bundle_for(impl, amphora)
    impl.driver.rotate_certificate(
        amphora, impl.authority.issue_amphora_cert(amphora.id, SHORT_LIVED)
    )
    time.sleep(SHORT_LIVED + 1)
    assert impl.driver.certificate_expiry(amphora) < now()
    assert impl.driver.ready(amphora) is False
    for call in (
        lambda: impl.driver.push(amphora, bundle),
        lambda: impl.driver.running_digest(amphora),
    ):
        with pytest.raises(base.CertificateExpired) as expired:
            call()
        assert isinstance(expired.value, base.TransientError)
        assert 'certificate' in str(expired.value) and amphora.id in str(expired.value)
    # The rotation reaches it, and with it everything else.
    cert = impl.authority.issue_amphora_cert(amphora.id, 600)
    impl.driver.rotate_certificate(amphora, cert)
    assert impl.driver.certificate_expiry(amphora) == cert.not_after
    assert push(impl, amphora, bundle) == bundle.digest()


# -- the fake's fault injection ------------------------------------------------------------


@pytest.mark.parametrize(
    'error',
    [base.TransientError('agent busy', delay=2.0), base.PermanentError('configuration refused')],
    ids=['transient', 'permanent'],
)
def test_fake_push_raises_a_planned_fault(error):
    driver = noop.NoopAmphora()
    amphora = base.Amphora(id=str(uuid.uuid4()), lb_id=LB.id)
    bundle = wire.ConfigBundle(haproxy_cfg='global\n')
    driver.faults.planned['push'] = error
    with pytest.raises(type(error)) as raised:
        driver.push(amphora, bundle)
    assert raised.value is error
    if isinstance(error, base.TransientError):
        assert raised.value.delay == 2.0
    assert driver.pushed == {}  # nothing applied
    del driver.faults.planned['push']
    assert driver.push(amphora, bundle) == bundle.digest()
    assert driver.pushed == {amphora.id: bundle}


def test_fake_ready_raises_a_planned_fault():
    driver = noop.NoopAmphora()
    amphora = base.Amphora(id=str(uuid.uuid4()), lb_id=LB.id)
    error = base.TransientError('probe failed')
    driver.faults.planned['ready'] = error
    with pytest.raises(base.TransientError) as raised:
        driver.ready(amphora)
    assert raised.value is error
    driver.faults.planned.clear()
    assert driver.ready(amphora) is True


def _arguments(method):
    """Placeholder arguments for a fake's method: the fault fires before they are read."""
    parameters = list(inspect.signature(method).parameters)
    return [None] * len(parameters)


@pytest.mark.parametrize(
    ('fake', 'protocol'),
    [
        (noop.NoopCompute, base.ComputeDriver),
        (noop.NoopNetwork, base.NetworkDriver),
        (noop.NoopAmphora, base.AmphoraDriver),
        (noop.NoopCertificateAuthority, base.CertificateAuthority),
    ],
    ids=['compute', 'network', 'amphora', 'certificates'],
)
def test_every_fake_method_raises_its_planned_fault(fake, protocol):
    driver = fake()
    for name in protocol_methods(protocol):
        error = base.TransientError('planned for %s' % name)
        driver.faults.planned = {name: error}
        method = getattr(driver, name)
        with pytest.raises(base.TransientError) as raised:
            method(*_arguments(method))
        assert raised.value is error, name
