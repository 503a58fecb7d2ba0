"""The embedded key-manager (Barbican API v1 subset) through the real API.

python-barbicanclient unchanged, in its three forms: the library with an
endpoint and a project (it calls `/v1/...`), the `openstack secret ...` CLI
under `--os-auth-type none --os-endpoint` (it calls `/secrets...` without
`/v1`), and a keystone session whose catalog names the key-manager at
`<endpoint>/v1` (tokens checked by a stand-in for keystonemiddleware).
"""
import base64
import datetime
import os
import subprocess
import sys
import threading
import uuid
from wsgiref import simple_server

import pytest
import requests
from barbicanclient import client as barbican_client
from barbicanclient import exceptions as barbican_exceptions
from cryptography import x509
from cryptography.fernet import Fernet
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import NameOID
from keystoneauth1 import access
from keystoneauth1 import session as ks_session
from keystoneauth1.identity import access as access_plugin
from sqlalchemy import select

from lbaas import config
from lbaas.db import models
from lbaas.db import session as db
from tests.functional.conftest import _QuietHandler, _ThreadingServer

OPENSTACK = os.path.join(os.path.dirname(sys.executable), 'openstack')


def project():
    return 'km-' + uuid.uuid4().hex[:12]


def barbican(service, project_id, roles='member', user=None):
    headers = {} if roles is None else {'X-Roles': roles}
    if user:
        headers['X-User-Id'] = user
    return barbican_client.Client(session=ks_session.Session(additional_headers=headers),
                                  endpoint=service['url'], project_id=project_id)


def http(service, project_id, roles='member', user=None):
    session = requests.Session()
    session.headers['X-Project-Id'] = project_id
    if roles is not None:
        session.headers['X-Roles'] = roles
    if user:
        session.headers['X-User-Id'] = user
    return session


def error(resp, status):
    """Assert Barbican's error body with `status`; return its description."""
    assert resp.status_code == status, resp.text
    body = resp.json()
    assert set(body) == {'code', 'title', 'description'}, body
    assert body['code'] == status and body['title']
    return body['description']


def uuid_of(ref):
    return ref.rstrip('/').rsplit('/', 1)[-1]


def total(service, session, collection='secrets'):
    resp = session.get(service['url'] + '/v1/%s?limit=0' % collection)
    assert resp.status_code == 200, resp.text
    return resp.json()['total']


# --- material ---------------------------------------------------------------------
def _certificate(subject, issuer, key, issuer_key, ca):
    now = datetime.datetime.now(datetime.UTC)
    builder = (x509.CertificateBuilder()
               .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)]))
               .issuer_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, issuer)]))
               .public_key(key.public_key()).serial_number(x509.random_serial_number())
               .not_valid_before(now - datetime.timedelta(days=1))
               .not_valid_after(now + datetime.timedelta(days=30))
               .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True))
    return builder.sign(issuer_key, hashes.SHA256())


@pytest.fixture(scope='module')
def tls_material(tmp_path_factory):
    """The cookbook's files: server.key, server.crt, ca-chain.crt, server.p12."""
    where = tmp_path_factory.mktemp('tls')
    ca_key, key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    ca = _certificate('test CA', 'test CA', ca_key, ca_key, True)
    server = _certificate('www.example.com', 'test CA', key, ca_key, False)
    files = {
        'server.key': key.private_bytes(serialization.Encoding.PEM,
                                        serialization.PrivateFormat.PKCS8,
                                        serialization.NoEncryption()),
        'server.crt': server.public_bytes(serialization.Encoding.PEM),
        'ca-chain.crt': ca.public_bytes(serialization.Encoding.PEM),
    }
    for name, data in files.items():
        (where / name).write_bytes(data)
    p12 = where / 'server.p12'
    openssl = subprocess.run(
        ['openssl', 'pkcs12', '-export', '-inkey', 'server.key', '-in', 'server.crt',
         '-certfile', 'ca-chain.crt', '-passout', 'pass:', '-out', 'server.p12'],
        cwd=where, capture_output=True, check=False) if _has('openssl') else None
    if openssl is None or openssl.returncode != 0:
        p12.write_bytes(pkcs12.serialize_key_and_certificates(
            None, key, server, [ca], serialization.NoEncryption()))
    files['server.p12'] = p12.read_bytes()
    files['dir'] = where
    return files


