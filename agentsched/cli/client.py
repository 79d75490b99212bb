"""The CLI's HTTP client: a keystoneauth1 session aimed at --os-url (under
openstack, at the plugin's endpoint: cli/osc_plugin.py).

Every failure leaves here as CLIError with a one-line message; cliff prints
it on stderr and exits 1 (with --debug it also prints the traceback).
"""

import json
import urllib.parse

from keystoneauth1 import exceptions as ks_exceptions

from agentsched import formats

_STATUS_TEXT = {
    400: 'Bad request',
    401: 'Authentication failed',
    403: 'Forbidden',
    404: 'Not found',
    405: 'Method not allowed',
    409: 'Conflict',
    412: 'Precondition failed',
    413: 'Request too large',
    500: 'Server error',
    503: 'Service unavailable',
}
_HINTS = {
    401: ' (check --os-auth-type and the credentials)',
    403: ' (the credentials are valid but not an admin\'s)',
}


class CLIError(Exception):
    """A failure to report as one line, without a traceback."""


def one_line(text, limit=300):
    """text on one line, control characters escaped: it may be a server's
    (or a tenant's, through it) and is printed on someone's terminal."""
    text = formats.printable(' '.join(str(text).split()))
    return text if len(text) <= limit else text[:limit - 3] + '...'


def _server_message(response):
    """The message of a NeutronError body, or of whatever else came back."""
    try:
        body = response.json()
    except ValueError:
        return one_line(response.text or '')
    if isinstance(body, dict):
        # NeutronError is ours; {"error": {...}} is keystonemiddleware's.
        for key in ('NeutronError', 'error'):
            error = body.get(key)
            if isinstance(error, dict) and error.get('message'):
                return one_line(error['message'])
    return one_line(json.dumps(body))


def error_message(response):
    """One line for an HTTP error response (status >= 400)."""
    status = response.status_code
    text = _STATUS_TEXT.get(status, response.reason or 'HTTP error')
    message = _server_message(response) or response.reason or ''
    line = '%s (HTTP %d): %s%s' % (text, status, message,
                                   _HINTS.get(status, ''))
    request_id = response.headers.get('x-openstack-request-id')
    if request_id:
        line += ' [request %s]' % request_id
    return line


def _root_cause(exc):
    """The innermost OS error under a connection failure, e.g. 'Connection
    refused' or 'Name or service not known', which says what is wrong."""
    seen, todo, found = set(), [exc], None
    while todo:
        current = todo.pop()
        if current is None or id(current) in seen:
            continue
        seen.add(id(current))
        if isinstance(current, OSError) and current.strerror:
            found = current.strerror
        # urllib3 keeps the cause in .reason, requests in .args[0].
        todo.extend([current.__cause__, current.__context__,
                     getattr(current, 'reason', None)])
        todo.extend(a for a in getattr(current, 'args', ())
                    if isinstance(a, BaseException))
    return found


# Where the standalone CLI takes the API's URL from.
URL_OPTIONS = '--os-url or AGENTSCHED_URL'


def transport_error(exc, url, url_options=URL_OPTIONS):
    """One line for a keystoneauth1 failure that has no HTTP response;
    url_options: where the URL came from."""
    if isinstance(exc, ks_exceptions.ConnectTimeout):
        return 'Timed out connecting to the agentsched API at %s' % url
    if isinstance(exc, ks_exceptions.SSLError):
        return 'TLS error talking to %s: %s (see --os-cacert, --insecure)' % (
            url, one_line(exc))
    if isinstance(exc, ks_exceptions.ConnectFailure):
        return ('Cannot connect to the agentsched API at %s: %s (is '
                'agentsched-server running there? see %s)' % (
                    url, _root_cause(exc) or 'connection failed',
                    url_options))
    if isinstance(exc, ks_exceptions.RequestTimeout):
        return 'The agentsched API at %s did not answer in time' % url
    return 'Request to %s failed: %s' % (url, one_line(exc))


class Client:
    """JSON requests to the API; raises CLIError for anything but 2xx."""

    def __init__(self, session, url, url_options=URL_OPTIONS):
        self._session = session
        self._authenticated = False
        self.url = url.rstrip('/')
        self._url_options = url_options

    def _authenticate(self):
        # Apart from the API call so that a failure says it was the login,
        # e.g. to Keystone at --os-auth-url, and not the agentsched API.
        if self._authenticated or self._session.auth is None:
            return
        try:
            self._session.get_auth_headers()
        except ks_exceptions.ConnectFailure as exc:
            raise CLIError('Cannot connect to the identity service: %s '
                           '(see --os-auth-url)' % (
                               _root_cause(exc) or one_line(exc))) from exc
        except ks_exceptions.ClientException as exc:
            raise CLIError('Authentication failed: %s' % one_line(
                getattr(exc, 'message', None) or exc)) from exc
        self._authenticated = True

    def request(self, method, path, params=None, body=None, headers=None,
                secret=False):
        """secret: the body carries credentials; keystoneauth1 would log it
        verbatim at debug level (--debug, -v -v), so the exchange is not
        logged at all."""
        self._authenticate()
        kwargs = {'raise_exc': False, 'endpoint_override': self.url,
                  'headers': dict(headers or {}, Accept='application/json')}
        if params:
            kwargs['params'] = params
        if body is not None:
            kwargs['json'] = body
        if secret:
            kwargs['log'] = False
        try:
            response = self._session.request(path, method, **kwargs)
        except ks_exceptions.ClientException as exc:
            raise CLIError(transport_error(exc, self.url,
                                           self._url_options)) from exc
        if response.status_code >= 400:
            raise CLIError(error_message(response))
        if response.status_code == 204 or not response.content:
            return None
        try:
            return response.json()
        except ValueError as exc:
            raise CLIError('%s %s%s answered %d with a body that is not '
                           'JSON' % (method, self.url, path,
                                     response.status_code)) from exc

    def get(self, path, params=None):
        return self.request('GET', path, params=params)

    def post(self, path, body, secret=False):
        return self.request('POST', path, body=body, secret=secret)

    def put(self, path, body, headers=None, secret=False):
        return self.request('PUT', path, body=body, headers=headers,
                            secret=secret)

    def delete(self, path):
        return self.request('DELETE', path)

    def list_all(self, path, collection, params):
        """Every item of a collection, following its next links, which
        exist only when params has a limit (the API pages by marker)."""
        items, params = [], list(params)
        while True:
            body = self.get(path, params)
            page = body.get(collection, [])
            items.extend(page)
            next_params = _next_params(body.get(collection + '_links', ()))
            if next_params is None or not page:
                return items
            # Re-request our own path: the link's host is the server's view
            # of itself, which a proxy in between may not share.
            params = next_params


def _next_params(links):
    for link in links:
        if link.get('rel') == 'next':
            query = urllib.parse.urlsplit(link['href']).query
            return urllib.parse.parse_qsl(query, keep_blank_values=True)
    return None
