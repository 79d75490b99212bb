"""Real OpenStack clients against agentsched's Neutron-compatible agent API.

The openstack CLI (python-openstackclient, unchanged, as a subprocess) and
openstacksdk (in-process) drive a real agentsched-server with three local
agents; results are checked through the API and the database. Keystone mode
runs the WSGI pipeline in this process under keystonemiddleware's
AuthTokenFixture, as no Keystone server is at hand.
"""

import json
import os
import re
import time
import uuid

from keystonemiddleware import auth_token
from keystonemiddleware import fixture as keystone_fixture
import openstack
from openstack import exceptions as sdk_exceptions
import pytest
import requests
import sqlalchemy as sa

from agentsched.api import serving
from agentsched.db import models
from tests import api_fixtures
from tests import commands
from tests import conftest
from tests import processes

LISTENING = re.compile(r'REST API listening on (http://127\.0\.0\.1:\d+)/')
LOCAL_AGENTS = 3


class Server:
    """A running agentsched-server: its URL, log and database."""

    def __init__(self, process, url, engine):
        self.process = process
        self.url = url
        self.engine = engine

    def get(self, path, **params):
        response = requests.get(self.url + path, params=params, timeout=10)
        assert response.status_code == 200, response.text
        return response.json()

    def agents(self, **params):
        return self.get('/v2.0/agents', **params)['agents']

    def agent(self, agent_id):
        return self.get('/v2.0/agents/%s' % agent_id)['agent']

    def local_agent(self, number):
        return next(agent for agent in self.agents()
                    if agent['host'].endswith('-local-%d' % number))

    def requests_logged(self, prefix):
        return self.process.log().count('GET %s' % prefix)


@pytest.fixture(scope='module')
def server(tmp_path_factory):
    tmp_path = tmp_path_factory.mktemp('server')
    database = conftest.make_database('postgresql', tmp_path)
    engine = database.engine()
    config = commands.write_config(
        tmp_path / 'agentsched.conf', database.url,
        DEFAULT={'auth_strategy': 'noauth'}, agent={'report_interval': 1})
    process = processes.Process(
        'agentsched-server',
        ['--config-file', config, '--local-agents', str(LOCAL_AGENTS)],
        tmp_path / 'server.log').start()
    try:
        process.wait_for_log('REST API listening on')
        url = LISTENING.search(process.log()).group(1)
        process.wait_for_log('Server answered alive', count=LOCAL_AGENTS)
        running = Server(process, url, engine)
        _wait_for(lambda: len(running.agents()) == LOCAL_AGENTS)
        yield running
        assert process.stop() == 0
    finally:
        process.ensure_dead()
        database.close()


def _wait_for(condition, timeout=15):
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, 'condition not met in time'
        time.sleep(0.2)


def _client_env():
    # The CLI must see only what the test gives it: no OS_* from the caller.
    return {key: value for key, value in os.environ.items()
            if not key.startswith('OS_')}


def openstack_cli(endpoint, *args, auth=('--os-auth-type', 'none'),
                  check=True):
    """The real openstack command, as an operator runs it."""
    result = commands.run('openstack', *auth, '--os-endpoint', endpoint,
                          *args, check=False, env=_client_env())
    if check:
        assert result.returncode == 0, result.stderr
    return result


def cli_json(server, *args):
    return json.loads(openstack_cli(server.url, *args, '-f', 'json').stdout)


# -- the openstack CLI, noauth -----------------------------------------------

def test_cli_lists_agents_as_the_api_does(server):
    listed = cli_json(server, 'network', 'agent', 'list')
    api = server.agents()
    assert sorted(a['ID'] for a in listed) == sorted(a['id'] for a in api)
    local = [a for a in listed if '-local-' in a['Host']]
    assert len(local) == LOCAL_AGENTS
    for agent in local:
        assert agent['Agent Type'] == 'Loadbalancer agent'
        assert agent['Binary'] == 'agentsched-agent'
        assert agent['Alive'] is True and agent['State'] is True
    table = openstack_cli(server.url, 'network', 'agent', 'list').stdout
    assert table.count(':-)') >= LOCAL_AGENTS
    assert '| Agent Type ' in table and '| Alive ' in table


def test_cli_shows_an_agent(server):
    agent = server.local_agent(1)
    shown = cli_json(server, 'network', 'agent', 'show', agent['id'])
    assert shown['id'] == agent['id']
    assert shown['host'] == agent['host']
    assert shown['alive'] is True
    assert shown['configuration'] == agent['configurations']
    assert shown['last_heartbeat_at']  # OSC's name for heartbeat_timestamp
    missing = openstack_cli(server.url, 'network', 'agent', 'show',
                            str(uuid.uuid4()), check=False)
    assert missing.returncode != 0
    assert 'could not be found' in missing.stderr or \
        'No Agent found' in missing.stderr


