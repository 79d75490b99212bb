"""db/failover.py's look-ups of the health monitor's work, on SQLite,
PostgreSQL and MariaDB: the same rows whichever way the SQL finds them."""

import datetime

import sqlalchemy as sa

from agentsched import constants
from agentsched.db import failover as failover_db
from agentsched.db import models

NOW = datetime.datetime(2026, 11, 27, 1, 0, 0)


def _write(engine, devices, bindings):
    """devices: {name: health}; bindings: [(resource, device, agent or
    None, status)]; one agent 'a'."""
    with engine.begin() as connection:
        connection.execute(sa.insert(models.agents).values(
            id='a', agent_type=constants.AGENT_TYPE_LOADBALANCER,
            binary='agentsched-agent', topic='t', host='a',
            created_at=NOW, started_at=NOW, heartbeat_timestamp=NOW,
            configurations='{}'))
        connection.execute(sa.insert(models.devices), [dict(
            id=name, name=name, device_type='noop',
            service_type=constants.SERVICE_LOADBALANCER, capabilities='{}',
            capacity=100, physical_info='{}', health=health, source='admin',
            created_at=NOW) for name, health in devices.items()])
        connection.execute(sa.insert(models.resources), [dict(
            id=resource, project_id='p', resource_type='vip', spec='{}',
            requirements='{}', status=status, created_at=NOW)
            for resource, _, _, status in bindings])
        connection.execute(sa.insert(models.bindings), [dict(
            resource_id=resource, device_id=device, agent_id=agent,
            created_at=NOW) for resource, device, agent, _ in bindings])


def test_orphaned_bindings_of_deleted_agents_and_down_devices(database):
    """Bindings of deleted agents (agent_id NULL) and on DOWN devices, each
    once (r3 is both), by resource id, limited; not those being deleted,
    nor those skipped, nor a live agent's on a device that is not DOWN."""
    engine = database.engine()
    active, deleting = constants.STATUS_ACTIVE, constants.STATUS_PENDING_DELETE
    _write(engine, {'ok': constants.HEALTH_OK, 'down': constants.HEALTH_DOWN,
                    'unknown': constants.HEALTH_UNKNOWN},
           [('r1', 'ok', 'a', active), ('r2', 'ok', None, active),
            ('r3', 'down', None, active), ('r4', 'down', 'a', active),
            ('r5', 'down', 'a', deleting), ('r6', 'ok', None, deleting),
            ('r7', 'unknown', 'a', active), ('r8', 'down', 'a', active),
            ('r9', 'unknown', None, active)])
    with engine.connect() as connection:
        found = failover_db.orphaned_bindings(connection, 100)
        assert [(row.resource_id, row.device_id, row.agent_id,
                 row.device_health) for row in found] == [
            ('r2', 'ok', None, constants.HEALTH_OK),
            ('r3', 'down', None, constants.HEALTH_DOWN),
            ('r4', 'down', 'a', constants.HEALTH_DOWN),
            ('r8', 'down', 'a', constants.HEALTH_DOWN),
            ('r9', 'unknown', None, constants.HEALTH_UNKNOWN)]
        # What the monitor reads of each: the resource and the device.
        assert (found[0].resource_type, found[0].units, found[0].status,
                found[0].device_name, found[0].device_up, found[0].generation
                ) == ('vip', 1, active, 'ok', True, 1)
        assert [row.resource_id for row in failover_db.orphaned_bindings(
            connection, 2)] == ['r2', 'r3']
        assert [row.resource_id for row in failover_db.orphaned_bindings(
            connection, 2, skip={'r2', 'r4'})] == ['r3', 'r8']


