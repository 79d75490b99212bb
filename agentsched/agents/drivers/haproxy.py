"""haproxy on the agent's own host: one process per device, all its VIPs.

Files, in physical_info.config_dir (default <state_path>/haproxy/<device>):
haproxy.cfg (rendered by haproxy_config.py, checked with `haproxy -c` before
it replaces the old one), haproxy.pid, haproxy.sock (the stats socket unless
physical_info.management.stats_socket names another) and vips.json, the
specs deployed, so that an agent that restarts finds its VIPs again without
touching the running process.

The process runs in daemon mode (-D -p haproxy.pid). A change reloads it
gracefully: a new process takes the listening sockets over from the old one
through the stats socket (-x) and tells it to finish its connections and go
(-sf); the pid in haproxy.pid changes on every reload. The last VIP gone,
the process is stopped.
"""

import os
import shutil
import signal
import socket
import subprocess
import time

from oslo_log import log as logging

from agentsched import constants
from agentsched.agents.drivers import base
from agentsched.agents.drivers import files
from agentsched.agents.drivers import haproxy_config

LOG = logging.getLogger(__name__)

COMMAND_TIMEOUT = 30
SOCKET_TIMEOUT = 2
STOP_TIMEOUT = 10
# sun_path holds 108 bytes, the final NUL included.
MAX_SOCKET_PATH = 107


def haproxy_binary():
    # /usr/sbin is not on every user's PATH; it is where apt puts haproxy.
    return shutil.which('haproxy') or shutil.which(
        'haproxy', path='/usr/sbin:/usr/local/sbin')


