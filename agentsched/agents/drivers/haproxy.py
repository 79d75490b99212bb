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

Before a reload, the old process's servers' states go to servers.state,
which the new one starts from (a member its checks found dead stays dead)
and its frontends' counters join the carry in stats.json, so that
statistics() only grow across reloads and agent restarts (CounterCarry).
PING health monitors run ping-check, a script written here, through
haproxy's external checks.

Where the files, the commands and the stats socket are is the driver's
host (hosts.py): the agent's own here; an appliance reached over SSH for
haproxy_ssh.py, which changes nothing else.
"""

import contextlib
import csv
import os
import re
import shlex
import shutil
import signal
import time

from oslo_log import log as logging

from agentsched import constants
from agentsched.agents.drivers import base
from agentsched.agents.drivers import haproxy_config
from agentsched.agents.drivers import hosts

LOG = logging.getLogger(__name__)

COMMAND_TIMEOUT = 30
SOCKET_TIMEOUT = 2
STOP_TIMEOUT = 10
# sun_path holds 108 bytes, the final NUL included.
MAX_SOCKET_PATH = 107
STATS_FILE = 'stats.json'
SERVER_STATE_FILE = 'servers.state'
PING_CHECK = 'ping-check'
NO_PING = ('the PING health monitor needs ping on the agent\'s host '
           '(iputils-ping): not installed')
# A servers' state file that holds no server (its format's version line).
NO_SERVER_STATE = '1\n'

# `show stat` status of a server (its first word: 'UP 1/3' is going down,
# 'DOWN 1/2' coming up, 'MAINT (via ...)' tracks another) -> operating
# status. NOLB: up but taking no new traffic (a 404 with
# disable-on-404). Anything else is ERROR.
MEMBER_STATUSES = {
    'UP': constants.OPERATING_ONLINE,
    'DOWN': constants.OPERATING_ERROR,
    'MAINT': constants.OPERATING_OFFLINE,
    'DRAIN': constants.OPERATING_DRAINING,
    'NOLB': constants.OPERATING_DRAINING,
}
NO_CHECK = 'no check'
# A frontend that listens: OPEN, or FULL (at its maxconn, still listening).
LISTENING = ('OPEN', 'FULL')
# A VIP's statistics from its frontend's `show stat` row (Octavia's
# mapping).
STAT_COLUMNS = {'bytes_in': 'bin', 'bytes_out': 'bout',
                'active_connections': 'scur', 'total_connections': 'stot',
                'request_errors': 'ereq'}
_VERSION = re.compile(r'version (\d+)\.(\d+)')


def haproxy_binary():
    # /usr/sbin is not on every user's PATH; it is where apt puts haproxy.
    return shutil.which('haproxy') or shutil.which(
        'haproxy', path='/usr/sbin:/usr/local/sbin')


def ping_binary():
    return shutil.which('ping') or shutil.which(
        'ping', path='/usr/bin:/bin:/usr/sbin:/sbin')


_versions = {}


def haproxy_version(binary):
    """(major, minor) of `haproxy -v` on this host, or None when it does
    not say."""
    if binary not in _versions:
        _versions[binary] = version_on(hosts.LocalHost(), binary)
    return _versions[binary]


def version_on(host, binary):
    """(major, minor) of `haproxy -v` on host, or None."""
    try:
        match = _VERSION.search(host.run([binary, '-v'],
                                         COMMAND_TIMEOUT).stdout)
    except hosts.HostError:
        match = None
    return tuple(int(part) for part in match.groups()) if match else None


def ping_check_script(ping):
    """The PING monitor's script: one echo request to the member haproxy
    names, one second to answer; exit 0 when it did. Without ping it
    fails every check, so the members show ERROR, as far as anyone can
    tell."""
    head = ('#!/bin/sh\n'
            '# Written by agentsched-agent: the PING health check haproxy '
            'runs\n# (option external-check) for each member.\n')
    if ping is None:
        return head + 'echo "%s" >&2\nexit 1\n' % NO_PING
    return head + ('exec %s -n -q -c 1 -W 1 "$HAPROXY_SERVER_ADDR" '
                   '>/dev/null 2>&1\n' % shlex.quote(ping))


def member_status(status):
    """A server's operating status from its `show stat` status."""
    if status == NO_CHECK:
        return constants.OPERATING_NO_MONITOR
    word = status.split(' ', 1)[0].split('(', 1)[0]
    return MEMBER_STATUSES.get(word, constants.OPERATING_ERROR)


