"""The agents extension: Neutron's /v2.0/agents, in its paths and shapes."""

import urllib.parse

import fastjsonschema
import flask
import orjson

from agentsched import constants
from agentsched.api import errors
from agentsched.api import extension
from agentsched.api import request
from agentsched.db import agents as agents_db
from agentsched.extensions import agents_openapi
from agentsched.health import liveness

FIELDS = ('id', 'agent_type', 'binary', 'topic', 'host', 'admin_state_up',
          'alive', 'created_at', 'started_at', 'heartbeat_timestamp',
          'description', 'configurations', 'availability_zone',
          'resources_synced')
_BOOLEAN_FILTERS = ('admin_state_up', 'alive')
_LIST_QUERY = (agents_db.FILTER_COLUMNS + ('alive', 'fields', 'sort_key',
               'sort_dir', 'limit', 'marker', 'page_reverse'))
_TIME_FORMAT = '%Y-%m-%d %H:%M:%S'

UPDATE_SCHEMA = {
    'type': 'object',
    'required': ['agent'],
    'additionalProperties': False,
    'properties': {'agent': {
        'type': 'object',
        'properties': {
            'admin_state_up': {'type': 'boolean'},
            'description': {'type': ['string', 'null'],
                            'maxLength': constants.MAX_STRING_LENGTH},
        },
    }},
}
_validate_update = fastjsonschema.compile(UPDATE_SCHEMA)


def _agent_dict(row, now, down_time, fields=None):
    agent = {}
    for field in fields or FIELDS:
        if field == 'alive':
            value = liveness.is_alive(row.heartbeat_timestamp, down_time, now)
        elif field == 'configurations':
            # Stored as JSON text we wrote ourselves: embed, never re-parse.
            value = orjson.Fragment(row.configurations)
        elif field in ('created_at', 'started_at', 'heartbeat_timestamp'):
            value = getattr(row, field).strftime(_TIME_FORMAT)
        else:
            value = getattr(row, field)
        agent[field] = value
    return agent


def _not_found(agent_id):
    return errors.NotFound('Agent %s could not be found.' % agent_id,
                           'AgentNotFound')


def _get_or_404(connection, agent_id):
    row = agents_db.get(connection, agent_id)
    if row is None:
        raise _not_found(agent_id)
    return row


def _fields():
    fields = flask.request.args.getlist('fields')
    unknown = sorted(set(fields) - set(FIELDS))
    if unknown:
        raise errors.BadRequest('Unknown field(s) %s; agents have: %s' % (
            ', '.join(unknown), ', '.join(FIELDS)))
    return list(dict.fromkeys(fields)) or None


def _filters():
    args = flask.request.args
    filters = {}
    for name in agents_db.FILTER_COLUMNS:
        values = args.getlist(name)
        if not values:
            continue
        if name in _BOOLEAN_FILTERS:
            values = list({request.boolean(name, v) for v in values})
        filters[name] = values
    return filters


def _alive_cutoffs(conf, now):
    values = {request.boolean('alive', v)
              for v in flask.request.args.getlist('alive')}
    cutoff = liveness.alive_since(conf.agent_down_time, now)
    if values == {True}:
        return cutoff, None
    if values == {False}:
        return None, cutoff
    return None, None


def _sort():
    args = flask.request.args
    keys, directions = args.getlist('sort_key'), args.getlist('sort_dir')
    if directions and len(directions) != len(keys):
        raise errors.BadRequest('The number of sort_keys and sort_dirs '
                                'must be same')
    for key in keys:
        if key not in agents_db.SORT_COLUMNS:
            raise errors.BadRequest('%s is invalid attribute for sort_key; '
                                    'sortable: %s' % (key, ', '.join(
                                        sorted(agents_db.SORT_COLUMNS))))
    for direction in directions:
        if direction not in ('asc', 'desc'):
            raise errors.BadRequest("%s is invalid value for sort_dir; "
                                    "valid values are 'asc' and 'desc'"
                                    % direction)
    directions = directions or ['asc'] * len(keys)
    return [(k, d == 'asc') for k, d in zip(keys, directions)] or \
        [('id', True)]


