"""The haproxy_ssh driver against a real sshd and a real haproxy.

A network namespace plays the appliance VM: joined to this (root)
namespace by a veth pair (10.a.b.1/30 here, 10.a.b.2/30 there), it runs
Debian's sshd (an sshd_config, host key and authorized_keys of the test's
own, in a temporary directory) for a temporary unprivileged user that owns
the device's directory: the least privilege docs/drivers.md describes, no
sudo. The driver starts haproxy there through SSH, as that user, on the
namespace's address; the members are tiny HTTP servers of this process on
this side's address; the test's requests go from here through the veth.
A wrong host key, a closed port, a silent one and a frozen sshd make the
device DOWN with the reason, in bounded time; credentials never reach a
log line, at DEBUG, paramiko's included.

The namespace, its processes, the user and the directory go in every case.
Needs root, ip, sshd (openssh-server), haproxy, socat and flock (.ci/run
installs the packages); mandatory under CI=true (tests/conftest.py). About
20 s.
"""

import contextlib
import io
import logging
import os
import random
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
import urllib.request
import uuid

import pytest

from agentsched import constants
from agentsched.agents import deployments
from agentsched.agents.drivers import haproxy
from agentsched.agents.drivers import haproxy_ssh
from agentsched.agents.drivers import hosts
from tests import http_backends
from tests.conftest import unavailable
from tests.functional.test_health_monitors import wait_for

SSHD = '/usr/sbin/sshd'
SFTP_SERVER = '/usr/lib/openssh/sftp-server'
PASSWORD = 'pw-%s "quoted" $HOME' % uuid.uuid4().hex
SSHD_CONFIG = '''\
ListenAddress %(address)s:22
HostKey %(dir)s/sshd/host_key
PidFile none
AuthorizedKeysFile %(dir)s/authorized_keys
# The test's directory is under /tmp (world-writable): not a place sshd
# would accept keys from otherwise.
StrictModes no
UsePAM no
PubkeyAuthentication yes
PasswordAuthentication yes
KbdInteractiveAuthentication no
PermitRootLogin no
AllowUsers %(user)s
Subsystem sftp %(sftp)s
LogLevel VERBOSE
'''
ONLINE = constants.OPERATING_ONLINE


def run(*command, check=True, **kwargs):
    return subprocess.run(command, capture_output=True, text=True,
                          timeout=30, check=check, **kwargs)


@pytest.fixture(scope='module')
def tools():
    if os.geteuid() != 0:
        unavailable('network namespaces and a test user need root')
    missing = [what for what, there in (
        ('sshd', os.access(SSHD, os.X_OK)),
        ('sftp-server', os.access(SFTP_SERVER, os.X_OK)),
        ('ssh-keygen', shutil.which('ssh-keygen')),
        ('haproxy', haproxy.haproxy_binary()),
        ('socat', shutil.which('socat')),
        ('flock', shutil.which('flock')),
        ('ip', shutil.which('ip')),
        ('setpriv', shutil.which('setpriv')),
        ('useradd', shutil.which('useradd')),
        ('chpasswd', shutil.which('chpasswd'))) if not there]
    if missing:
        unavailable('%s not installed (apt-get install openssh-server '
                    'haproxy socat util-linux iproute2 passwd)'
                    % ', '.join(missing))


def keygen(path, *options):
    run('ssh-keygen', '-q', '-N', '', '-C', '', '-f', path,
        *(options or ('-t', 'ed25519')))
    with open(path) as private, open(path + '.pub') as public:
        return private.read(), ' '.join(public.read().split()[:2])