def _has(program):
    return any(os.access(os.path.join(d, program), os.X_OK)
               for d in os.environ.get('PATH', '').split(os.pathsep))


# --- discovery ----------------------------------------------------------------------
def test_root_answers_barbican_only_when_asked(service):
    url = service['url']
    asked = requests.get(url + '/', headers={'OpenStack-API-Version': 'key-manager 1.1',
                                             'Accept': 'application/json'})
    assert asked.status_code == 300
    [version] = asked.json()['versions']['values']
    assert (version['id'], version['min_version']) == ('v1', '1.0')
    assert version['links'][0]['href'] == url + '/v1/'
    octavia = requests.get(url + '/').json()['versions']
    assert octavia[0]['id'] == 'v2.0' and octavia[-1]['status'] == 'CURRENT'
    assert requests.get(url + '/v1').json()['version']['id'] == 'v1'


# --- the library ----------------------------------------------------------------------
def test_library_secret_lifecycle(service):
    owner = project()
    km = barbican(service, owner)
    name = 'lib-' + uuid.uuid4().hex[:6]
    text_ref = km.secrets.create(name=name, payload='pem text \u00e9\n').store()
    binary_ref = km.secrets.create(name=name + '-bin', payload=b'\x00\xff\x10raw').store()
    assert text_ref.startswith(service['url'] + '/v1/secrets/')

    [listed] = km.secrets.list(name=name)
    assert listed.secret_ref == text_ref and listed.status == 'ACTIVE'
    assert listed.content_types == {'default': 'text/plain'}
    assert km.secrets.get(text_ref).payload == 'pem text \u00e9\n'
    got = km.secrets.get(binary_ref)
    assert (got.name, got.secret_type, got.payload) == (name + '-bin', 'opaque', b'\x00\xff\x10raw')
    assert got.created is not None

    two_step = km.secrets.create(name=name + '-later')
    later_ref = two_step.store()
    assert km.secrets.get(later_ref).content_types is None
    km.secrets.update(later_ref, b'given afterwards')
    assert km.secrets.get(later_ref).payload == b'given afterwards'
    with pytest.raises(barbican_exceptions.HTTPClientError) as raised:
        km.secrets.update(later_ref, b'twice')
    assert raised.value.status_code == 409

    assert km.secrets.total() == 3
    for ref in (text_ref, binary_ref, later_ref):
        km.secrets.delete(ref)
    with pytest.raises(barbican_exceptions.HTTPClientError) as raised:
        km.secrets.get(text_ref).name  # noqa: B018 (the lazy load raises)
    assert raised.value.status_code == 404
    assert km.secrets.list() == []


def test_library_containers(service, tls_material):
    owner = project()
    km = barbican(service, owner)
    cert = km.secrets.create(name='cert', payload=tls_material['server.crt'].decode())
    key = km.secrets.create(name='key', payload=tls_material['server.key'].decode())
    chain = km.secrets.create(name='chain', payload=tls_material['ca-chain.crt'].decode())
    ref = km.containers.create_certificate(name='tls', certificate=cert, private_key=key,
                                           intermediates=chain).store()
    got = km.containers.get(ref)
    assert got.name == 'tls' and got.status == 'ACTIVE'
    assert got.certificate.payload == tls_material['server.crt'].decode()
    assert got.private_key.payload == tls_material['server.key'].decode()
    assert got.intermediates.secret_ref == chain.secret_ref
    generic = km.containers.create(name='bag', secrets={'anything': cert}).store()
    assert {c.container_ref for c in km.containers.list()} == {ref, generic}
    assert [c.container_ref for c in km.containers.list(name='bag')] == [generic]
    km.containers.delete(ref)
    km.containers.delete(generic)
    assert km.containers.list() == []
    assert km.secrets.get(cert.secret_ref).name == 'cert'  # secrets outlive containers


