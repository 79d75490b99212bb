"""Devices from heartbeats: the inventory kept in step with what agents report.

Runs only when an agent's reported documents changed (the sink compares
them as strings), once per agent, in its own transaction. A device an agent
stops reporting is marked missing for that agent: never deleted, never moved
by that alone. A report describes only the devices its host created or that are
linked to its agent: a device another host reported first, or an admin
created, is refused for an agent not linked to it (an admin links it), so
no host can redefine or claim another's device (docs/security.md). Devices
registered by an admin keep the admin's description; a report of a linked
agent carries health and load, and so does the report of a manager agent
(its [agent] remote_device_types, kept in manager_device_types here) for
a device the server assigned to it (services/device_assignment.py).
"""

import json
import threading
import uuid

from oslo_log import log as logging
import sqlalchemy as sa

from agentsched import constants
from agentsched.conf import agent as agent_conf
from agentsched.db import assignment as assignment_db
from agentsched.db import devices as devices_db
from agentsched.services import device_types
from agentsched.services import devices as devices_service

LOG = logging.getLogger(__name__)

def _dump(document):
    return json.dumps(document, sort_keys=True, separators=(',', ':'))


def _described(device, agent_service_type, availability_zone):
    """The columns a report describes, as stored."""
    physical_info = agent_conf.physical_info(device.get('address'))
    return {
        'device_type': device['device_type'],
        'service_type': device.get('service_type') or agent_service_type,
        'capabilities': _dump(device.get('capabilities') or {}),
        'capacity': device.get('capacity', 0),
        'physical_info': _dump(physical_info),
        'availability_zone': availability_zone,
    }


class DeviceSync:

    def __init__(self, registry=None):
        self._registry = registry or device_types.Registry()
        self._lock = threading.Lock()
        # Reported devices refused: existing, and not the reporter's.
        self.refused = 0

    def reconcile(self, connection, agent_id, state, now):
        """Make the inventory match one agent's reported device list, and
        the device types it manages remotely."""
        configurations = state.get('configurations') or {}
        reported = configurations.get('devices') or []
        remote_types = set(configurations.get('remote_device_types') or ())
        assignment_db.set_managed_types(connection, agent_id, remote_types)
        service_type = constants.SERVICE_BY_AGENT_TYPE.get(
            state['agent_type'], constants.SERVICE_LOADBALANCER)
        described_devices = {
            device['name']: (device, _described(
                device, service_type, state.get('availability_zone')))
            for device in reported}
        existing = devices_db.by_names(connection, described_devices)
        valid = {}
        for name, (device, described) in described_devices.items():
            row = existing.get(name)
            # The description counts only where it creates or updates a
            # row: an admin's device (one assigned to a manager among them)
            # keeps the admin's, and its report carries health and load.
            if row is None or row.source == constants.DEVICE_SOURCE_REPORTED:
                try:
                    self._registry.get(device['device_type']).validate(
                        described['service_type'],
                        json.loads(described['physical_info']))
                except device_types.InvalidDevice as exc:
                    LOG.warning('Agent %s on %s reported device %r, '
                                'ignored: %s', state['agent_type'],
                                state['host'], device['name'], exc)
                    continue
            valid[name] = (device, described)
        links = devices_db.links_of_agent(connection, agent_id)
        touched = set()
        for name, (device, described) in valid.items():
            row = existing.get(name)
            if row is None:
                row = self._create(connection, name, device, described, now,
                                   agent_id, state['host'])
            elif row.id not in links and not (
                    row.source == constants.DEVICE_SOURCE_REPORTED and
                    row.reported_by == state['host']):
                if row.source in constants.ASSIGNED_SOURCES and \
                        row.device_type in remote_types:
                    # A manager reporting a device assigned to it until
                    # its last sync (reassigned while it was away): it
                    # drops the device at its next sync.
                    LOG.info('Agent %s on %s reported device %s, no longer '
                             'assigned to it: ignored', state['agent_type'],
                             state['host'], name)
                    continue
                row = None
            if row is None:
                self._refuse(state, name)
                continue
            if row.source == constants.DEVICE_SOURCE_REPORTED:
                changed = {k: v for k, v in described.items()
                           if getattr(row, k) != v}
                if changed:
                    devices_db.update(connection, row.id,
                                      dict(changed, updated_at=now))
            self._link(connection, agent_id, row.id, links.get(row.id),
                       device, now)
            touched.add(row.id)
        for device_id, link in links.items():
            if device_id not in touched and not link.missing:
                devices_db.update_link(connection, agent_id, device_id,
                                       {'missing': True, 'updated_at': now})
                LOG.info('Agent %s on %s no longer reports device %s; '
                         'marked missing for it', state['agent_type'],
                         state['host'], device_id)
                touched.add(device_id)
        for device_id in touched:
            devices_service.update_health(connection, device_id)

    def _refuse(self, state, name):
        """A device that exists and is not this agent's: its description
        and its credentials stay with the agents linked to it."""
        with self._lock:
            self.refused += 1
        LOG.warning('Agent %s on %s reported device %r, which another agent '
                    'reported first or an admin created: refused (an admin '
                    'links an agent to a device to share it)',
                    state['agent_type'], state['host'], name)

    def _create(self, connection, name, device, described, now, agent_id,
                host):
        values = dict(described, id=str(uuid.uuid4()), name=name,
                      reported_by=host,
                      health=device.get('health', constants.HEALTH_UNKNOWN),
                      source=constants.DEVICE_SOURCE_REPORTED,
                      admin_state_up=True, used=0, revision_number=0,
                      created_at=now, updated_at=now)
        if connection.dialect.name == 'sqlite':
            # pysqlite begins a transaction only at the first write, so a
            # SAVEPOINT before it commits on release and survives a
            # rollback. One process owns a SQLite file: no server races it.
            devices_db.insert(connection, values)
        else:
            try:
                # A savepoint: two agents may report a new device of one
                # name at once; the first one's it is.
                with connection.begin_nested():
                    devices_db.insert(connection, values)
            except sa.exc.IntegrityError:
                return None
        LOG.info('Registered device %s (%s) reported by agent %s', name,
                 described['device_type'], agent_id)
        return devices_db.get(connection, values['id'])

    def _link(self, connection, agent_id, device_id, link, device, now):
        health = device.get('health', constants.HEALTH_UNKNOWN)
        load = device.get('load')
        load = int(load) if load is not None else None
        if link is None:
            devices_db.link(connection, agent_id, device_id, now, health,
                            load)
        elif link.missing or link.health != health or link.load != load:
            devices_db.update_link(connection, agent_id, device_id, {
                'missing': False, 'health': health, 'load': load,
                'updated_at': now})
