"""The haproxy driver with a real haproxy on 127.0.0.1.

Two tiny HTTP servers (threads of this process) are the members; a VIP is
deployed through Deployments, as the agent's RPC endpoint does, and traffic
goes through haproxy. Reloads are graceful: haproxy runs in daemon mode and
a change starts a new process (its pid changes) that takes the listening
sockets over from the old one, so a client hammering the VIP meanwhile sees
no refused connection. Mandatory under CI=true (tests/conftest.py).
"""

import contextlib
import os
import shutil
import socket
import subprocess
import tempfile
import threading
import time
import urllib.request

import pytest

from agentsched import constants
from agentsched.agents import deployments
from agentsched.agents.drivers import haproxy
from agentsched.agents.drivers import haproxy_config
from tests import http_backends
from tests.conftest import unavailable


@pytest.fixture(scope='module')
def haproxy_binary():
    binary = haproxy.haproxy_binary()
    if binary is None:
        unavailable('haproxy not installed (apt-get install haproxy)')
    return binary


@pytest.fixture
def backends():
    with http_backends.serving('backend-a', 'backend-b') as servers:
        yield servers


@pytest.fixture
def device(haproxy_binary):
    # Short: the stats socket's path must fit a unix socket address.
    config_dir = tempfile.mkdtemp(prefix='as-hap-')
    yield {'id': 'dev-1', 'name': 'hap-1', 'device_type': 'haproxy',
           'physical_info': {'config_dir': config_dir}, 'credentials': None}
    # Whatever a failed test left running goes with it.
    with contextlib.suppress(OSError, ValueError):
        with open(os.path.join(config_dir, 'haproxy.pid')) as pids:
            for pid in pids.read().split():
                with contextlib.suppress(ProcessLookupError):
                    os.kill(int(pid), 9)
    shutil.rmtree(config_dir, ignore_errors=True)


@pytest.fixture
def agent(parsed_conf):
    reports = []
    return deployments.Deployments(
        lambda *args: reports.append(args), conf=parsed_conf), reports


def vip(port, *servers, generation=1):
    members = [{'address': '127.0.0.1', 'protocol_port':
                server.server_address[1], 'weight': 1} for server in servers]
    return {'id': 'vip-1', 'resource_type': 'vip', 'name': 'web',
            'project_id': 'p', 'generation': generation,
            'spec': {'address': '127.0.0.1', 'protocol': 'HTTP',
                     'protocol_port': port, 'members': members}}


def get(port):
    with urllib.request.urlopen('http://127.0.0.1:%d/' % port,
                                timeout=5) as answer:
        return answer.read().decode()


def answers(port, times=8):
    return {get(port) for _ in range(times)}


def alive(pid):
    return haproxy._is_haproxy(pid)


class Hammer:
    """GETs through the VIP in a loop, collecting what went wrong."""

    def __init__(self, port):
        self.port = port
        self.errors = []
        self.count = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self):
        while not self._stop.is_set():
            try:
                get(self.port)
                self.count += 1
            except OSError as exc:
                self.errors.append(exc)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc_info):
        self._stop.set()
        self._thread.join()


