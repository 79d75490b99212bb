"""A real agentsched-agent heartbeats through RabbitMQ into a real server."""

import json
import os
import shutil
import time

import pytest
import sqlalchemy as sa

from agentsched import liveness
from agentsched.db import models
from tests import commands
from tests import processes
from tests import server_fixtures

DOWN_TIME = 3


@pytest.fixture
def deployment(tmp_path, rabbit, server_database):
    config = commands.write_config(
        tmp_path / 'agentsched.conf', server_database.url, rabbit,
        DEFAULT={'agent_down_time': DOWN_TIME},
        reports={'flush_interval': 0.2, 'stats_log_interval': 1},
        agent={'report_interval': 1, 'availability_zone': 'az1'},
        **{'device:lb-1': {'device_type': 'haproxy', 'capacity': 50,
                           'capabilities': 'ssl_offload:true,tier:gold',
                           'address': '192.0.2.10'}})
    commands.run('agentsched-manage', '--config-file', config, 'db',
                 'upgrade')
    started = []

    def start(name, host, log_name):
        process = processes.Process(
            name, ['--config-file', config, '--config-file',
                   commands.write_config(tmp_path / (log_name + '.conf'),
                                         DEFAULT={'host': host})],
            tmp_path / (log_name + '.log')).start()
        started.append(process)
        return process

    yield start, server_database.engine(migrated=False), config
    for process in started:
        process.ensure_dead()


def _agent(engine, host):
    with engine.connect() as connection:
        return connection.execute(sa.select(models.agents).where(
            models.agents.c.host == host)).first()


def _wait_alive(engine, host, timeout=20):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        row = _agent(engine, host)
        if row is not None and liveness.heartbeat_is_fresh(
                row.heartbeat_timestamp, liveness.alive_since(DOWN_TIME)):
            return row
        time.sleep(0.2)
    raise AssertionError('agent %s never became alive' % host)


def test_heartbeat_death_and_revival(deployment):
    start, engine, config = deployment
    server = start('agentsched-server', 'server-1', 'server')
    server.wait_for_log('agentsched-server on server-1')
    agent = start('agentsched-agent', 'agent-1', 'agent')
    agent.wait_for_log('Server answered new')
    row = _wait_alive(engine, 'agent-1')
    assert row.agent_type == 'Loadbalancer agent'
    assert row.binary == 'agentsched-agent'
    assert row.availability_zone == 'az1'
    devices = json.loads(row.configurations)['devices']
    assert devices == [{
        'name': 'lb-1', 'device_type': 'haproxy',
        'service_type': 'LOADBALANCER',
        'capabilities': {'ssl_offload': True, 'tier': 'gold'},
        'capacity': 50, 'address': '192.0.2.10',
        # The haproxy driver's view: idle and fine if haproxy is installed.
        'health': 'OK' if shutil.which('haproxy') else 'DOWN',
        'load': 0}]
    first_beat = row.heartbeat_timestamp
    assert server_fixtures.wait_for(lambda: _agent(
        engine, 'agent-1').heartbeat_timestamp > first_beat, timeout=2.5)

    agent.kill()  # kill -9: no goodbye
    agent.popen.wait()
    assert server_fixtures.wait_for(lambda: not liveness.heartbeat_is_fresh(
        _agent(engine, 'agent-1').heartbeat_timestamp,
        liveness.alive_since(DOWN_TIME)), timeout=DOWN_TIME + 1.5)
    listing = commands.run('agentsched-manage', '--config-file', config,
                           'agent', 'list').stdout
    assert 'agent-1' in listing and 'xxx' in listing and ':-)' not in listing

    revived = start('agentsched-agent', 'agent-1', 'agent-again')
    revived.wait_for_log('Server answered revived')
    revived.wait_for_log('revived: resyncing')
    _wait_alive(engine, 'agent-1')
    listing = commands.run('agentsched-manage', '--config-file', config,
                           'agent', 'list').stdout
    assert ':-)' in listing
    # The one command on the bus, which registers oslo.messaging's options
    # after the files were parsed: it still reads transport_url there.
    stats = commands.run('agentsched-manage', '--config-file', config,
                         'server', 'stats').stdout
    assert 'accepted: ' in stats and 'refused_calls: 0' in stats

    assert revived.stop() == 0
    assert server.stop() == 0
    server_log = server.log()
    assert 'Traceback' not in server_log
    assert 'Heartbeats:' in server_log  # the periodic counters line


