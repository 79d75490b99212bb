"""The agent scheduler extension (admin only): which agent hosts what.

GET /v2.0/agents/{id}/vips (and /vpn-connections): the resources bound to
an agent. POST there with {"vip_id": ...} (or {"vpn_connection_id": ...})
places an unbound resource by hand, with the scheduler's own checks among
that agent's devices. DELETE /v2.0/agents/{id}/vips/{resource_id} unbinds.
GET /v2.0/lb/vips/{id}/agent (and /v2.0/vpn/connections/{id}/agent): the
hosting agent and device, never the device's credentials.
"""

import json

import fastjsonschema

from agentsched import constants
from agentsched import liveness
from agentsched.api import extension
from agentsched.api import listing
from agentsched.api import request
from agentsched.api import times
from agentsched.extensions import agent_scheduler_openapi
from agentsched.extensions import resources
from agentsched.extensions import resources_openapi
from agentsched.services import resources as resources_service

# Path segment under /v2.0/agents/{id}/ per resource type (hyphens, as
# Neutron's l3-routers and dhcp-networks).
SEGMENTS = {'vip': 'vips', 'vpn_connection': 'vpn-connections'}


def _agent_dict(row):
    conf = request.conf()
    return {'id': row.id, 'agent_type': row.agent_type, 'host': row.host,
            'binary': row.binary, 'topic': row.topic,
            'admin_state_up': row.admin_state_up,
            'alive': liveness.agent_is_alive(row, conf.agent_down_time),
            'availability_zone': row.availability_zone,
            'heartbeat_timestamp': times.iso_time(row.heartbeat_timestamp)}


def _device_dict(row):
    return {'id': row.id, 'name': row.name, 'device_type': row.device_type,
            'service_type': row.service_type,
            'capabilities': json.loads(row.capabilities),
            'capacity': row.capacity, 'used': row.used,
            'physical_info': json.loads(row.physical_info),
            'has_credentials': row.credentials is not None,
            'admin_state_up': row.admin_state_up, 'health': row.health,
            'availability_zone': row.availability_zone}


class Handlers:
    """The agent-scheduler routes of one resource collection."""

    def __init__(self, collection):
        self.collection = collection
        self.id_key = collection.resource_type + '_id'
        self._validate_add = fastjsonschema.compile({
            'type': 'object', 'required': [self.id_key],
            'additionalProperties': False,
            'properties': {self.id_key: {
                'type': 'string', 'minLength': 1,
                'maxLength': constants.MAX_STRING_LENGTH}}})

    def list(self, agent_id):
        request.authorize('get_agent_resources')
        kind = resources.kind_of(self.collection)
        request.check_query(resources_service.FILTER_COLUMNS +
                            listing.PAGING_PARAMS)
        fields = listing.fields(resources_openapi.fields_of(kind))
        filters = listing.filters(resources_service.FILTER_COLUMNS)
        sort = listing.sort(resources_service.SORT_COLUMNS)
        limit, reverse = listing.limit(request.conf()), listing.reverse()
        rows = resources.service().list(
            kind.name, filters, sort, limit, listing.marker_id(), reverse,
            agent_id=agent_id)
        return listing.respond(
            self.collection.plural,
            [resources.resource_dict(row, kind, fields) for row in rows],
            rows, limit, reverse)

    def add(self, agent_id):
        request.authorize('add_resource_to_agent')
        resource_id = request.json_body(self._validate_add)[self.id_key]
        kind = resources.kind_of(self.collection)
        row = resources.service().place_on_agent(kind.name, resource_id,
                                                 agent_id)
        return request.respond({self.collection.singular: (
            resources.resource_dict(row, kind))}, status=201)

    def remove(self, agent_id, resource_id):
        request.authorize('remove_resource_from_agent')
        resources.service().remove_from_agent(
            self.collection.resource_type, resource_id, agent_id)
        return request.no_content()

    def hosting(self, resource_id):
        request.authorize('get_resource_agent')
        request.check_query(())
        hosting = resources.service().hosting_of(
            self.collection.resource_type, resource_id)
        binding = hosting.binding
        return request.respond({
            # The agent is null if it was deleted under the binding.
            'agent': (_agent_dict(hosting.agent)
                      if hosting.agent is not None else None),
            'device': _device_dict(hosting.device),
            'binding': {'generation': binding.generation,
                        'created_at': times.iso_time(binding.created_at),
                        'updated_at': times.iso_time(binding.updated_at)}})


def _routes():
    table = {}
    for collection in resources.COLLECTIONS:
        handlers = Handlers(collection)
        agent_path = '/v2.0/agents/<agent_id>/%s' % SEGMENTS[
            collection.resource_type]
        table[agent_path] = {'GET': handlers.list, 'POST': handlers.add}
        table[agent_path + '/<resource_id>'] = {'DELETE': handlers.remove}
        table[collection.path + '/<resource_id>/agent'] = {
            'GET': handlers.hosting}
    return table


ROUTES = _routes()

EXTENSION = extension.Extension(
    alias='agent-scheduler', name='Agent scheduler',
    description='Which agent and device host each VIP and VPN connection; '
                'placing a resource on an agent by hand, and unbinding it.',
    updated='2026-11-29T10:00:00-00:00', routes=ROUTES,
    openapi=agent_scheduler_openapi.OPENAPI)
