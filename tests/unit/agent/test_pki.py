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


def test_validity_is_configurable(tmp_path):
    pki = ControllerPKI(tmp_path / "pki", validity_days=30)
    now = datetime.datetime.now(datetime.UTC)
    default = pki.issue_amphora_cert(AMPHORA_ID).not_after - now
    short = pki.issue_amphora_cert(AMPHORA_ID, validity_days=2).not_after - now
    assert datetime.timedelta(days=29) < default <= datetime.timedelta(days=30)
    assert datetime.timedelta(days=1) < short <= datetime.timedelta(days=2)


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
