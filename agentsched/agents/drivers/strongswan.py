"""strongSwan gateways driven through swanctl.

Files, in physical_info.config_dir (default <state_path>/strongswan/
<device>): swanctl.conf (the connections), secrets.conf (the pre-shared
keys, mode 0600, included by swanctl.conf) and connections.json (the specs
deployed, psk included, mode 0600: what an agent that restarts finds again).
Every change runs `swanctl --load-all --file <config_dir>/swanctl.conf`,
which also unloads connections no longer in the file (and any other: the
charon is the agent's). charon keeps them in memory only: health() loads
them again when charon lacks any (it restarted). Without swanctl the
files are written but nothing is loaded: the deploy fails saying so and the
device reports DEGRADED; nothing pretends to be up.

No pre-shared key ever reaches a log line or a status: messages from
swanctl are passed through redact() first.

operating_status() reads the SAs (`swanctl --list-sas`): a connection's
IKE SA and its child SA are both named by its resource id.
"""

import os
import re
import shutil
import subprocess

from oslo_log import log as logging

from agentsched import constants
from agentsched.agents.drivers import base
from agentsched.agents.drivers import files
from agentsched.agents.drivers import swanctl_config

LOG = logging.getLogger(__name__)

COMMAND_TIMEOUT = 30
NOT_INSTALLED = 'swanctl not installed'
_IKE_SAS = re.compile(r'IKE_SAs:\s*(\d+)')
# swanctl --list-conns: "<name>: IKEv2, ..." at the start of a line.
_CONNECTION = re.compile(r'^([A-Za-z0-9_-]+): ', re.M)
_USAGE = re.compile(r'strongSwan \S+ swanctl$')
_NO_DIRECTORY = re.compile(r"opening directory '.*' failed: ")
# swanctl --list-sas: an IKE SA at the start of a line ("<name>: #3,
# ESTABLISHED, IKEv2, ..."), its child SAs indented ("  <name>: #2, reqid
# 1, INSTALLED, TUNNEL, ESP:...").
_IKE_SA = re.compile(r'([A-Za-z0-9_-]+): #\d+, ([A-Z_]+),')
_CHILD_SA = re.compile(r'\s+([A-Za-z0-9_-]+): #\d+, reqid \d+, ([A-Z_]+),')
IKE_ESTABLISHED = 'ESTABLISHED'
# A child SA in the kernel: INSTALLED, and while it is rekeyed (the old
# one carries traffic until the new one is in).
CHILD_INSTALLED = ('INSTALLED', 'REKEYING', 'REKEYED')


def reason(output):
    """What a failed swanctl said, on one line, without its noise: the
    usage text it prints after an error (that would push the error out of
    the 500 characters kept), and --load-all's complaint about each
    credential directory (x509, private, ...) missing next to our
    swanctl.conf: we use none."""
    lines = []
    for line in output.splitlines():
        if _USAGE.match(line):
            break
        if line.strip() and not _NO_DIRECTORY.match(line):
            lines.append(line.strip())
    return '; '.join(lines)


def tunnel_statuses(list_sas):
    """{connection name: operating status} from `swanctl --list-sas`: an
    IKE SA ESTABLISHED with a child SA INSTALLED -> ONLINE; ESTABLISHED
    without one -> DEGRADED (keys agreed, no traffic passes); connections
    with neither (a trap only, CONNECTING, nothing) are not listed. The
    best of a connection's IKE SAs counts (there are two while one is
    rekeyed)."""
    statuses = {}
    current = None
    for line in list_sas.splitlines():
        ike = _IKE_SA.match(line)
        if ike:
            current = ike.group(1) if ike.group(2) == IKE_ESTABLISHED \
                else None
            if current is not None:
                statuses.setdefault(current, constants.OPERATING_DEGRADED)
            continue
        child = _CHILD_SA.match(line)
        if child and current is not None and \
                child.group(2) in CHILD_INSTALLED:
            statuses[current] = constants.OPERATING_ONLINE
    return statuses


def swanctl_binary():
    return shutil.which('swanctl') or shutil.which(
        'swanctl', path='/usr/sbin:/usr/local/sbin')


