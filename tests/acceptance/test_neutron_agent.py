"""Neutron's own report client keeps a Neutron agent alive in agentsched.

neutron.agent.rpc.PluginReportStateAPI from the neutron 29.0.0 package,
unchanged, runs in a venv of its own (tests/neutron_client.py) through
neutron_report.py, set up as neutron-openvswitch-agent sets itself up. It
reports by call and by cast to agentsched's real ServerService, in this
process, on RabbitMQ and PostgreSQL, with [signing] master keys: a server
that wants signed reports from its own agents must still take Neutron's,
which cannot sign. Each test runs with both [reports] intakes
(oslo.messaging's RPC server and the kombu consumer).
"""

import json
import os
import queue
import subprocess
import threading
import time

import pytest
import sqlalchemy as sa

from agentsched import constants
from agentsched import signing
from agentsched.db import models
from tests import conftest
from tests import neutron_client
from tests import server_fixtures

pytestmark = pytest.mark.services

SCRIPT = os.path.join(os.path.dirname(os.path.abspath(__file__)),
                      'neutron_report.py')
OVS_AGENT = 'Open vSwitch agent'  # neutron_lib.constants.AGENT_TYPE_OVS


@pytest.fixture(scope='module')
def neutron_python():
    try:
        return neutron_client.python()
    except neutron_client.Unavailable as exc:
        conftest.unavailable(str(exc))


@pytest.fixture(params=server_fixtures.INTAKES)
def signing_server(request, parsed_conf, rabbit, postgresql_database):
    """agentsched's ServerService with a master key, as in production,
    with each [reports] intake."""
    engine = postgresql_database.engine()
    with server_fixtures.running_server(
            parsed_conf, rabbit, postgresql_database,
            ('master_keys', [signing.generate_master_key()], 'signing'),
            ('intake', request.param, 'reports')) as service:
        yield service, engine, rabbit


class NeutronAgent:
    """neutron_report.py running; its JSON lines read as they come."""

    def __init__(self, python, bus, host, mode, *extra):
        self.popen = subprocess.Popen(
            [python, SCRIPT, '--host', host, '--agent-type', OVS_AGENT,
             '--topic', bus.reports_topic, '--exchange', bus.exchange,
             '--url', bus.url, '--mode', mode] + list(extra),
            stdin=subprocess.PIPE, stdout=subprocess.PIPE,
            stderr=subprocess.PIPE, text=True)
        self._lines = queue.Queue()
        self._stderr = []
        threading.Thread(target=self._read, args=(self.popen.stdout,
                                                  self._lines.put),
                         daemon=True).start()
        threading.Thread(target=self._read, args=(self.popen.stderr,
                                                  self._stderr.append),
                         daemon=True).start()

    @staticmethod
    def _read(stream, sink):
        for line in stream:
            sink(line)
        sink(None)

    def record(self, timeout=30):
        try:
            line = self._lines.get(timeout=timeout)
        except queue.Empty:
            line = None
        if line is None:
            raise AssertionError('no answer from neutron_report.py:\n%s' %
                                 self.log())
        return json.loads(line)

    def step(self):
        """Let it send its next report; return what it printed for it."""
        self.popen.stdin.write('\n')
        self.popen.stdin.flush()
        return self.record()

    def log(self):
        return ''.join(line for line in self._stderr if line)[-5000:]

    def finish(self, timeout=30):
        if self.popen.stdin:
            self.popen.stdin.close()
        try:
            returncode = self.popen.wait(timeout)
        except subprocess.TimeoutExpired:
            self.popen.kill()
            returncode = self.popen.wait()
        assert returncode == 0, self.log()


def _agent(engine, host):
    with engine.connect() as connection:
        return connection.execute(sa.select(models.agents).where(
            models.agents.c.host == host,
            models.agents.c.agent_type == OVS_AGENT)).first()


def _wait_for(condition, timeout=15):
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(0.05)


def test_neutron_agent_registers_and_stays_alive_by_call(
        neutron_python, signing_server):
    service, engine, bus = signing_server
    agent = NeutronAgent(neutron_python, bus, 'compute-1', 'call',
                         '--count', '3', '--report-interval', '1')
    try:
        assert agent.record() == {'has_alive_neutron_server': True}
        replies = [agent.record()['reply'] for _ in range(3)]
        agent.finish()
    finally:
        agent.popen.kill()
    assert replies == [constants.AGENT_NEW, constants.AGENT_ALIVE,
                       constants.AGENT_ALIVE], agent.log()
    row = _agent(engine, 'compute-1')
    assert row is not None
    # What neutron-openvswitch-agent reports, as Neutron stores it.
    assert row.binary == 'neutron-openvswitch-agent'
    assert row.topic == 'N/A'
    assert row.host == 'compute-1'
    configurations = json.loads(row.configurations)
    assert configurations['bridge_mappings'] == {'physnet1': 'br-ex'}
    assert configurations['integration_bridge'] == 'br-int'
    assert configurations['tunnel_types'] == ['vxlan']
    # neutron's own LOCAL_RESOURCE_VERSIONS, sent with the first report.
    assert 'Port' in json.loads(row.resource_versions)
    stats = service.report_stats()
    assert (stats['accepted'], stats['rejected'], stats['failed']) == (
        3, 0, 0)


def test_neutron_agent_registers_and_stays_alive_by_cast(
        neutron_python, signing_server):
    service, engine, bus = signing_server
    agent = NeutronAgent(neutron_python, bus, 'compute-2', 'cast',
                         '--count', '2', '--step')
    try:
        assert agent.record() == {'has_alive_neutron_server': True}
        assert agent.step() == {'report': 1, 'mode': 'cast', 'reply': None}
        row = _wait_for(lambda: _agent(engine, 'compute-2'))
        assert row is not None, 'the cast did not register the agent'
        assert (row.binary, row.topic) == ('neutron-openvswitch-agent',
                                           'N/A')
        first = row.heartbeat_timestamp
        assert agent.step() == {'report': 2, 'mode': 'cast', 'reply': None}
        moved = _wait_for(lambda: _agent(
            engine, 'compute-2').heartbeat_timestamp > first)
        agent.finish()
    finally:
        agent.popen.kill()
    assert moved, 'the second cast did not move heartbeat_timestamp'
    stats = service.report_stats()
    assert (stats['accepted'], stats['rejected'], stats['failed']) == (
        2, 0, 0)


def test_l2_agents_device_count_is_taken(neutron_python, signing_server):
    """Neutron's L2 agents (OVS, SR-IOV, the common agent loop) put an
    integer in configurations['devices'], the count of ports they wire:
    not agentsched's device list, and not a reason to refuse them."""
    service, engine, bus = signing_server
    agent = NeutronAgent(neutron_python, bus, 'compute-3', 'call',
                         '--count', '2', '--report-interval', '1',
                         '--device-count', '7')
    try:
        assert agent.record() == {'has_alive_neutron_server': True}
        replies = [agent.record()['reply'] for _ in range(2)]
        agent.finish()
    finally:
        agent.popen.kill()
    assert replies == [constants.AGENT_NEW, constants.AGENT_ALIVE]
    configurations = json.loads(_agent(engine, 'compute-3').configurations)
    assert configurations['devices'] == 7
