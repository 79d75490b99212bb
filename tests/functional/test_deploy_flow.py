"""Placement to deployment, with real server and agent processes.

The test process places resources with the real ResourceService (as the
API does) on PostgreSQL and MariaDB; the deploy cast crosses RabbitMQ to a
real agentsched-agent, whose update_status crosses back to a real
agentsched-server, which marks the resource ACTIVE. Generation fencing:
a status for an older generation is ignored, and a returning agent drops
what was taken from it while it was away.
"""

import time

import pytest
import sqlalchemy as sa

from agentsched import constants
from agentsched import messaging
from agentsched.db import models
from agentsched.services import agent_notifier
from agentsched.services import resources as resources_service
from agentsched.services import secrets
from tests import commands
from tests import processes

PSK = 'psk-Walrus-5521-never-logged'


@pytest.fixture
def flow(tmp_path, rabbit, server_database, parsed_conf):
    key = secrets.generate_key()
    config = commands.write_config(
        tmp_path / 'agentsched.conf', server_database.url, rabbit,
        DEFAULT={'agent_down_time': 5},
        reports={'flush_interval': 0.2},
        agent={'report_interval': 1, 'services': 'vpn'},
        secrets={'encryption_keys': key},
        **{'device:gw-1': {'device_type': 'noop', 'capacity': 10}})
    commands.run('agentsched-manage', '--config-file', config, 'db',
                 'upgrade')
    started = []

    def start(name, host):
        process = processes.Process(
            name, ['--config-file', config, '--config-file',
                   commands.write_config(tmp_path / (host + '.conf'),
                                         DEFAULT={'host': host})],
            tmp_path / (host + '.log')).start()
        started.append(process)
        return process

    overrides = [('transport_url', rabbit.url, None),
                 ('control_exchange', rabbit.exchange, None),
                 ('agent_down_time', 5, None)]
    for name, value, group in overrides:
        parsed_conf.set_override(name, value, group)
    messaging.cleanup()
    engine = server_database.engine(migrated=False)
    service = resources_service.ResourceService(
        engine, parsed_conf, agent_notifier.AgentNotifier(parsed_conf),
        secrets.SecretBox([key]))
    yield start, engine, service
    for process in started:
        process.ensure_dead()
    messaging.cleanup()
    for name, _value, group in overrides:
        parsed_conf.clear_override(name, group)


def _status(engine, resource_id):
    with engine.connect() as connection:
        return connection.execute(sa.select(
            models.resources.c.status,
            models.resources.c.status_description).where(
            models.resources.c.id == resource_id)).first()


def _wait_status(engine, resource_id, status, timeout=30):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        row = _status(engine, resource_id)
        if row is not None and row.status == status:
            return row
        time.sleep(0.2)
    raise AssertionError('%s is %s, not %s' % (
        resource_id, _status(engine, resource_id), status))


SPEC = {'peer_address': '203.0.113.9', 'peer_id': '203.0.113.9',
        'peer_cidrs': ['10.2.0.0/24'], 'local_cidrs': ['10.1.0.0/24'],
        'psk': PSK}


def test_placed_deployed_active_and_fenced(flow):
    start, engine, service = flow
    server = start('agentsched-server', 'server-1')
    server.wait_for_log('REST API listening')
    agent = start('agentsched-agent', 'vpn-1')
    agent.wait_for_log('manages 1 devices: gw-1')

    row = service.create('vpn_connection', 'project-a', 'to-branch', SPEC,
                         {'device_type': 'noop'})
    assert row.status == constants.STATUS_PENDING_CREATE
    _wait_status(engine, row.id, constants.STATUS_ACTIVE)
    agent.wait_for_log('Deployed vpn_connection %s (generation 1)' % row.id)

    # A status for an older generation changes nothing.
    assert service.update_status(row.id, 0, constants.STATUS_ERROR,
                                 'stale') is False
    assert _status(engine, row.id).status == constants.STATUS_ACTIVE

    # Nothing fits: ERROR, with the reason, never an exception.
    failed = service.create('vpn_connection', 'project-a', 'nowhere', SPEC,
                            {'device_type': 'strongswan'})
    assert failed.status == constants.STATUS_ERROR
    assert 'strongswan' in failed.status_description

    # The agent goes away; the resource is taken off it meanwhile (an
    # admin's unbind); back, it drops what is no longer its own.
    assert agent.stop() == 0
    service.unbind(row.id)
    again = start('agentsched-agent', 'vpn-1')
    again.wait_for_log('manages 1 devices: gw-1')
    # Bound again, on the same agent: a new generation.
    service.schedule(row.id)
    _wait_status(engine, row.id, constants.STATUS_ACTIVE)

    # Delete: undeploy, the agent confirms, the resource is gone.
    assert service.delete(row.id) is False
    deadline = time.monotonic() + 30
    while _status(engine, row.id) is not None and \
            time.monotonic() < deadline:
        time.sleep(0.2)
    assert _status(engine, row.id) is None
    assert again.stop() == 0
    assert server.stop() == 0
    for process in (server, agent, again):
        assert PSK not in process.log()
