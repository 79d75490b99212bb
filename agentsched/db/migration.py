"""Alembic migrations, run against an engine (agentsched-manage db ...)."""

import os

from alembic import command
from alembic import config as alembic_config
from alembic import migration
from alembic import script

_SCRIPT_LOCATION = os.path.join(os.path.dirname(__file__), 'migrations')


def _config(engine):
    cfg = alembic_config.Config()
    cfg.set_main_option('script_location', _SCRIPT_LOCATION)
    cfg.attributes['engine'] = engine
    return cfg


def upgrade(engine, revision='head'):
    command.upgrade(_config(engine), revision)


def current(engine):
    """Revision the database is at, or None if it was never migrated."""
    with engine.connect() as connection:
        return migration.MigrationContext.configure(
            connection).get_current_revision()


def head():
    return script.ScriptDirectory.from_config(_config(None)).get_current_head()
