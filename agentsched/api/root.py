"""Handlers of the API's own routes: versions, extensions, OpenAPI."""

import flask

from agentsched import constants
from agentsched import metrics
from agentsched.api import errors
from agentsched.api import openapi
from agentsched.api import request


def _base_url():
    return flask.request.host_url.rstrip('/')


def versions():
    """Version discovery, unauthenticated (clients read it first)."""
    return request.respond({'versions': [{
        'id': constants.API_VERSION, 'status': 'CURRENT',
        'links': [{'rel': 'self', 'href': '%s/%s/' % (
            _base_url(), constants.API_VERSION)}]}]})


def version_resources():
    """The collections of v2.0, as Neutron lists them."""
    collections = flask.current_app.config['collections']
    return request.respond({'resources': [{
        'name': name[:-1], 'collection': name,
        'links': [{'rel': 'self', 'href': '%s/%s/%s' % (
            _base_url(), constants.API_VERSION, name)}]}
        for name in collections]})


def _extension_dict(extension):
    return {'alias': extension.alias, 'name': extension.name,
            'description': extension.description,
            'updated': extension.updated, 'links': []}


def list_extensions():
    request.check_query(())
    return request.respond({'extensions': [
        _extension_dict(e)
        for e in flask.current_app.config['extensions']]})


def show_extension(alias):
    for extension in flask.current_app.config['extensions']:
        if extension.alias == alias:
            return request.respond({'extension': _extension_dict(extension)})
    raise errors.NotFound('Extension with alias %s does not exist' % alias,
                          'ExtensionNotFound')


def openapi_document():
    request.authorize('get_openapi')
    return request.respond(openapi.document(flask.current_app.config[
        'extensions'], _base_url()))


def metrics_document():
    """The Prometheus metrics of this server process (admins by policy;
    [metrics] port serves them without authentication)."""
    request.check_query(())
    request.authorize('get_metrics')
    if not request.conf().metrics.enabled:
        raise errors.NotFound('Metrics are off ([metrics] enabled)')
    body, content_type = metrics.exposition()
    return flask.Response(body, content_type=content_type)


ROUTES = {
    '/': {'GET': versions},
    '/v2.0/': {'GET': version_resources},
    # Neutron answers both; a redirect would cost clients a round trip.
    '/v2.0': {'GET': version_resources},
    '/v2.0/extensions': {'GET': list_extensions},
    '/v2.0/extensions/<alias>': {'GET': show_extension},
    '/v2.0/openapi.json': {'GET': openapi_document},
    '/metrics': {'GET': metrics_document},
}
