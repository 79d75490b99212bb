"""The haproxy_ssh device type (issue 15): what physical_info and
credentials it accepts (agentsched/formats.py's SSH formats), and the
driver's refusals before any connection. Against a real sshd and haproxy:
tests/functional/test_haproxy_ssh.py."""

import base64
import struct
import subprocess
import threading
import time

import pytest

from agentsched import constants
from agentsched import formats
from agentsched.agents.drivers import haproxy_ssh
from agentsched.agents.drivers import hosts
from agentsched.services import device_types
from agentsched.services.device_types import haproxy_ssh as device_type


def blob(*fields):
    return base64.b64encode(b''.join(
        struct.pack('>I', len(field)) + field for field in fields)).decode()


ED25519 = 'ssh-ed25519 ' + blob(b'ssh-ed25519', b'k' * 32)
ECDSA = 'ecdsa-sha2-nistp256 ' + blob(b'ecdsa-sha2-nistp256', b'nistp256',
                                      b'\x04' + b'p' * 64)
RSA = 'ssh-rsa ' + blob(b'ssh-rsa', b'\x01\x00\x01', b'\x00' + b'n' * 256)


@pytest.fixture(scope='module')
def keys(tmp_path_factory):
    """A real key pair of each kind ssh-keygen makes."""
    directory = tmp_path_factory.mktemp('keys')
    found = {}
    for kind, options in (('ed25519', []), ('ecdsa', []), ('rsa', []),
                          ('rsa-pem', ['-t', 'rsa', '-m', 'PEM']),
                          ('ecdsa-pem', ['-t', 'ecdsa', '-m', 'PEM']),
                          ('encrypted', ['-t', 'ed25519', '-N', 'secret'])):
        path = directory / kind
        subprocess.run(['ssh-keygen', '-q', '-N', '', '-C', '', '-f',
                        str(path)] + (options or ['-t', kind]), check=True)
        found[kind] = (path.read_text(), ' '.join(
            (directory / (kind + '.pub')).read_text().split()[:2]))
    return found


@pytest.mark.parametrize('line', [
    ED25519, ECDSA, RSA, '10.0.0.1 ' + ED25519, '[lb-1.example]:2222 ' + RSA,
    '|1|c2FsdA==|aGFzaA== ' + ED25519])
def test_host_keys_accepted(line):
    kind, key = formats.ssh_host_key(line, 'host_key')
    assert kind == line.split(' ')[-2]
    assert base64.b64encode(key).decode() == line.split(' ')[-1]


def test_host_keys_of_ssh_keygen_accepted(keys):
    for _private, public in keys.values():
        formats.ssh_host_key(public, 'host_key')


@pytest.mark.parametrize('line', [
    '', 'ssh-ed25519', ED25519 + ' me@lb-1', ED25519 + '\n', ' ' + ED25519,
    ED25519.replace(' ', '  '), ED25519.replace(' ', '\t'),
    'ssh-dss ' + blob(b'ssh-dss', b'p', b'q', b'g', b'y'),
    'ssh-rsa ' + ED25519.split(' ')[1],
    'ssh-ed25519 ' + blob(b'ssh-ed25519', b'k' * 31),
    'ssh-ed25519 ' + blob(b'ssh-ed25519', b'k' * 32, b'extra'),
    'ssh-ed25519 ' + ED25519.split(' ')[1][:-4],
    'ssh-ed25519 AAAA', 'ssh-ed25519 not*base64',
    'ssh-rsa ' + 'A' * 5000, 'host\nssh-ed25519 ' + ED25519.split(' ')[1],
    '@cert-authority * ' + ED25519, None, 7])
def test_host_keys_refused_naming_the_field_only(line):
    with pytest.raises(formats.InvalidFormat) as info:
        formats.ssh_host_key(line, 'physical_info.host_key')
    assert str(info.value).startswith('physical_info.host_key')
    if isinstance(line, str) and len(line) > 20:
        assert line.split(' ')[-1][:20] not in str(info.value)