class StrongSwanDriver(base.DeviceDriver):

    local = True

    def __init__(self, device, conf):
        super().__init__(device, conf)
        self.directory = self.config_dir()
        self.config_path = os.path.join(self.directory, 'swanctl.conf')
        self.secrets_path = os.path.join(self.directory,
                                         swanctl_config.SECRETS_FILE)
        self.state_path = os.path.join(self.directory, 'connections.json')
        # The local end of every tunnel: the gateway's public address.
        self.address = self.physical_info.get('address') or device.get(
            'address') or ''
        management = self.physical_info.get('management') or {}
        self.vici_socket = management.get('vici_socket')
        self._connections = files.read_json(self.state_path, {})

    def deploy(self, resource):
        resource_id, spec = resource['id'], resource['spec']
        with self.lock:
            connections = dict(self._connections, **{resource_id: spec})
            self._write(connections)
            self._load()

    def undeploy(self, resource_id):
        self.undeploy_all([resource_id])

    def undeploy_all(self, resource_ids):
        """One file written and one load for all of them."""
        with self.lock:
            connections = {name: spec for name, spec in
                           self._connections.items()
                           if name not in resource_ids}
            if len(connections) == len(self._connections):
                return
            self._write(connections)
            if swanctl_binary() is not None:
                self._load()
            # Without swanctl nothing was ever loaded: removing the files'
            # entry is all there is to undo.

    def resources(self):
        with self.lock:
            return set(self._connections)

    def health(self):
        """OK with the number of IKE_SAs as the load. charon keeps what
        vici loaded in memory only: a charon that restarted (or lost a
        connection) has it loaded again here, at the next heartbeat."""
        if swanctl_binary() is None:
            return constants.HEALTH_DEGRADED, 0, NOT_INSTALLED
        try:
            with self.lock:
                lost = self._connections and set(self._connections) - set(
                    _CONNECTION.findall(self._swanctl('--list-conns')))
                if lost:
                    LOG.warning('charon of device %s lacks %d of its '
                                'connections: loading them again',
                                self.name, len(lost))
                    self._load()
            output = self._swanctl('--stats')
        except base.DriverError as exc:
            return constants.HEALTH_DOWN, 0, str(exc)
        match = _IKE_SAS.search(output)
        return constants.HEALTH_OK, int(match.group(1)) if match else 0, None

    def operating_status(self):
        """{resource id: {'operating_status': ...}} of every connection
        deployed, from tunnel_statuses(); OFFLINE when the SAs cannot be
        read (no swanctl, charon not answering)."""
        with self.lock:
            names = set(self._connections)
        if not names:
            return {}
        statuses = {}
        if swanctl_binary() is not None:
            try:
                statuses = tunnel_statuses(self._swanctl('--list-sas'))
            except base.DriverError as exc:
                LOG.debug('device %s: SAs not read: %s', self.name, exc)
        return {name: {'operating_status': statuses.get(
                    name, constants.OPERATING_OFFLINE)}
                for name in names}

    def _write(self, connections):
        try:
            config, secrets = swanctl_config.render(connections,
                                                    self.address)
        except (swanctl_config.InvalidConnection, KeyError) as exc:
            raise base.DriverError(self.redact(str(exc), connections))
        os.makedirs(self.directory, mode=0o750, exist_ok=True)
        files.write(self.secrets_path, secrets, mode=0o600)
        files.write(self.config_path, config)
        files.write_json(self.state_path, connections, mode=0o600)
        self._connections = connections

    def _load(self):
        if swanctl_binary() is None:
            raise base.DriverError('%s: %s written but not loaded' % (
                NOT_INSTALLED, self.config_path))
        self._swanctl('--load-all', '--noprompt', '--file', self.config_path)

    def _swanctl(self, *args):
        command = [swanctl_binary()] + list(args)
        if self.vici_socket:
            command += ['--uri', 'unix://%s' % self.vici_socket]
        try:
            done = subprocess.run(command, capture_output=True, text=True,
                                  timeout=COMMAND_TIMEOUT)
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise base.DriverError('swanctl %s: %s' % (args[0], exc))
        if done.returncode != 0:
            # Redacted before it is cut or its lines joined, so no part of
            # a key (which may hold a newline) survives.
            output = reason(self.redact(done.stderr)) or reason(
                self.redact(done.stdout))
            raise base.DriverError('swanctl %s failed (exit %d): %s' % (
                args[0], done.returncode, output[-500:]))
        return done.stdout

    def redact(self, text, connections=None):
        """text without any pre-shared key of this device in it."""
        for spec in (connections or self._connections).values():
            psk = spec.get('psk')
            if psk:
                text = text.replace(psk, '***')
        return text
