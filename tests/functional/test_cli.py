"""The agentsched CLI, run as a user would, against a real agentsched-server.

One server per module (SQLite, two local agents); a second one with
auth_strategy = http_basic only for the authentication tests.
"""

import json
import os
import re
import socket
import types
import uuid

import bcrypt
import pytest
import requests
import sqlalchemy as sa

from agentsched import liveness
from agentsched.cli import base
from agentsched.cli import client as cli_client
from agentsched.db import engine as db_engine
from agentsched.db import models
from tests import api_fixtures
from tests import commands
from tests import processes

LISTENING = re.compile(r'REST API listening on (http://127\.0\.0\.1:\d+)/')


class Server:
    """A running agentsched-server, its API URL and its database."""

    def __init__(self, tmp, parsed_conf, **sections):
        database = 'sqlite:///%s' % (tmp / 'cli.sqlite')
        config = commands.write_config(
            tmp / 'server.conf', database_url=database,
            agent={'report_interval': 1}, **sections)
        self.process = processes.Process(
            'agentsched-server', ['--config-file', config,
                                  '--local-agents', '2'],
            tmp / 'server.log').start()
        try:
            self.process.wait_for_log('REST API listening on')
        except AssertionError:
            self.process.ensure_dead()
            raise
        self.url = LISTENING.search(self.process.log()).group(1)
        self.engine = db_engine.create_engine(parsed_conf, url=database)

    def stop(self):
        self.engine.dispose()
        self.process.stop()
        self.process.ensure_dead()


def _env(url):
    # The caller's OpenStack credentials must not leak into the tests.
    env = {k: v for k, v in os.environ.items()
           if not k.startswith('OS_') and k != 'AGENTSCHED_URL'}
    if url is not None:
        env['AGENTSCHED_URL'] = url
    return env


class CLI:
    """A CLI program with the given options before every command."""

    program = 'agentsched'

    def __init__(self, url, *options):
        self.env = _env(url)
        self.options = options

    def run(self, *args):
        return commands.run(self.program, *(self.options + args),
                            check=False, env=self.env)

    def __call__(self, *args):
        """stdout of a command that must succeed."""
        result = self.run(*args)
        assert result.returncode == 0, result.stderr
        assert result.stderr == '', result.stderr
        return result.stdout

    def json(self, *args):
        return json.loads(self(*(args + ('-f', 'json'))))

    def fails(self, *args):
        """The one line a failing command writes on stderr."""
        result = self.run(*args)
        assert result.returncode == 1, (result.stdout, result.stderr)
        assert 'Traceback' not in result.stderr, result.stderr
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1, result.stderr
        return lines[0]


@pytest.fixture(scope='module')
def server(tmp_path_factory, parsed_conf):
    server = Server(tmp_path_factory.mktemp('cli'), parsed_conf,
                    DEFAULT={'host': 'clitest'})
    try:
        # Both local agents have registered: the list is not empty.
        server.process.wait_for_log('Server answered alive', count=2)
        yield server
    finally:
        server.stop()


@pytest.fixture(scope='module')
def cli(server):
    return CLI(server.url)


def _host():
    return 'cli-%s' % uuid.uuid4().hex[:8]


def _bind_a_resource(engine, agent_id):
    """A binding on the agent, which makes deleting it alive a 409."""
    now = liveness.utcnow()
    device, resource = str(uuid.uuid4()), str(uuid.uuid4())
    with engine.begin() as connection:
        connection.execute(sa.insert(models.devices).values(
            id=device, name=device, device_type='noop',
            service_type='LOADBALANCER', capabilities='{}', capacity=10,
            physical_info='{}', health='OK', source='admin',
            created_at=now))
        connection.execute(sa.insert(models.resources).values(
            id=resource, project_id='p', resource_type='vip', spec='{}',
            requirements='{}', units=1, status='ACTIVE', created_at=now))
        connection.execute(sa.insert(models.bindings).values(
            resource_id=resource, device_id=device, agent_id=agent_id,
            generation=1, created_at=now))


def test_list_table_json_and_value(cli):
    table = cli('agent', 'list')
    for title in ('ID', 'Agent Type', 'Host', 'Availability Zone', 'Alive',
                  'State', 'Binary'):
        assert '| %s ' % title in table
    assert table.count(':-)') >= 2 and 'UP' in table
    agents = cli.json('agent', 'list')
    local = [a for a in agents if a['Host'].startswith('clitest-local-')]
    assert len(local) == 2
    assert all(a['Alive'] is True and a['State'] is True for a in local)
    assert set(local[0]) == {'ID', 'Agent Type', 'Host', 'Availability Zone',
                             'Alive', 'State', 'Binary'}
    hosts = cli('agent', 'list', '-f', 'value', '-c', 'Host').split()
    assert {'clitest-local-1', 'clitest-local-2'} <= set(hosts)
    # neutronclient's spelling lists the same agents.
    assert sorted(a['ID'] for a in cli.json('agent-list')) == sorted(
        a['ID'] for a in agents)


