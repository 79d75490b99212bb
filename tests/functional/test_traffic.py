"""Traffic through a VIP, end to end: REST API, server, bus, agent, haproxy.

Real agentsched-server and agentsched-agent processes over RabbitMQ, on
PostgreSQL and MariaDB. The agent drives a real haproxy ([device:lb-1],
device_type haproxy); two tiny HTTP servers of this process are the
members. A VIP created through the API serves both of them; it keeps
serving while its agent restarts, and nothing is redeployed; deleted, its
port is closed. A VIP taken off its agent while that agent was stopped is
removed from the agent's haproxy when it comes back.
"""

import contextlib
import glob
import http.server
import json
import os
import re
import shutil
import signal
import socket
import tempfile
import threading
import time
import urllib.error
import urllib.request

import kombu
import pytest
import yaml

from agentsched import constants
from agentsched.agents.drivers import haproxy
from tests import commands
from tests import processes
from tests import http_backends
from tests.conftest import unavailable

DEVICE = 'lb-1'


class API:

    def __init__(self, port):
        self.base = 'http://127.0.0.1:%d' % port

    def call(self, method, path, body=None):
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(
            self.base + path, data=data, method=method,
            headers={'Content-Type': 'application/json'})
        try:
            with urllib.request.urlopen(req, timeout=30) as response:
                status, text = response.status, response.read().decode()
        except urllib.error.HTTPError as error:
            status, text = error.code, error.read().decode()
        return status, (json.loads(text) if text else None)


def _haproxy_pids_under(directory):
    """haproxy processes whose command line names a file under directory:
    those in pid files, and processes a reload retired."""
    pids = set()
    for path in glob.glob(os.path.join(directory, '**', 'haproxy.pid'),
                          recursive=True):
        with contextlib.suppress(OSError, ValueError):
            with open(path) as pid_file:
                pids.update(int(word) for word in pid_file.read().split())
    for entry in os.listdir('/proc'):
        if not entry.isdigit():
            continue
        with contextlib.suppress(OSError):
            with open('/proc/%s/cmdline' % entry, 'rb') as cmdline:
                args = cmdline.read().split(b'\0')
            if b'haproxy' in args[0] and any(
                    arg.startswith(directory.encode()) for arg in args):
                pids.add(int(entry))
    return {pid for pid in pids if haproxy._is_haproxy(pid)}


@pytest.fixture
def backends():
    servers = []
    for name in ('backend-a', 'backend-b'):
        server = http.server.ThreadingHTTPServer(('127.0.0.1', 0), http_backends.Named)
        server.name = name
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
    yield servers
    for server in servers:
        server.shutdown()
        server.server_close()


@pytest.fixture
def stack(tmp_path, rabbit, server_database):
    if haproxy.haproxy_binary() is None:
        unavailable('haproxy not installed (apt-get install haproxy)')
    # The agent's state_path: the driver keeps lb-1's haproxy.cfg, pid file,
    # vips.json and stats socket in <state_path>/haproxy/lb-1. Short, not
    # under tmp_path: a unix socket path must fit in 107 bytes.
    state_path = tempfile.mkdtemp(prefix='as-traffic-')
    config = commands.write_config(
        tmp_path / 'agentsched.conf', server_database.url, rabbit,
        DEFAULT={'agent_down_time': 5},
        reports={'flush_interval': 0.2},
        # resync_interval 2: a periodic resync every 2 s, so the restart
        # check below also covers several resyncs of a deployed VIP.
        agent={'report_interval': 1, 'resync_interval': 2,
               # The data plane read and reported often (issue 14).
               'status_interval': 0.5, 'stats_interval': 1},
        **{'device:' + DEVICE: {'device_type': 'haproxy',
                                'capacity': 10}})
    commands.run('agentsched-manage', '--config-file', config, 'db',
                 'upgrade')
    started = []

    def start(name, host, **defaults):
        # A log file per process, so each one's log is its own.
        process = processes.Process(
            name, ['--config-file', config, '--config-file',
                   commands.write_config(tmp_path / (host + '.conf'),
                                         DEFAULT=dict(defaults, host=host))],
            tmp_path / ('%s-%d.log' % (host, len(started)))).start()
        started.append(process)
        return process

    def start_agent(host='agent-1'):
        return start('agentsched-agent', host, state_path=state_path)

    yield (start, start_agent, os.path.join(state_path, 'haproxy', DEVICE),
           rabbit)
    for process in started:
        process.ensure_dead()
    # No haproxy outlives the test, whatever it left running.
    for pid in _haproxy_pids_under(state_path):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + 5
    while _haproxy_pids_under(state_path) and time.monotonic() < deadline:
        time.sleep(0.05)
    leftover = _haproxy_pids_under(state_path)
    shutil.rmtree(state_path, ignore_errors=True)
    assert not leftover, 'haproxy processes left behind: %s' % leftover


