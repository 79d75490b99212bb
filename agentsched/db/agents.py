"""Queries on the agents table (SQLAlchemy Core)."""

import orjson
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

from agentsched import liveness
from agentsched.db import models
from agentsched.db import paging

_agents = models.agents


def _keep_if_null(column, type_=None):
    """SET column = COALESCE(:b_column, column): NULL keeps the stored value,
    so every row of a batch shares one statement."""
    return sa.func.coalesce(sa.bindparam('b_' + column, type_=type_),
                            _agents.c[column])


# Competing consumers: one agent's reports reach several processes, and
# their flushes reach the database in any order. A heartbeat older than the
# stored one (another process wrote a newer report first) must not take
# back its timestamp or the state that came with it; only what a later
# report cannot have superseded still counts: a start (the newest
# started_at wins) and resources_synced = false (a start or a revival the
# agent must sync after).
_HEARTBEAT = sa.bindparam('b_heartbeat', type_=models.DateTime)
_NEWER = _agents.c.heartbeat_timestamp <= _HEARTBEAT


def _if_newer(column, value):
    return sa.case((_NEWER, value), else_=_agents.c[column])


_STARTED_AT = sa.bindparam('b_started_at', type_=models.DateTime)

# Elsewhere, one statement executed for each row of the batch. MySQL and
# MariaDB assign from left to right, each later expression seeing the
# earlier columns' new values: heartbeat_timestamp, which the others
# compare with, goes last.
_UPDATE_HEARTBEAT = (
    sa.update(_agents).where(_agents.c.id == sa.bindparam('b_id'))
    .ordered_values(
        (_agents.c.load, _if_newer('load', sa.bindparam('b_load'))),
        (_agents.c.topic, _if_newer('topic', sa.bindparam('b_topic'))),
        (_agents.c.binary, _if_newer('binary', sa.bindparam('b_binary'))),
        (_agents.c.availability_zone, _if_newer(
            'availability_zone', sa.bindparam('b_availability_zone'))),
        (_agents.c.started_at, sa.case(
            (_STARTED_AT > _agents.c.started_at, _STARTED_AT),
            else_=_agents.c.started_at)),
        (_agents.c.resources_synced,
         _keep_if_null('resources_synced', sa.Boolean)),
        (_agents.c.configurations, _if_newer(
            'configurations', _keep_if_null('configurations', sa.Text))),
        (_agents.c.resource_versions, _if_newer(
            'resource_versions', _keep_if_null('resource_versions',
                                               sa.Text))),
        (_agents.c.heartbeat_timestamp, _if_newer('heartbeat_timestamp',
                                                  _HEARTBEAT))))

# PostgreSQL takes a whole batch in one statement, its rows passed as one
# JSON document: one plan and one round trip per flush instead of one
# execution per row, which costs several times less CPU in both the server
# and the database; serialized by orjson, where ten arrays bound as
# parameters cost psycopg about a microsecond a value in Python.
# Its SET expressions all see the row as it was: same rules as above.
_PG_UPDATE_HEARTBEATS = sa.text("""
UPDATE agents SET
    heartbeat_timestamp = GREATEST(agents.heartbeat_timestamp, v.heartbeat),
    load = CASE WHEN agents.heartbeat_timestamp <= v.heartbeat
                THEN v.load ELSE agents.load END,
    topic = CASE WHEN agents.heartbeat_timestamp <= v.heartbeat
                 THEN v.topic ELSE agents.topic END,
    "binary" = CASE WHEN agents.heartbeat_timestamp <= v.heartbeat
                    THEN v.binary ELSE agents."binary" END,
    availability_zone = CASE WHEN agents.heartbeat_timestamp <= v.heartbeat
                             THEN v.availability_zone
                             ELSE agents.availability_zone END,
    started_at = GREATEST(agents.started_at, v.started_at),
    resources_synced = COALESCE(v.resources_synced, agents.resources_synced),
    configurations = CASE WHEN agents.heartbeat_timestamp <= v.heartbeat
                          THEN COALESCE(v.configurations,
                                        agents.configurations)
                          ELSE agents.configurations END,
    resource_versions = CASE WHEN agents.heartbeat_timestamp <= v.heartbeat
                             THEN COALESCE(v.resource_versions,
                                           agents.resource_versions)
                             ELSE agents.resource_versions END
FROM json_to_recordset(CAST(:rows AS json))
    AS v(id text, heartbeat timestamp, load integer, topic text,
         "binary" text, availability_zone text, started_at timestamp,
         resources_synced boolean, configurations text,
         resource_versions text)
WHERE agents.id = v.id
""")
HEARTBEAT_FIELDS = ('id', 'heartbeat', 'load', 'topic', 'binary',
                    'availability_zone', 'started_at', 'resources_synced',
                    'configurations', 'resource_versions')


