"""Two heartbeat intakes, each with its own sink, on one database, fed one
stream of reports through RabbitMQ: the competing consumers of [reports]
workers (or of several servers). The intakes are the server's own wiring
(server.Heartbeats), two in this process as two report workers would be.

RabbitMQ hands the topic's messages to its consumers in turn; with an odd
number of agents, each agent's reports alternate between the two.
"""

import collections
import gc
import json
import time

import oslo_messaging
import pytest
import sqlalchemy as sa

from agentsched import constants
from agentsched import messaging
from agentsched import server as agentsched_server
from agentsched.db import engine as db_engine
from agentsched.db import models
from tests import report_factory
from tests import server_fixtures

AGENTS = 15  # odd: an agent's next report goes to the other intake
DOWN = 4
# Rounds further apart than half of DOWN: an intake's own view of an agent
# (two rounds old) says dead, so it reads the row, which the other intake
# wrote at most a round and its flush interval (1 s) ago.
SPACED_ROUNDS = 4
ROUND_SPACING = 2.2


@pytest.fixture(params=server_fixtures.INTAKES)
def two_intakes(request, parsed_conf, rabbit, server_database):
    conf = parsed_conf
    overrides = [('transport_url', rabbit.url, None),
                 ('control_exchange', rabbit.exchange, None),
                 ('agent_down_time', DOWN, None),
                 ('topic', rabbit.reports_topic, 'reports'),
                 ('connection', server_database.url, 'database'),
                 ('stats_log_interval', 0, 'reports'),
                 ('intake', request.param, 'reports')]
    for name, value, group in overrides:
        conf.set_override(name, value, group)
    messaging.cleanup()
    engine = server_database.engine()
    running, engines = [], []
    try:
        # One flushes often, the other seldom: the newest report of half
        # the agents is written before the older one the other holds.
        for flush_interval in (0.1, 1.0):
            conf.set_override('flush_interval', flush_interval, 'reports')
            engines.append(db_engine.create_engine(conf))
            running.append(agentsched_server.Heartbeats(
                conf, engines[-1], None, None))
        yield running, engine, rabbit
    finally:
        for heartbeats in running:
            heartbeats.stop()
        for each in engines:
            each.dispose()
        messaging.cleanup()
        conf.clear_override('flush_interval', 'reports')
        for name, _value, group in overrides:
            conf.clear_override(name, group)


def _report_all(client, answers, load, **extra):
    """One report of each agent, a call each: the next is sent once the
    last is taken, so that an agent's reports are taken in order by
    whichever intake (casts in a burst could be taken out of order by
    two, and the server's clock says which is newer)."""
    for index in range(AGENTS):
        host = 'host-%02d' % index
        answers[host].append(client.call(
            {}, 'report_state', **report_factory.report_kwargs(
                host, configurations={'load': load}, **extra)))


def test_each_agent_is_new_once_never_revived_and_ends_newest(
        two_intakes, parsed_conf):
    running, engine, bus = two_intakes
    client = oslo_messaging.get_rpc_client(
        messaging.get_transport(parsed_conf),
        oslo_messaging.Target(topic=bus.reports_topic, version='1.2'),
        timeout=10)
    answers = collections.defaultdict(list)
    load = 0
    for _ in range(SPACED_ROUNDS):
        started = time.monotonic()
        _report_all(client, answers, load,
                    **({'start_flag': True} if load == 0 else {}))
        load += 1
        time.sleep(max(0, ROUND_SPACING - (time.monotonic() - started)))
    # Then a restart and one more report, back to back right after the
    # seldom flusher wrote, and both intakes stop at once (the frequent
    # flusher first): each agent's last two reports are in the two sinks
    # together, and for about half of them the older one is written last.
    seldom = running[1].sink
    flushed = seldom.last_flush
    assert server_fixtures.wait_for(lambda: seldom.last_flush != flushed)
    _report_all(client, answers, load, start_flag=True)
    _report_all(client, answers, load + 1)
    accepted = [heartbeats.reports.stats.accepted for heartbeats in running]
    while running:
        running.pop(0).stop()

    rounds = SPACED_ROUNDS + 2
    assert sum(accepted) == AGENTS * rounds and min(accepted) > 0, accepted
    for host, seen in sorted(answers.items()):
        assert seen == [constants.AGENT_NEW] + [constants.AGENT_ALIVE] * (
            rounds - 1), host
    with engine.connect() as connection:
        rows = connection.execute(sa.select(models.agents)).all()
    assert len(rows) == AGENTS
    for row in rows:
        assert json.loads(row.configurations) == {'load': load + 1}, row.host
        assert row.load == load + 1, row.host
        assert row.started_at > row.created_at, row.host
        assert row.resources_synced is False, row.host
        assert row.heartbeat_timestamp > row.started_at, row.host


def test_what_exists_at_start_is_out_of_the_collectors_sight(two_intakes):
    """What exists at start (the sink, every agent's view) is not walked
    by each full collection while the intakes run; collectable again once
    they stopped."""
    running, _engine, _bus = two_intakes

    def tracked(thing):
        return any(each is thing for each in gc.get_objects())

    made_before = running[0].sink
    made_after = []
    assert not tracked(made_before)
    assert tracked(made_after)
    while running:
        running.pop(0).stop()
    assert tracked(made_before)
