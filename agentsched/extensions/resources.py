"""The resources extension: tenants' VIPs and VPN connections.

/v2.0/lb/vips ({"vip": {...}}, {"vips": [...]}) and /v2.0/vpn/connections
({"vpn_connection": {...}}, {"vpn_connections": [...]}). A body holds name,
the spec fields of the resource type (services/resource_types) at the top
level, and either requirements or a flavor_id. Everything is project-scoped:
a tenant sees its own project's only (another project's is a 404, as a
missing one), a caller without a project sees none, an admin sees all.
Secret spec fields (a psk) are write-only: has_<field> instead.
"""

import collections
import json

import fastjsonschema

from agentsched import constants
from agentsched.api import errors
from agentsched.api import extension
from agentsched.api import listing
from agentsched.api import openapi
from agentsched.api import request
from agentsched.api import times
from agentsched.extensions import resources_openapi
from agentsched.services import resource_types
from agentsched.services import resources as resources_service

_NAME = {'type': 'string', 'maxLength': constants.MAX_STRING_LENGTH,
         'pattern': openapi.PRINTABLE}
_PROJECT = {'type': 'string', 'minLength': 1,
            'maxLength': constants.MAX_STRING_LENGTH}
# Body keys that are not spec fields.
_CREATE_KEYS = ('name', 'requirements', 'flavor_id', 'project_id',
                'tenant_id')
_FIXED_KEYS = ('requirements', 'flavor_id', 'project_id', 'tenant_id')

# How a resource type shows in the API: its body keys and path.
# has_stats: GET <path>/<id>/stats (a VIP's statistics).
Collection = collections.namedtuple(
    'Collection', 'resource_type singular plural path has_stats')

COLLECTIONS = (
    Collection('vip', 'vip', 'vips', '/v2.0/lb/vips', True),
    Collection('vpn_connection', 'vpn_connection', 'vpn_connections',
               '/v2.0/vpn/connections', False),
)


def service():
    return request.services().resources


def kind_of(collection):
    return service().types.get(collection.resource_type)


def operating_status(status):
    # Octavia's: OFFLINE until the data plane said otherwise.
    return status or constants.OPERATING_OFFLINE


def _with_statuses(members, member_statuses):
    """A VIP's members, each with its operating status as reported."""
    statuses = json.loads(member_statuses) if member_statuses else {}
    return [dict(member, operating_status=operating_status(
        statuses.get(constants.MEMBER_KEY.format(**member))))
        for member in members]


def resource_dict(row, kind, fields=None):
    spec = json.loads(row.spec)
    item = {'id': row.id, 'project_id': row.project_id,
            'tenant_id': row.project_id, 'name': row.name,
            'status': row.status,
            'status_description': row.status_description,
            'operating_status': operating_status(row.operating_status)}
    for name in kind.spec_schema['properties']:
        if name in spec:
            item[name] = spec[name]
    if 'members' in item:
        item['members'] = _with_statuses(item['members'],
                                         row.member_statuses)
    # Secrets are stored together, encrypted; the only secret fields
    # shipped are required ones, so "stored" means "set".
    for name in kind.secret_fields:
        item['has_' + name] = row.secrets is not None
    item.update(requirements=json.loads(row.requirements),
                flavor_id=row.flavor_id,
                created_at=times.iso_time(row.created_at),
                updated_at=times.iso_time(row.updated_at))
    if fields:
        return {field: item[field] for field in fields if field in item}
    return item


def not_found(collection, resource_id):
    """The 404 of a resource of collection that is not there."""
    return errors.from_domain(service().not_found(collection.resource_type,
                                                  resource_id))