def test_deploy_update_reload_health_undeploy(agent, device, backends):
    deployed, reports = agent
    port = http_backends.free_port()
    message = dict(vip(port, *backends), device=device)

    deployed.deploy(message)
    assert reports[-1] == ('vip-1', 1, constants.STATUS_ACTIVE, None)
    driver = deployed.driver(device)
    [pid] = driver.running_pids()
    assert answers(port) == {'backend-a', 'backend-b'}

    # The same generation again: nothing restarted.
    deployed.deploy(message)
    assert reports[-1] == ('vip-1', 1, constants.STATUS_ACTIVE, None)
    assert driver.running_pids() == [pid]

    # An update (same generation, as the server sends it) drops a member:
    # a graceful reload, a new process, and no client turned away.
    updated = dict(vip(port, backends[0]), device=device)
    with Hammer(port) as hammer:
        time.sleep(0.3)
        deployed.deploy(updated)
        time.sleep(0.3)
    assert hammer.errors == []
    assert hammer.count > 0
    assert reports[-1] == ('vip-1', 1, constants.STATUS_ACTIVE, None)
    [new_pid] = driver.running_pids()
    assert new_pid != pid
    assert answers(port) == {'backend-a'}

    # Health from the stats socket; an open connection is load.
    with socket.create_connection(('127.0.0.1', port)):
        time.sleep(0.1)
        [health] = deployed.device_health([{'name': 'hap-1',
                                            'device_type': 'haproxy'}])
    assert health['health'] == constants.HEALTH_OK
    assert health['load'] >= 1
    assert 'health_reason' not in health

    deployed.undeploy({'id': 'vip-1', 'generation': 1})
    assert reports[-1] == ('vip-1', 1, constants.STATUS_DELETED, None)
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(('127.0.0.1', port), timeout=2).close()
    deadline = time.monotonic() + 5
    while (alive(pid) or alive(new_pid)) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not alive(new_pid) and not alive(pid)
    assert driver.running_pids() == []
    # An idle device is healthy: ready for the next VIP.
    [health] = deployed.device_health([{'name': 'hap-1',
                                        'device_type': 'haproxy'}])
    assert (health['health'], health['load']) == (constants.HEALTH_OK, 0)


def test_a_failed_change_keeps_serving_what_was_there(agent, device,
                                                      backends):
    deployed, reports = agent
    port = http_backends.free_port()
    deployed.deploy(dict(vip(port, *backends), device=device))
    [pid] = deployed.driver(device).running_pids()
    with socket.socket() as taken:
        taken.bind(('127.0.0.1', 0))
        taken.listen()
        second = vip(taken.getsockname()[1], backends[0])
        second.update(id='vip-2', device=device)
        deployed.deploy(second)
    status, description = reports[-1][2:]
    assert status == constants.STATUS_ERROR
    assert 'reload failed' in description
    assert deployed.driver(device).resources() == {'vip-1'}
    assert deployed.driver(device).running_pids() == [pid]
    assert answers(port) == {'backend-a', 'backend-b'}
    assert 'vip-2' not in open(deployed.driver(device).config_path).read()
    deployed.undeploy({'id': 'vip-1', 'generation': 1})


