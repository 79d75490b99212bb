"""The liveness rule, used everywhere an agent is judged alive or dead."""

import datetime


def utcnow():
    """The server's clock, naive UTC, as every timestamp column holds it."""
    return datetime.datetime.now(datetime.timezone.utc).replace(tzinfo=None)


def is_alive(heartbeat_timestamp, agent_down_time, now=None):
    """alive = now - heartbeat_timestamp <= agent_down_time (seconds)."""
    if heartbeat_timestamp is None:
        return False
    now = now or utcnow()
    return (now - heartbeat_timestamp).total_seconds() <= agent_down_time


def alive_since(agent_down_time, now=None):
    """Oldest heartbeat_timestamp that is still alive, for SQL filters."""
    now = now or utcnow()
    return now - datetime.timedelta(seconds=agent_down_time)


def agent_is_alive(agent, agent_down_time, now=None):
    """The rule for an agent row: fresh heartbeat and not forced down."""
    return not getattr(agent, 'forced_down', False) and is_alive(
        agent.heartbeat_timestamp, agent_down_time, now)
