"""OpenAPI description of the resources extension's routes.

The spec fields come from the shipped resource types' JSON schemas,
translated to OpenAPI 3.0 (which has nullable instead of type lists).
"""

import copy

from agentsched import constants
from agentsched.api import openapi
from agentsched.services import resource_types
from agentsched.services.resource_types import vip
from agentsched.services.resource_types import vpn_connection

STRING = {'type': 'string'}
BOOL_QUERY = {'type': 'string', 'enum': ['True', 'true', '1', 'False',
                                         'false', '0']}
STATUSES = ['PENDING_CREATE', 'PENDING_UPDATE', 'PENDING_DELETE', 'ACTIVE',
            'ERROR']
OPERATING_STATUS = {'type': 'string',
                    'enum': list(constants.OPERATING_STATUSES)}
STATS = {'type': 'object', 'additionalProperties': False,
         'required': list(constants.STATS_FIELDS),
         'properties': {field: {'type': 'integer', 'minimum': 0}
                        for field in constants.STATS_FIELDS}}


def to_openapi(schema):
    """A JSON schema as OpenAPI 3.0 reads it: ['x', 'null'] -> nullable."""
    schema = copy.deepcopy(schema)
    kinds = schema.get('type')
    if isinstance(kinds, list):
        others = [kind for kind in kinds if kind != 'null']
        schema['type'] = others[0]
        if 'null' in kinds:
            schema['nullable'] = True
    for key in ('properties',):
        if key in schema:
            schema[key] = {name: to_openapi(value)
                           for name, value in schema[key].items()}
    if isinstance(schema.get('items'), dict):
        schema['items'] = to_openapi(schema['items'])
    return schema


def path(name):
    return {'name': name, 'in': 'path', 'required': True, 'schema': STRING}


def query(name, schema=None):
    return {'name': name, 'in': 'query', 'required': False,
            'schema': {'type': 'array', 'items': schema or STRING},
            'style': 'form', 'explode': True}


def body(schema):
    return {'required': True, 'content': {'application/json': {
        'schema': schema}}}


def paging(sort_keys):
    return [
        query('sort_key', {'type': 'string', 'enum': list(sort_keys)}),
        query('sort_dir', {'type': 'string', 'enum': ['asc', 'desc']}),
        {'name': 'limit', 'in': 'query', 'required': False,
         'schema': {'type': 'integer', 'minimum': 0}},
        {'name': 'marker', 'in': 'query', 'required': False,
         'schema': STRING},
        {'name': 'page_reverse', 'in': 'query', 'required': False,
         'schema': BOOL_QUERY},
    ]


def wrapped(key, schema):
    return {'type': 'object', 'required': [key], 'properties': {key: schema}}


def wrapped_body(key, schema):
    """A request body: the app refuses any key but this one."""
    return dict(wrapped(key, schema), additionalProperties=False)


def listed(key, schema):
    return {'type': 'object', 'required': [key], 'properties': {
        key: {'type': 'array', 'items': schema},
        key + '_links': {'type': 'array', 'items': {
            '$ref': '#/components/schemas/Link'}}}}


def _resource_schema(kind):
    spec = {name: to_openapi(schema)
            for name, schema in kind.spec_schema['properties'].items()
            if name not in kind.secret_fields}
    if 'members' in spec:
        # Each member shows its operating status beside its spec.
        spec['members']['items']['properties']['operating_status'] = \
            OPERATING_STATUS
    properties = {
        'id': STRING, 'project_id': STRING, 'tenant_id': STRING,
        'name': {'type': 'string', 'nullable': True},
        'status': {'type': 'string', 'enum': STATUSES},
        'status_description': {'type': 'string', 'nullable': True},
        'operating_status': OPERATING_STATUS,
        **spec,
        **{'has_' + name: {'type': 'boolean'}
           for name in kind.secret_fields},
        'requirements': {'type': 'object'},
        'flavor_id': {'type': 'string', 'nullable': True},
        'created_at': STRING,
        'updated_at': {'type': 'string', 'nullable': True},
    }
    return {'type': 'object', 'additionalProperties': False,
            'properties': properties}


def _create_schema(kind):
    owner = {'type': 'string', 'minLength': 1, 'maxLength': 255}
    properties = {
        'name': {'type': 'string', 'maxLength': 255, 'nullable': True,
                 'pattern': openapi.PRINTABLE},
        'requirements': to_openapi(resource_types.REQUIREMENTS_SCHEMA),
        'flavor_id': dict(owner), 'project_id': dict(owner),
        'tenant_id': dict(owner),
        **{name: to_openapi(schema)
           for name, schema in kind.spec_schema['properties'].items()},
    }
    for name in kind.secret_fields:
        properties[name]['writeOnly'] = True
    return {'type': 'object', 'additionalProperties': False,
            'required': list(kind.spec_schema.get('required', ())),
            'properties': properties}


