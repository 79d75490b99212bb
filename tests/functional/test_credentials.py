"""Credentials reach the agent that needs them, and nothing else.

Real server and agent processes over RabbitMQ, on PostgreSQL and MariaDB,
with debug logging on: a known credential string is set through the API, the
agent syncs it, and every log line and every API response of the run is
searched for it.
"""

import json
import re
import time
import urllib.error
import urllib.request

import pytest

from agentsched import constants
from agentsched import messaging
from agentsched.services import secrets
from tests import commands
from tests import processes

SECRET = 'Zebra-Quartz-7781-do-not-leak'
ROTATED = 'Yak-Onyx-1234-do-not-leak-either'


class API:
    """Every response this test gets is kept, to be searched at the end."""

    def __init__(self, port):
        self.base = 'http://127.0.0.1:%d' % port
        self.bodies = []

    def call(self, method, path, body=None, headers=None):
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(
            self.base + path, data=data, method=method,
            headers=dict({'Content-Type': 'application/json'},
                         **(headers or {})))
        try:
            with urllib.request.urlopen(req, timeout=30) as response:
                status, text = response.status, response.read().decode()
        except urllib.error.HTTPError as error:
            status, text = error.code, error.read().decode()
        self.bodies.append(text)
        return status, (json.loads(text) if text else None)


@pytest.fixture
def deployment(tmp_path, rabbit, server_database, parsed_conf):
    config = commands.write_config(
        tmp_path / 'agentsched.conf', server_database.url, rabbit,
        DEFAULT={'agent_down_time': 5, 'debug': True},
        reports={'flush_interval': 0.2},
        agent={'report_interval': 1},
        secrets={'encryption_keys': secrets.generate_key()},
        **{'device:lb-1': {'device_type': 'haproxy', 'capacity': 10}})
    commands.run('agentsched-manage', '--config-file', config, 'db',
                 'upgrade')
    started = []

    def start(name, host):
        process = processes.Process(
            name, ['--config-file', config, '--config-file',
                   commands.write_config(tmp_path / (host + '.conf'),
                                         DEFAULT={'host': host})],
            tmp_path / (host + '.log')).start()
        started.append(process)
        return process

    yield start, rabbit
    for process in started:
        process.ensure_dead()


def _api_port(server):
    server.wait_for_log('REST API listening on')
    return int(re.search(r'REST API listening on http://127\.0\.0\.1:(\d+)/',
                         server.log()).group(1))


def _sync_as_agent(parsed_conf, bus, host):
    """Call the server's sync RPC as the agent does, from this process."""
    parsed_conf.set_override('transport_url', bus.url)
    parsed_conf.set_override('control_exchange', bus.exchange)
    messaging.cleanup()
    try:
        client = messaging.get_client(parsed_conf, constants.PLUGIN_TOPIC,
                                      '1.0', timeout=20)
        return client.prepare(namespace='agent').call(
            {}, 'sync', agent_type=constants.AGENT_TYPE_LOADBALANCER,
            host=host)
    finally:
        messaging.cleanup()
        parsed_conf.clear_override('transport_url')
        parsed_conf.clear_override('control_exchange')


def test_credentials_reach_the_agent_and_nowhere_else(deployment,
                                                       parsed_conf):
    start, bus = deployment
    server = start('agentsched-server', 'server-1')
    api = API(_api_port(server))
    agent = start('agentsched-agent', 'agent-1')
    agent.wait_for_log('manages 1 devices: lb-1')

    status, body = api.call('GET', '/v2.0/agents?host=agent-1')
    agent_id = body['agents'][0]['id']
    status, body = api.call('POST', '/v2.0/agents/%s/devices' % agent_id, {
        'device': {'name': 'gw-1', 'device_type': 'noop',
                   'physical_info': {'address': '198.51.100.7'},
                   'credentials': {'username': 'admin',
                                   'password': SECRET}}})
    assert status == 201, body
    assert body['device']['has_credentials'] is True
    device_id = body['device']['id']
    agent.wait_for_log('manages 2 devices: gw-1, lb-1')

    answer = _sync_as_agent(parsed_conf, bus, 'agent-1')
    synced = {d['name']: d for d in answer['devices']}
    assert synced['gw-1']['credentials'] == {'username': 'admin',
                                             'password': SECRET}
    assert synced['gw-1']['physical_info'] == {'address': '198.51.100.7'}
    assert synced['lb-1']['credentials'] is None

    status, body = api.call('PUT', '/v2.0/devices/%s' % device_id, {
        'device': {'credentials': {'username': 'admin',
                                   'password': ROTATED}}},
        headers={'If-Match': 'revision_number=%d' %
                 body['device']['revision_number']})
    assert status == 200, body
    agent.wait_for_log('manages 2 devices: gw-1, lb-1', count=2)
    assert _sync_as_agent(parsed_conf, bus, 'agent-1')['devices'][0][
        'credentials']['password'] == ROTATED

    for path in ('/v2.0/devices', '/v2.0/devices/%s' % device_id,
                 '/v2.0/agents/%s/devices' % agent_id,
                 '/v2.0/devices/%s/agents' % device_id,
                 '/v2.0/agents/%s' % agent_id, '/v2.0/openapi.json'):
        assert api.call('GET', path)[0] == 200
    time.sleep(1)  # a heartbeat and a flush more in the logs
    assert agent.stop() == 0
    assert server.stop() == 0

    logs = server.log() + agent.log()
    assert 'DEBUG' in logs  # the search covered debug output too
    for secret in (SECRET, ROTATED):
        assert secret not in logs
        for text in api.bodies:
            assert secret not in text
