"""The strongSwan driver with a real charon at each end of a tunnel.

Two network namespaces are the two gateways, joined by a veth pair
(192.0.2.1/24 and 192.0.2.2/24); each has a "local" network on its
loopback (10.1.0.1/16, 10.2.0.1/16) and runs its own charon-systemd
(Debian's charon-systemd; STRONGSWAN_CONF points it at a strongswan.conf
of the test's own: its vici socket, a log file, the plugins). ESP is
kernel-libipsec's (userspace, a TUN device): this machine's kernel has
XFRM but no ESP. Each side's swanctl.conf is rendered and loaded by the
driver, through Deployments as the agent's RPC endpoint does, from the
spec the API sends; the test reads (swanctl --list-sas), pings, and
restarts or kills charons, and asks the drivers for each tunnel's
operating status (issue 14). About 40 s, most of it waiting for DPD.
Mandatory under CI=true (tests/conftest.py); .ci/run installs the packages.
"""

import contextlib
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid

import pytest

from agentsched import constants
from agentsched.agents import deployments
from agentsched.agents.drivers import strongswan
from agentsched.agents.drivers import swanctl_config
from tests.conftest import unavailable

CHARON = '/usr/sbin/charon-systemd'
PLUGINS = '/usr/lib/ipsec/plugins'
PING = os.path.join(os.path.dirname(os.path.dirname(__file__)),
                    'netns_ping.py')
# Any character: the driver writes it base64-encoded (0s...).
PSK = 'tunnel "psk" with } braces\nand a newline'
LOAD = ('random nonce openssl pem pkcs1 x509 pubkey hmac kdf '
        'kernel-libipsec kernel-netlink socket-default vici')
STRONGSWAN_CONF = '''\
charon-systemd {
    load = %(load)s
    # A dead peer found out (DPD) in seconds, not minutes.
    retransmit_tries = 2
    retransmit_timeout = 1
    retransmit_base = 1
    filelog {
        log {
            path = %(dir)s/charon.log
            time_format = %%T
            flush_line = yes
            default = 1
            ike = 2
            knl = 2
        }
    }
    plugins {
        vici {
            socket = unix://%(dir)s/charon.vici
        }
    }
}
'''


def run(*command, check=True):
    return subprocess.run(command, capture_output=True, text=True,
                          timeout=30, check=check)


@pytest.fixture(scope='module')
def strongswan_installed():
    if os.geteuid() != 0:
        unavailable('network namespaces need root')
    missing = [what for what, there in (
        ('swanctl', strongswan.swanctl_binary()),
        ('charon-systemd', os.access(CHARON, os.X_OK)),
        ('kernel-libipsec', os.path.exists(
            os.path.join(PLUGINS, 'libstrongswan-kernel-libipsec.so'))),
        ('ip', shutil.which('ip')),
        ('setpriv', shutil.which('setpriv'))) if not there]
    if missing:
        unavailable('%s not installed (apt-get install strongswan-swanctl '
                    'charon-systemd libcharon-extra-plugins '
                    'libstrongswan-extra-plugins iproute2 util-linux)'
                    % ', '.join(missing))