def _fleet(engine):
    """Agents of every kind the overview tells apart: steady (s0-s2, s3 in
    another zone), late or dead holding resources (l0-l3), forced down
    (f0), admin down (d0), managing a device type (m0), assigned a device
    (x0, late). Resources on 'dev': l0 3, l1 1, f0 2, d0 1."""
    late = NOW - datetime.timedelta(seconds=100)
    agents = {'s0': NOW, 's1': NOW, 's2': NOW, 's3': NOW, 'l0': late,
              'l1': late, 'l2': late, 'l3': late, 'f0': NOW, 'd0': NOW,
              'm0': NOW, 'x0': late}
    with engine.begin() as connection:
        connection.execute(sa.insert(models.agents), [dict(
            id=agent, agent_type=constants.AGENT_TYPE_LOADBALANCER,
            binary='agentsched-agent', topic='t', host=agent,
            availability_zone='az2' if agent == 's3' else 'az1',
            created_at=NOW, started_at=NOW, heartbeat_timestamp=stamp,
            configurations='{}', forced_down=agent == 'f0',
            admin_state_up=agent != 'd0')
            for agent, stamp in agents.items()])
        connection.execute(sa.insert(models.devices), [dict(
            id=name, name=name, device_type='noop',
            service_type=constants.SERVICE_LOADBALANCER, capabilities='{}',
            capacity=100, physical_info='{}', health=constants.HEALTH_OK,
            source='admin', created_at=NOW) for name in ('dev', 'dev2')])
        holders = ['l0'] * 3 + ['l1', 'f0', 'f0', 'd0']
        connection.execute(sa.insert(models.resources), [dict(
            id='r%d' % index, project_id='p', resource_type='vip', spec='{}',
            requirements='{}', status=constants.STATUS_ACTIVE,
            created_at=NOW) for index in range(len(holders))])
        connection.execute(sa.insert(models.bindings), [dict(
            resource_id='r%d' % index, device_id='dev', agent_id=agent,
            created_at=NOW) for index, agent in enumerate(holders)])
        connection.execute(sa.insert(models.agent_devices), [
            dict(agent_id='x0', device_id='dev2', assigned=True),
            dict(agent_id='l2', device_id='dev2', assigned=False),
            dict(agent_id='s0', device_id='dev', assigned=False)])
        connection.execute(sa.insert(models.manager_device_types).values(
            agent_id='m0', device_type='noop'))


def test_the_overview_of_many_not_steady_agents_is_the_same_in_one_read(
        database, monkeypatch):
    """Past _IDS_PER_STATEMENT agents not steady (every agent late after an
    outage) the overview reads them in one statement, their resources and
    devices counted table by table, instead of one statement per
    _IDS_PER_STATEMENT ids, each counting agent by agent: the same
    overview."""
    engine = database.engine()
    _fleet(engine)
    statements = []
    sa.event.listen(engine, 'before_cursor_execute',
                    lambda *args: statements.append(args[2]))
    steady_since = NOW - datetime.timedelta(seconds=10)

    def overview():
        statements.clear()
        with engine.connect() as connection:
            found = failover_db.agents_overview(connection, steady_since)
        return (sorted(tuple(row) for row in found.agents), found.steady,
                found.newest), [s for s in statements
                                if not s.startswith('SET')]

    by_ids, few_statements = overview()
    monkeypatch.setattr(failover_db, '_IDS_PER_STATEMENT', 2)
    at_once, many_statements = overview()
    assert at_once == by_ids
    assert len(few_statements) == len(many_statements) == 2
    agents, steady, newest = at_once
    # id, held, assigned, manager
    assert [(row[0], row[7], row[8], bool(row[9])) for row in agents] == [
        ('d0', 1, 0, False), ('f0', 2, 0, False), ('l0', 3, 0, False),
        ('l1', 1, 0, False), ('l2', 0, 0, False), ('l3', 0, 0, False),
        ('m0', 0, 0, True), ('x0', 0, 1, False)]
    assert steady == {(constants.AGENT_TYPE_LOADBALANCER, 'az1'): 3,
                      (constants.AGENT_TYPE_LOADBALANCER, 'az2'): 1}
    assert newest == NOW


def test_agents_that_turn_steady_or_not_between_the_reads(database,
                                                           monkeypatch):
    """The one read of many agents finds those the first statement did
    not count as steady, as their ids would: one that turned steady in
    between is read still (by id), one that turned not steady is not (it
    was counted as steady). (Where the transaction's reads share one
    snapshot, MariaDB's, neither change is seen: the same agents.)"""
    engine = database.engine()
    _fleet(engine)
    monkeypatch.setattr(failover_db, '_IDS_PER_STATEMENT', 2)
    steady_since = NOW - datetime.timedelta(seconds=10)
    between = failover_db._many_not_steady

    def heartbeats_in_between(other):
        with engine.begin() as connection:
            for agent, stamp in (('l2', NOW), ('s1', NOW - datetime.timedelta(
                    seconds=100))):
                connection.execute(sa.update(models.agents).where(
                    models.agents.c.id == agent).values(
                        heartbeat_timestamp=stamp))
        return between(other)
    monkeypatch.setattr(failover_db, '_many_not_steady',
                        heartbeats_in_between)
    with engine.connect() as connection:
        found = failover_db.agents_overview(connection, steady_since)
    ids = sorted(row.id for row in found.agents)
    assert ids == ['d0', 'f0', 'l0', 'l1', 'l2', 'l3', 'm0', 'x0']
    assert found.steady[(constants.AGENT_TYPE_LOADBALANCER, 'az1')] == 3
