"""The agents extension: Neutron's /v2.0/agents, in its paths and shapes."""

import fastjsonschema
import flask
import orjson

from agentsched import constants
from agentsched import liveness
from agentsched.api import errors
from agentsched.api import extension
from agentsched.api import listing
from agentsched.api import request
from agentsched.api import times
from agentsched.extensions import agents_openapi
from agentsched.services import agents as agents_service

FIELDS = ('id', 'agent_type', 'binary', 'topic', 'host', 'admin_state_up',
          'alive', 'created_at', 'started_at', 'heartbeat_timestamp',
          'description', 'configurations', 'availability_zone',
          'resources_synced', 'forced_down')
_LIST_QUERY = (agents_service.FILTER_KEYS + ('alive',) +
               listing.PAGING_PARAMS)

UPDATE_SCHEMA = {
    'type': 'object',
    'required': ['agent'],
    'additionalProperties': False,
    'properties': {'agent': {
        'type': 'object',
        'properties': {
            'admin_state_up': {'type': 'boolean'},
            'forced_down': {'type': 'boolean'},
            'description': {'type': ['string', 'null'],
                            'maxLength': constants.MAX_STRING_LENGTH},
        },
    }},
}
_validate_update = fastjsonschema.compile(UPDATE_SCHEMA)


# created_at, started_at, heartbeat_timestamp in the agents table's rows.
_TIMES = slice(7, 10)


def _agent_dicts(rows, alive_since, fields=None):
    """The API's agents, for rows of the agents table; alive_since: the
    liveness rule's cutoff, computed once per request
    (liveness.alive_since).

    A batch at a time, for the whole fleet's list (100,000 agents:
    docs/benchmarks.md): the rows' times formatted in one call
    (times.agent_times), each agent's dict built in one comprehension from
    its row unpacked by position (the agents table's column order;
    attribute access on result rows costs more than the rest)."""
    stamps = iter(times.agent_times(
        [stamp for row in rows for stamp in row[_TIMES]]))
    agents = [{
        'id': agent_id, 'agent_type': agent_type, 'binary': binary,
        'topic': topic, 'host': host, 'admin_state_up': admin_state_up,
        'alive': liveness.is_alive(heartbeat_timestamp, forced_down,
                                   alive_since),
        'created_at': created, 'started_at': started,
        'heartbeat_timestamp': heartbeat,
        'description': description,
        # Stored as JSON text we wrote ourselves: embed, never re-parse.
        'configurations': orjson.Fragment(configurations),
        'availability_zone': availability_zone,
        'resources_synced': resources_synced,
        'forced_down': forced_down,
    } for ((agent_id, agent_type, binary, topic, host, availability_zone,
            admin_state_up, _created_at, _started_at, heartbeat_timestamp,
            description, configurations, _resource_versions, _load,
            resources_synced, forced_down, _signed),
           (created, started, heartbeat)) in zip(
               rows, zip(stamps, stamps, stamps))]
    if fields:
        return [{field: agent[field] for field in fields}
                for agent in agents]
    return agents


def _agent_dict(row, alive_since, fields=None):
    return _agent_dicts([row], alive_since, fields)[0]


def _alive_since():
    return liveness.alive_since(request.conf().agent_down_time)


def _alive_cutoffs(alive_since):
    """(alive_since, dead_since) for the service's list from the alive=
    query: alive agents only, dead agents only, or (None, None) for all."""
    values = {request.boolean('alive', v)
              for v in flask.request.args.getlist('alive')}
    if values == {True}:
        return alive_since, None
    if values == {False}:
        return None, alive_since
    return None, None


def list_agents():
    request.authorize('get_agent')
    request.check_query(_LIST_QUERY)
    # One cutoff for the filter and for each agent's alive.
    alive_since = _alive_since()
    fields = listing.fields(FIELDS)
    filters = listing.filters(agents_service.FILTER_KEYS,
                              booleans=('admin_state_up', 'forced_down'))
    only_alive, only_dead = _alive_cutoffs(alive_since)
    sort = listing.sort(agents_service.SORT_KEYS)
    limit, reverse = listing.limit(request.conf()), listing.reverse()
    if limit is None and not reverse:
        # The whole fleet: streamed, so the server's memory stays flat
        # however many agents there are (100,000: docs/benchmarks.md).
        batches = request.services().agents.stream(
            filters, sort, listing.marker_id(), alive_since=only_alive,
            dead_since=only_dead)
        return listing.stream(
            'agents', batches,
            lambda rows: _agent_dicts(rows, alive_since, fields))
    rows = request.services().agents.list(
        filters, sort, limit, listing.marker_id(), reverse,
        alive_since=only_alive, dead_since=only_dead)
    return listing.respond(
        'agents', _agent_dicts(rows, alive_since, fields), rows, limit,
        reverse)


def show_agent(agent_id):
    request.authorize('get_agent')
    request.check_query(('fields',))
    fields = listing.fields(FIELDS)
    row = request.services().agents.get(agent_id)
    return request.respond({'agent': _agent_dict(row, _alive_since(),
                                                 fields)})


def update_agent(agent_id):
    request.authorize('update_agent')
    changes = request.json_body(_validate_update)['agent']
    row = request.services().agents.update(agent_id, changes)
    return request.respond({'agent': _agent_dict(row, _alive_since())})


def delete_agent(agent_id):
    request.authorize('delete_agent')
    request.services().agents.delete(agent_id)
    return request.no_content()


def create_agent():
    request.authorize('update_agent')
    raise errors.BadRequest('Agent creation using API is not supported')


ROUTES = {
    '/v2.0/agents': {'GET': list_agents, 'POST': create_agent},
    '/v2.0/agents/<agent_id>': {'GET': show_agent, 'PUT': update_agent,
                                'DELETE': delete_agent},
}

EXTENSION = extension.Extension(
    alias='agent', name='agent',
    description='The agent management extension.',
    updated='2026-11-22T10:00:00-00:00', routes=ROUTES,
    openapi=agents_openapi.OPENAPI)
