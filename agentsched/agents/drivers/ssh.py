"""An appliance reached over SSH (paramiko): the host of haproxy_ssh.py.

The same operations as hosts.LocalHost, done on the appliance: files
through SFTP (written to a temporary name beside the file, its mode set
before the first byte, then renamed over it: posix-rename@openssh.com),
commands through exec channels (each argument quoted for the login
shell), the stats socket through `socat` there, process checks through
/proc there, and a lock that several agents of the appliance share
(`flock` on the device's directory, held by a command that lives as long
as its channel).

- **The host key is pinned.** The one key of physical_info.host_key is the
  only key known for the appliance and paramiko's RejectPolicy refuses
  any other: a key that does not match fails the connection before any
  credential is sent; nothing is ever trusted on first use.
- **One connection per device**, opened on first use and kept: every
  operation opens a channel on it (or uses its one SFTP session); one
  that broke is dropped and the next operation connects again (once more
  at once when a kept connection turns out dead). Keepalives every 30 s.
- **Everything has a timeout** (physical_info.ssh_timeout, 10 s by
  default): the TCP connection, SSH's handshake, the login, opening a
  channel, every answer. After a failed connection, attempts within
  RETRY_AFTER seconds fail at once with the same reason, so that an
  unreachable appliance costs one timeout per heartbeat, not one per call.
- **Credentials** stay in this object: they are never logged, never in an
  exception's message, never on a command line.
"""

import contextlib
import io
import posixpath
import secrets
import select
import shlex
import signal
import socket
import stat
import subprocess
import threading
import time

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric import ed25519
from cryptography.hazmat.primitives.asymmetric import rsa
import paramiko
from oslo_log import log as logging

from agentsched import formats
from agentsched.agents.drivers import hosts

LOG = logging.getLogger(__name__)

DEFAULT_PORT = 22
DEFAULT_TIMEOUT = 10
RETRY_AFTER = 5
KEEPALIVE = 30
# The login shell's answer for a command it could not find.
NOT_FOUND = 127
# Process liveness on the appliance, hosts.process_named's rule: for each
# pid ("$@" after the program's name, $1), print it when it is a live
# process of the program (its argv[0] has the name), or a zombie whose
# threads are not all gone yet.
_ALIVE = r'''name=$1; shift
for pid; do
  stat=$(cat /proc/$pid/stat 2>/dev/null) || continue
  state=${stat##*) }; state=${state%% *}
  if [ "$state" = Z ]; then
    [ "$(ls /proc/$pid/task 2>/dev/null | wc -l)" -gt 1 ] && echo $pid
    continue
  fi
  argv0=$(tr '\0' '\n' < /proc/$pid/cmdline 2>/dev/null | head -n 1)
  case $argv0 in *"$name"*) echo $pid;; esac
done'''
_WHICH = 'PATH="$PATH:$2"; found=$(command -v "$1") && [ -x "$found" ] ' \
    '&& echo "$found"'
_LOCKED = 'locked'


