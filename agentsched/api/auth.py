"""Authentication middleware, one per auth_strategy.

Each one leaves the identity in the headers keystonemiddleware sets
(X-User-Id, X-Project-Id, X-Roles, ...), so the app builds its request
context the same way whichever strategy is on.
"""

import base64
import binascii
import ipaddress
import socket
import threading
import time

import bcrypt
from oslo_log import log as logging

from agentsched.api import errors

LOG = logging.getLogger(__name__)

# Every identity header oslo.context reads (RequestContext.from_environ);
# a client must not be able to set any of them itself.
_IDENTITY_HEADERS = (
    'HTTP_X_IDENTITY_STATUS', 'HTTP_X_USER_ID', 'HTTP_X_USER_NAME',
    'HTTP_X_USER', 'HTTP_X_USER_DOMAIN_ID', 'HTTP_X_USER_DOMAIN_NAME',
    'HTTP_X_PROJECT_ID', 'HTTP_X_PROJECT_NAME', 'HTTP_X_PROJECT_DOMAIN_ID',
    'HTTP_X_PROJECT_DOMAIN_NAME', 'HTTP_X_TENANT_ID', 'HTTP_X_TENANT_NAME',
    'HTTP_X_TENANT', 'HTTP_X_ROLES', 'HTTP_X_ROLE', 'HTTP_X_DOMAIN_ID',
    'HTTP_X_DOMAIN_NAME', 'HTTP_X_SYSTEM_SCOPE', 'HTTP_OPENSTACK_SYSTEM_SCOPE',
    'HTTP_X_IS_ADMIN_PROJECT', 'HTTP_X_SERVICE_USER_ID',
    'HTTP_X_SERVICE_USER_NAME', 'HTTP_X_SERVICE_USER_DOMAIN_ID',
    'HTTP_X_SERVICE_USER_DOMAIN_NAME', 'HTTP_X_SERVICE_PROJECT_ID',
    'HTTP_X_SERVICE_PROJECT_NAME', 'HTTP_X_SERVICE_PROJECT_DOMAIN_ID',
    'HTTP_X_SERVICE_PROJECT_DOMAIN_NAME', 'HTTP_X_SERVICE_ROLES',
    'HTTP_X_SERVICE_TOKEN', 'HTTP_X_AUTH_TOKEN', 'HTTP_X_STORAGE_TOKEN',
    'HTTP_X_USER_DOMAIN', 'HTTP_X_PROJECT_DOMAIN')


class UnsafeNoAuth(RuntimeError):
    pass


def _set_identity(environ, user, project_id, roles):
    # Never trust identity headers a client sent itself.
    for header in _IDENTITY_HEADERS:
        environ.pop(header, None)
    environ.update(HTTP_X_IDENTITY_STATUS='Confirmed', HTTP_X_USER_ID=user,
                   HTTP_X_USER_NAME=user, HTTP_X_ROLES=','.join(roles))
    if project_id:
        environ.update(HTTP_X_PROJECT_ID=project_id,
                       HTTP_X_PROJECT_NAME=project_id)


def _set_admin_identity(environ, user):
    _set_identity(environ, user, 'admin', ['admin'])


class NoAuth:
    """Every request is an admin. Only for an API bound to loopback."""

    def __init__(self, app):
        self._app = app

    def __call__(self, environ, start_response):
        _set_admin_identity(environ, 'noauth')
        return self._app(environ, start_response)


# bcrypt reads at most 72 bytes of a password; a longer one would be
# checked on its first 72 alone, so it is refused.
MAX_PASSWORD_BYTES = 72
_BCRYPT_PREFIXES = ('$2y$', '$2b$', '$2a$')


def _refuse(start_response, status, type_, message, headers):
    body = errors.body(type_, message)
    start_response(status, [('Content-Type', 'application/json'),
                            ('Content-Length', str(len(body)))] + headers)
    return [body]


class FailureLimiter:
    """Failed logins per source address in a sliding minute: past the
    limit, a source is refused before any bcrypt work, so a wrong-password
    flood costs one source its own requests, not everyone's CPU."""

    WINDOW = 60.0
    MAX_SOURCES = 10000

    def __init__(self, limit):
        self._limit = limit
        self._lock = threading.Lock()
        self._failures = {}  # source -> [window start, count]

    def blocked(self, source, now=None):
        """Seconds until source may try again, or 0."""
        now = time.monotonic() if now is None else now
        with self._lock:
            entry = self._failures.get(source)
            if entry is None or now - entry[0] >= self.WINDOW:
                return 0
            if entry[1] < self._limit:
                return 0
            return max(1, int(entry[0] + self.WINDOW - now) + 1)

    def failed(self, source, now=None):
        now = time.monotonic() if now is None else now
        with self._lock:
            entry = self._failures.get(source)
            if entry is None or now - entry[0] >= self.WINDOW:
                if len(self._failures) >= self.MAX_SOURCES:
                    self._forget_expired(now)
                self._failures[source] = [now, 1]
            else:
                entry[1] += 1

    def _forget_expired(self, now):
        for source in [s for s, (start, _) in self._failures.items()
                       if now - start >= self.WINDOW]:
            del self._failures[source]
        while len(self._failures) >= self.MAX_SOURCES:
            # All current: the oldest window goes first.
            del self._failures[next(iter(self._failures))]


