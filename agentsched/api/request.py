"""What handlers need from a request: its context, query and JSON body."""

import json

import fastjsonschema
import flask
from oslo_context import context as oslo_context
import orjson

from agentsched.api import errors
from agentsched.api import openapi

_TRUE = ('True', 'true', '1')
_FALSE = ('False', 'false', '0')


def context():
    """The request context built from the identity headers auth set."""
    ctx = flask.g.get('context')
    if ctx is None:
        ctx = oslo_context.RequestContext.from_environ(flask.request.environ)
        flask.g.context = ctx
    return ctx


def authorize(rule, target=None):
    flask.current_app.config['authorizer'].authorize(context(), rule, target)


def is_admin():
    """Whether the caller passes context_is_admin (it sees every
    project's objects)."""
    return flask.current_app.config['authorizer'].is_admin(context())


# The project of a caller without one (an unscoped or domain-scoped token):
# nothing belongs to it, so such a caller sees nothing, never all.
NO_PROJECT = ''


def visible_project():
    """The project whose objects the caller sees; None: all (an admin)."""
    if is_admin():
        return None
    return context().project_id or NO_PROJECT


def conf():
    return flask.current_app.config['conf']


def services():
    """The server's services (services.wiring.Services)."""
    return flask.current_app.config['services']


def boolean(name, value):
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise errors.BadRequest("Invalid value %r for %s: expected one of %s" % (
        value, name, ', '.join(_TRUE + _FALSE)))


def integer(name, value, minimum=0):
    try:
        number = int(value)
    except ValueError:
        number = None
    if number is None or number < minimum:
        raise errors.BadRequest('Invalid value %r for %s: expected an '
                                'integer >= %d' % (value, name, minimum))
    return number


def check_query(allowed):
    unknown = sorted(set(flask.request.args) - set(allowed))
    if unknown:
        raise errors.BadRequest('Unknown query parameter(s) %s; accepted: '
                                '%s' % (', '.join(unknown),
                                        ', '.join(sorted(allowed))))


def json_body(validator):
    """The request body, parsed and checked by a compiled JSON schema."""
    request = flask.request
    if not request.content_type or not request.content_type.startswith(
            'application/json'):
        raise errors.APIError('Request body must be application/json',
                              'HTTPUnsupportedMediaType', 415)
    data = request.get_data()
    try:
        document = orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        raise errors.BadRequest('Request body is not valid JSON: %s' % exc)
    _refuse_duplicate_keys_and_big_integers(data)
    # JSON can only carry a NUL escaped; no field accepts one (see
    # app._refuse_nul).
    if b'\\u0000' in data:
        raise errors.BadRequest('Request body holds a NUL character '
                                '(\\u0000), which no field accepts')
    try:
        validator(document)
    except fastjsonschema.JsonSchemaValueException as exc:
        message = exc.message.replace('data', 'body', 1)
        if exc.rule == 'pattern' and exc.rule_definition == \
                openapi.PRINTABLE:
            # The pattern itself says nothing to a person.
            message = '%s must not contain control characters' % (
                exc.name.replace('data', 'body', 1))
        raise errors.BadRequest('Invalid request body: %s' % message)
    return document


class _DuplicateKey(ValueError):
    pass


def _unique_pairs(pairs):
    document = {}
    for key, value in pairs:
        if key in document:
            raise _DuplicateKey(key)
        document[key] = value
    return document


# orjson keeps an integer exact within these bounds only, and makes a float
# of any other: 2**70 would be stored and shown as 1.1805916207174113e+21.
_EXACT_INTEGERS = (-2 ** 63, 2 ** 64 - 1)


def _exact_integer(text):
    number = int(text)
    if not _EXACT_INTEGERS[0] <= number <= _EXACT_INTEGERS[1]:
        raise _BigInteger(text)
    return number


class _BigInteger(ValueError):
    pass


def _refuse_duplicate_keys_and_big_integers(data):
    """orjson keeps the last of two equal keys; which one a client meant
    is anyone's guess (and a filter in front may have read the first), so
    such a body is refused; and an integer orjson would turn into an
    inexact float. A second parse: bodies are small (sizelimit)."""
    try:
        json.loads(data, object_pairs_hook=_unique_pairs,
                   parse_int=_exact_integer)
    except _DuplicateKey as exc:
        raise errors.BadRequest('Request body has a duplicate key %r' %
                                exc.args[0])
    except _BigInteger as exc:
        raise errors.BadRequest('Request body has an integer out of range '
                                '(%d digits); no field accepts one' %
                                len(exc.args[0].lstrip('-')))


def respond(document, status=200, headers=None):
    return flask.Response(orjson.dumps(document), status=status,
                          headers=headers, mimetype='application/json')


def no_content():
    return flask.Response(status=204)
