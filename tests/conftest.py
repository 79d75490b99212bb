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


@pytest.fixture(autouse=True)
def _transport_url_unset_after(parsed_conf):
    """oslo.config's clear_override leaves the option's location at
    set_override: messaging.transport_url would take the default left
    (rabbit://) for one set on purpose, and the tests after one of a
    broker would reach the local RabbitMQ instead of the in-process bus."""
    yield
    info = parsed_conf._get_opt_info('transport_url')
    if 'override' not in info:
        info.pop('location', None)


class Database:
    """A database of one backend for one test, gone after it.

    Made at its first use: a copy of the session's migrated template
    (_Templates) when that use is engine() with migrated, else empty (the
    url handed to `agentsched-manage db upgrade`, test_migrations). The
    copy is for speed: the migrations run once per backend and session
    instead of once per test, and the copy has exactly the schema they
    make. A copy only ever used through engine() goes back to _POOL at the
    end instead (PostgreSQL and MariaDB), emptied, for the next test."""

    def __init__(self, backend, make, close):
        self.backend = backend
        self._make = make
        self._close = close
        self._url = None
        # Its url was handed out (to another process, or to be migrated):
        # what was done with it is unknown, so it is dropped.
        self._handed_out = False
        self._engines = []

    def _made_as(self, migrated):
        """Make the database if not yet; whether it was made migrated."""
        if self._url is not None:
            return False
        self._url = self._make(migrated)
        return migrated

    @property
    def url(self):
        self._made_as(False)
        self._handed_out = True
        return self._url

    def engine(self, migrated=True):
        copied = self._made_as(migrated)
        if not migrated:
            self._handed_out = True
        engine = db_engine.create_engine(agentsched_conf.CONF, url=self._url)
        self._engines.append(engine)
        if migrated and not copied:
            migration.upgrade(engine)
        return engine

    def close(self):
        for engine in self._engines:
            engine.dispose()
        if self._url is not None:
            self._close(reusable=not self._handed_out)


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
            _POOL.drop_all(backend, admin)
            with contextlib.suppress(sa.exc.SQLAlchemyError):
                _drop_database(admin, backend, name)
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
    admin = sa.create_engine(admin_url, isolation_level='AUTOCOMMIT')

    def url_of(name):
        url = sa.engine.make_url(admin_url).set(database=name)
        return url.render_as_string(hide_password=False)

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
        return url_of(name)

    name = None

    def make(migrated):
        nonlocal name
        name = _POOL.take(backend) if migrated else None
        if name is None:
            name = 'as_%s' % uuid.uuid4().hex[:12]
            create(name, TEMPLATES.get(backend, create) if migrated
                   else None)
        return url_of(name)

    def close(reusable):
        try:
            if not (reusable and _POOL.give(backend, name, admin,
                                            url_of(name))):
                _drop_database(admin, backend, name)
        finally:
            admin.dispose()

    return Database(backend, make, close)


def _drop_database(admin, backend, name):
    force = ' WITH (FORCE)' if backend == 'postgresql' else ''
    with admin.connect() as connection:
        connection.execute(sa.text('DROP DATABASE %s%s' % (name, force)))


class _Pool:
    """Copies of the template a test gave back, emptied, for the next test
    of the backend: emptying the tables takes milliseconds, a copy and a
    drop most of a second (PostgreSQL, MariaDB), and most tests make one.

    A copy comes back only if its test used it through engine() alone
    (Database): its schema is the template's, which give() checks (the
    same tables and alembic_version), and only rows can differ. Every
    other session on it is ended first, as DROP DATABASE WITH (FORCE)
    would. The template's tables are empty but alembic_version (checked
    too), so an emptied copy is a fresh one."""

    def __init__(self):
        self._free = {}
        self._templates = {}

    def take(self, backend):
        free = self._free.get(backend)
        return free.pop() if free else None

    def give(self, backend, name, admin, url):
        """Keep the database, emptied; False if it cannot be (then the
        caller drops it)."""
        tables, version = self._template(backend, admin)
        if tables is None:
            return False
        engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
        try:
            _end_other_sessions(admin, backend, name)
            with engine.begin() as connection:
                # A lock its test left would not wait forever.
                connection.exec_driver_sql(
                    "SET LOCAL lock_timeout = '5s'" if backend == 'postgresql'
                    else 'SET SESSION innodb_lock_wait_timeout = 5')
                if sorted(sa.inspect(connection).get_table_names()) != \
                        sorted(tables + ['alembic_version']) or \
                        _versions(connection) != version:
                    return False
                for table in tables:  # children first
                    connection.execute(sa.text('DELETE FROM %s' % table))
        except sa.exc.SQLAlchemyError:
            return False
        finally:
            engine.dispose()
        self._free.setdefault(backend, []).append(name)
        return True

    def _template(self, backend, admin):
        """The template's tables but alembic_version, children first, and
        its alembic_version; (None, None) if a table holds rows."""
        if backend not in self._templates:
            # Made by now: the copy given back was made from it.
            url = admin.url.set(database=TEMPLATES.get(backend, None))
            engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
            try:
                metadata = sa.MetaData()
                metadata.reflect(engine)
                tables = [table for table in reversed(metadata.sorted_tables)
                          if table.name != 'alembic_version']
                with engine.connect() as connection:
                    empty = all(connection.execute(
                        sa.select(sa.func.count()).select_from(table)
                    ).scalar() == 0 for table in tables)
                    version = _versions(connection)
            finally:
                engine.dispose()
            self._templates[backend] = (
                [table.name for table in tables], version) if empty \
                else (None, None)
        return self._templates[backend]

    def drop_all(self, backend, admin):
        for name in self._free.pop(backend, []):
            with contextlib.suppress(sa.exc.SQLAlchemyError):
                _drop_database(admin, backend, name)


_POOL = _Pool()


def _versions(connection):
    return sorted(connection.exec_driver_sql(
        'SELECT version_num FROM alembic_version').scalars())


def _end_other_sessions(admin, backend, name):
    with admin.connect() as connection:
        if backend == 'postgresql':
            connection.execute(sa.text(
                'SELECT pg_terminate_backend(pid) FROM pg_stat_activity '
                'WHERE datname = :name AND pid <> pg_backend_pid()'),
                {'name': name})
            return
        for (session,) in connection.execute(sa.text(
                'SELECT id FROM information_schema.processlist '
                'WHERE db = :name AND id <> CONNECTION_ID()'),
                {'name': name}):
            with contextlib.suppress(sa.exc.SQLAlchemyError):
                connection.exec_driver_sql('KILL %d' % session)


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

    def make_and_url(migrated):
        make(migrated)
        return make_empty(path)

    return Database('sqlite', make_and_url, lambda reusable: None)


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
