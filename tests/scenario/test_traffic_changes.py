"""Member changes under load, TCP listeners and HTTPS pass-through, for real.

The load run sends requests for a bounded 10 s (each on a new connection,
never retried) while members are added, re-weighted and removed through the
API: every change is an HAProxy reload, and not one request may fail.
"""
import datetime
import time

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from tests.scenario import traffic
from tests.scenario.traffic import answers, url

HTTP_PORT, TCP_PORT, HTTPS_PORT = 80, 9000, 443
TLS_MEMBER_PORT = 8443
LOAD_SECONDS = 10.0


def self_signed(name, directory):
    """(certificate, key) PEM files for CN=`name`: what a member terminates TLS with."""
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = datetime.datetime.now(datetime.UTC)
    certificate = (x509.CertificateBuilder().subject_name(subject).issuer_name(subject)
                   .public_key(key.public_key()).serial_number(x509.random_serial_number())
                   .not_valid_before(now - datetime.timedelta(minutes=5))
                   .not_valid_after(now + datetime.timedelta(days=1))
                   .sign(key, hashes.SHA256()))
    paths = (directory / (name + '.crt'), directory / (name + '.key'))
    paths[0].write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    paths[1].write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                           serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return tuple(str(p) for p in paths)


def common_name(der):
    certificate = x509.load_der_x509_certificate(der)
    return certificate.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value


@pytest.fixture(scope='module')
def tls_backends(members, tmp_path_factory):
    directory = tmp_path_factory.mktemp('member-tls')
    for number, host in enumerate(members[:2], start=1):
        host.start_backend(TLS_MEMBER_PORT, name='m%d' % number,
                           tls_files=self_signed('m%d' % number, directory))
    yield members[:2]
    for host in members[:2]:
        host.stop_backend(TLS_MEMBER_PORT)


@pytest.fixture(scope='module')
def lb(api, members, client, tls_backends):
    m1, m2 = members[:2]
    listeners = [
        traffic.listener(HTTP_PORT, traffic.pool(
            'changing', [traffic.member(m1), traffic.member(m2)])),
        traffic.listener(TCP_PORT, traffic.pool(
            'tcp', [traffic.member(m1), traffic.member(m2)], protocol='TCP'), protocol='TCP'),
        traffic.listener(HTTPS_PORT, traffic.pool(
            'passthrough', [traffic.member(m, TLS_MEMBER_PORT) for m in (m1, m2)],
            protocol='HTTPS'), protocol='HTTPS'),
    ]
    lb = api.create_lb('changes', listeners)
    traffic.first_good_response(client, url(lb['vip_address'], HTTP_PORT))
    yield lb
    api.delete_lb(lb['id'])


def test_member_changes_under_load_lose_no_request(api, lb, members, client):
    m1, m2, m3 = members[:3]
    pool = api.pool_by_name(lb, 'changing')
    by_address = {m['address']: m for m in api.members(pool['id'])}
    run = traffic.LoadRun(client, url(lb['vip_address'], HTTP_PORT),
                          seconds=LOAD_SECONDS).start()
    marks = {}
    try:
        wait_until(run, 1.5)
        marks['adding'] = run.elapsed()
        api.change('POST', 'pools/%s/members' % pool['id'], 'member',
                   traffic.member(m3), lb['id'])
        marks['added'] = run.elapsed()
        wait_until(run, 4.0)
        api.change('PUT', 'pools/%s/members/%s' % (pool['id'],
                                                   by_address[m1.addresses[0]]['id']),
                   'member', {'weight': 4}, lb['id'])
        marks['weighted'] = run.elapsed()
        wait_until(run, 6.5)
        api.change('DELETE', 'pools/%s/members/%s' % (pool['id'],
                                                      by_address[m2.addresses[0]]['id']),
                   lb_id=lb['id'])
        marks['removed'] = run.elapsed()
    finally:
        run.join()
    total = len(run.results)
    traffic.record('load run requests (10 s, 3 changes)', total)
    assert total > 1000, 'too little traffic to prove anything: %d' % total
    assert run.failures() == [], run.failures()[:10]
    assert run.members_between(0, marks['adding'])['m3'] == 0
    assert run.members_between(marks['added'], marks['weighted'])['m3'] > 0
    weighted = run.members_between(marks['weighted'] + 0.5, marks['removed'])
    assert weighted['m1'] > 2 * max(weighted['m2'], weighted['m3']), weighted
    after = run.members_between(marks['removed'] + 0.5, LOAD_SECONDS)
    assert after['m2'] == 0 and after['m1'] and after['m3'], after


def wait_until(run, at):
    """Sleep until the load run has been going for `at` seconds."""
    time.sleep(max(0.0, at - run.elapsed()))


def test_tcp_listener_balances_connections(lb, client):
    target = url(lb['vip_address'], TCP_PORT)
    assert answers(client, target, 6) == {'m1': 3, 'm2': 3}
    seen = client.request(url(lb['vip_address'], TCP_PORT, '/headers')).json()
    assert not {k.lower() for k in seen['headers']} & {'x-forwarded-for'}  # bytes only
    assert seen['headers']['Host'].startswith(lb['vip_address'])


def test_https_passthrough_is_terminated_by_the_member(lb, client):
    target = 'https://%s:%d/' % (lb['vip_address'], HTTPS_PORT)
    served = []
    for _ in range(4):
        reply = client.request(target)
        assert reply.status == 200
        # The member's own certificate: HAProxy only passed the bytes on.
        assert common_name(reply.certificate) == reply.body.strip()
        served.append(reply.body.strip())
    assert sorted(served) == ['m1', 'm1', 'm2', 'm2']
