"""API errors in Neutron's shape: {"NeutronError": {type, message, detail}}."""

import orjson

from agentsched import exceptions


class APIError(Exception):
    """Raised by handlers; the app turns it into a NeutronError response."""
    status = 500
    type = 'HTTPInternalServerError'

    def __init__(self, message, type_=None, status=None, headers=None):
        super().__init__(message)
        self.message = message
        self.type = type_ or self.type
        self.status = status or self.status
        self.headers = headers or {}


class BadRequest(APIError):
    status = 400
    type = 'HTTPBadRequest'


class NotAuthorized(APIError):
    status = 401
    type = 'HTTPUnauthorized'


class Forbidden(APIError):
    status = 403
    type = 'PolicyNotAuthorized'


class NotFound(APIError):
    status = 404
    type = 'HTTPNotFound'


class Conflict(APIError):
    status = 409
    type = 'HTTPConflict'


class PreconditionFailed(APIError):
    status = 412
    type = 'HTTPPreconditionFailed'


# Names of werkzeug's HTTP exceptions, as Neutron (webob) spells them.
HTTP_TYPES = {
    400: 'HTTPBadRequest', 401: 'HTTPUnauthorized', 403: 'HTTPForbidden',
    404: 'HTTPNotFound', 405: 'HTTPMethodNotAllowed',
    406: 'HTTPNotAcceptable', 409: 'HTTPConflict',
    411: 'HTTPLengthRequired', 412: 'HTTPPreconditionFailed',
    413: 'HTTPRequestEntityTooLarge', 415: 'HTTPUnsupportedMediaType',
    500: 'HTTPInternalServerError', 503: 'HTTPServiceUnavailable',
}


def body(type_, message):
    return orjson.dumps({'NeutronError': {'type': type_, 'message': message,
                                          'detail': ''}})


# The one table from a domain refusal to its HTTP status: most specific
# class first.
_DOMAIN_ERRORS = (
    (exceptions.NotFound, NotFound),
    (exceptions.Invalid, BadRequest),
    (exceptions.StaleRevision, PreconditionFailed),
    (exceptions.Conflict, Conflict),
)


def from_domain(exc):
    """The APIError for a service's refusal (exceptions.AgentschedError)."""
    for domain_class, api_class in _DOMAIN_ERRORS:
        if isinstance(exc, domain_class):
            return api_class(exc.message, exc.code)
    return APIError(exc.message, exc.code)
