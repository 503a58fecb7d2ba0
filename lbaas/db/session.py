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

A transaction that loses a deadlock, a lock wait or a serialization check
(and a Galera certification conflict, which MariaDB reports as a deadlock)
can only be retried whole: `retried` re-runs a function that opens its own
transaction a few times, with a short jittered pause.
"""
import contextlib
import functools
import logging
import random
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any, ParamSpec, TypeVar

from sqlalchemy import Connection, Engine, Insert, create_engine, event, insert
from sqlalchemy import exc as sa_exc
from sqlalchemy.dialects import mysql, postgresql
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker
from sqlalchemy.pool import ConnectionPoolEntry

from lbaas import config

LOG = logging.getLogger(__name__)
P = ParamSpec('P')
T = TypeVar('T')
_lock = threading.Lock()
# (kind, [database] connection, state_dir) -> its sessionmaker. Keyed by the
# two options the URL depends on: config.database_url() creates the state
# directory (three stat calls), and every GET asks for an engine.
_makers: dict[tuple[str, str | None, str], sessionmaker[Session]] = {}


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
        if immediate:
            conn.exec_driver_sql('BEGIN IMMEDIATE')
        else:
            _begin_deferred(conn)

    return engine


def _begin_deferred(conn: Connection) -> None:
    """A read transaction's BEGIN, sent on the DBAPI connection directly.

    Through exec_driver_sql it cost a whole statement execution (context,
    cursor, result, events): about a tenth of a GET of one LB. A deferred
    BEGIN takes no lock and reads nothing, so nothing is lost but the
    statement's before/after_cursor_execute events; an error still reaches
    the caller as SQLAlchemy's (the API answers a database error with 503).
    BEGIN IMMEDIATE (writes) keeps the full path: it may wait for the lock.
    """
    dbapi_conn = conn.connection.driver_connection
    try:
        dbapi_conn.execute('BEGIN')  # type: ignore[union-attr]
    except sqlite3.Error as exc:
        raise sa_exc.DBAPIError.instance(
            'BEGIN', (), exc, sqlite3.Error, dialect=conn.dialect) from exc


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
    conf = config.CONF
    key = (kind, conf.database.connection, conf.state_dir)
    maker = _makers.get(key)
    if maker is not None:
        return maker
    url = config.database_url()
    if kind == 'read' and not url.startswith('sqlite'):
        maker = _maker('write')  # one pool serves both; row locks do the ordering
    with _lock:
        if key not in _makers:
            _makers[key] = maker or sessionmaker(
                _engine(url, immediate=(kind == 'write')),
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


@contextlib.contextmanager
def reading_rows() -> Iterator[Connection]:
    """A read transaction as reading() opens it (same engine, same BEGIN), on
    a Core connection: for reads of plain rows, which need none of the
    Session's bookkeeping (about a tenth of a GET of one LB)."""
    with engine('read').connect() as conn, conn.begin():
        yield conn


def connection_of(source: Session | Connection) -> Connection:
    """The Core connection of a Session's transaction, or `source` itself."""
    return source if isinstance(source, Connection) else source.connection()


def reset() -> None:
    """Forget engines (after a fork, or when tests switch databases)."""
    with _lock:
        for bind in {id(m.kw['bind']): m.kw['bind'] for m in _makers.values()}.values():
            bind.dispose()
        _makers.clear()


# PostgreSQL: serialization_failure, deadlock_detected. MariaDB: deadlock
# (also Galera's certification failure), lock wait timeout.
RETRIABLE_SQLSTATES = frozenset({'40001', '40P01'})
RETRIABLE_MYSQL_ERRORS = frozenset({1213, 1205})
ATTEMPTS = 5
FIRST_PAUSE = 0.02  # seconds; doubles each retry, with jitter


def retriable(exc: BaseException) -> bool:
    """The transaction lost a deadlock, a lock wait or a serialization check."""
    if not isinstance(exc, sa_exc.DBAPIError) or exc.connection_invalidated:
        return False
    orig = exc.orig
    if getattr(orig, 'sqlstate', None) in RETRIABLE_SQLSTATES:  # psycopg
        return True
    args: tuple[Any, ...] = getattr(orig, 'args', ())
    return bool(args) and args[0] in RETRIABLE_MYSQL_ERRORS  # PyMySQL: (code, message)


def retried(fn: Callable[P, T]) -> Callable[P, T]:
    """Run `fn` again when its transaction is a deadlock or serialization victim.

    `fn` must open (and so roll back) its own transaction: a retry inside a
    transaction that is already dead would only fail again.
    """

    @functools.wraps(fn)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> T:
        for attempt in range(1, ATTEMPTS + 1):
            try:
                return fn(*args, **kwargs)
            except sa_exc.DBAPIError as exc:
                if attempt == ATTEMPTS or not retriable(exc):
                    raise
                pause = FIRST_PAUSE * 2 ** (attempt - 1) * random.uniform(0.5, 1.5)
                LOG.info('%s: %s; retrying in %.3fs (attempt %d of %d)', fn.__qualname__,
                         str(exc.orig).strip().partition('\n')[0], pause, attempt + 1,
                         ATTEMPTS)
                time.sleep(pause)
        raise AssertionError('unreachable')

    return wrapper
