"""The device inventory as admins and projects manage it, and the devices
each agent reaches.

A device's type (services/device_types) checks its physical info and
credentials. Credentials are write-only: stored encrypted
(services/secrets.py), never read back here. Names are unique. An update may
name the revision its caller knew (Neutron's If-Match), refused if stale.
Each method is one transaction; the agents a change concerns are told
(devices_updated) after the commit, and sync to learn what changed.

Owners: a device is shared (project_id None: the provider's, anyone's
resources go there) or private to one project (only its resources go
there; services/placement.py). A project registers its own appliances:
the methods take tenant, the project of a caller that is not an admin,
which sees and changes only its own devices (another's is NotFound, as a
missing one) and may not set the physical_info fields that name things on
the agent's host (DeviceType.host_fields). A project has at most [quota]
private_devices_per_project private devices, counted in the create's
transaction under the project's lock (db/devices.py owner_transaction).
An owner is set at creation and never changes. Linking a private device
to an agent stays an admin's (add_to_agent).
"""

import contextlib
import json
import uuid

from agentsched import constants
from agentsched import exceptions
from agentsched import liveness
from agentsched import notifications
from agentsched.db import devices as devices_db
from agentsched.services import agents as agents_service
from agentsched.services import device_types
from agentsched.services import paging
from agentsched.services import secrets

# What a list may filter and sort by.
FILTER_KEYS = devices_db.FILTER_COLUMNS
SORT_KEYS = tuple(devices_db.SORT_COLUMNS)
_JSON_COLUMNS = ('capabilities', 'physical_info')


def _dump(document):
    return json.dumps(document, sort_keys=True)


def _existing(connection, device_id, tenant=None):
    """The device's row; NotFound if there is none, or (tenant: a project)
    if it is not that project's: the same refusal for both."""
    row = devices_db.get(connection, device_id)
    if row is None or (tenant is not None and row.project_id != tenant):
        raise exceptions.NotFound('Device %s could not be found.' % device_id,
                                  code='DeviceNotFound')
    return row


def _name_in_use(name):
    return exceptions.Conflict('A device named %s already exists' % name,
                               code='DeviceNameInUse')


def _over_quota(project_id, limit):
    # Neutron's words and type for a quota refusal.
    return exceptions.Conflict(
        "Quota exceeded for resources: ['private_device']. Project %s has "
        "reached its limit of %d private devices ([quota] "
        "private_devices_per_project)." % (project_id, limit),
        code='OverQuota')


def _stale(expected, current):
    return exceptions.StaleRevision(
        'Constrained to %d, but current revision is %d' % (expected, current),
        code='RevisionNumberConstraintFailed')


# The best health any live link reports is the device's health: a device one
# agent still reaches is not down.
_HEALTH_RANK = {constants.HEALTH_OK: 3, constants.HEALTH_DEGRADED: 2,
                constants.HEALTH_DOWN: 1, constants.HEALTH_UNKNOWN: 0}


def update_health(connection, device_id):
    """Store a device's health: the best one its links (not missing)
    report. The one home of that rule: heartbeats (reports/device_sync.py)
    and an admin's link use it."""
    healths = [row.link_health for row in
               devices_db.agents_of_device(connection, device_id)
               if not row.missing and row.link_health]
    best = max(healths, key=_HEALTH_RANK.get,
               default=constants.HEALTH_UNKNOWN)
    devices_db.set_health(connection, device_id, best)


def _last_report(agent, device_name):
    """What an agent's last heartbeat said of a device (a dict with health
    and load), or None if it did not list it."""
    try:
        configurations = json.loads(agent.configurations or '{}')
    except ValueError:
        return None
    for device in (configurations or {}).get('devices') or ():
        if isinstance(device, dict) and device.get('name') == device_name:
            return device
    return None


def _reaching(connection, device_id):
    """The agents that reach a device now (their link not missing, or
    assigned and not yet picked up): those told of a change to it."""
    return [row for row in devices_db.agents_of_device(connection, device_id)
            if not row.missing or row.assigned]


