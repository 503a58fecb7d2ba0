"""Deadlock and serialization victims are retried whole, never a 500.

The decorator alone, then a real deadlock on PostgreSQL and on MariaDB: two
connections lock two rows in opposite order, the retried transaction is
made the victim, and its retry succeeds. Each server test is skipped, with
the reason printed, when that server does not answer on loopback.
"""
import threading
import time
import uuid

import pytest
import sqlalchemy
from sqlalchemy import exc as sa_exc
from sqlalchemy import text

from lbaas import config
from lbaas.db import session as db
from lbaas.db import work

SERVERS = {
    'postgresql': ('postgresql+psycopg://postgres@127.0.0.1/%s',
                   'postgresql+psycopg://postgres@127.0.0.1/postgres'),
    'mysql': ('mysql+pymysql://root@127.0.0.1/%s', 'mysql+pymysql://root@127.0.0.1/mysql'),
}


class PgError(Exception):
    def __init__(self, sqlstate):
        super().__init__('pg says %s' % sqlstate)
        self.sqlstate = sqlstate


def failure(orig, kind=sa_exc.OperationalError):
    return kind('UPDATE probe', {}, orig)


@pytest.mark.parametrize('exc, expected', [
    (failure(PgError('40001')), True),  # serialization_failure
    (failure(PgError('40P01')), True),  # deadlock_detected
    (failure(PgError('23505'), sa_exc.IntegrityError), False),  # unique violation
    (failure(Exception(1213, 'Deadlock found when trying to get lock')), True),
    (failure(Exception(1205, 'Lock wait timeout exceeded')), True),
    (failure(Exception(2003, "Can't connect")), False),
    (failure(PgError('40P01')).__class__('x', {}, PgError('40P01'), connection_invalidated=True),
     False),
    (ValueError('no'), False),
])
def test_what_is_retried(exc, expected):
    assert db.retriable(exc) is expected


@pytest.fixture
def no_pause(monkeypatch):
    monkeypatch.setattr(db, 'FIRST_PAUSE', 0.0)


def test_a_victim_is_retried_until_it_succeeds(no_pause):
    calls = []

    @db.retried
    def transaction(value):
        calls.append(value)
        if len(calls) < 3:
            raise failure(PgError('40P01'))
        return value * 2

    assert transaction(21) == 42
    assert calls == [21, 21, 21]


def test_retries_are_bounded(no_pause):
    calls = []

    @db.retried
    def transaction():
        calls.append(1)
        raise failure(Exception(1213, 'Deadlock'))

    with pytest.raises(sa_exc.OperationalError):
        transaction()
    assert len(calls) == db.ATTEMPTS


def test_other_errors_are_not_retried(no_pause):
    calls = []

    @db.retried
    def transaction():
        calls.append(1)
        raise failure(PgError('23505'), sa_exc.IntegrityError)

    with pytest.raises(sa_exc.IntegrityError):
        transaction()
    assert calls == [1]


def test_the_pause_is_short_jittered_and_growing(monkeypatch):
    pauses = []
    monkeypatch.setattr(db.time, 'sleep', pauses.append)

    @db.retried
    def transaction():
        raise failure(PgError('40001'))

    with pytest.raises(sa_exc.OperationalError):
        transaction()
    assert len(pauses) == db.ATTEMPTS - 1
    for attempt, pause in enumerate(pauses):
        base = db.FIRST_PAUSE * 2 ** attempt
        assert base * 0.5 <= pause <= base * 1.5


# -- a real deadlock -------------------------------------------------------------


@pytest.fixture(params=sorted(SERVERS))
def server(request):
    """A fresh database with a `probe` table of 30 rows; config points at it."""
    backend = request.param
    url_template, admin_url = SERVERS[backend]
    name = 'lbaas_retry_%s' % uuid.uuid4().hex[:8]
    try:
        admin = sqlalchemy.create_engine(admin_url, isolation_level='AUTOCOMMIT')
        with admin.connect() as conn:
            conn.exec_driver_sql('CREATE DATABASE %s' % name)
    except Exception as exc:
        print('\n%s deadlock test skipped: %s' % (backend, exc))
        pytest.skip('%s not reachable on 127.0.0.1: %s' % (backend, exc))
    url = url_template % name
    other = sqlalchemy.create_engine(url, isolation_level='READ COMMITTED')
    with other.begin() as conn:
        conn.exec_driver_sql('CREATE TABLE probe (id INT PRIMARY KEY, n INT NOT NULL)')
        conn.execute(text('INSERT INTO probe VALUES (:id, 0)'), [{'id': i} for i in range(30)])
    config.load([], [])
    config.CONF.set_override('connection', url, 'database')
    db.reset()
    try:
        yield backend, other
    finally:
        db.reset()
        config.CONF.reset()
        other.dispose()
        with admin.connect() as conn:
            conn.exec_driver_sql('DROP DATABASE %s' % name)
        admin.dispose()


def test_a_real_deadlock_victim_is_retried_and_succeeds(server):
    backend, other = server
    victim_holds_row_1 = threading.Event()
    errors = []

    def opposite_order():
        """Row 2 (and, to weigh more for InnoDB's choice of victim, rows
        10..29), then row 1: the cycle closes on the victim's wait."""
        try:
            with other.begin() as conn:
                if backend == 'postgresql':  # the retried side detects first
                    conn.exec_driver_sql("SET LOCAL deadlock_timeout = '20s'")
                conn.execute(text('UPDATE probe SET n = n + 1 WHERE id = 2 OR id >= 10'))
                assert victim_holds_row_1.wait(10)
                time.sleep(0.3)  # the victim is waiting for row 2 by now
                conn.execute(text('UPDATE probe SET n = n + 1 WHERE id = 1'))
        except Exception as exc:
            errors.append(exc)

    attempts = []

    def transfer(session):
        attempts.append(time.monotonic())
        session.execute(text('UPDATE probe SET n = n + 10 WHERE id = 1'))
        if len(attempts) == 1:
            victim_holds_row_1.set()
            time.sleep(0.1)
        session.execute(text('UPDATE probe SET n = n + 10 WHERE id = 2'))
        return len(attempts)

    thread = threading.Thread(target=opposite_order)
    thread.start()
    time.sleep(0.2)  # the other side holds row 2 first
    started = time.monotonic()
    assert work.run(transfer) == 2, 'not the deadlock victim: the test proves nothing'
    thread.join(30)
    assert not errors, errors
    print('\n%s: deadlock victim retried, done in %.2fs' % (backend, time.monotonic() - started))
    with other.connect() as conn:
        rows = dict(conn.execute(text('SELECT id, n FROM probe WHERE id IN (1, 2)')).all())
    assert rows == {1: 11, 2: 11}  # both transactions' effects, each once
