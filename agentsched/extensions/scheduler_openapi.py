"""OpenAPI description of the scheduler extension's routes."""

from agentsched.api import openapi
from agentsched.extensions import resources_openapi as common

_TIME = {'type': 'string', 'nullable': True}

HEALTH = {
    'type': 'object', 'required': ['scheduler_health'],
    'additionalProperties': False,
    'properties': {'scheduler_health': {
        'type': 'object', 'additionalProperties': False,
        'required': ['leader', 'leader_since', 'updated_at', 'current',
                     'monitor'],
        'properties': {
            'leader': {'type': 'string', 'nullable': True},
            'leader_since': _TIME, 'updated_at': _TIME,
            'current': {'type': 'boolean'},
            # guards, last_check and totals as the leader wrote them
            # (docs/api.md describes each).
            'monitor': {'type': 'object', 'nullable': True},
        }}},
}


def _failover_path(collection_path, singular, schema_name, title):
    ref = {'$ref': '#/components/schemas/%s' % schema_name}
    return {collection_path + '/{resource_id}/failover': {'put': {
        'operationId': 'failover%s' % schema_name,
        'summary': 'Fail a %s over now (rebind or move)' % title,
        'parameters': [common.path('resource_id')],
        'requestBody': {'required': False, 'content': {
            'application/json': {'schema': {
                'type': 'object', 'additionalProperties': False}}}},
        'responses': {'202': openapi.json_response(
            'The resource and the failover\'s outcome', {
                'type': 'object', 'required': [singular, 'failover'],
                'properties': {singular: ref, 'failover': {
                    'type': 'string',
                    'enum': ['rebound', 'moved', 'failed', 'skipped']}}}),
            **openapi.error_responses(400, 401, 403, 404, 409, 413, 415)}}}}


OPENAPI = {
    'schemas': {'SchedulerHealth': HEALTH},
    'paths': {
        '/v2.0/scheduler/health': {'get': {
            'operationId': 'showSchedulerHealth',
            'summary': 'The health monitor: leader, storm guards, failover',
            'responses': {'200': openapi.json_response(
                'Scheduler health',
                {'$ref': '#/components/schemas/SchedulerHealth'}),
                **openapi.error_responses(400, 401, 403)}}},
        **_failover_path('/v2.0/lb/vips', 'vip', 'Vip', 'load-balancer VIP'),
        **_failover_path('/v2.0/vpn/connections', 'vpn_connection',
                         'VpnConnection', 'VPN connection'),
    },
}
