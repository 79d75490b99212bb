"""The WSGI application: routes, error handling and middleware, built in code.

The routing table is root.ROUTES plus the ROUTES of each extension loaded
from the agentsched.api.extensions namespace; GET /v2.0/openapi.json shows
the whole of it.
"""

import time

import flask
from oslo_log import log as logging
from oslo_middleware import healthcheck
from oslo_middleware import http_proxy_to_wsgi
from oslo_middleware import request_id
from oslo_middleware import sizelimit
import stevedore
from werkzeug import exceptions as http_exceptions

from agentsched import constants
from agentsched.api import auth
from agentsched.api import errors
from agentsched.api import policy
from agentsched.api import request
from agentsched.api import root
from agentsched.db import engine as db_engine
from agentsched import exceptions
from agentsched import metrics

LOG = logging.getLogger(__name__)

HEALTHCHECK_PATH = '/healthcheck'
# Seconds a client should wait after a 503 (the database is away): about
# the time a database restart or a failover to a standby takes.
RETRY_AFTER = 5


def load_extensions():
    manager = stevedore.ExtensionManager(
        constants.NS_API_EXTENSIONS, invoke_on_load=False,
        on_load_failure_callback=_extension_failed)
    return sorted((ext.plugin for ext in manager), key=lambda e: e.alias)


def _extension_failed(_manager, entry_point, exc):
    raise RuntimeError('API extension %s failed to load: %s' % (
        entry_point.name, exc))


def routes(extensions):
    table = dict(root.ROUTES)
    for extension in extensions:
        table.update(extension.routes)
    return table


def collections(table):
    prefix = '/%s/' % constants.API_VERSION
    names = set()
    for path in table:
        rest = path[len(prefix):] if path.startswith(prefix) else ''
        if rest and '/' not in rest and '.' not in rest and \
                rest != 'extensions':
            names.add(rest)
    return sorted(names)


def build_flask_app(services, extensions=None):
    """services: the server's services (services.wiring.build)."""
    extensions = load_extensions() if extensions is None else extensions
    app = flask.Flask('agentsched')
    table = routes(extensions)
    for path, methods in table.items():
        for method, handler in methods.items():
            app.add_url_rule(path, endpoint='%s %s' % (method, path),
                             view_func=handler, methods=[method])
    app.config.update(conf=services.conf, services=services,
                      extensions=extensions,
                      authorizer=policy.Authorizer(services.conf),
                      collections=collections(table))
    app.register_error_handler(errors.APIError, _api_error)
    app.register_error_handler(exceptions.AgentschedError, _domain_error)
    app.register_error_handler(http_exceptions.HTTPException, _http_error)
    app.register_error_handler(Exception, _unexpected_error)
    app.before_request(_start)
    app.after_request(_log_request)
    return app


def _start():
    flask.g.started = time.monotonic()
    request.context()  # request id into the log context from here on
    _refuse_nul()


def _refuse_nul():
    """No id, name or filter holds a NUL, and PostgreSQL refuses them in
    text (a 500 if they got that far): a path with one names nothing, a
    query with one is a bad request. Bodies: see request.json_body."""
    req = flask.request
    if '\x00' in req.path:
        raise errors.NotFound('The resource could not be found.')
    for name, value in req.args.items(multi=True):
        if '\x00' in name or '\x00' in value:
            raise errors.BadRequest('Query parameter %r holds a NUL '
                                    'character' % name.replace('\x00', ''))


def _log_request(response):
    req = flask.request
    seconds = time.monotonic() - flask.g.get('started', time.monotonic())
    LOG.info('%(method)s %(path)s status: %(status)s len: %(length)s '
             'time: %(time).4f', {
                 'method': req.method, 'path': req.full_path.rstrip('?'),
                 'status': response.status_code,
                 'length': response.content_length, 'time': seconds})
    # The route's template, never the path: ids would make a series each.
    metrics.api_request(req.url_rule.rule if req.url_rule else 'unmatched',
                        req.method, response.status_code, seconds)
    return response


def _error_response(status, type_, message, headers=None):
    return flask.Response(errors.body(type_, message), status=status,
                          headers=headers, mimetype='application/json')


def _api_error(exc):
    return _error_response(exc.status, exc.type, exc.message, exc.headers)


def _domain_error(exc):
    return _api_error(errors.from_domain(exc))


def _http_error(exc):
    headers = {}
    if isinstance(exc, http_exceptions.MethodNotAllowed):
        headers['Allow'] = ', '.join(exc.valid_methods or ())
    message = exc.description
    if exc.code == 404:
        message = 'The resource could not be found.'
    return _error_response(exc.code, errors.HTTP_TYPES.get(
        exc.code, 'HTTPError'), message, headers)


def _unexpected_error(exc):
    if db_engine.is_outage(exc):
        # The database is away, not a bug: one line, no traceback, and an
        # answer the client can act on.
        LOG.error('Database unavailable in %s %s: %s', flask.request.method,
                  flask.request.path,
                  type(getattr(exc, 'orig', None) or exc).__name__)
        return _error_response(
            503, 'HTTPServiceUnavailable', 'The database is unavailable; '
            'retry later.', {'Retry-After': str(RETRY_AFTER)})
    LOG.exception('Unexpected error in %s %s', flask.request.method,
                  flask.request.path)
    return _error_response(500, 'HTTPInternalServerError',
                           'Request Failed: internal server error while '
                           'processing your request.')


class _PublicPaths:
    """Paths served without authentication: /healthcheck for load balancers
    and monitoring, and version discovery (GET /), as Neutron does."""

    def __init__(self, authenticated, public, health):
        self._authenticated = authenticated
        self._public = public
        self._health = health

    def __call__(self, environ, start_response):
        path = environ.get('PATH_INFO', '')
        if path == HEALTHCHECK_PATH:
            return self._health(environ, start_response)
        if path in ('/', '') and \
                environ.get('REQUEST_METHOD') in ('GET', 'HEAD'):
            return self._public(environ, start_response)
        return self._authenticated(environ, start_response)


def make_app(services, extensions=None):
    """The full WSGI pipeline, outermost middleware last.

    proxy headers -> request id -> body size limit ->
    (/healthcheck | GET / | authentication -> Flask app)
    """
    conf = services.conf
    flask_app = build_flask_app(services, extensions)
    app = _PublicPaths(auth.wrap(flask_app, conf), flask_app,
                       healthcheck.Healthcheck(None, conf))
    app = sizelimit.RequestBodySizeLimiter(app, conf)
    app = request_id.RequestId(app)
    app = http_proxy_to_wsgi.HTTPProxyToWSGI(app, conf)
    return app