@pytest.mark.parametrize('value, good', [
    ('/var/lib/agentsched/haproxy', True), ('/', True),
    ('/a/b-c_d.e+f@g=h', True), ('relative/dir', False), ('/a,b', False),
    ('/a:b', False), ('/a b', False), ('/a\n', False), ('', False),
    ('/' + 'a' * 1024, False)])
def test_appliance_paths(value, good):
    if good:
        assert formats.appliance_path(value, 'config_dir') == value
    else:
        with pytest.raises(formats.InvalidFormat, match='^config_dir '):
            formats.appliance_path(value, 'config_dir')


def test_private_keys_of_ssh_keygen(keys):
    for kind, (private, _public) in keys.items():
        if kind == 'encrypted':
            continue
        assert formats.ssh_private_key(private, 'private_key') == private


@pytest.mark.parametrize('text', [
    '-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n',
    '-----BEGIN RSA PRIVATE KEY-----\nProc-Type: 4,ENCRYPTED\nAAAA\n'
    '-----END RSA PRIVATE KEY-----\n',
    '-----BEGIN OPENSSH PRIVATE KEY-----\nAAAA\n'
    '-----END RSA PRIVATE KEY-----\n',
    '-----BEGIN OPENSSH PRIVATE KEY-----\nAA AA\n'
    '-----END OPENSSH PRIVATE KEY-----\n',
    'x-----BEGIN OPENSSH PRIVATE KEY-----\nAAAA\n'
    '-----END OPENSSH PRIVATE KEY-----\n', 'secret', ''])
def test_private_keys_refused_without_a_byte_of_them(text):
    with pytest.raises(formats.InvalidFormat) as info:
        formats.ssh_private_key(text, 'private_key')
    assert 'AAAA' not in str(info.value) and 'secret' not in str(info.value)


@pytest.mark.parametrize('credentials, error', [
    ({'username': 'lb', 'password': 'x'}, None),
    ({'username': 'agentsched_1.lb-a', 'password': 'p' * 1024}, None),
    ({'username': 'lb'}, 'exactly one'),
    ({'username': 'lb', 'password': 'x', 'private_key': 'y'}, 'exactly one'),
    ({'username': '1lb', 'password': 'x'}, 'username'),
    ({'username': '-oProxyCommand=x', 'password': 'x'}, 'username'),
    ({'username': 'lb user', 'password': 'x'}, 'username'),
    ({'username': 'x' * 33, 'password': 'x'}, 'username'),
    ({'username': 'lb', 'password': 'a\0b'}, 'password'),
    ({'username': 'lb', 'password': ''}, 'password'),
    ({'username': 'lb', 'private_key': 'not a key'}, 'private_key'),
    ({'username': 'lb', 'password': 'x', 'passphrase': 'y'}, 'unknown'),
])
def test_credentials(credentials, error):
    if error is None:
        assert formats.ssh_credentials(credentials) == credentials
        return
    with pytest.raises(formats.InvalidFormat, match=error) as info:
        formats.ssh_credentials(credentials)
    for value in credentials.values():
        if len(value) > 3:
            assert value not in str(info.value)


# -- the device type -----------------------------------------------------

@pytest.fixture(scope='module')
def kind():
    return device_types.Registry().get('haproxy_ssh')


def test_the_device_type_is_installed(kind):
    assert isinstance(kind, device_type.HAProxySSH)
    assert kind.service_types == (constants.SERVICE_LOADBALANCER,)


def test_a_full_device(kind, keys):
    private, public = keys['ed25519']
    kind.validate('LOADBALANCER', {
        'address': 'lb-1.example', 'ssh_port': 2222, 'host_key': public,
        'ssh_timeout': 5, 'config_dir': '/srv/haproxy',
        'stats_socket': '/run/haproxy/agentsched.sock',
        'haproxy_binary': '/usr/sbin/haproxy'},
        {'username': 'agentsched', 'private_key': private})
    # An update may change physical_info alone (credentials unchanged).
    kind.validate(None, {'address': '192.0.2.10', 'host_key': public}, None)