def test_health_is_down_when_haproxy_dies(agent, device, backends):
    deployed, reports = agent
    port = http_backends.free_port()
    deployed.deploy(dict(vip(port, *backends), device=device))
    driver = deployed.driver(device)
    [pid] = driver.running_pids()
    os.kill(pid, 9)
    deadline = time.monotonic() + 5
    while alive(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    # Until the dead process is reaped its socket may still reset
    # connections: DOWN either way, and "not running" once it is gone.
    deadline = time.monotonic() + 5
    while True:
        health, load, reason = driver.health()
        assert health == constants.HEALTH_DOWN, reason
        if 'not running' in reason or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    assert 'not running' in reason
    # The next sync deploys it again: the process comes back.
    deployed.converge([dict(vip(port, *backends, generation=2),
                            device=device)])
    assert driver.health()[0] == constants.HEALTH_OK
    assert answers(port) == {'backend-a', 'backend-b'}
    deployed.converge([])
    assert driver.running_pids() == []


@pytest.mark.parametrize('changes', [
    {'protocol': 'TCP', 'session_persistence': {'type': 'SOURCE_IP'}},
    {'protocol': 'HTTPS', 'connection_limit': 100},
    {'session_persistence': {'type': 'HTTP_COOKIE'}},
    {'session_persistence': {'type': 'APP_COOKIE',
                             'cookie_name': 'JSESSIONID'}},
    {'address': '::1', 'members': [{'address': '::1', 'protocol_port': 81,
                                    'weight': 0}]},
    # Issue 14: health monitors, as the driver renders them (a servers'
    # state file, the PING script), on this machine's haproxy.
    {'health_monitor': {'type': 'HTTP', 'delay': 2, 'timeout': 1,
                        'max_retries': 3, 'max_retries_down': 2,
                        'http_method': 'HEAD', 'expected_codes': '200',
                        'url_path': "/status?a=1&b=$x;c=(d)*+,!~@:%20"}},
    {'health_monitor': {'type': 'HTTP', 'delay': 2, 'timeout': 1,
                        'max_retries': 1, 'expected_codes': '200,202,301'}},
    {'health_monitor': {'type': 'HTTP', 'delay': 2, 'timeout': 1,
                        'max_retries': 1, 'expected_codes': '100-599',
                        'http_method': 'OPTIONS'}},
    {'protocol': 'TCP', 'health_monitor': {'type': 'HTTP', 'delay': 2,
                                           'timeout': 1, 'max_retries': 1,
                                           'http_method': 'CONNECT'}},
    {'protocol': 'HTTPS', 'health_monitor': {
        'type': 'HTTPS', 'delay': 86400, 'timeout': 86400,
        'max_retries': 10, 'max_retries_down': 10, 'url_path': '/x'}},
    {'protocol': 'TCP', 'health_monitor': {'type': 'TCP', 'delay': 1,
                                           'timeout': 1, 'max_retries': 1}},
    {'health_monitor': {'type': 'PING', 'delay': 1, 'timeout': 1,
                        'max_retries': 1},
     'members': [{'address': '127.0.0.1', 'protocol_port': 8080,
                  'admin_state_up': False},
                 {'address': 'localhost', 'protocol_port': 8080,
                  'admin_state_up': True}]},
])
def test_rendered_variants_pass_haproxy_check(haproxy_binary, tmp_path,
                                              changes):
    spec = {'address': '127.0.0.1', 'protocol': 'HTTP', 'protocol_port': 80,
            'members': [{'address': '127.0.0.1', 'protocol_port': 8080,
                         'weight': 2}]}
    spec.update(changes)
    done = _haproxy_check(haproxy_binary, tmp_path, {'v1': spec})
    assert done.returncode == 0, done.stderr
    # Not a keyword haproxy took for something else: no warning either.
    assert 'WARNING' not in done.stdout + done.stderr, done.stderr


def _haproxy_check(binary, directory, vips):
    """haproxy -c of vips rendered as the driver does."""
    config = directory / 'haproxy.cfg'
    state = directory / haproxy.SERVER_STATE_FILE
    state.write_text(haproxy.NO_SERVER_STATE)
    version = haproxy.haproxy_version(binary)
    config.write_text(haproxy_config.render(
        vips, str(directory / 'sock'), state_file=str(state),
        ping_check=str(directory / haproxy.PING_CHECK),
        insecure_fork_wanted=version is None or version >= (2, 2)))
    return subprocess.run([binary, '-c', '-f', str(config)],
                          capture_output=True, text=True)


# Issue 13: every value the renderer takes must give a file haproxy takes;
# the hostile ones must be refused by the renderer, not left to haproxy -c.
@pytest.mark.parametrize('resource_id, changes, accepted', [
    ('v1', {'address': 'localhost'}, True),
    # Refused: haproxy's resolver does not take the root's dot.
    ('v1', {'address': 'localhost.'}, False),
    ('web_2-a', {'members': [{'address': 'localhost',
                              'protocol_port': 8080}]}, True),
    ('v1', {'session_persistence': {'type': 'APP_COOKIE',
                                    'cookie_name': 'a!*+.^_|~-Z9'}}, True),
    ('v1', {'address': 'host\n'}, False),
    ('v1', {'address': 'fe80::1%eth0 bind 0.0.0.0:22'}, False),
    ('v1', {'address': 'fe80::1%lo'}, False),
    ('v1', {'members': [{'address': 'localhost\n',
                         'protocol_port': 80}]}, False),
    ('v1', {'members': [{'address': '::1%lo\nlisten evil',
                         'protocol_port': 80}]}, False),
    ('v1', {'session_persistence': {'type': 'APP_COOKIE',
                                    'cookie_name': 'SID#x'}}, False),
    ('v1', {'session_persistence': {'type': 'APP_COOKIE',
                                    'cookie_name': "SID'x"}}, False),
    ('v1', {'session_persistence': {'type': 'APP_COOKIE',
                                    'cookie_name': 'SID\n'}}, False),
    ('v1\n', {}, False),
])
def test_accepted_values_pass_haproxy_check_and_others_are_refused(
        haproxy_binary, tmp_path, resource_id, changes, accepted):
    spec = {'address': '127.0.0.1', 'protocol': 'HTTP', 'protocol_port': 80,
            'members': [{'address': '127.0.0.1', 'protocol_port': 8080}]}
    spec.update(changes)
    if not accepted:
        with pytest.raises(haproxy_config.InvalidVIP):
            haproxy_config.render({resource_id: spec}, str(tmp_path / 's'))
        return
    done = _haproxy_check(haproxy_binary, tmp_path, {resource_id: spec})
    assert done.returncode == 0, done.stderr


def test_a_restart_is_not_taken_for_a_change_of_the_device(
        parsed_conf, haproxy_binary, backends, caplog):
    """A restarted agent logged 'Device ... changed while it serves
    resources' (issue 14): its heartbeat built the driver from the
    [device:] section (address at the top), the server's deploys carry it
    as physical_info.address."""
    state_path = tempfile.mkdtemp(prefix='as-st-')
    parsed_conf.set_override('state_path', state_path)
    section = {'name': 'hap-r', 'device_type': 'haproxy',
               'service_type': 'LOADBALANCER', 'capabilities': {},
               'capacity': 10, 'address': '127.0.0.1', 'health': 'UNKNOWN',
               'load': 0}
    # As the server stores a reported device and sends it in deploys.
    sent = {'id': 'dev-r', 'name': 'hap-r', 'device_type': 'haproxy',
            'physical_info': {'address': '127.0.0.1'}, 'credentials': None}
    port = http_backends.free_port()
    message = dict(vip(port, *backends), device=sent)
    try:
        first = deployments.Deployments(lambda *args: None, conf=parsed_conf)
        first.device_health([section])
        first.deploy(message)
        [pid] = first.driver(sent).running_pids()
        # The agent restarts; haproxy (a daemon) kept running meanwhile.
        second = deployments.Deployments(lambda *args: None,
                                         conf=parsed_conf)
        with caplog.at_level('WARNING'):
            second.device_health([section])
            second.converge([message])
        assert 'changed while it serves' not in caplog.text
        assert second.driver(sent).running_pids() == [pid]
        assert answers(port) == {'backend-a', 'backend-b'}
        second.converge([])
        assert second.driver(sent).running_pids() == []
    finally:
        parsed_conf.clear_override('state_path')
        for pid in haproxy.HAProxyDriver(
                dict(sent, physical_info={}), parsed_conf).running_pids():
            os.kill(pid, 9)
        shutil.rmtree(state_path, ignore_errors=True)


def test_a_fence_stops_every_vip_of_the_device_with_one_reload(
        agent, device, backends):
    """Fencing a host with many VIPs must stop serving them all in the
    time of one reload, not one reload per VIP (the host may have lost
    them to another agent already)."""
    deployed, reports = agent
    ports = [http_backends.free_port() for _ in range(3)]
    for index, port in enumerate(ports):
        deployed.deploy(dict(vip(port, *backends), id='vip-%d' % index,
                             name='web-%d' % index, device=device))
    assert {get(port) for port in ports} <= {'backend-a', 'backend-b'}
    driver = deployed.driver(device)
    applied = []
    apply = driver._apply

    def counting(vips):
        applied.append(sorted(vips))
        return apply(vips)

    driver._apply = counting
    assert deployed.fence() == ['vip-0', 'vip-1', 'vip-2']
    assert applied == [[]]
    for port in ports:
        with pytest.raises(ConnectionRefusedError):
            socket.create_connection(('127.0.0.1', port), timeout=2).close()
    assert deployed.deployed == {}
    assert driver.resources() == set()
