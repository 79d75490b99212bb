"""Queries of placement: the candidate set, the atomic claim and binding,
and what hosts a resource."""

import collections

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import base as pg_base

from agentsched import constants
from agentsched import liveness
from agentsched.db import models

_agents = models.agents
_devices = models.devices
_links = models.agent_devices
_bindings = models.bindings
_resources = models.resources

# One statement for every (agent, device) pair: the scheduler works on this
# snapshot, never a query per candidate. The database judges each agent's
# liveness (the rule's SQL twin, against the cutoff bound at execution): one
# boolean per row instead of a timestamp and a flag to convert and compare in
# Python. In the order of the devices' ids (the primary key's index, no
# sort), so a device's pairs come together and the snapshot keeps each
# device once without a dictionary of every id.
_CANDIDATES = (
    sa.select(
        _agents.c.id, _agents.c.host, _agents.c.agent_type,
        _agents.c.admin_state_up,
        liveness.alive_clause(
            _agents, sa.bindparam('alive_since')).label('agent_alive'),
        _agents.c.load, _agents.c.availability_zone,
        _devices.c.id, _devices.c.name, _devices.c.device_type,
        _devices.c.service_type, _devices.c.capabilities,
        _devices.c.capacity, _devices.c.used, _devices.c.health,
        _devices.c.admin_state_up, _devices.c.availability_zone,
        _devices.c.project_id)
    .select_from(_links.join(_agents, _links.c.agent_id == _agents.c.id)
                 .join(_devices, _links.c.device_id == _devices.c.id))
    .where(_links.c.missing == sa.false())
    .order_by(_devices.c.id))

# Rows per fetch of the candidates (candidate_batches). The driver turns a
# fetch's rows into tuples without letting other threads run: 5,000 rows
# held placements up to about 10 ms during a background reload; with 1,000
# a slow machine's placements during reloads had a p99 of 10-12 ms, with
# 100 5-8 ms, and a read of 400,000 pairs cost the same.
CANDIDATE_BATCH = 100


def candidate_batches(connection, alive_since, batch=None):
    """Every linked (agent, device) pair, with the device's owner (its
    project_id, None for a shared device), a device's pairs one after the
    other; an agent is alive if its heartbeat is no older than alive_since
    (liveness.alive_since). An iterator of lists of up to batch
    (CANDIDATE_BATCH) tuples from a server-side cursor where the database
    has one: at 400,000 pairs the rows never sit in memory together. The
    DBAPI's tuples, not SQLAlchemy rows (which cost as much CPU again):
    booleans are 0 and 1 where the database has no boolean type. Read it
    while connection is open."""
    batch = batch or CANDIDATE_BATCH
    if connection.dialect.name == 'postgresql':
        # A cursor is planned for its first rows (cursor_tuple_fraction
        # 0.1): a nested loop that took 21 s at 400,000 pairs where the
        # plan for all of them takes 6 (a loaded machine). For this
        # transaction only.
        connection.exec_driver_sql('SET LOCAL cursor_tuple_fraction = 1.0')
    result = connection.execute(
        _CANDIDATES, {'alive_since': alive_since},
        execution_options={'stream_results': True})
    # SQLAlchemy reads a streamed result's first row ahead: take it from
    # SQLAlchemy, the others from the DBAPI cursor.
    first = result.fetchone()
    if first is None:
        return
    rows = [tuple(first)] + list(result.cursor.fetchmany(batch - 1))
    while rows:
        yield rows
        rows = result.cursor.fetchmany(batch)


def claim(connection, device_id, agent_id, units, alive_since,
          project_id=None):
    """Take units of a device's capacity for a live agent, or nothing.

    One conditional UPDATE: the capacity check, the device's state and the
    agent's liveness are judged by the database at the moment of the claim,
    so concurrent schedulers (threads, processes, servers) never overcommit
    a device, whatever their snapshot said. project_id: the resource's
    project; a device private to another project is never claimed (the
    snapshot already keeps them apart: this is the database's word on it).
    """
    agent_ok = sa.exists().where(
        _agents.c.id == agent_id, _agents.c.admin_state_up == sa.true(),
        liveness.alive_clause(_agents, alive_since))
    link_ok = sa.exists().where(
        _links.c.agent_id == agent_id, _links.c.device_id == device_id,
        _links.c.missing == sa.false())
    result = connection.execute(
        sa.update(_devices)
        .where(_devices.c.id == device_id,
               _devices.c.used + units <= _devices.c.capacity,
               _devices.c.admin_state_up == sa.true(),
               _devices.c.health.in_([constants.HEALTH_OK,
                                      constants.HEALTH_DEGRADED]),
               sa.or_(_devices.c.project_id.is_(None),
                      _devices.c.project_id == project_id),
               agent_ok, link_ok)
        .values(used=_devices.c.used + units))
    return result.rowcount == 1


