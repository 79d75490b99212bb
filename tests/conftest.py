"""Fixtures for tests against this machine's RabbitMQ, PostgreSQL and MariaDB.

Each test gets its own database (created and dropped here) and its own
RabbitMQ exchange and topic names, so tests never see each other's data.
When a service is unreachable the test skips, except under CI=true, where it
fails: CI must not pass with the service-backed tests skipped.
"""

import os
import shutil
import socket
import subprocess
import uuid

import pytest
import sqlalchemy as sa

from agentsched import conf as agentsched_conf
from agentsched.db import engine as db_engine
from agentsched.db import migration
from tests import private_services

PG_ADMIN_URL = os.environ.get(
    'AGENTSCHED_TEST_PG', 'postgresql+psycopg://postgres@127.0.0.1:5432/test')
MYSQL_ADMIN_URL = os.environ.get(
    'AGENTSCHED_TEST_MYSQL', 'mysql+pymysql://root@127.0.0.1:3306/test')
RABBIT_URL = os.environ.get(
    'AGENTSCHED_TEST_RABBIT', 'rabbit://guest:guest@127.0.0.1:5672/')

IN_CI = os.environ.get('CI', '').lower() in ('1', 'true', 'yes')


def unavailable(reason):
    if IN_CI:
        pytest.fail('CI=true and %s' % reason, pytrace=False)
    pytest.skip(reason)


def pytest_sessionfinish(session, exitstatus):
    # Belt and braces: under CI any skip at all fails the run.
    reporter = session.config.pluginmanager.get_plugin('terminalreporter')
    if IN_CI and reporter is not None and reporter.stats.get('skipped'):
        reporter.write_line('CI=true: %d tests skipped; failing the run' %
                            len(reporter.stats['skipped']), red=True)
        session.exitstatus = 1


def _port_open(host, port):
    try:
        socket.create_connection((host, port), timeout=2).close()
        return True
    except OSError:
        return False


@pytest.fixture(scope='session', autouse=True)
def parsed_conf():
    """The global cfg.CONF, parsed once with no files (agentsched's way)."""
    agentsched_conf.parse_args([], default_config_files=[])
    # In-process servers must not fight over the default API port.
    agentsched_conf.CONF.set_override('bind_port', 0)
    return agentsched_conf.CONF


class Database:
    """A fresh database on one backend, dropped after the test."""

    def __init__(self, backend, url, drop):
        self.backend = backend
        self.url = url
        self._drop = drop
        self._engines = []

    def engine(self, migrated=True):
        engine = db_engine.create_engine(agentsched_conf.CONF, url=self.url)
        self._engines.append(engine)
        if migrated:
            migration.upgrade(engine)
        return engine

    def close(self):
        for engine in self._engines:
            engine.dispose()
        self._drop()


def _server_database(admin_url, backend, isolation):
    name = 'as_%s' % uuid.uuid4().hex[:12]
    admin = sa.create_engine(admin_url, isolation_level=isolation)
    try:
        with admin.connect() as connection:
            connection.execute(sa.text('CREATE DATABASE %s' % name))
    except sa.exc.OperationalError as exc:
        admin.dispose()
        unavailable('%s unreachable: %s' % (backend, exc.orig))

    def drop():
        force = ' WITH (FORCE)' if backend == 'postgresql' else ''
        with admin.connect() as connection:
            connection.execute(sa.text('DROP DATABASE %s%s' % (name, force)))
        admin.dispose()

    url = sa.engine.make_url(admin_url).set(database=name)
    return Database(backend, url.render_as_string(hide_password=False), drop)


def make_database(backend, tmp_path):
    if backend == 'sqlite':
        return Database('sqlite', 'sqlite:///%s' % (tmp_path / 'test.sqlite'),
                        lambda: None)
    if backend == 'postgresql':
        return _server_database(PG_ADMIN_URL, backend, 'AUTOCOMMIT')
    return _server_database(MYSQL_ADMIN_URL, backend, 'AUTOCOMMIT')


@pytest.fixture(params=['sqlite', 'postgresql', 'mariadb'])
def database(request, tmp_path):
    db = make_database(request.param, tmp_path)
    yield db
    db.close()


@pytest.fixture(params=['postgresql', 'mariadb'])
def server_database(request, tmp_path):
    """PostgreSQL and MariaDB only: what separate processes share."""
    db = make_database(request.param, tmp_path)
    yield db
    db.close()


@pytest.fixture
def postgresql_database(tmp_path):
    db = make_database('postgresql', tmp_path)
    yield db
    db.close()


class Bus:
    """Names on the shared RabbitMQ that belong to one test."""

    def __init__(self, url):
        suffix = uuid.uuid4().hex[:10]
        self.url = url
        self.exchange = 'agentsched-test-%s' % suffix
        self.reports_topic = 'q-reports-plugin-%s' % suffix


def _rabbitmqctl(*args):
    return subprocess.run(['rabbitmqctl'] + list(args), capture_output=True,
                          timeout=60).returncode == 0


@pytest.fixture(scope='session')
def rabbit_vhost_url():
    """A vhost for this test run: queues are named by topic whatever the
    exchange, so only a vhost keeps another run's servers (or a leftover
    queue) away from ours. Deleting it at the end removes every queue."""
    if not _port_open('127.0.0.1', 5672):
        unavailable('RabbitMQ unreachable on 127.0.0.1:5672')
    if os.environ.get('AGENTSCHED_TEST_RABBIT') or not shutil.which(
            'rabbitmqctl'):
        yield RABBIT_URL
        return
    vhost = 'agentsched-test-%s' % uuid.uuid4().hex[:8]
    if not (_rabbitmqctl('add_vhost', vhost) and _rabbitmqctl(
            'set_permissions', '-p', vhost, 'guest', '.*', '.*', '.*')):
        unavailable('rabbitmqctl could not create vhost %s' % vhost)
    yield RABBIT_URL.rstrip('/') + '/' + vhost
    _rabbitmqctl('delete_vhost', vhost)


@pytest.fixture
def rabbit(rabbit_vhost_url):
    return Bus(rabbit_vhost_url)


@pytest.fixture
def private_rabbitmq():
    """A RabbitMQ node of this test's own (about 5 s to start), which it may
    stop(), kill() (-9) and start() again; destroyed after the test."""
    if not os.path.exists(private_services.RABBITMQ_SERVER):
        unavailable('no %s to start a private RabbitMQ node' %
                    private_services.RABBITMQ_SERVER)
    node = private_services.PrivateRabbitMQ()
    yield node
    node.destroy()
