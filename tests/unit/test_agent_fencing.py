"""An agent's self-fencing, without a bus: what a heartbeat does when it
finds the fence time passed (issue 14: a frozen agent that wakes must stop
serving before it is heard, whichever of its threads runs first)."""

import logging
import time

import oslo_messaging
import pytest

from agentsched import constants
from agentsched.agents import service as agent_service


class Recorder:
    """The reporter, the server and the deployments' fence, in one: what
    the agent did, in order."""

    def __init__(self):
        self.events = []
        self.answers = []   # (seconds it takes, status), one per report

    def report_state(self, state):
        takes, status = (self.answers.pop(0) if self.answers
                         else (0, constants.AGENT_REVIVED))
        time.sleep(takes)
        self.events.append('heartbeat')
        if isinstance(status, Exception):
            raise status
        return status

    def assigned_resources(self, agent_type, host):
        self.events.append('sync')
        return {'devices': [], 'resources': []}

    def fence(self):
        self.events.append('fence')
        return []


@pytest.fixture
def agent_conf(parsed_conf):
    options = []

    def override(name, value):
        parsed_conf.set_override(name, value, 'agent')
        options.append(name)

    yield override
    for name in options:
        parsed_conf.clear_override(name, 'agent')


def _woken_agent(conf):
    """An agent not started (no fence thread), its last heartbeat accepted
    longer ago than its fence time: as one whose process was frozen."""
    agent = agent_service.AgentService(conf, 'h1', [])
    recorder = Recorder()
    agent._reporter = agent._server = recorder
    agent.deployments.fence = recorder.fence
    agent._start_flag = False
    agent._last_accepted = time.monotonic() - agent._fence_time - 1
    return agent, recorder


def test_a_heartbeat_past_the_fence_time_fences_before_it_is_sent(
        parsed_conf):
    agent, recorder = _woken_agent(parsed_conf)
    assert agent.report_once() == constants.AGENT_REVIVED
    # Fenced, heard, unfenced; the revival's sync deploys what is its own.
    assert recorder.events == ['fence', 'heartbeat', 'sync']
    assert not agent.fenced


def test_a_heartbeat_within_the_fence_time_does_not_fence(parsed_conf):
    agent, recorder = _woken_agent(parsed_conf)
    agent._last_accepted = time.monotonic()
    agent.report_once()
    assert recorder.events == ['heartbeat', 'sync']


def test_an_answer_to_a_heartbeat_sent_before_the_fence_time_is_not_trusted(
        parsed_conf, agent_conf, caplog):
    # oslo.messaging holds a send until the broker is back: the answer
    # comes after fence_time, and the server may have judged the agent
    # since its sending. Unfenced on it, the agent would fence again at
    # once; it stays fenced and sends a new heartbeat, answered at once.
    agent_conf('fence_time', 1)
    agent, recorder = _woken_agent(parsed_conf)
    agent._last_accepted = time.monotonic()
    recorder.answers = [(1.2, constants.AGENT_REVIVED),
                        (0, constants.AGENT_ALIVE)]
    with caplog.at_level(logging.INFO):
        assert agent.report_once() == constants.AGENT_ALIVE
    # Fenced before the second is sent, unfenced on its answer.
    assert recorder.events == ['heartbeat', 'fence', 'heartbeat', 'sync']
    assert not agent.fenced
    assert agent._fence_left() > 0.5
    assert 'past fence_time: not counted' in caplog.text
    # The revival answered to the first is not forgotten.
    assert 'revived: resyncing' in caplog.text


def test_a_revival_answered_too_late_is_owed_past_a_refusal(
        parsed_conf, agent_conf, caplog):
    agent_conf('fence_time', 1)
    agent, recorder = _woken_agent(parsed_conf)
    agent._last_accepted = time.monotonic()
    refusal = oslo_messaging.RemoteError('InvalidReport', 'too big')
    recorder.answers = [(1.2, constants.AGENT_REVIVED), (0, refusal),
                        (0, constants.AGENT_ALIVE)]
    assert agent.report_once() is None
    with caplog.at_level(logging.INFO):
        assert agent.report_once() == constants.AGENT_ALIVE
    assert 'revived: resyncing' in caplog.text


def test_a_sync_past_the_fence_time_fences_instead_of_deploying(
        parsed_conf):
    # Frozen between its accepted heartbeat and its sync's converge: what
    # the answer says may have moved since.
    agent, recorder = _woken_agent(parsed_conf)
    agent.deployments.converge = lambda *args, **kwargs: \
        recorder.events.append('converge')
    assert agent.fetch_and_converge() is False
    assert recorder.events == ['sync', 'fence']
    assert agent.fenced
    agent._last_accepted = time.monotonic()
    assert agent.fetch_and_converge() is True
    assert recorder.events[2:] == ['sync', 'converge']


def test_fence_on_isolation_off_never_fences(parsed_conf, agent_conf):
    agent_conf('fence_on_isolation', False)
    agent, recorder = _woken_agent(parsed_conf)
    agent.report_once()
    assert recorder.events == ['heartbeat', 'sync']


def test_fence_time_0_is_a_deprecated_off(parsed_conf, agent_conf, caplog):
    agent_conf('fence_time', 0)
    with caplog.at_level(logging.WARNING):
        agent, recorder = _woken_agent(parsed_conf)
    assert 'fence_time = 0 is deprecated' in caplog.text
    agent.report_once()
    assert recorder.events == ['heartbeat', 'sync']
