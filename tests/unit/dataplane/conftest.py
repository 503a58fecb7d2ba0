"""Fixtures for the data-plane tests: a throw-away PKI for `haproxy -c`."""

from __future__ import annotations

import datetime
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

_NOW = datetime.datetime.now(datetime.UTC)


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _certificate(subject: str, key, issuer: str, issuer_key, is_ca: bool) -> x509.Certificate:
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name(subject))
        .issuer_name(_name(issuer))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(_NOW - datetime.timedelta(minutes=5))
        .not_valid_after(_NOW + datetime.timedelta(days=2))
        .add_extension(x509.BasicConstraints(ca=is_ca, path_length=None), critical=True)
    )
    if not is_ca:
        builder = builder.add_extension(
            x509.SubjectAlternativeName([x509.DNSName(subject)]), critical=False
        )
    return builder.sign(issuer_key, hashes.SHA256())


def _pem(cert: x509.Certificate, key=None) -> bytes:
    text = cert.public_bytes(serialization.Encoding.PEM)
    if key is not None:
        text += key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    return text


def _crl(ca_cert: x509.Certificate, ca_key) -> bytes:
    crl = (
        x509.CertificateRevocationListBuilder()
        .issuer_name(ca_cert.subject)
        .last_update(_NOW - datetime.timedelta(minutes=5))
        .next_update(_NOW + datetime.timedelta(days=2))
        .sign(ca_key, hashes.SHA256())
    )
    return crl.public_bytes(serialization.Encoding.PEM)


@pytest.fixture(scope="session")
def pki_files() -> dict[str, bytes]:
    """File name -> content for every certificate file the golden cases name.
    One small CA signs everything; HAProxy only loads them under `-c`."""
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_cert = _certificate("lbaas test CA", ca_key, "lbaas test CA", ca_key, is_ca=True)
    files = {
        "client-ca.pem": _pem(ca_cert),
        "pool-ca.pem": _pem(ca_cert),
        "client.crl": _crl(ca_cert, ca_key),
        "pool.crl": _crl(ca_cert, ca_key),
    }
    for name, host in [
        ("default.pem", "www.example.test"),
        ("sni-api.pem", "api.example.test"),
        ("sni-static.pem", "static.example.test"),
        ("pool-client.pem", "lb.example.test"),
    ]:
        key = ec.generate_private_key(ec.SECP256R1())
        files[name] = _pem(_certificate(host, key, "lbaas test CA", ca_key, is_ca=False), key)
    return files


@pytest.fixture(scope="session")
def state_dir(tmp_path_factory, pki_files) -> Path:
    """An amphora state directory holding what a rendered config refers to."""
    root = tmp_path_factory.mktemp("amphora")
    (root / "certs").mkdir()
    (root / "haproxy").mkdir()
    for name, content in pki_files.items():
        (root / "certs" / name).write_bytes(content)
    # A server-state file that holds only the format version, as after a dump
    # with no servers; HAProxy warns about a missing or empty one.
    (root / "haproxy" / "server-state").write_text("1\n")
    script = root / "haproxy" / "ping-check.sh"
    script.write_text("#!/bin/sh\nexit 0\n")
    script.chmod(0o755)
    return root