@pytest.mark.parametrize('physical_info, error', [
    ({'host_key': ED25519}, "must contain \\['address'\\]"),
    ({'address': '192.0.2.10'}, 'host_key'),
    ({'address': '192.0.2.10', 'host_key': ED25519, 'port': 22}, 'must not'),
    ({'address': '192.0.2.10\n', 'host_key': ED25519}, 'address'),
    ({'address': '192.0.2.10', 'host_key': ED25519 + ' me@host'},
     'host_key'),
    ({'address': '192.0.2.10', 'host_key': ED25519, 'ssh_port': 0},
     'ssh_port'),
    ({'address': '192.0.2.10', 'host_key': ED25519, 'ssh_timeout': 121},
     'ssh_timeout'),
    ({'address': '192.0.2.10', 'host_key': ED25519,
      'config_dir': 'haproxy'}, 'config_dir'),
    ({'address': '192.0.2.10', 'host_key': ED25519,
      'stats_socket': '/run/a,b.sock'}, 'stats_socket'),
    ({'address': '192.0.2.10', 'host_key': ED25519,
      'haproxy_binary': '/usr/sbin/haproxy; reboot'}, 'haproxy_binary'),
])
def test_physical_info_refused(kind, physical_info, error):
    with pytest.raises(device_types.InvalidDevice, match=error):
        kind.validate('LOADBALANCER', physical_info)


def test_credentials_refused_without_their_values(kind, keys):
    private, _public = keys['encrypted']
    for credentials in ({'username': 'lb'},
                        {'username': 'lb', 'password': 'hunter2',
                         'private_key': private},
                        {'username': 'lb', 'password': 'hunter2',
                         'token': 'x'},
                        {'username': 'l b', 'password': 'hunter2'}):
        with pytest.raises(device_types.InvalidDevice) as info:
            kind.validate('LOADBALANCER', None, credentials)
        message = str(info.value)
        assert message.startswith('credentials for device_type haproxy_ssh')
        assert 'hunter2' not in message and private[40:60] not in message


# -- the driver, before any connection -----------------------------------

def driver(parsed_conf, physical_info=None, credentials=None):
    return haproxy_ssh.HAProxySSHDriver({
        'id': 'd', 'name': 'appliance', 'device_type': 'haproxy_ssh',
        'physical_info': physical_info if physical_info is not None else {
            'address': '192.0.2.10', 'host_key': ED25519},
        'credentials': credentials}, parsed_conf)


@pytest.mark.parametrize('physical_info, credentials, reason', [
    ({'address': '192.0.2.10'}, {'username': 'lb', 'password': 'x'},
     'physical_info.host_key is missing'),
    ({'address': '192.0.2.10', 'host_key': ED25519}, None,
     'credentials are missing'),
    ({'address': '192.0.2.10', 'host_key': ED25519},
     {'username': 'lb', 'private_key': '-----BEGIN OPENSSH PRIVATE KEY-----'
      '\nAAAA\n-----END OPENSSH PRIVATE KEY-----\n'},
     'credentials.private_key: not an Ed25519, ECDSA or RSA key'),
    ({'address': '192.0.2.10', 'host_key': ED25519, 'ssh_port': 'x'},
     {'username': 'lb', 'password': 'x'}, 'physical_info.ssh_port'),
    ({}, {'username': 'lb', 'password': 'x'}, 'physical_info.address'),
])
def test_a_device_the_driver_cannot_use_is_down_saying_why(
        parsed_conf, physical_info, credentials, reason):
    unusable = driver(parsed_conf, physical_info, credentials)
    health, load, why = unusable.health()
    assert (health, load) == (constants.HEALTH_DOWN, 0)
    assert why.startswith(reason)
    with pytest.raises(Exception, match='^' + reason):
        unusable.deploy({'id': 'v1', 'spec': {
            'address': '192.0.2.10', 'protocol': 'TCP', 'protocol_port': 80,
            'members': []}})
    assert unusable.resources() == set()
    assert unusable.operating_status() == {}
    assert unusable.statistics() == {}


def test_an_encrypted_key_says_so(parsed_conf, keys):
    private, _public = keys['encrypted']
    why = driver(parsed_conf, credentials={
        'username': 'lb', 'private_key': private}).health()[2]
    assert why.startswith('credentials.private_key is encrypted')


