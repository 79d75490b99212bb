"""The agentsched resource commands, run as a user would, against a real
agentsched-server whose two local load-balancer agents deploy what they
are given (SQLite, with an encryption key for the psk)."""

import json
import subprocess
import time
import uuid

import pytest
import sqlalchemy as sa

from agentsched.db import models
from agentsched.services import secrets
from tests import commands
# The server and CLI runners of the agent commands' tests (the module, not
# its names: pytest would collect its tests a second time).
from tests.functional import test_cli

PSK = 'cli-psk-%s' % uuid.uuid4().hex


def wait(predicate, timeout=20):
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(0.2)


def start_server(tmp, parsed_conf, host):
    """A server whose two local agents have reported their simulated
    devices (also the OSC plugin's tests')."""
    server = test_cli.Server(
        tmp, parsed_conf, DEFAULT={'host': host},
        secrets={'encryption_keys': secrets.generate_key()},
        scheduler={'snapshot_max_age': 0},
        health={'health_check_interval': 0.5})
    try:
        def devices():
            with server.engine.connect() as connection:
                return connection.execute(
                    sa.select(sa.func.count()).select_from(
                        models.agent_devices)).scalar() >= 4
        assert wait(devices), server.process.log()
    except BaseException:
        server.stop()
        raise
    return server


@pytest.fixture(scope='module')
def server(tmp_path_factory, parsed_conf):
    server = start_server(tmp_path_factory.mktemp('cli-resources'),
                          parsed_conf, 'rescli')
    yield server
    server.stop()


@pytest.fixture(scope='module')
def cli(server):
    return test_cli.CLI(server.url)


def _status(cli, kind, resource_id, wanted):
    return wait(lambda: cli.json(kind, 'show', resource_id)[
        'status'] == wanted)


def test_vip_lifecycle_and_its_agent(cli):
    vip = cli.json('vip', 'create', 'web', '--address', '198.51.100.7',
                   '--protocol', 'http', '--protocol-port', '80',
                   '--member', '10.0.0.5:8080:3', '--member', '10.0.0.6:8080',
                   '--device-type', 'noop')
    assert vip['status'] == 'PENDING_CREATE', vip
    assert vip['protocol'] == 'HTTP' and vip['protocol_port'] == 80
    # Nothing read from the data plane yet: OFFLINE, as Octavia starts.
    assert vip['operating_status'] == 'OFFLINE'
    assert vip['members'] == [
        {'address': '10.0.0.5', 'protocol_port': 8080, 'weight': 3,
         'operating_status': 'OFFLINE'},
        {'address': '10.0.0.6', 'protocol_port': 8080,
         'operating_status': 'OFFLINE'}]
    assert vip['requirements']['device_type'] == 'noop'
    # The local agent deploys it and answers.
    assert _status(cli, 'vip', vip['id'], 'ACTIVE')
    assert cli.json('vip-show', vip['id'])['name'] == 'web'

    listed = cli.json('vip', 'list', '--status', 'active')
    assert vip['id'] in [v['ID'] for v in listed]
    assert set(listed[0]) == {'ID', 'Name', 'Status', 'Operating Status',
                              'Project', 'Address', 'Protocol', 'Port'}
    members = cli.json('vip', 'member', 'list', vip['id'])
    assert [(m['Address'], m['Weight'], m['Admin State Up'])
            for m in members] == [('10.0.0.5', 3, True),
                                  ('10.0.0.6', 1, True)]
    assert cli.json('vip-member-list', vip['id']) == members
    assert cli.json('vip', 'stats', 'show', vip['id']) == {
        'active_connections': 0, 'bytes_in': 0, 'bytes_out': 0,
        'request_errors': 0, 'total_connections': 0}
    assert 'Not found (HTTP 404)' in cli.fails('vip', 'stats', 'show',
                                               'no-such-vip')
    assert 'Status Description' in cli.json('vip-list', '--long')[0]
    assert cli('vip', 'list', '--name', 'web', '-f', 'value', '-c',
               'ID').split() == [vip['id']]

    assert cli('vip', 'set', vip['id'], '--name', 'www',
               '--protocol-port', '8080') == ''
    changed = cli.json('vip', 'show', vip['id'])
    assert (changed['name'], changed['protocol_port']) == ('www', 8080)
    assert _status(cli, 'vip', vip['id'], 'ACTIVE')

    hosting = cli.json('vip', 'agent', 'show', vip['id'])
    assert hosting['host'].startswith('rescli-local-')
    assert hosting['alive'] is True and hosting['device_type'] == 'noop'
    agent_id = hosting['agent_id']
    assert cli.json('vip-agent-show', vip['id']) == hosting
    on_agent = cli('agent', 'vip', 'list', agent_id, '-f', 'value', '-c',
                   'ID').split()
    assert vip['id'] in on_agent

    message = cli.fails('agent', 'vip', 'add', agent_id, vip['id'])
    assert 'Conflict (HTTP 409)' in message and 'bound already' in message
    assert cli('agent', 'vip', 'remove', agent_id, vip['id']) == ''
    assert 'Not found (HTTP 404)' in cli.fails('vip', 'agent', 'show',
                                               vip['id'])
    assert vip['id'] not in cli('agent-vip-list', agent_id)
    assert cli('agent-vip-add', agent_id, vip['id']) == ''
    assert cli.json('vip', 'agent', 'show', vip['id'])['agent_id'] == \
        agent_id
    assert _status(cli, 'vip', vip['id'], 'ACTIVE')

    # Deleted once its agent confirms the undeploy.
    assert cli('vip', 'delete', vip['id']) == ''
    assert wait(lambda: 'Not found' in test_cli.commands.run(
        'agentsched', 'vip', 'show', vip['id'], check=False,
        env=cli.env).stderr)


