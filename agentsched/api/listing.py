"""List requests in Neutron's dialect: filters, fields, sorting and paging.

Every collection reads its query the same way; the handler names its
columns and gets back what db/paging.py and the response need.
"""

import itertools
import urllib.parse

import flask
import orjson

from agentsched.api import errors
from agentsched.api import request

PAGING_PARAMS = ('fields', 'sort_key', 'sort_dir', 'limit', 'marker',
                 'page_reverse')


def fields(known):
    """The fields= asked for (in order, once each), or None for all."""
    asked = flask.request.args.getlist('fields')
    unknown = sorted(set(asked) - set(known))
    if unknown:
        raise errors.BadRequest('Unknown field(s) %s; known: %s' % (
            ', '.join(unknown), ', '.join(known)))
    return list(dict.fromkeys(asked)) or None


def filters(columns, booleans=()):
    """{column: [values]} from repeated query parameters."""
    args = flask.request.args
    found = {}
    for name in columns:
        values = args.getlist(name)
        if not values:
            continue
        if name in booleans:
            values = list({request.boolean(name, v) for v in values})
        found[name] = values
    return found


def sort(sortable):
    """[(key, ascending)] from sort_key/sort_dir pairs; by id if none."""
    args = flask.request.args
    keys, directions = args.getlist('sort_key'), args.getlist('sort_dir')
    if directions and len(directions) != len(keys):
        raise errors.BadRequest('The number of sort_keys and sort_dirs '
                                'must be same')
    for key in keys:
        if key not in sortable:
            raise errors.BadRequest('%s is invalid attribute for sort_key; '
                                    'sortable: %s' % (key, ', '.join(
                                        sorted(sortable))))
    for direction in directions:
        if direction not in ('asc', 'desc'):
            raise errors.BadRequest("%s is invalid value for sort_dir; "
                                    "valid values are 'asc' and 'desc'"
                                    % direction)
    directions = directions or ['asc'] * len(keys)
    return [(k, d == 'asc') for k, d in zip(keys, directions)] or \
        [('id', True)]


def limit(conf):
    value = flask.request.args.get('limit')
    if value is None:
        return None
    number = request.integer('limit', value)
    # Neutron's rule: 0 means no limit; the maximum still applies.
    if number == 0 or number > conf.api.pagination_max_limit:
        return conf.api.pagination_max_limit
    return number


def reverse():
    return request.boolean(
        'page_reverse', flask.request.args.get('page_reverse', 'False'))


def marker_id():
    """The marker query parameter (a row id), or None; the service that
    lists resolves it (services.paging.marker_row)."""
    return flask.request.args.get('marker')


_WILDCARDS = ('', '0.0.0.0', '::')


def _public_base():
    """Scheme and authority of the links, never from the Host header (see
    [api] public_endpoint)."""
    conf = request.conf()
    if conf.api.public_endpoint:
        return conf.api.public_endpoint.rstrip('/')
    if conf.oslo_middleware.enable_proxy_headers_parsing:
        # http_proxy_to_wsgi set the host and scheme the proxy forwarded.
        return flask.request.host_url.rstrip('/')
    environ = flask.request.environ
    host = conf.host if conf.bind_host in _WILDCARDS else conf.bind_host
    if ':' in host:
        host = '[%s]' % host
    return '%s://%s:%s' % (environ['wsgi.url_scheme'], host,
                           environ.get('SERVER_PORT', conf.bind_port))


def links(rows, page_limit, page_reverse):
    """<collection>_links as Neutron builds them: next and previous."""
    if page_limit is None or not rows:
        return []
    url = _public_base() + flask.request.script_root + flask.request.path
    query = [(k, v) for k, v in flask.request.args.items(multi=True)
             if k not in ('marker', 'page_reverse')]
    found = []
    if not (len(rows) < page_limit and not page_reverse):
        found.append({'rel': 'next', 'href': '%s?%s' % (
            url, urllib.parse.urlencode(query + [('marker', rows[-1].id)]))})
    if not (len(rows) < page_limit and page_reverse):
        found.append({'rel': 'previous', 'href': '%s?%s' % (
            url, urllib.parse.urlencode(query + [
                ('marker', rows[0].id), ('page_reverse', 'True')]))})
    return found


def respond(collection, items, rows, page_limit, page_reverse):
    body = {collection: items}
    found = links(rows, page_limit, page_reverse)
    if found:
        body[collection + '_links'] = found
    return request.respond(body)


# Rows serialized and written at a time by stream: about 130 KB of agents,
# which stay in the CPU's cache through the server's copies (chunk framing,
# output buffer, socket) and below malloc's mmap threshold. A batch of 1,000
# rows at once, 1.3 MB, cost half as much CPU again (docs/benchmarks.md).
STREAM_PIECE = 100


def stream(collection, batches, items):
    """A response {collection: items(rows) of every batch of rows} written
    piece by piece as the server sends it (batches: a generator of lists
    of rows; items(rows): their API dicts), so a long list is never whole
    in memory. Its bytes are respond()'s for the same items without links
    (orjson, compact): a client cannot tell. An error after the first
    batch cuts the body short (the status is already sent)."""
    # The query runs now: its errors (an outage: 503) still get their
    # status.
    first = next(batches, [])

    def body():
        try:
            yield b'{"%s":[' % collection.encode()
            separator = False
            for rows in itertools.chain([first], batches):
                for start in range(0, len(rows), STREAM_PIECE):
                    if separator:
                        # Apart: joined, each piece would be copied once
                        # more.
                        yield b','
                    # A list's bytes without its brackets: the items.
                    yield orjson.dumps(
                        items(rows[start:start + STREAM_PIECE]))[1:-1]
                    separator = True
            yield b']}'
        finally:
            batches.close()  # its connection back to the pool now
    return flask.Response(body(), mimetype='application/json')