class Gateway:
    """A namespace with its charon; the driver's files in its directory."""

    def __init__(self, tag, side, address, local):
        self.namespace = 'as-%s-%s' % (tag, side)
        self.address, self.local = address, local
        self.directory = tempfile.mkdtemp(prefix='as-ss-%s-' % side)
        self.socket = os.path.join(self.directory, 'charon.vici')
        self.charon = None
        self.device = {
            'id': 'dev-%s' % side, 'name': 'gw-%s' % side,
            'device_type': 'strongswan', 'credentials': None,
            'physical_info': {
                'address': address,
                'config_dir': os.path.join(self.directory, 'swanctl'),
                'management': {'vici_socket': self.socket}}}

    def ip(self, *args):
        return run('ip', '-n', self.namespace, *args)

    def start(self):
        with open(os.path.join(self.directory, 'strongswan.conf'), 'w') as f:
            f.write(STRONGSWAN_CONF % {'load': LOAD, 'dir': self.directory})
        env = dict(os.environ, STRONGSWAN_CONF=os.path.join(
            self.directory, 'strongswan.conf'))
        with open(os.path.join(self.directory, 'charon.out'), 'w') as out:
            # setpriv execs ip, which execs charon: the child's pid is
            # charon's, and a killed pytest (no finalizer runs) still takes
            # charon with it (SIGTERM on its parent's death).
            self.charon = subprocess.Popen(
                ['setpriv', '--pdeathsig', 'TERM', 'ip', 'netns', 'exec',
                 self.namespace, CHARON], env=env,
                stdin=subprocess.DEVNULL, stdout=out, stderr=out,
                start_new_session=True)
        deadline = time.monotonic() + 20
        while self.swanctl('--stats', check=False).returncode != 0:
            if self.charon.poll() is not None or time.monotonic() > deadline:
                pytest.fail('charon in %s did not start: %s' % (
                    self.namespace, self.tail()))
            time.sleep(0.2)

    def stop(self, how=signal.SIGTERM):
        if self.charon is not None and self.charon.poll() is None:
            self.charon.send_signal(how)
            try:
                self.charon.wait(10)
            except subprocess.TimeoutExpired:
                self.charon.kill()
                self.charon.wait(10)

    def swanctl(self, *args, check=True):
        return run(strongswan.swanctl_binary(), *args,
                   '--uri', 'unix://%s' % self.socket, check=check)

    def sas(self):
        return self.swanctl('--list-sas').stdout

    def ping(self, destination, count=3):
        done = run('ip', 'netns', 'exec', self.namespace, sys.executable,
                   PING, self.local, destination, str(count))
        return int(done.stdout)

    def tail(self, lines=40):
        texts = []
        for name in ('charon.out', 'charon.log'):
            with contextlib.suppress(OSError):
                with open(os.path.join(self.directory, name)) as f:
                    texts.append(''.join(f.readlines()[-lines:]))
        return '\n'.join(texts)


def cleanup(gateway):
    gateway.stop()
    # Anything else still in our own namespace (none expected) goes too.
    pids = run('ip', 'netns', 'pids', gateway.namespace, check=False)
    for pid in pids.stdout.split():
        with contextlib.suppress(ProcessLookupError):
            os.kill(int(pid), signal.SIGKILL)
    run('ip', 'netns', 'delete', gateway.namespace, check=False)
    shutil.rmtree(gateway.directory, ignore_errors=True)


@pytest.fixture
def gateways(strongswan_installed, request):
    """Gateways a (192.0.2.1, local 10.1.0.1/16) and b (192.0.2.2, local
    10.2.0.1/16), charon running in each; all of it gone afterwards, even
    after a failure half-way through the setup."""
    tag = uuid.uuid4().hex[:8]
    a = Gateway(tag, 'a', '192.0.2.1', '10.1.0.1')
    request.addfinalizer(lambda: cleanup(a))
    b = Gateway(tag, 'b', '192.0.2.2', '10.2.0.1')
    request.addfinalizer(lambda: cleanup(b))
    for gateway in (a, b):
        run('ip', 'netns', 'add', gateway.namespace)
    # Interface names: at most 15 characters.
    run('ip', 'link', 'add', 'as%sa' % tag, 'netns', a.namespace, 'type',
        'veth', 'peer', 'name', 'as%sb' % tag, 'netns', b.namespace)
    for gateway, side in ((a, 'a'), (b, 'b')):
        gateway.ip('addr', 'add', gateway.address + '/24', 'dev',
                   'as%s%s' % (tag, side))
        gateway.ip('link', 'set', 'as%s%s' % (tag, side), 'up')
        gateway.ip('addr', 'add', gateway.local + '/16', 'dev', 'lo')
        gateway.ip('link', 'set', 'lo', 'up')
    for gateway in (a, b):
        gateway.start()
    yield a, b


