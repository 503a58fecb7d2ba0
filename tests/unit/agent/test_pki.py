"""The controller PKI: names, chain, usages, file modes, reuse, and the TLS
checks that rest on them (exercised with in-memory handshakes)."""

import datetime
import os
import socket
import ssl
import stat
import threading
import time

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from lbaas import wire
from lbaas.agent.server import make_server_context
from lbaas.drivers import pki as pki_module
from lbaas.drivers.amphora.rest import make_client_context
from lbaas.drivers.pki import ControllerPKI

AMPHORA_ID = "5f0c1c55-6a43-4a5e-9d3c-2b2b7b0c9e11"


@pytest.fixture
def pki(tmp_path):
    return ControllerPKI(tmp_path / "pki")


def _cert(pem):
    return x509.load_pem_x509_certificate(pem)


def test_ca_files_and_modes(pki):
    for name in (pki_module.CA_KEY, pki_module.CLIENT_KEY):
        assert stat.S_IMODE(os.stat(pki.path(name)).st_mode) == 0o600
    ca = _cert(pki.ca_pem)
    assert ca.extensions.get_extension_for_class(x509.BasicConstraints).value.ca


def test_ca_is_reused(tmp_path):
    first = ControllerPKI(tmp_path / "pki").ca_pem
    assert ControllerPKI(tmp_path / "pki").ca_pem == first


def test_amphora_cert_names_chain_and_usage(pki):
    issued = pki.issue_amphora_cert(AMPHORA_ID)
    cert = _cert(issued.cert_pem)
    cn = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    usage = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert cn == AMPHORA_ID
    assert san.get_values_for_type(x509.DNSName) == [AMPHORA_ID]
    assert list(usage) == [ExtendedKeyUsageOID.SERVER_AUTH]
    cert.verify_directly_issued_by(_cert(pki.ca_pem))


def test_validity_is_configurable_in_seconds(tmp_path):
    pki = ControllerPKI(tmp_path / "pki", validity_seconds=30 * 86400)
    now = datetime.datetime.now(datetime.UTC)
    default = pki.issue_amphora_cert(AMPHORA_ID).not_after - now
    short = pki.issue_amphora_cert(AMPHORA_ID, validity_seconds=60).not_after - now
    assert datetime.timedelta(days=29) < default <= datetime.timedelta(days=30)
    assert datetime.timedelta(seconds=55) < short <= datetime.timedelta(seconds=60)


def test_issued_certificate_is_a_wire_value_with_the_trust_bundle(pki):
    issued = pki.issue_amphora_cert(AMPHORA_ID, 3600)
    assert isinstance(issued, wire.AmphoraCertificate)
    assert issued.not_after == _cert(issued.cert_pem).not_valid_after_utc
    assert issued.ca_pem == pki.trust_pem
    assert "key_pem" not in repr(issued)
    again = wire.from_json(wire.AmphoraCertificate, wire.to_json(issued))
    assert (again.cert_pem, again.key_pem, again.ca_pem) == (
        issued.cert_pem,
        issued.key_pem,
        issued.ca_pem,
    )
    assert again.not_after == issued.not_after


def test_a_certificate_never_outlives_its_ca(tmp_path):
    pki = ControllerPKI(tmp_path / "pki", ca_validity_seconds=3600)
    issued = pki.issue_amphora_cert(AMPHORA_ID, 86400)
    assert issued.not_after == _cert(pki.ca_pem).not_valid_after_utc


def test_client_cert_is_for_clients(pki):
    cert_file, _ = pki.client_cert_files
    with open(cert_file, "rb") as f:
        cert = _cert(f.read())
    usage = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert list(usage) == [ExtendedKeyUsageOID.CLIENT_AUTH]
    cert.verify_directly_issued_by(_cert(pki.ca_pem))


def test_issue_is_fast(pki):
    started = time.perf_counter()
    for _ in range(20):
        pki.issue_amphora_cert(AMPHORA_ID)
    per_cert = (time.perf_counter() - started) / 20
    print(f"amphora key + certificate: {per_cert * 1000:.2f} ms")
    assert per_cert < 0.05