class Appliance:
    """The namespace, its sshd, its user; the device that describes it."""

    def __init__(self):
        tag = uuid.uuid4().hex[:6]
        self.namespace = 'as-appl-%s' % tag
        self.user = 'as-ssh-%s' % tag
        self.veth = ('asv%sr' % tag, 'asv%sa' % tag)
        net = '10.%d.%d.%d' % (random.randint(200, 249),
                               random.randint(0, 255),
                               4 * random.randint(0, 63))
        base = net.rsplit('.', 1)
        self.here = '%s.%d' % (base[0], int(base[1]) + 1)
        self.address = '%s.%d' % (base[0], int(base[1]) + 2)
        self.directory = tempfile.mkdtemp(prefix='as-ssh-')
        self.config_dir = os.path.join(self.directory, 'haproxy')
        self.sshd = None
        self.created = []

    def setup(self):
        # The user reaches its directory through the test's.
        os.chmod(self.directory, 0o755)
        os.mkdir(os.path.join(self.directory, 'sshd'), 0o700)
        self.private_key, self.public_key = keygen(
            os.path.join(self.directory, 'sshd', 'client_key'))
        _host_private, self.host_key = keygen(
            os.path.join(self.directory, 'sshd', 'host_key'))
        # More logins: an ECDSA key in OpenSSH's format (with an empty
        # comment, which paramiko's own parser often refuses) and an RSA
        # key in PEM.
        self.other_keys = [keygen(os.path.join(self.directory, 'sshd',
                                               kind), *options)[0]
                           for kind, options in (
                               ('ecdsa', ('-t', 'ecdsa')),
                               ('rsa', ('-t', 'rsa', '-b', '2048', '-m',
                                        'PEM')))]
        # 'restrict' (no forwarding, no pty, no ~/.ssh/rc), as
        # docs/drivers.md recommends: the driver needs none of them.
        with open(os.path.join(self.directory, 'authorized_keys'), 'w') as f:
            for name in ('client_key', 'ecdsa', 'rsa'):
                with open(os.path.join(self.directory, 'sshd',
                                       name + '.pub')) as public:
                    f.write('restrict,from="%s" %s' % (self.here,
                                                        public.read()))
        os.chmod(os.path.join(self.directory, 'authorized_keys'), 0o644)
        run('useradd', '--system', '--no-create-home', '--home-dir',
            self.directory, '--shell', '/bin/sh', '--user-group', self.user)
        self.created.append('user')
        # Hashed by chpasswd: the password is on no command line.
        run('chpasswd', input='%s:%s\n' % (self.user, PASSWORD))
        os.mkdir(self.config_dir, 0o750)
        shutil.chown(self.config_dir, self.user, self.user)

        run('ip', 'netns', 'add', self.namespace)
        self.created.append('namespace')
        run('ip', 'link', 'add', self.veth[0], 'type', 'veth', 'peer',
            'name', self.veth[1], 'netns', self.namespace)
        run('ip', 'addr', 'add', self.here + '/30', 'dev', self.veth[0])
        run('ip', 'link', 'set', self.veth[0], 'up')
        self.ip('addr', 'add', self.address + '/30', 'dev', self.veth[1])
        self.ip('link', 'set', self.veth[1], 'up')
        self.ip('link', 'set', 'lo', 'up')

        config = os.path.join(self.directory, 'sshd', 'sshd_config')
        with open(config, 'w') as f:
            f.write(SSHD_CONFIG % {'address': self.address,
                                   'dir': self.directory, 'user': self.user,
                                   'sftp': SFTP_SERVER})
        # sshd's privilege separation directory (Debian's init makes it).
        os.makedirs('/run/sshd', mode=0o755, exist_ok=True)
        self.log = os.path.join(self.directory, 'sshd', 'sshd.log')
        with open(self.log, 'w') as out:
            # setpriv execs ip, which execs sshd: a killed pytest (no
            # finalizer runs) still takes sshd with it.
            self.sshd = subprocess.Popen(
                ['setpriv', '--pdeathsig', 'TERM', 'ip', 'netns', 'exec',
                 self.namespace, SSHD, '-D', '-e', '-f', config],
                stdin=subprocess.DEVNULL, stdout=out, stderr=out,
                start_new_session=True)
        deadline = time.monotonic() + 10
        while True:
            try:
                with socket.create_connection((self.address, 22), 1) as sock:
                    if sock.recv(64).startswith(b'SSH-'):
                        break
            except OSError:
                pass
            if self.sshd.poll() is not None or time.monotonic() > deadline:
                pytest.fail('sshd in %s did not start: %s' % (
                    self.namespace, self.tail()))
            time.sleep(0.1)

    def ip(self, *args):
        return run('ip', '-n', self.namespace, *args)

    def tail(self, lines=30):
        with contextlib.suppress(OSError):
            with open(self.log) as f:
                return ''.join(f.readlines()[-lines:])
        return ''

    def device(self, name='appliance-1', **physical_info):
        return {'id': 'dev-%s' % name, 'name': name,
                'device_type': 'haproxy_ssh',
                'physical_info': dict({'address': self.address,
                                       'host_key': self.host_key,
                                       'config_dir': self.config_dir},
                                      **physical_info),
                'credentials': {'username': self.user,
                                'private_key': self.private_key}}

    def files(self):
        return sorted(os.listdir(self.config_dir))

    def sessions(self):
        """The sshd processes of the connections (the listener's
        children, and theirs)."""
        children = {}
        for pid in run('ip', 'netns', 'pids', self.namespace).stdout.split():
            with contextlib.suppress(OSError):
                with open('/proc/%s/status' % pid) as status:
                    for line in status:
                        if line.startswith('PPid:'):
                            children.setdefault(int(line.split()[1]),
                                                []).append(int(pid))
        found, todo = [], list(children.get(self.sshd.pid, []))
        while todo:
            pid = todo.pop()
            found.append(pid)
            todo.extend(children.get(pid, []))
        return found

    @contextlib.contextmanager
    def frozen(self, listener=False):
        """The connections' sshd processes (and the listener's)
        stopped (SIGSTOP) meanwhile."""
        sessions = self.sessions() + ([self.sshd.pid] if listener else [])
        assert sessions
        for pid in sessions:
            os.kill(pid, signal.SIGSTOP)
        try:
            yield
        finally:
            for pid in sessions:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGCONT)

    def cleanup(self):
        if self.sshd is not None and self.sshd.poll() is None:
            self.sshd.kill()
            self.sshd.wait(10)
        if 'namespace' in self.created:
            # haproxy (the user's), sessions: whatever runs there.
            pids = run('ip', 'netns', 'pids', self.namespace, check=False)
            for pid in pids.stdout.split():
                with contextlib.suppress(ProcessLookupError):
                    os.kill(int(pid), signal.SIGKILL)
            run('ip', 'link', 'delete', self.veth[0], check=False)
            run('ip', 'netns', 'delete', self.namespace, check=False)
        if 'user' in self.created:
            deadline = time.monotonic() + 5
            while run('userdel', self.user, check=False).returncode == 8 \
                    and time.monotonic() < deadline:
                time.sleep(0.1)  # a process of the user's still exiting
            run('userdel', self.user, check=False)
        shutil.rmtree(self.directory, ignore_errors=True)