def test_list_filters_and_long(cli, server):
    vpn, old = _host(), _host()
    api_fixtures.add_agent(server.engine, vpn, agent_type='VPN agent',
                           availability_zone='az-cli')
    api_fixtures.add_agent(server.engine, old, age=100)

    def hosts(*args):
        return set(cli('agent', 'list', '-f', 'value', '-c', 'Host',
                       *args).split())

    # 'vpn' is the service name that stands for the VPN agent type.
    vpns = hosts('--agent-type', 'vpn')
    assert vpn in vpns and old not in vpns
    assert hosts('--host', vpn) == {vpn}
    assert hosts('--availability-zone', 'az-cli') == {vpn}
    dead, alive = hosts('--dead'), hosts('--alive')
    assert old in dead and vpn not in dead
    assert vpn in alive and old not in alive
    dead = cli.json('agent', 'list', '--host', old, '--long')
    assert dead[0]['Alive'] is False
    assert dead[0]['Topic'] == 'agentsched-lbaas-agent'
    assert 'Heartbeat Timestamp' in dead[0]
    assert 'XXX' in cli('agent', 'list', '--host', old)


def test_list_limit_pages_through_everything(cli, server):
    for _ in range(2):
        api_fixtures.add_agent(server.engine, _host())
    everything = cli.json('agent', 'list')
    assert len(everything) >= 4
    paged = cli.json('agent', 'list', '--limit', '1')
    assert sorted(a['ID'] for a in paged) == sorted(
        a['ID'] for a in everything)
    hosts = cli('agent', 'list', '--limit', '2', '--sort-key', 'host',
                '--sort-dir', 'desc', '-f', 'value', '-c', 'Host').split()
    assert hosts == sorted((a['Host'] for a in everything), reverse=True)


def test_show(cli, server):
    agent_id = api_fixtures.add_agent(
        server.engine, _host(), configurations='{"devices":[{"name":"d"}]}')
    agent = cli.json('agent', 'show', agent_id)
    assert set(agent) == {
        'id', 'agent_type', 'binary', 'topic', 'host', 'admin_state_up',
        'alive', 'created_at', 'started_at', 'heartbeat_timestamp',
        'description', 'configurations', 'availability_zone',
        'resources_synced', 'forced_down'}
    assert agent['id'] == agent_id and agent['alive'] is True
    assert agent['configurations'] == {'devices': [{'name': 'd'}]}
    table = cli('agent', 'show', agent_id)
    assert ':-)' in table and '"name": "d"' in table
    assert cli('agent-show', agent_id, '-f', 'value', '-c', 'id').strip() \
        == agent_id


def test_set_and_legacy_update(cli, server):
    agent_id = api_fixtures.add_agent(server.engine, _host())

    def shown():
        agent = cli.json('agent', 'show', agent_id)
        return agent['admin_state_up'], agent['description']

    assert cli('agent', 'set', agent_id, '--disable', '--description',
               'rack 4') == ''
    assert shown() == (False, 'rack 4')
    assert 'DOWN' in cli('agent', 'list', '--host',
                         cli.json('agent', 'show', agent_id)['host'])
    cli('agent', 'set', agent_id, '--enable')
    assert shown() == (True, 'rack 4')
    out = cli('agent-update', agent_id, '--admin-state-up', 'false',
              '--description', 'rack 5')
    assert out.strip() == 'Updated agent: %s' % agent_id
    assert shown() == (False, 'rack 5')
    cli('agent-update', agent_id, '--admin-state-up', 'true')
    assert shown() == (True, 'rack 5')


def test_delete_dead_agents(cli, server):
    first, second, third = (api_fixtures.add_agent(server.engine, _host(),
                                                   age=100)
                            for _ in range(3))
    assert cli('agent', 'delete', first) == ''
    assert 'could not be found' in cli.fails('agent', 'show', first)
    cli('agent-delete', second)
    cli('agent', 'delete', third)
    listed = {a['ID'] for a in cli.json('agent', 'list')}
    assert not listed & {first, second, third}


def test_errors_are_one_line(cli, server):
    with socket.socket() as probe:
        probe.bind(('127.0.0.1', 0))
        free_port = probe.getsockname()[1]
    message = cli.fails('--os-url', 'http://127.0.0.1:%d' % free_port,
                        'agent', 'list')
    assert message.startswith('Cannot connect to the agentsched API at '
                              'http://127.0.0.1:%d' % free_port)
    assert 'Connection refused' in message

    missing = str(uuid.uuid4())
    message = cli.fails('agent', 'show', missing)
    assert message.startswith('Not found (HTTP 404): Agent %s could not be '
                              'found.' % missing)
    assert cli.fails('agent', 'set', missing, '--enable').startswith(
        'Not found (HTTP 404)')

    busy = api_fixtures.add_agent(server.engine, _host())
    _bind_a_resource(server.engine, busy)
    message = cli.fails('agent', 'delete', busy)
    assert message.startswith('Conflict (HTTP 409): Agent %s is alive and '
                              'hosts 1 resource(s)' % busy)

    assert cli.fails('agent', 'list', '--sort-key', 'alive').startswith(
        'Bad request (HTTP 400): alive is invalid attribute for sort_key')
    assert cli.fails('--os-auth-type', 'no-such-plugin', 'agent',
                     'list') == 'agentsched: The plugin no-such-plugin ' \
                                'could not be found'


