"""Alembic environment: the URL comes from lbaas's configuration."""
from alembic import context

from lbaas import config
from lbaas.db import models

target_metadata = models.Base.metadata


def run_migrations(conn):
    context.configure(connection=conn, target_metadata=target_metadata,
                      render_as_batch=conn.dialect.name == 'sqlite')
    with context.begin_transaction():
        context.run_migrations()


if context.is_offline_mode():
    context.configure(url=config.database_url(), target_metadata=target_metadata)
    with context.begin_transaction():
        context.run_migrations()
elif 'connection' in context.config.attributes:
    # lbaas.db.migrate hands over a connection in a transaction it commits.
    run_migrations(context.config.attributes['connection'])
else:
    from lbaas.db import session
    with session.engine('write').begin() as connection:
        run_migrations(connection)
