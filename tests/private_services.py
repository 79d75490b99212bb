"""Private PostgreSQL instances that fault tests may stop, kill and restart."""

import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time

PG_BIN = '/usr/lib/postgresql/15/bin'


def free_port():
    with socket.socket() as sock:
        sock.bind(('127.0.0.1', 0))
        return sock.getsockname()[1]


class PrivatePostgres:
    """initdb + pg_ctl on a free port, as the postgres user."""

    def __init__(self):
        self.port = free_port()
        self.directory = tempfile.mkdtemp(prefix='agentsched-pg-')
        self.data = os.path.join(self.directory, 'data')
        user = pwd.getpwnam('postgres')
        os.chown(self.directory, user.pw_uid, user.pw_gid)
        self._run('initdb', '-A', 'trust', '-U', 'postgres', '-D', self.data)
        self.start()
        self._run('createdb', '-h', '127.0.0.1', '-p', str(self.port),
                  '-U', 'postgres', 'test')

    @property
    def url(self):
        return 'postgresql+psycopg://postgres@127.0.0.1:%d/test' % self.port

    def _run(self, program, *args):
        command = [os.path.join(PG_BIN, program)] + list(args)
        if os.geteuid() == 0:
            command = ['runuser', '-u', 'postgres', '--'] + command
        subprocess.run(command, check=True, capture_output=True,
                       cwd=self.directory)

    def start(self):
        self._run('pg_ctl', '-D', self.data, '-w', '-t', '30',
                  '-l', os.path.join(self.directory, 'log'),
                  '-o', '-p %d -k %s -c listen_addresses=127.0.0.1 '
                  '-c fsync=off' % (self.port, self.directory), 'start')

    def stop(self, mode='fast'):
        self._run('pg_ctl', '-D', self.data, '-w', '-m', mode, 'stop')

    def wait_down(self, timeout=10):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                socket.create_connection(('127.0.0.1', self.port), 0.2).close()
            except OSError:
                return
            time.sleep(0.1)

    def destroy(self):
        try:
            self.stop('immediate')
        except subprocess.CalledProcessError:
            pass
        shutil.rmtree(self.directory, ignore_errors=True)
