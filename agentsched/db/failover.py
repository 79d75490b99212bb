"""Queries of failover: what needs it, and the fenced rebind and move.

Every change of a binding is conditional on what the failover saw (the old
agent, the generation), and the rows are claimed with SELECT ... FOR UPDATE
SKIP LOCKED where the database has it (PostgreSQL, MariaDB 10.6+, MySQL 8):
two servers that both believe they lead skip each other's rows instead of
failing the same resource over twice. SQLite has one writer at a time; the
conditions alone fence it.
"""

import collections

import sqlalchemy as sa

from agentsched import constants
from agentsched import formats
from agentsched import liveness
from agentsched.db import models
from agentsched.db import placement as placement_db
from agentsched.db import resources as resources_db

_agents = models.agents
_devices = models.devices
_links = models.agent_devices
_types = models.manager_device_types
_bindings = models.bindings
_resources = models.resources
_health = models.scheduler_health

_HEALTH_ROW = 1


class BindingChanged(Exception):
    """The binding is not what the failover saw, another server holds its
    row, or the resource is being deleted: someone else is handling it."""


def _lock(statement, connection):
    if connection.dialect.name in ('postgresql', 'mysql', 'mariadb'):
        return statement.with_for_update(skip_locked=True)
    return statement


Overview = collections.namedtuple('Overview', 'agents steady newest')


def _without_jit(connection):
    """No JIT compilation for the rest of connection's transaction.

    PostgreSQL compiles a statement with LLVM first when its estimated cost
    passes jit_above_cost. The overview's statements over every agent pass
    it at any fleet worth the name (the planner cannot know how few agents
    are not steady): at 100,000 agents one was compiled every check, 0.6-0.8
    s of JIT for a 0.2 s scan that returned a handful of rows."""
    if connection.dialect.name == 'postgresql':
        connection.exec_driver_sql('SET LOCAL jit = off')


def agents_overview(connection, steady_since):
    """The monitor's view of the agents, as an Overview:

    - steady: {(agent_type, availability_zone): how many} agents have
      nothing to judge one by one: a heartbeat at or after steady_since
      (the caller's cutoff, no older than the liveness rule's), not forced
      down, admin up, managing no device type. Counted here, never read:
      at 100,000 agents they are nearly all of them;
    - agents: every other agent, with how many resources it holds, how many
      devices the server assigned to it and whether it manages device types
      remotely (counted for these few agents only);
    - newest: the newest heartbeat of all (None without agents).
    """
    _without_jit(connection)
    steady = sa.and_(liveness.alive_clause(_agents, steady_since),
                     _agents.c.admin_state_up == sa.true(), ~_manager())
    # One scan of the agents: the steady ones grouped per (type, zone),
    # every other one a group of its own, keyed by its id (NULL for the
    # steady), read in full below by id. Two statements (steady, then not
    # steady) scanned the table twice: 440 ms a check at 100,000 agents
    # against this one's 340.
    other = sa.case((steady, sa.null()), else_=_agents.c.id).label('other')
    groups = connection.execute(
        sa.select(_agents.c.agent_type, _agents.c.availability_zone, other,
                  sa.func.count(), sa.func.max(_agents.c.heartbeat_timestamp))
        .group_by(_agents.c.agent_type, _agents.c.availability_zone,
                  other)).all()
    ids = [row[2] for row in groups if row[2] is not None]
    agents = []
    if len(ids) > _IDS_PER_STATEMENT:
        # Many (every agent late after an outage): the 100 statements of
        # 1,000 ids at 100,000 agents, each counting resources and devices
        # agent by agent, took 11-12 s of SQL a check; one statement
        # counts them table by table instead. The agents are still those
        # the ids name: one that turned not steady since (counted as
        # steady above) is left out, one that turned steady since is read
        # by its id below.
        wanted = set(ids)
        agents = [row for row in connection.execute(
            _many_not_steady(other.element)) if row.id in wanted]
        ids = sorted(wanted.difference(row.id for row in agents))
    for start in range(0, len(ids), _IDS_PER_STATEMENT):
        agents += connection.execute(
            sa.select(*_OVERVIEW_COLUMNS, _held().label('held'),
                      _assigned().label('assigned'),
                      _manager().label('manager'))
            .where(_agents.c.id.in_(
                ids[start:start + _IDS_PER_STATEMENT]))).all()
    return Overview(agents, {(row[0], row[1]): row[3] for row in groups
                             if row[2] is None},
                    max((row[4] for row in groups), default=None))


