"""The flavors extension, in the shapes of Neutron's flavor framework.

A flavor (name, service_type, enabled) is what a tenant picks; a service
profile is what it means: its metainfo, a JSON *string* as in Neutron, holds
the placement requirements ({"device_type": ..., "capabilities": {...},
"availability_zone": ...}). A resource created with a flavor_id gets the
requirements of the flavor's enabled service profile. Tenants may read
flavors; only admins change them or see service profiles.
"""

import collections

import fastjsonschema

from agentsched import constants
from agentsched.api import extension
from agentsched.api import listing
from agentsched.api import openapi
from agentsched.api import request
from agentsched.extensions import flavors_openapi
from agentsched.services import flavors as flavors_service

FLAVOR_FIELDS = ('id', 'name', 'description', 'service_type', 'enabled',
                 'service_profiles')
PROFILE_FIELDS = ('id', 'description', 'driver', 'metainfo', 'enabled')
MAX_METAINFO = 4096

_TEXT = {'type': ['string', 'null'],
         'maxLength': constants.MAX_STRING_LENGTH}
_NAME = {'type': 'string', 'maxLength': constants.MAX_STRING_LENGTH,
         'pattern': openapi.PRINTABLE}
_FLAVOR = {'name': _NAME, 'description': _TEXT,
           'enabled': {'type': 'boolean'}}
_PROFILE = {'description': _TEXT, 'driver': _TEXT,
            'metainfo': {'type': 'string', 'maxLength': MAX_METAINFO},
            'enabled': {'type': 'boolean'}}


def _wrapped(key, properties, required=()):
    return fastjsonschema.compile({
        'type': 'object', 'required': [key], 'additionalProperties': False,
        'properties': {key: {'type': 'object', 'additionalProperties': False,
                             'required': list(required),
                             'properties': properties}}})


_validate_flavor_create = _wrapped('flavor', dict(
    _FLAVOR, service_type={'enum': list(constants.SERVICE_TYPES)}),
    required=('name', 'service_type'))
_validate_flavor_update = _wrapped('flavor', _FLAVOR)
_validate_profile_create = _wrapped('service_profile', _PROFILE)
_validate_profile_update = _wrapped('service_profile', _PROFILE)
_validate_association = _wrapped('service_profile', {'id': {
    'type': 'string', 'minLength': 1,
    'maxLength': constants.MAX_STRING_LENGTH}}, required=('id',))


def _service():
    return request.services().flavors


def _flavor_dict(row, profile_ids, fields=None):
    item = {'id': row.id, 'name': row.name, 'description': row.description,
            'service_type': row.service_type, 'enabled': row.enabled,
            'service_profiles': profile_ids}
    return {f: item[f] for f in fields} if fields else item


def _profile_dict(row, fields=None):
    item = {'id': row.id, 'description': row.description,
            'driver': row.driver, 'metainfo': row.metainfo,
            'enabled': row.enabled}
    return {f: item[f] for f in fields} if fields else item


# What a list asks the service for.
_Page = collections.namedtuple('_Page', 'filters sort limit marker_id reverse')


def _list_query(rule, filter_names, sortable, fields_known):
    """(fields, _Page) of a list request."""
    request.authorize(rule)
    request.check_query(filter_names + listing.PAGING_PARAMS)
    fields = listing.fields(fields_known)
    filters = listing.filters(filter_names, booleans=('enabled',))
    sort = listing.sort(sortable)
    limit, reverse = listing.limit(request.conf()), listing.reverse()
    return fields, _Page(filters, sort, limit, listing.marker_id(), reverse)


# -- /v2.0/flavors ---------------------------------------------------------

def list_flavors():
    fields, page = _list_query(
        'get_flavor', flavors_service.FLAVOR_FILTERS,
        flavors_service.FLAVOR_SORT, FLAVOR_FIELDS)
    rows, profile_ids = _service().list_flavors(*page)
    return listing.respond(
        'flavors', [_flavor_dict(row, profile_ids[row.id], fields)
                    for row in rows], rows, page.limit, page.reverse)