def rollup(listening, monitored, members):
    """A VIP's operating status, from whether its frontend listens, whether
    it has a health monitor, and its members' statuses:

    not listening -> OFFLINE; no health monitor -> NO_MONITOR (haproxy
    checks nothing, so nobody knows); of the members not OFFLINE (the
    disabled ones), all ERROR -> ERROR, some -> DEGRADED; else ONLINE (no
    member, or none enabled, included: nothing fails).
    """
    if not listening:
        return constants.OPERATING_OFFLINE
    if not monitored:
        return constants.OPERATING_NO_MONITOR
    enabled = [status for status in members
               if status != constants.OPERATING_OFFLINE]
    errors = enabled.count(constants.OPERATING_ERROR)
    if errors and errors == len(enabled):
        return constants.OPERATING_ERROR
    if errors:
        return constants.OPERATING_DEGRADED
    return constants.OPERATING_ONLINE


def vip_operating_status(resource_id, spec, rows):
    """{'operating_status': ..., 'members': {member key: status}} of one
    VIP from `show stat` rows ({(pxname, svname): row}); rows None: the
    stats socket does not answer, everything is OFFLINE."""
    rows = rows or {}
    frontend = rows.get(('vip-%s' % resource_id, 'FRONTEND'))
    listening = frontend is not None and frontend['status'] in LISTENING
    members = {}
    for member in spec.get('members') or []:
        row = rows.get(('pool-%s' % resource_id,
                        haproxy_config.member_name(member)))
        members[constants.MEMBER_KEY.format(**member)] = (
            member_status(row['status']) if row is not None else
            constants.OPERATING_OFFLINE)
    return {'operating_status': rollup(
                listening, spec.get('health_monitor') is not None,
                members.values()),
            'members': members}


def parse_stat(text):
    """`show stat` CSV -> {(pxname, svname): {column: value}}."""
    lines = text.splitlines()
    for i, line in enumerate(lines):
        if line.startswith('# pxname,'):
            break
    else:
        raise OSError('no `show stat` header in %r' % text[:100])
    reader = csv.DictReader([lines[i][2:]] + [
        line for line in lines[i + 1:] if line])
    return {(row['pxname'], row['svname']): row for row in reader}


def _number(value):
    try:
        return int(value)
    except (TypeError, ValueError):
        return 0


def frontend_stats(resource_id, rows):
    """A VIP's STATS_FIELDS from its frontend's row (zeros without one)."""
    row = rows.get(('vip-%s' % resource_id, 'FRONTEND')) or {}
    return {field: _number(row.get(column))
            for field, column in STAT_COLUMNS.items()}


