"""The heartbeat sink on SQLite, PostgreSQL and MariaDB."""

import datetime
import json
import logging
import threading

import pytest
import sqlalchemy as sa

from agentsched import constants
from agentsched import liveness
from agentsched.db import agents as agents_db
from agentsched.db import engine as db_engine
from agentsched.db import models
from agentsched.reports import device_sync
from agentsched.reports import schema
from agentsched.reports import sink as reports_sink
from tests import private_services
from tests import report_factory
from tests.conftest import make_database

DOWN = 3


def _sink(engine, **kwargs):
    kwargs.setdefault('flush_interval', 0.1)
    return reports_sink.HeartbeatSink(engine, DOWN, **kwargs)


def _rows(engine):
    with engine.connect() as connection:
        return {row.host: row for row in connection.execute(
            sa.select(models.agents))}


def _later(now, seconds):
    return now + datetime.timedelta(seconds=seconds)


def test_new_agent_is_inserted_at_once(database):
    engine = database.engine()
    sink = _sink(engine, enable_new_agents=False)
    status = sink.record(report_factory.report(
        'h1', configurations={'instances': 7}, start_flag=True))
    assert status == constants.AGENT_NEW
    row = _rows(engine)['h1']
    assert row.admin_state_up is False
    assert row.agent_type == constants.AGENT_TYPE_LOADBALANCER
    assert json.loads(row.configurations) == {'instances': 7}
    assert row.load == 0  # default load_keys: ('load',)
    assert row.resources_synced is False
    assert row.created_at == row.started_at == row.heartbeat_timestamp


def test_heartbeats_are_coalesced_into_one_write(database):
    engine = database.engine()
    sink = _sink(engine, load_keys=['instances'])
    now = liveness.utcnow()
    sink.record(report_factory.report('h1'), now)
    for second in range(1, 4):
        status = sink.record(report_factory.report(
            'h1', configurations={'instances': second}), _later(now, second))
        assert status == constants.AGENT_ALIVE
    assert _rows(engine)['h1'].heartbeat_timestamp == now
    assert sink.pending_count() == 1
    assert sink.flush() == 1
    row = _rows(engine)['h1']
    assert row.heartbeat_timestamp == _later(now, 3)
    assert row.load == 3
    assert json.loads(row.configurations) == {'instances': 3}
    assert sink.flush() == 0


def test_unchanged_configurations_keep_the_stored_document(database):
    engine = database.engine()
    sink = _sink(engine)
    now = liveness.utcnow()
    sink.record(report_factory.report('h1', configurations={'a': 1}), now)
    # An admin or another server changed the stored document meanwhile; a
    # report repeating what this server last wrote does not rewrite it.
    with engine.begin() as connection:
        connection.execute(sa.update(models.agents).values(
            configurations='{"a":2}'))
    sink.record(report_factory.report('h1', configurations={'a': 1}),
                _later(now, 1))
    sink.flush()
    assert _rows(engine)['h1'].configurations == '{"a":2}'
    sink.record(report_factory.report('h1', configurations={'a': 3}),
                _later(now, 2))
    sink.flush()
    row = _rows(engine)['h1']
    assert row.configurations == '{"a":3}'
    assert row.heartbeat_timestamp == _later(now, 2)


def test_revived_after_agent_down_time(database):
    engine = database.engine()
    sink = _sink(engine)
    now = liveness.utcnow()
    sink.record(report_factory.report('h1'), now)
    sink.flush()
    with engine.begin() as connection:
        connection.execute(sa.update(models.agents).values(
            resources_synced=True))
    assert sink.record(report_factory.report('h1'),
                       _later(now, DOWN)) == constants.AGENT_ALIVE
    assert sink.record(report_factory.report('h1'),
                       _later(now, 2 * DOWN + 0.5)) == constants.AGENT_REVIVED
    assert sink.record(report_factory.report('h1'),
                       _later(now, 2 * DOWN + 1)) == constants.AGENT_ALIVE
    sink.flush()
    row = _rows(engine)['h1']
    assert row.resources_synced is False
    assert row.heartbeat_timestamp == _later(now, 2 * DOWN + 1)


