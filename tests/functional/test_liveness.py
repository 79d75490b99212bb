"""The liveness rule on SQLite, PostgreSQL and MariaDB: the Python predicate,
its SQL expression, and (PostgreSQL) the raw claim statement's text agree
row for row."""

import datetime

import sqlalchemy as sa

from agentsched import liveness
from agentsched.db import models
from agentsched.db import placement as placement_db

NOW = datetime.datetime(2026, 11, 22, 12, 0, 0, 500000)
DOWN = 75
_CUTOFF = NOW - datetime.timedelta(seconds=DOWN)
ROWS = {
    'fresh': (NOW - datetime.timedelta(seconds=10), False),
    'stale': (NOW - datetime.timedelta(seconds=600), False),
    'at_cutoff': (_CUTOFF, False),
    'just_past_cutoff': (_CUTOFF - datetime.timedelta(microseconds=1),
                         False),
    'forced_down_fresh': (NOW - datetime.timedelta(seconds=10), True),
}


def test_python_sql_and_postgresql_text_agree(database):
    engine = database.engine()
    agents = models.agents
    with engine.begin() as connection:
        connection.execute(sa.insert(agents), [dict(
            id=name, agent_type='Loadbalancer agent', binary='b', topic='t',
            host=name, created_at=NOW, started_at=NOW,
            heartbeat_timestamp=heartbeat, configurations='{}',
            forced_down=forced_down)
            for name, (heartbeat, forced_down) in ROWS.items()])
    cutoff = liveness.alive_since(DOWN, NOW)
    with engine.connect() as connection:
        rows = connection.execute(sa.select(agents)).all()
        by_python = {row.id for row in rows
                     if liveness.agent_is_alive(row, DOWN, NOW)}
        assert by_python == {'fresh', 'at_cutoff'}
        by_sql = set(connection.execute(sa.select(agents.c.id).where(
            liveness.alive_clause(agents, cutoff))).scalars())
        assert by_sql == by_python
        dead = set(connection.execute(sa.select(agents.c.id).where(
            liveness.dead_clause(agents, cutoff))).scalars())
        assert dead == set(ROWS) - by_python
        if database.backend == 'postgresql':
            by_text = set(connection.execute(sa.text(
                'SELECT id FROM agents WHERE %s' %
                placement_db.PG_AGENT_ALIVE),
                {'alive_since': cutoff}).scalars())
            assert by_text == by_python