# -- handshakes over a socketpair --------------------------------------------


@pytest.fixture
def agent_files(pki, tmp_path):
    state = tmp_path / "amp"
    pki.write_agent_files(AMPHORA_ID, state)
    assert stat.S_IMODE(os.stat(state / wire.KEY_FILE).st_mode) == 0o600
    return [str(state / name) for name in (wire.CA_FILE, wire.CERT_FILE, wire.KEY_FILE)]


def _handshake(server_context, client_context, server_hostname):
    """Returns (client error or None, server error or None)."""
    server_sock, client_sock = socket.socketpair()
    errors = {}

    def serve():
        try:
            with server_context.wrap_socket(server_sock, server_side=True) as tls:
                tls.recv(1)
        except (ssl.SSLError, OSError) as exc:
            errors["server"] = exc

    thread = threading.Thread(target=serve)
    thread.start()
    try:
        with client_context.wrap_socket(client_sock, server_hostname=server_hostname) as tls:
            tls.sendall(b"x")
            tls.recv(1)  # TLS 1.3: a refused client certificate shows up here
    except (ssl.SSLError, OSError) as exc:
        errors["client"] = exc
    thread.join(5)
    return errors.get("client"), errors.get("server")


def test_controller_and_agent_agree(pki, agent_files):
    client = make_client_context(pki.ca_file, *pki.client_cert_files)
    client_error, server_error = _handshake(make_server_context(*agent_files), client, AMPHORA_ID)
    assert server_error is None
    assert client_error is None or isinstance(client_error, ssl.SSLZeroReturnError)


def test_client_refuses_a_server_with_another_name(pki, agent_files):
    client = make_client_context(pki.ca_file, *pki.client_cert_files)
    client_error, _ = _handshake(make_server_context(*agent_files), client, "other-amphora")
    assert isinstance(client_error, ssl.SSLCertVerificationError)


def test_agent_refuses_an_amphora_certificate_as_client(agent_files):
    # Same CA, but serverAuth only: one amphora cannot drive another.
    ca_file, cert_file, key_file = agent_files
    client = make_client_context(ca_file, cert_file, key_file)
    _client_error, server_error = _handshake(make_server_context(*agent_files), client, AMPHORA_ID)
    assert isinstance(server_error, ssl.SSLError)
    assert "certificate purpose" in str(server_error)


def test_agent_refuses_a_client_without_certificate(pki, agent_files):
    client = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    client.load_verify_locations(pki.ca_file)
    _, server_error = _handshake(make_server_context(*agent_files), client, AMPHORA_ID)
    assert isinstance(server_error, ssl.SSLError)


# -- renewal of the controller's own credentials -------------------------------


def _client_cert(pki):
    with open(pki.client_cert_files[0], "rb") as f:
        return _cert(f.read())


def test_refresh_renews_the_client_certificate_within_the_buffer(tmp_path):
    _, rolled, old_ca = _roll_over(tmp_path)
    before = _client_cert(rolled)
    before.verify_directly_issued_by(old_ca)
    assert rolled.refresh(expiry_buffer=3000) == before.not_valid_after_utc  # not due
    renewed_until = rolled.refresh(expiry_buffer=4000)  # due: 3600 s left
    after = _client_cert(rolled)
    assert after.serial_number != before.serial_number
    after.verify_directly_issued_by(_cert(rolled.ca_pem))
    assert renewed_until == after.not_valid_after_utc > before.not_valid_after_utc


def test_a_ca_too_short_for_a_rollover_is_not_renewed_in_a_loop(tmp_path, caplog):
    pki = ControllerPKI(tmp_path / "pki", validity_seconds=600, ca_validity_seconds=3600)
    before = _client_cert(pki)
    for _ in range(2):
        assert pki.refresh(expiry_buffer=4000) == before.not_valid_after_utc
    assert _client_cert(pki).serial_number == before.serial_number
    assert len(x509.load_pem_x509_certificates(pki.trust_pem)) == 1
    assert "raise [certificates] ca_validity_time" in caplog.text


