"""API errors in Neutron's shape: {"NeutronError": {type, message, detail}}."""

import orjson


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
    500: 'HTTPInternalServerError',
}


def body(type_, message):
    return orjson.dumps({'NeutronError': {'type': type_, 'message': message,
                                          'detail': ''}})
