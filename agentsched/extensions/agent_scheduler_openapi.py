"""OpenAPI description of the agent scheduler extension's routes."""

from agentsched.api import openapi
from agentsched.extensions import resources_openapi as common

_NULLABLE = {'type': 'string', 'nullable': True}

HOSTING = {
    'type': 'object', 'required': ['agent', 'device', 'binding'],
    'additionalProperties': False,
    'properties': {
        'agent': {
            'type': 'object', 'nullable': True,
            'additionalProperties': False,
            'properties': {
                'id': common.STRING, 'agent_type': common.STRING,
                'host': common.STRING, 'binary': common.STRING,
                'topic': common.STRING,
                'admin_state_up': {'type': 'boolean'},
                'alive': {'type': 'boolean'},
                'availability_zone': _NULLABLE,
                'heartbeat_timestamp': common.STRING}},
        'device': {
            'type': 'object', 'additionalProperties': False,
            'properties': {
                'id': common.STRING, 'name': common.STRING,
                'device_type': common.STRING,
                'service_type': common.STRING,
                'capabilities': {'type': 'object'},
                'capacity': {'type': 'integer'},
                'used': {'type': 'integer'},
                'physical_info': {'type': 'object'},
                'has_credentials': {'type': 'boolean'},
                'admin_state_up': {'type': 'boolean'},
                'health': common.STRING,
                'availability_zone': _NULLABLE}},
        'binding': {
            'type': 'object', 'additionalProperties': False,
            'properties': {'generation': {'type': 'integer'},
                           'created_at': common.STRING,
                           'updated_at': _NULLABLE}},
    },
}


def _paths(segment, collection_path, singular, plural, schema_name,
           kind, title):
    ref = {'$ref': '#/components/schemas/%s' % schema_name}
    agent = common.path('agent_id')
    ident = common.path('resource_id')
    id_key = singular + '_id'
    op = schema_name
    fields = common.query('fields', {'type': 'string',
                                     'enum': common.fields_of(kind)})
    parameters = [agent, common.query('id'), common.query('name'),
                  common.query('status', {'type': 'string',
                                          'enum': common.STATUSES}),
                  common.query('project_id'), fields] + common.paging(
        ('id', 'name', 'status', 'project_id', 'created_at'))
    agent_path = '/v2.0/agents/{agent_id}/%s' % segment
    return {
        agent_path: {
            'get': {'operationId': 'listAgent%ss' % op,
                    'summary': '%ss bound to an agent' % title,
                    'parameters': parameters,
                    'responses': {'200': openapi.json_response(
                        '%ss' % title, common.listed(plural, ref)),
                        **openapi.error_responses(400, 401, 403, 404)}},
            'post': {'operationId': 'addAgent%s' % op,
                     'summary': 'Place an unbound %s on this agent' % title,
                     'parameters': [agent],
                     'requestBody': common.body({
                         'type': 'object', 'required': [id_key],
                         'additionalProperties': False,
                         'properties': {id_key: {
                             'type': 'string', 'minLength': 1,
                             'maxLength': 255}}}),
                     'responses': {'201': openapi.json_response(
                         'The placed %s' % title,
                         common.wrapped(singular, ref)),
                         **openapi.error_responses(400, 401, 403, 404, 409,
                                                   413, 415)}},
        },
        agent_path + '/{resource_id}': {
            'delete': {'operationId': 'removeAgent%s' % op,
                       'summary': 'Unbind a %s from this agent' % title,
                       'parameters': [agent, ident],
                       'responses': {'204': {'description': 'Unbound'},
                                     **openapi.error_responses(
                                         401, 403, 404, 409)}},
        },
        collection_path + '/{resource_id}/agent': {
            'get': {'operationId': 'show%sAgent' % op,
                    'summary': 'The agent and device hosting a %s' % title,
                    'parameters': [ident],
                    'responses': {'200': openapi.json_response(
                        'Agent, device and binding', {
                            '$ref': '#/components/schemas/Hosting'}),
                        **openapi.error_responses(400, 401, 403, 404)}},
        },
    }


OPENAPI = {
    'schemas': {'Hosting': HOSTING},
    'paths': {
        **_paths('vips', '/v2.0/lb/vips', 'vip', 'vips', 'Vip',
                 common.vip.VIP, 'load-balancer VIP'),
        **_paths('vpn-connections', '/v2.0/vpn/connections',
                 'vpn_connection', 'vpn_connections', 'VpnConnection',
                 common.vpn_connection.VPNConnection, 'VPN connection'),
    },
}