def test_each_kind_of_private_key_loads(parsed_conf, keys):
    for kind, (private, _public) in keys.items():
        if kind == 'encrypted':
            continue
        loaded = driver(parsed_conf, credentials={
            'username': 'lb', 'private_key': private})
        assert loaded.host._problem is None, kind


def test_the_credentials_stay_in_the_host(parsed_conf):
    held = driver(parsed_conf, credentials={'username': 'lb',
                                            'password': 'hunter2'})
    assert held.device['credentials'] is None
    assert 'hunter2' not in repr(vars(held))


def test_a_new_host_key_or_login_is_the_same_device_taken_in_place(
        parsed_conf, keys):
    first = driver(parsed_conf, credentials={'username': 'lb',
                                             'password': 'x'})
    _private, public = keys['ed25519']
    rotated = {'device_type': 'haproxy_ssh', 'name': 'appliance',
               'physical_info': {'address': '192.0.2.10', 'host_key': public,
                                 'ssh_port': 2222},
               'credentials': {'username': 'lb', 'password': 'y'}}
    assert first.serves(rotated)
    old = first.host
    first.adopt(rotated)
    assert first.host is not old
    assert first.host.port == 2222
    assert first.physical_info['host_key'] == public
    # The address or the files: another device.
    for changes in ({'address': '192.0.2.11'}, {'config_dir': '/srv/x'},
                    {'stats_socket': '/run/x.sock'}):
        other = dict(rotated, physical_info=dict(rotated['physical_info'],
                                                 **changes))
        assert not first.serves(other)
    assert not first.serves(dict(rotated, device_type='haproxy'))


def test_defaults(parsed_conf):
    default = driver(parsed_conf, credentials={'username': 'lb',
                                               'password': 'x'})
    assert default.directory == haproxy_ssh.DEFAULT_CONFIG_DIR
    assert default.stats_socket == haproxy_ssh.DEFAULT_CONFIG_DIR + \
        '/haproxy.sock'
    assert (default.host.port, default.host.timeout) == (22, 10)
    assert default.local is False


def test_a_wait_without_a_timeout_is_cut_by_the_watchdog(parsed_conf):
    """paramiko awaits an exec request's answer with no timeout: the
    watchdog closes the connection, which ends the wait."""
    host = driver(parsed_conf, credentials={'username': 'lb',
                                            'password': 'x'}).host
    closed = threading.Event()

    class Client:
        def close(self):
            closed.set()

        def get_transport(self):
            return None

    host._client = Client()
    started = time.monotonic()
    with pytest.raises(hosts.Unreachable, match='^waiting: no answer from '
                       '192.0.2.10 within 1 s$'):
        with host._trying('waiting', 1):
            # As paramiko's wait: over when the connection closes.
            closed.wait(10)
            raise EOFError()
    assert 1 <= time.monotonic() - started < 3
    assert host._client is None


def test_rotated_credentials_from_a_sync_apply_without_a_deploy(
        parsed_conf):
    """The agent's health look passes the sync's devices to driver(): a
    new login takes effect there; one the agent could not open does not
    replace the login it has."""
    from agentsched.agents import deployments
    managed = deployments.Deployments(lambda *args: None, conf=parsed_conf)
    synced = {'device_type': 'haproxy_ssh', 'name': 'appliance',
              'physical_info': {'address': '192.0.2.10', 'host_key': ED25519},
              'credentials': {'username': 'lb', 'password': 'x'}}
    held = managed.driver(synced)
    first = held.host
    rotated = dict(synced, credentials={'username': 'lb', 'password': 'y'})
    assert managed.driver(rotated) is held
    assert held.host is not first
    second = held.host
    unopened = dict(synced, credentials=None,
                    credentials_error='not sealed for this host')
    assert managed.driver(unopened) is held
    assert held.host is second
    # A heartbeat's own entry (no physical_info) changes nothing.
    assert managed.driver({'device_type': 'haproxy_ssh',
                           'name': 'appliance'}) is held
    assert held.host is second