def test_agent_rides_out_an_absent_server(deployment):
    """No server yet: the agent retries with capped back-off, then lands."""
    start, engine, config = deployment
    agent = start('agentsched-agent', 'agent-2', 'agent')
    agent.wait_for_log('Heartbeat of agent-2 failed', timeout=20)
    server = start('agentsched-server', 'server-1', 'server')
    # The call that timed out before the server existed is still queued
    # and a retry follows within retry_max_wait (= report_interval).
    agent.wait_for_log('Server answered', timeout=20)
    _wait_alive(engine, 'agent-2')
    assert agent.stop() == 0
    assert server.stop() == 0


def test_one_process_runs_two_services(tmp_path, rabbit, server_database):
    """[agent] services = lbaas, vpn: one process, two agents on one host,
    each with the devices of its service type and its drivers listed."""
    config = commands.write_config(
        tmp_path / 'agentsched.conf', server_database.url, rabbit,
        DEFAULT={'agent_down_time': DOWN_TIME, 'host': 'edge-1'},
        reports={'flush_interval': 0.2},
        agent={'report_interval': 1, 'services': 'lbaas,vpn'},
        **{'device:lb-1': {'device_type': 'noop',
                           'service_type': 'LOADBALANCER'},
           'device:gw-1': {'device_type': 'noop', 'service_type': 'VPN'}})
    commands.run('agentsched-manage', '--config-file', config, 'db',
                 'upgrade')
    server = processes.Process('agentsched-server',
                               ['--config-file', config],
                               tmp_path / 'server.log').start()
    agent = processes.Process('agentsched-agent', ['--config-file', config],
                              tmp_path / 'agent.log').start()
    try:
        engine = server_database.engine(migrated=False)
        deadline = time.monotonic() + 30
        rows = []
        while time.monotonic() < deadline and len(rows) < 2:
            with engine.connect() as connection:
                rows = connection.execute(sa.select(models.agents).where(
                    models.agents.c.host == 'edge-1')).all()
            time.sleep(0.2)
        by_type = {row.agent_type: json.loads(row.configurations)
                   for row in rows}
        assert sorted(by_type) == ['Loadbalancer agent', 'VPN agent']
        assert [d['name'] for d in by_type['Loadbalancer agent'][
            'devices']] == ['lb-1']
        assert [d['name'] for d in by_type['VPN agent']['devices']] == [
            'gw-1']
        assert by_type['VPN agent']['device_drivers'] == ['noop']
        assert agent.stop() == 0
        assert server.stop() == 0
    finally:
        agent.ensure_dead()
        server.ensure_dead()


def test_unknown_service_and_ambiguous_devices_are_refused(tmp_path):
    for agent_options, devices, words in (
            ({'services': 'lbaas,teleport'}, {}, 'unknown service(s) '
             'teleport'),
            ({'services': 'lbaas,vpn'},
             {'device:x': {'device_type': 'noop'}}, 'needs service_type')):
        config = commands.write_config(
            tmp_path / 'a.conf', DEFAULT={'transport_url': 'rabbit://x/'},
            agent=agent_options, **devices)
        result = commands.run('agentsched-agent', '--config-file', config,
                              check=False)
        assert result.returncode == 1
        assert words in result.stderr
        assert 'Traceback' not in result.stderr


def test_an_unknown_device_assigner_stops_the_server_at_start(tmp_path):
    config = commands.write_config(
        tmp_path / 's.conf', DEFAULT={'state_path': tmp_path},
        scheduler={'device_assigner': 'most_devices'})
    result = commands.run('agentsched-server', '--config-file', config,
                          check=False)
    assert result.returncode == 1
    assert ("Unknown device assigner 'most_devices' in [scheduler] "
            "device_assigner" in result.stderr)
    assert 'least_devices' in result.stderr
    assert 'Traceback' not in result.stderr