# Ids bound in one statement (PostgreSQL takes 65535, SQLite 32766).
_IDS_PER_STATEMENT = 1000

_OVERVIEW_COLUMNS = (_agents.c.id, _agents.c.agent_type, _agents.c.host,
                     _agents.c.availability_zone,
                     _agents.c.heartbeat_timestamp, _agents.c.admin_state_up,
                     _agents.c.forced_down)


def _manager():
    """Whether the agent manages device types remotely."""
    return sa.exists().where(_types.c.agent_id == _agents.c.id)


def _held():
    """How many resources are bound to the agent (correlated)."""
    return (sa.select(sa.func.count()).select_from(_bindings)
            .where(_bindings.c.agent_id == _agents.c.id).scalar_subquery())


def _assigned():
    """How many devices the server assigned to the agent (correlated)."""
    return (sa.select(sa.func.count()).select_from(_links)
            .where(_links.c.agent_id == _agents.c.id,
                   _links.c.assigned == sa.true()).scalar_subquery())


def _many_not_steady(other):
    """The agents whose `other` (agents_overview's) is not NULL, with
    the overview's columns, their counts from one grouped read of each
    table joined to them."""
    held = (sa.select(_bindings.c.agent_id, sa.func.count().label('n'))
            .group_by(_bindings.c.agent_id).subquery())
    assigned = (sa.select(_links.c.agent_id, sa.func.count().label('n'))
                .where(_links.c.assigned == sa.true())
                .group_by(_links.c.agent_id).subquery())
    return (sa.select(*_OVERVIEW_COLUMNS,
                      sa.func.coalesce(held.c.n, 0).label('held'),
                      sa.func.coalesce(assigned.c.n, 0).label('assigned'),
                      _manager().label('manager'))
            .select_from(_agents
                         .outerjoin(held, held.c.agent_id == _agents.c.id)
                         .outerjoin(assigned,
                                    assigned.c.agent_id == _agents.c.id))
            .where(other.is_not(None)))


# A binding with what failover needs to judge it, one row per resource.
_WORK = (
    sa.select(
        _bindings.c.resource_id, _bindings.c.device_id,
        _devices.c.name.label('device_name'), _bindings.c.agent_id,
        _bindings.c.generation, _resources.c.resource_type,
        _resources.c.units, _resources.c.status,
        _devices.c.health.label('device_health'),
        _devices.c.admin_state_up.label('device_up'))
    .select_from(_bindings.join(
        _resources, _resources.c.id == _bindings.c.resource_id)
        .join(_devices, _devices.c.id == _bindings.c.device_id)))


def _work(connection, statement, limit, skip):
    """statement (_WORK narrowed to some bindings), without those being
    deleted and those in skip, first limit by resource id."""
    statement = statement.where(
        _resources.c.status != constants.STATUS_PENDING_DELETE)
    if skip:
        statement = statement.where(
            _bindings.c.resource_id.not_in(list(skip)))
    return connection.execute(
        statement.order_by(_bindings.c.resource_id).limit(limit)).all()


def bindings_of_agents(connection, agent_ids, limit, skip=()):
    """Bindings held by these agents (dead, forced down or draining);
    skip: resources not to return (moves waiting to be retried), so that
    they never fill a batch and starve the others."""
    return _work(connection, _WORK.where(
        _bindings.c.agent_id.in_(list(agent_ids))), limit, skip)


