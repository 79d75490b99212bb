"""The resources extension: tenants' VIPs and VPN connections.

/v2.0/lb/vips ({"vip": {...}}, {"vips": [...]}) and /v2.0/vpn/connections
({"vpn_connection": {...}}, {"vpn_connections": [...]}). A body holds name,
the spec fields of the resource type (services/resource_types) at the top
level, and either requirements or a flavor_id. Everything is project-scoped:
a tenant sees its own project's only (another project's is a 404), an admin
sees all. Secret spec fields (a psk) are write-only: has_<field> instead.
"""

import collections
import json

import fastjsonschema
import flask

from agentsched import constants
from agentsched.api import errors
from agentsched.api import extension
from agentsched.api import listing
from agentsched.api import request
from agentsched.db import flavors as flavors_db
from agentsched.db import resources as resources_db
from agentsched.extensions import resources_openapi
from agentsched.services import resource_types
from agentsched.services import resources as resources_service
from agentsched.services import secrets

_TIME_FORMAT = '%Y-%m-%dT%H:%M:%SZ'
_NAME = {'type': 'string', 'maxLength': constants.MAX_STRING_LENGTH}
_PROJECT = {'type': 'string', 'minLength': 1,
            'maxLength': constants.MAX_STRING_LENGTH}
# Body keys that are not spec fields.
_CREATE_KEYS = ('name', 'requirements', 'flavor_id', 'project_id',
                'tenant_id')
_FIXED_KEYS = ('requirements', 'flavor_id', 'project_id', 'tenant_id')

# How a resource type shows in the API: its body keys, path and error type.
Collection = collections.namedtuple(
    'Collection', 'resource_type singular plural path not_found')

COLLECTIONS = (
    Collection('vip', 'vip', 'vips', '/v2.0/lb/vips', 'VipNotFound'),
    Collection('vpn_connection', 'vpn_connection', 'vpn_connections',
               '/v2.0/vpn/connections', 'VPNConnectionNotFound'),
)
BY_TYPE = {c.resource_type: c for c in COLLECTIONS}


def service():
    return flask.current_app.config['resources']


def is_admin():
    return flask.current_app.config['authorizer'].is_admin(request.context())


def kind_of(collection):
    return service().types.get(collection.resource_type)


def _time(value):
    return value.strftime(_TIME_FORMAT) if value else None


def resource_dict(row, kind, fields=None):
    spec = json.loads(row.spec)
    item = {'id': row.id, 'project_id': row.project_id,
            'tenant_id': row.project_id, 'name': row.name,
            'status': row.status,
            'status_description': row.status_description}
    for name in kind.spec_schema['properties']:
        if name in spec:
            item[name] = spec[name]
    # Secrets are stored together, encrypted; the only secret fields
    # shipped are required ones, so "stored" means "set".
    for name in kind.secret_fields:
        item['has_' + name] = row.secrets is not None
    item.update(requirements=json.loads(row.requirements),
                flavor_id=row.flavor_id, created_at=_time(row.created_at),
                updated_at=_time(row.updated_at))
    if fields:
        return {field: item[field] for field in fields if field in item}
    return item


def not_found(collection, resource_id):
    return errors.NotFound('%s %s could not be found.' % (
        collection.not_found[:-len('NotFound')], resource_id),
        collection.not_found)


def get_or_404(connection, collection, resource_id):
    """The row, if the caller may see it (its project's, or an admin)."""
    project = None if is_admin() else request.context().project_id
    row = resources_db.get(connection, resource_id,
                           collection.resource_type, project)
    if row is None:
        raise not_found(collection, resource_id)
    return row


def _flavor_requirements(connection, flavor_id, kind):
    """The requirements a flavor stands for: its enabled service profile's
    metainfo."""
    flavor = flavors_db.get(connection, flavors_db.flavors, flavor_id)
    if flavor is None:
        raise errors.NotFound('Flavor %s could not be found.' % flavor_id,
                              'FlavorNotFound')
    if flavor.service_type != kind.service_type:
        raise errors.BadRequest(
            'flavor_id: flavor %s is for service type %s; a %s needs %s' % (
                flavor_id, flavor.service_type, kind.name,
                kind.service_type))
    if not flavor.enabled:
        raise errors.BadRequest('flavor_id: flavor %s is disabled' %
                                flavor_id)
    profiles = flavors_db.enabled_profiles(connection, flavor_id)
    if not profiles:
        raise errors.BadRequest('flavor_id: flavor %s has no enabled '
                                'service profile' % flavor_id)
    # Several enabled profiles: the first by id, so the choice is stable.
    return json.loads(profiles[0].metainfo)


