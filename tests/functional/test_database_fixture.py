"""conftest's databases: a copy a test gave back reaches the next test
empty (the pool), and one whose url went out is dropped instead."""

import pytest
import sqlalchemy as sa

from agentsched import liveness
from agentsched.db import models
from tests import api_fixtures
from tests import conftest

pytestmark = pytest.mark.services


def _rows(engine):
    with engine.connect() as connection:
        return {table.name: connection.execute(sa.select(
            sa.func.count()).select_from(table)).scalar()
            for table in models.Base.metadata.sorted_tables}


@pytest.mark.parametrize('backend', ['postgresql', 'mariadb'])
def test_a_copy_given_back_is_empty_when_taken_again(backend, tmp_path):
    first = conftest.make_database(backend, tmp_path)
    engine = first.engine()
    agent_id = api_fixtures.add_agent(engine, 'left-over')
    with engine.begin() as connection:
        connection.execute(sa.insert(models.devices).values(
            id='d-1', name='d-1', device_type='noop',
            service_type='LOADBALANCER', capabilities='{}', capacity=1,
            physical_info='{}', health='OK', source='admin',
            created_at=liveness.utcnow()))
        connection.execute(sa.insert(models.agent_devices).values(
            agent_id=agent_id, device_id='d-1'))
    name = engine.url.database
    first.close()

    second = conftest.make_database(backend, tmp_path)
    engine = second.engine()
    try:
        assert engine.url.database == name  # the same database, again
        assert set(_rows(engine).values()) == {0}
    finally:
        second.close()


@pytest.mark.parametrize('backend', ['postgresql', 'mariadb'])
def test_a_database_whose_url_went_out_is_dropped(backend, tmp_path):
    first = conftest.make_database(backend, tmp_path)
    first.engine()
    name = sa.engine.make_url(first.url).database
    first.close()

    second = conftest.make_database(backend, tmp_path)
    engine = second.engine()
    try:
        assert engine.url.database != name
        admin = sa.create_engine(conftest.PG_ADMIN_URL if backend ==
                                 'postgresql' else conftest.MYSQL_ADMIN_URL)
        with admin.connect() as connection:
            names = set(connection.exec_driver_sql(
                'SELECT datname FROM pg_database' if backend == 'postgresql'
                else 'SHOW DATABASES').scalars())
        admin.dispose()
        assert name not in names
    finally:
        second.close()
