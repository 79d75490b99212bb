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
from agentsched.db import agents as agents_db
from agentsched.extensions import agents_openapi

FIELDS = ('id', 'agent_type', 'binary', 'topic', 'host', 'admin_state_up',
          'alive', 'created_at', 'started_at', 'heartbeat_timestamp',
          'description', 'configurations', 'availability_zone',
          'resources_synced', 'forced_down')
_LIST_QUERY = agents_db.FILTER_COLUMNS + ('alive',) + listing.PAGING_PARAMS

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
# admin_state_up=false drains the agent (the health monitor moves its
# resources, rate-limited); forced_down=true makes it dead at once.
_UPDATABLE = ('admin_state_up', 'forced_down', 'description')


def _time(value):
    # Neutron shows agent times as 'YYYY-MM-DD HH:MM:SS'; isoformat is
    # several times cheaper than strftime, which shows in a 10,000-row list.
    return value.isoformat(' ', 'seconds')


def _agent_dict(row, alive_since, fields=None):
    """The API's agent; alive_since: the liveness rule's cutoff, computed
    once per request (liveness.alive_since)."""
    # Unpacked in the agents table's column order: attribute access on
    # result rows costs more than the rest of this function on long lists.
    (agent_id, agent_type, binary, topic, host, availability_zone,
     admin_state_up, created_at, started_at, heartbeat_timestamp,
     description, configurations, _resource_versions, _load,
     resources_synced, forced_down, _signed) = row
    agent = {
        'id': agent_id, 'agent_type': agent_type, 'binary': binary,
        'topic': topic, 'host': host, 'admin_state_up': admin_state_up,
        'alive': liveness.is_alive(heartbeat_timestamp, forced_down,
                                   alive_since),
        'created_at': _time(created_at),
        'started_at': _time(started_at),
        'heartbeat_timestamp': _time(heartbeat_timestamp),
        'description': description,
        # Stored as JSON text we wrote ourselves: embed, never re-parse.
        'configurations': orjson.Fragment(configurations),
        'availability_zone': availability_zone,
        'resources_synced': resources_synced,
        'forced_down': forced_down,
    }
    if fields:
        return {field: agent[field] for field in fields}
    return agent


def _alive_since(conf):
    return liveness.alive_since(conf.agent_down_time)


def _not_found(agent_id):
    return errors.NotFound('Agent %s could not be found.' % agent_id,
                           'AgentNotFound')


def _get_or_404(connection, agent_id):
    row = agents_db.get(connection, agent_id)
    if row is None:
        raise _not_found(agent_id)
    return row


def _alive_cutoffs(conf, now):
    values = {request.boolean('alive', v)
              for v in flask.request.args.getlist('alive')}
    cutoff = liveness.alive_since(conf.agent_down_time, now)
    if values == {True}:
        return cutoff, None
    if values == {False}:
        return None, cutoff
    return None, None


def list_agents():
    request.authorize('get_agent')
    request.check_query(_LIST_QUERY)
    conf = request.conf()
    now = liveness.utcnow()
    fields = listing.fields(FIELDS)
    filters = listing.filters(agents_db.FILTER_COLUMNS,
                              booleans=('admin_state_up', 'forced_down'))
    alive_since, dead_since = _alive_cutoffs(conf, now)
    sort = listing.sort(agents_db.SORT_COLUMNS)
    limit, reverse = listing.limit(conf), listing.reverse()
    with request.engine().connect() as connection:
        marker = listing.marker(connection, agents_db.get, 'an agent')
        rows = agents_db.query(connection, filters, alive_since, dead_since,
                               sort, limit, marker, reverse)
    cutoff = liveness.alive_since(conf.agent_down_time, now)
    return listing.respond(
        'agents', [_agent_dict(row, cutoff, fields) for row in rows], rows,
        limit, reverse)


def show_agent(agent_id):
    request.authorize('get_agent')
    request.check_query(('fields',))
    fields = listing.fields(FIELDS)
    with request.engine().connect() as connection:
        row = _get_or_404(connection, agent_id)
    conf = request.conf()
    return request.respond({'agent': _agent_dict(row, _alive_since(conf),
                                                 fields)})


def update_agent(agent_id):
    request.authorize('update_agent')
    body = request.json_body(_validate_update)
    changes = body['agent']
    unknown = sorted(set(changes) - set(_UPDATABLE))
    if unknown:
        raise errors.BadRequest(
            'Attribute(s) %s of an agent cannot be updated; only %s can' % (
                ', '.join(unknown), ', '.join(_UPDATABLE)))
    with request.engine().begin() as connection:
        before = _get_or_404(connection, agent_id)
        if changes:
            agents_db.update(connection, agent_id, changes)
        row = agents_db.get(connection, agent_id)
    notifier = flask.current_app.config['notifier']
    if notifier is not None and (
            row.admin_state_up != before.admin_state_up or
            row.forced_down != before.forced_down):
        notifier.agent_updated(row, row.admin_state_up)
    conf = request.conf()
    return request.respond({'agent': _agent_dict(row, _alive_since(conf))})


def delete_agent(agent_id):
    request.authorize('delete_agent')
    conf = request.conf()
    with request.engine().begin() as connection:
        row = _get_or_404(connection, agent_id)
        bound = agents_db.bound_resource_count(connection, agent_id)
        if bound and liveness.agent_is_alive(row, conf.agent_down_time):
            raise errors.Conflict(
                'Agent %s is alive and hosts %d resource(s): disable it '
                '(admin_state_up=false) and move its resources first, or '
                'wait until it is down' % (agent_id, bound), 'AgentInUse')
        agents_db.delete(connection, agent_id)
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