class SSHHost:
    """An appliance: its address and port, its pinned host key, a login.

    Built from a device's physical_info and credentials, each checked
    again here (agentsched/formats.py); a device that fails a check is
    an appliance no operation reaches: each raises hosts.Unreachable with
    the reason.
    """

    def __init__(self, physical_info, credentials):
        self.address = physical_info.get('address')
        self.port = physical_info.get('ssh_port', DEFAULT_PORT)
        self.timeout = physical_info.get('ssh_timeout', DEFAULT_TIMEOUT)
        # In messages: set once the address and port pass their checks.
        self.where = 'the appliance'
        self._guard = threading.RLock()
        self._sftp_lock = threading.RLock()
        self._client = None
        self._sftp = None
        # (monotonic time, reason) of the last connection that failed.
        self._failed = None
        self._reported = None
        self._username = self._pkey = self._password = None
        self._problem = None
        try:
            self._check(physical_info, credentials)
        except formats.InvalidFormat as exc:
            self._problem = str(exc)

    def _check(self, physical_info, credentials):
        self.address = formats.host(self.address, 'physical_info.address')
        formats.port(self.port, 'physical_info.ssh_port')
        formats.integer(self.timeout, 'physical_info.ssh_timeout', 1,
                        formats.MAX_SSH_TIMEOUT)
        self.where = self.address if self.port == DEFAULT_PORT else \
            '%s port %d' % (self.address, self.port)
        if physical_info.get('host_key') is None:
            raise formats.InvalidFormat(
                'physical_info.host_key is missing: the appliance cannot '
                'be told from an impostor (set it through the API; '
                'docs/drivers.md says how to get it)')
        kind, blob = formats.ssh_host_key(physical_info['host_key'],
                                          'physical_info.host_key')
        try:
            self._host_key = paramiko.PKey.from_type_string(kind, blob)
        except Exception as exc:
            raise formats.InvalidFormat(
                'physical_info.host_key: not a key paramiko can read (%s)'
                % type(exc).__name__)
        self._key_type = kind
        if not credentials:
            raise formats.InvalidFormat(
                'credentials are missing: the appliance needs a login '
                '(username, and private_key or password, set through the '
                'API)')
        try:
            formats.ssh_credentials(credentials)
        except formats.InvalidFormat as exc:
            raise formats.InvalidFormat('credentials.%s' % exc)
        self._username = credentials['username']
        self._password = credentials.get('password')
        if 'private_key' in credentials:
            self._pkey = _private_key(credentials['private_key'])

    # -- the connection ----------------------------------------------------

    def _connected(self):
        """The kept connection, or a new one: hosts.Unreachable with the
        reason when there is none."""
        with self._guard:
            if self._client is not None:
                transport = self._client.get_transport()
                if transport is not None and transport.is_active():
                    return self._client
                self._drop()
            if self._problem is not None:
                raise hosts.Unreachable(self._problem)
            if self._failed is not None and \
                    time.monotonic() - self._failed[0] < RETRY_AFTER:
                raise hosts.Unreachable(self._failed[1])
            client = paramiko.SSHClient()
            # The one key known: RejectPolicy refuses the appliance unless
            # it proves it holds this key.
            name = self.address if self.port == DEFAULT_PORT else \
                '[%s]:%d' % (self.address, self.port)
            client.get_host_keys().add(name, self._key_type, self._host_key)
            client.set_missing_host_key_policy(paramiko.RejectPolicy())
            reason = None
            started = time.monotonic()
            try:
                client.connect(
                    self.address, port=self.port, username=self._username,
                    pkey=self._pkey, password=self._password,
                    timeout=self.timeout, banner_timeout=self.timeout,
                    auth_timeout=self.timeout, channel_timeout=self.timeout,
                    look_for_keys=False, allow_agent=False)
            except Exception as exc:
                client.close()
                reason = self._why(exc, time.monotonic() - started)
            if reason is not None:
                # Out of the except block: the log line has the reason
                # alone, not paramiko's exception.
                self._failed = (time.monotonic(), reason)
                if reason != self._reported:
                    LOG.warning('Appliance %s: %s', self.where, reason)
                    self._reported = reason
                raise hosts.Unreachable(reason)
            transport = client.get_transport()
            transport.set_keepalive(KEEPALIVE)
            # Small requests and answers, one after another: without it
            # Nagle's algorithm and delayed ACKs cost 40 ms on each
            # command.
            transport.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY,
                                      1)
            self._client, self._failed, self._reported = client, None, None
            LOG.info('Connected to appliance %s as %s', self.where,
                     self._username)
            return client

    def _why(self, exc, took):
        """A connection's failure in words: never a credential."""
        if isinstance(exc, paramiko.BadHostKeyException):
            return ('host key of %s does not match physical_info.host_key '
                    '(it offered %s %s); nothing was sent to it' % (
                        self.where, exc.key.get_name(), exc.key.fingerprint))
        if isinstance(exc, paramiko.AuthenticationException):
            return 'SSH login as %s to %s refused (check the credentials)' % (
                self._username, self.where)
        if isinstance(exc, (socket.timeout, TimeoutError)):
            return 'no answer from %s within %d s' % (self.where,
                                                      self.timeout)
        if isinstance(exc, paramiko.ssh_exception.NoValidConnectionsError):
            # Refused, or no route, for each address of the name.
            return 'cannot connect to %s: %s' % (self.where, ', '.join(
                sorted({(error.strerror or str(error)).lower()
                        for error in exc.errors.values()})))
        if isinstance(exc, (paramiko.SSHException, EOFError)):
            if took >= self.timeout:
                # paramiko's words for a peer that said nothing in time
                # vary ('Error reading SSH protocol banner', 'No existing
                # session': the handshake not done when it gave up).
                return 'SSH handshake with %s failed: no answer within ' \
                    '%d s' % (self.where, self.timeout)
            return 'SSH handshake with %s failed: %s' % (
                self.where, exc or type(exc).__name__)
        if isinstance(exc, OSError):
            return 'cannot connect to %s: %s' % (self.where,
                                                 exc.strerror or exc)
        return 'cannot connect to %s: %s' % (self.where, type(exc).__name__)

    def _drop(self):
        with self._guard:
            client, self._client, self._sftp = self._client, None, None
        if client is not None:
            client.close()

    def close(self):
        """Close the kept connection (the next operation opens another)."""
        self._drop()

    def _alive(self):
        with self._guard:
            transport = self._client and self._client.get_transport()
            return transport is not None and transport.is_active()

    @contextlib.contextmanager
    def _trying(self, what, seconds=None):
        """Errors of what as hosts' errors: FileNotFoundError as it is;
        a lost connection or no answer in time, Unreachable (the
        connection is dropped); anything else, HostError.

        A watchdog drops the connection when what takes longer than
        seconds (the host's timeout by default): some of paramiko's waits
        have no timeout of their own (an exec request's answer), and a
        frozen appliance keeps its TCP connection open for many minutes.
        """
        seconds = self.timeout if seconds is None else seconds
        fired = threading.Event()
        # The connection what runs on (every caller connects first).
        client = self._client

        def expire():
            fired.set()
            # Not _drop(): the blocked caller may hold the guard.
            if client is not None:
                client.close()

        watchdog = threading.Timer(seconds, expire)
        watchdog.daemon = True
        watchdog.start()
        try:
            yield
        except (hosts.HostError, FileNotFoundError):
            raise
        except Exception as exc:
            if fired.is_set() or isinstance(exc, socket.timeout):
                self._drop()
                raise hosts.Unreachable('%s: no answer from %s within %d s'
                                        % (what, self.where, seconds))
            if not self._alive():
                self._drop()
                raise hosts.Unreachable('%s: lost the connection to %s (%s)'
                                        % (what, self.where,
                                           exc or type(exc).__name__))
            raise hosts.HostError('%s on %s: %s' % (
                what, self.where, exc or type(exc).__name__))
        finally:
            watchdog.cancel()

    def _session(self):
        """A new exec channel on the kept connection."""
        client = self._connected()
        try:
            return client.get_transport().open_session(timeout=self.timeout)
        except Exception:
            # A kept connection the appliance forgot (rebooted): once more
            # on a new one.
            self._drop()
        client = self._connected()
        with self._trying('opening a channel'):
            return client.get_transport().open_session(timeout=self.timeout)

    def _sftp_client(self):
        with self._guard:
            client = self._connected()
            if self._sftp is None:
                with self._trying('starting SFTP'):
                    self._sftp = client.open_sftp()
                    self._sftp.get_channel().settimeout(self.timeout)
            return self._sftp

    # -- commands ----------------------------------------------------------

    def run(self, command, timeout, stdin=None):
        """command (a list) run on the appliance by the login shell, each
        word quoted: a CompletedProcess with text stdout and stderr."""
        line = ' '.join(shlex.quote(str(word)) for word in command)
        channel = self._session()
        try:
            with self._trying('running %s' % command[0],
                              timeout + self.timeout):
                channel.settimeout(self.timeout)
                channel.exec_command(line)
                if stdin is not None:
                    channel.sendall(stdin.encode())
                channel.shutdown_write()
                out, err = _collect(channel, timeout)
                if out is None:
                    raise hosts.HostError('%s on %s: no end within %d s' % (
                        command[0], self.where, timeout))
                code = channel.recv_exit_status()
        finally:
            channel.close()
        return subprocess.CompletedProcess(
            command, code, out.decode(errors='replace'),
            err.decode(errors='replace'))

    def ask(self, path, command, timeout):
        """One command on a unix socket of the appliance (haproxy's stats
        socket), through socat there: its whole answer."""
        done = self.run(['socat', '-t', str(timeout), '-T', str(timeout),
                         'stdio', 'UNIX-CONNECT:%s' % path], timeout + 5,
                        stdin=command + '\n')
        if done.returncode == NOT_FOUND:
            raise hosts.HostError('socat is not installed on %s (it asks '
                                  'the stats socket there)' % self.where)
        if done.returncode != 0:
            raise hosts.HostError(done.stderr.strip()[-300:] or
                                  'socat exit %d' % done.returncode)
        return done.stdout

    def alive(self, pids, name):
        if not pids:
            return []
        done = self.run(['sh', '-c', _ALIVE, 'sh', name] +
                        [str(pid) for pid in pids], self.timeout)
        live = {int(word) for word in done.stdout.split() if word.isdigit()}
        return [pid for pid in pids if pid in live]

    def signal(self, pids, sig):
        if pids:
            self.run(['kill', '-s', signal.Signals(sig).name[3:]] +
                     [str(pid) for pid in pids], self.timeout)

    def which(self, program, extra_path):
        """The path of program on the appliance (its login's PATH, then
        extra_path), or None."""
        done = self.run(['sh', '-c', _WHICH, 'sh', program, extra_path],
                        self.timeout)
        found = done.stdout.strip()
        return found if done.returncode == 0 and found.startswith('/') \
            else None

    @contextlib.contextmanager
    def exclusive(self, directory):
        """The appliance's lock for its device's directory, shared by
        every agent of the appliance: `flock` on the directory, held by a
        command that lives as long as this channel (an agent that dies
        lets go with its connection)."""
        self.makedirs(directory)
        channel = self._session()
        try:
            with self._trying('taking the appliance\'s lock',
                              2 * self.timeout + 5):
                channel.settimeout(self.timeout)
                channel.exec_command(' '.join(shlex.quote(word) for word in [
                    'flock', '-w', str(self.timeout), directory, 'sh', '-c',
                    'echo %s && exec cat >/dev/null' % _LOCKED]))
                if not _read_line(channel, self.timeout + 5).startswith(
                        _LOCKED):
                    code = channel.recv_exit_status() if \
                        channel.exit_status_ready() else None
                    raise hosts.HostError(
                        'flock is not installed on %s' % self.where
                        if code == NOT_FOUND else
                        'the lock of %s on %s: not free within %d s (another'
                        ' agent changing the appliance?)' % (
                            directory, self.where, self.timeout))
            yield
        finally:
            with contextlib.suppress(Exception):
                channel.shutdown_write()
            channel.close()

    # -- files -------------------------------------------------------------

    def read(self, path, default=None):
        with self._sftp_lock:
            sftp = self._sftp_client()
            try:
                with self._trying('reading %s' % path):
                    with sftp.open(path, 'r') as stream:
                        return stream.read().decode(errors='replace')
            except FileNotFoundError:
                return default

    def write(self, path, text, mode=0o644):
        with self.staged(path, text, mode):
            pass

    @contextlib.contextmanager
    def staged(self, path, text, mode=0o644):
        """text written beside path; the temporary name yielded, renamed
        over path on a clean exit, else removed."""
        directory, name = posixpath.split(path)
        staged = posixpath.join(directory, '.%s.%s' % (
            name, secrets.token_hex(4)))
        with self._sftp_lock:
            sftp = self._sftp_client()
            with self._trying('writing %s' % path):
                with sftp.open(staged, 'wx') as stream:
                    # Empty until its mode is set.
                    sftp.chmod(staged, mode)
                    stream.write(text.encode())
        try:
            yield staged
            with self._sftp_lock:
                with self._trying('renaming %s' % staged):
                    self._sftp_client().posix_rename(staged, path)
        except BaseException:
            with contextlib.suppress(Exception):
                self.remove(staged)
            raise

    def remove(self, path):
        with self._sftp_lock:
            sftp = self._sftp_client()
            with contextlib.suppress(FileNotFoundError):
                with self._trying('removing %s' % path):
                    sftp.remove(path)

    def isdir(self, path):
        with self._sftp_lock:
            sftp = self._sftp_client()
            try:
                with self._trying('looking at %s' % path):
                    return stat.S_ISDIR(sftp.stat(path).st_mode)
            except FileNotFoundError:
                return False

    def makedirs(self, path, mode=0o750):
        if self.isdir(path):
            return
        done = self.run(['mkdir', '-p', '-m', '%o' % mode, path],
                        self.timeout)
        if done.returncode != 0:
            raise hosts.HostError('cannot create %s on %s: %s' % (
                path, self.where, done.stderr.strip()[-300:]))


