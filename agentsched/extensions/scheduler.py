"""The scheduler extension (admin): the health monitor's state, failover.

GET /v2.0/scheduler/health: the leading server, when it last checked, each
storm guard's state and the failover counters, as the leader last wrote
them (any server answers). PUT /v2.0/lb/vips/{id}/failover (and
/v2.0/vpn/connections/{id}/failover) fails one resource over now, as
Octavia's load balancer failover does: 202 with the resource.
"""

import datetime

import fastjsonschema
import flask
import orjson

from agentsched import constants
from agentsched import liveness
from agentsched.api import errors
from agentsched.api import extension
from agentsched.api import request
from agentsched.db import failover as failover_db
from agentsched.db import resources as resources_db
from agentsched.extensions import resources
from agentsched.extensions import scheduler_openapi
from agentsched.services import failover as failover_service

_TIME_FORMAT = '%Y-%m-%dT%H:%M:%SZ'
# The leader writes its state every check; three missed checks and the
# state shown is no longer current (no leader, or a stuck one).
_CURRENT_CHECKS = 3
# A failover takes no parameters: no body, or an empty object.
_validate_failover = fastjsonschema.compile(
    {'type': 'object', 'additionalProperties': False})


def show_health():
    request.authorize('get_scheduler_health')
    request.check_query(())
    conf = request.conf()
    with request.engine().connect() as connection:
        row = failover_db.load_health(connection)
    if row is None:
        return request.respond({'scheduler_health': {
            'leader': None, 'leader_since': None, 'updated_at': None,
            'current': False, 'monitor': None}})
    age = liveness.utcnow() - row.updated_at
    current = age <= datetime.timedelta(
        seconds=_CURRENT_CHECKS * conf.health.health_check_interval)
    return request.respond({'scheduler_health': {
        'leader': row.leader,
        'leader_since': row.leader_since.strftime(_TIME_FORMAT),
        'updated_at': row.updated_at.strftime(_TIME_FORMAT),
        'current': current,
        'monitor': orjson.Fragment(row.state)}})


def _failover_handler(collection):
    def failover(resource_id):
        request.authorize('failover_resource')
        if flask.request.content_length:
            request.json_body(_validate_failover)
        with request.engine().connect() as connection:
            row = resources_db.get(connection, resource_id,
                                   collection.resource_type)
        if row is None:
            raise resources.not_found(collection, resource_id)
        if row.status == constants.STATUS_PENDING_DELETE:
            raise errors.Conflict('%s %s is being deleted' % (
                collection.singular, resource_id), 'ResourceBeingDeleted')
        try:
            outcome = flask.current_app.config['failover'].failover_one(
                resource_id)
        except failover_service.NoOtherDevice as exc:
            raise errors.Conflict(
                '%s %s stays where it is, serving: no other device can take '
                'it: %s' % (collection.singular, resource_id, exc),
                'NoValidCandidate')
        kind = resources.kind_of(collection)
        service = resources.service()
        body = {collection.singular: resources.resource_dict(
            service.get(resource_id), kind), 'failover': outcome}
        return request.respond(body, status=202)
    failover.__name__ = 'failover_' + collection.resource_type
    return failover


def _routes():
    table = {'/v2.0/scheduler/health': {'GET': show_health}}
    for collection in resources.COLLECTIONS:
        table[collection.path + '/<resource_id>/failover'] = {
            'PUT': _failover_handler(collection)}
    return table


ROUTES = _routes()

EXTENSION = extension.Extension(
    alias='scheduler-health', name='Scheduler health and failover',
    description='The health monitor\'s leader, storm guards and failover '
                'counters; failing one resource over by hand.',
    updated='2026-11-22T10:00:00-00:00', routes=ROUTES,
    openapi=scheduler_openapi.OPENAPI)
