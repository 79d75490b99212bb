"""Health monitors, operating status and statistics with a real haproxy.

A real haproxy on 127.0.0.1 through HAProxyDriver (through Deployments
where a resource's status is the point), tiny HTTP servers of this process
as the members (tests/http_backends.py). Issue 14's acceptance: a VIP with
a health monitor stops sending traffic to a killed member within the
configured time (delay * max_retries_down), and operating_status() says
so; statistics() only grow, across reloads and agent restarts. Intervals
are haproxy's shortest sensible (1 s): about 25 s in all. Mandatory under
CI=true (tests/conftest.py).
"""

import contextlib
import http.server
import os
import signal
import socket
import sys
import threading
import time
import urllib.error
import urllib.request

import pytest

from agentsched import constants
from agentsched.agents import deployments
from agentsched.agents.drivers import haproxy
from tests import http_backends
from tests.conftest import unavailable
# The same haproxy, device directory and members as the driver's tests.
from tests.functional.test_haproxy_driver import backends  # noqa: F401
from tests.functional.test_haproxy_driver import device  # noqa: F401
from tests.functional.test_haproxy_driver import haproxy_binary  # noqa: F401

ONLINE = constants.OPERATING_ONLINE
ERROR = constants.OPERATING_ERROR
OFFLINE = constants.OPERATING_OFFLINE
DEGRADED = constants.OPERATING_DEGRADED
NO_MONITOR = constants.OPERATING_NO_MONITOR
# An HTTP monitor as short as it gets: a check a second, two failed ones
# take a member out, one good one brings it back.
MONITOR = {'type': 'HTTP', 'delay': 1, 'timeout': 1, 'max_retries': 1,
           'max_retries_down': 2, 'url_path': '/healthz',
           'expected_codes': '200'}
# haproxy's checks are not all on the second; a loaded machine (CI runs
# other tests beside) is late by a fraction more.
MARGIN = 1.5
NETNS_PING = os.path.join(os.path.dirname(os.path.dirname(__file__)),
                          'netns_ping.py')


@pytest.fixture
def driver(device, parsed_conf):
    driver = haproxy.HAProxyDriver(device, parsed_conf)
    yield driver
    with driver.lock:
        driver._apply({})


def member(server, **changes):
    return dict({'address': '127.0.0.1',
                 'protocol_port': server.server_address[1]}, **changes)


def key(server):
    return constants.MEMBER_KEY.format(**member(server))


def vip(resource_id, port, members, monitor=None):
    spec = {'address': '127.0.0.1', 'protocol': 'HTTP', 'protocol_port': port,
            'members': members}
    if monitor is not None:
        spec['health_monitor'] = monitor
    return {'id': resource_id, 'resource_type': 'vip', 'name': 'web',
            'project_id': 'p', 'generation': 1, 'spec': spec}


def get(port):
    """(status, body) of a GET through the VIP."""
    try:
        with urllib.request.urlopen('http://127.0.0.1:%d/' % port,
                                    timeout=5) as answer:
            return answer.status, answer.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, ''


def answers(port, times=8):
    return {get(port) for _ in range(times)}


def wait_for(predicate, what, seconds):
    deadline = time.monotonic() + seconds
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail('%s within %.1f s' % (what, seconds))
        time.sleep(0.1)


def kill(server):
    """The member dies: its port refuses connections."""
    server.shutdown()
    server.server_close()


def revive(server):
    """A member again on the port of a killed one."""
    again = http.server.ThreadingHTTPServer(server.server_address,
                                            http_backends.Named)
    again.name = server.name
    threading.Thread(target=again.serve_forever, daemon=True).start()
    return again


def test_a_killed_member_gets_no_traffic_within_the_configured_time(
        driver, backends):
    a, b = backends
    port = http_backends.free_port()
    driver.deploy(vip('vip-1', port, [member(a), member(b)], MONITOR))
    status = wait_for(
        lambda: driver.operating_status()['vip-1'] if
        driver.operating_status()['vip-1']['operating_status'] == ONLINE
        else None, 'the VIP ONLINE', 5)
    assert status == {'operating_status': ONLINE,
                      'members': {key(a): ONLINE, key(b): ONLINE}}
    assert answers(port) == {(200, 'backend-a'), (200, 'backend-b')}

    # b dies. From delay * max_retries_down (+ the margin) on, every
    # request is answered, by a.
    kill(b)
    killed = time.monotonic()
    limit = MONITOR['delay'] * MONITOR['max_retries_down'] + MARGIN
    seen = []
    while time.monotonic() < killed + limit + 2:
        seen.append((time.monotonic() - killed, get(port)))
        time.sleep(0.02)
    late = [answer for after, answer in seen if after >= limit]
    assert len(late) > 20
    assert set(late) == {(200, 'backend-a')}, seen
    # a is ONLINE, b ERROR: the VIP serves, DEGRADED.
    assert driver.operating_status()['vip-1'] == {
        'operating_status': DEGRADED,
        'members': {key(a): ONLINE, key(b): ERROR}}

    # b comes back: one good check (max_retries 1) and it serves again.
    revived = revive(b)
    try:
        wait_for(lambda: driver.operating_status()['vip-1'][
            'operating_status'] == ONLINE, 'b ONLINE again',
            MONITOR['delay'] * MONITOR['max_retries'] + MARGIN)
        assert answers(port) == {(200, 'backend-a'), (200, 'backend-b')}
        # Both dead: the VIP is ERROR.
        kill(a)
        kill(revived)
        wait_for(lambda: driver.operating_status()['vip-1'][
            'operating_status'] == ERROR, 'the VIP ERROR', limit)
        assert driver.operating_status()['vip-1']['members'] == {
            key(a): ERROR, key(b): ERROR}
    finally:
        kill(revived)