class Handlers:
    """The routes of one collection; each method is a Flask view."""

    def __init__(self, collection):
        self.collection = collection
        name = collection.resource_type
        self._rules = {action: '%s_%s' % (action, name)
                       for action in ('create', 'get', 'update', 'delete')}
        self._validate_create = fastjsonschema.compile({
            'type': 'object', 'required': [collection.singular],
            'additionalProperties': False,
            'properties': {collection.singular: {
                'type': 'object',
                'properties': {
                    'name': {'type': ['string', 'null'],
                             'maxLength': constants.MAX_STRING_LENGTH},
                    'requirements': resource_types.REQUIREMENTS_SCHEMA,
                    'flavor_id': _PROJECT, 'project_id': _PROJECT,
                    'tenant_id': _PROJECT}}}})
        self._validate_update = fastjsonschema.compile({
            'type': 'object', 'required': [collection.singular],
            'additionalProperties': False,
            'properties': {collection.singular: {
                'type': 'object', 'properties': {'name': _NAME}}}})

    def _kind(self):
        return kind_of(self.collection)

    def list(self):
        request.authorize(self._rules['get'])
        kind = self._kind()
        request.check_query(resources_db.FILTER_COLUMNS + ('tenant_id',) +
                            listing.PAGING_PARAMS)
        conf = request.conf()
        fields = listing.fields(resources_openapi.fields_of(kind))
        filters = listing.filters(resources_db.FILTER_COLUMNS + (
            'tenant_id',))
        if 'tenant_id' in filters:
            filters['project_id'] = filters.get('project_id', []) + \
                filters.pop('tenant_id')
        sort = listing.sort(resources_db.SORT_COLUMNS)
        limit, reverse = listing.limit(conf), listing.reverse()
        project = None if is_admin() else request.context().project_id
        with request.engine().connect() as connection:
            marker = listing.marker(
                connection, lambda c, i: resources_db.get(
                    c, i, kind.name, project),
                'a %s' % self.collection.singular)
            rows = resources_db.query(connection, kind.name, filters, sort,
                                      limit, marker, reverse, project)
        return listing.respond(
            self.collection.plural,
            [resource_dict(row, kind, fields) for row in rows], rows, limit,
            reverse)

    def create(self):
        kind = self._kind()
        body = dict(request.json_body(self._validate_create)[
            self.collection.singular])
        project_id = self._owner(body)
        request.authorize(self._rules['create'], {'project_id': project_id})
        if body.get('requirements') is not None and body.get('flavor_id'):
            raise errors.BadRequest('Give requirements or flavor_id, not '
                                    'both')
        requirements = body.get('requirements')
        flavor_id = body.get('flavor_id')
        if flavor_id:
            with request.engine().connect() as connection:
                requirements = _flavor_requirements(connection, flavor_id,
                                                    kind)
        spec = {k: v for k, v in body.items() if k not in _CREATE_KEYS}
        try:
            row = service().create(kind.name, project_id, body.get('name'),
                                   spec, requirements)
        except resource_types.InvalidResource as exc:
            raise errors.BadRequest(str(exc))
        except secrets.NoEncryptionKey as exc:
            raise errors.Conflict(str(exc), 'NoEncryptionKey')
        if flavor_id:
            with request.engine().begin() as connection:
                resources_db.set_flavor(connection, row.id, flavor_id)
                row = resources_db.get(connection, row.id)
        return request.respond(
            {self.collection.singular: resource_dict(row, kind)}, status=201)

    def _owner(self, body):
        """The project the new resource belongs to: the caller's unless an
        admin names another (policy decides)."""
        given = {body.get('project_id'), body.get('tenant_id')} - {None}
        if len(given) > 1:
            raise errors.BadRequest('project_id and tenant_id differ')
        project_id = given.pop() if given else \
            request.context().project_id
        if not project_id:
            raise errors.BadRequest('project_id is required: the request '
                                    'is not scoped to a project')
        return project_id

    def show(self, resource_id):
        request.check_query(('fields',))
        kind = self._kind()
        fields = listing.fields(resources_openapi.fields_of(kind))
        with request.engine().connect() as connection:
            row = get_or_404(connection, self.collection, resource_id)
        request.authorize(self._rules['get'], {'project_id': row.project_id})
        return request.respond({self.collection.singular: resource_dict(
            row, kind, fields)})

    def update(self, resource_id):
        kind = self._kind()
        changes = dict(request.json_body(self._validate_update)[
            self.collection.singular])
        with request.engine().connect() as connection:
            row = get_or_404(connection, self.collection, resource_id)
        request.authorize(self._rules['update'],
                          {'project_id': row.project_id})
        fixed = sorted(set(changes) & set(_FIXED_KEYS))
        if fixed:
            raise errors.BadRequest('%s of a %s cannot be updated' % (
                ', '.join(fixed), self.collection.singular))
        if row.status == constants.STATUS_PENDING_DELETE:
            raise errors.Conflict('%s %s is being deleted' % (
                self.collection.singular, resource_id),
                'ResourceBeingDeleted')
        name = changes.pop('name', None)
        try:
            row = service().update(resource_id, name, changes or None)
        except resource_types.InvalidResource as exc:
            raise errors.BadRequest(str(exc))
        except secrets.NoEncryptionKey as exc:
            raise errors.Conflict(str(exc), 'NoEncryptionKey')
        except resources_service.NotFound:
            raise not_found(self.collection, resource_id)
        return request.respond({self.collection.singular: resource_dict(
            row, kind)})

    def delete(self, resource_id):
        with request.engine().connect() as connection:
            row = get_or_404(connection, self.collection, resource_id)
        request.authorize(self._rules['delete'],
                          {'project_id': row.project_id})
        # 204 either way, as Neutron answers: removed now, or PENDING_DELETE
        # until its agent confirms the undeploy.
        try:
            service().delete(resource_id)
        except resources_service.NotFound:
            raise not_found(self.collection, resource_id)
        return request.no_content()


def _routes():
    table = {}
    for collection in COLLECTIONS:
        handlers = Handlers(collection)
        table[collection.path] = {'GET': handlers.list,
                                  'POST': handlers.create}
        table[collection.path + '/<resource_id>'] = {
            'GET': handlers.show, 'PUT': handlers.update,
            'DELETE': handlers.delete}
    return table


ROUTES = _routes()

EXTENSION = extension.Extension(
    alias='resources', name='Resources',
    description='Tenants\' load-balancer VIPs (/v2.0/lb/vips) and VPN '
                'connections (/v2.0/vpn/connections), placed by the '
                'scheduler on an agent and a device.',
    updated='2026-11-29T10:00:00-00:00', routes=ROUTES,
    openapi=resources_openapi.OPENAPI)
