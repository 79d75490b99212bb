"""The agentsched device commands, run as a user would, against a real
agentsched-server (SQLite, with an encryption key for credentials)."""

import json
import uuid

import pytest
import sqlalchemy as sa

from agentsched import liveness
from agentsched.cli import client as cli_client
from agentsched.cli import devices as cli_devices
from agentsched.db import models
from agentsched.services import secrets
from tests import api_fixtures
from tests import commands
# The server and CLI runners of the agent commands' tests (the module, not
# its names: pytest would collect its tests a second time).
from tests.functional import test_cli

SECRET = 'cli-secret-%s' % uuid.uuid4().hex


@pytest.fixture(scope='module')
def server(tmp_path_factory, parsed_conf):
    server = test_cli.Server(
        tmp_path_factory.mktemp('cli-devices'), parsed_conf,
        DEFAULT={'host': 'devcli'},
        secrets={'encryption_keys': secrets.generate_key()})
    yield server
    server.stop()


@pytest.fixture(scope='module')
def cli(server):
    return test_cli.CLI(server.url)


def _name():
    return 'dev-%s' % uuid.uuid4().hex[:8]


def _create(cli, name=None, *args):
    return cli.json('device', 'create', name or _name(), '--device-type',
                    'noop', *args)


def test_create_show_and_legacy_spellings(cli):
    name = _name()
    device = cli.json(
        'device', 'create', name, '--device-type', 'strongswan',
        '--service-type', 'vpn', '--capacity', '20',
        '--physical-info', 'address=203.0.113.5',
        '--physical-info', 'port=4500', '--capability', 'ikev2=true',
        '--capability', 'vendor=acme', '--availability-zone', 'az-dev',
        '--disable')
    assert device['name'] == name and device['device_type'] == 'strongswan'
    assert device['service_type'] == 'VPN' and device['capacity'] == 20
    # Digits became an integer, true a boolean, the rest strings.
    assert device['physical_info'] == {'address': '203.0.113.5',
                                       'port': 4500}
    assert device['capabilities'] == {'ikev2': True, 'vendor': 'acme'}
    assert device['admin_state_up'] is False
    assert device['has_credentials'] is False
    assert device['availability_zone'] == 'az-dev'
    assert (device['source'], device['health'], device['revision_number']) \
        == ('admin', 'UNKNOWN', 0)
    assert 'credentials' not in device
    assert cli.json('device', 'show', device['id']) == device
    assert cli.json('device-show', device['id']) == device
    table = cli('device', 'show', device['id'])
    assert '"port": 4500' in table and 'DOWN' in table

    nested = cli.json(
        'device-create', _name(), '--device-type', 'strongswan',
        '--physical-info-json', '{"address": "198.51.100.1", "management": '
        '{"vici_socket": "/run/charon.vici"}}',
        '--capabilities-json', '{"ciphers": ["aes256"]}',
        '--capability', 'ikev2=false')
    assert nested['physical_info']['management'] == {
        'vici_socket': '/run/charon.vici'}
    # KEY=VALUE pairs go over the JSON document.
    assert nested['capabilities'] == {'ciphers': ['aes256'], 'ikev2': False}
    assert nested['service_type'] == 'VPN' and nested['admin_state_up']


def test_a_projects_private_device(cli):
    """An admin registers a project's device (issue 15) and lists a
    project's devices; --long shows every owner."""
    project = 'p-%s' % uuid.uuid4().hex[:6]
    private = _create(cli, None, '--project', project)
    shared = _create(cli)
    assert (private['project_id'], private['tenant_id']) == (project,
                                                            project)
    assert shared['project_id'] is None
    assert cli('device', 'list', '-f', 'value', '-c', 'ID', '--project',
               project).split() == [private['id']]
    owners = {d['ID']: d['Project'] for d in cli.json('device', 'list',
                                                      '--long')}
    assert (owners[private['id']], owners[shared['id']]) == (project, None)