@pytest.fixture
def appliance(tools, request):
    appliance = Appliance()
    request.addfinalizer(appliance.cleanup)
    appliance.setup()
    return appliance


@pytest.fixture
def members(appliance):
    """Two HTTP servers on this side of the veth: the VIP's members."""
    with http_backends.serving('backend-a', 'backend-b',
                               address=appliance.here) as servers:
        yield servers


@pytest.fixture
def logs():
    """Everything logged, at DEBUG, paramiko's included: a handler of the
    test's own on the root logger (beside pytest's caplog)."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setLevel(logging.DEBUG)
    handler.setFormatter(logging.Formatter(
        '%(name)s %(levelname)s %(message)s'))
    root = logging.getLogger()
    level = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    yield stream
    root.removeHandler(handler)
    root.setLevel(level)


def no_secret_in(text, appliance):
    """Neither a private key (nor any line of one) nor the password."""
    assert PASSWORD not in text
    for key in [appliance.private_key] + appliance.other_keys:
        for line in key.splitlines():
            if not line.startswith('-----'):
                assert line not in text


def vip(appliance, port, members, generation=1, monitor=True):
    spec = {'address': appliance.address, 'protocol': 'HTTP',
            'protocol_port': port,
            'members': [{'address': appliance.here,
                         'protocol_port': server.server_address[1]}
                        for server in members]}
    if monitor:
        spec['health_monitor'] = {'type': 'TCP', 'delay': 1, 'timeout': 1,
                                  'max_retries': 1}
    return {'id': 'vip-1', 'resource_type': 'vip', 'name': 'web',
            'project_id': 'p', 'generation': generation, 'spec': spec}


def answers(appliance, port, times=8):
    found = set()
    for _ in range(times):
        with urllib.request.urlopen('http://%s:%d/' % (
                appliance.address, port), timeout=5) as answer:
            found.add(answer.read().decode())
    return found


def connects(address, port):
    try:
        socket.create_connection((address, port), 1).close()
        return True
    except OSError:
        return False


def uid_of(pid):
    with open('/proc/%d/status' % pid) as status:
        for line in status:
            if line.startswith('Uid:'):
                return int(line.split()[1])


def test_a_vip_on_the_appliance_through_ssh(appliance, members, logs,
                                            parsed_conf, caplog):
    caplog.set_level(logging.DEBUG)
    reports = []
    agent = deployments.Deployments(lambda *args: reports.append(args),
                                    conf=parsed_conf)
    device = appliance.device()
    port = http_backends.free_port()
    message = dict(vip(appliance, port, members), device=device)

    agent.deploy(message)
    assert reports[-1] == ('vip-1', 1, constants.STATUS_ACTIVE, None), \
        appliance.tail()
    driver = agent.driver(device)
    assert isinstance(driver, haproxy_ssh.HAProxySSHDriver)
    assert not driver.local
    [pid] = driver.running_pids()
    # haproxy runs on the appliance as the SSH user: no root needed.
    assert uid_of(pid) == int(run('id', '-u', appliance.user).stdout)
    assert pid in [int(p) for p in run('ip', 'netns', 'pids',
                                       appliance.namespace).stdout.split()]
    assert answers(appliance, port) == {'backend-a', 'backend-b'}
    assert {'haproxy.cfg', 'haproxy.pid', 'haproxy.sock', 'vips.json',
            'servers.state'} <= set(appliance.files())

    # Read through the stats socket, over SSH.
    status = wait_for(lambda: driver.operating_status()['vip-1'] if
                      driver.operating_status()['vip-1'][
                          'operating_status'] == ONLINE else None,
                      'the VIP ONLINE', 5)
    assert set(status['members'].values()) == {ONLINE}
    statistics = driver.statistics()['vip-1']
    assert statistics['total_connections'] >= 8
    with socket.create_connection((appliance.address, port)):
        time.sleep(0.2)
        [health] = agent.device_health([{'name': device['name'],
                                         'device_type': 'haproxy_ssh'}])
    assert (health['health'], health.get('health_reason')) == (
        constants.HEALTH_OK, None)
    assert health['load'] >= 1

    # Idempotent: the same deploy again changes nothing.
    agent.deploy(message)
    assert driver.running_pids() == [pid]
    # An update: a graceful reload on the appliance.
    agent.deploy(dict(vip(appliance, port, members[:1]), device=device))
    assert reports[-1][2] == constants.STATUS_ACTIVE
    [reloaded] = driver.running_pids()
    assert reloaded != pid
    assert answers(appliance, port) == {'backend-a'}
    assert driver.statistics()['vip-1']['total_connections'] >= \
        statistics['total_connections'] + 8

    # A refused change (the port is taken on the appliance): the ERROR
    # quotes haproxy, the appliance keeps serving what it served.
    taken = subprocess.Popen(
        ['ip', 'netns', 'exec', appliance.namespace, 'socat',
         'TCP-LISTEN:%d,bind=%s,reuseaddr,fork' % (port + 1,
                                                  appliance.address),
         'SYSTEM:true'], stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL)
    try:
        wait_for(lambda: connects(appliance.address, port + 1),
                 'the port taken', 5)
        second = dict(vip(appliance, port + 1, members), id='vip-2',
                      device=device)
        agent.deploy(second)
    finally:
        taken.kill()
        taken.wait()
    assert reports[-1][2] == constants.STATUS_ERROR
    assert 'reload failed' in reports[-1][3]
    assert driver.resources() == {'vip-1'}
    assert driver.running_pids() == [reloaded]
    assert answers(appliance, port) == {'backend-a'}

    # Another agent of the same appliance (an HA pair, a failover): it
    # finds the VIP in the appliance's files, reads it, and removes it.
    other = haproxy_ssh.HAProxySSHDriver(appliance.device(), parsed_conf)
    assert other.resources() == {'vip-1'}
    assert other.operating_status()['vip-1']['operating_status'] == ONLINE
    assert other.statistics() == driver.statistics()
    other.undeploy('vip-1')
    assert other.resources() == set()
    with pytest.raises(OSError):
        socket.create_connection((appliance.address, port), 2).close()
    wait_for(lambda: not driver.host.alive([reloaded], 'haproxy'),
             'haproxy gone from the appliance', 5)
    assert appliance.files() == ['vips.json']
    # The first agent's driver sees it at its next health check.
    assert driver.health() == (constants.HEALTH_OK, 0, None)
    assert driver.resources() == set()
    other.close()

    # A password instead of a key.
    by_password = appliance.device()
    by_password['credentials'] = {'username': appliance.user,
                                  'password': PASSWORD}
    with_password = haproxy_ssh.HAProxySSHDriver(by_password, parsed_conf)
    assert with_password.health() == (constants.HEALTH_OK, 0, None)
    with_password.close()
    # Other kinds of keys.
    for private_key in appliance.other_keys:
        other_key = appliance.device()
        other_key['credentials']['private_key'] = private_key
        with_key = haproxy_ssh.HAProxySSHDriver(other_key, parsed_conf)
        assert with_key.health() == (constants.HEALTH_OK, 0, None)
        with_key.close()
    driver.close()

    assert 'Authentication (publickey) successful' in logs.getvalue()
    assert 'Authentication (password) successful' in logs.getvalue()
    for text in (logs.getvalue(), caplog.text, repr(reports)):
        no_secret_in(text, appliance)


def test_a_wrong_host_key_is_down_and_nothing_is_deployed(
        appliance, members, logs, parsed_conf):
    _private, impostor = keygen(os.path.join(appliance.directory, 'sshd',
                                             'other_key'))
    device = appliance.device(host_key=impostor)
    reports = []
    agent = deployments.Deployments(lambda *args: reports.append(args),
                                    conf=parsed_conf)
    # A heartbeat's device: its [device:<name>] section's address, no
    # key, no login (those come from the server).
    [health] = agent.device_health([{'name': device['name'],
                                     'device_type': 'haproxy_ssh',
                                     'address': appliance.address}])
    assert health['health'] == constants.HEALTH_DOWN
    assert 'host_key is missing' in health['health_reason']

    agent.deploy(dict(vip(appliance, http_backends.free_port(), members),
                      device=device))
    [(resource_id, _generation, status, reason)] = reports
    assert status == constants.STATUS_ERROR
    assert reason.startswith('host key of %s does not match '
                             'physical_info.host_key' % appliance.address)
    driver = agent.driver(device)
    health, load, why = driver.health()
    assert (health, load) == (constants.HEALTH_DOWN, 0)
    assert why == reason
    assert appliance.files() == []
    # The login was never tried: the key exchange failed first.
    assert 'Accepted' not in appliance.tail(100)
    assert 'Failed' not in appliance.tail(100)
    no_secret_in(logs.getvalue(), appliance)


def test_an_unreachable_appliance_is_down_in_bounded_time(
        appliance, parsed_conf, logs):
    # Nothing listens on that port: refused at once.
    closed = haproxy_ssh.HAProxySSHDriver(
        appliance.device('closed', ssh_port=2222), parsed_conf)
    started = time.monotonic()
    health, _load, reason = closed.health()
    assert health == constants.HEALTH_DOWN
    assert 'connection refused' in reason and 'port 2222' in reason
    assert time.monotonic() - started < 2

    # A port that takes the connection and says nothing (a hung sshd):
    # DOWN within the timeout, and the next calls fail at once.
    with socket.socket() as silent:
        silent.bind((appliance.here, 0))
        silent.listen()
        mute = haproxy_ssh.HAProxySSHDriver(appliance.device(
            'mute', address=appliance.here,
            ssh_port=silent.getsockname()[1], ssh_timeout=2), parsed_conf)
        started = time.monotonic()
        health, _load, reason = mute.health()
        took = time.monotonic() - started
        assert health == constants.HEALTH_DOWN, reason
        assert reason == 'SSH handshake with %s port %d failed: no answer ' \
            'within 2 s' % (appliance.here, silent.getsockname()[1])
        assert 2 <= took < 5, took
        started = time.monotonic()
        with pytest.raises(Exception) as failed:
            mute.deploy(dict(vip(appliance, 80, []),
                             device=appliance.device(
                                 'mute', address=appliance.here,
                                 ssh_port=silent.getsockname()[1],
                                 ssh_timeout=2)))
        assert str(failed.value) == reason
        assert time.monotonic() - started < 1
        assert mute.operating_status() == {}
        assert mute.statistics() == {}

    # sshd freezes after the login (a VM paused): the kept connection's
    # file reads and commands wait for nothing longer than the timeout.
    frozen = haproxy_ssh.HAProxySSHDriver(
        appliance.device('frozen', ssh_timeout=2), parsed_conf)
    assert frozen.health() == (constants.HEALTH_OK, 0, None)
    with appliance.frozen():
        started = time.monotonic()
        health, _load, reason = frozen.health()
        took = time.monotonic() - started
    assert health == constants.HEALTH_DOWN
    assert reason.endswith('vips.json: no answer from %s within 2 s' %
                           appliance.address)
    assert took < 2 + 3, took
    # Back: a new connection.
    assert frozen.health() == (constants.HEALTH_OK, 0, None)
    # The whole appliance frozen, its sshd listener too: a command waits
    # for a channel (2 s), then for a new connection's banner (2 s).
    with appliance.frozen(listener=True):
        started = time.monotonic()
        with pytest.raises(hosts.Unreachable, match='^SSH handshake with '
                           '%s failed: no answer within 2 s$' %
                           appliance.address):
            frozen.host.run(['true'], 2)
        took = time.monotonic() - started
    assert took < 2 * 2 + 3, took
    frozen.close()
    no_secret_in(logs.getvalue(), appliance)


def test_two_agents_change_the_appliance_at_once(appliance, members,
                                                 parsed_conf):
    """Each change reads the appliance's files under its lock: two agents
    deploying at the same moment lose nothing of each other's."""
    first = haproxy_ssh.HAProxySSHDriver(appliance.device(), parsed_conf)
    second = haproxy_ssh.HAProxySSHDriver(appliance.device(), parsed_conf)
    ports = {}
    errors = []

    def deploy(driver, prefix):
        try:
            for i in range(3):
                resource_id = '%s-%d' % (prefix, i)
                ports[resource_id] = http_backends.free_port()
                driver.deploy(dict(vip(appliance, ports[resource_id],
                                       members, monitor=False),
                                   id=resource_id))
        except Exception as exc:
            errors.append(exc)

    threads = [threading.Thread(target=deploy, args=(driver, prefix))
               for driver, prefix in ((first, 'a'), (second, 'b'))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert errors == []
    # Each agent's view: from its last reading (a change, a health check).
    for driver in (first, second):
        assert driver.health() == (constants.HEALTH_OK, 0, None)
        assert driver.resources() == set(ports)
    for port in ports.values():
        assert answers(appliance, port, 2) == {'backend-a', 'backend-b'}
    for resource_id in sorted(ports):
        (first if resource_id < 'b' else second).undeploy(resource_id)
    assert appliance.files() == ['vips.json']
    first.close()
    second.close()