class DeviceService:

    def __init__(self, engine, conf, notifier, secret_box, registry=None,
                 assignment=None):
        """assignment: services/device_assignment.py, which assigns a
        device registered without agents to manager agents (None: it stays
        unlinked until an admin links it)."""
        self._engine = engine
        self._conf = conf
        self._notifier = notifier
        self._secrets = secret_box
        self.types = registry or device_types.Registry()
        self._assignment = assignment

    # -- reading ---------------------------------------------------------

    def get(self, device_id, tenant=None):
        """The device as shown; tenant: NotFound unless it is that
        project's."""
        with self._engine.connect() as connection:
            _existing(connection, device_id, tenant)
            return self._shown(connection, device_id)

    def list(self, filters=None, sort=(('id', True),), limit=None,
             marker_id=None, reverse=False, agent_id=None, tenant=None):
        """Devices matching filters, a page after marker_id; agent_id: that
        agent's only (NotFound if there is no such agent); tenant: that
        project's only (its marker too)."""
        with self._engine.connect() as connection:
            if agent_id is not None:
                agents_service.existing_agent(connection, agent_id)
            alive_since = self._alive_since()

            def marker(connection, device_id):
                row = devices_db.shown(connection, device_id, alive_since)
                if row is not None and tenant is not None and \
                        row.project_id != tenant:
                    return None
                return row
            return devices_db.query(
                connection, alive_since, filters, sort, limit,
                paging.marker_row(connection, marker, marker_id, 'a device'),
                reverse, agent_id=agent_id, visible_to=tenant)

    def agents(self, device_id):
        """The agents that list a device, by host, each with its link's
        missing, link_health and link_load."""
        with self._engine.connect() as connection:
            _existing(connection, device_id)
            return devices_db.agents_of_device(connection, device_id)

    # -- the inventory ---------------------------------------------------

    def create(self, fields, tenant=None):
        """A new device from an admin's or a project's fields; its row.
        fields' project_id: its owner (None or absent: shared); tenant: the
        project of a caller that is not an admin (the owner; Invalid for
        the provider's physical_info fields). Conflict (OverQuota) past the
        owner's quota. Assigned to manager agents of its type, told after
        the commit."""
        values = self._new_values(fields, tenant)
        with self._owned(values['project_id']) as connection:
            row = self._insert(connection, values)
            managers = self._assign(connection, row)
            row = self._shown(connection, row.id)
        notifications.emit('device.create.end',
                           notifications.device_payload(row))
        self._tell(managers)
        return row

    def update(self, device_id, changes, expected_revision=None,
               tenant=None):
        """Apply changes and return the row; expected_revision: the revision
        the caller knew (StaleRevision if the device changed since);
        tenant: that project's device only (NotFound otherwise), and the
        provider's physical_info fields it may not set are kept as
        stored."""
        with self._engine.begin() as connection:
            row = _existing(connection, device_id, tenant)
            if expected_revision is not None and \
                    expected_revision != row.revision_number:
                raise _stale(expected_revision, row.revision_number)
            if tenant is not None and 'physical_info' in changes:
                changes = dict(changes, physical_info=self._tenants_info(
                    row.device_type, changes['physical_info'],
                    json.loads(row.physical_info)))
            self._checked(row.device_type, row.service_type,
                          changes.get('physical_info',
                                      json.loads(row.physical_info)),
                          changes.get('credentials'))
            values = dict(changes, updated_at=liveness.utcnow())
            for key in _JSON_COLUMNS:
                if key in changes:
                    values[key] = _dump(changes[key])
            if 'credentials' in changes:
                values['credentials'] = self._encrypted(
                    changes['credentials'])
            try:
                devices_db.update(connection, device_id, values,
                                  if_revision=row.revision_number)
            except devices_db.RevisionMismatch:
                # Changed by another writer since it was read above.
                current = devices_db.get(connection, device_id)
                raise _stale(row.revision_number, current.revision_number)
            except devices_db.NameInUse:
                raise _name_in_use(changes.get('name'))
            row = self._shown(connection, device_id)
            agents = _reaching(connection, device_id)
        self._tell(agents)
        notifications.emit('device.update.end',
                           notifications.device_payload(row))
        return row

    def delete(self, device_id, tenant=None):
        """Conflict (DeviceInUse) while resources are bound to it; tenant:
        that project's device only (NotFound otherwise)."""
        with self._engine.begin() as connection:
            _existing(connection, device_id, tenant)
            bound = devices_db.bound_resource_count(connection, device_id)
            if bound:
                raise exceptions.Conflict(
                    'Device %s hosts %d resource(s); move or delete them '
                    'first' % (device_id, bound), code='DeviceInUse')
            agents = _reaching(connection, device_id)
            devices_db.delete(connection, device_id)
        self._tell(agents)
        notifications.emit('device.delete.end', {'device_id': device_id})

    # -- the devices of an agent -----------------------------------------

    def add_to_agent(self, agent_id, device_id=None, new_device=None):
        """Link an existing device (device_id) or a new one (new_device: an
        admin's fields, a project's private device with project_id) to an
        agent; the device's row."""
        values = owner = None
        if new_device is not None:
            values = self._new_values(new_device)
            owner = values['project_id']
        with self._owned(owner) as connection:
            agent = agents_service.existing_agent(connection, agent_id)
            if values is not None:
                row = self._insert(connection, values)
            else:
                row = _existing(connection, device_id)
            links = devices_db.links_of_agent(connection, agent_id)
            if row.id in links and not links[row.id].missing and \
                    not links[row.id].assigned:
                raise exceptions.Conflict(
                    'Device %s is already on agent %s' % (row.id, agent_id),
                    code='DeviceAlreadyOnAgent')
            if row.id in links:
                # The agent stopped reporting it: an admin says it is back.
                # Or the server assigned it: now pinned, never undone.
                devices_db.update_link(connection, agent_id, row.id,
                                       {'missing': False, 'assigned': False})
            else:
                devices_db.link(connection, agent_id, row.id,
                                liveness.utcnow())
            reported = _last_report(agent, row.name)
            if reported is not None:
                # The agent reported this device before the link: that
                # report was refused, and the server reconciles devices only
                # when an agent's document changes, so an unchanged one
                # would leave the device UNKNOWN (unplaceable) for good.
                # Its last word counts from the link on.
                load = reported.get('load')
                devices_db.update_link(connection, agent_id, row.id, {
                    'health': reported.get('health',
                                           constants.HEALTH_UNKNOWN),
                    'load': int(load) if load is not None else None})
                update_health(connection, row.id)
            # A new device: managers beside the pinned agent.
            managers = (self._assign(connection, row)
                        if new_device is not None else [])
            row = self._shown(connection, row.id)
        self._tell([agent] + managers)
        return row

    def remove_from_agent(self, agent_id, device_id):
        """Unlink a device from an agent; Conflict (DeviceInUse) if
        resources are bound to it and no other live, admin-up agent reaches
        it: they would be left without an agent."""
        with self._engine.begin() as connection:
            agent = agents_service.existing_agent(connection, agent_id)
            device = _existing(connection, device_id)
            if device_id not in devices_db.links_of_agent(connection,
                                                          agent_id):
                raise exceptions.NotFound(
                    'Device %s is not on agent %s' % (device_id, agent_id),
                    code='DeviceNotOnAgent')
            bound = devices_db.bound_resource_count(connection, device_id)
            others = devices_db.live_agents_of_device(
                connection, device_id,
                liveness.alive_since(self._conf.agent_down_time),
                except_agent=agent_id)
            if bound and not others:
                raise exceptions.Conflict(
                    'Device %s hosts %d resource(s) and no other alive, '
                    'admin-up agent reaches it: they would be left without '
                    'an agent' % (device_id, bound), code='DeviceInUse')
            devices_db.unlink(connection, agent_id, device_id)
            # Another manager in its place, never the one just unlinked.
            managers = self._assign(connection, device, exclude=[agent_id])
        self._tell([agent] + managers)

    # -- helpers ---------------------------------------------------------

    def _checked(self, device_type, service_type, physical_info,
                 credentials):
        """The service type (None: the device type's first), once the
        device type accepts the fields; Invalid if it refuses them."""
        try:
            kind = self.types.get(device_type)
            service_type = service_type or kind.service_types[0]
            kind.validate(service_type, physical_info, credentials)
        except device_types.InvalidDevice as exc:
            raise exceptions.Invalid(str(exc))
        return service_type

    def _encrypted(self, credentials):
        """The stored form of credentials; None for none."""
        if not credentials:
            return None
        try:
            return self._secrets.encrypt(credentials)
        except secrets.NoEncryptionKey as exc:
            raise exceptions.Conflict(str(exc), code='NoEncryptionKey')

    def _tenants_info(self, device_type, physical_info, stored=None):
        """A project's physical_info, with the provider's host fields as
        stored (none on a create); Invalid if it sets one of them."""
        try:
            host_fields = self.types.get(device_type).host_fields
        except device_types.InvalidDevice as exc:
            raise exceptions.Invalid(str(exc))
        given = sorted(set(host_fields) & set(physical_info))
        if given:
            raise exceptions.Invalid(
                'physical_info.%s names a place on the agent\'s host: the '
                'provider\'s to set, not a project\'s' % given[0])
        kept = {key: value for key, value in (stored or {}).items()
                if key in host_fields}
        return dict(physical_info, **kept)

    def _new_values(self, fields, tenant=None):
        physical_info = fields.get('physical_info', {})
        if tenant is not None:
            physical_info = self._tenants_info(fields['device_type'],
                                               physical_info)
        service_type = self._checked(
            fields['device_type'], fields.get('service_type'),
            physical_info, fields.get('credentials'))
        now = liveness.utcnow()
        return {
            'id': str(uuid.uuid4()), 'name': fields['name'],
            'device_type': fields['device_type'],
            'service_type': service_type,
            'capabilities': _dump(fields.get('capabilities', {})),
            'capacity': fields.get('capacity', 0), 'used': 0,
            'physical_info': _dump(physical_info),
            'credentials': self._encrypted(fields.get('credentials')),
            'admin_state_up': fields.get('admin_state_up', True),
            'health': constants.HEALTH_UNKNOWN,
            'availability_zone': fields.get('availability_zone'),
            'source': (constants.DEVICE_SOURCE_ADMIN if tenant is None
                       else constants.DEVICE_SOURCE_PROJECT),
            'project_id': fields.get('project_id'),
            'revision_number': 0, 'created_at': now, 'updated_at': now,
        }

    def _quota(self, project_id):
        """The most private devices project_id may have; None: no limit
        (a shared device, or -1)."""
        limit = self._conf.quota.private_devices_per_project
        if project_id is None or limit < 0:
            return None
        return limit

    @contextlib.contextmanager
    def _owned(self, project_id):
        """The transaction of a create: under the owner's lock for a
        private device, so that its quota holds against racing creates."""
        try:
            with devices_db.owner_transaction(self._engine,
                                              project_id) as connection:
                yield connection
        except devices_db.OwnerBusy:
            raise exceptions.Conflict(
                'Another request is registering a device of project %s; '
                'try again' % project_id, code='OwnerBusy') from None

    def _insert(self, connection, values):
        limit = self._quota(values['project_id'])
        try:
            devices_db.insert_named(connection, values, limit)
        except devices_db.NameInUse:
            raise _name_in_use(values['name'])
        except devices_db.OverQuota:
            raise _over_quota(values['project_id'], limit)
        return devices_db.get(connection, values['id'])

    def _assign(self, connection, row, exclude=()):
        """Manager agents for an admin's device (services/
        device_assignment.py), to tell after the commit."""
        if self._assignment is None:
            return []
        return self._assignment.assign(connection, row, exclude)

    def _alive_since(self):
        return liveness.alive_since(self._conf.agent_down_time)

    def _shown(self, connection, device_id):
        """The device as the API shows it: UNKNOWN health without a live
        agent (db/devices.py, shown)."""
        return devices_db.shown(connection, device_id, self._alive_since())

    def _tell(self, agents):
        for agent in agents:
            self._notifier.devices_updated(agent)