def _api(server):
    server.wait_for_log('REST API listening on')
    return API(int(re.search(
        r'REST API listening on http://127\.0\.0\.1:(\d+)/',
        server.log()).group(1)))


def _get(port):
    with urllib.request.urlopen('http://127.0.0.1:%d/' % port,
                                timeout=5) as answer:
        return answer.read().decode()


def _answers(port, times=10):
    return {_get(port) for _ in range(times)}


def _refuses(port):
    try:
        socket.create_connection(('127.0.0.1', port), timeout=2).close()
    except ConnectionRefusedError:
        return True
    return False


def _wait(predicate, what, timeout=30):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.2)
    raise AssertionError('not after %s s: %s' % (timeout, what))


def _purge_agent_queue(bus, host):
    """Drop the messages waiting for a stopped agent; how many there were."""
    queue = '%s.%s' % (constants.AGENT_SERVICES[
        constants.AGENT_SERVICE_LBAAS]['topic'], host)
    url = bus.url.replace('rabbit://', 'amqp://', 1)
    with kombu.Connection(url) as connection:
        return connection.default_channel.queue_purge(queue)


def _pids(directory):
    with open(os.path.join(directory, 'haproxy.pid')) as pid_file:
        return pid_file.read().split()


def _create_vip(api, port, backends):
    status, body = api.call('POST', '/v2.0/lb/vips', {'vip': {
        'name': 'web', 'address': '127.0.0.1', 'protocol': 'HTTP',
        'protocol_port': port,
        'members': [{'address': '127.0.0.1',
                     'protocol_port': server.server_address[1]}
                    for server in backends],
        'requirements': {'device_type': 'haproxy'}}})
    assert status == 201, body
    vip_id = body['vip']['id']

    def active():
        status, body = api.call('GET', '/v2.0/lb/vips/%s' % vip_id)
        assert status == 200, body
        assert body['vip']['status'] != constants.STATUS_ERROR, body
        return body['vip']['status'] == constants.STATUS_ACTIVE

    _wait(active, 'VIP %s ACTIVE' % vip_id)
    return vip_id