def agent(conf):
    reports = []
    return deployments.Deployments(
        lambda *args: reports.append(args), conf=conf), reports


def message(resource_id, gateway, **spec):
    return {'id': resource_id, 'resource_type': 'vpn_connection',
            'name': 'site-to-site', 'project_id': 'p', 'generation': 1,
            'spec': spec, 'device': gateway.device}


def wait_for(predicate, what, gateways, seconds=20):
    deadline = time.monotonic() + seconds
    while not predicate():
        if time.monotonic() > deadline:
            pytest.fail('%s within %ds\n%s' % (what, seconds, '\n'.join(
                gateway.tail() for gateway in gateways)))
        time.sleep(0.25)


def health(deployed, gateway):
    [device] = deployed.device_health([{'name': gateway.device['name'],
                                        'device_type': 'strongswan'}])
    return device['health'], device['load'], device.get('health_reason')


def tunnel(deployed, gateway, connection):
    """The connection's operating status on gateway's driver (None when
    the driver does not serve it)."""
    status = deployed.driver(gateway.device).operating_status().get(
        connection)
    return status and status['operating_status']


def packets_out(sas):
    # e.g. "out c1f0a8e2,    252 bytes,     3 packets"
    match = re.search(r'\bout\s+\S+,\s+\d+ bytes,\s+(\d+) packets', sas)
    return int(match.group(1)) if match else 0