def _private_key(text):
    """A paramiko key from an unencrypted private key's text, parsed by
    cryptography: paramiko's own parser refuses about half of the ECDSA
    keys ssh-keygen writes with an empty comment (paramiko issue 2445).
    A failure's message names the problem, never a byte of the key."""
    data = text.encode()
    try:
        if b'OPENSSH PRIVATE KEY' in data.split(b'\n', 1)[0]:
            key = serialization.load_ssh_private_key(data, password=None)
        else:
            key = serialization.load_pem_private_key(data, password=None)
    except TypeError:
        # cryptography's word for a key that needs a passphrase.
        raise formats.InvalidFormat(
            'credentials.private_key is encrypted: give it without a '
            'passphrase (credentials are encrypted at rest)')
    except Exception:
        key = None
    if isinstance(key, ec.EllipticCurvePrivateKey):
        return paramiko.ECDSAKey(vals=(key, key.public_key()))
    if isinstance(key, rsa.RSAPrivateKey):
        return paramiko.RSAKey(key=key)
    if isinstance(key, ed25519.Ed25519PrivateKey):
        with contextlib.suppress(Exception):
            return paramiko.Ed25519Key.from_private_key(io.StringIO(text))
    raise formats.InvalidFormat('credentials.private_key: not an Ed25519, '
                                'ECDSA or RSA key paramiko can read')


