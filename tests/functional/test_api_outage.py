"""The API while its database is away (issue 13, item 5): 503 with
Retry-After and a NeutronError body, never a 500 or a traceback; served
again once the database is back. A real server, a private PostgreSQL
stopped under it."""

import json
import urllib.error
import urllib.request

import pytest

from agentsched.db import engine as db_engine
from agentsched.db import migration
from tests import private_services
from tests import server_fixtures


@pytest.fixture
def private_postgres():
    server = private_services.PrivatePostgres()
    yield server
    server.destroy()


def _call(port, method, path, body=None):
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(
        'http://127.0.0.1:%d%s' % (port, path), data=data, method=method,
        headers={'Content-Type': 'application/json'})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, response.headers, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.headers, exc.read()


CALLS = [('GET', '/v2.0/agents', None), ('GET', '/v2.0/devices', None),
         ('GET', '/v2.0/lb/vips', None),
         ('POST', '/v2.0/lb/vips', {'vip': {
             'name': 'web', 'address': '198.51.100.7', 'protocol': 'HTTP',
             'protocol_port': 80,
             'members': [{'address': '10.0.0.5', 'protocol_port': 8080}]}})]


def test_database_down_answers_503(parsed_conf, rabbit, private_postgres,
                                   caplog):
    engine = db_engine.create_engine(parsed_conf, url=private_postgres.url)
    migration.upgrade(engine)
    engine.dispose()
    with server_fixtures.running_server(
            parsed_conf, rabbit, private_postgres,
            ('auth_strategy', 'noauth', None),
            ('bind_host', '127.0.0.1', None),
            ('enabled', False, 'health')) as server:
        port = server.api.port
        assert _call(port, 'GET', '/v2.0/agents')[0] == 200
        private_postgres.stop()
        private_postgres.wait_down()
        caplog.clear()
        for method, path, body in CALLS:
            status, headers, content = _call(port, method, path, body)
            assert status == 503, (method, path, content)
            assert headers['Retry-After'] == '5'
            error = json.loads(content)['NeutronError']
            assert error['type'] == 'HTTPServiceUnavailable'
            assert 'retry later' in error['message']
        assert 'Traceback' not in caplog.text
        private_postgres.start()
        assert _call(port, 'GET', '/v2.0/agents')[0] == 200
