"""Authentication middleware, one per auth_strategy.

Each one leaves the identity in the headers keystonemiddleware sets
(X-User-Id, X-Project-Id, X-Roles, ...), so the app builds its request
context the same way whichever strategy is on.
"""

import base64
import binascii
import ipaddress
import socket

import bcrypt
from oslo_log import log as logging

from agentsched.api import errors

LOG = logging.getLogger(__name__)

_IDENTITY_HEADERS = ('HTTP_X_IDENTITY_STATUS', 'HTTP_X_USER_ID',
                     'HTTP_X_USER_NAME', 'HTTP_X_USER', 'HTTP_X_PROJECT_ID',
                     'HTTP_X_PROJECT_NAME', 'HTTP_X_TENANT_ID',
                     'HTTP_X_TENANT_NAME', 'HTTP_X_TENANT', 'HTTP_X_ROLES',
                     'HTTP_X_ROLE', 'HTTP_X_SERVICE_ROLES',
                     'HTTP_X_DOMAIN_ID', 'HTTP_X_SYSTEM_SCOPE')


class UnsafeNoAuth(RuntimeError):
    pass


def _set_admin_identity(environ, user):
    # Never trust identity headers a client sent itself.
    for header in _IDENTITY_HEADERS:
        environ.pop(header, None)
    environ.update(HTTP_X_IDENTITY_STATUS='Confirmed', HTTP_X_USER_ID=user,
                   HTTP_X_USER_NAME=user, HTTP_X_PROJECT_ID='admin',
                   HTTP_X_PROJECT_NAME='admin', HTTP_X_ROLES='admin')


class NoAuth:
    """Every request is an admin. Only for an API bound to loopback."""

    def __init__(self, app):
        self._app = app

    def __call__(self, environ, start_response):
        _set_admin_identity(environ, 'noauth')
        return self._app(environ, start_response)


class HTTPBasicAuth:
    """HTTP basic auth against an htpasswd file of bcrypt entries."""

    def __init__(self, app, user_file):
        self._app = app
        self._user_file = user_file
        self._load_users()  # fail at start, not on the first request

    def _load_users(self):
        users = {}
        with open(self._user_file) as lines:
            for number, line in enumerate(lines, 1):
                line = line.strip()
                if not line or line.startswith('#'):
                    continue
                user, _, hashed = line.partition(':')
                if not hashed.startswith(('$2y$', '$2b$', '$2a$')):
                    raise ValueError('%s line %d: only bcrypt entries '
                                     '(htpasswd -B) are accepted' %
                                     (self._user_file, number))
                users[user] = hashed.encode()
        return users

    def __call__(self, environ, start_response):
        user = self._authenticate(environ.get('HTTP_AUTHORIZATION', ''))
        if user is None:
            body = errors.body('HTTPUnauthorized',
                               'Authentication required: HTTP basic '
                               'credentials missing or not valid')
            start_response('401 Unauthorized', [
                ('Content-Type', 'application/json'),
                ('Content-Length', str(len(body))),
                ('WWW-Authenticate', 'Basic realm="agentsched"')])
            return [body]
        _set_admin_identity(environ, user)
        return self._app(environ, start_response)

    def _authenticate(self, header):
        scheme, _, encoded = header.partition(' ')
        if scheme.lower() != 'basic':
            return None
        try:
            user, _, password = base64.b64decode(
                encoded.strip(), validate=True).decode().partition(':')
        except (binascii.Error, UnicodeDecodeError):
            return None
        # Read on each request so that edits take effect without a restart.
        hashed = self._load_users().get(user)
        if hashed is None or not bcrypt.checkpw(password.encode(), hashed):
            LOG.info('HTTP basic authentication failed for user %r',
                     user[:64])
            return None
        return user


def is_loopback(host):
    try:
        addresses = {info[4][0] for info in socket.getaddrinfo(host, None)}
    except socket.gaierror:
        return False
    return bool(addresses) and all(
        ipaddress.ip_address(address.split('%')[0]).is_loopback
        for address in addresses)


def check_noauth(conf):
    if not is_loopback(conf.bind_host):
        raise UnsafeNoAuth(
            'auth_strategy = noauth makes every request an admin; it is '
            'refused with bind_host = %s. Bind to 127.0.0.1 or choose '
            'keystone or http_basic.' % conf.bind_host)


def wrap(app, conf):
    """The app behind the middleware auth_strategy names."""
    strategy = conf.auth_strategy
    if strategy == 'noauth':
        check_noauth(conf)
        return NoAuth(app)
    if strategy == 'http_basic':
        return HTTPBasicAuth(app, conf.api.http_basic_auth_user_file)
    # Imported here: keystonemiddleware and what it pulls in cost every
    # server process about 10 MB, and only keystone deployments use it.
    from keystonemiddleware import auth_token
    return auth_token.AuthProtocol(app, {'oslo_config_config': conf})