def test_cli_disables_enables_and_describes_an_agent(server):
    agent_id = server.local_agent(2)['id']
    openstack_cli(server.url, 'network', 'agent', 'set', '--disable',
                  agent_id)
    assert server.agent(agent_id)['admin_state_up'] is False
    # The agent was told, as Neutron tells its agents.
    server.process.wait_for_log(
        "Server updated this agent: {'admin_state_up': False}")
    openstack_cli(server.url, 'network', 'agent', 'set', '--enable',
                  agent_id)
    assert server.agent(agent_id)['admin_state_up'] is True
    openstack_cli(server.url, 'network', 'agent', 'set', '--description',
                  'rack 4, slot 2', agent_id)
    assert server.agent(agent_id)['description'] == 'rack 4, slot 2'
    # The agent's next heartbeat changes neither.
    beat = server.agent(agent_id)['heartbeat_timestamp']
    _wait_for(lambda: server.agent(agent_id)['heartbeat_timestamp'] != beat)
    assert server.agent(agent_id)['description'] == 'rack 4, slot 2'
    assert server.agent(agent_id)['admin_state_up'] is True


def test_cli_filters_by_agent_type_and_host(server):
    api_fixtures.add_agent(server.engine, 'network-node-1',
                           agent_type='L3 agent', age=100)
    host = server.local_agent(3)['host']
    listed = cli_json(server, 'network', 'agent', 'list', '--agent-type',
                      'loadbalancer', '--host', host)
    assert [a['Host'] for a in listed] == [host]
    listed = cli_json(server, 'network', 'agent', 'list', '--agent-type',
                      'l3')
    assert [(a['Host'], a['Alive']) for a in listed] == [
        ('network-node-1', False)]


def test_cli_pages_with_limit(server):
    everything = sorted(a['id'] for a in server.agents())
    pages_before = server.requests_logged('/v2.0/agents?limit=1&marker=')
    listed = cli_json(server, 'network', 'agent', 'list', '--limit', '1')
    # Every agent exactly once, one per page, by limit and marker.
    assert sorted(a['ID'] for a in listed) == everything
    pages = server.requests_logged('/v2.0/agents?limit=1&marker=') - \
        pages_before
    assert pages == len(everything)  # the last one comes back empty
    # --max-items stops the paging early.
    listed = cli_json(server, 'network', 'agent', 'list', '--limit', '1',
                      '--max-items', '2')
    assert [a['ID'] for a in listed] == everything[:2]


def test_cli_deletes_a_dead_agent(server):
    dead = api_fixtures.add_agent(server.engine, 'retired-1', age=100)
    openstack_cli(server.url, 'network', 'agent', 'delete', dead)
    with server.engine.connect() as connection:
        assert connection.execute(sa.select(models.agents.c.id).where(
            models.agents.c.id == dead)).first() is None
    again = openstack_cli(server.url, 'network', 'agent', 'delete', dead,
                          check=False)
    assert again.returncode != 0
    assert '1 of 1 network agents failed to delete' in again.stderr


# -- openstacksdk, in-process, noauth ----------------------------------------

@pytest.fixture
def sdk(server):
    return openstack.connection.Connection(auth_type='none',
                                           endpoint=server.url)


def test_sdk_lists_shows_and_updates(sdk, server):
    agents = list(sdk.network.agents())
    assert sorted(a.id for a in agents) == sorted(
        a['id'] for a in server.agents())
    local = server.local_agent(1)
    agent = sdk.network.get_agent(local['id'])
    assert (agent.host, agent.agent_type, agent.is_alive) == (
        local['host'], 'Loadbalancer agent', True)
    updated = sdk.network.update_agent(agent, description='by the SDK',
                                       is_admin_state_up=False)
    assert (updated.description, updated.is_admin_state_up) == (
        'by the SDK', False)
    assert server.agent(local['id'])['admin_state_up'] is False
    sdk.network.update_agent(agent, is_admin_state_up=True)
    assert server.agent(local['id'])['admin_state_up'] is True
    with pytest.raises(sdk_exceptions.NotFoundException):
        sdk.network.get_agent(str(uuid.uuid4()))


def test_sdk_deletes_a_dead_agent(sdk, server):
    dead = api_fixtures.add_agent(server.engine, 'retired-2', age=100)
    sdk.network.delete_agent(dead)
    assert dead not in [a['id'] for a in server.agents()]
    with pytest.raises(sdk_exceptions.NotFoundException):
        sdk.network.delete_agent(dead, ignore_missing=False)
    sdk.network.delete_agent(dead)  # ignore_missing by default