def update_heartbeats(connection, rows):
    """Write a batch of heartbeats; return how many agents matched.

    rows: dicts with HEARTBEAT_FIELDS; a None started_at, resources_synced,
    configurations or resource_versions keeps the stored value. A row
    older than the stored heartbeat (another process's newer flush came
    first) moves started_at forward and sets resources_synced, and keeps
    the rest; it still counts as matched.
    """
    if connection.dialect.name == 'postgresql':
        return connection.execute(_PG_UPDATE_HEARTBEATS, {
            'rows': orjson.dumps(rows).decode()}).rowcount
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


def all_views(connection, batch=None):
    """Every agent's view columns, as an iterator of lists of up to batch
    (STREAM_BATCH) rows from a server-side cursor where the database has
    one: at 100,000 agents the configurations texts (130 MB) never sit in
    memory together. Read it while connection is open."""
    return connection.execute(
        sa.select(*_VIEW_COLUMNS),
        execution_options={'yield_per': batch or STREAM_BATCH}).partitions()


def mark_signed(connection, agent_id):
    connection.execute(sa.update(_agents).where(_agents.c.id == agent_id)
                       .values(signed=True))


def lock_heartbeat(connection, agent_id):
    """One agent's stored heartbeat, its row locked until the transaction
    ends (None if it has no row)."""
    return connection.execute(
        sa.select(_agents.c.heartbeat_timestamp)
        .where(_agents.c.id == agent_id).with_for_update()).scalar()


# Ids per statement: a batch after a long outage holds every agent, more
# than a statement may bind (PostgreSQL 65535, SQLite 32766).
_CHUNK = 1000


def lock_heartbeats(connection, ids):
    """{id: stored heartbeat} of the agents that have a row, their rows
    locked until the transaction ends, in the order of their ids: every
    flush locks in this order, so two processes' flushes never deadlock."""
    ids = sorted(ids)
    if connection.dialect.name == 'postgresql':
        # One array, where an IN list binds (and SQLAlchemy renders) each
        # id: a tenth of the server's CPU per heartbeat at 10,000 agents.
        return dict(connection.execute(
            sa.select(_agents.c.id, _agents.c.heartbeat_timestamp)
            .where(_agents.c.id == sa.any_(sa.bindparam(
                'ids', ids, type_=postgresql.ARRAY(sa.String))))
            .order_by(_agents.c.id).with_for_update()).all())
    stored = {}
    for start in range(0, len(ids), _CHUNK):
        stored.update(connection.execute(
            sa.select(_agents.c.id, _agents.c.heartbeat_timestamp)
            .where(_agents.c.id.in_(ids[start:start + _CHUNK]))
            .order_by(_agents.c.id).with_for_update()).all())
    return stored


def documents(connection, ids):
    """{id: (configurations, resource_versions)} as stored."""
    ids = list(ids)
    found = {}
    for start in range(0, len(ids), _CHUNK):
        found.update((row.id, (row.configurations, row.resource_versions))
                     for row in connection.execute(
                         sa.select(_agents.c.id, _agents.c.configurations,
                                   _agents.c.resource_versions)
                         .where(_agents.c.id.in_(ids[start:start + _CHUNK]))))
    return found


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
