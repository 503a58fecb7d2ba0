"""BarbicanCertificates without a Barbican: failures are CertificateErrors."""

import socket
import uuid

import pytest
from keystoneauth1 import session as ks_session

from lbaas.drivers.certificates import barbican
from lbaas.drivers.certificates.base import CertificateError
from lbaas.drivers.certificates.resolve import Missing


def _closed_port():
    with socket.socket() as sock:
        sock.bind(('127.0.0.1', 0))
        return sock.getsockname()[1]


def test_unreachable_key_manager_is_a_certificate_error():
    manager = barbican.BarbicanCertificates(
        session=ks_session.Session(), endpoint='http://127.0.0.1:%d' % _closed_port()
    )
    ref = 'http://127.0.0.1/v1/secrets/%s' % uuid.uuid4()
    with pytest.raises(CertificateError) as caught:
        manager.get_certificate('p', ref)
    assert caught.value.ref == ref
    assert 'could not be reached' in caught.value.reason


@pytest.mark.parametrize(
    'exc, expected',
    [
        (barbican.barbican_errors.HTTPClientError('gone', 404), Missing),
        (barbican.barbican_errors.HTTPClientError('forbidden', 403), CertificateError),
        (barbican.barbican_errors.HTTPAuthError('who'), CertificateError),
        (barbican.barbican_errors.HTTPServerError('boom', 500), CertificateError),
        (LookupError('no container'), Missing),
    ],
)
def test_errors_are_translated(exc, expected):
    assert type(barbican._translate('x', exc)) is expected
