"""Bundle staging, validation with `haproxy -c`, atomic swap and rollback."""

import os
import shutil
import stat

import pytest

from lbaas import wire
from lbaas.agent.bundle import BundleStore, InvalidBundle
from lbaas.drivers.pki import ControllerPKI

needs_haproxy = pytest.mark.skipif(
    shutil.which("haproxy") is None, reason="haproxy is not installed"
)

CONFIG = """global
    maxconn 100
defaults
    mode http
    timeout connect 1s
    timeout client 1s
    timeout server 1s
frontend vip
    bind 127.0.0.1:{port}
    default_backend pool
backend pool
    server be1 127.0.0.1:9
"""


def bundle(port=18000, **kwargs):
    return wire.ConfigBundle(haproxy_cfg=CONFIG.format(port=port), **kwargs)


@pytest.fixture
def store(tmp_path):
    return BundleStore(str(tmp_path))


@needs_haproxy
def test_valid_bundle_is_staged_privately(store):
    gen_dir = store.stage(bundle(files={"tls/a.pem": "A"}))
    assert store.current_dir() is None  # staging does not switch
    with open(os.path.join(gen_dir, wire.DIGEST_NAME)) as f:
        assert f.read().strip() == bundle(files={"tls/a.pem": "A"}).digest()
    key_file = os.path.join(gen_dir, wire.FILES_SUBDIR, "tls", "a.pem")
    assert stat.S_IMODE(os.stat(key_file).st_mode) == 0o600


@needs_haproxy
def test_invalid_bundle_is_refused_with_haproxy_output(store):
    store.activate(store.stage(bundle()))
    before = store.current_digest()
    bad = wire.ConfigBundle(haproxy_cfg=CONFIG.format(port=18000) + "    bogus_keyword 1\n")
    with pytest.raises(InvalidBundle) as caught:
        store.stage(bad)
    assert "bogus_keyword" in caught.value.details
    assert store.current_digest() == before
    assert len([n for n in os.listdir(store.config_dir) if n.startswith("gen-")]) == 1


@needs_haproxy
def test_bundle_files_resolve_relative_to_the_bundle(store, tmp_path):
    issued = ControllerPKI(tmp_path / "pki").issue_amphora_cert("listener")
    pem = (issued.cert_pem + issued.key_pem).decode()
    cfg = CONFIG.format(port=18000).replace(
        "bind 127.0.0.1:18000", "bind 127.0.0.1:18000 ssl crt listeners/site.pem"
    )
    store.stage(wire.ConfigBundle(haproxy_cfg=cfg, files={"listeners/site.pem": pem}))
    with pytest.raises(InvalidBundle):  # the same config without the file
        store.stage(wire.ConfigBundle(haproxy_cfg=cfg))


@needs_haproxy
def test_activate_rollback_and_prune(store):
    first = store.stage(bundle(18000))
    assert store.activate(first) is None
    second = store.stage(bundle(18001))
    assert store.activate(second) == first
    assert store.current_digest() == bundle(18001).digest()
    store.rollback(first)
    assert store.current_digest() == bundle(18000).digest()
    third = store.stage(bundle(18002))
    store.activate(third)
    store.prune()  # keeps current (third) and previous (first)
    assert not os.path.exists(second)
    assert os.path.exists(first) and os.path.exists(third)
    store.remove_all()
    assert store.current_digest() is None
    assert not [n for n in os.listdir(store.config_dir) if n.startswith("gen-")]


def test_missing_haproxy_is_reported(tmp_path):
    store = BundleStore(str(tmp_path), haproxy_bin="/nonexistent/haproxy")
    with pytest.raises(InvalidBundle) as caught:
        store.stage(bundle())
    assert "not installed" in caught.value.details