class HTTPBasicAuth:
    """HTTP basic auth against an htpasswd file of bcrypt entries.

    identity_file: 'user:project_id:role,role' lines giving each user a
    project and roles (reader, member, admin); a user it does not list has
    neither. Without one, every user is an admin of project 'admin'.
    """

    def __init__(self, app, user_file, identity_file=None, failure_limit=10):
        self._app = app
        self._user_file = user_file
        self._identity_file = identity_file
        self._limiter = FailureLimiter(failure_limit)
        self._dummies = {}  # bcrypt cost -> a hash nobody's password matches
        # Fail at start, not on the first request.
        self._dummy(self._load_users())
        self._load_identities()
        if identity_file is None:
            LOG.warning('auth_strategy = http_basic without [api] '
                        'http_basic_identity_file: every user of %s is an '
                        'admin', user_file)

    def _load_users(self):
        users = {}
        with open(self._user_file) as lines:
            for number, line in enumerate(lines, 1):
                line = line.strip()
                if not line or line.startswith('#'):
                    continue
                user, _, hashed = line.partition(':')
                if not hashed.startswith(_BCRYPT_PREFIXES):
                    raise ValueError('%s line %d: only bcrypt entries '
                                     '(htpasswd -B) are accepted' %
                                     (self._user_file, number))
                users[user] = hashed.encode()
        return users

    def _load_identities(self):
        if self._identity_file is None:
            return None
        identities = {}
        with open(self._identity_file) as lines:
            for number, line in enumerate(lines, 1):
                line = line.strip()
                if not line or line.startswith('#'):
                    continue
                fields = line.split(':')
                if len(fields) != 3 or not fields[0]:
                    raise ValueError('%s line %d: expected user:project_id:'
                                     'role[,role...]' % (self._identity_file,
                                                         number))
                user, project_id, roles = fields
                identities[user] = (project_id, [
                    role.strip() for role in roles.split(',') if role.strip()])
        return identities

    def _dummy(self, users):
        """A hash of the file's highest cost, so an unknown user costs what
        a known one does (no enumeration by timing)."""
        cost = max([int(hashed[4:6]) for hashed in users.values()] or [12])
        if cost not in self._dummies:
            self._dummies[cost] = bcrypt.hashpw(
                b'no such user', bcrypt.gensalt(rounds=cost))
        return self._dummies[cost]

    def __call__(self, environ, start_response):
        source = environ.get('REMOTE_ADDR', '')
        wait = self._limiter.blocked(source)
        if wait:
            return _refuse(start_response, '429 Too Many Requests',
                           'HTTPTooManyRequests', 'Too many failed logins '
                           'from this address; retry later',
                           [('Retry-After', str(wait))])
        user = self._authenticate(environ.get('HTTP_AUTHORIZATION', ''))
        if user is None:
            if environ.get('HTTP_AUTHORIZATION'):
                self._limiter.failed(source)
            return _refuse(start_response, '401 Unauthorized',
                           'HTTPUnauthorized', 'Authentication required: '
                           'HTTP basic credentials missing or not valid',
                           [('WWW-Authenticate', 'Basic realm="agentsched"')])
        identities = self._load_identities()
        if identities is None:
            _set_admin_identity(environ, user)
        else:
            project_id, roles = identities.get(user, (None, []))
            _set_identity(environ, user, project_id, roles)
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
        users = self._load_users()
        hashed = users.get(user)
        secret = password.encode()
        # Every refusal pays one bcrypt check, as a known user's does.
        matched = bcrypt.checkpw(secret[:MAX_PASSWORD_BYTES],
                                 hashed or self._dummy(users))
        if hashed is None or not matched or \
                len(secret) > MAX_PASSWORD_BYTES:
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
        return HTTPBasicAuth(app, conf.api.http_basic_auth_user_file,
                             conf.api.http_basic_identity_file,
                             conf.api.http_basic_failure_limit)
    # Imported here: keystonemiddleware and what it pulls in cost every
    # server process about 10 MB, and only keystone deployments use it.
    from keystonemiddleware import auth_token
    return auth_token.AuthProtocol(app, {'oslo_config_config': conf})
