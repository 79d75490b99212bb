"""The liveness rule: its one home, in Python and in SQL side by side.

    alive  <=>  not forced_down  and  heartbeat_timestamp >= alive_since
    alive_since = now - agent_down_time         (server clock, naive UTC)

that is, now - heartbeat_timestamp <= agent_down_time (seconds), and an
admin's forced_down makes an agent dead whatever its heartbeats say. An
agent with no heartbeat timestamp is dead.

Every package that judges an agent uses this module: db (the SQL twin, in
filters and claims), reports, services, health, extensions, cmd. It sits
below all of them and imports nothing from agentsched, so that none of them
needs another to know whether an agent is alive.

Python and SQL compare the same way, against a cutoff computed once
(alive_since): a loop over many rows, or a statement, pays for the clock and
the subtraction once. tests/unit/test_liveness.py checks that the
predicates and the SQL expressions agree row for row.
"""

import datetime

import sqlalchemy as sa

# Positional (days, seconds): timedelta(seconds=...) parses keywords and
# costs twice as much, on the path of every heartbeat.
_timedelta = datetime.timedelta


def utcnow():
    """The server's clock, naive UTC, as every timestamp column holds it."""
    return datetime.datetime.now(datetime.timezone.utc).replace(tzinfo=None)


def alive_since(agent_down_time, now=None):
    """The cutoff: the oldest heartbeat_timestamp still alive at now."""
    return (now or utcnow()) - _timedelta(0, agent_down_time)


# -- Python ------------------------------------------------------------------

def heartbeat_is_fresh(heartbeat_timestamp, alive_since):
    """The heartbeat half of the rule alone, forced_down NOT considered.

    For judges that know heartbeats only: the heartbeat sink's in-memory
    view has no forced_down, and its answer to a report ('alive' or
    'revived': must the agent resync?) is about heartbeats, not about an
    admin's fencing. Whether an agent is alive is agent_is_alive/is_alive.
    """
    return heartbeat_timestamp is not None and \
        heartbeat_timestamp >= alive_since


def is_alive(heartbeat_timestamp, forced_down, alive_since):
    """The rule on an agent's values, against a cutoff computed once
    (alive_since()): for loops over many agents."""
    return not forced_down and heartbeat_timestamp is not None and \
        heartbeat_timestamp >= alive_since


def agent_is_alive(agent, agent_down_time, now=None):
    """The rule for one agent row (anything with heartbeat_timestamp and
    forced_down)."""
    return is_alive(agent.heartbeat_timestamp, agent.forced_down,
                    alive_since(agent_down_time, now))


# -- SQL ---------------------------------------------------------------------

def alive_clause(agents, alive_since):
    """The rule as a SQLAlchemy expression on the agents table (or an alias
    of it); alive_since: a datetime or a bindparam."""
    return sa.and_(agents.c.heartbeat_timestamp >= alive_since,
                   agents.c.forced_down == sa.false())


def dead_clause(agents, alive_since):
    """NOT alive_clause, spelled out as an OR (both columns are NOT NULL,
    so the two agree row for row)."""
    return sa.or_(agents.c.heartbeat_timestamp < alive_since,
                  agents.c.forced_down == sa.true())