@pytest.mark.parametrize('limit', [1, 2])
def test_sdk_pages_by_limit_and_marker(sdk, server, limit):
    for index in range(3):
        api_fixtures.add_agent(server.engine, 'paged-%d-%d' % (limit, index),
                               age=100)
    everything = [a['id'] for a in server.agents()]  # in id order
    paged = [a.id for a in sdk.network.agents(limit=limit)]
    assert paged == everything
    # The server honours limit and marker exactly.
    first = server.agents(limit=limit)
    assert [a['id'] for a in first] == everything[:limit]
    second = server.agents(limit=limit, marker=first[-1]['id'])
    assert [a['id'] for a in second] == everything[limit:2 * limit]


# -- keystone: keystonemiddleware with its AuthTokenFixture, in-process -------

ADMIN_TOKEN = 'admin-token-%s' % uuid.uuid4().hex
MEMBER_TOKEN = 'member-token-%s' % uuid.uuid4().hex


@pytest.fixture
def keystone_api(parsed_conf, tmp_path):
    """The API with auth_strategy keystone on a thread of this process, where
    the fixture stands in for Keystone; yields its URL."""
    for group, options in auth_token.list_opts():
        parsed_conf.register_opts(options, group=group)
    parsed_conf.set_override('auth_strategy', 'keystone')
    parsed_conf.set_override('www_authenticate_uri',
                             'http://keystone.example/identity',
                             'keystone_authtoken')
    database = conftest.make_database('sqlite', tmp_path)
    engine = database.engine()
    for host in ('lb-1', 'lb-2'):
        api_fixtures.add_agent(engine, host)
    api = None
    try:
        with keystone_fixture.AuthTokenFixture() as tokens:
            tokens.add_token_data(token_id=ADMIN_TOKEN, role_list=['admin'],
                                  project_id='admin-project',
                                  user_id='admin-user')
            tokens.add_token_data(token_id=MEMBER_TOKEN,
                                  role_list=['member', 'reader'],
                                  project_id='demo-project',
                                  user_id='demo-user')
            api = serving.APIServer(
                api_fixtures.app(parsed_conf, engine),
                '127.0.0.1', 0, 4)
            api.start()
            yield 'http://127.0.0.1:%d' % api.port
    finally:
        if api is not None:
            api.stop()
        database.close()
        parsed_conf.clear_override('auth_strategy')
        parsed_conf.clear_override('www_authenticate_uri',
                                   'keystone_authtoken')


def _with_token(token):
    return ('--os-auth-type', 'admin_token', '--os-token', token)


def test_keystone_admin_token_lists_agents(keystone_api):
    result = openstack_cli(keystone_api, 'network', 'agent', 'list',
                           '-f', 'json', auth=_with_token(ADMIN_TOKEN))
    assert sorted(a['Host'] for a in json.loads(result.stdout)) == [
        'lb-1', 'lb-2']
    sdk = openstack.connection.Connection(
        auth_type='admin_token', endpoint=keystone_api, token=ADMIN_TOKEN)
    assert len(list(sdk.network.agents(limit=1))) == 2


def test_keystone_member_token_is_forbidden(keystone_api):
    result = openstack_cli(keystone_api, 'network', 'agent', 'list',
                           auth=_with_token(MEMBER_TOKEN), check=False)
    assert result.returncode != 0
    assert '403' in result.stderr
    assert 'rule:get_agent is disallowed by policy' in result.stderr
    response = requests.get(keystone_api + '/v2.0/agents', timeout=10,
                            headers={'X-Auth-Token': MEMBER_TOKEN})
    assert response.status_code == 403
    assert response.json()['NeutronError']['type'] == 'PolicyNotAuthorized'


def test_keystone_missing_or_invalid_token_is_401(keystone_api):
    response = requests.get(keystone_api + '/v2.0/agents', timeout=10)
    assert response.status_code == 401
    assert response.headers['WWW-Authenticate'] == \
        'Keystone uri="http://keystone.example/identity"'
    response = requests.get(keystone_api + '/v2.0/agents', timeout=10,
                            headers={'X-Auth-Token': 'not-a-token'})
    assert response.status_code == 401
    result = openstack_cli(keystone_api, 'network', 'agent', 'list',
                           auth=_with_token('not-a-token'), check=False)
    assert result.returncode != 0
    assert '401' in result.stderr
    # Version discovery stays open, as in Neutron.
    assert requests.get(keystone_api + '/', timeout=10).status_code == 200
