"""The certificate manager contract: the same tests against both drivers.

- `local`: LocalCertificates over the embedded store (`lbaas.db.secrets`);
- `barbican`: BarbicanCertificates, python-barbicanclient over a keystoneauth1
  session, pointed at the lbaas API's own Barbican-compatible key-manager
  endpoint (/v1/secrets, /v1/containers).

Both read what a client stored through that endpoint with Barbican's API, in
one service (the API on SQLite, as tests/functional starts it). Callers are
members (`X-Roles: member`): under noauth a caller naming no roles is an
admin, who sees every project. The suite is skipped, with the reason printed,
when the service has no key-manager endpoint.
"""

import base64
import importlib.util
import shutil
import sys
import tempfile
import uuid

import pytest
import requests
from cryptography import x509
from keystoneauth1 import session as ks_session

from lbaas import config
from lbaas.drivers.certificates import parse
from lbaas.drivers.certificates.barbican import BarbicanCertificates
from lbaas.drivers.certificates.base import (
    CertificateError,
    CertificateManager,
    UnreadablePKCS12,
)
from lbaas.drivers.certificates.local import LocalCertificates
from tests.contract.conftest import assert_conforms
from tests.skips import skip_if
from tests.unit.drivers import certmaterial as cm

ROLES = 'member'
STARTED_WITH = [
    ('state_dir', None),
    ('compute_driver', 'controller_worker'),
    ('network_driver', 'controller_worker'),
    ('amphora_driver', 'controller_worker'),
    ('poll_interval', 'controller_worker'),
    ('retry_backoff', 'controller_worker'),
    ('wakeup_address', 'controller_worker'),
    ('local_network', 'networking'),
]
ELSEWHERE = 'https://barbican.elsewhere.example:9311'


def _missing_endpoint():
    for module in ('lbaas.api.keymanager', 'lbaas.db.secrets'):
        if importlib.util.find_spec(module) is None:
            return '%s does not exist yet' % module
    return None


@pytest.fixture(scope='module')
def service():
    reason = _missing_endpoint()
    skip_if(reason, 'the certificate manager contract')
    from tests.functional.conftest import start_service

    state_dir = tempfile.mkdtemp(prefix='lbaas-certmgr-')
    url, stop, _ = start_service(state_dir)
    try:
        answer = requests.get(url + '/v1/secrets', headers=_headers('probe'), timeout=5)
        if answer.status_code != 200:
            reason = 'GET /v1/secrets answers %s' % answer.status_code
            print('skipping the certificate manager contract: ' + reason, file=sys.stderr)
            pytest.skip(reason)
        yield url
    finally:
        stop()
        for name, group in STARTED_WITH:  # what start_service set, for the next modules
            config.CONF.clear_override(name, group)
        shutil.rmtree(state_dir, ignore_errors=True)


def _headers(project):
    return {'X-Project-Id': project, 'X-Roles': ROLES}


class Store:
    """A client of the key-manager endpoint, storing as one project."""

    def __init__(self, url, project):
        self.url, self.project = url, project

    def _post(self, path, body):
        answer = requests.post(
            self.url + path, json=body, headers=_headers(self.project), timeout=10
        )
        assert answer.status_code == 201, answer.text
        return answer.json()

    def secret(self, payload, content_type='application/octet-stream'):
        body = {'name': 'contract', 'secret_type': 'opaque'}
        if content_type == 'text/plain':
            body.update(payload=payload.decode(), payload_content_type='text/plain')
        else:
            body.update(
                payload=base64.b64encode(payload).decode(),
                payload_content_type=content_type,
                payload_content_encoding='base64',
            )
        return self._post('/v1/secrets', body)['secret_ref']

    def container(self, kind='certificate', **parts):
        refs = [
            {'name': role, 'secret_ref': self.secret(data, 'text/plain')}
            for role, data in parts.items()
        ]
        body = {'type': kind, 'name': 'contract', 'secret_refs': refs}
        return self._post('/v1/containers', body)['container_ref']


@pytest.fixture(params=['local', 'barbican'])
def manager(request, service):
    if request.param == 'local':
        from lbaas.db import secrets

        return LocalCertificates(secrets.READER)
    session = ks_session.Session(additional_headers={'X-Roles': ROLES})
    return BarbicanCertificates(session=session, endpoint=service)


@pytest.fixture
def project():
    return 'certmgr-' + uuid.uuid4().hex[:12]


@pytest.fixture
def store(service, project):
    return Store(service, project)


@pytest.fixture(scope='module')
def m():
    return cm.material()


def _ident(ref):
    return ref.rstrip('/').rsplit('/', 1)[-1]


def _parts(m, **override):
    parts = {
        'certificate': m.leaf_pem,
        'private_key': cm.key_pem(m.leaf_key),
        'intermediates': m.chain_pem,
    }
    parts.update(override)
    return {role: data for role, data in parts.items() if data is not None}


def _leaf(tls):
    return x509.load_pem_x509_certificate(tls.certificate)


@pytest.mark.parametrize('cls', [LocalCertificates, BarbicanCertificates])
def test_drivers_conform_to_the_seam(cls):
    assert_conforms(cls, CertificateManager)


# -- certificates -----------------------------------------------------------------------