def test_remote_device_types_a_report_could_not_carry_are_refused(
        tmp_path):
    config = commands.write_config(
        tmp_path / 'a.conf', DEFAULT={'transport_url': 'rabbit://x/'},
        agent={'remote_device_types': ','.join(
            't%d' % index for index in range(40))})
    result = commands.run('agentsched-agent', '--config-file', config,
                          check=False)
    assert result.returncode == 1
    assert 'remote_device_types lists 40 types; at most 32' in result.stderr
    assert 'Traceback' not in result.stderr


def _children(pid):
    """{pid: command line} of a process's children."""
    found = {}
    for entry in os.listdir('/proc'):
        if not entry.isdigit():
            continue
        try:
            with open('/proc/%s/stat' % entry) as stat:
                parent = int(stat.read().rsplit(')', 1)[1].split()[1])
            with open('/proc/%s/cmdline' % entry) as cmdline:
                args = cmdline.read().replace('\0', ' ').strip()
        except (OSError, ValueError, IndexError):
            continue  # gone meanwhile
        if parent == pid:
            found[int(entry)] = args
    return found


@pytest.mark.parametrize('intake', server_fixtures.INTAKES)
def test_report_workers_take_the_heartbeats(tmp_path, rabbit,
                                            postgresql_database, intake):
    """[reports] workers = 2: the master forks the server's worker and two
    report workers; real agents report through them; SIGTERM stops all."""
    config = commands.write_config(
        tmp_path / 'agentsched.conf', postgresql_database.url, rabbit,
        DEFAULT={'agent_down_time': DOWN_TIME},
        reports={'flush_interval': 0.2, 'workers': 2, 'intake': intake,
                 'stats_log_interval': 1},
        agent={'report_interval': 1},
        **{'device:lb-1': {'device_type': 'noop'}})
    commands.run('agentsched-manage', '--config-file', config, 'db',
                 'upgrade')
    engine = postgresql_database.engine(migrated=False)
    server = processes.Process('agentsched-server',
                               ['--config-file', config],
                               tmp_path / 'server.log')
    agents = [processes.Process(
        'agentsched-agent', ['--config-file', config, '--config-file',
                             commands.write_config(
                                 tmp_path / ('%s.conf' % host),
                                 DEFAULT={'host': host})],
        tmp_path / ('%s.log' % host)) for host in ('agent-1', 'agent-2')]
    try:
        server.start()
        server.wait_for_log('taken by 2 report workers')
        server.wait_for_log('Report worker on', count=2)
        for agent in agents:
            agent.start()
        for agent in agents:
            agent.wait_for_log('Server answered new')
        for host in ('agent-1', 'agent-2'):
            _wait_alive(engine, host)
        children = _children(server.popen.pid)
        assert sorted(children.values()) == [
            'agentsched-server: ServiceWrapper worker(0)',
            'agentsched-server: report worker(0)',
            'agentsched-server: report worker(1)'], children
        # The server's process answers with the workers' counters summed
        # (published every second: asked until both agents' reports count).
        answers = []

        def stats_count_both():
            answers.append(commands.run(
                'agentsched-manage', '--config-file', config, 'server',
                'stats').stdout)
            return int(answers[-1].split('accepted: ')[1].split()[0]) >= 2
        assert server_fixtures.wait_for(stats_count_both), answers[-1]
        assert 'report_workers: 2' in answers[-1]
        for agent in agents:
            assert agent.stop() == 0
        assert server.stop() == 0
        assert server_fixtures.wait_for(lambda: not any(
            os.path.exists('/proc/%d' % pid) for pid in children))
        log = server.log()
        assert 'Traceback' not in log
        assert log.count('Heartbeats:') >= 2  # each worker's counters
    finally:
        for agent in agents:
            agent.ensure_dead()
        server.ensure_dead()