def _limit(conf):
    value = flask.request.args.get('limit')
    if value is None:
        return None
    limit = request.integer('limit', value)
    # Neutron's rule: 0 means no limit; the maximum still applies.
    if limit == 0 or limit > conf.api.pagination_max_limit:
        return conf.api.pagination_max_limit
    return limit


def _links(rows, limit, reverse):
    """agents_links as Neutron builds them: next and previous by marker."""
    if limit is None or not rows:
        return []
    url = flask.request.base_url
    query = [(k, v) for k, v in flask.request.args.items(multi=True)
             if k not in ('marker', 'page_reverse')]
    links = []
    if not (len(rows) < limit and not reverse):
        links.append({'rel': 'next', 'href': '%s?%s' % (url, urllib.parse.
                      urlencode(query + [('marker', rows[-1].id)]))})
    if not (len(rows) < limit and reverse):
        links.append({'rel': 'previous', 'href': '%s?%s' % (
            url, urllib.parse.urlencode(query + [
                ('marker', rows[0].id), ('page_reverse', 'True')]))})
    return links


def list_agents():
    request.authorize('get_agent')
    request.check_query(_LIST_QUERY)
    conf = request.conf()
    now = liveness.utcnow()
    fields, filters = _fields(), _filters()
    alive_since, dead_since = _alive_cutoffs(conf, now)
    sort, limit = _sort(), _limit(conf)
    reverse = request.boolean(
        'page_reverse', flask.request.args.get('page_reverse', 'False'))
    marker_id = flask.request.args.get('marker')
    with request.engine().connect() as connection:
        marker = None
        if marker_id is not None:
            marker = agents_db.get(connection, marker_id)
            if marker is None:
                raise errors.BadRequest('marker %s is not an agent id' %
                                        marker_id)
        rows = agents_db.query(connection, filters, alive_since, dead_since,
                               sort, limit, marker, reverse)
    body = {'agents': [_agent_dict(row, now, conf.agent_down_time, fields)
                       for row in rows]}
    links = _links(rows, limit, reverse)
    if links:
        body['agents_links'] = links
    return request.respond(body)


def show_agent(agent_id):
    request.authorize('get_agent')
    request.check_query(('fields',))
    fields = _fields()
    with request.engine().connect() as connection:
        row = _get_or_404(connection, agent_id)
    conf = request.conf()
    return request.respond({'agent': _agent_dict(
        row, liveness.utcnow(), conf.agent_down_time, fields)})


def update_agent(agent_id):
    request.authorize('update_agent')
    body = request.json_body(_validate_update)
    changes = body['agent']
    unknown = sorted(set(changes) - {'admin_state_up', 'description'})
    if unknown:
        raise errors.BadRequest(
            'Attribute(s) %s of an agent cannot be updated; only '
            'admin_state_up and description can' % ', '.join(unknown))
    with request.engine().begin() as connection:
        before = _get_or_404(connection, agent_id)
        if changes:
            agents_db.update(connection, agent_id, changes)
        row = agents_db.get(connection, agent_id)
    notifier = flask.current_app.config['notifier']
    if notifier is not None and \
            row.admin_state_up != before.admin_state_up:
        notifier.agent_updated(row, row.admin_state_up)
    conf = request.conf()
    return request.respond({'agent': _agent_dict(
        row, liveness.utcnow(), conf.agent_down_time)})


def delete_agent(agent_id):
    request.authorize('delete_agent')
    conf = request.conf()
    with request.engine().begin() as connection:
        row = _get_or_404(connection, agent_id)
        bound = agents_db.bound_resource_count(connection, agent_id)
        if bound and liveness.is_alive(row.heartbeat_timestamp,
                                       conf.agent_down_time):
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
