"""OpenAPI description of the agents extension's routes."""

from agentsched.api import openapi

_STRING = {'type': 'string'}
_NULLABLE_STRING = {'type': 'string', 'nullable': True}
_TIME = {'type': 'string', 'pattern': r'^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d$'}

AGENT = {
    'type': 'object',
    'properties': {
        'id': _STRING, 'agent_type': _STRING, 'binary': _STRING,
        'topic': _STRING, 'host': _STRING,
        'admin_state_up': {'type': 'boolean'},
        'alive': {'type': 'boolean'},
        'created_at': _TIME, 'started_at': _TIME,
        'heartbeat_timestamp': _TIME,
        'description': _NULLABLE_STRING,
        'configurations': {'type': 'object'},
        'availability_zone': _NULLABLE_STRING,
        'resources_synced': {'type': 'boolean', 'nullable': True},
        'forced_down': {'type': 'boolean'},
    },
    'additionalProperties': False,
}

_AGENT_REF = {'$ref': '#/components/schemas/Agent'}
_ID = {'name': 'agent_id', 'in': 'path', 'required': True,
       'schema': _STRING}
_FIELDS = {'name': 'fields', 'in': 'query', 'required': False,
           'schema': {'type': 'array', 'items': {
               'type': 'string', 'enum': list(AGENT['properties'])}},
           'style': 'form', 'explode': True}
_BOOL = {'type': 'string', 'enum': ['True', 'true', '1', 'False', 'false',
                                    '0']}


def _filter(name, schema=None):
    return {'name': name, 'in': 'query', 'required': False,
            'schema': {'type': 'array', 'items': schema or _STRING},
            'style': 'form', 'explode': True}


_LIST_PARAMETERS = [
    _filter('id'), _filter('agent_type'), _filter('binary'),
    _filter('topic'), _filter('host'), _filter('availability_zone'),
    _filter('description'), _filter('admin_state_up', _BOOL),
    _filter('alive', _BOOL), _filter('forced_down', _BOOL), _FIELDS,
    _filter('sort_key', {'type': 'string', 'enum': [
        'id', 'agent_type', 'binary', 'topic', 'host', 'admin_state_up',
        'availability_zone', 'description', 'created_at', 'started_at',
        'heartbeat_timestamp', 'load', 'forced_down']}),
    _filter('sort_dir', {'type': 'string', 'enum': ['asc', 'desc']}),
    {'name': 'limit', 'in': 'query', 'required': False,
     'schema': {'type': 'integer', 'minimum': 0}},
    {'name': 'marker', 'in': 'query', 'required': False, 'schema': _STRING},
    {'name': 'page_reverse', 'in': 'query', 'required': False,
     'schema': _BOOL},
]

_ONE_AGENT = openapi.json_response('The agent', {
    'type': 'object', 'required': ['agent'],
    'properties': {'agent': _AGENT_REF}})

OPENAPI = {
    'schemas': {'Agent': AGENT},
    'paths': {
        '/v2.0/agents': {
            'get': {
                'operationId': 'listAgents', 'summary': 'List agents',
                'parameters': _LIST_PARAMETERS,
                'responses': {
                    '200': openapi.json_response('Agents', {
                        'type': 'object', 'required': ['agents'],
                        'properties': {
                            'agents': {'type': 'array', 'items': _AGENT_REF},
                            'agents_links': {'type': 'array', 'items': {
                                '$ref': '#/components/schemas/Link'}}}}),
                    **openapi.error_responses(400, 401, 403)}},
            'post': {
                'operationId': 'createAgent',
                'summary': 'Not supported: agents register by heartbeat',
                'requestBody': {'required': False, 'content': {
                    'application/json': {'schema': {'type': 'object'}}}},
                'responses': openapi.error_responses(400, 401, 403)},
        },
        '/v2.0/agents/{agent_id}': {
            'get': {
                'operationId': 'showAgent', 'summary': 'Show an agent',
                'parameters': [_ID, _FIELDS],
                'responses': {'200': _ONE_AGENT,
                              **openapi.error_responses(400, 401, 403, 404)}},
            'put': {
                'operationId': 'updateAgent',
                'summary': 'Update admin_state_up (false drains the agent), '
                           'forced_down (true: judged dead at once) or '
                           'description',
                'parameters': [_ID],
                'requestBody': {'required': True, 'content': {
                    'application/json': {'schema': {
                        'type': 'object', 'required': ['agent'],
                        'additionalProperties': False,
                        'properties': {'agent': {
                            'type': 'object', 'additionalProperties': False,
                            'properties': {
                                'admin_state_up': {'type': 'boolean'},
                                'forced_down': {'type': 'boolean'},
                                'description': {'type': 'string',
                                                'maxLength': 255,
                                                'nullable': True}}}}}}}},
                'responses': {'200': _ONE_AGENT,
                              **openapi.error_responses(400, 401, 403, 404,
                                                        413, 415)}},
            'delete': {
                'operationId': 'deleteAgent', 'summary': 'Delete an agent',
                'parameters': [_ID],
                'responses': {'204': {'description': 'Deleted'},
                              **openapi.error_responses(401, 403, 404,
                                                        409)}},
        },
    },
}
