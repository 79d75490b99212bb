"""Migrations on SQLite, PostgreSQL and MariaDB, and agentsched-manage db."""

from alembic import autogenerate
from alembic import migration as alembic_migration
import sqlalchemy as sa

from agentsched.db import migration
from agentsched.db import models
from tests import commands


def test_migrations_match_the_models(database):
    engine = database.engine()
    with engine.connect() as connection:
        context = alembic_migration.MigrationContext.configure(connection)
        diff = autogenerate.compare_metadata(context, models.Base.metadata)
    assert diff == []
    assert migration.current(engine) == migration.head()


def test_agent_type_and_host_are_unique(database):
    engine = database.engine()
    row = dict(agent_type='t', binary='b', topic='t', host='h',
               configurations='{}', created_at=sa.func.now(),
               started_at=sa.func.now(), heartbeat_timestamp=sa.func.now())
    with engine.begin() as connection:
        connection.execute(sa.insert(models.agents).values(id='a1', **row))
    try:
        with engine.begin() as connection:
            connection.execute(sa.insert(models.agents).values(id='a2', **row))
    except sa.exc.IntegrityError:
        pass
    else:
        raise AssertionError('a second (agent_type, host) row was accepted')


def test_manage_db_upgrade_and_current(database, tmp_path):
    config = commands.write_config(tmp_path / 'a.conf', database.url)
    before = commands.run('agentsched-manage', '--config-file', config,
                          'db', 'current', check=False)
    assert before.returncode == 1
    assert 'not migrated' in before.stdout
    listing = commands.run('agentsched-manage', '--config-file', config,
                           'agent', 'list', check=False)
    assert listing.returncode == 1
    assert 'agentsched-manage db upgrade' in listing.stderr
    upgrade = commands.run('agentsched-manage', '--config-file', config,
                           'db', 'upgrade')
    assert migration.head() in upgrade.stdout
    current = commands.run('agentsched-manage', '--config-file', config,
                           'db', 'current')
    assert current.stdout.strip() == '%s (head)' % migration.head()