def test_start_flag_sets_started_at(database):
    engine = database.engine()
    sink = _sink(engine)
    now = liveness.utcnow()
    sink.record(report_factory.report('h1', start_flag=True), now)
    sink.record(report_factory.report('h1', start_flag=True), _later(now, 1))
    sink.record(report_factory.report('h1'), _later(now, 2))
    sink.flush()
    row = _rows(engine)['h1']
    assert row.started_at == _later(now, 1)
    assert row.heartbeat_timestamp == _later(now, 2)


def test_another_servers_heartbeats_count(database):
    """Server A's memory says dead, B wrote a fresh heartbeat: alive."""
    engine = database.engine()
    server_a, server_b = _sink(engine), _sink(engine)
    now = liveness.utcnow()
    assert server_a.record(report_factory.report('h1'),
                           now) == constants.AGENT_NEW
    assert server_b.record(report_factory.report('h1'),
                           _later(now, DOWN)) == constants.AGENT_ALIVE
    server_b.flush()
    assert server_a.record(report_factory.report('h1'),
                           _later(now, DOWN + 2)) == constants.AGENT_ALIVE


def test_an_older_flush_never_takes_back_a_newer_heartbeat(database):
    """Competing consumers: A took report 2, B report 3 of one agent, and
    B's flush reached the database first. A's must not take back the
    heartbeat, the load, the documents or the identity that came with 3."""
    engine = database.engine()
    server_a, server_b = _sink(engine), _sink(engine)
    now = liveness.utcnow()
    assert server_a.record(report_factory.report(
        'h1', configurations={'load': 1}), now) == constants.AGENT_NEW
    server_a.flush()
    assert server_a.record(report_factory.report(
        'h1', configurations={'load': 2}, resource_versions={'Port': '1.1'},
        availability_zone='az-old'), _later(now, 1)) == constants.AGENT_ALIVE
    assert server_b.record(report_factory.report(
        'h1', configurations={'load': 3}, resource_versions={'Port': '1.2'},
        availability_zone='az-new'), _later(now, 2)) == constants.AGENT_ALIVE
    assert server_b.flush() == 1
    assert server_a.flush() == 1  # matched, though it changed nothing
    row = _rows(engine)['h1']
    assert row.heartbeat_timestamp == _later(now, 2)
    assert row.load == 3
    assert json.loads(row.configurations) == {'load': 3}
    assert json.loads(row.resource_versions) == {'Port': '1.2'}
    assert row.availability_zone == 'az-new'
    # The same heartbeat flushed again (a retry) is not older: it writes.
    server_a.record(report_factory.report(
        'h1', configurations={'load': 4}), _later(now, 2))
    server_a.flush()
    assert _rows(engine)['h1'].load == 4


def test_an_older_start_still_counts_and_the_newest_start_wins(database):
    engine = database.engine()
    server_a, server_b = _sink(engine), _sink(engine)
    now = liveness.utcnow()
    server_a.record(report_factory.report('h1'), now)
    server_a.flush()
    with engine.begin() as connection:
        connection.execute(sa.update(models.agents).values(
            resources_synced=True))
    # The agent restarted: A took its start, B its next report, and B's
    # flush came first. The start still sets started_at, and the agent
    # must sync again.
    server_a.record(report_factory.report('h1', start_flag=True),
                    _later(now, 1))
    server_b.record(report_factory.report('h1'), _later(now, 2))
    server_b.flush()
    server_a.flush()
    row = _rows(engine)['h1']
    assert row.started_at == _later(now, 1)
    assert row.resources_synced is False
    assert row.heartbeat_timestamp == _later(now, 2)
    # Two restarts in a row on two servers, flushed newest first: the
    # newest start wins.
    server_a.record(report_factory.report('h1', start_flag=True),
                    _later(now, 3))
    server_b.record(report_factory.report('h1', start_flag=True),
                    _later(now, 4))
    server_b.flush()
    server_a.flush()
    row = _rows(engine)['h1']
    assert row.started_at == _later(now, 4)
    assert row.heartbeat_timestamp == _later(now, 4)


