"""The flavors extension, in the shapes of Neutron's flavor framework.

A flavor (name, service_type, enabled) is what a tenant picks; a service
profile is what it means: its metainfo, a JSON *string* as in Neutron, holds
the placement requirements ({"device_type": ..., "capabilities": {...},
"availability_zone": ...}). A resource created with a flavor_id gets the
requirements of the flavor's enabled service profile. Tenants may read
flavors; only admins change them or see service profiles.
"""

import json
import uuid

import fastjsonschema
import sqlalchemy as sa

from agentsched import algorithms
from agentsched import constants
from agentsched.api import errors
from agentsched.api import extension
from agentsched.api import listing
from agentsched.api import request
from agentsched.db import flavors as flavors_db
from agentsched.db import resources as resources_db
from agentsched.extensions import flavors_openapi
from agentsched.services import resource_types

FLAVOR_FIELDS = ('id', 'name', 'description', 'service_type', 'enabled',
                 'service_profiles')
PROFILE_FIELDS = ('id', 'description', 'driver', 'metainfo', 'enabled')
MAX_METAINFO = 4096

_TEXT = {'type': ['string', 'null'],
         'maxLength': constants.MAX_STRING_LENGTH}
_NAME = {'type': 'string', 'maxLength': constants.MAX_STRING_LENGTH}
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
_check_requirements = fastjsonschema.compile(
    resource_types.REQUIREMENTS_SCHEMA)


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


def _flavor_or_404(connection, flavor_id):
    row = flavors_db.get(connection, flavors_db.flavors, flavor_id)
    if row is None:
        raise errors.NotFound('Flavor %s could not be found.' % flavor_id,
                              'FlavorNotFound')
    return row


def _profile_or_404(connection, profile_id):
    row = flavors_db.get(connection, flavors_db.profiles, profile_id)
    if row is None:
        raise errors.NotFound('Service Profile %s could not be found.' %
                              profile_id, 'ServiceProfileNotFound')
    return row


def _metainfo(text):
    """The stored form of metainfo: checked as placement requirements, so
    a flavor never fails at resource creation for a typo in its profile."""
    try:
        document = json.loads(text)
        _check_requirements(document)
        # The same checks a placement request makes (capability forms).
        algorithms.PlacementRequest('check', constants.SERVICE_VPN,
                                    requirements=document)
    except ValueError as exc:
        # JSONDecodeError, the schema's and InvalidRequest are ValueErrors.
        message = getattr(exc, 'message', None) or str(exc)
        raise errors.BadRequest('metainfo: %s' % message.replace(
            'data', 'metainfo', 1))
    return json.dumps(document, sort_keys=True)


def _list(table, columns, filter_names, fields_known, render_rows, rule,
          collection):
    request.authorize(rule)
    request.check_query(filter_names + listing.PAGING_PARAMS)
    conf = request.conf()
    fields = listing.fields(fields_known)
    filters = listing.filters(filter_names, booleans=('enabled',))
    sort = listing.sort(columns)
    limit, reverse = listing.limit(conf), listing.reverse()
    with request.engine().connect() as connection:
        marker = listing.marker(
            connection, lambda c, i: flavors_db.get(c, table, i),
            'a %s' % collection[:-1])
        rows = flavors_db.query(connection, table, columns, filters, sort,
                                limit, marker, reverse)
        items = render_rows(connection, rows, fields)
    return listing.respond(collection, items, rows, limit, reverse)


# -- /v2.0/flavors ---------------------------------------------------------

def _render_flavors(connection, rows, fields=None):
    ids = flavors_db.profile_ids(connection, [row.id for row in rows])
    return [_flavor_dict(row, ids[row.id], fields) for row in rows]


def list_flavors():
    return _list(flavors_db.flavors, flavors_db.FLAVOR_SORT,
                 flavors_db.FLAVOR_FILTERS, FLAVOR_FIELDS, _render_flavors,
                 'get_flavor', 'flavors')


def show_flavor(flavor_id):
    request.authorize('get_flavor')
    request.check_query(('fields',))
    fields = listing.fields(FLAVOR_FIELDS)
    with request.engine().connect() as connection:
        row = _flavor_or_404(connection, flavor_id)
        item = _render_flavors(connection, [row], fields)[0]
    return request.respond({'flavor': item})


def create_flavor():
    request.authorize('create_flavor')
    body = request.json_body(_validate_flavor_create)['flavor']
    values = {'id': str(uuid.uuid4()), 'name': body['name'],
              'description': body.get('description'),
              'service_type': body['service_type'],
              'enabled': body.get('enabled', True)}
    with request.engine().begin() as connection:
        flavors_db.insert(connection, flavors_db.flavors, values)
        row = flavors_db.get(connection, flavors_db.flavors, values['id'])
    return request.respond({'flavor': _flavor_dict(row, [])}, status=201)


