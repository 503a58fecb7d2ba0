"""LocalCertificates over an in-memory SecretReader: references, Octavia's
order of trying (PKCS12 secret, then certificate container), and failures."""

import dataclasses
import uuid

import pytest
from cryptography import x509

from lbaas import config
from lbaas.drivers import registry
from lbaas.drivers.certificates import parse
from lbaas.drivers.certificates.base import CertificateError, UnreadablePKCS12
from lbaas.drivers.certificates.local import LocalCertificates
from lbaas.drivers.certificates.resolve import parse_reference
from tests.unit.drivers import certmaterial as cm

PROJECT = 'project-a'
OTHER = 'project-b'


@dataclasses.dataclass(frozen=True)
class FakeSecret:
    id: str
    project_id: str
    payload: bytes | None
    name: str | None = None
    secret_type: str = 'opaque'
    content_type: str | None = 'application/octet-stream'


@dataclasses.dataclass(frozen=True)
class FakeContainer:
    id: str
    project_id: str
    secret_ids: dict
    type: str = 'certificate'
    name: str | None = None


class FakeReader:
    """The SecretReader protocol over two dicts; LookupError across projects."""

    def __init__(self):
        self.secrets, self.containers = {}, {}
        self.failure = None

    def add_secret(self, payload, project=PROJECT):
        secret = FakeSecret(str(uuid.uuid4()), project, payload)
        self.secrets[secret.id] = secret
        return secret.id

    def add_container(self, project=PROJECT, kind='certificate', **parts):
        ids = {role: self.add_secret(data, project) for role, data in parts.items()}
        container = FakeContainer(str(uuid.uuid4()), project, ids, kind)
        self.containers[container.id] = container
        return container.id

    def _get(self, table, project_id, ident):
        if self.failure:
            raise self.failure
        found = table.get(ident)
        if found is None or (project_id is not None and found.project_id != project_id):
            raise LookupError(ident)
        return found

    def secret(self, project_id, secret_id):
        return self._get(self.secrets, project_id, secret_id)

    def container(self, project_id, container_id):
        return self._get(self.containers, project_id, container_id)


@pytest.fixture
def reader():
    return FakeReader()


@pytest.fixture
def manager(reader):
    return LocalCertificates(reader)


@pytest.fixture(scope='module')
def m():
    return cm.material()


def href(kind, ident, host='https://keys.example:9311'):
    return '%s/v1/%s/%s' % (host, kind, ident)


def container_parts(m, **override):
    parts = {
        'certificate': m.leaf_pem,
        'private_key': cm.key_pem(m.leaf_key),
        'intermediates': m.chain_pem,
    }
    parts.update(override)
    return {role: data for role, data in parts.items() if data is not None}


def leaf_of(tls):
    return x509.load_pem_x509_certificate(tls.certificate)


# -- references -------------------------------------------------------------------------


@pytest.mark.parametrize(
    'ref, kind',
    [
        ('http://10.0.0.1:9311/v1/secrets/%s', 'secrets'),
        ('https://km.example/key-manager/v1/containers/%s/', 'containers'),
        ('/v1/secrets/%s?x=1', 'secrets'),
        ('%s', None),
    ],
)
def test_references_are_read_from_any_host(ref, kind):
    ident = str(uuid.uuid4())
    parsed = parse_reference(ref % ident.upper())
    assert (parsed.kind, parsed.id) == (kind, ident)


@pytest.mark.parametrize(
    'ref', ['', 'not-a-uuid', 'http://km/v1/orders/%s', 'http://km/v1/secrets/xyz', '%s/payload']
)
def test_bad_references_are_refused(manager, ref):
    ref = ref.replace('%s', str(uuid.uuid4())) if '%s' in ref else ref
    with pytest.raises(CertificateError) as caught:
        manager.get_certificate(PROJECT, ref)
    assert caught.value.ref == ref


# -- get_certificate --------------------------------------------------------------------


@pytest.mark.parametrize('form', ['href', 'bare'])
def test_pkcs12_secret(manager, reader, m, form):
    ident = reader.add_secret(cm.p12(m.leaf_key, m.leaf, [m.intermediate]))
    tls = manager.get_certificate(PROJECT, href('secrets', ident) if form == 'href' else ident)
    assert leaf_of(tls) == m.leaf
    assert len(tls.intermediates) == 1


@pytest.mark.parametrize('form', ['href', 'bare'])
def test_certificate_container(manager, reader, m, form):
    ident = reader.add_container(**container_parts(m))
    ref = href('containers', ident) if form == 'href' else ident
    tls = manager.get_certificate(PROJECT, ref)
    assert leaf_of(tls) == m.leaf
    assert len(tls.intermediates) == 2