def test_list_filters_long_and_paging(cli):
    zone = 'az-%s' % uuid.uuid4().hex[:6]
    lb = _create(cli, None, '--availability-zone', zone)
    vpn = _create(cli, None, '--availability-zone', zone,
                  '--service-type', 'VPN')

    def ids(*args):
        return set(cli('device', 'list', '-f', 'value', '-c', 'ID',
                       '--availability-zone', zone, *args).split())

    assert ids() == {lb['id'], vpn['id']}
    assert ids('--service-type', 'vpn') == {vpn['id']}
    assert ids('--device-type', 'noop', '--health', 'unknown',
               '--source', 'admin') == {lb['id'], vpn['id']}
    assert ids('--device-type', 'haproxy') == set()
    assert ids('--health', 'OK') == set()
    assert ids('--source', 'reported') == set()

    listed = cli.json('device', 'list', '--availability-zone', zone)
    assert set(listed[0]) == {'ID', 'Name', 'Device Type', 'Service Type',
                              'Availability Zone', 'Health', 'State'}
    assert all(d['State'] is True for d in listed)
    long = cli.json('device', 'list', '--availability-zone', zone, '--long')
    assert {'Capacity', 'Used', 'Source', 'Has Credentials',
            'Revision Number', 'Updated At'} <= set(long[0])
    table = cli('device', 'list', '--availability-zone', zone)
    assert '| Device Type ' in table and 'UP' in table

    for _ in range(2):
        _create(cli)
    everything = cli.json('device', 'list')
    assert len(everything) >= 4
    paged = cli.json('device', 'list', '--limit', '1')
    assert sorted(d['ID'] for d in paged) == sorted(
        d['ID'] for d in everything)
    names = cli('device-list', '--limit', '2', '--sort-key', 'name',
                '--sort-dir', 'desc', '-f', 'value', '-c', 'Name').split()
    assert names == sorted((d['Name'] for d in everything), reverse=True)


def test_set_update_and_revisions(cli):
    device = cli.json('device', 'create', _name(), '--device-type',
                      'strongswan', '--physical-info', 'address=192.0.2.1',
                      '--capability', 'ikev2=true')
    device_id = device['id']

    def shown():
        return cli.json('device', 'show', device_id)

    assert cli('device', 'set', device_id, '--capacity', '30',
               '--if-revision', '0') == ''
    assert (shown()['capacity'], shown()['revision_number']) == (30, 1)
    message = cli.fails('device', 'set', device_id, '--capacity', '40',
                        '--if-revision', '0')
    assert message.startswith('Precondition failed (HTTP 412): Constrained '
                              'to 0, but current revision is 1')
    assert shown()['capacity'] == 30

    # Pairs change keys of the current document; -json replaces it.
    cli('device', 'set', device_id, '--physical-info', 'port=4500',
        '--capability', 'mobike=false', '--disable', '--name', 'renamed-' +
        device_id[:8], '--availability-zone', 'az-set')
    now = shown()
    assert now['physical_info'] == {'address': '192.0.2.1', 'port': 4500}
    assert now['capabilities'] == {'ikev2': True, 'mobike': False}
    assert now['admin_state_up'] is False
    assert now['name'] == 'renamed-' + device_id[:8]
    assert now['availability_zone'] == 'az-set'
    cli('device', 'set', device_id, '--capabilities-json', '{"x": [1]}')
    assert shown()['capabilities'] == {'x': [1]}
    # strongswan needs an address: the server's 400, in one line.
    assert 'physical_info for device_type strongswan' in cli.fails(
        'device', 'set', device_id, '--physical-info-json', '{}')

    out = cli('device-update', device_id, '--admin-state-up', 'true',
              '--capacity', '7', '--if-revision',
              str(shown()['revision_number']))
    assert out.strip() == 'Updated device: %s' % device_id
    assert (shown()['admin_state_up'], shown()['capacity']) == (True, 7)
    cli('device-update', device_id, '--admin-state-down')
    assert shown()['admin_state_up'] is False
    assert 'Precondition failed (HTTP 412)' in cli.fails(
        'device-update', device_id, '--capacity', '1', '--if-revision', '0')


def _bind(engine, device_id, agent_id):
    """A resource bound to the device, which makes deleting it a 409."""
    now = liveness.utcnow()
    resource = str(uuid.uuid4())
    with engine.begin() as connection:
        connection.execute(sa.insert(models.resources).values(
            id=resource, project_id='p', resource_type='vip', spec='{}',
            requirements='{}', units=1, status='ACTIVE', created_at=now))
        connection.execute(sa.insert(models.bindings).values(
            resource_id=resource, device_id=device_id, agent_id=agent_id,
            generation=1, created_at=now))


