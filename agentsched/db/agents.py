"""Queries on the agents table (SQLAlchemy Core)."""

import sqlalchemy as sa

from agentsched import liveness
from agentsched.db import models
from agentsched.db import paging

_agents = models.agents


def _keep_if_null(column, type_=None):
    """SET column = COALESCE(:b_column, column): NULL keeps the stored value,
    so every row of a batch shares one statement."""
    return sa.func.coalesce(sa.bindparam('b_' + column, type_=type_),
                            _agents.c[column])


# Elsewhere, one statement executed for each row of the batch.
_UPDATE_HEARTBEAT = (
    sa.update(_agents).where(_agents.c.id == sa.bindparam('b_id'))
    .values(heartbeat_timestamp=sa.bindparam('b_heartbeat'),
            load=sa.bindparam('b_load'),
            topic=sa.bindparam('b_topic'),
            binary=sa.bindparam('b_binary'),
            availability_zone=sa.bindparam('b_availability_zone'),
            started_at=_keep_if_null('started_at', models.DateTime),
            resources_synced=_keep_if_null('resources_synced', sa.Boolean),
            configurations=_keep_if_null('configurations', sa.Text),
            resource_versions=_keep_if_null('resource_versions', sa.Text)))

# PostgreSQL takes a whole batch in one statement, its rows passed as arrays:
# one plan and one round trip per flush instead of one execution per row,
# which costs several times less CPU in both the server and the database.
_PG_UPDATE_HEARTBEATS = sa.text("""
UPDATE agents SET
    heartbeat_timestamp = v.heartbeat,
    load = v.load,
    topic = v.topic,
    "binary" = v.binary,
    availability_zone = v.availability_zone,
    started_at = COALESCE(v.started_at, agents.started_at),
    resources_synced = COALESCE(v.resources_synced, agents.resources_synced),
    configurations = COALESCE(v.configurations, agents.configurations),
    resource_versions = COALESCE(v.resource_versions,
                                 agents.resource_versions)
FROM unnest(CAST(:id AS text[]), CAST(:heartbeat AS timestamp[]),
            CAST(:load AS integer[]), CAST(:topic AS text[]),
            CAST(:binary AS text[]), CAST(:availability_zone AS text[]),
            CAST(:started_at AS timestamp[]),
            CAST(:resources_synced AS boolean[]),
            CAST(:configurations AS text[]),
            CAST(:resource_versions AS text[]))
    AS v(id, heartbeat, load, topic, "binary", availability_zone, started_at,
         resources_synced, configurations, resource_versions)
WHERE agents.id = v.id
""")
HEARTBEAT_FIELDS = ('id', 'heartbeat', 'load', 'topic', 'binary',
                    'availability_zone', 'started_at', 'resources_synced',
                    'configurations', 'resource_versions')


def update_heartbeats(connection, rows):
    """Write a batch of heartbeats; return how many agents matched.

    rows: dicts with HEARTBEAT_FIELDS; a None started_at, resources_synced,
    configurations or resource_versions keeps the stored value.
    """
    if connection.dialect.name == 'postgresql':
        columns = {field: [row[field] for row in rows]
                   for field in HEARTBEAT_FIELDS}
        return connection.execute(_PG_UPDATE_HEARTBEATS, columns).rowcount
    return connection.execute(_UPDATE_HEARTBEAT, [
        {'b_' + key: row[key] for key in HEARTBEAT_FIELDS}
        for row in rows]).rowcount


_VIEW_COLUMNS = (_agents.c.id, _agents.c.agent_type, _agents.c.host,
                 _agents.c.heartbeat_timestamp, _agents.c.configurations,
                 _agents.c.resource_versions, _agents.c.topic,
                 _agents.c.signed)


def insert(connection, values):
    connection.execute(sa.insert(_agents).values(**values))


def get_view(connection, agent_type, host):
    """The columns the heartbeat sink keeps in memory, for one agent."""
    return connection.execute(
        sa.select(*_VIEW_COLUMNS).where(_agents.c.agent_type == agent_type,
                                        _agents.c.host == host)).first()


