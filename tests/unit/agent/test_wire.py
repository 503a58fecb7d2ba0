"""The wire schema: round trips, digest stability, refusal of bad input."""

import subprocess
import sys

import pytest

from lbaas import wire

BUNDLE = wire.ConfigBundle(
    haproxy_cfg="global\n    maxconn 100\n",
    files={"listeners/b.pem": "B", "listeners/a.pem": "A"},
    keepalived_cfg="global_defs {}\n",
)


def test_bundle_round_trip():
    assert wire.from_json(wire.ConfigBundle, wire.to_json(BUNDLE)) == BUNDLE


def test_status_and_info_round_trip():
    status = wire.AgentStatus(
        amphora_id="amp",
        config_digest="ab" * 32,
        haproxy_running=True,
        haproxy_pid=42,
        haproxy_reloads=3,
        keepalived_running=True,
    )
    info = wire.AgentInfo(amphora_id="amp", haproxy_version="2.6.12", hostname="h")
    assert wire.from_json(wire.AgentStatus, wire.to_json(status)) == status
    assert wire.from_json(wire.AgentInfo, wire.to_json(info)) == info


def test_digest_ignores_file_order_and_is_pinned():
    reordered = wire.ConfigBundle(
        haproxy_cfg=BUNDLE.haproxy_cfg,
        files={"listeners/a.pem": "A", "listeners/b.pem": "B"},
        keepalived_cfg=BUNDLE.keepalived_cfg,
    )
    assert reordered.digest() == BUNDLE.digest()
    # Pinned: a change of the canonical form would make every controller
    # upgrade reload every amphora once. Change it only on purpose.
    assert BUNDLE.digest() == ("f30c05602d10fe52eed456c136e4b5473457ce5a078bff766e40a29faef5472d")


@pytest.mark.parametrize(
    "change",
    [
        {"haproxy_cfg": "global\n    maxconn 101\n"},
        {"files": {"listeners/a.pem": "A"}},
        {"files": {"listeners/a.pem": "A", "listeners/b.pem": "B2"}},
        {"keepalived_cfg": None},
    ],
)
def test_digest_covers_every_field(change):
    fields = BUNDLE.to_dict() | change
    assert wire.ConfigBundle(**fields).digest() != BUNDLE.digest()


def test_digest_survives_the_wire():
    decoded = wire.from_json(wire.ConfigBundle, wire.to_json(BUNDLE))
    assert decoded.digest() == BUNDLE.digest()


@pytest.mark.parametrize("path", ["/etc/passwd", "../x", "a/../../x", "a//b", "./a", ""])
def test_bundle_refuses_paths_leaving_the_bundle(path):
    raw = wire.to_json({"haproxy_cfg": "x", "files": {path: "y"}})
    with pytest.raises(wire.WireError):
        wire.from_json(wire.ConfigBundle, raw)


@pytest.mark.parametrize(
    "raw",
    [
        b"not json",
        b"[]",
        b'{"files": {}}',
        b'{"haproxy_cfg": 3}',
        b'{"haproxy_cfg": "x", "files": {"a": 1}}',
    ],
)
def test_bundle_refuses_malformed_input(raw):
    with pytest.raises(wire.WireError):
        wire.from_json(wire.ConfigBundle, raw)


def test_state_paths_are_relative():
    for name in (
        "STATS_SOCKET",
        "MASTER_SOCKET",
        "PID_FILE",
        "SERVER_STATE_FILE",
        "CURRENT_BUNDLE",
        "CA_FILE",
        "CERT_FILE",
        "KEY_FILE",
    ):
        assert not getattr(wire, name).startswith("/")
    assert wire.state_path("/s", wire.STATS_SOCKET) == "/s/haproxy/stats.sock"


def test_wire_imports_nothing_heavy():
    code = (
        "import sys, lbaas.wire; heavy = {'pydantic', 'sqlalchemy', 'cryptography',"
        " 'oslo_config', 'jinja2'} & set(sys.modules); print(sorted(heavy))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout.strip()
    assert out == "[]"


def test_agent_imports_only_wire_from_lbaas():
    code = (
        "import sys, lbaas.agent.main; print(sorted(m for m in sys.modules"
        " if m.startswith('lbaas') and not m.startswith('lbaas.agent')))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout.strip()
    assert out == "['lbaas', 'lbaas.wire']"
