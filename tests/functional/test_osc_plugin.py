"""The agentsched commands under the real python-openstackclient (the OSC
plugin, agentsched/cli/osc_plugin.py), run as a user would against a real
agentsched-server (SQLite, two local agents, an encryption key for
credentials and psks).

Keystone is not here: the service catalog comes from a stand-in identity
endpoint that answers with keystoneauth's own token fixture.
"""

import http.server
import json
import socket
import threading
import uuid

from keystoneauth1 import fixture as ks_fixture
import pytest
import requests

from agentsched.cli import osc_plugin
# The server and CLI runners of the CLI's tests (the modules, not their
# names: pytest would collect their tests a second time).
from tests.functional import test_cli
from tests.functional import test_cli_resources

SECRET = 'osc-secret-%s' % uuid.uuid4().hex
PSK = 'osc-psk-%s' % uuid.uuid4().hex

# Every command of the plugin, as `openstack command list` names them.
COMMANDS = {
    'agentsched agent list', 'agentsched agent show', 'agentsched agent set',
    'agentsched agent delete',
    'agentsched device list', 'agentsched device show',
    'agentsched device create', 'agentsched device set',
    'agentsched device delete', 'agentsched device agent list',
    'agentsched agent device list', 'agentsched agent add device',
    'agentsched agent remove device',
    'agentsched vip create', 'agentsched vip list', 'agentsched vip show',
    'agentsched vip set', 'agentsched vip delete', 'agentsched vip failover',
    'agentsched vip agent show', 'agentsched vip member list',
    'agentsched vip stats show', 'agentsched agent vip list',
    'agentsched agent add vip', 'agentsched agent remove vip',
    'agentsched vpn connection create', 'agentsched vpn connection list',
    'agentsched vpn connection show', 'agentsched vpn connection set',
    'agentsched vpn connection delete',
    'agentsched vpn connection failover',
    'agentsched vpn connection agent show',
    'agentsched agent vpn connection list',
    'agentsched agent add vpn connection',
    'agentsched agent remove vpn connection',
    'agentsched scheduler health show',
}


class OSC(test_cli.CLI):
    """`openstack` with the given global options before every command;
    keeps every output, to look for secrets in."""

    program = 'openstack'

    def __init__(self, *options):
        super().__init__(None, *options)
        self.outputs = []

    def run(self, *args):
        result = super().run(*args)
        self.outputs += [result.stdout, result.stderr]
        return result

    def debug(self, *args):
        """stdout of a command that must succeed, run with --debug (whose
        log goes to stderr)."""
        result = self.run('--debug', *args)
        assert result.returncode == 0, result.stderr
        assert 'START with options' in result.stderr
        return result.stdout


@pytest.fixture(scope='module')
def server(tmp_path_factory, parsed_conf):
    server = test_cli_resources.start_server(tmp_path_factory.mktemp('osc'),
                                             parsed_conf, 'osctest')
    yield server
    server.stop()


@pytest.fixture(scope='module')
def osc(server):
    return OSC('--os-auth-type', 'none', '--os-endpoint', server.url)