def orphaned_bindings(connection, limit, skip=()):
    """Bindings whose agent was deleted, and those on DOWN devices.

    Each kind found through its own index (bindings.agent_id IS NULL; the
    DOWN devices by devices.health, then their bindings by
    bindings.device_id), as a derived table the bindings are joined to:
    a condition on both tables at once (an OR) makes the database join
    every binding with its device to test it, 0.8 s of PostgreSQL at
    1,000,000 bindings every check, for the few rows that match."""
    orphans = sa.union(
        sa.select(_bindings.c.resource_id)
        .where(_bindings.c.agent_id.is_(None)),
        sa.select(_bindings.c.resource_id)
        .join(_devices, _devices.c.id == _bindings.c.device_id)
        .where(_devices.c.health == constants.HEALTH_DOWN)).subquery()
    return _work(connection, _WORK.join(
        orphans, orphans.c.resource_id == _bindings.c.resource_id),
        limit, skip)


def binding(connection, resource_id):
    return connection.execute(_WORK.where(
        _bindings.c.resource_id == resource_id)).first()


def live_agents_of_devices(connection, device_ids, alive_since):
    """{device_id: [rows (id, agent_type, load)]}: alive, admin-up, not
    forced-down agents that list each device now, least loaded first."""
    rows = connection.execute(
        sa.select(_links.c.device_id, _agents.c.id, _agents.c.agent_type,
                  _agents.c.load)
        .join(_agents, _agents.c.id == _links.c.agent_id)
        .where(_links.c.device_id.in_(list(device_ids)),
               _links.c.missing == sa.false(),
               _agents.c.admin_state_up == sa.true(),
               liveness.alive_clause(_agents, alive_since))
        .order_by(_agents.c.load, _agents.c.id)).all()
    found = {}
    for row in rows:
        found.setdefault(row.device_id, []).append(row)
    return found


def rebind(connection, resource_ids, old_agent_id, device_id, new_agent_id,
           now, description):
    """Give resources on a device from one agent to another (generation+1),
    PENDING_UPDATE with description.

    Returns the (resource_id, new generation) pairs actually rebound: rows
    locked by another server, no longer on that agent and device, or being
    deleted (PENDING_DELETE: its delete acts, not this) are left alone.
    BindingChanged if a binding changed after it was read (SQLite only:
    elsewhere the rows are locked first); nothing is kept then.
    """
    held_by_old = (_bindings.c.agent_id.is_(None) if old_agent_id is None
                   else _bindings.c.agent_id == old_agent_id)
    locked = connection.execute(_lock(
        sa.select(_bindings.c.resource_id, _bindings.c.generation)
        .where(_bindings.c.resource_id.in_(list(resource_ids)), held_by_old,
               _bindings.c.device_id == device_id), connection)).all()
    if not locked:
        return []
    # The bindings first, then the resources, as an agent's answer locks
    # them (resources_db.set_answered_status): no deadlock between the two.
    kept = set(resources_db.set_status(
        connection, [row.resource_id for row in locked],
        constants.STATUS_PENDING_UPDATE, description, now))
    locked = [row for row in locked if row.resource_id in kept]
    if not locked:
        return []
    if connection.execute(
            sa.update(_bindings)
            .where(_bindings.c.resource_id.in_(list(kept)), held_by_old,
                   _bindings.c.device_id == device_id)
            .values(agent_id=new_agent_id,
                    generation=_bindings.c.generation + 1,
                    updated_at=now)).rowcount != len(locked):
        # Changed since the unlocked read (SQLite has no row locks): the
        # caller's transaction, statuses included, is undone.
        raise BindingChanged(old_agent_id)
    return [(row.resource_id, row.generation + 1) for row in locked]


