"""Poison reports (issue 11): one agent's bad data never stops the others.

A real ServerService in this process, over this machine's RabbitMQ into
PostgreSQL or MariaDB; three real agents (AgentService) report every second
with agent_down_time 3 s, so a frozen heartbeat write shows as a death within
the test. A plain oslo.messaging client sends each poison variant, for a new
host, for a host registered by that client, and for a real agent's host:
each is rejected and counted, and the agents' heartbeats keep moving. Then a
value forced past the schema into the sink costs its own heartbeat only.
With each [reports] intake: the kombu consumer decodes with orjson, which
refuses NaN, Infinity and lone surrogates; they must still reach the schema.
"""

import datetime
import logging
import math
import threading

import oslo_messaging
import pytest
import sqlalchemy as sa

from agentsched import constants
from agentsched import liveness
from agentsched import messaging
from agentsched.agents import devices
from agentsched.agents import service as agent_service
from agentsched.db import models
from agentsched.reports import schema
from tests import report_factory
from tests import server_fixtures

DOWN = 3
AGENTS = ('good-1', 'good-2', 'good-3')


def _device(**fields):
    device = {'name': 'poison-lb', 'device_type': 'noop',
              'service_type': 'LOADBALANCER', 'capacity': 10, 'load': 0}
    device.update(fields)
    return device


# (name, agent_state fields, report_state kwargs, words of the rejection)
POISON = [
    ('load 2**31', {'configurations': {'load': 2 ** 31}}, {},
     'agent_state.configurations.load must be between -2147483648 and '
     '2147483647'),
    ('NUL in topic', {'topic': 'lbaas\x00'}, {},
     'agent_state.topic must not contain a NUL character'),
    ('NUL in binary', {'binary': 'agent\x00'}, {},
     'agent_state.binary must not contain a NUL character'),
    ('NUL in availability_zone', {'availability_zone': 'nova\x00'}, {},
     'agent_state.availability_zone must not contain a NUL character'),
    ('lone surrogate in binary', {'binary': 'agent\ud800'}, {},
     'agent_state.binary must not contain a lone surrogate'),
    ('time out of range in UTC', {}, {'time': '0001-01-01T00:00:00+14:00'},
     "time: '0001-01-01T00:00:00+14:00' is out of range in UTC"),
    # NaN and Infinity go over the bus as JSON's NaN and Infinity
    # (oslo.messaging's serializer writes them) and arrive as floats.
    ('device load NaN',
     {'configurations': {'devices': [_device(load=float('nan'))]}}, {},
     'agent_state.configurations.devices[0].load must be a finite number'),
    ('device load Infinity',
     {'configurations': {'devices': [_device(load=float('inf'))]}}, {},
     'agent_state.configurations.devices[0].load must be smaller than or '
     'equal to 2147483647'),
    ('device load 1e308',
     {'configurations': {'devices': [_device(load=1e308)]}}, {},
     'agent_state.configurations.devices[0].load must be smaller than or '
     'equal to 2147483647'),
    ('device capacity 2**63-1',
     {'configurations': {'devices': [_device(capacity=2 ** 63 - 1)]}}, {},
     'agent_state.configurations.devices[0].capacity must be smaller than '
     'or equal to 2147483647'),
]


@pytest.fixture(params=server_fixtures.INTAKES)
def poison_server(request, parsed_conf, rabbit, server_database):
    conf = parsed_conf
    engine = server_database.engine()
    with server_fixtures.running_server(
            conf, rabbit, server_database, ('agent_down_time', DOWN, None),
            ('intake', request.param, 'reports'),
            ('report_interval', 1, 'agent'), ('report_timeout', 2, 'agent'),
            ('retry_max_wait', 0.5, 'agent')) as server:
        agents = []
        for host in AGENTS:
            agent = agent_service.AgentService(conf, host,
                                               devices.simulated(host))
            agent.revivals = []
            agent.resync_hooks.append(
                lambda agent=agent: agent.revivals.append(agent.last_status))
            agent.start()
            agents.append(agent)
        yield server, engine, rabbit, agents
        for agent in agents:
            agent.stop()


def _client(conf, bus):
    transport = messaging.get_transport(conf)
    return oslo_messaging.get_rpc_client(
        transport, oslo_messaging.Target(topic=bus.reports_topic,
                                         version='1.2'), timeout=10)


def _heartbeats(engine, hosts):
    with engine.connect() as connection:
        rows = connection.execute(sa.select(
            models.agents.c.host, models.agents.c.heartbeat_timestamp).where(
                models.agents.c.host.in_(hosts)))
        return {row.host: row.heartbeat_timestamp for row in rows}


_wait = server_fixtures.wait_for


class LivenessSampler:
    """Reads the agents' stored heartbeats every 0.2 s; keeps the oldest
    age seen, which passes agent_down_time if the writes ever froze."""

    def __init__(self, engine, hosts):
        self._engine = engine
        self._hosts = hosts
        self.oldest = 0.0
        self.samples = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self):
        while not self._stop.wait(0.2):
            try:
                heartbeats = _heartbeats(self._engine, self._hosts)
            except sa.exc.DBAPIError:
                return  # a failed test dropped the database
            now = liveness.utcnow()
            for host in self._hosts:
                age = (now - heartbeats[host]).total_seconds()
                self.oldest = max(self.oldest, age)
            self.samples += 1

    def stop(self):
        self._stop.set()
        self._thread.join()