def test_a_psk_tunnel_between_two_charons(gateways, parsed_conf, caplog):
    a, b = gateways
    on_a, reports_a = agent(parsed_conf)
    on_b, reports_b = agent(parsed_conf)
    # An id as the API makes them; the section's and the SA's name.
    connection = str(uuid.uuid4())
    policies = {
        'ikepolicy': {'ike_version': 'v2', 'encryption_algorithm': 'aes-256',
                      'auth_algorithm': 'sha256', 'pfs': 'group14',
                      'lifetime': {'units': 'seconds', 'value': 3600}},
        'ipsecpolicy': {'transform_protocol': 'esp',
                        'encapsulation_mode': 'tunnel',
                        'encryption_algorithm': 'aes-128',
                        'auth_algorithm': 'sha256', 'pfs': 'group14',
                        'lifetime': {'units': 'seconds', 'value': 1800}}}
    assert a.ping(b.local, count=1) == 0, 'a route around the tunnel'

    # b waits for a (response-only) and is deployed first; a initiates.
    on_b.deploy(message(connection, b, peer_address=a.address,
                        peer_id=a.address, local_cidrs=['10.2.0.0/16'],
                        peer_cidrs=['10.1.0.0/16'], psk=PSK,
                        initiator='response-only', **policies))
    # Loaded, no SA yet: the tunnel is not up.
    assert on_b.driver(b.device).operating_status() == {
        connection: {'operating_status': constants.OPERATING_OFFLINE}}
    on_a.deploy(message(connection, a, peer_address=b.address,
                        peer_id=b.address, local_cidrs=['10.1.0.0/16'],
                        peer_cidrs=['10.2.0.0/16'], psk=PSK,
                        initiator='bi-directional', **policies))
    assert [report[2] for report in reports_a + reports_b] == [
        constants.STATUS_ACTIVE] * 2, reports_a + reports_b

    for gateway in (a, b):
        wait_for(lambda gateway=gateway: re.search(
            r'ESTABLISHED.*INSTALLED', gateway.sas(), re.S),
            'the tunnel up (ESTABLISHED, INSTALLED) on %s' % gateway.namespace,
            (a, b))
    sas = a.sas()
    assert connection in sas
    assert 'AES_CBC-256/HMAC_SHA2_256_128/PRF_HMAC_SHA2_256/MODP_2048' in sas
    assert 'ESP:AES_CBC-128/HMAC_SHA2_256_128' in sas
    assert '10.1.0.0/16' in sas and '10.2.0.0/16' in sas

    assert a.ping(b.local) == 3
    assert b.ping(a.local) == 3
    # Through the tunnel: the ESP SA carried them.
    assert packets_out(a.sas()) >= 6
    for deployed, gateway in ((on_a, a), (on_b, b)):
        assert tunnel(deployed, gateway, connection) == \
            constants.OPERATING_ONLINE
    for deployed, gateway in ((on_a, a), (on_b, b)):
        assert health(deployed, gateway) == (constants.HEALTH_OK, 1, None)

    # charon keeps vici's connections in memory: restarted, it has none,
    # until the next heartbeat's health check loads them again.
    a.stop()
    a.start()
    assert connection not in a.swanctl('--list-conns').stdout
    # Until the health check loads it again, no tunnel.
    assert tunnel(on_a, a, connection) == constants.OPERATING_OFFLINE
    assert health(on_a, a)[0] == constants.HEALTH_OK
    assert connection in a.swanctl('--list-conns').stdout
    wait_for(lambda: re.search(r'ESTABLISHED.*INSTALLED', a.sas(), re.S),
             'the tunnel up again after a restart of charon', (a, b))
    assert a.ping(b.local) == 3
    assert tunnel(on_a, a, connection) == constants.OPERATING_ONLINE

    # b's charon dies without a word (no DELETE) and starts again: b's
    # health check loads the connection; a finds the peer dead (no answer
    # to its DPD, 30 s after the last traffic) and negotiates the tunnel
    # again (dpd_action = restart). Without them, a kept its dead SAs
    # (seen: the tunnel still down after 60 s). The pause lets the
    # exchanges after a's restart (MOBIKE's) end: one left unanswered
    # would find the crash out too, in 3 s, maybe before b is back.
    time.sleep(2)
    b.stop(signal.SIGKILL)
    b.start()
    assert health(on_b, b) == (constants.HEALTH_OK, 0, None)
    wait_for(lambda: re.search(r'ESTABLISHED.*INSTALLED', b.sas(), re.S),
             'the tunnel up again after a crash of the peer', (a, b),
             seconds=swanctl_config.DPD_DELAY + 30)
    assert a.ping(b.local) == 3

    on_a.undeploy({'id': connection, 'generation': 1})
    on_b.undeploy({'id': connection, 'generation': 1})
    assert (reports_a[-1][2], reports_b[-1][2]) == (
        constants.STATUS_DELETED, constants.STATUS_DELETED)
    for gateway in (a, b):
        wait_for(lambda gateway=gateway: connection not in gateway.sas(),
                 'the SAs gone from %s' % gateway.namespace, (a, b))
        assert connection not in gateway.swanctl('--list-conns').stdout
        assert gateway.swanctl('--list-pols').stdout.strip() == ''
    assert a.ping(b.local, count=2) == 0
    for deployed, gateway in ((on_a, a), (on_b, b)):
        assert health(deployed, gateway) == (constants.HEALTH_OK, 0, None)
        # Not the device's any more: nothing to say about it.
        assert deployed.driver(gateway.device).operating_status() == {}

    # A charon that is gone is a device DOWN, saying why.
    a.stop()
    state, load, reason = health(on_a, a)
    assert (state, load) == (constants.HEALTH_DOWN, 0)
    assert a.socket in reason
    # A connection deployed meanwhile (written, not loaded: ERROR) is no
    # tunnel.
    on_a.deploy(message(connection, a, peer_address=b.address,
                        peer_id=b.address, local_cidrs=['10.1.0.0/16'],
                        peer_cidrs=['10.2.0.0/16'], psk=PSK))
    assert reports_a[-1][2] == constants.STATUS_ERROR
    assert tunnel(on_a, a, connection) == constants.OPERATING_OFFLINE
    assert PSK not in caplog.text