def test_vip_serves_survives_agent_restart_and_goes(stack, backends):
    start, start_agent, device_dir, _bus = stack
    server = start('agentsched-server', 'server-1')
    api = _api(server)
    agent = start_agent()
    agent.wait_for_log('manages 1 devices: %s' % DEVICE)

    port = http_backends.free_port()
    vip_id = _create_vip(api, port, backends)
    assert _answers(port) == {'backend-a', 'backend-b'}
    pids = _pids(device_dir)

    # The agent stops and starts again. haproxy runs on its own (daemon
    # mode) and keeps serving meanwhile. Back, the agent syncs: its
    # in-memory record of deployments is empty, so converge hands the VIP
    # to the driver again, and the driver finds the same config with
    # haproxy running and leaves it alone. So "not deployed twice" is
    # checked where it matters: the pid file names the same process (every
    # start or reload of haproxy writes a new pid), and the new agent never
    # logged a start or reload of lb-1's haproxy, across its start sync and
    # several periodic resyncs (resync_interval 2, report_interval 1).
    assert agent.stop() == 0
    assert _answers(port) == {'backend-a', 'backend-b'}
    again = start_agent()
    again.wait_for_log('manages 1 devices: %s' % DEVICE)
    again.wait_for_log('manages 1 devices: %s' % DEVICE, count=3)
    assert _answers(port) == {'backend-a', 'backend-b'}
    assert _pids(device_dir) == pids
    assert 'haproxy of device %s' % DEVICE not in again.log()
    status, body = api.call('GET', '/v2.0/lb/vips/%s' % vip_id)
    assert body['vip']['status'] == constants.STATUS_ACTIVE

    # Deleted: undeployed, confirmed by the agent, gone; the port closed.
    status, body = api.call('DELETE', '/v2.0/lb/vips/%s' % vip_id)
    assert status == 204, body
    _wait(lambda: api.call('GET', '/v2.0/lb/vips/%s' % vip_id)[0] == 404,
          'VIP %s gone from the API' % vip_id)
    assert _refuses(port)
    assert not os.path.exists(os.path.join(device_dir, 'haproxy.pid'))
    assert again.stop() == 0
    assert server.stop() == 0


def test_vip_moved_away_while_agent_stopped_is_removed(stack, backends):
    start, start_agent, device_dir, bus = stack
    server = start('agentsched-server', 'server-1')
    api = _api(server)
    agent = start_agent()
    agent.wait_for_log('manages 1 devices: %s' % DEVICE)
    status, body = api.call('GET', '/v2.0/agents?host=agent-1')
    agent_id = body['agents'][0]['id']

    port = http_backends.free_port()
    vip_id = _create_vip(api, port, backends)
    assert _answers(port) == {'backend-a', 'backend-b'}

    # Taken off the agent while it is stopped: haproxy still serves it, as
    # nobody told it otherwise.
    assert agent.stop() == 0
    status, body = api.call('DELETE', '/v2.0/agents/%s/vips/%s' % (
        agent_id, vip_id))
    assert status == 204, body
    assert _answers(port) == {'backend-a', 'backend-b'}
    status, body = api.call('GET', '/v2.0/agents/%s/vips' % agent_id)
    assert body['vips'] == []
    # The unbind cast an undeploy to the agent; RabbitMQ kept it in the
    # agent's queue and would hand it over on return. Dropped here, as a
    # cast lost on the way would be, so that only the agent's sync can
    # remove the VIP: what this test is about.
    assert _purge_agent_queue(bus, 'agent-1') >= 1

    # Back, the agent syncs; the server no longer lists the VIP for it, and
    # its driver found the VIP in vips.json: it is removed, the port closed.
    again = start_agent()
    again.wait_for_log('manages 1 devices: %s' % DEVICE)
    _wait(lambda: _refuses(port), 'port %d closed' % port)
    # Converge's own undeploy: it names no resource type (a cast's does).
    again.wait_for_log('Undeployed resource %s' % vip_id)
    assert not os.path.exists(os.path.join(device_dir, 'haproxy.pid'))
    status, body = api.call('GET', '/v2.0/agents/%s/vips' % agent_id)
    assert body['vips'] == []
    assert again.stop() == 0
    assert server.stop() == 0


# A monitor as quick as haproxy's checks allow: a member is judged down
# after max_retries_down failed checks, delay seconds apart.
MONITOR = {'type': 'HTTP', 'delay': 1, 'timeout': 1, 'max_retries': 1,
           'max_retries_down': 2, 'url_path': '/', 'expected_codes': '200'}
STATUS_INTERVAL = 0.5


def _try_get(port):
    """The member's name, or the failure (haproxy's 503, a reset)."""
    try:
        return _get(port)
    except (OSError, urllib.error.URLError) as exc:
        return 'failed: %s' % exc


def _vip(api, vip_id):
    status, body = api.call('GET', '/v2.0/lb/vips/%s' % vip_id)
    assert status == 200, body
    return body['vip']


