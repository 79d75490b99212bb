"""The agent daemon against a real server stack on the in-process bus."""

import time

import pytest
import sqlalchemy as sa

from agentsched import constants
from agentsched import messaging
from agentsched import server as agentsched_server
from agentsched.agents import devices
from agentsched.agents import service as agent_service
from agentsched.db import models


@pytest.fixture
def in_process(parsed_conf, tmp_path):
    conf = parsed_conf
    overrides = [('connection', 'sqlite:///%s' % (tmp_path / 'a.sqlite'),
                  'database'),
                 ('report_interval', 60, 'agent'),
                 ('report_timeout', 0.5, 'agent'),
                 ('retry_max_wait', 0.5, 'agent'),
                 ('stats_log_interval', 0, 'reports'),
                 ('agent_down_time', 3, None),
                 # Explicit: oslo.config keeps saying 'set_override' as an
                 # option's location after clear_override, so "unset" cannot
                 # be relied on once another test set transport_url.
                 ('transport_url', constants.IN_PROCESS_TRANSPORT_URL, None)]
    for name, value, group in overrides:
        conf.set_override(name, value, group)
    messaging.cleanup()
    assert messaging.is_in_process(conf)
    started = []
    yield conf, started
    for service in reversed(started):
        service.stop()
    messaging.cleanup()
    for name, _value, group in overrides:
        conf.clear_override(name, group)


def _wait(predicate, timeout=10):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and not predicate():
        time.sleep(0.05)
    return predicate()


def test_start_flag_is_kept_until_a_report_lands(in_process):
    conf, started = in_process
    agent = agent_service.AgentService(conf, 'a1', devices.simulated('a1'))
    agent.start()
    started.append(agent)
    time.sleep(1.5)  # several attempts time out: nobody listens yet
    assert agent.last_status is None
    assert agent.agent_state()['start_flag'] is True
    server = agentsched_server.ServerService(conf)
    server.start()
    started.insert(0, server)
    assert _wait(lambda: agent.last_status == constants.AGENT_NEW)
    assert agent.agent_state()['start_flag'] is False


def test_resync_hook_runs_on_revived(in_process):
    conf, started = in_process
    server = agentsched_server.ServerService(conf)
    server.start()
    agent = agent_service.AgentService(conf, 'a2', devices.simulated('a2'))
    resyncs = []
    agent.resync_hooks.append(lambda: resyncs.append(agent.last_status))
    agent.start()
    started.append(agent)
    assert _wait(lambda: agent.last_status == constants.AGENT_NEW)
    assert agent.report_once() == constants.AGENT_ALIVE
    assert resyncs == []
    # The server restarts and finds the agent's heartbeat long gone.
    server.stop()
    with server.engine.begin() as connection:
        connection.execute(sa.update(models.agents).values(
            heartbeat_timestamp=sa.func.datetime('now', '-1 hour')))
    server = agentsched_server.ServerService(conf)
    server.start()
    started.insert(0, server)
    assert agent.report_once() == constants.AGENT_REVIVED
    assert resyncs == [constants.AGENT_REVIVED]
    assert agent.report_once() == constants.AGENT_ALIVE
    assert resyncs == [constants.AGENT_REVIVED]