# --- the CLI, and the cookbook ----------------------------------------------------------
def openstack(service, *args):
    env = {k: v for k, v in os.environ.items() if not k.startswith('OS_')}
    env['OS_CLIENT_CONFIG_FILE'] = os.devnull
    done = subprocess.run([OPENSTACK, '--os-auth-type', 'none', '--os-endpoint', service['url'],
                           *args], capture_output=True, text=True, timeout=120, env=env,
                          stdin=subprocess.DEVNULL)
    assert done.returncode == 0, '%s\n%s%s' % (args, done.stdout, done.stderr[-3000:])
    return done.stdout


def test_cli_cookbook_pkcs12_round_trip(service, tls_material):
    name = 'tls_secret1-' + uuid.uuid4().hex[:6]
    encoded = base64.encodebytes(tls_material['server.p12']).decode()  # `base64 < server.p12`
    openstack(service, 'secret', 'store', '--name=' + name, '-t', 'application/octet-stream',
              '-e', 'base64', '--payload=' + encoded.rstrip('\n'))
    ca_name = 'client_ca_cert-' + uuid.uuid4().hex[:6]
    ca_pem = tls_material['ca-chain.crt'].decode().rstrip('\n')  # `$(cat client_ca.pem)`
    openstack(service, 'secret', 'store', '--name=' + ca_name, '-t', 'text/plain',
              '--payload=' + ca_pem)

    table = openstack(service, 'secret', 'list', '--limit', '100')
    # awk '/ tls_secret1 / {print $2}'
    [ref] = [line.split()[1] for line in table.splitlines() if ' %s ' % name in line]
    assert ref.startswith(service['url'] + '/v1/secrets/')

    out = tls_material['dir'] / ('%s.p12' % name)
    openstack(service, 'secret', 'get', ref, '--file', str(out),
              '-t', 'application/octet-stream')  # the CLI's default would be text/plain
    assert out.read_bytes() == tls_material['server.p12']
    shown = openstack(service, 'secret', 'get', ref, '-f', 'value', '-c', 'Content types')
    assert 'application/octet-stream' in shown
    [ca_ref] = [line.split()[1] for line in table.splitlines() if ' %s ' % ca_name in line]
    payload = openstack(service, 'secret', 'get', ca_ref, '--payload', '-f', 'value')
    assert payload.rstrip('\n') == ca_pem

    # The library (another form of client) reads the same bytes.
    km = barbican(service, config.CONF.api_settings.default_project_id, roles=None)
    assert km.secrets.get(ref).payload == tls_material['server.p12']
    openstack(service, 'secret', 'delete', ref)
    openstack(service, 'secret', 'delete', ca_ref)
    assert ' %s ' % name not in openstack(service, 'secret', 'list', '--limit', '100')


# --- scoping and roles ------------------------------------------------------------------
@pytest.fixture
def owned(service):
    """A project's secret (with payload) and certificate container."""
    owner = project()
    km = barbican(service, owner, user='creator')
    secret = km.secrets.create(name='mine', payload=b'top secret bytes')
    secret.store()
    ref = km.containers.create_certificate(name='c', certificate=secret).store()
    return {'project': owner, 'secret': uuid_of(secret.secret_ref), 'container': uuid_of(ref)}