def _update_schema(kind):
    properties = {'name': {'type': 'string', 'maxLength': 255,
                           'pattern': openapi.PRINTABLE},
                  **{name: to_openapi(schema) for name, schema in
                     kind.spec_schema['properties'].items()}}
    for name in kind.secret_fields:
        properties[name]['writeOnly'] = True
    return {'type': 'object', 'additionalProperties': False,
            'properties': properties}


def fields_of(kind):
    """Every field a resource of this type shows, in order."""
    spec = [name for name in kind.spec_schema['properties']
            if name not in kind.secret_fields]
    return (['id', 'project_id', 'tenant_id', 'name', 'status',
             'status_description', 'operating_status'] + spec +
            ['has_' + name for name in kind.secret_fields] +
            ['requirements', 'flavor_id', 'created_at', 'updated_at'])


def _stats_path(collection_path, title):
    return {collection_path + '/{resource_id}/stats': {'get': {
        'operationId': 'showVipStats',
        'summary': 'Show the statistics of a %s: totals since it was '
                   'created, across reloads, agent restarts and moves' % title,
        'parameters': [path('resource_id')],
        'responses': {'200': openapi.json_response(
            'Its statistics', wrapped('stats', STATS)),
            **openapi.error_responses(400, 401, 403, 404)}}}}


def _paths(kind, collection_path, singular, plural, schema_name, title,
           more_links=()):
    ref = {'$ref': '#/components/schemas/%s' % schema_name}
    one = openapi.json_response('The %s' % title, wrapped(singular, ref))
    fields = query('fields', {'type': 'string', 'enum': fields_of(kind)})
    parameters = [query('id'), query('name'),
                  query('status', {'type': 'string', 'enum': STATUSES}),
                  query('project_id'), query('tenant_id'), fields] + paging(
        ('id', 'name', 'status', 'project_id', 'created_at'))
    ident = path('resource_id')
    op = schema_name
    return {
        collection_path: {
            'get': {'operationId': 'list%ss' % op,
                    'summary': 'List %ss' % title, 'parameters': parameters,
                    'responses': {'200': openapi.json_response(
                        '%ss' % title, listed(plural, ref)),
                        **openapi.error_responses(400, 401, 403)}},
            'post': {'operationId': 'create%s' % op,
                     'summary': 'Create a %s and place it; 201 with status '
                                'ERROR when nothing fits' % title,
                     'requestBody': body(wrapped_body(singular,
                                                      _create_schema(kind))),
                     'responses': {
                         '201': openapi.created(one, openapi.links(
                             {'resource_id': '$response.body#/%s/id'
                              % singular},
                             'show%s' % op, 'update%s' % op,
                             'delete%s' % op, *more_links)),
                         **openapi.error_responses(400, 401, 403, 404, 409,
                                                   413, 415)}},
        },
        collection_path + '/{resource_id}': {
            'get': {'operationId': 'show%s' % op,
                    'summary': 'Show a %s' % title,
                    'parameters': [ident, fields],
                    'responses': {'200': one, **openapi.error_responses(
                        400, 401, 403, 404)}},
            'put': {'operationId': 'update%s' % op,
                    'summary': 'Rename a %s or change its spec (deployed '
                               'again)' % title,
                    'parameters': [ident],
                    'requestBody': body(wrapped_body(singular,
                                                     _update_schema(kind))),
                    'responses': {'200': one, **openapi.error_responses(
                        400, 401, 403, 404, 409, 413, 415)}},
            'delete': {'operationId': 'delete%s' % op,
                       'summary': 'Delete a %s: removed at once, or '
                                  'PENDING_DELETE until its agent has '
                                  'undeployed it' % title,
                       'parameters': [ident],
                       'responses': {'204': {'description': 'Deleted or '
                                                            'being deleted'},
                                     **openapi.error_responses(
                                         401, 403, 404)}},
        },
    }


_VIP, _VPN = vip.VIP(), vpn_connection.VPNConnection()

OPENAPI = {
    'schemas': {'Vip': _resource_schema(_VIP),
                'VpnConnection': _resource_schema(_VPN)},
    'paths': {
        **_paths(_VIP, '/v2.0/lb/vips', 'vip', 'vips', 'Vip',
                 'load-balancer VIP', more_links=('showVipStats',)),
        **_stats_path('/v2.0/lb/vips', 'load-balancer VIP'),
        **_paths(_VPN, '/v2.0/vpn/connections', 'vpn_connection',
                 'vpn_connections', 'VpnConnection', 'VPN connection'),
    },
}