def test_vpn_connection_psk_is_never_shown(cli):
    created = test_cli.commands.run(
        'agentsched', 'vpn-connection', 'create', 'branch',
        '--peer-address', '203.0.113.9', '--peer-id', 'branch',
        '--peer-cidr', '10.2.0.0/16', '--local-cidr', '10.1.0.0/16',
        '--local-cidr', '10.3.0.0/16', '--psk', PSK, '--debug',
        '-f', 'json', check=False, env=cli.env)
    assert created.returncode == 0, created.stderr
    assert PSK not in created.stdout + created.stderr
    connection = cli.json('vpn-connection', 'show',
                          json.loads(created.stdout)['id'])
    assert connection['has_psk'] is True and 'psk' not in connection
    assert connection['local_cidrs'] == ['10.1.0.0/16', '10.3.0.0/16']
    # No VPN agent here: nothing can take it, and it says why.
    assert connection['status'] == 'ERROR'
    assert 'VPN' in connection['status_description']
    for output in (cli('vpn-connection', 'list', '--long'),
                   cli('vpn-connection-show', connection['id']),
                   cli('vpn-connection', 'set', connection['id'], '--psk',
                       PSK + '-2', '--mtu', '1400')):
        assert PSK not in output
    assert cli.json('vpn-connection', 'show', connection['id'])['mtu'] == \
        1400
    message = cli.fails('vpn-connection', 'set', connection['id'],
                        '--psk', PSK, '--spec-json', '{"mtu": 1}')
    assert 'Bad request (HTTP 400)' in message and PSK not in message
    assert cli('vpn-connection-delete', connection['id']) == ''
    assert 'Not found' in cli.fails('vpn-connection', 'show',
                                    connection['id'])


def test_requirements_flavors_and_errors(cli):
    unplaced = cli.json('vip', 'create', 'picky', '--address', '192.0.2.1',
                        '--protocol', 'TCP', '--protocol-port', '443',
                        '--capability', 'ssl_offload=true')
    assert unplaced['status'] == 'ERROR'
    assert 'ssl_offload' in unplaced['status_description']
    assert unplaced['requirements']['capabilities'] == {'ssl_offload': True}
    message = cli.fails('vip', 'create', 'bad', '--address', '192.0.2.1',
                        '--protocol', 'TCP', '--protocol-port', '443',
                        '--requirements-json', '{"size": "L"}')
    assert 'Bad request (HTTP 400)' in message and 'requirements' in message
    assert 'Not found (HTTP 404)' in cli.fails('vip', 'create', 'f',
                                               '--address', '192.0.2.1',
                                               '--protocol', 'TCP',
                                               '--protocol-port', '1',
                                               '--flavor', 'nope')
    usage = test_cli.commands.run(
        'agentsched', 'vip', 'create', 'x', '--address', '192.0.2.1',
        '--protocol', 'TCP', '--protocol-port', '1', '--member', 'no-port',
        check=False, env=cli.env)
    assert usage.returncode == 2 and 'ADDRESS:PORT' in usage.stderr
    assert 'Not found (HTTP 404)' in cli.fails('vip', 'show', 'nope')
    assert 'Not found' in cli.fails('vip', 'delete', 'nope')
    cli('vip', 'delete', unplaced['id'])


