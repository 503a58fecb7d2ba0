"""Rotating the agent's server certificate: the checks, the files, the
context swap, and PUT /1.0/certificate end to end over real TLS on loopback
(the controller's client against an in-process agent server)."""

import dataclasses
import datetime
import os
import socket
import ssl
import threading

import pytest
from cryptography import x509

from lbaas import wire
from lbaas.agent import certificates
from lbaas.agent.server import AgentHTTPServer, make_server_context
from lbaas.drivers.amphora.rest import (
    AgentCertificateExpired,
    AgentClient,
    AgentRejected,
    AgentTLSError,
)
from lbaas.drivers.pki import ControllerPKI

AMPHORA_ID = "5f0c1c55-6a43-4a5e-9d3c-2b2b7b0c9e11"


class FakeService:
    amphora_id = AMPHORA_ID

    def info(self):
        return wire.AgentInfo(amphora_id=AMPHORA_ID, haproxy_version="2.6")

    def status(self):
        return wire.AgentStatus(amphora_id=AMPHORA_ID, config_digest=None, haproxy_running=False)

    def stats(self):
        return []


@pytest.fixture
def pki(tmp_path):
    return ControllerPKI(tmp_path / "pki")


def files_in(directory):
    return certificates.CertificateFiles(
        *(str(directory / n) for n in (wire.CA_FILE, wire.CERT_FILE, wire.KEY_FILE))
    )


def serial(pem):
    return x509.load_pem_x509_certificate(pem).serial_number


def start_agent(pki, state, validity_seconds=3600):
    pki.write_agent_files(AMPHORA_ID, state, validity_seconds)
    server = AgentHTTPServer(
        ("127.0.0.1", 0), FakeService(), make_server_context(*vars(files_in(state)).values())
    )
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    return server, thread


@pytest.fixture
def agent(pki, tmp_path):
    """(server, client, port) with a valid certificate; see `expired_agent`."""
    server, thread = start_agent(pki, tmp_path / "amp")
    yield server, AgentClient(tmp_path / "pki"), server.server_address[1]
    server.shutdown()
    server.server_close()
    thread.join(5)


@pytest.fixture
def expired_agent(pki, tmp_path):
    server, thread = start_agent(pki, tmp_path / "amp", validity_seconds=-60)
    yield server, AgentClient(tmp_path / "pki"), server.server_address[1]
    server.shutdown()
    server.server_close()
    thread.join(5)


def contents(files):
    result = {}
    for path in vars(files).values():
        with open(path, "rb") as f:
            result[path] = f.read()
    return result