class CounterCarry:
    """What earlier haproxy processes of the device counted, so that
    statistics() only grow: stats.json, {'carried': {resource id:
    {counter: int}}, 'seen': {'pid': pid, 'vips': {resource id:
    {field: int}}}}, written atomically, on host (the driver's: where the
    device's files are; this host by default).

    A reload takes the old process's counters (read just before) into
    'carried': the new process counts from zero. 'seen' is the last
    reading of the running process, kept so that one that dies (killed,
    crashed) is carried too when the next one starts, up to that reading.
    What is lost: what an old process counts after the reading (the
    connections it finishes while draining, those it accepts before the
    new one takes the sockets over), and a dead process's counts after the
    last statistics() call. The carry of a VIP goes with it (undeploy), the
    whole file with the last VIP.
    """

    def __init__(self, path, host=None):
        self.path = path
        self.host = host if host is not None else hosts.LocalHost()
        document = hosts.read_json(self.host, path, {})
        if not isinstance(document, dict):
            document = {}
        self.carried = document.get('carried') or {}
        self.seen = document.get('seen')

    def totals(self, reading, vips):
        """statistics() for vips from reading, (pid, rows) of the running
        process or None (the socket does not answer: what was counted)."""
        changed = False
        if reading is not None:
            pid, rows = reading
            if self.seen and self.seen.get('pid') != pid:
                # A process nobody retired: it died and another started.
                self._add(self.seen.get('vips') or {}, vips)
            seen = {'pid': pid, 'vips': {resource_id: frontend_stats(
                resource_id, rows) for resource_id in sorted(vips)}}
            changed = seen != self.seen
            self.seen = seen
        current = (self.seen or {}).get('vips') or {}
        statistics = {}
        for resource_id in vips:
            now = current.get(resource_id) or {}
            carried = self.carried.get(resource_id) or {}
            fields = {name: _number(carried.get(name)) + _number(
                now.get(name)) for name in constants.STATS_COUNTERS}
            fields['active_connections'] = _number(
                now.get('active_connections')) if reading else 0
            statistics[resource_id] = fields
        if changed:
            self._write()
        return statistics

    def retire(self, reading, vips):
        """After a start or a reload: the processes that served until now
        (the one read just before, reading, and any dead one last seen)
        join the carry; only vips keep theirs."""
        if self.seen and (reading is None or
                          self.seen.get('pid') != reading[0]):
            self._add(self.seen.get('vips') or {}, vips)
        if reading is not None:
            self._add({resource_id: frontend_stats(resource_id, reading[1])
                       for resource_id in vips}, vips)
        self.seen = None
        self.carried = {resource_id: counters for resource_id, counters in
                        self.carried.items() if resource_id in vips}
        self._write()

    def drop(self):
        self.carried, self.seen = {}, None
        self.host.remove(self.path)

    def _add(self, counted, vips):
        for resource_id, fields in counted.items():
            if resource_id not in vips:
                continue
            carried = self.carried.setdefault(resource_id, {})
            for name in constants.STATS_COUNTERS:
                carried[name] = _number(carried.get(name)) + _number(
                    (fields or {}).get(name))

    def _write(self):
        if self.host.isdir(os.path.dirname(self.path)):
            document = {'carried': self.carried}
            if self.seen is not None:
                document['seen'] = self.seen
            hosts.write_json(self.host, self.path, document)


