"""Queries on the agents table (SQLAlchemy Core)."""

import sqlalchemy as sa

from agentsched.db import models

_agents = models.agents

_HEARTBEAT_VALUES = dict(
    heartbeat_timestamp=sa.bindparam('b_heartbeat'),
    load=sa.bindparam('b_load'),
    topic=sa.bindparam('b_topic'),
    binary=sa.bindparam('b_binary'),
    availability_zone=sa.bindparam('b_availability_zone'),
    # Optional per row: NULL keeps the stored value.
    started_at=sa.func.coalesce(sa.bindparam('b_started_at', type_=models.DateTime),
                                _agents.c.started_at),
    resources_synced=sa.func.coalesce(
        sa.bindparam('b_resources_synced', type_=sa.Boolean),
        _agents.c.resources_synced),
)

# One statement for heartbeats that only move the timestamp and load, one for
# those that also carry new configurations: rows of an executemany must share
# their parameters, and most heartbeats repeat the last configurations.
UPDATE_HEARTBEAT = (
    sa.update(_agents).where(_agents.c.id == sa.bindparam('b_id'))
    .values(**_HEARTBEAT_VALUES))
UPDATE_HEARTBEAT_AND_DOCUMENTS = (
    sa.update(_agents).where(_agents.c.id == sa.bindparam('b_id'))
    .values(configurations=sa.bindparam('b_configurations'),
            resource_versions=sa.bindparam('b_resource_versions'),
            **_HEARTBEAT_VALUES))

_VIEW_COLUMNS = (_agents.c.id, _agents.c.agent_type, _agents.c.host,
                 _agents.c.heartbeat_timestamp, _agents.c.configurations)


def insert(connection, values):
    connection.execute(sa.insert(_agents).values(**values))


def get_view(connection, agent_type, host):
    """The columns the heartbeat sink keeps in memory, for one agent."""
    return connection.execute(
        sa.select(*_VIEW_COLUMNS).where(_agents.c.agent_type == agent_type,
                                        _agents.c.host == host)).first()


def all_views(connection):
    return connection.execute(sa.select(*_VIEW_COLUMNS)).all()


def existing_ids(connection, ids):
    rows = connection.execute(
        sa.select(_agents.c.id).where(_agents.c.id.in_(list(ids))))
    return {row.id for row in rows}


def list_all(connection):
    return connection.execute(
        sa.select(_agents).order_by(_agents.c.agent_type, _agents.c.host)).all()