def test_agent_list_with_each_way_to_the_endpoint(osc, server, tmp_path):
    agents = osc.json('agentsched', 'agent', 'list')
    local = sorted(a['Host'] for a in agents
                   if a['Host'].startswith('osctest-local-'))
    assert local == ['osctest-local-1', 'osctest-local-2']
    assert all(a['Alive'] is True for a in agents)
    assert set(agents[0]) == {'ID', 'Agent Type', 'Host',
                              'Availability Zone', 'Alive', 'State',
                              'Binary'}
    ids = sorted(a['ID'] for a in agents)
    for options in (
            # The plugin's own option, with or without auth.
            ('--os-auth-type', 'none', '--os-agentsched-endpoint',
             server.url),
            # osc-lib's admin_token (token_endpoint): --os-token and
            # --os-endpoint (the token is sent; noauth ignores it).
            ('--os-token', 'any', '--os-endpoint', server.url),
            # The version in the URL, as a catalog may have it.
            ('--os-auth-type', 'none', '--os-endpoint',
             server.url + '/v2.0/')):
        other = OSC(*options)
        assert sorted(a['ID'] for a in other.json(
            'agentsched', 'agent', 'list')) == ids
    # clouds.yaml: the plugin's key, or openstacksdk's override of the
    # service type.
    clouds = tmp_path / 'clouds.yaml'
    clouds.write_text(json.dumps({'clouds': {
        'plugin': {'auth_type': 'none', 'agentsched_endpoint': server.url},
        'override': {'auth_type': 'none',
                     'agent_scheduler_endpoint_override': server.url}}}))
    for cloud in ('plugin', 'override'):
        other = OSC('--os-cloud', cloud)
        other.env['OS_CLIENT_CONFIG_FILE'] = str(clouds)
        assert other.json('agentsched', 'agent', 'show', ids[0])['id'] == \
            ids[0]
    by_env = OSC('--os-auth-type', 'none')
    by_env.env['OS_AGENTSCHED_ENDPOINT'] = server.url
    assert by_env.json('agentsched', 'agent', 'show',
                       ids[0])['id'] == ids[0]
    # Nothing says where the API is.
    message = OSC('--os-auth-type', 'none').fails('agentsched', 'agent',
                                                   'list')
    assert message.startswith('No agentsched API endpoint')


def test_vip_round_trip(osc, server):
    vip = osc.json('agentsched', 'vip', 'create', 'web', '--address',
                   '10.0.0.10', '--protocol', 'http', '--protocol-port',
                   '80', '--member', '10.0.1.1:8080', '--device-type',
                   'noop')
    assert vip['name'] == 'web' and vip['protocol'] == 'HTTP'
    assert [(m['address'], m['protocol_port']) for m in vip['members']] \
        == [('10.0.1.1', 8080)]
    # Waiting asks the API itself: `openstack` takes a second to start.
    path = '%s/v2.0/lb/vips/%s' % (server.url, vip['id'])
    assert test_cli_resources.wait(
        lambda: requests.get(path).json()['vip']['status'] == 'ACTIVE')
    assert osc.json('agentsched', 'vip', 'show', vip['id'])['status'] == \
        'ACTIVE'
    hosting = osc.json('agentsched', 'vip', 'agent', 'show', vip['id'])
    assert hosting['host'].startswith('osctest-local-')
    assert vip['id'] in osc('agentsched', 'agent', 'vip', 'list',
                            hosting['agent_id'], '-f', 'value', '-c', 'ID')
    members = osc.json('agentsched', 'vip', 'member', 'list', vip['id'])
    assert members[0]['Address'] == '10.0.1.1' and members[0]['Port'] == 8080
    listed = osc('agentsched', 'vip', 'list', '-f', 'value', '-c', 'ID')
    assert vip['id'] in listed.split()
    assert osc('agentsched', 'vip', 'delete', vip['id']) == ''
    # Gone once its agent confirms the undeploy.
    assert test_cli_resources.wait(
        lambda: requests.get(path).status_code == 404)
    assert osc.fails('agentsched', 'vip', 'show', vip['id']).startswith(
        'Not found (HTTP 404)')