def _collect(channel, timeout):
    """(stdout, stderr) bytes of an exec channel, read until its end (its
    output closed and its exit status in), or (None, None) when it does
    not end within timeout."""
    deadline = time.monotonic() + timeout
    out, err = [], []
    while True:
        while channel.recv_ready():
            out.append(channel.recv(65536))
        while channel.recv_stderr_ready():
            err.append(channel.recv_stderr(65536))
        left = deadline - time.monotonic()
        if channel.eof_received or channel.closed:
            if channel.exit_status_ready() and not channel.recv_ready() \
                    and not channel.recv_stderr_ready():
                return b''.join(out), b''.join(err)
            if left <= 0:
                return None, None
            channel.status_event.wait(min(left, 0.5))
        elif left <= 0:
            return None, None
        else:
            select.select([channel], [], [], min(left, 0.5))


def _read_line(channel, timeout):
    """The first line an exec channel prints ('' if none in time)."""
    deadline = time.monotonic() + timeout
    data = b''
    while b'\n' not in data:
        left = deadline - time.monotonic()
        if left <= 0 or channel.exit_status_ready() and \
                not channel.recv_ready():
            break
        if channel.recv_ready():
            chunk = channel.recv(256)
            if not chunk:
                break
            data += chunk
        else:
            select.select([channel], [], [], min(left, 0.5))
    return data.decode(errors='replace')
