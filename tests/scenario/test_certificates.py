"""Amphora certificates renewed under a running load balancer, for real.

This module runs a `lbaas serve` of its own (the shared one in conftest.py
has no certificate options): the same isolation as conftest's service, with
its own fabric names, plus `[certificates]` and `[house_keeping]` options
that make an amphora certificate last one minute and be renewed within
seconds. Two stories:

- renewal under load: requests run through the VIP while housekeeping
  renews the amphora's certificate several times and pushes it to the
  agent; not one request fails, the agent presents each new certificate to
  new connections, and the admin API shows the expiry moving on;
- repair: with the controller stopped, the agent's certificate expires;
  started again, the controller renews it at its first certificate sweep,
  and changes to the load balancer reach ACTIVE, not ERROR.
"""
import datetime
import os
import time

import pytest

from lbaas.db import models
from lbaas.drivers.amphora.rest import AgentCertificateExpired, AgentClient
from lbaas.drivers.pki import ControllerPKI
from tests.scenario import conftest, traffic
from tests.scenario.traffic import url
from tests.skips import skip_if

HTTP_PORT = 80
SHORT_LIVED = {  # a one-minute certificate, renewed when 55 s are left: every ~5 s
    'house_keeping': {'cleanup_interval': 1, 'cert_interval': 1, 'cert_expiry_buffer': 55},
    'certificates': {'cert_validity_time': 60},
}
# After the restart: one sweep at start, and a renewed certificate lasts.
AFTER_RESTART = {
    'house_keeping': {'cleanup_interval': 1, 'cert_interval': 3600, 'cert_expiry_buffer': 3600},
    'certificates': {'cert_validity_time': 7200},
}
LOAD_SECONDS = 25.0
RENEWAL_TIMEOUT = 30.0


class CertificateService(conftest.ScenarioService):
    """conftest's service with extra configuration sections, and restartable."""

    def __init__(self, options):
        super().__init__(options, letter='c')

    def stop_controller(self):
        self._stop_service()
        self.process = None

    def log(self, name):
        with open(os.path.join(self.state_dir, 'logs', name + '.log'), errors='replace') as f:
            return f.read()

    @property
    def pki_dir(self):
        return os.path.join(self.state_dir, 'pki')

    def amphora(self, lb_id):
        listing = self.api.call('GET', self.endpoint + '/v2/octavia/amphorae?loadbalancer_id='
                                + lb_id, expect=200).json()['amphorae']
        assert len(listing) == 1, listing
        return listing[0]


@pytest.fixture(scope='module')
def service(request):
    reason = conftest.why_not_runnable()
    skip_if(reason, 'the certificate scenarios')
    run = CertificateService(SHORT_LIVED)
    yield from conftest.running(request, run, 'certificate scenario')


@pytest.fixture(scope='module')
def hosts(service):
    members = []
    for number, address in enumerate(conftest.MEMBER_ADDRESSES[:2], start=1):
        host = service.host('member', 'm%d' % number, [address])
        host.start_backend(traffic.MEMBER_PORT, name='m%d' % number)
        members.append(host)
    return members, service.host('client', 'c', conftest.CLIENT_ADDRESSES[:4])


@pytest.fixture(scope='module')
def lb(service, hosts):
    members, client = hosts
    pool = traffic.pool('certs', [traffic.member(m) for m in members])
    lb = service.api.create_lb('certificates', [traffic.listener(HTTP_PORT, pool)])
    traffic.first_good_response(client, url(lb['vip_address'], HTTP_PORT))
    return lb


def presented(service, amphora):
    """The certificate the agent shows a new connection (dates not checked)."""
    client = AgentClient(service.pki_dir)
    return client.server_certificate(amphora['id'], amphora['lb_network_ip'], 9443)


def test_certificates_are_renewed_under_load_without_a_failed_request(service, hosts, lb):
    _, client = hosts
    amphora = service.amphora(lb['id'])
    first = presented(service, amphora)
    assert first.not_valid_after_utc - first.not_valid_before_utc < datetime.timedelta(
        minutes=7)  # 60 s, plus the five minutes of clock skew before
    run = traffic.LoadRun(client, url(lb['vip_address'], HTTP_PORT),
                          seconds=LOAD_SECONDS, threads=3).start()
    serials, expirations = {first.serial_number}, set()
    while run.elapsed() < LOAD_SECONDS:
        serials.add(presented(service, amphora).serial_number)
        expirations.add(service.amphora(lb['id'])['cert_expiration'])
        time.sleep(1.0)
    run.join()
    traffic.record('certificate renewals in %.0f s under load' % LOAD_SECONDS, len(serials) - 1)
    assert run.failures() == [], run.failures()[:5]
    assert len(run.results) > 100
    assert len(serials) >= 4, 'renewed %d times in %.0f s' % (len(serials) - 1, LOAD_SECONDS)
    assert 'renewal failed' not in service.log('housekeeping')
    assert len(expirations - {None}) >= 2, expirations
    now = datetime.datetime.now(datetime.UTC)
    assert presented(service, amphora).not_valid_after_utc > now
    # The load balancer kept working through it: a change still goes through.
    pool_id = service.api.pool_by_name(lb, 'certs')['id']
    service.api.change('PUT', 'pools/%s/members/%s' % (
        pool_id, service.api.members(pool_id)[0]['id']), 'member', {'weight': 2}, lb['id'])


def test_a_certificate_that_expired_while_the_controller_was_down_is_repaired(
        service, hosts, lb):
    amphora = service.amphora(lb['id'])
    where = (amphora['id'], amphora['lb_network_ip'], 9443)
    service.stop_controller()
    # While it is down, the agent's certificate runs out (here: made to, in 2 s).
    agent = AgentClient(service.pki_dir)
    agent.put_certificate(*where, ControllerPKI(service.pki_dir).issue_amphora_cert(
        amphora['id'], 2))
    time.sleep(3)
    with pytest.raises(AgentCertificateExpired):
        agent.info(*where)
    # Started again: the first certificate sweep repairs it.
    service.restart(AFTER_RESTART)
    pool_id = service.api.pool_by_name(lb, 'certs')['id']
    member_id = service.api.members(pool_id)[0]['id']
    # A change at once may meet the expired certificate: retried, never ERROR.
    service.api.change('PUT', 'pools/%s/members/%s' % (pool_id, member_id), 'member',
                       {'weight': 3}, lb['id'])
    deadline = time.monotonic() + RENEWAL_TIMEOUT
    while presented(service, amphora).not_valid_after_utc < datetime.datetime.now(
            datetime.UTC) + datetime.timedelta(hours=1):
        assert time.monotonic() < deadline, 'the expired certificate was not renewed'
        time.sleep(0.5)
    assert agent.info(*where).amphora_id == amphora['id']
    recorded = service.amphora(lb['id'])['cert_expiration']
    assert datetime.datetime.fromisoformat(recorded) > models.utcnow() + datetime.timedelta(
        hours=1)
    service.api.change('PUT', 'pools/%s/members/%s' % (pool_id, member_id), 'member',
                       {'weight': 1}, lb['id'])
    assert service.api.lb_status(lb['id']) == 'ACTIVE'
    _, client = hosts
    assert traffic.answers(client, url(lb['vip_address'], HTTP_PORT), 4)