class HAProxyDriver(base.DeviceDriver):

    local = True

    def __init__(self, device, conf):
        super().__init__(device, conf)
        self.directory = self.config_dir()
        self.config_path = os.path.join(self.directory, 'haproxy.cfg')
        self.pid_path = os.path.join(self.directory, 'haproxy.pid')
        self.state_path = os.path.join(self.directory, 'vips.json')
        management = self.physical_info.get('management') or {}
        self.stats_socket = management.get('stats_socket') or os.path.join(
            self.directory, 'haproxy.sock')
        # Processes a reload told to finish; stopped with the device.
        self._retired = set()
        self._vips = files.read_json(self.state_path, {})

    # -- the interface -----------------------------------------------------

    def deploy(self, resource):
        resource_id, spec = resource['id'], resource['spec']
        try:
            haproxy_config.check(resource_id, spec)
        except haproxy_config.InvalidVIP as exc:
            raise base.DriverError(str(exc))
        with self.lock:
            return self._apply(dict(self._vips, **{resource_id: spec}))

    def undeploy(self, resource_id):
        with self.lock:
            if resource_id in self._vips:
                vips = dict(self._vips)
                del vips[resource_id]
                self._apply(vips)

    def resources(self):
        with self.lock:
            return set(self._vips)

    def health(self):
        with self.lock:
            if haproxy_binary() is None:
                return constants.HEALTH_DOWN, 0, 'haproxy not installed'
            if not self._vips:
                # Idle on purpose: nothing to serve, ready to serve.
                return constants.HEALTH_OK, 0, None
            if not self.running_pids():
                return (constants.HEALTH_DOWN, 0,
                        'haproxy is not running (pid file %s)' %
                        self.pid_path)
        try:
            info = self.show_info()
        except OSError as exc:
            return (constants.HEALTH_DOWN, 0, 'stats socket %s not answering:'
                    ' %s' % (self.stats_socket, exc))
        return constants.HEALTH_OK, int(info.get('CurrConns', 0)), None

    # -- configuration -----------------------------------------------------

    def _apply(self, vips):
        """Make the device serve exactly vips; on failure it keeps serving
        what it served before, and the error says why."""
        if not vips:
            self._stop()
            self._save(vips)
            return None
        if len(self.stats_socket.encode()) > MAX_SOCKET_PATH:
            raise base.DriverError('stats socket path %s is longer than a '
                                   'unix socket path may be (%d bytes)' % (
                                       self.stats_socket, MAX_SOCKET_PATH))
        try:
            text = haproxy_config.render(vips, self.stats_socket)
        except haproxy_config.InvalidVIP as exc:
            raise base.DriverError(str(exc))
        previous = files.read(self.config_path)
        if text == previous and self.running_pids():
            self._save(vips)
            return None
        binary = haproxy_binary()
        if binary is None:
            raise base.DriverError('haproxy not installed')
        os.makedirs(self.directory, mode=0o750, exist_ok=True)
        with files.staged(self.config_path, text) as staged:
            # A file haproxy refuses never replaces one it runs with.
            self._run([binary, '-c', '-q', '-f', staged], 'invalid config')
        try:
            self._start_or_reload(binary)
        except base.DriverError:
            if previous is None:
                os.unlink(self.config_path)
            else:
                files.write(self.config_path, previous)
            raise
        self._save(vips)
        return None

    def _save(self, vips):
        if vips or os.path.isdir(self.directory):
            os.makedirs(self.directory, mode=0o750, exist_ok=True)
            files.write_json(self.state_path, vips)
        self._vips = vips

    # -- the process -------------------------------------------------------

    def _start_or_reload(self, binary):
        old = self.running_pids()
        command = [binary, '-f', self.config_path, '-D', '-p', self.pid_path]
        if old:
            if self._socket_answers():
                command += ['-x', self.stats_socket]
            command += ['-sf'] + [str(pid) for pid in old]
        self._run(command, 'reload failed' if old else 'start failed')
        self._retired.update(old)
        LOG.info('haproxy of device %s %s: pid %s', self.name,
                 'reloaded' if old else 'started', self.running_pids())

    def _stop(self):
        pids = self.running_pids() + [
            pid for pid in self._retired if _is_haproxy(pid)]
        for pid in pids:
            _signal(pid, signal.SIGTERM)
        deadline = time.monotonic() + STOP_TIMEOUT
        while any(_is_haproxy(pid) for pid in pids) and \
                time.monotonic() < deadline:
            time.sleep(0.05)
        for pid in pids:
            if _is_haproxy(pid):
                _signal(pid, signal.SIGKILL)
        self._retired.clear()
        for path in (self.pid_path, self.config_path, self.stats_socket):
            if os.path.exists(path):
                os.unlink(path)
        if pids:
            LOG.info('haproxy of device %s stopped (pids %s)', self.name,
                     pids)

    def running_pids(self):
        """Pids in the pid file that are live haproxy processes."""
        text = files.read(self.pid_path, '')
        pids = [int(word) for word in text.split() if word.isdigit()]
        return [pid for pid in pids if _is_haproxy(pid)]

    def _run(self, command, what):
        try:
            done = subprocess.run(command, capture_output=True, text=True,
                                  timeout=COMMAND_TIMEOUT)
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise base.DriverError('haproxy %s: %s' % (what, exc))
        if done.returncode != 0:
            # haproxy's alerts name the line and the reason; notices do not.
            lines = [line for line in (done.stderr + done.stdout).splitlines()
                     if 'ALERT' in line or 'WARNING' in line]
            raise base.DriverError('haproxy %s (exit %d): %s' % (
                what, done.returncode,
                ' '.join(lines[-5:]) or done.stderr.strip()[-500:]))

    # -- the stats socket --------------------------------------------------

    def show_info(self):
        """`show info` on the stats socket, as a dict."""
        answer = self._ask('show info')
        info = {}
        for line in answer.splitlines():
            key, _sep, value = line.partition(':')
            info[key.strip()] = value.strip()
        if 'Pid' not in info:
            raise OSError('unexpected answer %r' % answer[:100])
        return info

    def _socket_answers(self):
        try:
            self.show_info()
            return True
        except OSError:
            return False

    def _ask(self, command):
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            sock.settimeout(SOCKET_TIMEOUT)
            sock.connect(self.stats_socket)
            sock.sendall(command.encode() + b'\n')
            chunks = []
            while True:
                chunk = sock.recv(65536)
                if not chunk:
                    break
                chunks.append(chunk)
        return b''.join(chunks).decode(errors='replace')


def _is_haproxy(pid):
    """Alive and haproxy: a pid file can outlive its process and the pid be
    reused. Zombies count as gone (on some hosts nobody reaps them), but
    only once their last thread is: until then the sockets stay open."""
    try:
        with open('/proc/%d/stat' % pid) as stat:
            fields = stat.read().rsplit(')', 1)
        if fields[1].split()[0] == 'Z':
            return len(os.listdir('/proc/%d/task' % pid)) > 1
        with open('/proc/%d/cmdline' % pid, 'rb') as cmdline:
            return b'haproxy' in cmdline.read().split(b'\0')[0]
    except (OSError, IndexError):
        return False


def _signal(pid, sig):
    try:
        os.kill(pid, sig)
    except ProcessLookupError:
        pass