def test_secrets_appear_nowhere(osc, server):
    """Not in the output, nor in --debug's: the requests that carry them are
    not logged, and the command line osc-lib logs has them masked."""
    name = 'dev-%s' % uuid.uuid4().hex[:8]
    run = OSC(*osc.options)
    created = json.loads(run.debug(
        'agentsched', 'device', 'create', name, '--device-type',
        'strongswan', '--physical-info', 'address=203.0.113.9',
        '--credential', 'private_key=' + SECRET, '-f', 'json'))
    assert created['has_credentials'] is True
    device_id = created['id']
    # Keys osc-lib's own masking does not know (it knows private_key).
    other = json.loads(run.debug(
        'agentsched', 'device', 'create', name + '-noop', '--device-type',
        'noop', '--credential', 'community=%s-c' % SECRET, '-f', 'json'))
    assert other['has_credentials'] is True
    run.debug('-v', 'agentsched', 'device', 'set', other['id'],
              '--credentials-json', '{"snmp": {"community": "%s-j"}}' %
              SECRET)
    run.debug('agentsched', 'device', 'set', other['id'],
              '--credential=community=%s-e' % SECRET)
    # A failure (the name is taken), with --debug's traceback.
    failed = run.run('--debug', 'agentsched', 'device', 'create', name,
                     '--device-type', 'strongswan', '--physical-info',
                     'address=x', '--credential', 'private_key=' + SECRET)
    assert failed.returncode == 1
    assert 'Conflict (HTTP 409)' in failed.stderr
    assert 'has_credentials' in run('agentsched', 'device', 'show',
                                    device_id)
    connection = json.loads(run.debug(
        'agentsched', 'vpn', 'connection', 'create', 'branch',
        '--peer-address', '203.0.113.9', '--peer-id', 'branch',
        '--peer-cidr', '10.2.0.0/16', '--local-cidr', '10.1.0.0/16',
        '--psk', PSK, '-f', 'json'))
    assert connection['has_psk'] is True and 'psk' not in connection
    run.debug('agentsched', 'vpn', 'connection', 'set', connection['id'],
              '--spec-json', '{"psk": "%s-2"}' % PSK)
    assert run.json('agentsched', 'vpn', 'connection', 'show',
                    connection['id'])['has_psk'] is True
    for output in run.outputs:
        assert SECRET not in output and PSK not in output, output
    # osc-lib's line of the command line was there, masked.
    assert any('START with options' in output and '--psk ******' in output
               for output in run.outputs)
    # --debug logs the requests that carry no secret (so the runs above
    # would have shown the others' bodies, had they been logged).
    assert '"capacity": 4' in run.run(
        '--debug', 'agentsched', 'device', 'set', device_id, '--capacity',
        '4').stderr
    assert SECRET not in server.process.log()
    assert PSK not in server.process.log()


def test_errors_are_one_line(osc):
    missing = str(uuid.uuid4())
    assert osc.fails('agentsched', 'agent', 'show', missing).startswith(
        'Not found (HTTP 404): Agent %s could not be found.' % missing)
    assert osc.fails('agentsched', 'agent', 'list', '--sort-key',
                     'alive').startswith('Bad request (HTTP 400)')
    with socket.socket() as probe:
        probe.bind(('127.0.0.1', 0))
        free_port = probe.getsockname()[1]
    message = OSC('--os-auth-type', 'none', '--os-endpoint',
                  'http://127.0.0.1:%d' % free_port).fails(
        'agentsched', 'device', 'list')
    assert message.startswith('Cannot connect to the agentsched API at '
                              'http://127.0.0.1:%d' % free_port)
    # The hint names openstack's options, not the standalone CLI's.
    assert '--os-agentsched-endpoint' in message and '--os-url' not in message


def test_help_lists_the_commands():
    # No server, no auth: listing and help need neither.
    osc = OSC()
    groups = osc.json('command', 'list', '--group', 'agentsched')
    assert [g['Command Group'] for g in groups] == ['openstack.agentsched.v2']
    assert set(groups[0]['Commands']) == COMMANDS
    usage = osc('--help')
    for name in COMMANDS:
        assert '  %s ' % name in usage, name
    assert '--os-agentsched-endpoint' in usage
    detail = osc('help', 'agentsched', 'vpn', 'connection', 'create')
    assert 'usage: openstack agentsched vpn connection create' in detail
    assert '--psk <pre-shared-key>' in detail


# -- the service catalog ---------------------------------------------------

