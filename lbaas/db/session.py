"""Engines and transactions.

Two kinds of transaction: `reading()` for GETs and `writing()` for anything
that changes state. On SQLite a write transaction starts with BEGIN IMMEDIATE,
so writers queue on the database lock up front instead of failing half way
(SQLite has no SELECT ... FOR UPDATE); readers never block thanks to WAL.
On PostgreSQL and MariaDB writers lock the rows they need with FOR UPDATE,
and every statement reads at READ COMMITTED: a count or a child read after a
lock sees what was committed before the lock was granted (MariaDB's default,
REPEATABLE READ, would keep reading the snapshot of the transaction's first
read).
"""
import contextlib
import sqlite3
import threading
from collections.abc import Iterator
from typing import Any

from sqlalchemy import Connection, Engine, Insert, create_engine, event, insert
from sqlalchemy.dialects import mysql, postgresql
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker
from sqlalchemy.pool import ConnectionPoolEntry

from lbaas import config

_lock = threading.Lock()
_makers: dict[tuple[str, str], sessionmaker[Session]] = {}


def _sqlite_engine(url: str, immediate: bool) -> Engine:
    engine = create_engine(url, connect_args={'check_same_thread': False,
                                              'timeout': 30})

    @event.listens_for(engine, 'connect')
    def _on_connect(dbapi_conn: sqlite3.Connection, _record: ConnectionPoolEntry) -> None:
        # Let SQLAlchemy, not pysqlite, decide when transactions begin.
        dbapi_conn.isolation_level = None
        cursor = dbapi_conn.cursor()
        cursor.execute('PRAGMA journal_mode=WAL')
        cursor.execute('PRAGMA synchronous=NORMAL')
        cursor.execute('PRAGMA foreign_keys=OFF')
        cursor.execute('PRAGMA busy_timeout=30000')
        cursor.close()

    @event.listens_for(engine, 'begin')
    def _on_begin(conn: Connection) -> None:
        conn.exec_driver_sql('BEGIN IMMEDIATE' if immediate else 'BEGIN')

    return engine


def _engine(url: str, immediate: bool) -> Engine:
    if url.startswith('sqlite'):
        return _sqlite_engine(url, immediate)
    return create_engine(url, pool_pre_ping=True, isolation_level='READ COMMITTED',
                         pool_size=config.CONF.database.max_pool_size,
                         max_overflow=config.CONF.database.max_overflow)


def insert_ignore(session: Session, model: type[DeclarativeBase], **values: Any) -> None:
    """INSERT a row unless one with the same key exists (no error either way).

    On MariaDB the no-op update takes the row's exclusive lock at once: INSERT
    IGNORE would take a shared one, and two writers each holding it while
    asking for FOR UPDATE deadlock.
    """
    dialect = session.get_bind().dialect.name
    stmt: Insert
    if dialect == 'postgresql':
        stmt = postgresql.insert(model).values(**values).on_conflict_do_nothing()
    elif dialect == 'mysql':
        key = model.__mapper__.primary_key[0].name
        stmt = mysql.insert(model).values(**values).on_duplicate_key_update(
            {key: values[key]})
    else:
        stmt = insert(model).values(**values).prefix_with('OR IGNORE')
    session.execute(stmt)


def is_sqlite() -> bool:
    return config.database_url().startswith('sqlite')


def _maker(kind: str) -> sessionmaker[Session]:
    url = config.database_url()
    if not url.startswith('sqlite'):
        kind = 'write'  # one pool serves both; row locks do the ordering
    key = (url, kind)
    with _lock:
        if key not in _makers:
            _makers[key] = sessionmaker(_engine(url, immediate=(kind == 'write')),
                                        expire_on_commit=False, autoflush=False)
        return _makers[key]


def engine(kind: str = 'write') -> Engine:
    bind: Engine = _maker(kind).kw['bind']
    return bind


@contextlib.contextmanager
def writing() -> Iterator[Session]:
    """A session in a write transaction: committed on success, rolled back on error."""
    with _maker('write')() as session, session.begin():
        yield session


@contextlib.contextmanager
def reading() -> Iterator[Session]:
    with _maker('read')() as session, session.begin():
        yield session


def reset() -> None:
    """Forget engines (after a fork, or when tests switch databases)."""
    with _lock:
        for maker in _makers.values():
            maker.kw['bind'].dispose()
        _makers.clear()
