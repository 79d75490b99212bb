"""Fixtures for tests against this machine's RabbitMQ, PostgreSQL and MariaDB.

Each test gets its own database (created and dropped here) and its own
RabbitMQ exchange and topic names, so tests never see each other's data.
When a service is unreachable the test skips, except under CI=true, where it
fails: CI must not pass with the service-backed tests skipped.
"""

import contextlib
import os
import shutil
import socket
import sqlite3
import subprocess
import tempfile
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
    TEMPLATES.drop_all()


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
    """A database of one backend for one test, dropped after it.

    Made at its first use: a copy of the session's migrated template
    (_Templates) when that use is engine() with migrated, else empty (the
    url handed to `agentsched-manage db upgrade`, test_migrations). The
    copy is for speed: the migrations run once per backend and session
    instead of once per test, and the copy has exactly the schema they
    make."""

    def __init__(self, backend, url, make, drop):
        self.backend = backend
        self._url = url
        self._make = make
        self._drop = drop
        self._made = False
        self._engines = []

    def _made_as(self, migrated):
        """Make the database if not yet; whether it was made migrated."""
        if self._made:
            return False
        self._make(migrated)
        self._made = True
        return migrated

    @property
    def url(self):
        self._made_as(False)
        return self._url

    def engine(self, migrated=True):
        copied = self._made_as(migrated)
        engine = db_engine.create_engine(agentsched_conf.CONF, url=self._url)
        self._engines.append(engine)
        if migrated and not copied:
            migration.upgrade(engine)
        return engine

    def close(self):
        for engine in self._engines:
            engine.dispose()
        if self._made:
            self._drop()


class _Templates:
    """One migrated database per backend, made when first needed and
    dropped at the end of the session (of each xdist worker: its own)."""

    def __init__(self):
        self._made = {}

    def get(self, backend, make_empty):
        """The template's name (a file for SQLite); make_empty(name) makes
        an empty database of that name and returns its URL."""
        if backend not in self._made:
            name = 'as_tmpl_%s' % uuid.uuid4().hex[:12]
            if backend == 'sqlite':
                name = os.path.join(tempfile.mkdtemp(prefix='as-tmpl-'),
                                    'template.sqlite')
            engine = db_engine.create_engine(agentsched_conf.CONF,
                                             url=make_empty(name))
            try:
                migration.upgrade(engine)
            finally:
                engine.dispose()
            self._made[backend] = name
        return self._made[backend]

    def drop_all(self):
        for backend, name in self._made.items():
            if backend == 'sqlite':
                shutil.rmtree(os.path.dirname(name), ignore_errors=True)
                continue
            admin_url = PG_ADMIN_URL if backend == 'postgresql' \
                else MYSQL_ADMIN_URL
            admin = sa.create_engine(admin_url, isolation_level='AUTOCOMMIT')
            force = ' WITH (FORCE)' if backend == 'postgresql' else ''
            with contextlib.suppress(sa.exc.SQLAlchemyError):
                with admin.connect() as connection:
                    connection.execute(sa.text('DROP DATABASE %s%s' % (
                        name, force)))
            admin.dispose()
        self._made.clear()


TEMPLATES = _Templates()


def _copy_mariadb_tables(connection, template, name):
    """MariaDB has no CREATE DATABASE ... TEMPLATE: the template's tables
    as SHOW CREATE TABLE prints them (foreign keys included), its rows
    (alembic_version's) after them."""
    connection.exec_driver_sql('USE %s' % name)
    connection.exec_driver_sql('SET FOREIGN_KEY_CHECKS = 0')
    tables = [row[0] for row in connection.exec_driver_sql(
        'SHOW TABLES FROM %s' % template)]
    for table in tables:
        create = connection.exec_driver_sql('SHOW CREATE TABLE %s.`%s`' % (
            template, table)).one()[1]
        connection.exec_driver_sql(create)
        connection.exec_driver_sql('INSERT INTO `%s` SELECT * FROM %s.`%s`'
                                   % (table, template, table))
    connection.exec_driver_sql('SET FOREIGN_KEY_CHECKS = 1')


def _server_database(admin_url, backend):
    name = 'as_%s' % uuid.uuid4().hex[:12]
    admin = sa.create_engine(admin_url, isolation_level='AUTOCOMMIT')

    def create(name, template=None):
        clone = ' TEMPLATE %s' % template \
            if template and backend == 'postgresql' else ''
        try:
            with admin.connect() as connection:
                connection.execute(sa.text('CREATE DATABASE %s%s' % (
                    name, clone)))
                if template and backend != 'postgresql':
                    _copy_mariadb_tables(connection, template, name)
        except sa.exc.OperationalError as exc:
            unavailable('%s unreachable: %s' % (backend, exc.orig))
        url = sa.engine.make_url(admin_url).set(database=name)
        return url.render_as_string(hide_password=False)

    def make(migrated):
        create(name, TEMPLATES.get(backend, create) if migrated else None)

    def drop():
        force = ' WITH (FORCE)' if backend == 'postgresql' else ''
        with admin.connect() as connection:
            connection.execute(sa.text('DROP DATABASE %s%s' % (name, force)))

    def close():
        try:
            drop()
        finally:
            admin.dispose()

    url = sa.engine.make_url(admin_url).set(database=name)
    return Database(backend, url.render_as_string(hide_password=False),
                    make, close)


def _sqlite_database(path):
    def make_empty(name):
        return 'sqlite:///%s' % name

    def make(migrated):
        if migrated:
            # The backup API: a consistent copy, whatever the WAL holds.
            template = TEMPLATES.get('sqlite', make_empty)
            with contextlib.closing(sqlite3.connect(template)) as source, \
                    contextlib.closing(sqlite3.connect(path)) as target:
                source.backup(target)

    return Database('sqlite', make_empty(path), make, lambda: None)


def make_database(backend, tmp_path):
    if backend == 'sqlite':
        return _sqlite_database(str(tmp_path / 'test.sqlite'))
    if backend == 'postgresql':
        return _server_database(PG_ADMIN_URL, backend)
    return _server_database(MYSQL_ADMIN_URL, backend)


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


def start_private_rabbitmq():
    """A started private_services.PrivateRabbitMQ; unavailable() when
    this machine cannot run one."""
    if not os.path.exists(private_services.RABBITMQ_SERVER):
        unavailable('no %s to start a private RabbitMQ node' %
                    private_services.RABBITMQ_SERVER)
    return private_services.PrivateRabbitMQ()


@pytest.fixture(scope='session')
def shared_private_postgres():
    """A PostgreSQL instance of this run's own for the modules of fault
    tests (test_fault_failover's Cluster): started once, as initdb and its
    start cost seconds; each test takes it with fresh_database(), running
    and empty, and may stop and kill it."""
    server = private_services.PrivatePostgres()
    yield server
    server.destroy()


@pytest.fixture(scope='session')
def shared_private_rabbitmq():
    """A RabbitMQ node of this run's own for the same modules (about 5 s to
    start); each test takes it with fresh_vhost()."""
    node = start_private_rabbitmq()
    yield node
    node.destroy()


@pytest.fixture
def private_rabbitmq():
    """A RabbitMQ node of this test's own (about 5 s to start), which it may
    stop(), kill() (-9) and start() again; destroyed after the test."""
    node = start_private_rabbitmq()
    yield node
    node.destroy()
