"""The devices extension: the device inventory and each agent's device list.

Credentials are write-only: stored encrypted (services/secrets.py), never
returned; has_credentials says whether they are set. Updates are guarded by
revision_number, with Neutron's If-Match: revision_number=N (412 if stale).
"""

import json
import re
import uuid

import fastjsonschema
import flask
import orjson
import sqlalchemy as sa

from agentsched import constants
from agentsched import liveness
from agentsched.api import errors
from agentsched.api import extension
from agentsched.api import listing
from agentsched.api import request
from agentsched.db import agents as agents_db
from agentsched.db import devices as devices_db
from agentsched.extensions import devices_openapi
from agentsched.services import device_types
from agentsched.services import secrets

FIELDS = ('id', 'name', 'device_type', 'service_type', 'capabilities',
          'capacity', 'used', 'physical_info', 'has_credentials',
          'admin_state_up', 'health', 'availability_zone', 'source',
          'revision_number', 'created_at', 'updated_at')
_JSON_FIELDS = ('capabilities', 'physical_info')
_TIME_FORMAT = '%Y-%m-%dT%H:%M:%SZ'

_NAME = {'type': 'string', 'minLength': 1,
         'maxLength': constants.MAX_STRING_LENGTH}
_WRITABLE = {
    'name': _NAME,
    'capabilities': {'type': 'object'},
    'capacity': {'type': 'integer', 'minimum': 0},
    'physical_info': {'type': 'object'},
    'credentials': {'type': 'object'},
    'admin_state_up': {'type': 'boolean'},
    'availability_zone': {'type': ['string', 'null'],
                          'maxLength': constants.MAX_STRING_LENGTH},
}
DEVICE_CREATE = {
    'type': 'object', 'additionalProperties': False,
    'required': ['name', 'device_type'],
    'properties': dict(_WRITABLE, device_type=_NAME,
                       service_type={'enum': list(constants.SERVICE_TYPES)}),
}
DEVICE_UPDATE = {'type': 'object', 'additionalProperties': False,
                 'properties': _WRITABLE}
_validate_create = fastjsonschema.compile({
    'type': 'object', 'required': ['device'], 'additionalProperties': False,
    'properties': {'device': DEVICE_CREATE}})
_validate_update = fastjsonschema.compile({
    'type': 'object', 'required': ['device'], 'additionalProperties': False,
    'properties': {'device': DEVICE_UPDATE}})
_validate_add = fastjsonschema.compile({
    'type': 'object', 'additionalProperties': False,
    'minProperties': 1, 'maxProperties': 1,
    'properties': {'device_id': _NAME, 'device': DEVICE_CREATE}})

_IF_MATCH = re.compile(r'^\s*revision_number=(\d+)\s*$')


def _device_dict(row, fields=None):
    device = {}
    for field in fields or FIELDS:
        if field in _JSON_FIELDS:
            value = orjson.Fragment(getattr(row, field))
        elif field == 'has_credentials':
            value = row.credentials is not None
        elif field in ('created_at', 'updated_at'):
            value = getattr(row, field)
            value = value.strftime(_TIME_FORMAT) if value else None
        else:
            value = getattr(row, field)
        device[field] = value
    return device


def _registry():
    return flask.current_app.config.setdefault(
        'device_types', device_types.Registry())


def _secrets():
    return flask.current_app.config['secrets']


def _not_found(device_id):
    return errors.NotFound('Device %s could not be found.' % device_id,
                           'DeviceNotFound')


def _get_or_404(connection, device_id):
    row = devices_db.get(connection, device_id)
    if row is None:
        raise _not_found(device_id)
    return row


def _agent_or_404(connection, agent_id):
    row = agents_db.get(connection, agent_id)
    if row is None:
        raise errors.NotFound('Agent %s could not be found.' % agent_id,
                              'AgentNotFound')
    return row


def _validate(device_type, service_type, physical_info, credentials):
    try:
        _registry().get(device_type).validate(service_type, physical_info,
                                              credentials)
    except device_types.InvalidDevice as exc:
        raise errors.BadRequest(str(exc))


def _encrypt(credentials):
    try:
        return _secrets().encrypt(credentials)
    except secrets.NoEncryptionKey as exc:
        raise errors.Conflict(str(exc), 'NoEncryptionKey')