def test_a_reload_keeps_a_dead_member_out(driver, backends):
    """Servers' states go from the old process to the new: a member found
    dead is not given traffic again while the new process checks it."""
    a, b = backends
    first, second = http_backends.free_port(), http_backends.free_port()
    monitor = dict(MONITOR, delay=5, timeout=1, max_retries_down=1)
    driver.deploy(vip('vip-1', first, [member(a), member(b)], monitor))
    kill(b)
    wait_for(lambda: driver.operating_status()['vip-1']['members'][key(b)]
             == ERROR, 'b ERROR', 5 + MARGIN)
    [pid] = driver.running_pids()
    driver.deploy(vip('vip-2', second, [member(a)]))
    assert driver.running_pids() != [pid]
    # Without the state, b would be UP until its first check (up to 5 s).
    assert driver.operating_status()['vip-1']['members'][key(b)] == ERROR
    assert answers(first, 10) == {(200, 'backend-a')}


def test_without_a_monitor_members_are_no_monitor_and_disabled_offline(
        driver, backends):
    a, b = backends
    port = http_backends.free_port()
    driver.deploy(vip('vip-1', port, [member(a),
                                      member(b, admin_state_up=False)]))
    assert driver.operating_status() == {'vip-1': {
        'operating_status': NO_MONITOR,
        'members': {key(a): NO_MONITOR, key(b): OFFLINE}}}
    # A disabled member gets no traffic.
    assert answers(port) == {(200, 'backend-a')}

    # With a monitor: the disabled member stays OFFLINE and does not count
    # against the VIP.
    driver.deploy(vip('vip-1', port, [member(a),
                                      member(b, admin_state_up=False)],
                      MONITOR))
    assert driver.operating_status() == {'vip-1': {
        'operating_status': ONLINE,
        'members': {key(a): ONLINE, key(b): OFFLINE}}}
    assert answers(port) == {(200, 'backend-a')}
    # Enabled again: it serves (it starts DOWN from the state of the
    # process before, and one good check brings it up).
    driver.deploy(vip('vip-1', port, [member(a), member(b)], MONITOR))
    wait_for(lambda: driver.operating_status()['vip-1']['members'][key(b)]
             == ONLINE, 'b ONLINE', MONITOR['delay'] + MARGIN)
    assert answers(port) == {(200, 'backend-a'), (200, 'backend-b')}


def test_haproxy_not_answering_is_offline(driver, backends):
    a, _b = backends
    port = http_backends.free_port()
    driver.deploy(vip('vip-1', port, [member(a)], MONITOR))
    [pid] = driver.running_pids()
    os.kill(pid, signal.SIGKILL)
    wait_for(lambda: not haproxy._is_haproxy(pid), 'haproxy gone', 5)
    assert driver.operating_status() == {'vip-1': {
        'operating_status': OFFLINE, 'members': {key(a): OFFLINE}}}


def bad_request(port):
    """A request haproxy refuses (400): a request error of the VIP."""
    with socket.create_connection(('127.0.0.1', port), timeout=5) as sock:
        sock.sendall(b'NOT HTTP AT ALL\r\n\r\n')
        return sock.recv(1024)


COUNTERS = constants.STATS_COUNTERS


def counters(statistics, resource_id='vip-1'):
    return {name: statistics[resource_id][name] for name in COUNTERS}


def not_lower(after, before):
    return all(after[name] >= before[name] for name in COUNTERS)