def _cli(api, *args):
    done = commands.run('agentsched', '--os-url', api.base, *args,
                        '-f', 'yaml')
    return yaml.safe_load(done.stdout)


def test_health_monitor_member_status_and_stats(stack, backends):
    """Issue 14's acceptance: a VIP with a health monitor stops sending
    traffic to a killed member within delay x max_retries_down; the member
    shows ERROR and the VIP DEGRADED through the API and the CLI within
    that plus one status interval; statistics count what went through."""
    start, start_agent, _device_dir, _bus = stack
    server = start('agentsched-server', 'server-1')
    api = _api(server)
    agent = start_agent()
    agent.wait_for_log('manages 1 devices: %s' % DEVICE)
    port = http_backends.free_port()
    status, body = api.call('POST', '/v2.0/lb/vips', {'vip': {
        'name': 'web', 'address': '127.0.0.1', 'protocol': 'HTTP',
        'protocol_port': port, 'health_monitor': MONITOR,
        'members': [{'address': '127.0.0.1',
                     'protocol_port': backend.server_address[1]}
                    for backend in backends],
        'requirements': {'device_type': 'haproxy'}}})
    assert status == 201, body
    vip_id = body['vip']['id']
    _wait(lambda: _vip(api, vip_id)['operating_status'] ==
          constants.OPERATING_ONLINE, 'VIP %s ONLINE' % vip_id)
    assert [m['operating_status'] for m in _vip(api, vip_id)['members']] \
        == [constants.OPERATING_ONLINE] * 2
    assert _answers(port) == {'backend-a', 'backend-b'}

    dead = backends[1]
    # Dead from the moment it stops accepting: server_close() may wait for
    # a connection haproxy keeps alive to it.
    killed = time.monotonic()
    dead.shutdown()
    dead.server_close()
    # Until haproxy's checks judge it down, about every other request
    # fails; after, none may.
    _wait(lambda: {_try_get(port) for _ in range(10)} == {'backend-a'},
          'traffic only to the live member', timeout=15)
    took = time.monotonic() - killed
    limit = MONITOR['delay'] * MONITOR['max_retries_down'] + \
        MONITOR['timeout'] + 1
    assert took <= limit, 'traffic still reached the dead member %.1f s ' \
        'after it died (limit %.1f s)' % (took, limit)
    assert {_try_get(port) for _ in range(20)} == {'backend-a'}

    def degraded():
        vip = _vip(api, vip_id)
        return vip['operating_status'] == constants.OPERATING_DEGRADED and \
            [m['operating_status'] for m in vip['members']] == [
                constants.OPERATING_ONLINE, constants.OPERATING_ERROR]
    _wait(degraded, 'member ERROR and VIP DEGRADED in the API', timeout=15)
    shown = time.monotonic() - killed
    # delay x max_retries_down, one status interval, and the slack of a
    # check in flight and of this test's polling.
    assert shown <= limit + STATUS_INTERVAL + 2, shown

    members = _cli(api, 'vip', 'member', 'list', vip_id)
    assert [(m['Port'], m['Operating Status']) for m in members] == [
        (backends[0].server_address[1], constants.OPERATING_ONLINE),
        (dead.server_address[1], constants.OPERATING_ERROR)]
    assert _cli(api, 'vip', 'show', vip_id)['operating_status'] == \
        constants.OPERATING_DEGRADED

    def counted():
        stats = _cli(api, 'vip', 'stats', 'show', vip_id)
        # 10 + 20 answered by haproxy, and the polling above.
        return stats['total_connections'] >= 30 and \
            stats['bytes_out'] > 0 and stats['bytes_in'] > 0
    _wait(counted, 'statistics through the CLI', timeout=15)
    status, body = api.call('GET', '/v2.0/lb/vips/%s/stats' % vip_id)
    assert status == 200 and body['stats']['total_connections'] >= 30
    print('traffic left the dead member %.1f s after it died; the API '
          'showed it %.1f s after' % (took, shown))
    assert agent.stop() == 0
    assert server.stop() == 0