def _new_device_values(body):
    device_type = body['device_type']
    try:
        kind = _registry().get(device_type)
    except device_types.UnknownDeviceType as exc:
        raise errors.BadRequest(str(exc))
    service_type = body.get('service_type') or kind.service_types[0]
    physical_info = body.get('physical_info', {})
    credentials = body.get('credentials')
    _validate(device_type, service_type, physical_info, credentials)
    now = liveness.utcnow()
    return {
        'id': str(uuid.uuid4()), 'name': body['name'],
        'device_type': device_type, 'service_type': service_type,
        'capabilities': json.dumps(body.get('capabilities', {}),
                                   sort_keys=True),
        'capacity': body.get('capacity', 0), 'used': 0,
        'physical_info': json.dumps(physical_info, sort_keys=True),
        'credentials': _encrypt(credentials) if credentials else None,
        'admin_state_up': body.get('admin_state_up', True),
        'health': constants.HEALTH_UNKNOWN,
        'availability_zone': body.get('availability_zone'),
        'source': constants.DEVICE_SOURCE_ADMIN, 'revision_number': 0,
        'created_at': now, 'updated_at': now,
    }


def _insert(connection, values):
    try:
        with connection.begin_nested():
            devices_db.insert(connection, values)
    except sa.exc.IntegrityError:
        raise errors.Conflict('A device named %s already exists' %
                              values['name'], 'DeviceNameInUse')
    return devices_db.get(connection, values['id'])


def _notify(agents):
    notifier = flask.current_app.config['notifier']
    if notifier is not None:
        for agent in agents:
            notifier.devices_updated(agent)


def _linked_agents(connection, device_id):
    return [row for row in devices_db.agents_of_device(connection, device_id)
            if not row.missing]


# -- /v2.0/devices ---------------------------------------------------------

def list_devices(agent_id=None):
    request.authorize('get_device')
    request.check_query(devices_db.FILTER_COLUMNS + listing.PAGING_PARAMS)
    conf = request.conf()
    fields = listing.fields(FIELDS)
    filters = listing.filters(devices_db.FILTER_COLUMNS,
                              booleans=('admin_state_up',))
    sort = listing.sort(devices_db.SORT_COLUMNS)
    limit, reverse = listing.limit(conf), listing.reverse()
    with request.engine().connect() as connection:
        if agent_id is not None:
            _agent_or_404(connection, agent_id)
        marker = listing.marker(connection, devices_db.get, 'a device')
        rows = devices_db.query(connection, filters, sort, limit, marker,
                                reverse, agent_id=agent_id)
    return listing.respond('devices', [_device_dict(r, fields) for r in rows],
                           rows, limit, reverse)


def create_device():
    request.authorize('create_device')
    body = request.json_body(_validate_create)['device']
    with request.engine().begin() as connection:
        row = _insert(connection, _new_device_values(body))
    return request.respond({'device': _device_dict(row)}, status=201)


def show_device(device_id):
    request.authorize('get_device')
    request.check_query(('fields',))
    fields = listing.fields(FIELDS)
    with request.engine().connect() as connection:
        row = _get_or_404(connection, device_id)
    return request.respond({'device': _device_dict(row, fields)})


def _if_match():
    header = flask.request.headers.get('If-Match')
    if header is None:
        return None
    match = _IF_MATCH.match(header)
    if match is None:
        raise errors.BadRequest('If-Match must be revision_number=<integer>, '
                                'not %r' % header[:100])
    return int(match.group(1))


def update_device(device_id):
    request.authorize('update_device')
    changes = request.json_body(_validate_update)['device']
    expected = _if_match()
    with request.engine().begin() as connection:
        row = _get_or_404(connection, device_id)
        if expected is not None and expected != row.revision_number:
            raise _stale(expected, row.revision_number)
        physical_info = changes.get('physical_info',
                                    json.loads(row.physical_info))
        credentials = changes.get('credentials')
        _validate(row.device_type, row.service_type, physical_info,
                  credentials)
        values = {key: value for key, value in changes.items()
                  if key not in ('capabilities', 'physical_info',
                                 'credentials')}
        for key in ('capabilities', 'physical_info'):
            if key in changes:
                values[key] = json.dumps(changes[key], sort_keys=True)
        if 'credentials' in changes:
            values['credentials'] = (_encrypt(credentials) if credentials
                                     else None)
        values['updated_at'] = liveness.utcnow()
        try:
            devices_db.update(connection, device_id, values,
                              if_revision=row.revision_number)
        except devices_db.RevisionMismatch:
            current = devices_db.get(connection, device_id)
            raise _stale(row.revision_number, current.revision_number)
        except sa.exc.IntegrityError:
            raise errors.Conflict('A device named %s already exists' %
                                  changes.get('name'), 'DeviceNameInUse')
        row = devices_db.get(connection, device_id)
        agents = _linked_agents(connection, device_id)
    _notify(agents)
    return request.respond({'device': _device_dict(row)})