def test_another_project_neither_lists_reads_nor_deletes(service, owned):
    url, stranger = service['url'], http(service, project())
    secret, container = owned['secret'], owned['container']
    for prefix in ('/v1', ''):
        assert stranger.get(url + prefix + '/secrets').json()['secrets'] == []
        assert stranger.get(url + prefix + '/containers').json()['containers'] == []
        for path in ('/secrets/' + secret, '/secrets/%s/payload' % secret,
                     '/secrets/%s/acl' % secret, '/containers/' + container,
                     '/containers/%s/acl' % container):
            error(stranger.get(url + prefix + path), 404)
        error(stranger.get(url + prefix + '/secrets/' + secret,
                           headers={'Accept': 'application/octet-stream'}), 404)
        error(stranger.delete(url + prefix + '/secrets/' + secret), 404)
        error(stranger.delete(url + prefix + '/containers/' + container), 404)
        error(stranger.put(url + prefix + '/secrets/%s/acl' % secret,
                           json={'read': {'users': ['me']}}), 404)
    foreign = {'type': 'generic', 'secret_refs': [
        {'name': 'x', 'secret_ref': url + '/v1/secrets/' + secret}]}
    assert 'not a secret of this project' in error(
        stranger.post(url + '/v1/containers', json=foreign), 400)
    with pytest.raises(barbican_exceptions.HTTPClientError):
        barbican(service, project()).secrets.get(secret).payload  # noqa: B018
    owner = http(service, owned['project'])
    assert owner.get(url + '/v1/secrets/%s/payload' % secret).content == b'top secret bytes'
    admin = http(service, project(), roles=None)  # noauth without roles: an admin
    assert admin.get(url + '/v1/secrets/' + secret).json()['name'] == 'mine'


def test_readers_read_members_write(service, owned):
    url = service['url']
    reader = http(service, owned['project'], roles='reader')
    assert reader.get(url + '/v1/secrets/' + owned['secret']).status_code == 200
    assert total(service, reader) == 1
    error(reader.post(url + '/v1/secrets', json={'name': 'no'}), 403)
    error(reader.delete(url + '/v1/secrets/' + owned['secret']), 403)
    error(reader.delete(url + '/v1/containers/' + owned['container']), 403)
    nobody = http(service, owned['project'], roles='')
    error(nobody.get(url + '/v1/secrets/' + owned['secret']), 403)
    member = http(service, owned['project'])
    assert member.delete(url + '/v1/containers/' + owned['container']).status_code == 204
    assert member.delete(url + '/v1/secrets/' + owned['secret']).status_code == 204
    assert total(service, member) == 0


def test_read_acl_lets_a_named_user_read(service, owned):
    url, secret = service['url'], owned['secret']
    km = barbican(service, owned['project'], user='creator')
    acl = km.acls.get(url + '/v1/secrets/' + secret)
    acl.read.users = ['octavia-service-user']
    assert acl.submit() == url + '/v1/secrets/%s/acl' % secret
    assert km.acls.get(url + '/v1/secrets/' + secret).read.users == ['octavia-service-user']
    service_user = http(service, 'service', roles='service', user='octavia-service-user')
    other_user = http(service, 'service', roles='service', user='someone-else')
    assert service_user.get(url + '/v1/secrets/%s/payload' % secret).content == \
        b'top secret bytes'
    error(other_user.get(url + '/v1/secrets/%s/payload' % secret), 404)
    error(service_user.delete(url + '/v1/secrets/' + secret), 404)  # read only

    private = {'read': {'users': [], 'project-access': False}}
    owner = http(service, owned['project'], user='creator')
    assert owner.put(url + '/v1/secrets/%s/acl' % secret, json=private).status_code == 200
    colleague = http(service, owned['project'], user='colleague')
    error(colleague.get(url + '/v1/secrets/' + secret), 403)
    assert owner.get(url + '/v1/secrets/' + secret).status_code == 200
    assert owner.delete(url + '/v1/secrets/%s/acl' % secret).status_code == 204
    assert colleague.get(url + '/v1/secrets/' + secret).status_code == 200
    assert colleague.get(url + '/v1/secrets/%s/acl' % secret).json() == {
        'read': {'project-access': True}}


