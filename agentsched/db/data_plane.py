"""Statements for what agents report of the data plane: operating statuses
and statistics (services/data_plane.py holds the rules).

Each report is one agent's batch; its writes are executemany statements,
so a batch costs the same few round trips whatever its size. Only
resources bound to the reporting agent at the reported generation are
written: a report from an agent the resource moved away from, or about an
older deploy, changes nothing.
"""

import sqlalchemy as sa

from agentsched import constants
from agentsched.db import models

_resources = models.resources
_bindings = models.bindings
_agents = models.agents
_stats = models.resource_stats


def _agent_id(agent_type, host):
    return sa.select(_agents.c.id).where(
        _agents.c.agent_type == agent_type,
        _agents.c.host == host).scalar_subquery()


def set_operating_statuses(connection, agent_type, host, statuses):
    """statuses: [{'id', 'generation', 'operating_status',
    'member_statuses' (JSON text or None)}]. One statement."""
    if not statuses:
        return
    bound = sa.exists().where(
        _bindings.c.resource_id == sa.bindparam('b_id'),
        _bindings.c.generation == sa.bindparam('b_generation'),
        _bindings.c.agent_id == _agent_id(agent_type, host))
    statement = sa.update(_resources).where(
        _resources.c.id == sa.bindparam('b_id'), bound).values(
        operating_status=sa.bindparam('b_status'),
        member_statuses=sa.bindparam('b_members'))
    connection.execute(statement, [
        {'b_id': item['id'], 'b_generation': item['generation'],
         'b_status': item['operating_status'],
         'b_members': item['member_statuses']} for item in statuses])


def stats_of_bound(connection, agent_type, host, generations):
    """{resource id: (device id of its binding, its resource_stats row or
    None)} for the resources of generations ({id: generation}) bound to the
    agent at that generation. One statement."""
    if not generations:
        return {}
    rows = connection.execute(
        sa.select(_bindings.c.resource_id, _bindings.c.generation,
                  _bindings.c.device_id.label('binding_device_id'), _stats)
        .select_from(_bindings.outerjoin(
            _stats, _stats.c.resource_id == _bindings.c.resource_id))
        .where(_bindings.c.resource_id.in_(list(generations)),
               _bindings.c.agent_id == _agent_id(agent_type, host))).all()
    return {row[0]: (row.binding_device_id,
                     row if row.updated_at is not None else None)
            for row in rows if generations[row[0]] == row.generation}


def write_stats(connection, updates, inserts):
    """updates and inserts: full resource_stats rows (dicts with every
    column). Two statements at most."""
    columns = [column.name for column in _stats.columns]
    if updates:
        connection.execute(
            sa.update(_stats).where(
                _stats.c.resource_id == sa.bindparam('b_resource_id'))
            .values({name: sa.bindparam('b_' + name) for name in columns
                     if name != 'resource_id'}),
            [{'b_' + name: row[name] for name in columns}
             for row in updates])
    if inserts:
        connection.execute(sa.insert(_stats), inserts)


def get_stats(connection, resource_id):
    """{field: value} of constants.STATS_FIELDS; zeros when nothing was
    reported yet."""
    row = connection.execute(sa.select(_stats).where(
        _stats.c.resource_id == resource_id)).first()
    return {field: (getattr(row, field) if row is not None else 0)
            for field in constants.STATS_FIELDS}
