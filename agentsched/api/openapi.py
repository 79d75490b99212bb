"""The OpenAPI 3 document of the whole API, from root's and extensions' parts.

Each extension carries the OpenAPI path items of its own routes (OPENAPI on
the Extension); a test checks that every route has one and no more.
"""

from agentsched import constants

ERROR = {
    'type': 'object', 'required': ['NeutronError'],
    'properties': {'NeutronError': {
        'type': 'object', 'required': ['type', 'message', 'detail'],
        'properties': {'type': {'type': 'string'},
                       'message': {'type': 'string'},
                       'detail': {'type': 'string'}}}},
}

LINK = {'type': 'object', 'required': ['rel', 'href'],
        'properties': {'rel': {'type': 'string'},
                       'href': {'type': 'string'}}}

EXTENSION = {
    'type': 'object',
    'required': ['alias', 'name', 'description', 'updated', 'links'],
    'properties': {'alias': {'type': 'string'}, 'name': {'type': 'string'},
                   'description': {'type': 'string'},
                   'updated': {'type': 'string'},
                   'links': {'type': 'array', 'items': LINK}},
}


END_OF_TEXT = constants.END_OF_TEXT
# A name shown on terminals and in logs (resources', flavors'): any text
# without control characters (C0, DEL, C1), which could rewrite what an
# operator's terminal shows. The handlers validate with this pattern.
PRINTABLE = '^[^\\x00-\\x1f\\x7f-\\x9f]*' + END_OF_TEXT


def error_responses(*statuses):
    reasons = {400: 'Bad request', 401: 'Not authenticated',
               403: 'Forbidden by policy', 404: 'Not found',
               405: 'Method not allowed', 409: 'Conflict',
               412: 'Precondition failed', 413: 'Body too large',
               415: 'Body is not JSON'}
    return {str(status): {
        'description': reasons[status],
        'content': {'application/json': {
            'schema': {'$ref': '#/components/schemas/Error'}}}}
        for status in statuses}


def json_response(description, schema):
    return {'description': description,
            'content': {'application/json': {'schema': schema}}}


def links(parameters, *operation_ids):
    """OpenAPI links from a response to the operations it enables:
    parameters maps each of their parameters to a runtime expression (the
    created id: '$response.body#/vip/id'); schemathesis' stateful tests
    follow them."""
    return {operation_id[0].upper() + operation_id[1:]: {
        'operationId': operation_id, 'parameters': dict(parameters)}
        for operation_id in operation_ids}


def created(response, *link_maps):
    """A create's 201 response with links (link_maps from links()) to the
    operations on what it created."""
    merged = {}
    for link_map in link_maps:
        merged.update(link_map)
    return dict(response, links=merged)


_COLLECTIONS_RESPONSES = {
    '200': json_response('Collections', {
        'type': 'object', 'required': ['resources'],
        'properties': {'resources': {'type': 'array', 'items': {
            'type': 'object',
            'required': ['name', 'collection', 'links']}}}}),
    **error_responses(401)}

ROOT_PATHS = {
    '/': {'get': {
        'operationId': 'listVersions', 'summary': 'API versions',
        'security': [],
        'responses': {'200': json_response('Versions', {
            'type': 'object', 'required': ['versions'],
            'properties': {'versions': {'type': 'array', 'items': {
                'type': 'object', 'required': ['id', 'status', 'links'],
                'properties': {'id': {'type': 'string'},
                               'status': {'type': 'string'},
                               'links': {'type': 'array',
                                         'items': LINK}}}}}})}}},
    '/v2.0/': {'get': {
        'operationId': 'listResources', 'summary': 'Collections of v2.0',
        'responses': _COLLECTIONS_RESPONSES}},
    '/v2.0': {'get': {
        'operationId': 'listResourcesNoSlash',
        'summary': 'Collections of v2.0 (as /v2.0/; Neutron answers both)',
        'responses': _COLLECTIONS_RESPONSES}},
    '/v2.0/extensions': {'get': {
        'operationId': 'listExtensions', 'summary': 'Loaded extensions',
        'responses': {'200': json_response('Extensions', {
            'type': 'object', 'required': ['extensions'],
            'properties': {'extensions': {
                'type': 'array',
                'items': {'$ref': '#/components/schemas/Extension'}}}}),
            **error_responses(400, 401)}}},
    '/v2.0/extensions/{alias}': {'get': {
        'operationId': 'showExtension', 'summary': 'One extension',
        'parameters': [{'name': 'alias', 'in': 'path', 'required': True,
                        'schema': {'type': 'string'}}],
        'responses': {'200': json_response('Extension', {
            'type': 'object', 'required': ['extension'],
            'properties': {'extension': {
                '$ref': '#/components/schemas/Extension'}}}),
            **error_responses(401, 404)}}},
    '/v2.0/openapi.json': {'get': {
        'operationId': 'showOpenAPI', 'summary': 'This document',
        'responses': {'200': json_response('OpenAPI document',
                                           {'type': 'object'}),
                      **error_responses(401, 403)}}},
    '/metrics': {'get': {
        'operationId': 'showMetrics',
        'summary': 'Prometheus metrics of this server (docs/operations.md); '
                   '404 with [metrics] enabled = false',
        'responses': {'200': {
            'description': 'Prometheus text exposition format',
            'content': {'text/plain': {'schema': {'type': 'string'}}}},
            **error_responses(400, 401, 403, 404)}}},
}


def document(extensions, base_url=''):
    paths = dict(ROOT_PATHS)
    schemas = {'Error': ERROR, 'Extension': EXTENSION, 'Link': LINK}
    for extension in extensions:
        paths.update(extension.openapi['paths'])
        schemas.update(extension.openapi.get('schemas', {}))
    return {
        'openapi': '3.0.3',
        'info': {'title': 'agentsched', 'version': constants.API_VERSION,
                 'description': 'Agents, devices and scheduling of '
                                'load-balancer and VPN resources; '
                                'Neutron-compatible agent API.'},
        'servers': [{'url': base_url or '/'}],
        'paths': paths,
        'components': {
            'schemas': schemas,
            'securitySchemes': {
                'keystone': {'type': 'apiKey', 'in': 'header',
                             'name': 'X-Auth-Token'},
                'http_basic': {'type': 'http', 'scheme': 'basic'}}},
        'security': [{'keystone': []}, {'http_basic': []}, {}],
    }