def test_a_document_another_server_replaced_is_written_again(database):
    """A wrote {'a': 1}, B then {'a': 2}; the agent goes back to {'a': 1}
    in its reports to A. A's view still says it wrote that one: its flush
    finds B's heartbeat in the row, reads what B wrote, and the agent's
    next report to A writes {'a': 1} again."""
    engine = database.engine()
    server_a, server_b = _sink(engine), _sink(engine)
    now = liveness.utcnow()
    server_a.record(report_factory.report('h1', configurations={'a': 1}),
                    now)
    server_a.flush()
    server_b.record(report_factory.report('h1', configurations={'a': 2}),
                    _later(now, 1))
    server_b.flush()
    server_a.record(report_factory.report('h1', configurations={'a': 1}),
                    _later(now, 2))
    server_a.flush()
    # One report late: that one was taken as unchanged.
    assert _rows(engine)['h1'].configurations == '{"a":2}'
    server_a.record(report_factory.report('h1', configurations={'a': 1}),
                    _later(now, 3))
    server_a.flush()
    row = _rows(engine)['h1']
    assert row.configurations == '{"a":1}'
    assert row.heartbeat_timestamp == _later(now, 3)


def test_an_older_device_list_is_not_synced_over_a_newer(database):
    engine = database.engine()
    server_a, server_b = (_sink(engine, device_sync=device_sync.DeviceSync())
                          for _ in range(2))
    now = liveness.utcnow()

    def report(health):
        return report_factory.report('h1', configurations={'devices': [{
            'name': 'lb-1', 'device_type': 'noop',
            'service_type': 'LOADBALANCER', 'capacity': 10,
            'address': '192.0.2.1', 'health': health, 'load': 0}]})

    server_a.record(report('OK'), now)
    server_a.flush()
    server_a.record(report('DEGRADED'), _later(now, 1))
    server_b.record(report('DOWN'), _later(now, 2))
    server_b.flush()
    server_a.flush()
    with engine.connect() as connection:
        health = connection.execute(
            sa.select(models.agent_devices.c.health)).scalar_one()
    assert health == 'DOWN'


def test_a_stale_view_is_judged_by_what_the_database_holds(database):
    """Competing consumers: A's view of an agent is older than
    agent_down_time because B took its reports. A reads the row, as fresh
    as B's last flush: alive. Only a report B has not written yet (for at
    most a flush interval) is missing from it: that lag is the window in
    which a live agent can be answered 'revived' (the harmless answer: it
    resyncs), when its reports come nearly agent_down_time apart."""
    engine = database.engine()
    server_a, server_b = _sink(engine), _sink(engine)
    now = liveness.utcnow()
    server_a.record(report_factory.report('h1'), now)
    server_a.flush()
    server_b.record(report_factory.report('h1'), _later(now, DOWN - 1))
    server_b.flush()
    assert server_a.record(report_factory.report('h1'), _later(
        now, DOWN + 0.5)) == constants.AGENT_ALIVE
    server_a.flush()
    server_b.record(report_factory.report('h1'), _later(now, 2 * DOWN))
    assert server_a.record(report_factory.report('h1'), _later(
        now, 2 * DOWN + 1)) == constants.AGENT_REVIVED
    server_b.flush()
    server_a.flush()
    row = _rows(engine)['h1']
    assert row.heartbeat_timestamp == _later(now, 2 * DOWN + 1)
    assert row.resources_synced is False


def test_known_agents_are_loaded_at_start(database):
    engine = database.engine()
    now = liveness.utcnow()
    first = _sink(engine)
    for index in range(5):
        first.record(report_factory.report('h%d' % index), now)
    second = _sink(engine)
    assert second.load_views() == 5
    assert second.record(report_factory.report('h1'),
                         _later(now, 1)) == constants.AGENT_ALIVE
    assert second.record(report_factory.report('h2'),
                         _later(now, DOWN + 1)) == constants.AGENT_REVIVED