def test_statistics_grow_and_survive_reloads_and_restarts(
        driver, backends, device, parsed_conf):
    a, b = backends
    first, second = http_backends.free_port(), http_backends.free_port()
    driver.deploy(vip('vip-1', first, [member(a), member(b)]))
    assert driver.statistics() == {'vip-1': dict.fromkeys(
        constants.STATS_FIELDS, 0)}
    for _ in range(10):
        assert get(first)[0] == 200
    assert bad_request(first).startswith(b'HTTP/1.1 400')
    before = driver.statistics()['vip-1']
    assert before['total_connections'] == 11
    assert before['request_errors'] == 1
    assert before['bytes_in'] > 10 * len('GET / HTTP/1.1\r\n')
    assert before['bytes_out'] > 10 * len('backend-a')
    # A connection open now is active.
    with socket.create_connection(('127.0.0.1', first)):
        wait_for(lambda: driver.statistics()['vip-1'][
            'active_connections'] == 1, 'an active connection', 2)
    before = counters(driver.statistics())

    # A reload (another VIP): the new process counts from zero, the old
    # one's counters are carried: nothing lost, nothing counted twice.
    [pid] = driver.running_pids()
    driver.deploy(vip('vip-2', second, [member(a)]))
    assert driver.running_pids() != [pid]
    reloaded = driver.statistics()
    assert counters(reloaded) == before
    assert counters(reloaded, 'vip-2') == dict.fromkeys(COUNTERS, 0)
    for _ in range(5):
        get(first)
        get(second)
    grown = counters(driver.statistics())
    assert grown['total_connections'] == before['total_connections'] + 5
    assert not_lower(grown, before)

    # The agent restarts: a new driver on the same files.
    restarted = haproxy.HAProxyDriver(device, parsed_conf)
    assert counters(restarted.statistics()) == grown
    assert counters(restarted.statistics(), 'vip-2')[
        'total_connections'] == 5

    # haproxy dies; until it is back, what was counted; once back (the
    # sync deploys again), its last reading is carried.
    [pid] = restarted.running_pids()
    os.kill(pid, signal.SIGKILL)
    wait_for(lambda: not haproxy._is_haproxy(pid), 'haproxy gone', 5)
    assert counters(restarted.statistics()) == grown
    restarted.deploy(vip('vip-1', first, [member(a), member(b)]))
    assert restarted.running_pids()
    assert counters(restarted.statistics()) == grown
    get(first)
    assert counters(restarted.statistics())['total_connections'] == \
        grown['total_connections'] + 1

    # An undeployed VIP drops its carry; a VIP deployed again starts anew.
    restarted.undeploy('vip-2')
    assert set(restarted.statistics()) == {'vip-1'}
    restarted.deploy(vip('vip-2', second, [member(a)]))
    assert counters(restarted.statistics(), 'vip-2') == dict.fromkeys(
        COUNTERS, 0)
    # The last VIP gone, the carry goes with the process.
    restarted.undeploy('vip-1')
    restarted.undeploy('vip-2')
    assert restarted.statistics() == {}
    assert not os.path.exists(os.path.join(restarted.directory,
                                           haproxy.STATS_FILE))


@pytest.fixture
def fake_ping(tmp_path, monkeypatch):
    """A `ping` first on PATH: one ICMP echo from 127.0.0.1 through
    tests/netns_ping.py (a raw socket: root), exit 0 when answered; the
    machine may have no iputils-ping (this one has not)."""
    if os.geteuid() != 0:
        unavailable('raw ICMP sockets need root')
    directory = tmp_path / 'bin'
    directory.mkdir()
    script = directory / 'ping'
    script.write_text(
        '#!/bin/sh\n'
        'for address; do :; done\n'
        '[ "$(%s %s 127.0.0.1 "$address" 1)" = 1 ]\n' % (sys.executable,
                                                        NETNS_PING))
    script.chmod(0o755)
    monkeypatch.setenv('PATH', '%s:%s' % (directory, os.environ['PATH']))
    return str(script)


def test_ping_monitors_ping_each_member(driver, backends, fake_ping):
    a, _b = backends
    port = http_backends.free_port()
    # 192.0.2.1 (TEST-NET-1) answers no ping from here.
    silent = {'address': '192.0.2.1', 'protocol_port': 80}
    # Two failures in a row: one check slow to fork on a loaded machine
    # does not take the answering member out.
    monitor = {'type': 'PING', 'delay': 1, 'timeout': 1, 'max_retries': 1,
               'max_retries_down': 2}
    driver.deploy(vip('vip-1', port, [member(a), silent], monitor))
    script = os.path.join(driver.directory, haproxy.PING_CHECK)
    assert fake_ping in open(script).read()
    status = wait_for(lambda: driver.operating_status()['vip-1'] if
                      driver.operating_status()['vip-1']['members'][
                          '192.0.2.1:80'] == ERROR else None,
                      'the silent member ERROR', 2 + MARGIN)
    assert status == {'operating_status': DEGRADED,
                      'members': {key(a): ONLINE, '192.0.2.1:80': ERROR}}
    assert answers(port) == {(200, 'backend-a')}


def test_ping_without_ping_is_the_deploys_error(device, parsed_conf,
                                                backends, monkeypatch):
    monkeypatch.setattr(haproxy, 'ping_binary', lambda: None)
    reports = []
    deployed = deployments.Deployments(lambda *args: reports.append(args),
                                       conf=parsed_conf)
    a, _b = backends
    message = vip('vip-1', http_backends.free_port(), [member(a)],
                  {'type': 'PING', 'delay': 1, 'timeout': 1,
                   'max_retries': 1})
    deployed.deploy(dict(message, device=device))
    [(resource_id, generation, status, description)] = reports
    assert (resource_id, status) == ('vip-1', constants.STATUS_ERROR)
    assert description == haproxy.NO_PING
    assert deployed.driver(device).resources() == set()
    assert deployed.driver(device).running_pids() == []