# --- at rest ------------------------------------------------------------------------------
def test_payloads_are_encrypted_at_rest(service):
    marker = ('at-rest-marker-%s' % uuid.uuid4().hex).encode()
    km = barbican(service, project())
    ref = km.secrets.create(name='rest', payload=marker).store()
    text_ref = km.secrets.create(name='rest-text', payload=marker.decode() + '-text').store()
    with db.reading() as session:
        stored = session.scalars(select(models.KeyManagerSecret.encrypted_payload).where(
            models.KeyManagerSecret.id.in_([uuid_of(ref), uuid_of(text_ref)]))).all()
    key_path = config.state_path('secrets.key')
    assert os.stat(key_path).st_mode & 0o777 == 0o600
    with open(key_path, 'rb') as f:
        fernet = Fernet(f.read())
    assert sorted(fernet.decrypt(token) for token in stored) == [marker, marker + b'-text']
    for token in stored:
        assert marker not in token and base64.b64encode(marker) not in token
    if service['backend'] == 'sqlite':
        for suffix in ('', '-wal'):
            path = config.state_path('lbaas.sqlite') + suffix
            if os.path.exists(path):
                with open(path, 'rb') as f:
                    content = f.read()
                assert marker not in content and base64.b64encode(marker) not in content


# --- bad input ------------------------------------------------------------------------------
BAD_SECRETS = [
    ([1, 2], 400), ({'payload': 'x'}, 400),
    ({'payload': 'not base64!', 'payload_content_type': 'application/octet-stream',
      'payload_content_encoding': 'base64'}, 400),
    ({'payload': 'AAAA', 'payload_content_type': 'application/octet-stream'}, 400),
    ({'payload': 'AAAA', 'payload_content_type': 'text/plain',
      'payload_content_encoding': 'base64'}, 400),
    ({'payload': 'x', 'payload_content_type': 'image/png'}, 400),
    ({'payload': '', 'payload_content_type': 'text/plain'}, 400),
    ({'payload_content_type': 'text/plain'}, 400),
    ({'secret_type': 'banana'}, 400), ({'bit_length': -1}, 400), ({'bit_length': 'x'}, 400),
    ({'expiration': '2001-01-01T00:00:00Z'}, 400), ({'expiration': 'soon'}, 400),
    ({'name': 'n' * 256}, 400),
    ({'payload': 'A' * 120000, 'payload_content_type': 'text/plain'}, 413),
]


@pytest.mark.parametrize('body,status', BAD_SECRETS)
def test_bad_secrets_are_refused_and_write_nothing(service, body, status):
    caller = http(service, project())
    error(caller.post(service['url'] + '/v1/secrets', json=body), status)
    assert total(service, caller) == 0


def test_bad_containers_payloads_and_paths(service, owned):
    url, secret = service['url'], owned['secret']
    owner = http(service, owned['project'])
    ref = url + '/v1/secrets/' + secret
    for body in ({'type': 'box'}, {'type': 'certificate', 'secret_refs': []},
                 {'type': 'certificate', 'secret_refs': [
                     {'name': 'certificate', 'secret_ref': ref},
                     {'name': 'private_key', 'secret_ref': 'not-a-ref'}]},
                 {'type': 'rsa', 'secret_refs': [{'name': 'private_key', 'secret_ref': ref}]},
                 {'type': 'generic', 'secret_refs': [{'name': 'a', 'secret_ref': ref},
                                                     {'name': 'a', 'secret_ref': ref}]},
                 {'type': 'generic', 'secret_refs': [
                     {'name': 'a', 'secret_ref': url + '/v1/secrets/' + str(uuid.uuid4())}]}):
        error(owner.post(url + '/v1/containers', json=body), 400)
    assert total(service, owner, 'containers') == 1
    error(owner.put(url + '/v1/secrets/' + secret, data=b'again',
                    headers={'Content-Type': 'application/octet-stream'}), 409)
    assert owner.get(url + '/v1/secrets/%s/payload' % secret).content == b'top secret bytes'
    empty = owner.post(url + '/v1/secrets', json={'name': 'empty'}).json()['secret_ref']
    error(owner.put(empty, data=b'x', headers={'Content-Type': 'image/png'}), 415)
    error(owner.get(empty + '/payload'), 404)
    error(owner.get(url + '/v1/secrets/%s/payload' % secret,
                    headers={'Accept': 'text/plain'}), 406)
    error(owner.get(url + '/v1/nothing-here'), 404)
    error(owner.patch(url + '/v1/secrets/' + secret), 405)
    error(owner.put(url + '/v1/secrets/%s/acl' % secret, json={'write': {}}), 400)