def test_duplicate_first_report_from_two_servers_makes_one_row(database):
    engine = database.engine()
    servers = [_sink(engine) for _ in range(4)]
    barrier = threading.Barrier(len(servers))
    statuses = []

    def first_report(sink):
        barrier.wait()
        statuses.append(sink.record(report_factory.report('dup')))

    threads = [threading.Thread(target=first_report, args=(s,))
               for s in servers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    with engine.connect() as connection:
        count = connection.execute(sa.select(sa.func.count()).select_from(
            models.agents)).scalar()
    assert count == 1
    assert statuses.count(constants.AGENT_NEW) == 1
    assert sorted(statuses) == [constants.AGENT_ALIVE] * 3 + [
        constants.AGENT_NEW]


def test_agent_deleted_while_reporting_is_registered_again(database):
    engine = database.engine()
    sink = _sink(engine)
    sink.record(report_factory.report('h1'))
    sink.record(report_factory.report('h2'))
    with engine.begin() as connection:
        connection.execute(sa.delete(models.agents).where(
            models.agents.c.host == 'h1'))
    sink.record(report_factory.report('h1'))
    sink.record(report_factory.report('h2'))
    sink.flush()
    assert sorted(_rows(engine)) == ['h1', 'h2']


def test_flusher_thread_writes_within_the_interval(database):
    engine = database.engine()
    sink = _sink(engine, flush_interval=0.1)
    sink.start()
    try:
        now = liveness.utcnow()
        sink.record(report_factory.report('h1'), now)
        sink.record(report_factory.report('h1'), _later(now, 1))
        deadline = _later(liveness.utcnow(), 5)
        while liveness.utcnow() < deadline:
            if _rows(engine)['h1'].heartbeat_timestamp == _later(now, 1):
                break
        assert _rows(engine)['h1'].heartbeat_timestamp == _later(now, 1)
    finally:
        sink.stop()


@pytest.fixture
def private_postgres():
    server = private_services.PrivatePostgres()
    yield server
    server.destroy()


def test_database_outage_keeps_newest_state(private_postgres, parsed_conf):
    from agentsched.db import engine as db_engine
    from agentsched.db import migration
    engine = db_engine.create_engine(parsed_conf, url=private_postgres.url)
    migration.upgrade(engine)
    sink = _sink(engine, flush_interval=0.1, flush_retry_max_wait=0.5,
                 load_keys=['seq'])
    now = liveness.utcnow()
    for host in ('h1', 'h2'):
        sink.record(report_factory.report(host), now)
    sink.start()
    try:
        private_postgres.stop()
        for seq in range(1, 30):
            for host in ('h1', 'h2'):
                status = sink.record(report_factory.report(
                    host, configurations={'seq': seq}), _later(now, seq / 10))
                assert status == constants.AGENT_ALIVE
            threading.Event().wait(0.02)
        assert sink.flush_failures > 0
        assert sink.pending_count() == 2
        private_postgres.start()
        deadline = _later(liveness.utcnow(), 10)
        while sink.pending_count() and liveness.utcnow() < deadline:
            threading.Event().wait(0.1)
    finally:
        sink.stop()
    rows = _rows(engine)
    for host in ('h1', 'h2'):
        assert rows[host].load == 29
        assert rows[host].heartbeat_timestamp == _later(now, 2.9)
    engine.dispose()


def test_each_document_is_written_only_when_it_changes(database):
    engine = database.engine()
    sink = _sink(engine)
    now = liveness.utcnow()
    sink.record(report_factory.report(
        'h1', configurations={'a': 1}, resource_versions={'Port': '1.0'}),
        now)
    # Someone else rewrote both documents; reports repeating what this
    # server stored leave them alone, a changed one is written alone.
    with engine.begin() as connection:
        connection.execute(sa.update(models.agents).values(
            configurations='{"a":9}', resource_versions='{"Port":"9"}'))
    sink.record(report_factory.report(
        'h1', configurations={'a': 1}, resource_versions={'Port': '1.0'}),
        _later(now, 1))
    sink.flush()
    row = _rows(engine)['h1']
    assert (row.configurations, row.resource_versions) == (
        '{"a":9}', '{"Port":"9"}')
    sink.record(report_factory.report(
        'h1', configurations={'a': 1}, resource_versions={'Port': '1.1'}),
        _later(now, 2))
    sink.flush()
    row = _rows(engine)['h1']
    assert (row.configurations, row.resource_versions) == (
        '{"a":9}', '{"Port":"1.1"}')
    assert row.heartbeat_timestamp == _later(now, 2)


# -- poison isolation (issue 11) --------------------------------------------

# Values each backend refuses, put straight into pending state as if the
# schema had let them through. SQLite stores any integer up to 64 bits and
# NUL; MariaDB stores NUL; no driver can send a lone surrogate.
_REFUSED = {
    'sqlite': [('load', 2 ** 63), ('binary', '\ud800')],
    'postgresql': [('load', 2 ** 40), ('topic', 'a\x00b'),
                   ('binary', '\ud800')],
    'mariadb': [('load', 2 ** 40), ('load', 2 ** 63), ('binary', '\ud800')],
}


def _poison(sink, host, field, value):
    pending = sink._pending[(constants.AGENT_TYPE_LOADBALANCER, host)]
    if field == 'load':
        pending.load = value
    else:
        pending.identity[field] = value


def test_rows_the_database_refuses_are_dropped_the_rest_written(
        database, caplog):
    engine = database.engine()
    sink = _sink(engine)
    now = liveness.utcnow()
    refused = _REFUSED[database.backend]
    hosts = ['h%d' % index for index in range(len(refused) + 5)]
    for host in hosts:
        sink.record(report_factory.report(host), now)
    sink.flush()
    for host in hosts:
        sink.record(report_factory.report(
            host, configurations={'load': 3}), _later(now, 1))
    bad = hosts[1::2][:len(refused)]
    for host, (field, value) in zip(bad, refused):
        _poison(sink, host, field, value)
    with caplog.at_level(logging.ERROR):
        assert sink.flush() == len(hosts) - len(bad)
    rows = _rows(engine)
    for host in hosts:
        assert rows[host].heartbeat_timestamp == (
            now if host in bad else _later(now, 1)), host
        assert rows[host].load == (0 if host in bad else 3)
    assert sink.pending_count() == 0
    assert sink.failed_writes == len(bad)
    assert sink.flush_failures == 0  # not an outage
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    lines = [r.getMessage() for r in errors]
    assert len(lines) == len(bad)
    for host, line in zip(bad, lines):
        assert line.startswith('Dropped the heartbeat of agent %s on %s: the '
                               'database refused it (' % (
                                   constants.AGENT_TYPE_LOADBALANCER, host))
    assert not [r for r in errors if r.exc_info]
    # Their next valid reports are written, documents included.
    for host in hosts:
        sink.record(report_factory.report(
            host, configurations={'load': 4}), _later(now, 2))
    assert sink.flush() == len(hosts)
    rows = _rows(engine)
    assert {rows[host].load for host in hosts} == {4}
    assert {rows[host].configurations for host in hosts} == {'{"load":4}'}


def _mysql_error(errno, message):
    import pymysql
    return sa.exc.OperationalError('UPDATE agents', {},
                                   pymysql.err.OperationalError(errno,
                                                                message))


@pytest.mark.parametrize('exc,outage', [
    (sa.exc.DataError('UPDATE', {}, Exception('integer out of range')),
     False),
    (sa.exc.IntegrityError('UPDATE', {}, Exception('NOT NULL')), False),
    (sa.exc.ProgrammingError('UPDATE', {}, Exception('nan can not be used')),
     False),
    (UnicodeEncodeError('utf-8', '\ud800', 0, 1, 'surrogates not allowed'),
     False),
    (OverflowError('Python int too large to convert to SQLite INTEGER'),
     False),
    (sa.exc.StatementError('bad parameter', 'UPDATE', {}, ValueError()),
     False),
    (_mysql_error(1690, 'BIGINT value is out of range'), False),
    (_mysql_error(4025, 'CONSTRAINT failed'), False),
    (_mysql_error(2013, 'Lost connection to MySQL server'), True),
    (_mysql_error(1213, 'Deadlock found'), True),
    (sa.exc.OperationalError('UPDATE', {}, Exception('server closed the '
                                                     'connection')), True),
    (sa.exc.InterfaceError('UPDATE', {}, Exception('connection closed')),
     True),
    (sa.exc.InternalError('UPDATE', {}, Exception('read-only transaction')),
     True),
    (sa.exc.DataError('UPDATE', {}, Exception('x'),
                      connection_invalidated=True), True),
    (sa.exc.DisconnectionError('pre-ping failed'), True),
    (sa.exc.TimeoutError('QueuePool limit reached'), True),
])
def test_outages_are_told_from_refused_data(exc, outage):
    assert db_engine.is_outage(exc) is outage


def _failing_updates(monkeypatch, exc, refused_load):
    """update_heartbeats raising exc for any batch with that load in it."""
    real = reports_sink.agents_db.update_heartbeats

    def update_heartbeats(connection, rows):
        if any(row['load'] == refused_load for row in rows):
            raise exc
        return real(connection, rows)

    monkeypatch.setattr(reports_sink.agents_db, 'update_heartbeats',
                        update_heartbeats)


@pytest.fixture
def sqlite_engine(tmp_path):
    database = make_database('sqlite', tmp_path)
    yield database.engine()
    database.close()


def test_a_mysql_data_error_raised_as_operational_is_isolated(
        sqlite_engine, monkeypatch):
    engine = sqlite_engine
    sink = _sink(engine, load_keys=['seq'])
    now = liveness.utcnow()
    for index in range(8):
        sink.record(report_factory.report(
            'h%d' % index, configurations={'seq': index}), now)
    _failing_updates(monkeypatch, _mysql_error(1690, 'out of range'), 5)
    assert sink.flush() == 7
    assert sink.failed_writes == 1
    assert sink.flush_failures == 0


def test_an_outage_while_isolating_keeps_what_is_not_written(
        sqlite_engine, monkeypatch):
    engine = sqlite_engine
    sink = _sink(engine, load_keys=['seq'])
    now = liveness.utcnow()
    for index in range(8):
        sink.record(report_factory.report(
            'h%d' % index, configurations={'seq': index}), now)
    sink.flush()
    for index in range(8):
        sink.record(report_factory.report(
            'h%d' % index, configurations={'seq': 10 + index}),
            _later(now, 1))
    # h1 is refused; the database goes away once the half holding h1 is
    # done: h0-h1 written or dropped, h2-h7 kept for the retry.
    calls = []
    real = reports_sink.agents_db.update_heartbeats

    def update_heartbeats(connection, rows):
        # Sorted: a batch's rows go in the order of their ids.
        calls.append(sorted(row['load'] for row in rows))
        if 11 in calls[-1]:
            raise sa.exc.DataError('UPDATE', {}, Exception('refused'))
        if len(calls) > 4:
            raise _mysql_error(2013, 'Lost connection')
        return real(connection, rows)

    monkeypatch.setattr(reports_sink.agents_db, 'update_heartbeats',
                        update_heartbeats)
    with pytest.raises(sa.exc.OperationalError):
        sink.flush()
    assert calls[:4] == [list(range(10, 18)), [10, 11, 12, 13], [10, 11],
                         [10]]
    assert sink.failed_writes == 1
    assert sink.flush_failures == 1
    assert sink.pending_count() == 6
    monkeypatch.setattr(reports_sink.agents_db, 'update_heartbeats', real)
    assert sink.flush() == 6
    rows = _rows(engine)
    assert [rows['h%d' % index].load for index in range(8)] == [
        10, 1, 12, 13, 14, 15, 16, 17]


def test_a_load_out_of_the_column_range_is_refused(database):
    engine = database.engine()
    sink = _sink(engine)
    with pytest.raises(schema.InvalidReport) as info:
        sink.record(report_factory.report(
            'h1', configurations={'load': 2 ** 31}))
    assert 'configurations.load must be between' in str(info.value)
    assert _rows(engine) == {}
    sink.record(report_factory.report('h1'))
    with pytest.raises(schema.InvalidReport):
        sink.record(report_factory.report(
            'h1', configurations={'load': -2 ** 31 - 1}))
    assert sink.pending_count() == 1
    sink.record(report_factory.report(
        'h1', configurations={'load': constants.MAX_DB_INTEGER}))
    sink.flush()
    assert _rows(engine)['h1'].load == constants.MAX_DB_INTEGER


def test_known_agents_are_loaded_in_batches(database, monkeypatch):
    """load_views reads the table in batches (a server-side cursor where
    there is one), so start-up never holds every agent's documents at
    once; every batch is taken."""
    monkeypatch.setattr(agents_db, 'STREAM_BATCH', 2)
    engine = database.engine()
    now = liveness.utcnow()
    first = _sink(engine)
    for index in range(5):
        first.record(report_factory.report('h%d' % index), now)
    with engine.connect() as connection:
        sizes = [len(rows) for rows in agents_db.all_views(connection)]
    assert sizes == [2, 2, 1]
    second = _sink(engine)
    assert second.load_views() == 5
    for index in range(5):
        assert second.record(report_factory.report('h%d' % index),
                             _later(now, 1)) == constants.AGENT_ALIVE