# The liveness rule's SQL twin (liveness.alive_clause) as PostgreSQL text,
# rendered once at import, for the statement below; the plain dialect adds
# no ::TIMESTAMP cast to the bound cutoff (":alive_since::" is not a bind
# parameter to text()).
PG_AGENT_ALIVE = str(liveness.alive_clause(
    _agents, sa.bindparam('alive_since')).compile(
    dialect=pg_base.PGDialect(paramstyle='named')))

# PostgreSQL: the claim and the binding in one statement (a data-modifying
# CTE), so a placement is one round trip; atomic even in autocommit.
_PG_CLAIM_AND_BIND = sa.text("""
WITH claimed AS (
    UPDATE devices SET used = used + :units
    WHERE id = :device_id AND used + :units <= capacity
      AND admin_state_up AND health IN ('OK', 'DEGRADED')
      AND (project_id IS NULL OR project_id = :project_id)
      AND EXISTS (SELECT 1 FROM agents WHERE id = :agent_id
                  AND admin_state_up AND (%s))
      AND EXISTS (SELECT 1 FROM agent_devices WHERE agent_id = :agent_id
                  AND device_id = :device_id AND NOT missing)
    RETURNING id)
INSERT INTO bindings (resource_id, device_id, agent_id, generation,
                      created_at, updated_at)
SELECT :resource_id, id, :agent_id, 1, :now, :now FROM claimed
""" % PG_AGENT_ALIVE)


def claim_and_bind(connection, resource_id, device_id, agent_id, units,
                   alive_since, now, project_id=None):
    """claim() then bind(), as one atomic step; False if the claim failed.

    IntegrityError if the resource is bound already (nothing is claimed
    then: the whole step is undone).
    """
    if connection.dialect.name == 'postgresql':
        return connection.execute(_PG_CLAIM_AND_BIND, {
            'units': units, 'device_id': device_id, 'agent_id': agent_id,
            'alive_since': alive_since, 'resource_id': resource_id,
            'now': now, 'project_id': project_id}).rowcount == 1
    if not claim(connection, device_id, agent_id, units, alive_since,
                 project_id):
        return False
    bind(connection, resource_id, device_id, agent_id, now)
    return True


def release(connection, device_id, units):
    connection.execute(sa.update(_devices).where(
        _devices.c.id == device_id).values(
        used=sa.case((_devices.c.used >= units, _devices.c.used - units),
                     else_=0)))


def bind(connection, resource_id, device_id, agent_id, now, generation=1):
    """Insert the binding; IntegrityError if the resource is bound already
    (resource_id is the key: a resource never has two bindings)."""
    connection.execute(sa.insert(_bindings).values(
        resource_id=resource_id, device_id=device_id, agent_id=agent_id,
        generation=generation, created_at=now, updated_at=now))


# A bound resource with what deploying it needs: its resources, bindings,
# agents and devices rows (agent None if it was deleted under the binding).
Hosting = collections.namedtuple('Hosting', 'resource binding agent device')

# One row type per table, so the parts of a joined row read as the rows of
# a single-table select do (agent.host, device.name).
_ROW_TYPES = {table: collections.namedtuple(table.name, table.c.keys())
              for table in (_resources, _bindings, _agents, _devices)}

_HOSTINGS = (
    sa.select(_resources, _bindings, _agents, _devices)
    .select_from(
        _resources.join(_bindings, _bindings.c.resource_id == _resources.c.id)
        .join(_devices, _devices.c.id == _bindings.c.device_id)
        .outerjoin(_agents, _agents.c.id == _bindings.c.agent_id)))


def _part(row, table):
    values = [row._mapping[column] for column in table.c]
    if values[0] is None:   # the outer-joined agent is gone
        return None
    return _ROW_TYPES[table](*values)


def _hosting(row):
    return Hosting(*(_part(row, table)
                     for table in (_resources, _bindings, _agents, _devices)))


def hosting(connection, resource_id):
    """The Hosting of a bound resource, or None: one query."""
    row = connection.execute(_HOSTINGS.where(
        _bindings.c.resource_id == resource_id)).first()
    return None if row is None else _hosting(row)


def hostings_of_agent(connection, agent_id):
    """The Hosting of every resource bound to an agent, by resource id: one
    query, however many there are (an agent's sync)."""
    return [_hosting(row) for row in connection.execute(
        _HOSTINGS.where(_bindings.c.agent_id == agent_id)
        .order_by(_resources.c.id))]


def binding_of(connection, resource_id):
    return connection.execute(sa.select(_bindings).where(
        _bindings.c.resource_id == resource_id)).first()


def unbind(connection, resource_id):
    """Remove a binding and give its device's units back; the binding
    removed (with its resource's units and resource_type), or None."""
    binding = connection.execute(
        sa.select(_bindings, _resources.c.units, _resources.c.resource_type)
        .join(_resources, _resources.c.id == _bindings.c.resource_id)
        .where(_bindings.c.resource_id == resource_id)).first()
    if binding is None:
        return None
    deleted = connection.execute(sa.delete(_bindings).where(
        _bindings.c.resource_id == resource_id,
        _bindings.c.generation == binding.generation)).rowcount
    if deleted:
        release(connection, binding.device_id, binding.units)
    return binding if deleted else None
