import datetime

import pytest
import sqlalchemy as sa

from agentsched import liveness
from agentsched.db import models
from agentsched.db import placement as placement_db

NOW = datetime.datetime(2026, 11, 22, 12, 0, 0)
DOWN = 75


def _fresh(heartbeat, now=NOW, down=DOWN):
    return liveness.heartbeat_is_fresh(heartbeat,
                                       liveness.alive_since(down, now))


def test_alive_up_to_and_including_agent_down_time():
    assert _fresh(NOW - datetime.timedelta(seconds=75))
    assert not _fresh(NOW - datetime.timedelta(seconds=75, microseconds=1))


def test_future_heartbeat_is_alive_and_none_is_dead():
    assert _fresh(NOW + datetime.timedelta(seconds=5))
    assert not _fresh(None)
    assert not liveness.is_alive(None, False, liveness.alive_since(DOWN, NOW))


def test_alive_since_is_the_cutoff():
    cutoff = liveness.alive_since(75, NOW)
    assert cutoff == NOW - datetime.timedelta(seconds=75)
    assert _fresh(cutoff)
    assert not _fresh(cutoff - datetime.timedelta(microseconds=1))


def test_utcnow_is_naive_utc():
    now = liveness.utcnow()
    assert now.tzinfo is None
    aware = datetime.datetime.now(datetime.timezone.utc)
    assert abs((aware.replace(tzinfo=None) - now).total_seconds()) < 5


def test_forced_down_is_dead_whatever_the_heartbeat():
    class Row:
        heartbeat_timestamp = NOW
        forced_down = True
    assert not liveness.agent_is_alive(Row, DOWN, NOW)
    assert _fresh(Row.heartbeat_timestamp)  # the heartbeat half alone
    Row.forced_down = False
    assert liveness.agent_is_alive(Row, DOWN, NOW)


# The same rows judged by the Python predicates and by the SQL expressions.
_CUTOFF = NOW - datetime.timedelta(seconds=DOWN)
ROWS = {
    # name: (heartbeat_timestamp, forced_down, alive by the rule)
    'fresh': (NOW - datetime.timedelta(seconds=10), False, True),
    'stale': (NOW - datetime.timedelta(seconds=600), False, False),
    'at_cutoff': (_CUTOFF, False, True),
    'just_past_cutoff': (_CUTOFF - datetime.timedelta(microseconds=1),
                         False, False),
    'future': (NOW + datetime.timedelta(seconds=5), False, True),
    'forced_down_fresh': (NOW - datetime.timedelta(seconds=10), True, False),
    'forced_down_stale': (NOW - datetime.timedelta(seconds=600), True, False),
}


@pytest.fixture(scope='module')
def engine():
    engine = sa.create_engine('sqlite://')
    models.agents.create(engine)
    with engine.begin() as connection:
        connection.execute(sa.insert(models.agents), [dict(
            id=name, agent_type='Loadbalancer agent', binary='b', topic='t',
            host=name, created_at=NOW, started_at=NOW,
            heartbeat_timestamp=heartbeat, configurations='{}',
            forced_down=forced_down)
            for name, (heartbeat, forced_down, _) in ROWS.items()])
    yield engine
    engine.dispose()


def _sql(engine, clause):
    with engine.connect() as connection:
        return set(connection.execute(
            sa.select(models.agents.c.id).where(clause)).scalars())


def test_python_and_sql_agree_row_for_row(engine):
    agents = models.agents
    cutoff = liveness.alive_since(DOWN, NOW)
    with engine.connect() as connection:
        rows = connection.execute(sa.select(agents)).all()
    expected = {name for name, (_, _, alive) in ROWS.items() if alive}
    assert {row.id for row in rows
            if liveness.agent_is_alive(row, DOWN, NOW)} == expected
    assert {row.id for row in rows if liveness.is_alive(
        row.heartbeat_timestamp, row.forced_down, cutoff)} == expected
    assert _sql(engine, liveness.alive_clause(agents, cutoff)) == expected
    assert _sql(engine, liveness.dead_clause(agents, cutoff)) == \
        set(ROWS) - expected
    # The rule's value in a select list (the placement snapshot's way),
    # with the cutoff bound at execution.
    with engine.connect() as connection:
        judged = dict(connection.execute(
            sa.select(agents.c.id, liveness.alive_clause(
                agents, sa.bindparam('alive_since')).label('alive')),
            {'alive_since': cutoff}).all())
    assert judged == {name: alive for name, (_, _, alive) in ROWS.items()}


def test_heartbeat_half_agrees_with_sql_ignoring_forced_down(engine):
    cutoff = liveness.alive_since(DOWN, NOW)
    fresh = {name for name, (heartbeat, _, _) in ROWS.items()
             if liveness.heartbeat_is_fresh(heartbeat, cutoff)}
    assert fresh == {'fresh', 'at_cutoff', 'future', 'forced_down_fresh'}
    assert _sql(engine,
                models.agents.c.heartbeat_timestamp >= cutoff) == fresh


def test_postgresql_claim_text_is_built_from_the_one_expression():
    # db/placement.py's raw PostgreSQL statement embeds alive_clause as
    # rendered for PostgreSQL, cutoff bound as :alive_since.
    assert placement_db.PG_AGENT_ALIVE == (
        'agents.heartbeat_timestamp >= :alive_since AND '
        'agents.forced_down = false')
    text = placement_db._PG_CLAIM_AND_BIND
    assert '(%s)' % placement_db.PG_AGENT_ALIVE in text.text
    assert 'alive_since' in text._bindparams