def _stale(expected, current):
    return errors.PreconditionFailed(
        'Constrained to %d, but current revision is %d' % (expected, current),
        'RevisionNumberConstraintFailed')


def delete_device(device_id):
    request.authorize('delete_device')
    with request.engine().begin() as connection:
        _get_or_404(connection, device_id)
        bound = devices_db.bound_resource_count(connection, device_id)
        if bound:
            raise errors.Conflict(
                'Device %s hosts %d resource(s); move or delete them first'
                % (device_id, bound), 'DeviceInUse')
        agents = _linked_agents(connection, device_id)
        devices_db.delete(connection, device_id)
    _notify(agents)
    return request.no_content()


def list_device_agents(device_id):
    request.authorize('get_device')
    request.check_query(())
    conf = request.conf()
    now = liveness.utcnow()
    with request.engine().connect() as connection:
        _get_or_404(connection, device_id)
        rows = devices_db.agents_of_device(connection, device_id)
    agents = []
    for row in rows:
        agents.append({
            'id': row.id, 'agent_type': row.agent_type, 'host': row.host,
            'admin_state_up': row.admin_state_up,
            'alive': liveness.agent_is_alive(row, conf.agent_down_time,
                                             now),
            'device_missing': row.missing, 'device_health': row.link_health,
            'device_load': row.link_load})
    return request.respond({'agents': agents})


# -- /v2.0/agents/{id}/devices ---------------------------------------------

def list_agent_devices(agent_id):
    return list_devices(agent_id=agent_id)


def add_agent_device(agent_id):
    request.authorize('add_device_to_agent')
    body = request.json_body(_validate_add)
    with request.engine().begin() as connection:
        agent = _agent_or_404(connection, agent_id)
        if 'device' in body:
            row = _insert(connection, _new_device_values(body['device']))
        else:
            row = _get_or_404(connection, body['device_id'])
        links = devices_db.links_of_agent(connection, agent_id)
        if row.id in links and not links[row.id].missing:
            raise errors.Conflict('Device %s is already on agent %s' % (
                row.id, agent_id), 'DeviceAlreadyOnAgent')
        if row.id in links:
            devices_db.update_link(connection, agent_id, row.id,
                                   {'missing': False})
        else:
            devices_db.link(connection, agent_id, row.id, liveness.utcnow())
    _notify([agent])
    return request.respond({'device': _device_dict(row)}, status=201)


def remove_agent_device(agent_id, device_id):
    request.authorize('remove_device_from_agent')
    conf = request.conf()
    with request.engine().begin() as connection:
        agent = _agent_or_404(connection, agent_id)
        _get_or_404(connection, device_id)
        if device_id not in devices_db.links_of_agent(connection, agent_id):
            raise errors.NotFound('Device %s is not on agent %s' % (
                device_id, agent_id), 'DeviceNotOnAgent')
        bound = devices_db.bound_resource_count(connection, device_id)
        others = devices_db.live_agents_of_device(
            connection, device_id, liveness.alive_since(
                conf.agent_down_time), except_agent=agent_id)
        if bound and not others:
            raise errors.Conflict(
                'Device %s hosts %d resource(s) and no other alive, '
                'admin-up agent reaches it: they would be left without an '
                'agent' % (device_id, bound), 'DeviceInUse')
        devices_db.unlink(connection, agent_id, device_id)
    _notify([agent])
    return request.no_content()


ROUTES = {
    '/v2.0/devices': {'GET': list_devices, 'POST': create_device},
    '/v2.0/devices/<device_id>': {'GET': show_device, 'PUT': update_device,
                                  'DELETE': delete_device},
    '/v2.0/devices/<device_id>/agents': {'GET': list_device_agents},
    '/v2.0/agents/<agent_id>/devices': {'GET': list_agent_devices,
                                        'POST': add_agent_device},
    '/v2.0/agents/<agent_id>/devices/<device_id>': {
        'DELETE': remove_agent_device},
}

EXTENSION = extension.Extension(
    alias='agent-devices', name='Agent devices',
    description='The device inventory: appliances with their type, '
                'capabilities, capacity, physical info and write-only '
                'credentials, and the devices each agent reaches.',
    updated='2026-11-22T12:00:00-00:00', routes=ROUTES,
    openapi=devices_openapi.OPENAPI)