def test_delete(cli, server):
    first, second, third = (_create(cli)['id'] for _ in range(3))
    assert cli('device', 'delete', first) == ''
    assert 'could not be found' in cli.fails('device', 'show', first)
    assert cli('device-delete', second) == ''

    busy = _create(cli)['id']
    _bind(server.engine, busy, api_fixtures.add_agent(server.engine,
                                                      _name()))
    assert cli.fails('device', 'delete', busy).startswith(
        'Conflict (HTTP 409): Device %s hosts 1 resource(s); move or delete '
        'them first' % busy)

    missing = str(uuid.uuid4())
    result = commands.run('agentsched', 'device', 'delete', missing, third,
                          check=False, env=cli.env)
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert lines[0].startswith('%s: Not found (HTTP 404): Device %s could '
                               'not be found.' % (missing, missing))
    assert lines[-1] == '1 of 2 devices not deleted'
    ids = cli('device', 'list', '-f', 'value', '-c', 'ID').split()
    assert busy in ids and third not in ids


def test_agent_devices(cli, server):
    agent = api_fixtures.add_agent(server.engine, _name())
    other = api_fixtures.add_agent(server.engine, _name())
    device, legacy = _create(cli)['id'], _create(cli)['id']
    assert cli('agent', 'device', 'add', agent, device) == ''
    assert cli('agent-device-add', agent, legacy).strip() == \
        'Added device %s to agent %s' % (legacy, agent)
    cli('agent', 'device', 'add', other, device)
    assert cli.fails('agent', 'device', 'add', agent, device).startswith(
        'Conflict (HTTP 409): Device %s is already on agent' % device)

    listed = cli.json('agent', 'device', 'list', agent)
    assert sorted(d['ID'] for d in listed) == sorted([device, legacy])
    assert set(listed[0]) >= {'ID', 'Name', 'Device Type', 'State',
                              'Assignment'}
    assert {d['Assignment'] for d in listed} == {'pinned'}
    paged = cli.json('agent-device-list', agent, '--limit', '1', '--long')
    assert sorted(d['ID'] for d in paged) == sorted([device, legacy])
    assert 'Revision Number' in paged[0]

    reaching = cli.json('device', 'agent', 'list', device)
    assert sorted(a['ID'] for a in reaching) == sorted([agent, other])
    assert set(reaching[0]) == {'ID', 'Agent Type', 'Host', 'Alive', 'State',
                                'Device Missing', 'Device Health',
                                'Device Load', 'Assignment'}
    assert all(a['Alive'] is True and a['Device Missing'] is False
               for a in reaching)
    assert ':-)' in cli('device', 'agent', 'list', device)

    assert cli('agent', 'device', 'remove', agent, device) == ''
    assert cli('agent-device-remove', agent, legacy).strip() == \
        'Removed device %s from agent %s' % (legacy, agent)
    assert cli.json('agent', 'device', 'list', agent) == []
    assert cli.fails('agent', 'device', 'remove', agent, device).startswith(
        'Not found (HTTP 404): Device %s is not on agent' % device)
    assert cli.fails('agent', 'device', 'list', 'nope').startswith(
        'Not found (HTTP 404): Agent nope could not be found.')


def test_errors_are_one_line(cli):
    message = cli.fails('device', 'create', _name(), '--device-type',
                        'teleporter')
    assert message.startswith("Bad request (HTTP 400): Unknown device_type "
                              "'teleporter'; known: haproxy, haproxy_ssh, "
                              "noop, strongswan [request req-")
    assert cli.fails('device-create', _name(), '--device-type',
                     'haproxy', '--service-type', 'VPN').startswith(
        'Bad request (HTTP 400): device_type haproxy serves LOADBALANCER, '
        'not VPN')
    name = _name()
    _create(cli, name)
    assert cli.fails('device', 'create', name, '--device-type',
                     'noop').startswith('Conflict (HTTP 409): A device '
                                        'named %s already exists' % name)
    missing = str(uuid.uuid4())
    assert cli.fails('device', 'show', missing).startswith(
        'Not found (HTTP 404): Device %s could not be found.' % missing)
    assert cli.fails('device', 'set', missing, '--enable').startswith(
        'Not found (HTTP 404)')
    assert cli.fails('device', 'agent', 'list', missing).startswith(
        'Not found (HTTP 404)')