def test_failover_health_and_force_down(cli):
    vip = cli.json('vip', 'create', 'moving', '--address', '198.51.100.8',
                   '--protocol', 'tcp', '--protocol-port', '443',
                   '--device-type', 'noop')
    assert _status(cli, 'vip', vip['id'], 'ACTIVE')
    before = cli.json('vip', 'agent', 'show', vip['id'])
    moved = cli.json('vip', 'failover', vip['id'])
    assert moved['failover'] == 'moved' and moved['id'] == vip['id']
    after = cli.json('vip', 'agent', 'show', vip['id'])
    assert after['generation'] == before['generation'] + 1
    assert after['device_id'] != before['device_id']
    assert _status(cli, 'vip', vip['id'], 'ACTIVE')
    assert 'Not found (HTTP 404)' in cli.fails('vpn-connection', 'failover',
                                               vip['id'])

    health = wait(lambda: cli.json('scheduler', 'health', 'show').get(
        'leader') and cli.json('scheduler', 'health', 'show'))
    assert health['leader'] == 'rescli' and health['current'] is True
    assert 'guards.mass_failure.active' in health
    assert 'guards.rate_limit.tokens' in health

    agent_id = after['agent_id']
    assert cli('agent', 'set', agent_id, '--force-down') == ''
    shown = cli.json('agent', 'show', agent_id)
    assert shown['forced_down'] is True and shown['alive'] is False
    # The health monitor fails the VIP over to the other local agent.
    assert wait(lambda: cli.json('vip', 'agent', 'show', vip['id'])[
        'agent_id'] != agent_id, timeout=30)
    assert cli('agent', 'set', agent_id, '--no-force-down') == ''
    assert cli.json('agent', 'show', agent_id)['forced_down'] is False
    assert cli('vip', 'delete', vip['id']) == ''


# Issue 13: names a tenant chooses reach other people's terminals. A colour,
# a window title (OSC ... BEL), a carriage return that hides what precedes it.
HOSTILE_NAMES = ['\x1b[31mred\x1b[0m', '\x1b]0;title\x07', 'ok\rfake',
                 'a\u202ebidi']


def _raw(cli, *args):
    """stdout as bytes: text mode would turn a CR into a newline."""
    done = subprocess.run([commands.script('agentsched')] + list(args),
                          capture_output=True, env=cli.env, timeout=120)
    assert done.returncode == 0, done.stderr
    return done.stdout


@pytest.mark.parametrize('name', HOSTILE_NAMES)
def test_control_characters_in_names_are_printed_escaped(cli, server, name):
    vip = cli.json('vip', 'create', 'plain', '--address', '198.51.100.77',
                   '--protocol', 'tcp', '--protocol-port', '7001',
                   '--device-type', 'noop')
    # The API refuses control characters in names now; a name stored
    # before that rule still reaches terminals.
    with server.engine.begin() as connection:
        connection.execute(sa.update(models.resources).where(
            models.resources.c.id == vip['id']).values(name=name))
    # JSON keeps the name exact (escaped by JSON itself).
    assert cli.json('vip', 'show', vip['id'])['name'] == name
    try:
        for args in (('vip', 'list', '--name', name),
                     ('vip', 'show', vip['id'])):
            for output in ('table', 'value', 'json', 'yaml', 'csv',
                           'shell'):
                if output == 'shell' and args[1] == 'list':
                    continue
                if output == 'csv' and args[1] == 'show':
                    continue
                printed = _raw(cli, *(args + ('-f', output)))
                for byte in (b'\x1b', b'\x07', b'\r',
                             '\u202e'.encode(), b'\x9b'):
                    assert byte not in printed, (args, output, printed)
                if output in ('table', 'value'):
                    assert name.encode() not in printed
                    assert b'red' in printed or b'title' in printed or \
                        b'fake' in printed or b'bidi' in printed
    finally:
        cli('vip', 'delete', vip['id'])


def test_the_error_line_escapes_what_the_server_echoes(cli):
    done = subprocess.run(
        [commands.script('agentsched'), 'vip', 'show', '\x1b]0;title\x07'],
        capture_output=True, env=cli.env, timeout=120)
    assert done.returncode == 1
    assert b'title' in done.stderr
    assert b'\x1b' not in done.stderr and b'\x07' not in done.stderr
