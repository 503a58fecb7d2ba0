"""The key-manager store (lbaas/db/secrets.py) on a fresh SQLite database."""
import os
import stat

import pytest
from sqlalchemy import select

from lbaas import config
from lbaas.config import CONF
from lbaas.db import migrate, models
from lbaas.db import secrets as store
from lbaas.db import session as db


@pytest.fixture(autouse=True)
def state(tmp_path):
    config.load([], [])
    CONF.set_override('state_dir', str(tmp_path))
    db.reset()
    store.forget_key()
    migrate.upgrade()
    yield tmp_path
    db.reset()
    store.forget_key()
    CONF.reset()


def pem_secret(project='p1', payload=b'-----BEGIN CERTIFICATE-----\n'):
    return store.create_secret(project, 'u1', store.NewSecret(
        name='cert', secret_type='certificate', content_type='text/plain', payload=payload))


def test_round_trip_and_the_key_file(state):
    info = pem_secret()
    assert info.has_payload and info.project_id == 'p1' and info.creator_id == 'u1'
    key = state / 'secrets.key'
    assert stat.S_IMODE(os.stat(key).st_mode) == 0o600
    found = store.READER.secret('p1', info.id)
    assert (found.payload, found.content_type, found.secret_type) == (
        b'-----BEGIN CERTIFICATE-----\n', 'text/plain', 'certificate')
    assert 'BEGIN' not in repr(found)  # payloads stay out of reprs (and logs)
    with db.reading() as session:
        token = session.scalar(select(models.KeyManagerSecret.encrypted_payload)
                               .where(models.KeyManagerSecret.id == info.id))
    assert b'BEGIN' not in token


def test_another_project_is_absent(state):
    info = pem_secret()
    with pytest.raises(LookupError):
        store.READER.secret('p2', info.id)
    with pytest.raises(LookupError):
        store.READER.secret(None, 'no-such-id')
    assert store.READER.secret(None, info.id).id == info.id
    with pytest.raises(store.NotStored):
        store.delete_secret('p2', info.id)
    assert store.list_secrets('p2', store.SecretQuery()) == ([], 0)
    assert store.list_secrets('p1', store.SecretQuery())[1] == 1


def test_containers_take_only_their_projects_secrets(state):
    cert, key = pem_secret(), pem_secret(payload=b'key')
    foreign = pem_secret('p2')
    with pytest.raises(store.ForeignSecret) as raised:
        store.create_container('p1', None, 'c', 'certificate',
                               {'certificate': cert.id, 'private_key': foreign.id})
    assert raised.value.name == 'private_key'
    assert store.list_containers(None, None, 10, 0) == ([], 0)
    made = store.create_container('p1', None, 'c', 'certificate',
                                  {'certificate': cert.id, 'private_key': key.id})
    found = store.READER.container('p1', made.id)
    assert dict(found.secret_ids) == {'certificate': cert.id, 'private_key': key.id}
    with pytest.raises(LookupError):
        store.READER.container('p2', made.id)
    store.delete_secret('p1', key.id)
    assert dict(store.container('p1', made.id).secret_ids) == {'certificate': cert.id}


def test_a_payload_is_given_once(state):
    info = store.create_secret('p1', None, store.NewSecret(name='later'))
    assert not info.has_payload and store.secret('p1', info.id).payload is None
    store.set_payload('p1', info.id, 'application/octet-stream', b'\x00\x01')
    assert store.secret('p1', info.id).payload == b'\x00\x01'
    with pytest.raises(store.PayloadExists):
        store.set_payload('p1', info.id, 'application/octet-stream', b'again')


def test_acls(state):
    info = pem_secret()
    assert store.secret_info('p1', info.id).acl == store.Acl()
    store.set_acl('secret', 'p1', info.id, ['svc', 'svc'], False)
    acl = store.secret_info('p1', info.id).acl
    assert (acl.read_users, acl.project_access, acl.is_set) == (('svc',), False, True)
    store.delete_acl('secret', 'p1', info.id)
    assert store.secret_info('p1', info.id).acl == store.Acl()


def test_an_unreadable_key_is_a_clear_error(state):
    info = pem_secret()
    store.forget_key()
    key = state / 'secrets.key'
    key.write_bytes(b'not a key')
    with pytest.raises(store.KeyUnavailable, match='is not a Fernet key'):
        store.secret('p1', info.id)
    key.unlink()
    key.mkdir()  # reading it fails with an OSError other than "not found"
    with pytest.raises(store.KeyUnavailable, match='cannot read the key-manager key'):
        store.secret('p1', info.id)


def test_a_replaced_key_does_not_open_old_payloads(state):
    info = pem_secret()
    store.forget_key()
    (state / 'secrets.key').unlink()
    with pytest.raises(store.KeyUnavailable, match='does not open'):
        store.secret('p1', info.id)
    assert store.secret_info('p1', info.id).name == 'cert'  # metadata needs no key