def presented_serial(port):
    """The serial of the certificate a new handshake with the agent shows."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname, context.verify_mode = False, ssl.CERT_NONE
    with (
        socket.create_connection(("127.0.0.1", port), timeout=5) as sock,
        context.wrap_socket(sock) as tls,
    ):
        return x509.load_der_x509_certificate(tls.getpeercert(binary_form=True)).serial_number


# -- the checks ---------------------------------------------------------------------


def installer(pki, tmp_path):
    state = tmp_path / "amp"
    pki.write_agent_files(AMPHORA_ID, state)
    files = files_in(state)
    context = make_server_context(*vars(files).values())
    return certificates.ServerCertificates(AMPHORA_ID, files, context, make_server_context)


def test_install_replaces_the_files_and_the_context(pki, tmp_path):
    target = installer(pki, tmp_path)
    old_context = target.context
    offered = pki.issue_amphora_cert(AMPHORA_ID, 600)
    status = target.install(offered)
    assert status.amphora_id == AMPHORA_ID
    assert status.not_after == offered.not_after
    assert int(status.serial_number, 16) == serial(offered.cert_pem)
    with open(target.files.cert_file, "rb") as f:
        assert f.read() == offered.cert_pem
    assert oct(os.stat(target.files.key_file).st_mode & 0o777) == "0o600"
    assert target.context is not old_context
    assert [n for n in os.listdir(tmp_path / "amp") if ".next" in n] == []


def refused_offers(pki, tmp_path):
    other = ControllerPKI(tmp_path / "other-pki")
    good = pki.issue_amphora_cert(AMPHORA_ID, 600)
    spare = pki.issue_amphora_cert(AMPHORA_ID, 600)
    return {
        "key of another certificate": (good, {"key_pem": spare.key_pem}, "do not load as a pair"),
        "another amphora's name": (pki.issue_amphora_cert("other", 600), {}, "mismatch"),
        "another CA": (other.issue_amphora_cert(AMPHORA_ID, 600), {"ca_pem": None}, "issuer"),
        "expired": (pki.issue_amphora_cert(AMPHORA_ID, -60), {}, "expired"),
        "garbage": (good, {"cert_pem": b"not a certificate\n"}, "pair"),
    }


@pytest.mark.parametrize(
    "case",
    ["key of another certificate", "another amphora's name", "another CA", "expired", "garbage"],
)
def test_install_refuses_what_cannot_serve_this_amphora(pki, tmp_path, case):
    target = installer(pki, tmp_path)
    before = contents(target.files)
    old_context = target.context
    offered, changes, reason = refused_offers(pki, tmp_path)[case]
    with pytest.raises(certificates.InvalidCertificate) as refused:
        target.install(dataclasses.replace(offered, **changes))
    assert reason in refused.value.message
    assert contents(target.files) == before
    assert target.context is old_context
    assert [n for n in os.listdir(tmp_path / "amp") if ".next" in n] == []


def test_a_new_trust_bundle_is_installed_with_the_certificate(pki, tmp_path):
    target = installer(pki, tmp_path)
    offered = pki.issue_amphora_cert(AMPHORA_ID, 600)
    bundle = offered.ca_pem + ControllerPKI(tmp_path / "next-ca").ca_pem
    target.install(dataclasses.replace(offered, ca_pem=bundle))
    with open(target.files.ca_file, "rb") as f:
        assert f.read() == bundle


@pytest.mark.parametrize("complete", [True, False])
def test_finish_pending_completes_or_forgets_an_interrupted_rotation(tmp_path, complete):
    files = files_in(tmp_path)
    for path in vars(files).values():
        with open(path, "w") as f:
            f.write("old")
    staged = files.pending()
    for pending, _final in staged[: 3 if complete else 2]:
        with open(pending, "w") as f:
            f.write("new")
    certificates.finish_pending(files)
    for _pending, final in staged:
        with open(final) as f:
            assert f.read() == ("new" if complete else "old")
    assert sorted(os.listdir(tmp_path)) == sorted(os.path.basename(p) for _, p in staged)


# -- PUT /1.0/certificate over TLS -----------------------------------------------------


def test_rotation_is_used_by_new_connections_only(pki, agent):
    _server, client, port = agent
    first = presented_serial(port)
    # A connection made before the rotation keeps working afterwards.
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname, context.verify_mode = False, ssl.CERT_NONE
    context.load_cert_chain(*pki.client_cert_files)
    with (
        socket.create_connection(("127.0.0.1", port), timeout=5) as sock,
        context.wrap_socket(sock) as early,
    ):
        offered = pki.issue_amphora_cert(AMPHORA_ID, 600)
        status = client.put_certificate(AMPHORA_ID, "127.0.0.1", port, offered)
        assert status.not_after == offered.not_after
        early.sendall(b"GET /1.0/info HTTP/1.0\r\n\r\n")
        answer = early.recv(65536)
        assert answer.startswith(b"HTTP/1.0 200"), answer
        assert x509.load_der_x509_certificate(early.getpeercert(True)).serial_number == first
    assert presented_serial(port) == serial(offered.cert_pem) != first
    assert client.info(AMPHORA_ID, "127.0.0.1", port).amphora_id == AMPHORA_ID


def test_an_expired_agent_is_reached_for_the_rotation_only(pki, expired_agent):
    _server, client, port = expired_agent
    with pytest.raises(AgentCertificateExpired) as refused:
        client.info(AMPHORA_ID, "127.0.0.1", port)
    assert "expired" in str(refused.value)
    seen = client.server_certificate(AMPHORA_ID, "127.0.0.1", port)
    assert seen.not_valid_after_utc < datetime.datetime.now(datetime.UTC)
    client.put_certificate(AMPHORA_ID, "127.0.0.1", port, pki.issue_amphora_cert(AMPHORA_ID, 600))
    assert client.info(AMPHORA_ID, "127.0.0.1", port).amphora_id == AMPHORA_ID


def test_the_rotation_still_checks_name_and_ca(pki, tmp_path, expired_agent):
    _server, client, port = expired_agent
    offered = pki.issue_amphora_cert("another-amphora", 600)
    with pytest.raises(AgentTLSError) as refused:
        client.put_certificate("another-amphora", "127.0.0.1", port, offered)
    assert "refused" in str(refused.value)
    # A client whose CA is not the agent's: its own trust store refuses the agent.
    stranger = AgentClient(tmp_path / "stranger-pki")
    with pytest.raises(AgentTLSError):
        stranger.server_certificate(AMPHORA_ID, "127.0.0.1", port)


def test_a_refused_certificate_is_a_400(pki, agent):
    _server, client, port = agent
    with pytest.raises(AgentRejected) as refused:
        client.put_certificate(
            AMPHORA_ID, "127.0.0.1", port, pki.issue_amphora_cert("other-amphora", 600)
        )
    assert refused.value.status == 400
    assert "certificate not installed" in refused.value.message


def test_a_body_that_is_not_a_certificate_is_a_400(agent):
    _server, client, port = agent
    for body in (b"{}", b'{"cert_pem": "x", "key_pem": "y", "not_after": "yesterday"}'):
        with pytest.raises(AgentRejected) as refused:
            client._request("PUT", AMPHORA_ID, "127.0.0.1", port, wire.PATH_CERTIFICATE, body=body)
        assert refused.value.status == 400


def test_the_client_picks_up_a_renewed_client_certificate(pki, agent, tmp_path):
    _server, client, port = agent
    client.info(AMPHORA_ID, "127.0.0.1", port)
    before = client._credentials
    os.unlink(pki.client_cert_files[0])  # as if it had expired: the next start renews it
    ControllerPKI(tmp_path / "pki")
    client.info(AMPHORA_ID, "127.0.0.1", port)
    assert client._credentials is not before
