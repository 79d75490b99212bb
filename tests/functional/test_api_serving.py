"""The API's serving layer against slow, idle and careless clients (issue
13, items 4, 5 and 8): the real HTTP server and app over PostgreSQL."""

import concurrent.futures
import socket
import time

import pytest

from agentsched.api import serving
from tests import api_fixtures


@pytest.fixture
def api_port(parsed_conf, postgresql_database):
    parsed_conf.set_override('auth_strategy', 'noauth')
    engine = postgresql_database.engine()
    api_fixtures.add_agent(engine, 'h1')
    server = serving.APIServer(api_fixtures.app(parsed_conf, engine),
                               '127.0.0.1', 0, parsed_conf.api_workers,
                               backlog=parsed_conf.backlog)
    server.start()
    yield server.port
    server.stop()
    parsed_conf.clear_override('auth_strategy')


def _exchange(port, raw, timeout=10):
    """Send raw bytes, return the status line the server answers."""
    with socket.create_connection(('127.0.0.1', port),
                                  timeout=timeout) as connection:
        connection.sendall(raw)
        answer = b''
        while b'\r\n' not in answer:
            chunk = connection.recv(4096)
            if not chunk:
                break
            answer += chunk
    return answer.split(b'\r\n', 1)[0].decode()


GET_AGENTS = (b'GET /v2.0/agents HTTP/1.1\r\nHost: api\r\n'
              b'Connection: close\r\n\r\n')


def test_idle_and_slow_clients_lock_no_one_out(api_port):
    held = []
    try:
        for index in range(250):
            connection = socket.create_connection(('127.0.0.1', api_port))
            if index % 5 == 0:
                # Slowloris: a request line and half a header, then nothing.
                connection.sendall(b'GET /v2.0/agents HTTP/1.1\r\nHost: a')
            held.append(connection)
        started = time.monotonic()
        status = _exchange(api_port, GET_AGENTS, timeout=30)
        answered_in = time.monotonic() - started
    finally:
        for connection in held:
            connection.close()
    assert status == 'HTTP/1.1 200 OK'
    # The bar: with cheroot, 8 idle connections delayed every
    # request by 9 s and 200 made the API answer nothing.
    assert answered_in < 1.0, answered_in


def test_two_hundred_simultaneous_clients_are_all_served(api_port):
    with concurrent.futures.ThreadPoolExecutor(200) as pool:
        statuses = list(pool.map(lambda _: _exchange(api_port, GET_AGENTS,
                                                     timeout=60),
                                 range(200)))
    assert statuses == ['HTTP/1.1 200 OK'] * 200


@pytest.mark.parametrize('raw', [
    # A bare CR inside a header value.
    b'GET /v2.0/agents HTTP/1.1\r\nHost: api\r\nX-Note: a\rb\r\n\r\n',
    # A chunk size that is not hexadecimal.
    b'POST /v2.0/devices HTTP/1.1\r\nHost: api\r\nContent-Type: '
    b'application/json\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n{}\r\n'
    b'0\r\n\r\n',
    # A chunk size with trailing garbage.
    b'POST /v2.0/devices HTTP/1.1\r\nHost: api\r\nContent-Type: '
    b'application/json\r\nTransfer-Encoding: chunked\r\n\r\n2;x\x00\r\n{}'
    b'\r\n0\r\n\r\n',
])
def test_malformed_http_is_a_400(api_port, raw):
    assert _exchange(api_port, raw).split(' ')[1] == '400'