def test_lists_page_as_barbican_does(service):
    owner = http(service, project())
    url = service['url']
    for _ in range(3):
        assert owner.post(url + '/secrets', json={'name': 'paged'}).status_code == 201
    owner.post(url + '/secrets', json={'name': 'other'})
    first = owner.get(url + '/v1/secrets?name=paged&limit=2').json()
    assert (len(first['secrets']), first['total']) == (2, 3) and 'previous' not in first
    second = owner.get(first['next']).json()
    assert len(second['secrets']) == 1 and 'next' not in second
    assert owner.get(second['previous']).json()['secrets'] == first['secrets']
    assert owner.get(url + '/secrets?limit=1000').json()['total'] == 4


# --- keystone -------------------------------------------------------------------------------
TOKENS = {'token-a': ('ks-project-a', 'user-a'), 'token-b': ('ks-project-b', 'user-b')}


def _fake_auth_token(app, conf=None):
    """Plays keystonemiddleware's auth_token: identity headers from the token only."""
    def wsgi(environ, start_response):
        for key in [k for k in environ if k.startswith('HTTP_X_') and k != 'HTTP_X_AUTH_TOKEN']:
            del environ[key]
        known = TOKENS.get(environ.get('HTTP_X_AUTH_TOKEN'))
        if known:
            environ.update(HTTP_X_IDENTITY_STATUS='Confirmed', HTTP_X_PROJECT_ID=known[0],
                           HTTP_X_USER_ID=known[1], HTTP_X_ROLES='member,reader')
        return app(environ, start_response)
    return wsgi


def _keystone_session(endpoint, token):
    project_id, user_id = TOKENS[token]
    expires = (datetime.datetime.now(datetime.UTC) + datetime.timedelta(hours=1))
    endpoints = [{'id': iface, 'interface': iface, 'url': endpoint, 'region': 'RegionOne',
                  'region_id': 'RegionOne'} for iface in ('public', 'internal', 'admin')]
    body = {'token': {
        'methods': ['password'], 'expires_at': expires.strftime('%Y-%m-%dT%H:%M:%S.000000Z'),
        'project': {'id': project_id, 'name': project_id, 'domain': {'id': 'default',
                                                                     'name': 'Default'}},
        'user': {'id': user_id, 'name': user_id, 'domain': {'id': 'default', 'name': 'Default'}},
        'roles': [{'id': 'r1', 'name': 'member'}, {'id': 'r2', 'name': 'reader'}],
        'catalog': [{'type': 'key-manager', 'name': 'lbaas', 'id': 'km',
                     'endpoints': endpoints}]}}
    auth = access_plugin.AccessInfoPlugin(access.create(body=body, auth_token=token))
    return ks_session.Session(auth=auth)


def test_keystone_session_through_the_catalog(service, monkeypatch):
    from lbaas.api import app as api_app
    from lbaas.api import auth
    monkeypatch.setattr(auth, 'wrap_keystone', _fake_auth_token)
    config.CONF.set_override('auth_strategy', 'keystone', 'api_settings')
    server = simple_server.make_server('127.0.0.1', 0, api_app.create_app(),
                                       server_class=_ThreadingServer, handler_class=_QuietHandler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        endpoint = 'http://127.0.0.1:%d/v1' % server.server_port
        km = barbican_client.Client(session=_keystone_session(endpoint, 'token-a'))
        ref = km.secrets.create(name='ks', payload=b'keystone bytes').store()
        assert [s.secret_ref for s in km.secrets.list()] == [ref]
        assert km.secrets.get(ref).payload == b'keystone bytes'
        other = barbican_client.Client(session=_keystone_session(endpoint, 'token-b'))
        assert other.secrets.list() == []
        with pytest.raises(barbican_exceptions.HTTPClientError):
            other.secrets.delete(ref)
        forged = requests.get(endpoint + '/secrets', headers={'X-Project-Id': 'ks-project-a'})
        assert forged.status_code == 401
        km.secrets.delete(ref)
        assert km.secrets.list() == []
    finally:
        server.shutdown()
        config.CONF.clear_override('auth_strategy', 'api_settings')