def test_delete_of_several_reports_each_failure(cli, server):
    dead = api_fixtures.add_agent(server.engine, _host(), age=100)
    missing = str(uuid.uuid4())
    result = commands.run('agentsched', 'agent', 'delete', missing, dead,
                          check=False, env=cli.env)
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert lines[0].startswith('%s: Not found (HTTP 404)' % missing)
    assert lines[-1] == '1 of 2 agents not deleted'
    assert 'Traceback' not in result.stderr
    assert dead not in cli('agent', 'list', '-f', 'value', '-c', 'ID')


@pytest.fixture(scope='module')
def basic_server(tmp_path_factory, parsed_conf):
    tmp = tmp_path_factory.mktemp('cli-basic')
    users = tmp / 'htpasswd'
    users.write_text('admin:%s\n' % bcrypt.hashpw(
        b'secret', bcrypt.gensalt(rounds=4)).decode())
    server = Server(tmp, parsed_conf,
                    DEFAULT={'auth_strategy': 'http_basic'},
                    api={'http_basic_auth_user_file': users})
    yield server
    server.stop()


def test_http_basic_auth(basic_server):
    cli = CLI(basic_server.url)
    basic = ('--os-auth-type', 'http_basic', '--os-username', 'admin')
    assert cli.json(*basic + ('--os-password', 'secret', 'agent',
                              'list')) is not None
    message = cli.fails(*basic + ('--os-password', 'wrong', 'agent', 'list'))
    assert message.startswith('Authentication failed (HTTP 401): '
                              'Authentication required')
    # auth type none sends no credentials at all.
    assert cli.fails('agent', 'list').startswith(
        'Authentication failed (HTTP 401)')


def _response(status, body, headers=None):
    response = requests.Response()
    response.status_code = status
    response.reason = 'Reason'
    response._content = body
    response.headers.update(headers or {})
    return response


def test_error_message_of_each_status():
    forbidden = _response(403, json.dumps({'NeutronError': {
        'type': 'PolicyNotAuthorized', 'detail': '',
        'message': "rule:update_agent is disallowed by policy"}}).encode(),
        {'x-openstack-request-id': 'req-1'})
    assert cli_client.error_message(forbidden) == (
        "Forbidden (HTTP 403): rule:update_agent is disallowed by policy "
        "(the credentials are valid but not an admin's) [request req-1]")
    keystone = _response(401, b'{"error": {"code": 401, "message": '
                              b'"The request you have made requires '
                              b'authentication."}}')
    assert cli_client.error_message(keystone).startswith(
        'Authentication failed (HTTP 401): The request you have made')
    proxy = _response(502, b'<html>\n<b>Bad gateway</b>\n</html>')
    assert cli_client.error_message(proxy) == \
        'Reason (HTTP 502): <html> <b>Bad gateway</b> </html>'
    empty = _response(500, b'')
    assert cli_client.error_message(empty) == 'Server error (HTTP 500): Reason'


class _KeyErrorCommand(base.APICommand):
    """An API command whose cliff part fails in a way nobody planned for."""

    app = types.SimpleNamespace(options=types.SimpleNamespace(debug=False))

    def take_action(self, parsed_args):
        return {}['agents']


class _FakeCliffCommand:

    def run(self, parsed_args):
        return self.take_action(parsed_args)


def test_unexpected_failure_is_one_line():
    command = type('Command', (_KeyErrorCommand, _FakeCliffCommand), {})()
    with pytest.raises(cli_client.CLIError) as raised:
        command.run(None)
    assert str(raised.value) == ("Unexpected error: KeyError: 'agents' "
                                 "(--debug shows the traceback)")


def test_a_mistyped_command_never_echoes_its_arguments():
    """cliff would print the whole command line back: a psk or password
    typed after a misspelt command name would reach the terminal log."""
    for argv in (['vpn-conection', 'create', 'x', '--psk', 'S3cret-psk'],
                 ['--os-password', 'S3cret-pw', 'agnt', 'list'],
                 ['agent', 'lst', '--os-password', 'S3cret-pw']):
        result = commands.run('agentsched', *argv, check=False,
                              env=_env('http://127.0.0.1:1'))
        assert result.returncode == 2, result
        output = result.stdout + result.stderr
        assert 'S3cret' not in output
        assert 'is not an agentsched command' in result.stderr
    shown = commands.run('agentsched', 'agent', 'lst', '--os-password',
                         'S3cret-pw', check=False,
                         env=_env('http://127.0.0.1:1')).stderr
    assert "'agent'" in shown