def move(connection, resource_id, generation, old_device_id, units,
         new_device_id, new_agent_id, alive_since, now, project_id=None):
    """Claim the new device, point the binding there (generation+1), give
    the old device its units back: all or nothing, in the caller's
    transaction. False if the new device's claim failed (project_id: the
    resource's, as placement_db.claim takes it); BindingChanged if the
    binding moved on or another server holds its row."""
    locked = connection.execute(_lock(
        sa.select(_bindings.c.resource_id)
        .where(_bindings.c.resource_id == resource_id,
               _bindings.c.generation == generation,
               _bindings.c.device_id == old_device_id), connection)).first()
    if locked is None:
        raise BindingChanged(resource_id)
    if not placement_db.claim(connection, new_device_id, new_agent_id, units,
                              alive_since, project_id):
        return False
    if connection.execute(
            sa.update(_bindings)
            .where(_bindings.c.resource_id == resource_id,
                   _bindings.c.generation == generation,
                   _bindings.c.device_id == old_device_id)
            .values(device_id=new_device_id, agent_id=new_agent_id,
                    generation=generation + 1,
                    updated_at=now)).rowcount != 1:
        # Changed since the unlocked read (SQLite has no row locks): the
        # claim is undone with the caller's transaction.
        raise BindingChanged(resource_id)
    placement_db.release(connection, old_device_id, units)
    return True


def unbound_errors(connection, updated_before, limit):
    """Resources in ERROR with no binding, last touched before a time."""
    return connection.execute(
        sa.select(_resources.c.id, _resources.c.resource_type)
        .outerjoin(_bindings, _bindings.c.resource_id == _resources.c.id)
        .where(_resources.c.status == constants.STATUS_ERROR,
               _bindings.c.resource_id.is_(None),
               _resources.c.updated_at < updated_before)
        .order_by(_resources.c.updated_at).limit(limit)).all()


_PENDING = (constants.STATUS_PENDING_CREATE, constants.STATUS_PENDING_UPDATE,
            constants.STATUS_PENDING_DELETE)


# A row written without updated_at has not changed since it was created.
_pending_since = sa.func.coalesce(_resources.c.updated_at,
                                  _resources.c.created_at)


def stuck_pending(connection, updated_before, alive_since, limit):
    """Resources PENDING_* untouched since a time, oldest first, with their
    binding's agent (None if unbound) and whether that agent is alive."""
    return connection.execute(
        sa.select(_resources.c.id, _resources.c.resource_type,
                  _resources.c.status, _pending_since.label('since'),
                  _bindings.c.agent_id,
                  liveness.alive_clause(_agents, alive_since)
                  .label('agent_alive'))
        .outerjoin(_bindings, _bindings.c.resource_id == _resources.c.id)
        .outerjoin(_agents, _agents.c.id == _bindings.c.agent_id)
        .where(_resources.c.status.in_(_PENDING),
               _pending_since < updated_before)
        .order_by(_pending_since).limit(limit)).all()


def touch_if_unchanged(connection, resource_id, status, since, description,
                       now):
    """Mark a stuck resource as being retried, only if nobody changed it
    since it was read (an agent's answer, an API call, another server):
    1 if this caller may retry it, else 0."""
    return connection.execute(
        sa.update(_resources).where(
            _resources.c.id == resource_id,
            _resources.c.status == status,
            _pending_since == since)
        .values(status_description=formats.shorten(description),
                updated_at=now)).rowcount


def save_health(connection, leader, leader_since, state_json, now):
    """The leader's state, one row, for every server's API."""
    values = dict(leader=leader, leader_since=leader_since, updated_at=now,
                  state=state_json)
    if not connection.execute(sa.update(_health).where(
            _health.c.id == _HEALTH_ROW).values(**values)).rowcount:
        connection.execute(sa.insert(_health).values(id=_HEALTH_ROW,
                                                     **values))


def load_health(connection):
    return connection.execute(sa.select(_health).where(
        _health.c.id == _HEALTH_ROW)).first()
