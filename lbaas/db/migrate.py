"""`lbaas db upgrade` and `lbaas db current`: Alembic migrations, run from the package itself."""
import os

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory

from lbaas.db import session

MIGRATIONS = os.path.join(os.path.dirname(__file__), 'migrations')


def alembic_config() -> Config:
    cfg = Config()
    cfg.set_main_option('script_location', MIGRATIONS)
    return cfg


def upgrade(revision: str = 'head') -> None:
    engine = session.engine('write')
    with engine.begin() as conn:
        cfg = alembic_config()
        cfg.attributes['connection'] = conn
        command.upgrade(cfg, revision)


def revision(message: str) -> None:
    """Developers: write a new migration from the models (autogenerate)."""
    command.revision(alembic_config(), message=message, autogenerate=True)


def current() -> tuple[str | None, str | None]:
    """(the revision the database is at, the newest revision this package has).

    The first is None on a database no migration has touched yet.
    """
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    with session.engine('write').connect() as conn:
        revision = MigrationContext.configure(conn).get_current_revision()
    return revision, head
