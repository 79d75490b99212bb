"""The engine's pool on PostgreSQL and MariaDB: a connection the database
closed is replaced before a statement fails on it, a connection idle for
long is pinged, and a healthy one just used costs no round trip at checkout
(db/engine.py, _replace_if_closed)."""

import time

import pytest
import sqlalchemy as sa

from agentsched.db import engine as db_engine

_SESSION_ID = {'postgresql': 'SELECT pg_backend_pid()',
               'mariadb': 'SELECT CONNECTION_ID()'}
_KILL = {'postgresql': 'SELECT pg_terminate_backend(%d)',
         'mariadb': 'KILL %d'}
_ALIVE = {'postgresql': 'SELECT count(*) FROM pg_stat_activity '
                        'WHERE pid = %d',
          'mariadb': 'SELECT count(*) FROM information_schema.processlist '
                     'WHERE id = %d'}


def _alive(connection, backend, session):
    try:
        return connection.exec_driver_sql(_ALIVE[backend] % session).scalar()
    finally:
        # PostgreSQL keeps a transaction's first view of pg_stat_activity:
        # without a new transaction each look, a session seen alive once
        # stays alive.
        connection.rollback()


def _session(connection, backend):
    return connection.exec_driver_sql(_SESSION_ID[backend]).scalar()


@pytest.fixture
def pings(server_database):
    """(engine, [one entry per real ping]) over a migrated database."""
    engine = server_database.engine()
    pinged = []
    do_ping = engine.dialect.do_ping

    def counted(dbapi_connection):
        pinged.append(dbapi_connection)
        return do_ping(dbapi_connection)
    engine.dialect.do_ping = counted
    yield engine, pinged


def test_a_connection_the_database_closed_is_replaced_on_checkout(
        server_database, pings, monkeypatch):
    # However long the kill takes, the poll (not the idle time) tells.
    monkeypatch.setattr(db_engine, 'PING_IDLE', 3600.0)
    engine, pinged = pings
    backend = server_database.backend
    with engine.connect() as connection:
        before = _session(connection, backend)
    assert engine.pool.checkedin() == 1
    killer = sa.create_engine(server_database.url,
                              poolclass=sa.pool.NullPool)
    try:
        with killer.connect() as admin:
            admin.exec_driver_sql(_KILL[backend] % before)
            deadline = time.monotonic() + 10
            while _alive(admin, backend, before):
                assert time.monotonic() < deadline, 'the session lives on'
                time.sleep(0.05)
    finally:
        killer.dispose()
    # The pooled connection is dead: the checkout notices, without an
    # error reaching the statement.
    with engine.connect() as connection:
        after = _session(connection, backend)
        assert connection.exec_driver_sql('SELECT 1').scalar() == 1
    assert after != before
    assert len(pinged) == 1


def test_a_healthy_pooled_connection_is_checked_out_without_a_round_trip(
        server_database, pings):
    engine, pinged = pings
    backend = server_database.backend
    sessions = set()
    for _ in range(20):
        with engine.connect() as connection:
            sessions.add(_session(connection, backend))
    assert len(sessions) == 1
    assert pinged == []


def test_a_connection_idle_for_long_is_pinged(server_database, pings,
                                              monkeypatch):
    # A database that resets the connection only at the next packet (a
    # crashed host, a moved virtual IP) leaves nothing on the socket.
    monkeypatch.setattr(db_engine, 'PING_IDLE', 0.2)
    engine, pinged = pings
    with engine.connect():
        pass
    with engine.connect():
        pass
    assert pinged == []
    time.sleep(0.3)
    with engine.connect() as connection:
        assert connection.exec_driver_sql('SELECT 1').scalar() == 1
    assert len(pinged) == 1
