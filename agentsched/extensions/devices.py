"""The devices extension: the device inventory and each agent's device list.

Credentials are write-only: stored encrypted (services/secrets.py), never
returned; has_credentials says whether they are set. Updates are guarded by
revision_number, with Neutron's If-Match: revision_number=N (412 if stale).
"""

import re

import fastjsonschema
import flask
import orjson

from agentsched import constants
from agentsched import liveness
from agentsched.api import errors
from agentsched.api import extension
from agentsched.api import listing
from agentsched.api import request
from agentsched.api import times
from agentsched.extensions import devices_openapi
from agentsched.services import devices as devices_service

FIELDS = ('id', 'name', 'device_type', 'service_type', 'capabilities',
          'capacity', 'used', 'physical_info', 'has_credentials',
          'admin_state_up', 'health', 'availability_zone', 'source',
          'revision_number', 'created_at', 'updated_at')
# An agent's device list says how the agent came to manage each device:
# 'assigned' by the server (a manager of its type) or 'pinned' (an admin's
# link, or the agent's own report).
AGENT_DEVICE_FIELDS = FIELDS + ('assignment',)
_JSON_FIELDS = ('capabilities', 'physical_info')

_NAME = {'type': 'string', 'minLength': 1,
         'maxLength': constants.MAX_STRING_LENGTH,
         'pattern': devices_openapi.NAME_PATTERN}
_WRITABLE = {
    'name': _NAME,
    'capabilities': {'type': 'object'},
    # devices.capacity is a 32-bit integer column.
    'capacity': {'type': 'integer', 'minimum': 0,
                 'maximum': constants.MAX_DB_INTEGER},
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
            value = times.iso_time(getattr(row, field))
        else:
            value = getattr(row, field)
        device[field] = value
    return device


def _if_match():
    """The revision an If-Match: revision_number=N names, or None."""
    header = flask.request.headers.get('If-Match')
    if header is None:
        return None
    match = _IF_MATCH.match(header)
    if match is None:
        raise errors.BadRequest('If-Match must be revision_number=<integer>, '
                                'not %r' % header[:100])
    return int(match.group(1))


# -- /v2.0/devices ---------------------------------------------------------

def list_devices(agent_id=None):
    request.authorize('get_device')
    request.check_query(devices_service.FILTER_KEYS + listing.PAGING_PARAMS)
    conf = request.conf()
    known = FIELDS if agent_id is None else AGENT_DEVICE_FIELDS
    fields = listing.fields(known) or known
    filters = listing.filters(devices_service.FILTER_KEYS,
                              booleans=('admin_state_up',))
    sort = listing.sort(devices_service.SORT_KEYS)
    limit, reverse = listing.limit(conf), listing.reverse()
    rows = request.services().devices.list(
        filters, sort, limit, listing.marker_id(), reverse,
        agent_id=agent_id)
    return listing.respond('devices', [_device_dict(r, fields) for r in rows],
                           rows, limit, reverse)


def create_device():
    request.authorize('create_device')
    fields = request.json_body(_validate_create)['device']
    row = request.services().devices.create(fields)
    return request.respond({'device': _device_dict(row)}, status=201)


def show_device(device_id):
    request.authorize('get_device')
    request.check_query(('fields',))
    fields = listing.fields(FIELDS)
    row = request.services().devices.get(device_id)
    return request.respond({'device': _device_dict(row, fields)})


def update_device(device_id):
    request.authorize('update_device')
    changes = request.json_body(_validate_update)['device']
    row = request.services().devices.update(device_id, changes,
                                            expected_revision=_if_match())
    return request.respond({'device': _device_dict(row)})


def delete_device(device_id):
    request.authorize('delete_device')
    request.services().devices.delete(device_id)
    return request.no_content()


def list_device_agents(device_id):
    request.authorize('get_device')
    request.check_query(())
    rows = request.services().devices.agents(device_id)
    # One cutoff for every agent's alive.
    alive_since = liveness.alive_since(request.conf().agent_down_time)
    return request.respond({'agents': [{
        'id': row.id, 'agent_type': row.agent_type, 'host': row.host,
        'admin_state_up': row.admin_state_up,
        'alive': liveness.is_alive(row.heartbeat_timestamp, row.forced_down,
                                   alive_since),
        'device_missing': row.missing, 'device_health': row.link_health,
        'device_load': row.link_load,
        'assignment': constants.ASSIGNMENT_ASSIGNED if row.assigned
        else constants.ASSIGNMENT_PINNED} for row in rows]})


# -- /v2.0/agents/{id}/devices ---------------------------------------------

def list_agent_devices(agent_id):
    return list_devices(agent_id=agent_id)


def add_agent_device(agent_id):
    request.authorize('add_device_to_agent')
    body = request.json_body(_validate_add)
    row = request.services().devices.add_to_agent(
        agent_id, device_id=body.get('device_id'),
        new_device=body.get('device'))
    return request.respond({'device': _device_dict(row)}, status=201)


def remove_agent_device(agent_id, device_id):
    request.authorize('remove_device_from_agent')
    request.services().devices.remove_from_agent(agent_id, device_id)
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