def update_flavor(flavor_id):
    request.authorize('update_flavor')
    changes = request.json_body(_validate_flavor_update)['flavor']
    with request.engine().begin() as connection:
        _flavor_or_404(connection, flavor_id)
        if changes:
            flavors_db.update(connection, flavors_db.flavors, flavor_id,
                              changes)
        row = _flavor_or_404(connection, flavor_id)
        item = _render_flavors(connection, [row])[0]
    return request.respond({'flavor': item})


def delete_flavor(flavor_id):
    request.authorize('delete_flavor')
    with request.engine().begin() as connection:
        _flavor_or_404(connection, flavor_id)
        used = resources_db.count_with_flavor(connection, flavor_id)
        if used:
            raise errors.Conflict('Flavor %s is used by %d resource(s)' % (
                flavor_id, used), 'FlavorInUse')
        flavors_db.delete(connection, flavors_db.flavors, flavor_id)
    return request.no_content()


# -- /v2.0/service_profiles ------------------------------------------------

def _render_profiles(_connection, rows, fields=None):
    return [_profile_dict(row, fields) for row in rows]


def list_profiles():
    return _list(flavors_db.profiles, flavors_db.PROFILE_SORT,
                 flavors_db.PROFILE_FILTERS, PROFILE_FIELDS,
                 _render_profiles, 'get_service_profile', 'service_profiles')


def show_profile(profile_id):
    request.authorize('get_service_profile')
    request.check_query(('fields',))
    fields = listing.fields(PROFILE_FIELDS)
    with request.engine().connect() as connection:
        row = _profile_or_404(connection, profile_id)
    return request.respond({'service_profile': _profile_dict(row, fields)})


def create_profile():
    request.authorize('create_service_profile')
    body = request.json_body(_validate_profile_create)['service_profile']
    values = {'id': str(uuid.uuid4()),
              'description': body.get('description'),
              'driver': body.get('driver'),
              'metainfo': _metainfo(body.get('metainfo') or '{}'),
              'enabled': body.get('enabled', True)}
    with request.engine().begin() as connection:
        flavors_db.insert(connection, flavors_db.profiles, values)
        row = flavors_db.get(connection, flavors_db.profiles, values['id'])
    return request.respond({'service_profile': _profile_dict(row)},
                           status=201)


def update_profile(profile_id):
    request.authorize('update_service_profile')
    changes = dict(request.json_body(_validate_profile_update)[
        'service_profile'])
    if 'metainfo' in changes:
        changes['metainfo'] = _metainfo(changes['metainfo'] or '{}')
    with request.engine().begin() as connection:
        _profile_or_404(connection, profile_id)
        if changes:
            flavors_db.update(connection, flavors_db.profiles, profile_id,
                              changes)
        row = _profile_or_404(connection, profile_id)
    return request.respond({'service_profile': _profile_dict(row)})


def delete_profile(profile_id):
    request.authorize('delete_service_profile')
    with request.engine().begin() as connection:
        _profile_or_404(connection, profile_id)
        used_by = flavors_db.flavors_of_profile(connection, profile_id)
        if used_by:
            raise errors.Conflict(
                'Service Profile %s is used by flavor(s) %s' % (
                    profile_id, ', '.join(sorted(used_by))),
                'ServiceProfileInUse')
        flavors_db.delete(connection, flavors_db.profiles, profile_id)
    return request.no_content()


# -- /v2.0/flavors/{id}/service_profiles -----------------------------------

def associate_profile(flavor_id):
    request.authorize('create_flavor_service_profile')
    profile_id = request.json_body(_validate_association)[
        'service_profile']['id']
    with request.engine().begin() as connection:
        _flavor_or_404(connection, flavor_id)
        _profile_or_404(connection, profile_id)
        try:
            with connection.begin_nested():
                flavors_db.associate(connection, flavor_id, profile_id)
        except sa.exc.IntegrityError:
            raise errors.Conflict(
                'Service Profile %s is already associated with flavor %s' %
                (profile_id, flavor_id), 'FlavorServiceProfileBindingExists')
    return request.respond({'service_profile': {'id': profile_id}},
                           status=201)


def dissociate_profile(flavor_id, profile_id):
    request.authorize('delete_flavor_service_profile')
    with request.engine().begin() as connection:
        _flavor_or_404(connection, flavor_id)
        if not flavors_db.dissociate(connection, flavor_id, profile_id):
            raise errors.NotFound(
                'Service Profile %s is not associated with flavor %s' % (
                    profile_id, flavor_id),
                'FlavorServiceProfileBindingNotFound')
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
