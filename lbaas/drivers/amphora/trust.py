"""Checking an agent's certificate ourselves, dates aside.

Every call to an agent lets OpenSSL verify its certificate in the handshake:
our CA, the amphora's id as name, and the validity period. One call must
work without the last check: rotating the certificate of an agent whose
certificate has already expired (a controller that was down for weeks, a
renewal that kept failing). Without it that amphora could only be replaced.

So the rotation connects with verification off (CERT_NONE, still presenting
our client certificate, which the agent still demands) and, before a byte of
the request is sent, checks the certificate the agent presented with
cryptography's RFC 5280 verifier: the same chain to one of our CAs, the same
name and serverAuth usage, evaluated at a moment inside the certificate's own
validity. Its dates are the only thing left unchecked, and only in that call.
"""

from __future__ import annotations

import datetime

from cryptography import x509
from cryptography.x509 import verification

ONE_SECOND = datetime.timedelta(seconds=1)


class UntrustedCertificate(Exception):
    """The agent's certificate is not ours or not this amphora's."""


def load_trusted(ca_file: str) -> list[x509.Certificate]:
    with open(ca_file, "rb") as f:
        return x509.load_pem_x509_certificates(f.read())


def verify_ignoring_dates(
    der: bytes | None, trusted: list[x509.Certificate], amphora_id: str
) -> x509.Certificate:
    """The agent's certificate, if it chains to `trusted` and names `amphora_id`."""
    if not der:
        raise UntrustedCertificate("the agent presented no certificate")
    try:
        cert = x509.load_der_x509_certificate(der)
    except ValueError as exc:
        raise UntrustedCertificate(f"unreadable certificate: {exc}") from None
    now = datetime.datetime.now(datetime.UTC)
    # Now if it is still valid, else the last second it was: every other check holds.
    moment = max(min(now, cert.not_valid_after_utc - ONE_SECOND), cert.not_valid_before_utc)
    verifier = (
        verification.PolicyBuilder()
        .store(verification.Store(trusted))
        .time(moment)
        .build_server_verifier(x509.DNSName(amphora_id))
    )
    try:
        verifier.verify(cert, [])
    except (verification.VerificationError, ValueError) as exc:
        raise UntrustedCertificate(str(exc)) from None
    return cert