class _Runs:
    """Every output of the commands run, to look for the secret in."""

    def __init__(self, env):
        self.env = env
        self.outputs = []

    def __call__(self, *args, status=0):
        result = commands.run('agentsched', *args, check=False, env=self.env)
        self.outputs += [result.stdout, result.stderr]
        assert result.returncode == status, (result.stdout, result.stderr)
        return result


def test_credentials_appear_nowhere(cli, server):
    run = _Runs(cli.env)
    name = _name()
    created = run('device', 'create', name, '--device-type', 'strongswan',
                  '--physical-info', 'address=203.0.113.9',
                  '--credential', 'private_key=' + SECRET, '-f', 'json')
    device_id = json.loads(created.stdout)['id']
    run('-v', '-v', '--debug', 'device', 'create', _name(), '--device-type',
        'noop',
        '--credential', 'password=' + SECRET,
        '--credential', 'token=' + SECRET + '-2')
    for args in (('device', 'show', device_id),
                 ('device', 'show', device_id, '-f', 'json'),
                 ('device-show', device_id, '-f', 'yaml'),
                 ('device', 'list', '--long'),
                 ('device', 'list', '--long', '-f', 'json')):
        assert 'has_credentials' in run(*args).stdout or args[1] == 'list'
    assert cli.json('device', 'show', device_id)['has_credentials'] is True

    run('device', 'set', device_id, '--credential',
        'private_key=' + SECRET + '-new')
    run('-v', '-v', '--debug', 'device', 'set', device_id,
        '--credentials-json',
        '{"private_key": "%s"}' % SECRET)
    run('-v', '-v', 'device-update', device_id, '--credential',
        'private_key=' + SECRET, '--capacity', '3')
    # Failures: the server's 400 (a key strongswan has no place for), its
    # 409 (the name is taken), 404, a 412, and malformed options.
    for args in (
            ('device', 'create', _name(), '--device-type', 'strongswan',
             '--physical-info', 'address=x', '--credential',
             'password=' + SECRET),
            ('device', 'create', name, '--device-type', 'strongswan',
             '--physical-info', 'address=x', '--credential',
             'private_key=' + SECRET),
            ('-v', '-v', '--debug', 'device', 'create', name,
             '--device-type',
             'strongswan', '--physical-info', 'address=x',
             '--credential', 'private_key=' + SECRET),
            ('device', 'set', str(uuid.uuid4()), '--credential',
             'private_key=' + SECRET),
            ('device', 'set', device_id, '--if-revision', '0',
             '--credential', 'private_key=' + SECRET),
            ('device', 'set', device_id, '--credential', 'private_key=' +
             SECRET, '--no-credentials')):
        assert run(*args, status=1).stderr.strip()
    # argparse's own errors: exit status 2.
    assert 'expected KEY=VALUE' in run('device', 'set', device_id,
                                       '--credential', SECRET,
                                       status=2).stderr
    assert 'not JSON' in run('device', 'set', device_id,
                             '--credentials-json',
                             '{"private_key": %s' % SECRET, status=2).stderr

    cli('device', 'set', device_id, '--no-credentials')
    assert cli.json('device', 'show', device_id)['has_credentials'] is False
    for output in run.outputs:
        assert SECRET not in output, output
    assert SECRET not in server.process.log()
    # -v -v logs the requests that carry no credentials (so the runs above
    # would have shown the others' bodies, had they been logged).
    assert '"capacity": 4' in run('-v', '-v', 'device', 'set', device_id,
                                  '--capacity', '4').stderr


def test_hiding_masks_the_values():
    credentials = {'password': 'hunter22', 'pin': 12345, 'on': True,
                   'nested': {'keys': ['k-one-1']}, 'short': 'ab'}
    with pytest.raises(cli_client.CLIError) as raised:
        with cli_devices.hiding(credentials):
            raise cli_client.CLIError('hunter22 12345 k-one-1 ab')
    assert str(raised.value) == '****** ****** ****** ab'
    assert raised.value.__cause__ is None and \
        raised.value.__suppress_context__
    with pytest.raises(cli_client.CLIError) as raised:
        with cli_devices.hiding(credentials):
            raise KeyError('hunter22')
    assert str(raised.value) == "Unexpected error: KeyError: '******'"
    with pytest.raises(KeyError):
        with cli_devices.hiding(None):
            raise KeyError('x')
