"""Devices scheduled to agents: the managers of a device nobody was named for.

An agent whose [agent] remote_device_types lists a device type is a manager
of that type. A device an admin (or a project) registers without naming agents is
assigned by the server to [scheduler] agents_per_device live managers
(the [scheduler] device_assigner plugin chooses, algorithms/
device_assigners.py): links marked assigned, in the registering
transaction, and the managers are told (devices_updated) after the commit;
they pick the device up, with its credentials, through their sync. With
fewer managers alive the device gets what there is (logged); with none it
stays unassigned (its health UNKNOWN, so nothing is placed on it) until the
health monitor finds a manager.

Each health check (health/monitor.py, on the leader) gives new managers to
the devices that have fewer than agents_per_device agents managing them:
an agent managing is live (alive, admin-up, not forced down), or dead by
its heartbeats while a storm guard holds failover back. For each manager
added, one assigned link of an agent no longer managing (dead, forced down,
draining) is removed, never an admin's pin; the new and the removed agents
are told. It runs before the resources' failover in the same check, so
that the resources of a dead manager are rebound (not moved) to the
device's live managers, the new one included.
"""

import collections

from oslo_log import log as logging

from agentsched import algorithms
from agentsched import constants
from agentsched import liveness
from agentsched.db import assignment as assignment_db
from agentsched.services import devices as devices_service

LOG = logging.getLogger(__name__)

# What a health check's reassignment did: devices that got new managers,
# links added and removed, devices still short of agents_per_device
# managers after it, devices deferred by the rate limit, and whether more
# short devices wait beyond the batch.
Outcome = collections.namedtuple(
    'Outcome', 'devices assigned unassigned short deferred more')
_NOTHING = Outcome(0, 0, 0, 0, 0, False)


def _target(row):
    return algorithms.DeviceToAssign(row.id, row.name, row.device_type,
                                     row.service_type, row.availability_zone)


