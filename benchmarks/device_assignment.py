"""The device assignment benchmark: python -m benchmarks.device_assignment.

On PostgreSQL, through the real DeviceService and DeviceAssignmentService
(issue 15): a fleet written straight to the database (bulk inserts, then
ANALYZE) of --agents agents (10,000), each linked to a device it reported
(haproxy, pinned), --managers of them (100) managers of noop devices, and
--devices admin-registered noop devices (10,000), each assigned to two
managers (round robin). Measured:

- look: the health monitor's statement looking for devices short of
  managers when none is (the common case), --repeats times;
- register: an admin registers a device without agents (the API's one
  service call: insert, candidates, two links, the row shown), --repeats
  times;
- dead_manager: one manager dies; reassign() runs as the monitor's checks
  do (batch_size 500, no rate limit) until none of its devices is left on
  it: checks, wall time and statements per device reassigned.

Prints one JSON document.
"""

import argparse
import datetime
import json
import sys
import time
import uuid

import sqlalchemy as sa

from benchmarks import common
from benchmarks import data_plane


class Notifier:
    def __init__(self):
        self.told = 0

    def devices_updated(self, agent):
        self.told += 1


def _fleet(engine, run_id, agents, managers, devices):
    from agentsched import constants
    from agentsched.db import models
    now = datetime.datetime.now(datetime.timezone.utc).replace(tzinfo=None)
    agent_rows, device_rows, links, types = [], [], [], []
    manager_ids = []
    for index in range(agents):
        agent_id = str(uuid.uuid4())
        host = common.host_name(run_id, index)
        agent_rows.append(dict(
            id=agent_id, agent_type=constants.AGENT_TYPE_LOADBALANCER,
            binary='agentsched-agent', topic=common.AGENT_TOPIC, host=host,
            availability_zone='nova', admin_state_up=True, created_at=now,
            started_at=now, heartbeat_timestamp=now, configurations='{}',
            load=0))
        device_id = str(uuid.uuid4())
        device_rows.append(dict(
            id=device_id, name='%s-lb' % host, device_type='haproxy',
            service_type=constants.SERVICE_LOADBALANCER, capabilities='{}',
            capacity=100, used=0, physical_info='{}', health='OK',
            source=constants.DEVICE_SOURCE_REPORTED, reported_by=host,
            created_at=now))
        links.append(dict(agent_id=agent_id, device_id=device_id,
                          missing=False, health='OK', assigned=False))
        if index < managers:
            manager_ids.append(agent_id)
            types.append(dict(agent_id=agent_id, device_type='noop'))
    for index in range(devices):
        device_id = str(uuid.uuid4())
        device_rows.append(dict(
            id=device_id, name='%s-remote-%05d' % (run_id, index),
            device_type='noop', service_type=constants.SERVICE_LOADBALANCER,
            capabilities='{}', capacity=100, used=0, physical_info='{}',
            health='OK', source=constants.DEVICE_SOURCE_ADMIN,
            reported_by=None, created_at=now))
        for offset in (0, 1):
            links.append(dict(
                agent_id=manager_ids[(2 * index + offset) % managers],
                device_id=device_id, missing=False, health='OK',
                assigned=True))
    with engine.begin() as connection:
        connection.execute(sa.insert(models.agents), agent_rows)
        connection.execute(sa.insert(models.devices), device_rows)
        connection.execute(sa.insert(models.agent_devices), links)
        connection.execute(sa.insert(models.manager_device_types), types)
    with engine.connect().execution_options(
            isolation_level='AUTOCOMMIT') as connection:
        connection.execute(sa.text('ANALYZE'))
    return manager_ids


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--agents', type=int, default=10000)
    parser.add_argument('--managers', type=int, default=100)
    parser.add_argument('--devices', type=int, default=10000)
    parser.add_argument('--repeats', type=int, default=20)
    args = parser.parse_args(argv)
    with common.migrated('device_assignment') as (bench, conf, engine):
        from agentsched import liveness
        from agentsched.db import models
        from agentsched.services import device_assignment
        from agentsched.services import devices as devices_service
        from agentsched.services import secrets
        managers = _fleet(engine, bench.id, args.agents, args.managers,
                          args.devices)
        notifier = Notifier()
        assignment = device_assignment.DeviceAssignmentService(
            engine, conf, notifier)
        devices = devices_service.DeviceService(
            engine, conf, notifier, secrets.SecretBox([]),
            assignment=assignment)
        report = {'agents': args.agents, 'managers': args.managers,
                  'devices': args.devices}

        def look(index):
            assert assignment.reassign(500).devices == 0
        report['look'] = data_plane._timed(engine, look, args.repeats)

        def register(index):
            devices.create({'name': '%s-new-%d' % (bench.id, index),
                            'device_type': 'noop'})
        report['register'] = data_plane._timed(engine, register, args.repeats)
        assert notifier.told == 2 * args.repeats

        with engine.begin() as connection:
            connection.execute(sa.update(models.agents).where(
                models.agents.c.id == managers[0]).values(
                heartbeat_timestamp=liveness.utcnow() -
                datetime.timedelta(seconds=3600)))
        checks = reassigned = statements = 0
        sent = []
        sa.event.listen(engine, 'before_cursor_execute',
                        lambda *a: sent.append(1))
        wall = time.perf_counter()
        while True:
            done = assignment.reassign(500)
            if not done.devices:
                break
            checks += 1
            reassigned += done.devices
        wall = time.perf_counter() - wall
        statements = len(sent)
        with engine.connect() as connection:
            left = connection.execute(sa.select(sa.func.count()).select_from(
                models.agent_devices).where(
                models.agent_devices.c.agent_id == managers[0],
                models.agent_devices.c.assigned == sa.true())).scalar()
        assert left == 0, left
        report['dead_manager'] = {
            'devices_reassigned': reassigned, 'checks': checks + 1,
            'wall_s': round(wall, 2),
            'ms_per_device': round(wall * 1e3 / reassigned, 2),
            'statements_per_device': round(statements / reassigned, 1)}
    json.dump(report, sys.stdout, indent=2)
    print()


if __name__ == '__main__':
    main()