class HAProxyDriver(base.DeviceDriver):
    """haproxy on the agent's own host. The process management and the
    file I/O go through self.host (hosts.py); HAProxySSHDriver
    (haproxy_ssh.py) is this driver with an appliance as its host."""

    local = True
    # Whether agents of other hosts may change the device's files too (an
    # appliance linked to several agents): each change and each reading
    # then starts from the device's files, and changes hold the device's
    # own lock (host.exclusive). Here this driver alone writes them, and
    # reads them once, at start.
    shared = False
    no_ping = NO_PING
    not_installed = 'haproxy not installed'

    def __init__(self, device, conf):
        super().__init__(device, conf)
        self.host = self._make_host()
        self.directory = self.config_dir()
        self.config_path = os.path.join(self.directory, 'haproxy.cfg')
        self.pid_path = os.path.join(self.directory, 'haproxy.pid')
        self.state_path = os.path.join(self.directory, 'vips.json')
        self.server_state_path = os.path.join(self.directory,
                                              SERVER_STATE_FILE)
        self.ping_check_path = os.path.join(self.directory, PING_CHECK)
        self.stats_socket = self._stats_socket_path()
        # Processes a reload told to finish; stopped with the device.
        self._retired = set()
        # Set while haproxy.cfg may differ from what the process runs (a
        # change cut short between the two): the next change reloads even
        # if the file already says what it wants.
        self._unsure = False
        self._vips = {}
        self._counters = None
        self._loaded = False
        if not self.shared:
            self._load()

    def _make_host(self):
        return hosts.LocalHost()

    def _stats_socket_path(self):
        management = self.physical_info.get('management') or {}
        return management.get('stats_socket') or os.path.join(
            self.directory, 'haproxy.sock')

    def _haproxy_binary(self):
        return haproxy_binary()

    def _ping_binary(self):
        return ping_binary()

    def _haproxy_version(self, binary):
        return haproxy_version(binary)

    # -- the interface -----------------------------------------------------

    def deploy(self, resource):
        resource_id, spec = resource['id'], resource['spec']
        try:
            haproxy_config.check(resource_id, spec)
        except haproxy_config.InvalidVIP as exc:
            raise base.DriverError(str(exc))
        try:
            with self.lock, self._exclusive():
                self._refresh()
                if (spec.get('health_monitor') or {}).get('type') == \
                        'PING' and self._ping_binary() is None:
                    # Every member would fail its checks and the VIP
                    # answer 503: refused, the device keeps serving what
                    # it served.
                    raise base.DriverError(self.no_ping)
                return self._apply(dict(self._vips, **{resource_id: spec}))
        except hosts.HostError as exc:
            raise base.DriverError(str(exc))

    def undeploy(self, resource_id):
        self.undeploy_all([resource_id])

    def undeploy_all(self, resource_ids):
        """One configuration written and one reload for all of them."""
        try:
            with self.lock, self._exclusive():
                self._refresh()
                vips = {vip_id: vip for vip_id, vip in self._vips.items()
                        if vip_id not in resource_ids}
                if len(vips) != len(self._vips):
                    self._apply(vips)
        except hosts.HostError as exc:
            raise base.DriverError(str(exc))

    def resources(self):
        with self.lock:
            if not self._loaded:
                # An appliance not reached yet: read once; until it
                # answers, nothing is known to be there.
                with contextlib.suppress(hosts.HostError):
                    self._load()
            return set(self._vips)

    def health(self):
        try:
            with self.lock:
                self._refresh()
                if self._haproxy_binary() is None:
                    return constants.HEALTH_DOWN, 0, self.not_installed
                if not self._vips:
                    # Idle on purpose: nothing to serve, ready to serve.
                    return constants.HEALTH_OK, 0, None
                if not self.running_pids():
                    return (constants.HEALTH_DOWN, 0,
                            'haproxy is not running (pid file %s)' %
                            self.pid_path)
            try:
                info = self.show_info()
            except hosts.Unreachable:
                raise
            except OSError as exc:
                return (constants.HEALTH_DOWN, 0, 'stats socket %s not '
                        'answering: %s' % (self.stats_socket, exc))
        except hosts.Unreachable as exc:
            return constants.HEALTH_DOWN, 0, str(exc)
        return constants.HEALTH_OK, int(info.get('CurrConns', 0)), None

    def operating_status(self):
        """Each VIP and its members from one `show stat`: see
        vip_operating_status() and rollup(). Nothing (the device cannot
        be asked) when its host is unreachable."""
        try:
            with self.lock:
                self._refresh()
                vips = dict(self._vips)
                if not vips:
                    return {}
                reading = self._reading()
        except hosts.Unreachable as exc:
            LOG.debug('haproxy of device %s: %s', self.name, exc)
            return {}
        rows = reading[1] if reading is not None else None
        return {resource_id: vip_operating_status(resource_id, spec, rows)
                for resource_id, spec in vips.items()}

    def statistics(self):
        """Each VIP's STATS_FIELDS: its frontend's counters in the running
        process plus the carry of the processes before it (CounterCarry);
        active_connections is the running process's. Nothing when the
        device's host is unreachable."""
        try:
            with self.lock, self._exclusive():
                self._refresh()
                if not self._vips:
                    return {}
                return self._counters.totals(self._reading(),
                                             set(self._vips))
        except hosts.Unreachable as exc:
            LOG.debug('haproxy of device %s: %s', self.name, exc)
            return {}

    # -- the device's files ------------------------------------------------

    def _load(self):
        """What the device's files say: the VIPs deployed, the carry."""
        self._vips = hosts.read_json(self.host, self.state_path, {})
        self._counters = CounterCarry(os.path.join(self.directory,
                                                   STATS_FILE), self.host)
        self._loaded = True

    def _refresh(self):
        """Before a change or a reading: a shared device's files again
        (another agent may have changed them)."""
        if self.shared:
            self._load()

    def _exclusive(self):
        return self.host.exclusive(self.directory)

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
            text = haproxy_config.render(
                vips, self.stats_socket, state_file=self.server_state_path,
                ping_check=self.ping_check_path,
                insecure_fork_wanted=self._insecure_fork_wanted(vips))
        except haproxy_config.InvalidVIP as exc:
            raise base.DriverError(str(exc))
        host = self.host
        host.makedirs(self.directory, mode=0o750)
        if haproxy_config.has_ping_monitor(vips):
            # Run at each check: written again when ping came or went,
            # without a reload.
            script = ping_check_script(self._ping_binary())
            if host.read(self.ping_check_path) != script:
                host.write(self.ping_check_path, script, mode=0o750)
        previous = host.read(self.config_path)
        if text == previous and not self._unsure and self.running_pids():
            self._save(vips)
            return None
        binary = self._haproxy_binary()
        if binary is None:
            raise base.DriverError(self.not_installed)
        with host.staged(self.config_path, text) as staged:
            # A file haproxy refuses never replaces one it runs with.
            self._run([binary, '-c', '-q', '-f', staged], 'invalid config')
        self._unsure = True
        try:
            reading = self._start_or_reload(binary)
        except base.DriverError:
            if previous is None:
                host.remove(self.config_path)
            else:
                host.write(self.config_path, previous)
            self._unsure = False
            raise
        self._unsure = False
        self._counters.retire(reading, set(vips))
        self._save(vips)
        return None

    def _insecure_fork_wanted(self, vips):
        # Only PING monitors fork; haproxy before 2.2 forks without asking
        # and does not know the keyword.
        if not haproxy_config.has_ping_monitor(vips):
            return False
        binary = self._haproxy_binary()
        version = self._haproxy_version(binary) if binary else None
        return version is None or version >= (2, 2)

    def _save(self, vips):
        if vips or self.host.isdir(self.directory):
            self.host.makedirs(self.directory, mode=0o750)
            hosts.write_json(self.host, self.state_path, vips)
        self._vips = vips

    # -- the process -------------------------------------------------------

    def _start_or_reload(self, binary):
        """Start haproxy, or reload it; the old process's reading (pid,
        `show stat` rows), taken just before, or None."""
        old = self.running_pids()
        command = [binary, '-f', self.config_path, '-D', '-p', self.pid_path]
        reading = self._reading() if old else None
        servers = NO_SERVER_STATE
        if reading is not None:
            command += ['-x', self.stats_socket]
            servers = self._server_state()
        # The new process starts from the old one's servers' states (and
        # from none at a start: a state file left by a process that died
        # would be stale).
        self.host.write(self.server_state_path, servers)
        if old:
            command += ['-sf'] + [str(pid) for pid in old]
        self._run(command, 'reload failed' if old else 'start failed')
        self._retired.update(old)
        LOG.info('haproxy of device %s %s: pid %s', self.name,
                 'reloaded' if old else 'started', self.running_pids())
        return reading

    def _stop(self):
        pids = self.running_pids() + self.host.alive(
            sorted(self._retired), 'haproxy')
        self.host.signal(pids, signal.SIGTERM)
        deadline = time.monotonic() + STOP_TIMEOUT
        while self.host.alive(pids, 'haproxy') and \
                time.monotonic() < deadline:
            time.sleep(0.05)
        self.host.signal(self.host.alive(pids, 'haproxy'), signal.SIGKILL)
        self._retired.clear()
        for path in (self.pid_path, self.config_path, self.stats_socket,
                     self.server_state_path, self.ping_check_path):
            self.host.remove(path)
        self._counters.drop()
        if pids:
            LOG.info('haproxy of device %s stopped (pids %s)', self.name,
                     pids)

    def running_pids(self):
        """Pids in the pid file that are live haproxy processes."""
        text = self.host.read(self.pid_path, '')
        pids = [int(word) for word in text.split() if word.isdigit()]
        return self.host.alive(pids, 'haproxy') if pids else []

    def _run(self, command, what):
        try:
            done = self.host.run(command, COMMAND_TIMEOUT)
        except hosts.Unreachable as exc:
            raise base.DriverError(str(exc))
        except hosts.HostError as exc:
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

    def _reading(self):
        """(pid, `show stat` rows) of the process answering the stats
        socket, from one `show info;show stat`; None if none answers
        (hosts.Unreachable when its host cannot be asked)."""
        try:
            answer = self._ask('show info;show stat')
            pid = None
            for line in answer.splitlines():
                key, _sep, value = line.partition(':')
                if key == 'Pid' and value.strip().isdigit():
                    pid = int(value)
                    break
            if pid is None:
                raise OSError('unexpected answer %r' % answer[:100])
            return pid, parse_stat(answer)
        except hosts.Unreachable:
            raise
        except OSError as exc:
            LOG.debug('haproxy of device %s: stats socket %s: %s', self.name,
                      self.stats_socket, exc)
            return None

    def _server_state(self):
        """`show servers state`, for the next process to start from."""
        try:
            answer = self._ask('show servers state')
        except hosts.Unreachable:
            raise
        except OSError:
            return NO_SERVER_STATE
        return answer if answer.startswith('1\n') else NO_SERVER_STATE

    def _ask(self, command):
        return self.host.ask(self.stats_socket, command, SOCKET_TIMEOUT)


def _is_haproxy(pid):
    """A live haproxy process of this host (hosts.process_named)."""
    return hosts.process_named(pid, 'haproxy')
