"""Alembic environment: migrations run on the connection statscache hands over."""

from alembic import context

from statscache.schema import metadata

connection = context.config.attributes["connection"]
context.configure(connection=connection, target_metadata=metadata, version_table="statscache_alembic_version")
with context.begin_transaction():
    context.run_migrations()
