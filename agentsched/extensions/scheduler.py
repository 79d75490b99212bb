"""The scheduler extension (admin): the health monitor's state, failover.

GET /v2.0/scheduler/health: the leading server, when it last checked, each
storm guard's state and the failover counters, as the leader last wrote
them (any server answers). PUT /v2.0/lb/vips/{id}/failover (and
/v2.0/vpn/connections/{id}/failover) fails one resource over now, as
Octavia's load balancer failover does: 202 with the resource.
"""

import fastjsonschema
import flask
import orjson

from agentsched.api import extension
from agentsched.api import request
from agentsched.api import times
from agentsched.extensions import resources
from agentsched.extensions import scheduler_openapi

# A failover takes no parameters: no body, or an empty object.
_validate_failover = fastjsonschema.compile(
    {'type': 'object', 'additionalProperties': False})


def show_health():
    request.authorize('get_scheduler_health')
    request.check_query(())
    health = request.services().failover.health()
    return request.respond({'scheduler_health': {
        'leader': health.leader,
        'leader_since': times.iso_time(health.leader_since),
        'updated_at': times.iso_time(health.updated_at),
        'current': health.current,
        'monitor': (orjson.Fragment(health.state)
                    if health.state is not None else None)}})


def _failover_handler(collection):
    def failover(resource_id):
        request.authorize('failover_resource')
        if flask.request.content_length:
            request.json_body(_validate_failover)
        done = request.services().failover.fail_over_by_admin(
            resource_id, collection.resource_type)
        if done is None:
            raise resources.not_found(collection, resource_id)
        row, outcome = done
        body = {collection.singular: resources.resource_dict(
            row, resources.kind_of(collection)), 'failover': outcome}
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
