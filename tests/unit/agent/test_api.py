"""The agent's HTTP API and the controller's client, in-process, over real TLS
on loopback, with a fake service: routes, codes and error mapping."""

import threading

import pytest

from lbaas import wire
from lbaas.agent.bundle import InvalidBundle
from lbaas.agent.server import AgentHTTPServer, make_server_context
from lbaas.agent.service import ApplyFailed, Unavailable
from lbaas.drivers.amphora.rest import (
    AgentClient,
    AgentFailed,
    AgentRejected,
    AgentTLSError,
    AgentUnreachable,
)
from lbaas.drivers.pki import ControllerPKI

AMPHORA_ID = "amp-api-test"


class FakeService:
    def __init__(self):
        self.applied = []
        self.failure = None

    def info(self):
        return wire.AgentInfo(amphora_id=AMPHORA_ID, haproxy_version="2.6")

    def status(self):
        digest = self.applied[-1].digest() if self.applied else None
        return wire.AgentStatus(
            amphora_id=AMPHORA_ID, config_digest=digest, haproxy_running=bool(self.applied)
        )

    def apply(self, bundle):
        if self.failure:
            raise self.failure
        self.applied.append(bundle)
        return self.status()

    def remove(self):
        self.applied.clear()
        return self.status()

    def stats(self):
        if not self.applied:
            raise Unavailable("HAProxy is not running")
        return [{"pxname": "vip", "svname": "FRONTEND", "stot": 1}]


@pytest.fixture
def agent(tmp_path):
    pki = ControllerPKI(tmp_path / "pki")
    pki.write_agent_files(AMPHORA_ID, tmp_path / "amp")
    files = [str(tmp_path / "amp" / n) for n in (wire.CA_FILE, wire.CERT_FILE, wire.KEY_FILE)]
    service = FakeService()
    server = AgentHTTPServer(("127.0.0.1", 0), service, make_server_context(*files))
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield service, AgentClient(tmp_path / "pki"), server.server_address[1]
    server.shutdown()
    server.server_close()
    thread.join(5)


def test_round_trip(agent):
    service, client, port = agent
    assert client.wait_ready(AMPHORA_ID, "127.0.0.1", port, timeout=5).haproxy_version == "2.6"
    bundle = wire.ConfigBundle(haproxy_cfg="global\n", files={"a.pem": "x"})
    status = client.put_config(AMPHORA_ID, "127.0.0.1", port, bundle)
    assert status.config_digest == bundle.digest()
    assert service.applied == [bundle]
    assert client.stats(AMPHORA_ID, "127.0.0.1", port)[0]["stot"] == 1
    assert client.delete_config(AMPHORA_ID, "127.0.0.1", port).config_digest is None


def test_invalid_bundle_is_a_rejection_with_details(agent):
    service, client, port = agent
    service.failure = InvalidBundle("HAProxy configuration is invalid", "[ALERT] line 3")
    with pytest.raises(AgentRejected) as caught:
        client.put_config(AMPHORA_ID, "127.0.0.1", port, wire.ConfigBundle("x"))
    assert caught.value.status == 400
    assert caught.value.details == "[ALERT] line 3"


def test_apply_failure_and_unavailable_are_server_errors(agent):
    service, client, port = agent
    service.failure = ApplyFailed("HAProxy reload failed", "cannot bind")
    with pytest.raises(AgentFailed) as caught:
        client.put_config(AMPHORA_ID, "127.0.0.1", port, wire.ConfigBundle("x"))
    assert (caught.value.status, caught.value.details) == (500, "cannot bind")
    with pytest.raises(AgentFailed) as caught:
        client.stats(AMPHORA_ID, "127.0.0.1", port)
    assert caught.value.status == 503


def test_wrong_amphora_name_is_a_tls_error(agent):
    _, client, port = agent
    with pytest.raises(AgentTLSError):
        client.info("another-amphora", "127.0.0.1", port)


def test_nobody_listening_is_unreachable(agent):
    _, client, _port = agent
    with pytest.raises(AgentUnreachable):
        client.wait_ready(AMPHORA_ID, "127.0.0.1", 1, timeout=0.2)


def test_unknown_path_and_bad_body(agent):
    _, client, port = agent
    with pytest.raises(AgentRejected) as caught:
        client._request("GET", AMPHORA_ID, "127.0.0.1", port, "/1.0/nothing")
    assert caught.value.status == 404
    with pytest.raises(AgentRejected) as caught:
        client._request("POST", AMPHORA_ID, "127.0.0.1", port, wire.PATH_CONFIG)
    assert caught.value.status == 405
    with pytest.raises(AgentRejected) as caught:
        client._request(
            "PUT",
            AMPHORA_ID,
            "127.0.0.1",
            port,
            wire.PATH_CONFIG,
            body=b'{"files": {"../x": "y"}, "haproxy_cfg": ""}',
        )
    assert caught.value.status == 400
