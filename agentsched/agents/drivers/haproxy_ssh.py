"""haproxy on an appliance elsewhere (a VM, a box), driven over SSH.

The haproxy driver (haproxy.py) with the appliance as its host (ssh.py):
the same rendering, checks (`haproxy -c` on the appliance), graceful
reloads (-D -p haproxy.pid -x <stats socket> -sf <old pids>), servers'
states, statistics and their carry, operating statuses, idempotence and
error reporting; only where the files, the commands and the stats socket
are differs.

The appliance is shared: several agents may be linked to it (an HA pair,
a failover's rebind), so its files are the truth. vips.json, stats.json
and the rest live on the appliance, in physical_info.config_dir
(DEFAULT_CONFIG_DIR when unset); each change reads them again under the
appliance's own lock (flock on that directory), and so does each reading,
so an agent sees what another deployed, and a failover's new agent picks
the device up as it is. Not local: fencing never touches it.

physical_info: address and host_key (pinned, never trusted on first use)
are required; ssh_port (22), ssh_timeout (10 s), config_dir, stats_socket
(<config_dir>/haproxy.sock), haproxy_binary (found on the appliance's
PATH, /usr/sbin or /usr/local/sbin). credentials: username and either
private_key or password. What the appliance must run and allow:
docs/drivers.md.
"""

import hashlib
import json

from agentsched.agents.drivers import haproxy
from agentsched.agents.drivers import ssh

DEFAULT_CONFIG_DIR = '/var/lib/agentsched/haproxy'
SBIN = '/usr/sbin:/usr/local/sbin'
PING_PATH = '/usr/bin:/bin:/usr/sbin:/sbin'
# What a change of the device may change in place, by connecting anew:
# how to reach and know the appliance. Anything else (its address, its
# files) is another device to Deployments, taken once the old one is idle.
CONNECTION_FIELDS = ('ssh_port', 'ssh_timeout', 'host_key')


class HAProxySSHDriver(haproxy.HAProxyDriver):

    local = False
    shared = True
    no_ping = ('the PING health monitor needs ping on the appliance '
               '(iputils-ping): not installed')

    def __init__(self, device, conf):
        # The credentials go to the host (ssh.SSHHost), which alone keeps
        # them; the driver keeps their digest, to tell a change.
        self._handed = device.get('credentials')
        self._login = _digest(self._handed)
        super().__init__(dict(device, credentials=None), conf)
        self._versions = {}

    @property
    def not_installed(self):
        return 'haproxy not installed on the appliance %s' % self.host.where

    def _make_host(self):
        credentials, self._handed = self._handed, None
        return ssh.SSHHost(self.physical_info, credentials)

    def config_dir(self):
        return self.physical_info.get('config_dir') or DEFAULT_CONFIG_DIR

    def _stats_socket_path(self):
        return self.physical_info.get('stats_socket') or \
            '%s/haproxy.sock' % self.directory

    def _haproxy_binary(self):
        return self.host.which(
            self.physical_info.get('haproxy_binary') or 'haproxy', SBIN)

    def _ping_binary(self):
        return self.host.which('ping', PING_PATH)

    def _haproxy_version(self, binary):
        if binary not in self._versions:
            self._versions[binary] = haproxy.version_on(self.host, binary)
        return self._versions[binary]

    # -- the device as the server describes it -----------------------------

    def serves(self, device):
        """The same appliance with the same files; a new host key, port,
        timeout or login is taken in place (adopt)."""
        if device.get('device_type') != self.device.get('device_type'):
            return False
        theirs = device.get('physical_info') or {}
        return all(theirs.get(key) == self.physical_info.get(key)
                   for key in set(theirs) | set(self.physical_info)
                   if key not in CONNECTION_FIELDS)

    def adopt(self, device):
        """Take the connection settings and credentials of device (the
        server's current description of this appliance): a rotated host
        key or login applies at once, through a new connection."""
        physical_info = device.get('physical_info')
        credentials = device.get('credentials')
        if physical_info is None or not self.serves(device):
            return
        login = _digest(credentials)
        with self.lock:
            if physical_info == self.physical_info and login == self._login:
                return
            old = self.host
            self.physical_info = physical_info
            self._handed, self._login = credentials, login
            self.device = dict(device, credentials=None)
            self.host = self._make_host()
            self._counters = None
            self._loaded = False
            self._versions = {}
        old.close()

    def deploy(self, resource):
        if resource.get('device'):
            self.adopt(resource['device'])
        return super().deploy(resource)

    def close(self):
        """Close the connection to the appliance."""
        self.host.close()


def _digest(credentials):
    return hashlib.sha256(json.dumps(credentials, sort_keys=True).encode()
                          ).hexdigest()
