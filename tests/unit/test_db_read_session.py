"""db/session.py: the engine chosen per configuration, and the read BEGIN."""
import sqlite3

import pytest
from sqlalchemy import exc as sa_exc
from sqlalchemy import text

from lbaas import config
from lbaas.config import CONF
from lbaas.db import session as db


@pytest.fixture(autouse=True)
def state(tmp_path):
    config.load([], [])
    CONF.set_override('state_dir', str(tmp_path))
    db.reset()
    yield tmp_path
    db.reset()
    CONF.reset()


def test_the_engine_follows_the_configuration(tmp_path):
    first = db.engine('read')
    assert db.engine('read') is first
    assert str(first.url) == 'sqlite:///' + str(tmp_path / 'lbaas.sqlite')
    assert db.engine('write') is not first  # SQLite: a writer's engine of its own
    CONF.set_override('state_dir', str(tmp_path / 'other'))
    moved = db.engine('read')
    assert str(moved.url) == 'sqlite:///' + str(tmp_path / 'other' / 'lbaas.sqlite')
    assert (tmp_path / 'other').is_dir()  # database_url() made the directory
    CONF.set_override('connection', 'sqlite:///' + str(tmp_path / 'named.sqlite'),
                      'database')
    assert str(db.engine('read').url).endswith('named.sqlite')


def test_reset_forgets_the_chosen_engines():
    first = db.engine('read')
    db.reset()
    assert db.engine('read') is not first


def test_a_read_transaction_is_one_snapshot(state):
    """The BEGIN sent on the DBAPI connection opens a transaction: a write
    committed meanwhile is not seen until it ends (WAL)."""
    with db.writing() as session:
        session.execute(text('CREATE TABLE probe (n INTEGER)'))
        session.execute(text('INSERT INTO probe VALUES (1)'))
    with db.reading_rows() as conn:
        assert conn.connection.driver_connection.in_transaction
        assert conn.execute(text('SELECT count(*) FROM probe')).scalar() == 1
        with db.writing() as session:
            session.execute(text('INSERT INTO probe VALUES (2)'))
        assert conn.execute(text('SELECT count(*) FROM probe')).scalar() == 1
    with db.reading_rows() as conn:
        assert conn.execute(text('SELECT count(*) FROM probe')).scalar() == 2


def test_a_failed_read_begin_is_sqlalchemys_error(monkeypatch):
    """The API maps SQLAlchemy's DBAPIError to 503: a raw sqlite3 error would be a 500."""
    class Failing:
        def execute(self, sql):
            raise sqlite3.OperationalError('disk I/O error')

    class Conn:
        connection = type('Pooled', (), {'driver_connection': Failing()})()
        dialect = db.engine('read').dialect

    with pytest.raises(sa_exc.OperationalError, match='disk I/O error') as caught:
        db._begin_deferred(Conn())
    assert isinstance(caught.value.orig, sqlite3.OperationalError)