class DeviceAssignmentService:

    def __init__(self, engine, conf, notifier, assigner=None):
        """assigner: the plugin choosing managers; [scheduler]
        device_assigner by default (UnknownPlugin if not installed)."""
        self._engine = engine
        self._conf = conf
        self._notifier = notifier
        self._assigner = assigner or algorithms.load_device_assigner(conf)
        # Where the monitor's next look starts (the last device id of a
        # full batch): short devices no manager can take (a custom
        # assigner's rule, full managers) never starve the others.
        self._cursor = None

    @property
    def per_device(self):
        return self._conf.scheduler.agents_per_device

    @staticmethod
    def nothing():
        """The Outcome of a check that had nothing to reassign."""
        return _NOTHING

    def _alive_since(self, now=None):
        return liveness.alive_since(self._conf.agent_down_time, now)

    def _managers(self, connection, device_type, alive_since):
        """{agent_id: (algorithms.Manager, agent row)} of a device type."""
        return {row.id: (algorithms.Manager(
            row.id, row.host, row.agent_type,
            constants.SERVICE_BY_AGENT_TYPE.get(row.agent_type),
            row.availability_zone, row.devices), row)
            for row in assignment_db.manager_candidates(
                connection, device_type, alive_since)}

    def _fill(self, connection, device, links, managers, now):
        """Assign managers to a device up to per_device, in the caller's
        transaction; for each one, remove an assigned link of an agent no
        longer managing it. (chosen agent rows, removed link rows)."""
        managing = sum(1 for link in links if link.managing)
        linked = {link.agent_id for link in links}
        chosen = self._assigner.select(
            [manager for agent_id, (manager, _) in managers.items()
             if agent_id not in linked],
            _target(device), self.per_device - managing)
        for manager in chosen:
            assignment_db.assign(connection, manager.agent_id, device.id,
                                 now)
        removed = [link for link in links
                   if link.assigned and not link.managing][:len(chosen)]
        for link in removed:
            assignment_db.unassign(connection, link.agent_id, device.id)
        if removed:
            # The departed agent's last word no longer counts.
            devices_service.update_health(connection, device.id)
        return [managers[manager.agent_id][1] for manager in chosen], removed

    # -- a device an admin or a project registers, or an admin unlinks -----

    def assign(self, connection, device, exclude=()):
        """Assign managers to a device an admin or a project registered
        (without agents, or through an agent's list: the pin counts) or
        just unlinked from an agent, up to per_device, in the admin's transaction; exclude:
        agents not to choose (the one just unlinked). The agents to tell
        (devices_updated) after the commit."""
        if device.source not in constants.ASSIGNED_SOURCES:
            return []
        alive_since = self._alive_since()
        managers = self._managers(connection, device.device_type,
                                  alive_since)
        for agent_id in exclude:
            managers.pop(agent_id, None)
        links = assignment_db.links_of_device(connection, device.id,
                                              alive_since)
        chosen, removed = self._fill(connection, device, links, managers,
                                     liveness.utcnow())
        managing = sum(1 for link in links if link.managing) + len(chosen)
        if managing < self.per_device and managers:
            LOG.warning('Device %s (%s) managed by %d of %d agents: no other '
                        'live agent manages %s devices of its service type%s;'
                        ' the health monitor assigns more when they appear',
                        device.name, device.id, managing, self.per_device,
                        device.device_type,
                        ' in zone %s' % device.availability_zone
                        if device.availability_zone else '')
        if chosen:
            LOG.info('Device %s (%s) assigned to agent(s) %s', device.name,
                     device.id, ', '.join(row.host for row in chosen))
        return chosen + removed

    # -- the health monitor's check ----------------------------------------

    def reassign(self, limit, allow=lambda: True, hold=False, tripped=()):
        """Give managers to the devices that lack them (at most limit);
        allow(): whether the rate limit lets one more device through;
        hold, tripped: the storm guards (db/assignment.py _managing). An
        Outcome."""
        now = liveness.utcnow()
        alive_since = self._alive_since(now)
        with self._engine.connect() as connection:
            short = assignment_db.short_devices(
                connection, alive_since, self.per_device, limit, hold,
                tripped, after=self._cursor)
            if len(short) < limit and self._cursor is not None:
                # Wrapped around: the devices before the cursor.
                short += assignment_db.short_devices(
                    connection, alive_since, self.per_device,
                    limit - len(short), hold, tripped, until=self._cursor)
        more = len(short) == limit
        if not short:
            self._cursor = None
            return _NOTHING
        managers_of = {}   # device_type -> _managers(), counts kept current
        devices = assigned = unassigned = still_short = deferred = 0
        cursor = None
        for index, device in enumerate(short):
            if not allow():
                deferred = len(short) - index
                break
            cursor = device.id
            with self._engine.begin() as connection:
                if assignment_db.lock_device(connection, device.id) is None:
                    continue   # deleted, or another server holds it
                managers = managers_of.get(device.device_type)
                if managers is None:
                    managers = managers_of[device.device_type] = \
                        self._managers(connection, device.device_type,
                                       alive_since)
                links = assignment_db.links_of_device(
                    connection, device.id, alive_since, hold, tripped)
                chosen, removed = self._fill(connection, device, links,
                                             managers, now)
            for row in chosen:
                manager, _ = managers[row.id]
                managers[row.id] = (manager._replace(
                    devices=manager.devices + 1), row)
            self._tell(chosen + removed)
            managing = sum(1 for link in links if link.managing)
            if managing + len(chosen) < self.per_device:
                still_short += 1
            if chosen:
                devices += 1
                assigned += len(chosen)
                unassigned += len(removed)
                LOG.info('Device %s (%s) assigned to agent(s) %s%s',
                         device.name, device.id,
                         ', '.join(row.host for row in chosen),
                         '; no longer to %s' % ', '.join(
                             link.host for link in removed)
                         if removed else '')
        # The next look goes on after the last device looked at, when
        # devices were left (the batch full, or deferred).
        self._cursor = cursor if (more or deferred) else None
        return Outcome(devices, assigned, unassigned, still_short, deferred,
                       more)

    def _tell(self, agents):
        for agent in agents:
            self._notifier.devices_updated(agent)