def all_views(connection):
    return connection.execute(sa.select(*_VIEW_COLUMNS)).all()


def mark_signed(connection, agent_id):
    connection.execute(sa.update(_agents).where(_agents.c.id == agent_id)
                       .values(signed=True))


def existing_ids(connection, ids):
    rows = connection.execute(
        sa.select(_agents.c.id).where(_agents.c.id.in_(list(ids))))
    return {row.id for row in rows}


def list_all(connection):
    return connection.execute(sa.select(_agents).order_by(
        _agents.c.agent_type, _agents.c.host)).all()


# -- the REST API's queries --------------------------------------------------

# Columns a list may be sorted by. Nullable text sorts as '' so that keyset
# paging (WHERE (keys) > (marker's keys)) never compares with NULL.
SORT_COLUMNS = {
    'id': _agents.c.id,
    'agent_type': _agents.c.agent_type,
    'binary': _agents.c.binary,
    'topic': _agents.c.topic,
    'host': _agents.c.host,
    'admin_state_up': _agents.c.admin_state_up,
    'availability_zone': sa.func.coalesce(_agents.c.availability_zone, ''),
    'description': sa.func.coalesce(_agents.c.description, ''),
    'created_at': _agents.c.created_at,
    'started_at': _agents.c.started_at,
    'heartbeat_timestamp': _agents.c.heartbeat_timestamp,
    'load': _agents.c.load,
    'forced_down': _agents.c.forced_down,
}
FILTER_COLUMNS = ('id', 'agent_type', 'binary', 'topic', 'host',
                  'admin_state_up', 'availability_zone', 'description',
                  'forced_down')


def get(connection, agent_id):
    return connection.execute(
        sa.select(_agents).where(_agents.c.id == agent_id)).first()


# Rows per fetch of a streamed list (stream below).
STREAM_BATCH = 1000


def _query(filters, alive_since, dead_since, sort, limit, marker, reverse):
    statement = sa.select(_agents)
    for name, values in (filters or {}).items():
        statement = statement.where(_agents.c[name].in_(values))
    if alive_since is not None:
        statement = statement.where(
            liveness.alive_clause(_agents, alive_since))
    if dead_since is not None:
        statement = statement.where(liveness.dead_clause(_agents, dead_since))
    return paging.page(statement, SORT_COLUMNS, sort, marker, limit, reverse)


def query(connection, filters=None, alive_since=None, dead_since=None,
          sort=(('id', True),), limit=None, marker=None, reverse=False):
    """Agents matching filters, in pages (see db/paging.py).

    filters: {column: [values]}; alive_since / dead_since: the liveness
    rule's cutoff, for alive agents only / dead agents only (the rule applied
    in SQL, so that pages are full).
    """
    rows = connection.execute(_query(filters, alive_since, dead_since, sort,
                                     limit, marker, reverse)).all()
    return rows[::-1] if reverse else rows


def stream(connection, filters=None, alive_since=None, dead_since=None,
           sort=(('id', True),), marker=None, batch=None):
    """query's agents without a limit, as an iterator of lists of up to
    batch (STREAM_BATCH) rows, fetched from a server-side cursor where the
    database has one (PostgreSQL, MySQL): a list of the whole table never
    holds it whole in memory. Read it while connection is open."""
    batch = batch or STREAM_BATCH
    return connection.execute(
        _query(filters, alive_since, dead_since, sort, None, marker, False),
        execution_options={'yield_per': batch}).partitions()


def update(connection, agent_id, values):
    return connection.execute(sa.update(_agents).where(
        _agents.c.id == agent_id).values(**values)).rowcount


def delete(connection, agent_id):
    return connection.execute(
        sa.delete(_agents).where(_agents.c.id == agent_id)).rowcount


def bound_resource_count(connection, agent_id):
    bindings = models.bindings
    return connection.execute(sa.select(sa.func.count()).select_from(
        bindings).where(bindings.c.agent_id == agent_id)).scalar()


def get_by_type_and_host(connection, agent_type, host):
    return connection.execute(sa.select(_agents).where(
        _agents.c.agent_type == agent_type, _agents.c.host == host)).first()
