"""Where a driver's device runs: the agent's own host, or another machine.

The haproxy drivers differ only in where their files, commands and stats
socket are: LocalHost (this module) is the agent's own host, SSHHost
(ssh.py) an appliance reached over SSH. Both offer the same few operations;
paths are the device's (on the appliance for SSHHost).

Errors: HostError (an OSError) when the host did not do what it was asked
(a command that could not run or timed out, a socket that did not answer);
Unreachable, a HostError, when the host could not be asked at all (no
connection, a host key that does not match, credentials refused). str()
says why and never carries a secret.
"""

import contextlib
import os
import socket
import subprocess

from agentsched.agents.drivers import files


class HostError(OSError):
    """The host did not do what it was asked; str() says why."""


class Unreachable(HostError):
    """The host could not be asked at all; str() says why (the device's
    health reason and its deploys' error)."""


def process_named(pid, name):
    """Alive and running name (in its argv[0]): a pid file can outlive its
    process and the pid be reused. Zombies count as gone (on some hosts
    nobody reaps them), but only once their last thread is: until then
    the sockets stay open."""
    try:
        with open('/proc/%d/stat' % pid) as stat:
            fields = stat.read().rsplit(')', 1)
        if fields[1].split()[0] == 'Z':
            return len(os.listdir('/proc/%d/task' % pid)) > 1
        with open('/proc/%d/cmdline' % pid, 'rb') as cmdline:
            return name.encode() in cmdline.read().split(b'\0')[0]
    except (OSError, IndexError):
        return False


def read_json(host, path, default):
    """A JSON file of the host's, or default when it is missing or
    damaged."""
    return files.parse_json(host.read(path), default)


def write_json(host, path, document, mode=0o600):
    host.write(path, files.dump_json(document), mode)


class LocalHost:
    """The agent's own host: files (written atomically, files.py),
    subprocesses, unix sockets, /proc and signals."""

    def read(self, path, default=None):
        return files.read(path, default)

    def write(self, path, text, mode=0o644):
        files.write(path, text, mode)

    def staged(self, path, text, mode=0o644):
        return files.staged(path, text, mode)

    def remove(self, path):
        """Remove a file; one that is not there is no error."""
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)

    def isdir(self, path):
        return os.path.isdir(path)

    def makedirs(self, path, mode=0o750):
        os.makedirs(path, mode=mode, exist_ok=True)

    def exclusive(self, directory):
        """Held around a change of the device's files by several agents
        at once; here only one agent drives the device (its lock is
        enough)."""
        return contextlib.nullcontext()

    def run(self, command, timeout):
        """command (a list) run to its end: a CompletedProcess with text
        stdout and stderr; HostError when it cannot run or times out."""
        try:
            return subprocess.run(command, capture_output=True, text=True,
                                  timeout=timeout)
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise HostError(str(exc))

    def ask(self, path, command, timeout):
        """One command on a unix stream socket (haproxy's stats socket):
        its whole answer, read until the other end closes."""
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            sock.settimeout(timeout)
            sock.connect(path)
            sock.sendall(command.encode() + b'\n')
            chunks = []
            while True:
                chunk = sock.recv(65536)
                if not chunk:
                    break
                chunks.append(chunk)
        return b''.join(chunks).decode(errors='replace')

    def alive(self, pids, name):
        """Those of pids that are live processes of the program name."""
        return [pid for pid in pids if process_named(pid, name)]

    def signal(self, pids, sig):
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, sig)