class Handlers:
    """The routes of one collection; each method is a Flask view."""

    def __init__(self, collection):
        self.collection = collection
        name = collection.resource_type
        self._rules = {action: '%s_%s' % (action, name)
                       for action in ('create', 'get', 'update', 'delete')}
        self._rules['stats'] = 'get_%s_stats' % name
        self._validate_create = fastjsonschema.compile({
            'type': 'object', 'required': [collection.singular],
            'additionalProperties': False,
            'properties': {collection.singular: {
                'type': 'object',
                'properties': {
                    'name': dict(_NAME, type=['string', 'null']),
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
        filter_names = resources_service.FILTER_COLUMNS + ('tenant_id',)
        request.check_query(filter_names + listing.PAGING_PARAMS)
        fields = listing.fields(resources_openapi.fields_of(kind))
        filters = listing.filters(filter_names)
        if 'tenant_id' in filters:
            filters['project_id'] = filters.get('project_id', []) + \
                filters.pop('tenant_id')
        sort = listing.sort(resources_service.SORT_COLUMNS)
        limit, reverse = listing.limit(request.conf()), listing.reverse()
        rows = service().list(kind.name, filters, sort, limit,
                              listing.marker_id(), reverse,
                              project_id=request.visible_project())
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
        spec = {k: v for k, v in body.items() if k not in _CREATE_KEYS}
        row = service().create(kind.name, project_id, body.get('name'), spec,
                               body.get('requirements'),
                               body.get('flavor_id'))
        return request.respond(
            {self.collection.singular: resource_dict(row, kind)}, status=201)

    def _owner(self, body):
        """The project the new resource belongs to: the caller's unless an
        admin names another (policy decides)."""
        given = {body.get('project_id'), body.get('tenant_id')} - {None}
        if len(given) > 1:
            raise errors.BadRequest('project_id and tenant_id differ')
        caller = request.context().project_id
        if not caller and not request.is_admin():
            raise errors.Forbidden('A token scoped to a project is needed '
                                   'to create a %s' % self.collection.singular)
        project_id = given.pop() if given else caller
        if not project_id:
            raise errors.BadRequest('project_id is required: the request '
                                    'is not scoped to a project')
        return project_id

    def _visible(self, resource_id):
        """The row, if the caller may see it (its project's, or an admin):
        the target of the policy check."""
        return service().get(resource_id, self.collection.resource_type,
                             request.visible_project())

    def show(self, resource_id):
        request.check_query(('fields',))
        kind = self._kind()
        fields = listing.fields(resources_openapi.fields_of(kind))
        row = self._visible(resource_id)
        request.authorize(self._rules['get'], {'project_id': row.project_id})
        return request.respond({self.collection.singular: resource_dict(
            row, kind, fields)})

    def update(self, resource_id):
        kind = self._kind()
        changes = dict(request.json_body(self._validate_update)[
            self.collection.singular])
        row = self._visible(resource_id)
        request.authorize(self._rules['update'],
                          {'project_id': row.project_id})
        fixed = sorted(set(changes) & set(_FIXED_KEYS))
        if fixed:
            raise errors.BadRequest('%s of a %s cannot be updated' % (
                ', '.join(fixed), self.collection.singular))
        name = changes.pop('name', None)
        row = service().update(resource_id, name, changes or None,
                               kind.name)
        return request.respond({self.collection.singular: resource_dict(
            row, kind)})

    def stats(self, resource_id):
        request.check_query(())
        row = self._visible(resource_id)
        request.authorize(self._rules['stats'],
                          {'project_id': row.project_id})
        return request.respond({'stats': request.services().data_plane
                                .stats(resource_id)})

    def delete(self, resource_id):
        row = self._visible(resource_id)
        request.authorize(self._rules['delete'],
                          {'project_id': row.project_id})
        # 204 either way, as Neutron answers: removed now, or PENDING_DELETE
        # until its agent confirms the undeploy.
        service().delete(resource_id)
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
        if collection.has_stats:
            table[collection.path + '/<resource_id>/stats'] = {
                'GET': handlers.stats}
    return table


ROUTES = _routes()

EXTENSION = extension.Extension(
    alias='resources', name='Resources',
    description='Tenants\' load-balancer VIPs (/v2.0/lb/vips) and VPN '
                'connections (/v2.0/vpn/connections), placed by the '
                'scheduler on an agent and a device.',
    updated='2026-11-29T10:00:00-00:00', routes=ROUTES,
    openapi=resources_openapi.OPENAPI)
