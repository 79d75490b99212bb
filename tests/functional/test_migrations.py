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


def test_manage_secrets_generate_key_and_rotate(database, tmp_path):
    from agentsched.services import secrets
    old = commands.run('agentsched-manage', 'secrets',
                       'generate-key').stdout.strip()
    new = secrets.generate_key()
    engine = database.engine()
    token = secrets.SecretBox([old]).encrypt({'password': 'p'})
    with engine.begin() as connection:
        connection.execute(sa.insert(models.devices).values(
            id='d1', name='d1', device_type='noop',
            service_type='LOADBALANCER', capabilities='{}', capacity=1,
            physical_info='{}', credentials=token, health='OK',
            source='admin', created_at=sa.func.now()))
    config = commands.write_config(tmp_path / 'a.conf', database.url,
                                   secrets={'encryption_keys':
                                            '%s,%s' % (new, old)})
    result = commands.run('agentsched-manage', '--config-file', config,
                          'secrets', 'rotate')
    assert 'credentials of 1 devices' in result.stdout
    with engine.connect() as connection:
        stored = connection.execute(
            sa.select(models.devices.c.credentials)).scalar()
    assert secrets.SecretBox([new]).decrypt(stored) == {'password': 'p'}
