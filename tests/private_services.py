"""Private PostgreSQL and RabbitMQ instances that fault tests may stop, kill
and restart."""

import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import uuid

PG_BIN = '/usr/lib/postgresql/15/bin'
# The script behind /usr/sbin/rabbitmq-server: the wrapper would `su` with
# a shell command line, or write to the shared node's startup_log.
RABBITMQ_SERVER = '/usr/lib/rabbitmq/bin/rabbitmq-server'


def free_port():
    with socket.socket() as sock:
        sock.bind(('127.0.0.1', 0))
        return sock.getsockname()[1]


def port_open(port):
    try:
        socket.create_connection(('127.0.0.1', port), 0.2).close()
        return True
    except OSError:
        return False


def wait_port(port, is_open, timeout):
    """Wait until the port accepts connections (is_open) or refuses them;
    return whether it did within timeout."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if port_open(port) == is_open:
            return True
        time.sleep(0.1)
    return False


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

    def fresh_database(self):
        """Running again if a test stopped it, with the database test empty
        again (dropped, its connections cut, and created): for the next
        test of a module that shares the instance, as initdb costs
        seconds."""
        if not port_open(self.port):
            self.start()
        where = ('-h', '127.0.0.1', '-p', str(self.port), '-U', 'postgres')
        self._run('dropdb', '--force', '--if-exists', *where, 'test')
        self._run('createdb', *where, 'test')

    def wait_down(self, timeout=10):
        wait_port(self.port, False, timeout)

    def destroy(self):
        try:
            self.stop('immediate')
        except subprocess.CalledProcessError:
            pass
        shutil.rmtree(self.directory, ignore_errors=True)


class PrivateRabbitMQ:
    """A second RabbitMQ node on free ports, as the rabbitmq user.

    Its own node name, AMQP and distribution ports, data, log, config and
    plugin files live in one directory; the shared node (5672, 25672) and
    epmd are left alone. start() after stop() or kill() brings the same node
    back on the same port with the same data.
    """

    def __init__(self):
        self.port = free_port()
        self.dist_port = free_port()
        while self.dist_port == self.port:
            self.dist_port = free_port()
        self.node = 'agentsched-%s@localhost' % uuid.uuid4().hex[:8]
        self.directory = tempfile.mkdtemp(prefix='agentsched-rmq-')
        self.log = os.path.join(self.directory, 'server.log')
        self._process = None
        user = pwd.getpwnam('rabbitmq')
        config = os.path.join(self.directory, 'rabbitmq.conf')
        plugins = os.path.join(self.directory, 'enabled_plugins')
        # Without a config file of its own the node reads
        # /etc/rabbitmq/rabbitmq.conf, whose listener is the shared 5672.
        with open(config, 'w') as f:
            f.write('listeners.tcp.local = 127.0.0.1:%d\n' % self.port)
        with open(plugins, 'w') as f:
            f.write('[].\n')
        for path in (self.directory, config, plugins):
            os.chown(path, user.pw_uid, user.pw_gid)
        self._env = dict(
            os.environ,
            # The cookie rabbitmqctl uses, as root too: /usr/sbin/rabbitmqctl
            # runs as the rabbitmq user, whose home this is.
            HOME=user.pw_dir,
            RABBITMQ_NODENAME=self.node,
            RABBITMQ_NODE_PORT=str(self.port),
            RABBITMQ_DIST_PORT=str(self.dist_port),
            RABBITMQ_MNESIA_BASE=os.path.join(self.directory, 'mnesia'),
            RABBITMQ_LOG_BASE=os.path.join(self.directory, 'log'),
            RABBITMQ_CONFIG_FILE=config,
            RABBITMQ_ENABLED_PLUGINS_FILE=plugins)
        try:
            self.start()
        except BaseException:
            self.destroy()
            raise

    @property
    def url(self):
        return 'rabbit://guest:guest@127.0.0.1:%d/' % self.port

    def rabbitmqctl(self, *args, timeout=60):
        return subprocess.run(['rabbitmqctl', '-n', self.node] + list(args),
                              check=True, capture_output=True, text=True,
                              timeout=timeout).stdout

    def start(self, timeout=60):
        if port_open(self.port):
            raise RuntimeError('port %d is in use: is %s running?' %
                               (self.port, self.node))
        command = [RABBITMQ_SERVER]
        if os.geteuid() == 0:
            command = ['runuser', '-u', 'rabbitmq', '--'] + command
        with open(self.log, 'ab') as log:
            self._process = subprocess.Popen(
                command, env=self._env, cwd=self.directory, stdout=log,
                stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                start_new_session=True)
        deadline = time.monotonic() + timeout
        while not port_open(self.port):
            if self._process.poll() is not None or (
                    time.monotonic() > deadline):
                with open(self.log, errors='replace') as log:
                    tail = log.read()[-2000:]
                raise RuntimeError('RabbitMQ node %s did not start:\n%s' %
                                   (self.node, tail))
            time.sleep(0.1)
        self.rabbitmqctl('await_startup', '--timeout', str(timeout))

    def fresh_vhost(self):
        """Running again if a test stopped or killed it, and a new vhost
        for guest: its URL. The queues (and messages) an earlier test left
        in its own vhost never reach the next one, whose names are the
        same; a fresh vhost costs two rabbitmqctl calls, a node's boot
        several seconds."""
        if self.os_pid() is None:
            self.start()
        vhost = 'test-%s' % uuid.uuid4().hex[:8]
        self.rabbitmqctl('add_vhost', vhost)
        self.rabbitmqctl('set_permissions', '-p', vhost, 'guest',
                         '.*', '.*', '.*')
        return self.url + vhost

    def os_pid(self):
        """The beam process of this node, or None when it is not running."""
        pid_file = os.path.join(self._env['RABBITMQ_MNESIA_BASE'],
                                self.node + '.pid')
        try:
            with open(pid_file) as f:
                pid = int(f.read().strip())
            with open('/proc/%d/environ' % pid, 'rb') as f:
                environ = f.read().split(b'\0')
        except (OSError, ValueError):
            return None
        mine = ('RABBITMQ_NODENAME=%s' % self.node).encode()
        return pid if mine in environ else None

    def _reap(self):
        if self._process is not None:
            self._process.wait(timeout=30)
            self._process = None

    def wait_down(self, timeout=30):
        if not wait_port(self.port, False, timeout):
            raise RuntimeError('RabbitMQ node %s still listens on %d' %
                               (self.node, self.port))

    def stop(self):
        """Graceful: rabbitmqctl stop, which returns once the node halted."""
        self.rabbitmqctl('stop')
        self.wait_down()
        self._reap()

    def kill(self):
        """A crash: kill -9 the node's beam process."""
        pid = self.os_pid()
        if pid is None:
            raise RuntimeError('RabbitMQ node %s is not running' % self.node)
        os.kill(pid, signal.SIGKILL)
        self.wait_down()
        self._reap()

    def destroy(self):
        try:
            if self.os_pid() is not None:
                self.kill()
        finally:
            if self._process is not None and self._process.poll() is None:
                # Still booting, or no pid file yet: the whole session goes.
                # (Only now: killing runuser before it reaped the beam would
                # orphan the beam to init, a zombie until init reaps it.)
                os.killpg(self._process.pid, signal.SIGKILL)
                self._reap()
            shutil.rmtree(self.directory, ignore_errors=True)
