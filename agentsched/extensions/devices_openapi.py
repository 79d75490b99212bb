"""OpenAPI description of the devices extension's routes."""

from agentsched import constants
from agentsched.api import openapi

_STRING = {'type': 'string'}
_NULLABLE_STRING = {'type': 'string', 'nullable': True}
_TIME = {'type': 'string', 'nullable': True}

DEVICE = {
    'type': 'object',
    'additionalProperties': False,
    'properties': {
        'id': _STRING, 'name': _STRING, 'device_type': _STRING,
        'service_type': {'type': 'string', 'enum': ['LOADBALANCER', 'VPN']},
        'capabilities': {'type': 'object'},
        'capacity': {'type': 'integer'}, 'used': {'type': 'integer'},
        'physical_info': {'type': 'object'},
        'has_credentials': {'type': 'boolean'},
        'admin_state_up': {'type': 'boolean'},
        'health': {'type': 'string',
                   'enum': ['OK', 'DEGRADED', 'DOWN', 'UNKNOWN']},
        'availability_zone': _NULLABLE_STRING,
        'source': {'type': 'string',
                   'enum': list(constants.DEVICE_SOURCES)},
        # The owner: null for a shared device (the provider's), a project
        # for its private device; tenant_id says the same, as in Neutron.
        'project_id': _NULLABLE_STRING, 'tenant_id': _NULLABLE_STRING,
        'revision_number': {'type': 'integer'},
        'created_at': _TIME, 'updated_at': _TIME,
    },
}

# In an agent's device list: how the agent came to manage the device.
AGENT_DEVICE = dict(DEVICE, properties=dict(DEVICE['properties'], assignment={
    'type': 'string', 'enum': [constants.ASSIGNMENT_ASSIGNED,
                               constants.ASSIGNMENT_PINNED]}))

# The handlers validate with this pattern (constants: the bus's too).
NAME_PATTERN = constants.DEVICE_NAME_PATTERN
# A device's owner, as a token names its project: no white space, no
# control characters (null: a shared device, an admin's).
PROJECT_PATTERN = '^[^\\s\\x00-\\x1f\\x7f-\\x9f]+' + openapi.END_OF_TEXT
PROJECT = {'type': 'string', 'minLength': 1, 'maxLength': 255,
           'pattern': PROJECT_PATTERN, 'nullable': True}
_WRITABLE = {
    'name': {'type': 'string', 'minLength': 1, 'maxLength': 255,
             'pattern': NAME_PATTERN},
    'capabilities': {'type': 'object'},
    'capacity': {'type': 'integer', 'minimum': 0,
                 'maximum': constants.MAX_DB_INTEGER},
    'physical_info': {'type': 'object'},
    'credentials': {'type': 'object', 'writeOnly': True},
    'admin_state_up': {'type': 'boolean'},
    'availability_zone': {'type': 'string', 'maxLength': 255,
                          'nullable': True},
}
_CREATE = {'type': 'object', 'additionalProperties': False,
           'required': ['name', 'device_type'],
           'properties': dict(_WRITABLE, device_type={
               'type': 'string', 'minLength': 1, 'maxLength': 255},
               service_type={'type': 'string',
                             'enum': ['LOADBALANCER', 'VPN']},
               project_id=PROJECT, tenant_id=PROJECT)}

_REF = {'$ref': '#/components/schemas/Device'}
_AGENT_DEVICES = openapi.json_response('Devices of the agent', {
    'type': 'object', 'required': ['devices'],
    'properties': {'devices': {'type': 'array', 'items': {
        '$ref': '#/components/schemas/AgentDevice'}},
        'devices_links': {'type': 'array', 'items': {
            '$ref': '#/components/schemas/Link'}}}})
_ONE = openapi.json_response('The device', {
    'type': 'object', 'required': ['device'], 'properties': {'device': _REF}})
_MANY = openapi.json_response('Devices', {
    'type': 'object', 'required': ['devices'],
    'properties': {'devices': {'type': 'array', 'items': _REF},
                   'devices_links': {'type': 'array', 'items': {
                       '$ref': '#/components/schemas/Link'}}}})

# A device created (or associated): its id for the operations on it.
_CREATED_ID = '$response.body#/device/id'
_DEVICE_LINKS = openapi.links({'device_id': _CREATED_ID}, 'showDevice',
                              'updateDevice', 'deleteDevice',
                              'listDeviceAgents')
_ASSOCIATION_LINKS = openapi.links({'agent_id': '$request.path.agent_id',
                                    'device_id': _CREATED_ID},
                                   'removeAgentDevice')


def _path(name):
    return {'name': name, 'in': 'path', 'required': True, 'schema': _STRING}


def _query(name, schema=None):
    return {'name': name, 'in': 'query', 'required': False,
            'schema': {'type': 'array', 'items': schema or _STRING},
            'style': 'form', 'explode': True}


_BOOL = {'type': 'string', 'enum': ['True', 'true', '1', 'False', 'false',
                                    '0']}