class _Identity(http.server.BaseHTTPRequestHandler):
    """Keystone's two answers a password login needs: its version document
    and a token, here keystoneauth's fixture with the catalog given."""

    catalog = None

    def _answer(self, status, body, headers=()):
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header('Content-Type', 'application/json')
        self.send_header('Content-Length', str(len(data)))
        for header in headers:
            self.send_header(*header)
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        href = 'http://%s:%d/v3' % self.server.server_address
        self._answer(200, {'version': ks_fixture.V3Discovery(href)})

    def do_POST(self):
        self.rfile.read(int(self.headers.get('Content-Length', 0)))
        token = ks_fixture.V3Token(project_id='p1', project_name='admin',
                                   project_domain_id='default',
                                   user_domain_id='default')
        for service_type, region, url in self.server.catalog:
            service = token.add_service(service_type)
            service.add_standard_endpoints(public=url, internal=url,
                                           region=region)
        self._answer(201, token, [('X-Subject-Token', uuid.uuid4().hex)])

    def log_message(self, *args):
        pass


@pytest.fixture
def identity():
    httpd = http.server.ThreadingHTTPServer(('127.0.0.1', 0), _Identity)
    httpd.catalog = []
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield httpd
    httpd.shutdown()
    httpd.server_close()


def test_endpoint_from_the_service_catalog(server, identity):
    with socket.socket() as probe:
        probe.bind(('127.0.0.1', 0))
        nowhere = 'http://127.0.0.1:%d' % probe.getsockname()[1]
    identity.catalog = [
        (osc_plugin.SERVICE_TYPE, 'RegionOne', server.url + '/v2.0'),
        (osc_plugin.SERVICE_TYPE, 'RegionTwo', nowhere),
        ('network', 'RegionOne', nowhere)]
    login = ('--os-auth-type', 'password',
             '--os-auth-url', 'http://127.0.0.1:%d/v3' %
             identity.server_address[1],
             '--os-username', 'admin', '--os-password', 'pw',
             '--os-project-name', 'admin', '--os-user-domain-id', 'default',
             '--os-project-domain-id', 'default')
    one = OSC(*login + ('--os-region-name', 'RegionOne'))
    hosts = one('agentsched', 'agent', 'list', '-f', 'value', '-c', 'Host')
    assert {'osctest-local-1', 'osctest-local-2'} <= set(hosts.split())
    # The region chooses the endpoint.
    message = OSC(*login + ('--os-region-name', 'RegionTwo')).fails(
        'agentsched', 'agent', 'list')
    assert message.startswith('Cannot connect to the agentsched API at '
                              '%s' % nowhere)
    # --os-agentsched-endpoint wins over the catalog.
    assert OSC(*login + ('--os-region-name', 'RegionTwo',
                         '--os-agentsched-endpoint', server.url)).json(
        'agentsched', 'agent', 'list')
    # A catalog without the service type.
    identity.catalog = [('network', 'RegionOne', nowhere)]
    message = one.fails('agentsched', 'agent', 'list')
    assert message.startswith('No agentsched API endpoint')
    assert osc_plugin.SERVICE_TYPE in message


def test_secret_values_of_a_command_line():
    argv = ['--debug', 'agentsched', 'device', 'create', 'd',
            '--credential', 'password=hunter22', '--credential=pin=12345',
            '--credentials-json', '{"key": "k\\u0041-secret"}',
            '--psk=psk-value', '--spec-json', '{"psk": "spec-psk"}',
            '--spec-json', '{"mtu": 1400}', '--name', 'not-secret',
            '--credential', 'no-equals-sign', '--psk']
    found = osc_plugin._secret_values(argv)
    assert set(found) == {
        'hunter22', '12345', '{"key": "k\\u0041-secret"}', 'kA-secret',
        'psk-value', '{"psk": "spec-psk"}', 'spec-psk', 'no-equals-sign'}
    assert found == sorted(found, key=len, reverse=True)
    assert osc_plugin._secret_values(['agentsched', 'vip', 'list']) == []
