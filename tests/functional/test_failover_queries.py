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