_LIST_PARAMETERS = [
    _query('id'), _query('name'), _query('device_type'),
    _query('service_type'), _query('health'), _query('availability_zone'),
    _query('source'), _query('project_id'), _query('tenant_id'),
    _query('admin_state_up', _BOOL),
    _query('fields', {'type': 'string', 'enum': list(DEVICE['properties'])}),
    _query('sort_key', {'type': 'string', 'enum': [
        'id', 'name', 'device_type', 'service_type', 'capacity', 'used',
        'health', 'admin_state_up', 'availability_zone', 'source',
        'project_id', 'created_at']}),
    _query('sort_dir', {'type': 'string', 'enum': ['asc', 'desc']}),
    {'name': 'limit', 'in': 'query', 'required': False,
     'schema': {'type': 'integer', 'minimum': 0}},
    {'name': 'marker', 'in': 'query', 'required': False, 'schema': _STRING},
    {'name': 'page_reverse', 'in': 'query', 'required': False,
     'schema': _BOOL},
]


def _body(schema):
    return {'required': True, 'content': {'application/json': {
        'schema': schema}}}


_AGENT_LIST_PARAMETERS = [
    _query('fields', {'type': 'string',
                      'enum': list(AGENT_DEVICE['properties'])})
    if parameter['name'] == 'fields' else parameter
    for parameter in _LIST_PARAMETERS]

OPENAPI = {
    'schemas': {'Device': DEVICE, 'AgentDevice': AGENT_DEVICE},
    'paths': {
        '/v2.0/devices': {
            'get': {'operationId': 'listDevices', 'summary': 'List devices',
                    'parameters': _LIST_PARAMETERS,
                    'responses': {'200': _MANY, **openapi.error_responses(
                        400, 401, 403)}},
            'post': {'operationId': 'createDevice',
                     'summary': 'Register a device',
                     'requestBody': _body({
                         'type': 'object', 'required': ['device'],
                         'additionalProperties': False,
                         'properties': {'device': _CREATE}}),
                     'responses': {
                         '201': openapi.created(_ONE, _DEVICE_LINKS),
                         **openapi.error_responses(400, 401, 403, 409, 413,
                                                   415)}},
        },
        '/v2.0/devices/{device_id}': {
            'get': {'operationId': 'showDevice', 'summary': 'Show a device',
                    'parameters': [_path('device_id'), _query(
                        'fields', {'type': 'string',
                                   'enum': list(DEVICE['properties'])})],
                    'responses': {'200': _ONE, **openapi.error_responses(
                        400, 401, 403, 404)}},
            'put': {'operationId': 'updateDevice',
                    'summary': 'Update a device',
                    'parameters': [_path('device_id'), {
                        'name': 'If-Match', 'in': 'header',
                        'required': False, 'schema': {
                            'type': 'string',
                            'pattern': r'^revision_number=\d+$'}}],
                    'requestBody': _body({
                        'type': 'object', 'required': ['device'],
                        'additionalProperties': False,
                        'properties': {'device': {
                            'type': 'object', 'additionalProperties': False,
                            'properties': _WRITABLE}}}),
                    'responses': {'200': _ONE, **openapi.error_responses(
                        400, 401, 403, 404, 409, 412, 413, 415)}},
            'delete': {'operationId': 'deleteDevice',
                       'summary': 'Delete a device',
                       'parameters': [_path('device_id')],
                       'responses': {'204': {'description': 'Deleted'},
                                     **openapi.error_responses(
                                         401, 403, 404, 409)}},
        },
        '/v2.0/devices/{device_id}/agents': {
            'get': {'operationId': 'listDeviceAgents',
                    'summary': 'Agents that reach a device',
                    'parameters': [_path('device_id')],
                    'responses': {'200': openapi.json_response('Agents', {
                        'type': 'object', 'required': ['agents'],
                        'properties': {'agents': {'type': 'array'}}}),
                        **openapi.error_responses(400, 401, 403, 404)}},
        },
        '/v2.0/agents/{agent_id}/devices': {
            'get': {'operationId': 'listAgentDevices',
                    'summary': 'Devices an agent reaches',
                    'parameters': [_path('agent_id')] +
                    _AGENT_LIST_PARAMETERS,
                    'responses': {'200': _AGENT_DEVICES,
                                  **openapi.error_responses(
                                      400, 401, 403, 404)}},
            'post': {'operationId': 'addAgentDevice',
                     'summary': 'Associate a device, or create and '
                                'associate one',
                     'parameters': [_path('agent_id')],
                     'requestBody': _body({
                         'type': 'object', 'additionalProperties': False,
                         'minProperties': 1, 'maxProperties': 1,
                         'properties': {'device_id': _STRING,
                                        'device': _CREATE}}),
                     'responses': {
                         '201': openapi.created(_ONE, _DEVICE_LINKS,
                                                _ASSOCIATION_LINKS),
                         **openapi.error_responses(400, 401, 403, 404, 409,
                                                   413, 415)}},
        },
        '/v2.0/agents/{agent_id}/devices/{device_id}': {
            'delete': {'operationId': 'removeAgentDevice',
                       'summary': 'Dissociate a device from an agent',
                       'parameters': [_path('agent_id'),
                                      _path('device_id')],
                       'responses': {'204': {'description': 'Dissociated'},
                                     **openapi.error_responses(
                                         401, 403, 404, 409)}},
        },
    },
}
