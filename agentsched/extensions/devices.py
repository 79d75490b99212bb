"""The devices extension: the device inventory and each agent's device list.

Credentials are write-only: stored encrypted (services/secrets.py), never
returned; has_credentials says whether they are set. Updates are guarded by
revision_number, with Neutron's If-Match: revision_number=N (412 if stale).

Owners (services/devices.py): an admin registers shared devices (no
project_id) or a project's private ones (project_id); a project member
registers its own project's. A caller that is not an admin sees and
changes its own project's devices only: a shared device or another
project's is a 404, as a missing one. Which agents reach a device, and
linking one to an agent, stay the admin's.
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
          'project_id', 'tenant_id', 'revision_number', 'created_at',
          'updated_at')
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
# The owner, as given; null: a shared device (an admin's).
_PROJECT = {'type': ['string', 'null'], 'minLength': 1,
            'maxLength': constants.MAX_STRING_LENGTH,
            'pattern': devices_openapi.PROJECT_PATTERN}
_OWNER_KEYS = ('project_id', 'tenant_id')
DEVICE_CREATE = {
    'type': 'object', 'additionalProperties': False,
    'required': ['name', 'device_type'],
    'properties': dict(_WRITABLE, device_type=_NAME,
                       service_type={'enum': list(constants.SERVICE_TYPES)},
                       project_id=_PROJECT, tenant_id=_PROJECT),
}
# The owner keys are accepted to be refused by name: an owner never changes.
DEVICE_UPDATE = {'type': 'object', 'additionalProperties': False,
                 'properties': dict(_WRITABLE, project_id={}, tenant_id={})}
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
        elif field == 'tenant_id':
            value = row.project_id
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


def _owner(device):
    """The owner of a device to register, taken out of its fields:
    project_id (or tenant_id) as given, null for a shared device; neither:
    the caller's project, or shared for an admin. Only an admin registers
    a shared device."""
    given = [device.pop(key) for key in _OWNER_KEYS if key in device]
    if len(set(given)) > 1:
        raise errors.BadRequest('project_id and tenant_id differ')
    admin = request.is_admin()
    if given:
        owner = given[0]
    elif admin:
        owner = None
    else:
        owner = request.context().project_id
        if not owner:
            raise errors.Forbidden('A token scoped to a project is needed to '
                                   'register a device')
    if owner is None and not admin:
        raise errors.Forbidden('rule:create_device is disallowed by policy: '
                               'a shared device (project_id null) is an '
                               'admin\'s')
    return owner


def _visible(device_id):
    """(the device's row, if the caller may see it: its project's, or an
    admin; the target of the policy check, the caller's project: None for
    an admin)."""
    tenant = request.visible_project()
    return request.services().devices.get(device_id, tenant), tenant


# -- /v2.0/devices ---------------------------------------------------------

def list_devices(agent_id=None):
    request.authorize('get_device' if agent_id is None
                      else 'get_agent_devices')
    filter_names = devices_service.FILTER_KEYS + ('tenant_id',)
    request.check_query(filter_names + listing.PAGING_PARAMS)
    conf = request.conf()
    known = FIELDS if agent_id is None else AGENT_DEVICE_FIELDS
    fields = listing.fields(known) or known
    filters = listing.filters(filter_names, booleans=('admin_state_up',))
    if 'tenant_id' in filters:
        filters['project_id'] = filters.get('project_id', []) + \
            filters.pop('tenant_id')
    sort = listing.sort(devices_service.SORT_KEYS)
    limit, reverse = listing.limit(conf), listing.reverse()
    rows = request.services().devices.list(
        filters, sort, limit, listing.marker_id(), reverse,
        agent_id=agent_id, tenant=request.visible_project())
    return listing.respond('devices', [_device_dict(r, fields) for r in rows],
                           rows, limit, reverse)


def create_device():
    fields = dict(request.json_body(_validate_create)['device'])
    owner = _owner(fields)
    request.authorize('create_device', {'project_id': owner})
    row = request.services().devices.create(
        dict(fields, project_id=owner), tenant=request.visible_project())
    return request.respond({'device': _device_dict(row)}, status=201)


def show_device(device_id):
    request.check_query(('fields',))
    fields = listing.fields(FIELDS)
    row, _ = _visible(device_id)
    request.authorize('get_device', {'project_id': row.project_id})
    return request.respond({'device': _device_dict(row, fields)})


def update_device(device_id):
    changes = request.json_body(_validate_update)['device']
    row, tenant = _visible(device_id)
    request.authorize('update_device', {'project_id': row.project_id})
    fixed = [key for key in _OWNER_KEYS if key in changes]
    if fixed:
        raise errors.BadRequest('%s of a device cannot be updated: its '
                                'owner never changes' % fixed[0])
    row = request.services().devices.update(
        device_id, changes, expected_revision=_if_match(), tenant=tenant)
    return request.respond({'device': _device_dict(row)})


def delete_device(device_id):
    row, tenant = _visible(device_id)
    request.authorize('delete_device', {'project_id': row.project_id})
    request.services().devices.delete(device_id, tenant=tenant)
    return request.no_content()


def list_device_agents(device_id):
    request.authorize('get_device_agents')
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
    new_device = body.get('device')
    if new_device is not None:
        new_device = dict(new_device)
        new_device['project_id'] = _owner(new_device)
    row = request.services().devices.add_to_agent(
        agent_id, device_id=body.get('device_id'), new_device=new_device)
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
                'credentials, shared or private to a project, and the '
                'devices each agent reaches.',
    updated='2026-11-30T12:00:00-00:00', routes=ROUTES,
    openapi=devices_openapi.OPENAPI)