@pytest.mark.parametrize('form', ['href', 'bare', 'elsewhere'])
def test_pkcs12_secret(manager, store, project, m, form):
    ref = store.secret(cm.p12(m.leaf_key, m.leaf, [m.intermediate, m.root]))
    ref = {'href': ref, 'bare': _ident(ref), 'elsewhere': ELSEWHERE + '/v1/secrets/' + _ident(ref)}[
        form
    ]
    tls = manager.get_certificate(project, ref)
    assert _leaf(tls) == m.leaf
    assert [x509.load_pem_x509_certificate(c) for c in tls.intermediates] == [
        m.intermediate,
        m.root,
    ]
    assert tls.private_key.startswith(b'-----BEGIN PRIVATE KEY-----')


@pytest.mark.parametrize('form', ['href', 'bare'])
def test_certificate_container(manager, store, project, m, form):
    ref = store.container(**_parts(m))
    tls = manager.get_certificate(project, ref if form == 'href' else _ident(ref))
    assert _leaf(tls) == m.leaf
    assert len(tls.intermediates) == 2


def test_container_with_encrypted_key(manager, store, project, m):
    passphrase = b'contract passphrase'
    ref = store.container(
        **_parts(m, private_key=cm.key_pem(m.leaf_key, passphrase)),
        private_key_passphrase=passphrase,
    )
    tls = manager.get_certificate(project, ref)
    assert b'ENCRYPTED' not in tls.private_key


@pytest.mark.parametrize('payload', ['pem', 'garbage', 'with passphrase'])
def test_secret_not_an_open_pkcs12_bundle(manager, store, project, m, payload):
    data = {
        'pem': m.leaf_pem,
        'garbage': b'\x00garbage\xff',
        'with passphrase': cm.p12(m.leaf_key, m.leaf, passphrase=b'secret'),
    }[payload]
    ref = store.secret(data)
    with pytest.raises(UnreadablePKCS12) as caught:
        manager.get_certificate(project, ref)
    assert caught.value.ref == ref


@pytest.mark.parametrize(
    'case, reason',
    [
        ('mismatched key', parse.MISMATCHED_KEY),
        ('no key', 'no private key'),
        ('generic container', 'not a certificate container'),
        ('garbage certificate', parse.UNREADABLE_CERT),
    ],
)
def test_bad_container(manager, store, project, m, case, reason):
    parts = _parts(m)
    if case == 'mismatched key':
        parts['private_key'] = cm.key_pem(m.stranger_key)
    elif case == 'no key':
        del parts['private_key']
    elif case == 'garbage certificate':
        parts['certificate'] = b'-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n'
    if case == 'generic container':
        ref = store.container(kind='generic', **parts)
    else:
        ref = store.container(**parts)
    with pytest.raises(CertificateError, match=reason) as caught:
        manager.get_certificate(project, ref)
    assert not isinstance(caught.value, UnreadablePKCS12)
    assert caught.value.ref == ref
    assert 'PRIVATE KEY' not in str(caught.value)


@pytest.mark.parametrize('kind', ['secrets', 'containers', None])
def test_nothing_there(manager, project, service, kind):
    ident = str(uuid.uuid4())
    ref = ident if kind is None else '%s/v1/%s/%s' % (service, kind, ident)
    with pytest.raises(CertificateError) as caught:
        manager.get_certificate(project, ref)
    assert not isinstance(caught.value, UnreadablePKCS12)
    assert caught.value.ref == ref


def test_another_projects_objects_are_absent(manager, service, project, m):
    theirs = Store(service, project + '-other')
    refs = [theirs.secret(cm.p12(m.leaf_key, m.leaf)), theirs.container(**_parts(m))]
    for ref in refs + [_ident(r) for r in refs]:
        with pytest.raises(CertificateError) as caught:
            manager.get_certificate(project, ref)
        assert not isinstance(caught.value, UnreadablePKCS12)
    with pytest.raises(CertificateError):
        manager.get_secret(project, refs[0])


def test_not_a_reference(manager, project):
    for ref in ('', 'not-a-uuid', ELSEWHERE + '/v1/orders/' + str(uuid.uuid4())):
        with pytest.raises(CertificateError):
            manager.get_certificate(project, ref)


# -- secrets ----------------------------------------------------------------------------


@pytest.mark.parametrize('content_type', ['text/plain', 'application/octet-stream'])
def test_get_secret(manager, store, project, m, content_type):
    bundle = cm.pem(m.root) + cm.pem(m.other_ca)
    ref = store.secret(bundle, content_type)
    assert manager.get_secret(project, ref) == bundle
    assert manager.get_secret(project, _ident(ref)) == bundle
    assert parse.read_ca_bundle(ref, manager.get_secret(project, ref)) == (m.root, m.other_ca)


def test_get_secret_of_a_crl(manager, store, project, m):
    crl = cm.crl(m.root, m.root_key, revoked=[m.intermediate.serial_number])
    ca_ref, crl_ref = store.secret(cm.pem(m.root), 'text/plain'), store.secret(crl, 'text/plain')
    parse.check_client_ca(
        ca_ref, manager.get_secret(project, ca_ref), crl_ref, manager.get_secret(project, crl_ref)
    )


def test_get_secret_failures(manager, store, project, service, m):
    container = store.container(**_parts(m))
    for ref in (container, '%s/v1/secrets/%s' % (service, uuid.uuid4())):
        with pytest.raises(CertificateError) as caught:
            manager.get_secret(project, ref)
        assert caught.value.ref == ref