def test_container_with_passphrase(manager, reader, m):
    passphrase = b'open sesame'
    ident = reader.add_container(
        **container_parts(m, private_key=cm.key_pem(m.leaf_key, passphrase)),
        private_key_passphrase=passphrase,
    )
    assert leaf_of(manager.get_certificate(PROJECT, ident)) == m.leaf


def test_secret_that_is_not_pkcs12_is_unreadable_pkcs12(manager, reader, m):
    ident = reader.add_secret(m.leaf_pem)
    ref = href('secrets', ident)
    with pytest.raises(UnreadablePKCS12) as caught:
        manager.get_certificate(PROJECT, ref)
    assert caught.value.ref == ref


def test_another_projects_objects_are_absent(manager, reader, m):
    secret = reader.add_secret(cm.p12(m.leaf_key, m.leaf), project=OTHER)
    container = reader.add_container(project=OTHER, **container_parts(m))
    for ref in (href('secrets', secret), href('containers', container), secret, container):
        with pytest.raises(CertificateError) as caught:
            manager.get_certificate(PROJECT, ref)
        assert not isinstance(caught.value, UnreadablePKCS12)
        assert caught.value.ref == ref


@pytest.mark.parametrize(
    'case, reason',
    [
        ('mismatched key', parse.MISMATCHED_KEY),
        ('no key', 'no private key'),
        ('no certificate', 'no certificate'),
        ('generic container', 'not a certificate container'),
        ('missing secret', 'cannot be read'),
        ('secret without payload', 'no certificate'),
    ],
)
def test_bad_containers(manager, reader, m, case, reason):
    parts = container_parts(m)
    kind = 'generic' if case == 'generic container' else 'certificate'
    if case == 'mismatched key':
        parts['private_key'] = cm.key_pem(m.stranger_key)
    elif case == 'no key':
        del parts['private_key']
    elif case == 'no certificate':
        del parts['certificate']
    ident = reader.add_container(kind=kind, **parts)
    secret_ids = reader.containers[ident].secret_ids
    if case == 'missing secret':
        del reader.secrets[secret_ids['intermediates']]
    elif case == 'secret without payload':
        reader.secrets[secret_ids['certificate']] = dataclasses.replace(
            reader.secrets[secret_ids['certificate']], payload=None
        )
    ref = href('containers', ident)
    with pytest.raises(CertificateError, match=reason) as caught:
        manager.get_certificate(PROJECT, ref)
    assert caught.value.ref == ref


def test_no_error_quotes_the_key(manager, reader, m):
    key = cm.key_pem(m.stranger_key)
    ident = reader.add_container(**container_parts(m, private_key=key))
    with pytest.raises(CertificateError) as caught:
        manager.get_certificate(PROJECT, ident)
    for line in key.splitlines()[1:-1]:
        assert line.decode() not in str(caught.value)


def test_secret_ref_to_nothing_does_not_try_containers(manager, reader, m):
    ident = reader.add_container(**container_parts(m))
    with pytest.raises(CertificateError, match='no such secret'):
        manager.get_certificate(PROJECT, href('secrets', ident))


def test_store_failure_propagates(manager, reader):
    reader.failure = RuntimeError('database away')
    with pytest.raises(RuntimeError):
        manager.get_certificate(PROJECT, str(uuid.uuid4()))


# -- get_secret -------------------------------------------------------------------------


def test_get_secret_returns_the_payload(manager, reader, m):
    ident = reader.add_secret(cm.pem(m.root))
    assert manager.get_secret(PROJECT, href('secrets', ident)) == cm.pem(m.root)
    assert manager.get_secret(PROJECT, ident) == cm.pem(m.root)


@pytest.mark.parametrize('case', ['missing', 'other project', 'container', 'no payload'])
def test_get_secret_failures(manager, reader, m, case):
    if case == 'container':
        ref = href('containers', reader.add_container(**container_parts(m)))
    elif case == 'no payload':
        ref = reader.add_secret(None)
    else:
        project = OTHER if case == 'other project' else PROJECT
        ident = reader.add_secret(cm.pem(m.root), project=project)
        if case == 'missing':
            del reader.secrets[ident]
        ref = href('secrets', ident)
    with pytest.raises(CertificateError) as caught:
        manager.get_secret(PROJECT, ref)
    assert caught.value.ref == ref


# -- the registry ---------------------------------------------------------------------


@pytest.mark.parametrize(
    'name, expected',
    [
        ('local', 'LocalCertificates'),
        ('local_cert_manager', 'LocalCertificates'),
        ('barbican', 'BarbicanCertificates'),
        ('barbican_cert_manager', 'BarbicanCertificates'),
    ],
)
def test_registry_picks_by_cert_manager(reader, name, expected):
    config.CONF.set_override('cert_manager', name, 'certificates')
    try:
        chosen = registry.certificate_manager(reader)
    finally:
        config.CONF.clear_override('cert_manager', 'certificates')
    assert type(chosen).__name__ == expected