def test_a_new_process_replaces_an_expired_client_certificate(tmp_path):
    pki = ControllerPKI(tmp_path / "pki")
    cert_file, _ = pki.client_cert_files
    expired = pki_module._build_cert(
        subject=pki_module._name(pki_module.CLIENT_NAME),
        public_key=_cert(pki.ca_pem).public_key(),  # any key: it is thrown away
        issuer_cert=_cert(pki.ca_pem),
        issuer_key=pki_module._load_key(pki.path(pki_module.CA_KEY)),
        seconds=-60,
    )
    with open(cert_file, "wb") as f:
        f.write(expired.public_bytes(serialization.Encoding.PEM))
    ControllerPKI(tmp_path / "pki")
    assert _client_cert(pki).not_valid_after_utc > datetime.datetime.now(datetime.UTC)


def _roll_over(tmp_path):
    """A CA of one hour, an agent it equips, then a refresh that finds the CA
    too close to its end."""
    old = ControllerPKI(tmp_path / "pki", validity_seconds=600, ca_validity_seconds=3600)
    old_ca = _cert(old.ca_pem)
    old.write_agent_files(AMPHORA_ID, tmp_path / "old-agent")
    rolled = ControllerPKI(tmp_path / "pki", validity_seconds=600, ca_validity_seconds=86400)
    rolled.refresh(expiry_buffer=3000)  # lead 2 x 600 + 3000 s > the 3600 s left
    return old, rolled, old_ca


def test_rollover_signs_with_a_new_ca_and_keeps_trusting_the_old(tmp_path):
    old, rolled, old_ca = _roll_over(tmp_path)
    bundle = x509.load_pem_x509_certificates(rolled.trust_pem)
    assert len(bundle) == 2 and bundle[1] == old_ca
    new_ca = bundle[0]
    assert new_ca.subject != old_ca.subject
    # Every process signs with the new CA from now on, without a restart.
    for pki in (old, rolled):
        _cert(pki.issue_amphora_cert(AMPHORA_ID).cert_pem).verify_directly_issued_by(new_ca)
    # The client certificate moves only when due: agents trust the old CA alone yet.
    _client_cert(rolled).verify_directly_issued_by(old_ca)
    # A second refresh does not roll again.
    rolled.refresh(expiry_buffer=3000)
    assert len(x509.load_pem_x509_certificates(rolled.trust_pem)) == 2


def test_rollover_handshakes_old_and_new_agents(tmp_path):
    _, rolled, _ = _roll_over(tmp_path)
    rolled.write_agent_files(AMPHORA_ID, tmp_path / "new-agent")
    client = make_client_context(rolled.ca_file, *rolled.client_cert_files)
    # The agent built before the rollover trusts the old CA only; the one
    # built after it trusts both. The controller reaches each.
    for agent in ("old-agent", "new-agent"):
        files = [str(tmp_path / agent / n) for n in (wire.CA_FILE, wire.CERT_FILE, wire.KEY_FILE)]
        client_error, server_error = _handshake(make_server_context(*files), client, AMPHORA_ID)
        assert server_error is None, agent
        assert client_error is None or isinstance(client_error, ssl.SSLZeroReturnError)
    assert (
        len(x509.load_pem_x509_certificates((tmp_path / "old-agent" / "ca.pem").read_bytes())) == 1
    )


def test_expired_cas_leave_the_bundle(tmp_path):
    pki = ControllerPKI(tmp_path / "pki")
    signing = _cert(pki.ca_pem)
    key = pki_module._load_key(pki.path(pki_module.CA_KEY))
    dead = pki_module._build_cert(
        subject=pki_module._name("a CA long gone"),
        public_key=key.public_key(),
        issuer_cert=None,
        issuer_key=key,
        seconds=-60,
    )
    with open(pki.ca_file, "ab") as f:
        f.write(dead.public_bytes(serialization.Encoding.PEM))
    assert len(x509.load_pem_x509_certificates(pki.trust_pem)) == 2
    pki.refresh(expiry_buffer=60)
    assert x509.load_pem_x509_certificates(pki.trust_pem) == [signing]