def show_flavor(flavor_id):
    request.authorize('get_flavor')
    request.check_query(('fields',))
    fields = listing.fields(FLAVOR_FIELDS)
    row, profile_ids = _service().get_flavor(flavor_id)
    return request.respond({'flavor': _flavor_dict(row, profile_ids,
                                                   fields)})


def create_flavor():
    request.authorize('create_flavor')
    body = request.json_body(_validate_flavor_create)['flavor']
    row, profile_ids = _service().create_flavor(
        body['name'], body['service_type'], body.get('description'),
        body.get('enabled', True))
    return request.respond({'flavor': _flavor_dict(row, profile_ids)},
                           status=201)


def update_flavor(flavor_id):
    request.authorize('update_flavor')
    changes = request.json_body(_validate_flavor_update)['flavor']
    row, profile_ids = _service().update_flavor(flavor_id, changes)
    return request.respond({'flavor': _flavor_dict(row, profile_ids)})


def delete_flavor(flavor_id):
    request.authorize('delete_flavor')
    _service().delete_flavor(flavor_id)
    return request.no_content()


# -- /v2.0/service_profiles ------------------------------------------------

def list_profiles():
    fields, page = _list_query(
        'get_service_profile', flavors_service.PROFILE_FILTERS,
        flavors_service.PROFILE_SORT, PROFILE_FIELDS)
    rows = _service().list_profiles(*page)
    return listing.respond(
        'service_profiles', [_profile_dict(row, fields) for row in rows],
        rows, page.limit, page.reverse)


def show_profile(profile_id):
    request.authorize('get_service_profile')
    request.check_query(('fields',))
    fields = listing.fields(PROFILE_FIELDS)
    row = _service().get_profile(profile_id)
    return request.respond({'service_profile': _profile_dict(row, fields)})


def create_profile():
    request.authorize('create_service_profile')
    body = request.json_body(_validate_profile_create)['service_profile']
    row = _service().create_profile(
        body.get('description'), body.get('driver'), body.get('metainfo'),
        body.get('enabled', True))
    return request.respond({'service_profile': _profile_dict(row)},
                           status=201)


def update_profile(profile_id):
    request.authorize('update_service_profile')
    changes = request.json_body(_validate_profile_update)['service_profile']
    row = _service().update_profile(profile_id, changes)
    return request.respond({'service_profile': _profile_dict(row)})


def delete_profile(profile_id):
    request.authorize('delete_service_profile')
    _service().delete_profile(profile_id)
    return request.no_content()


# -- /v2.0/flavors/{id}/service_profiles -----------------------------------

def associate_profile(flavor_id):
    request.authorize('create_flavor_service_profile')
    profile_id = request.json_body(_validate_association)[
        'service_profile']['id']
    _service().associate(flavor_id, profile_id)
    return request.respond({'service_profile': {'id': profile_id}},
                           status=201)


def dissociate_profile(flavor_id, profile_id):
    request.authorize('delete_flavor_service_profile')
    _service().dissociate(flavor_id, profile_id)
    return request.no_content()


ROUTES = {
    '/v2.0/flavors': {'GET': list_flavors, 'POST': create_flavor},
    '/v2.0/flavors/<flavor_id>': {'GET': show_flavor, 'PUT': update_flavor,
                                  'DELETE': delete_flavor},
    '/v2.0/flavors/<flavor_id>/service_profiles': {
        'POST': associate_profile},
    '/v2.0/flavors/<flavor_id>/service_profiles/<profile_id>': {
        'DELETE': dissociate_profile},
    '/v2.0/service_profiles': {'GET': list_profiles, 'POST': create_profile},
    '/v2.0/service_profiles/<profile_id>': {
        'GET': show_profile, 'PUT': update_profile,
        'DELETE': delete_profile},
}

EXTENSION = extension.Extension(
    alias='flavors', name='Flavors',
    description='Flavors and service profiles (Neutron\'s flavor '
                'framework): a flavor_id stands for the placement '
                'requirements in its service profile\'s metainfo.',
    updated='2026-11-29T10:00:00-00:00', routes=ROUTES,
    openapi=flavors_openapi.OPENAPI)