def test_poison_is_refused_or_isolated_and_heartbeats_keep_moving(
        poison_server, parsed_conf, caplog, monkeypatch):
    server, engine, bus, agents = poison_server
    device_loads = []  # as the server decoded them
    check = schema.check_configurations

    def spy(report):
        configurations = report.state.get('configurations') or {}
        device_loads.extend(device.get('load') for device in
                            configurations.get('devices') or [])
        check(report)

    monkeypatch.setattr(schema, 'check_configurations', spy)
    assert _wait(lambda: all(agent.last_status == constants.AGENT_ALIVE
                             for agent in agents))
    client = _client(parsed_conf, bus)
    # Each variant goes to a new host, to a real agent's host (it reports
    # again a second later) and to a host registered beforehand by the
    # poisoning client, which never reports again: the freeze of issue 11
    # needs an agent the server knows (it answered 'alive'), and lasted
    # until that agent sent a valid report.
    for index in range(len(POISON)):
        assert client.call({}, 'report_state', **report_factory.report_kwargs(
            'victim-%d' % index)) == constants.AGENT_NEW
    sampler = LivenessSampler(engine, list(AGENTS))
    before = server.report_stats()
    outcomes = []
    for index, (name, fields, extra, words) in enumerate(POISON):
        for host in ('poison-new-%d' % index, AGENTS[0],
                     'victim-%d' % index):
            kwargs = report_factory.report_kwargs(host, **fields)
            kwargs.update(extra)
            try:
                outcome = client.call({}, 'report_state', **kwargs)
            except oslo_messaging.RemoteError as exc:
                outcome = (exc.exc_type, exc.value)
            except Exception as exc:  # the old code's OverflowError
                outcome = repr(exc)
            outcomes.append(((name, host), outcome, words))
    poisoned_at = liveness.utcnow()
    # First what the issue is about: the agents' stored heartbeats pass
    # the poison and keep moving for longer than agent_down_time; a frozen
    # write would show by now.
    for _ in range(DOWN + 1):
        mark = liveness.utcnow()
        assert _wait(lambda: all(
            heartbeat > mark for heartbeat in
            _heartbeats(engine, AGENTS).values()), timeout=DOWN), (
            'heartbeats stopped moving after the poison')
    sampler.stop()
    for what, outcome, words in outcomes:
        assert outcome[0] == 'InvalidReport', (what, outcome)
        assert words in outcome[1], (what, outcome)
    assert any(isinstance(load, float) and math.isnan(load)
               for load in device_loads)
    assert float('inf') in device_loads and 1e308 in device_loads
    stats = server.report_stats()
    assert stats['rejected'] - before['rejected'] == len(outcomes)
    assert stats['failed'] == 0
    assert liveness.utcnow() - poisoned_at > datetime.timedelta(seconds=DOWN)
    assert sampler.samples > 10
    assert sampler.oldest < DOWN, 'an agent looked dead'
    assert [agent.revivals for agent in agents] == [[], [], []]
    assert _heartbeats(engine, ['poison-new-%d' % index
                                for index in range(len(POISON))]) == {}
    stats = server.report_stats()
    assert stats['failed'] == 0
    assert stats['flush_failures'] == 0
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]

    # Defence in depth (one server start for both: each costs seconds): a
    # value that got past the schema, forced into the sink here, costs its
    # own heartbeat only, counted in the server's 'failed'.
    sink = server.sink
    key = (constants.AGENT_TYPE_LOADBALANCER, 'forced')
    sampler = LivenessSampler(engine, list(AGENTS))
    poisoned = False
    while not poisoned:
        sink.record(report_factory.report('forced',
                                          configurations={'load': 1}))
        with sink._lock:
            pending = sink._pending.get(key)
            if pending is not None:  # else the flusher was quicker
                # Refused by PostgreSQL and MariaDB alike: out of range.
                pending.load = 2 ** 40
                poisoned = True
    assert _wait(lambda: server.report_stats()['failed'] == 1)
    mark = liveness.utcnow()
    assert _wait(lambda: all(
        heartbeat > mark for heartbeat in
        _heartbeats(engine, AGENTS).values()), timeout=DOWN)
    sampler.stop()
    assert sampler.oldest < DOWN
    assert server.report_stats()['flush_failures'] == 0
    errors = [r.getMessage() for r in caplog.records
              if r.levelno >= logging.ERROR]
    assert len(errors) == 1
    assert errors[0].startswith(
        'Dropped the heartbeat of agent Loadbalancer agent on forced: the '
        'database refused it (')
    # Its next good report is written.
    sink.record(report_factory.report('forced', configurations={'load': 2}))
    assert _wait(lambda: _load(engine, 'forced') == 2)


def _load(engine, host):
    with engine.connect() as connection:
        return connection.execute(sa.select(models.agents.c.load).where(
            models.agents.c.host == host)).scalar()
