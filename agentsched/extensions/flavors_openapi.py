"""OpenAPI description of the flavors extension's routes."""

from agentsched.api import openapi
from agentsched.extensions import resources_openapi as common

_TEXT = {'type': 'string', 'maxLength': 255, 'nullable': True}
_SERVICE_TYPE = {'type': 'string', 'enum': ['LOADBALANCER', 'VPN']}

FLAVOR = {
    'type': 'object', 'additionalProperties': False,
    'properties': {
        'id': common.STRING, 'name': common.STRING,
        'description': {'type': 'string', 'nullable': True},
        'service_type': _SERVICE_TYPE, 'enabled': {'type': 'boolean'},
        'service_profiles': {'type': 'array', 'items': common.STRING}},
}
PROFILE = {
    'type': 'object', 'additionalProperties': False,
    'properties': {
        'id': common.STRING,
        'description': {'type': 'string', 'nullable': True},
        'driver': {'type': 'string', 'nullable': True},
        'metainfo': {'type': 'string',
                     'description': 'JSON text: the placement requirements '
                                    '(device_type, capabilities, '
                                    'availability_zone)'},
        'enabled': {'type': 'boolean'}},
}

_FLAVOR_WRITABLE = {'name': {'type': 'string', 'maxLength': 255,
                             'pattern': openapi.PRINTABLE},
                    'description': _TEXT, 'enabled': {'type': 'boolean'}}
_PROFILE_WRITABLE = {'description': _TEXT, 'driver': _TEXT,
                     'metainfo': {'type': 'string', 'maxLength': 4096},
                     'enabled': {'type': 'boolean'}}


def _wrapped_body(key, properties, required=()):
    inner = {'type': 'object', 'additionalProperties': False,
             'properties': properties}
    if required:
        inner['required'] = list(required)
    return common.body({'type': 'object', 'required': [key],
                        'additionalProperties': False,
                        'properties': {key: inner}})


def _crud(collection, singular, schema_name, title, ident, writable,
          create_extra, create_required, list_parameters, sort_keys,
          linked=()):
    """linked: other operations the created id is a path parameter of
    (ident), for the create's links."""
    ref = {'$ref': '#/components/schemas/%s' % schema_name}
    one = openapi.json_response('The %s' % title,
                                common.wrapped(singular, ref))
    fields = common.query('fields', {
        'type': 'string',
        'enum': list(FLAVOR['properties'] if singular == 'flavor'
                     else PROFILE['properties'])})
    item_path = '/v2.0/%s/{%s}' % (collection, ident)
    return {
        '/v2.0/%s' % collection: {
            'get': {'operationId': 'list%ss' % schema_name,
                    'summary': 'List %ss' % title,
                    'parameters': list_parameters + [fields] +
                    common.paging(sort_keys),
                    'responses': {'200': openapi.json_response(
                        '%ss' % title, common.listed(collection, ref)),
                        **openapi.error_responses(400, 401, 403)}},
            'post': {'operationId': 'create%s' % schema_name,
                     'summary': 'Create a %s' % title,
                     'requestBody': _wrapped_body(
                         singular, dict(writable, **create_extra),
                         create_required),
                     'responses': {
                         '201': openapi.created(one, openapi.links(
                             {ident: '$response.body#/%s/id' % singular},
                             'show%s' % schema_name,
                             'update%s' % schema_name,
                             'delete%s' % schema_name, *linked)),
                         **openapi.error_responses(400, 401, 403, 413,
                                                   415)}},
        },
        item_path: {
            'get': {'operationId': 'show%s' % schema_name,
                    'summary': 'Show a %s' % title,
                    'parameters': [common.path(ident), fields],
                    'responses': {'200': one, **openapi.error_responses(
                        400, 401, 403, 404)}},
            'put': {'operationId': 'update%s' % schema_name,
                    'summary': 'Update a %s' % title,
                    'parameters': [common.path(ident)],
                    'requestBody': _wrapped_body(singular, writable),
                    'responses': {'200': one, **openapi.error_responses(
                        400, 401, 403, 404, 413, 415)}},
            'delete': {'operationId': 'delete%s' % schema_name,
                       'summary': 'Delete a %s' % title,
                       'parameters': [common.path(ident)],
                       'responses': {'204': {'description': 'Deleted'},
                                     **openapi.error_responses(
                                         401, 403, 404, 409)}},
        },
    }


_BOOL = common.BOOL_QUERY

OPENAPI = {
    'schemas': {'Flavor': FLAVOR, 'ServiceProfile': PROFILE},
    'paths': {
        **_crud('flavors', 'flavor', 'Flavor', 'flavor', 'flavor_id',
                _FLAVOR_WRITABLE, {'service_type': _SERVICE_TYPE},
                ('name', 'service_type'),
                [common.query('id'), common.query('name'),
                 common.query('service_type', _SERVICE_TYPE),
                 common.query('enabled', _BOOL)],
                ('id', 'name', 'service_type', 'enabled'),
                linked=('associateFlavorServiceProfile',)),
        **_crud('service_profiles', 'service_profile', 'ServiceProfile',
                'service profile', 'profile_id', _PROFILE_WRITABLE, {}, (),
                [common.query('id'), common.query('driver'),
                 common.query('enabled', _BOOL)],
                ('id', 'driver', 'enabled')),
        '/v2.0/flavors/{flavor_id}/service_profiles': {
            'post': {'operationId': 'associateFlavorServiceProfile',
                     'summary': 'Associate a service profile with a flavor',
                     'parameters': [common.path('flavor_id')],
                     'requestBody': _wrapped_body(
                         'service_profile', {'id': {
                             'type': 'string', 'minLength': 1,
                             'maxLength': 255}}, ('id',)),
                     'responses': {'201': openapi.created(
                         openapi.json_response(
                             'The associated profile', common.wrapped(
                                 'service_profile', {
                                     'type': 'object', 'required': ['id'],
                                     'properties': {'id': common.STRING}})),
                         openapi.links({
                             'flavor_id': '$request.path.flavor_id',
                             'profile_id': '$response.body#/service_profile'
                                           '/id'},
                             'dissociateFlavorServiceProfile')),
                         **openapi.error_responses(400, 401, 403, 404, 409,
                                                   413, 415)}},
        },
        '/v2.0/flavors/{flavor_id}/service_profiles/{profile_id}': {
            'delete': {'operationId': 'dissociateFlavorServiceProfile',
                       'summary': 'Dissociate a service profile from a '
                                  'flavor',
                       'parameters': [common.path('flavor_id'),
                                      common.path('profile_id')],
                       'responses': {'204': {'description': 'Dissociated'},
                                     **openapi.error_responses(
                                         401, 403, 404)}},
        },
    },
}
