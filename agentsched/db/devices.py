"""Queries on devices and on agent_devices, the agent-device association."""

import contextlib
import hashlib

import sqlalchemy as sa

from agentsched import constants
from agentsched import liveness
from agentsched.db import models
from agentsched.db import paging

_devices = models.devices
_links = models.agent_devices
_agents = models.agents

SORT_COLUMNS = {
    'id': _devices.c.id,
    'name': _devices.c.name,
    'device_type': _devices.c.device_type,
    'service_type': _devices.c.service_type,
    'capacity': _devices.c.capacity,
    'used': _devices.c.used,
    'health': _devices.c.health,
    'admin_state_up': _devices.c.admin_state_up,
    'availability_zone': sa.func.coalesce(_devices.c.availability_zone, ''),
    'source': _devices.c.source,
    'project_id': sa.func.coalesce(_devices.c.project_id, ''),
    'created_at': _devices.c.created_at,
}
FILTER_COLUMNS = ('id', 'name', 'device_type', 'service_type', 'health',
                  'admin_state_up', 'availability_zone', 'source',
                  'project_id')


class RevisionMismatch(Exception):
    """The device changed since the revision the caller knew."""


class NameInUse(Exception):
    """Another device has this name: names are unique."""


class OverQuota(Exception):
    """The project has as many private devices as its quota allows."""


class OwnerBusy(Exception):
    """Another transaction held the project's device lock for too long."""


def insert(connection, values):
    connection.execute(sa.insert(_devices).values(**values))


def _within_quota(values, limit):
    """INSERT of values only while the project has fewer than limit
    private devices: the count and the insert are one statement. The count
    is a derived table (MySQL refuses the target table in a subquery of
    the WHERE, not in the FROM)."""
    owned = sa.select(sa.func.count().label('owned')).select_from(
        _devices).where(_devices.c.project_id == values['project_id'])\
        .subquery('owned')
    names = list(values)
    return sa.insert(_devices).from_select(names, sa.select(*[
        sa.literal(values[name], type_=_devices.c[name].type).label(name)
        for name in names]).select_from(owned).where(owned.c.owned < limit))


def insert_named(connection, values, limit=None):
    """Insert a device; NameInUse if its name is taken. In a savepoint, so
    the refusal leaves the caller's transaction usable (PostgreSQL aborts a
    transaction on an error outside one).

    limit: the most private devices its project (values['project_id'])
    may have; OverQuota if it has that many. Exact only inside
    owner_transaction() (two transactions would each count without the
    other's insert).
    """
    try:
        with connection.begin_nested():
            if limit is None:
                insert(connection, values)
                return
            connection.execute(_within_quota(values, limit))
    except sa.exc.IntegrityError:
        raise NameInUse() from None
    # Whether the row went in: psycopg tells no rowcount (-1) for an INSERT
    # from a SELECT.
    if get(connection, values['id']) is None:
        raise OverQuota()


def private_count(connection, project_id):
    return connection.execute(
        sa.select(sa.func.count()).select_from(_devices).where(
            _devices.c.project_id == project_id)).scalar()


def _owner_key(project_id):
    """The project's lock: a name for MySQL's GET_LOCK (64 characters at
    most) and a signed 64-bit key for PostgreSQL's advisory locks."""
    digest = hashlib.sha256(
        ('agentsched.devices:%s' % project_id).encode()).digest()
    return ('agentsched.devices.%s' % digest.hex()[:40],
            int.from_bytes(digest[:8], 'big', signed=True))


@contextlib.contextmanager
def owner_transaction(engine, project_id, lock_timeout=30):
    """A transaction (its connection) in which project_id's private devices
    are counted and added by one transaction at a time: two creates at the
    quota never both pass, whatever the isolation level. None: a plain
    transaction (shared devices have no quota).

    PostgreSQL: an advisory lock held until the transaction ends. MySQL and
    MariaDB: GET_LOCK (a session's lock) before the transaction, released
    after its commit or rollback, so the next holder counts what this one
    inserted. SQLite: the file's one writer at a time, and the count is in
    the insert's own statement (insert_named). OwnerBusy if the lock
    was not had within lock_timeout seconds (MySQL; PostgreSQL waits).
    """
    dialect = engine.dialect.name
    if project_id is None or dialect not in ('postgresql', 'mysql',
                                             'mariadb'):
        with engine.begin() as connection:
            yield connection
        return
    name, key = _owner_key(project_id)
    if dialect == 'postgresql':
        with engine.begin() as connection:
            connection.execute(sa.select(sa.func.pg_advisory_xact_lock(key)))
            yield connection
        return
    with engine.connect() as connection:
        got = connection.execute(sa.select(sa.func.get_lock(
            name, lock_timeout))).scalar()
        connection.commit()
        if got != 1:
            raise OwnerBusy()
        try:
            with connection.begin():
                yield connection
        finally:
            try:
                connection.execute(sa.select(sa.func.release_lock(name)))
                connection.commit()
            except sa.exc.DBAPIError:
                # The session is gone, and its lock with it.
                connection.invalidate()


def get(connection, device_id):
    return connection.execute(
        sa.select(_devices).where(_devices.c.id == device_id)).first()


def _shown_health(alive_since):
    """The health the API shows: the stored one (the best its agents
    reported) while a live agent reaches the device, UNKNOWN otherwise:
    what a dead or deleted agent last said is no longer known."""
    reached = sa.exists().where(
        _links.c.device_id == _devices.c.id, _links.c.missing == sa.false(),
        _links.c.agent_id == _agents.c.id,
        liveness.alive_clause(_agents, alive_since))
    return sa.case((reached, _devices.c.health),
                   else_=sa.literal(constants.HEALTH_UNKNOWN))


def _shown(alive_since):
    return sa.select(*[_shown_health(alive_since).label('health')
                       if column.name == 'health' else column
                       for column in _devices.c])


def shown(connection, device_id, alive_since):
    """A device as the API shows it (health judged by liveness)."""
    return connection.execute(
        _shown(alive_since).where(_devices.c.id == device_id)).first()


def by_names(connection, names):
    rows = connection.execute(
        sa.select(_devices).where(_devices.c.name.in_(list(names))))
    return {row.name: row for row in rows}


def query(connection, alive_since, filters=None, sort=(('id', True),),
          limit=None, marker=None, reverse=False, agent_id=None,
          visible_to=None):
    """Devices matching filters, in pages, as the API shows them (health
    judged by liveness, for filters and sorting too); agent_id: only that
    agent's; visible_to: only that project's private devices (a tenant's
    view)."""
    health = _shown_health(alive_since)
    statement = _shown(alive_since)
    if visible_to is not None:
        statement = statement.where(_devices.c.project_id == visible_to)
    if agent_id is not None:
        statement = statement.join(_links, _links.c.device_id ==
                                   _devices.c.id).where(
            _links.c.agent_id == agent_id).add_columns(_assignment())
    for name, values in (filters or {}).items():
        column = health if name == 'health' else _devices.c[name]
        statement = statement.where(column.in_(values))
    statement = paging.page(statement, dict(SORT_COLUMNS, health=health),
                            sort, marker, limit, reverse)
    rows = connection.execute(statement).all()
    return rows[::-1] if reverse else rows


def _assignment():
    """How the agent of a link came to manage the device: assigned by the
    server, or pinned (an admin's link, the agent's own report)."""
    return sa.case((_links.c.assigned == sa.true(),
                    sa.literal(constants.ASSIGNMENT_ASSIGNED)),
                   else_=sa.literal(constants.ASSIGNMENT_PINNED)
                   ).label('assignment')


def update(connection, device_id, values, if_revision=None):
    """Change a device and bump its revision_number, as one UPDATE.

    if_revision: only if the stored revision is this one (If-Match);
    RevisionMismatch otherwise. NameInUse if a new name is taken. Returns
    False if there is no such device.
    """
    statement = sa.update(_devices).where(_devices.c.id == device_id).values(
        revision_number=_devices.c.revision_number + 1, **values)
    if if_revision is not None:
        statement = statement.where(
            _devices.c.revision_number == if_revision)
    try:
        updated = connection.execute(statement).rowcount == 1
    except sa.exc.IntegrityError:
        raise NameInUse() from None
    if updated:
        return True
    if if_revision is not None and get(connection, device_id) is not None:
        raise RevisionMismatch()
    return False


def delete(connection, device_id):
    return connection.execute(
        sa.delete(_devices).where(_devices.c.id == device_id)).rowcount


def bound_resource_count(connection, device_id):
    bindings = models.bindings
    return connection.execute(sa.select(sa.func.count()).select_from(
        bindings).where(bindings.c.device_id == device_id)).scalar()


# -- the association -------------------------------------------------------

def links_of_agent(connection, agent_id):
    """{device_id: link row} of one agent."""
    rows = connection.execute(
        sa.select(_links).where(_links.c.agent_id == agent_id))
    return {row.device_id: row for row in rows}


def link(connection, agent_id, device_id, now, health=None, load=None):
    connection.execute(sa.insert(_links).values(
        agent_id=agent_id, device_id=device_id, missing=False,
        health=health, load=load, updated_at=now))


def update_link(connection, agent_id, device_id, values):
    return connection.execute(sa.update(_links).where(
        _links.c.agent_id == agent_id,
        _links.c.device_id == device_id).values(**values)).rowcount


def unlink(connection, agent_id, device_id):
    return connection.execute(sa.delete(_links).where(
        _links.c.agent_id == agent_id,
        _links.c.device_id == device_id)).rowcount


def agents_of_device(connection, device_id):
    """(agent row, link row) pairs of the agents that reach a device."""
    rows = connection.execute(
        sa.select(_agents, _links.c.missing, _links.c.health.label(
            'link_health'), _links.c.load.label('link_load'),
            _links.c.assigned)
        .join(_links, _links.c.agent_id == _agents.c.id)
        .where(_links.c.device_id == device_id)
        .order_by(_agents.c.host))
    return rows.all()


def live_agents_of_device(connection, device_id, alive_since,
                          except_agent=None):
    """How many alive, admin-up agents still list a device."""
    statement = (sa.select(sa.func.count()).select_from(
        _links.join(_agents, _links.c.agent_id == _agents.c.id))
        .where(_links.c.device_id == device_id,
               _links.c.missing == sa.false(),
               _agents.c.admin_state_up == sa.true(),
               liveness.alive_clause(_agents, alive_since)))
    if except_agent is not None:
        statement = statement.where(_agents.c.id != except_agent)
    return connection.execute(statement).scalar()


def set_health(connection, device_id, health):
    return connection.execute(sa.update(_devices).where(
        _devices.c.id == device_id, _devices.c.health != health).values(
        health=health)).rowcount


def devices_of_agent(connection, agent_id):
    """The devices an agent reaches now (links not missing, and those
    assigned to it that it has not reported yet), by name."""
    return connection.execute(
        sa.select(_devices).join(_links, _links.c.device_id == _devices.c.id)
        .where(_links.c.agent_id == agent_id,
               sa.or_(_links.c.missing == sa.false(),
                      _links.c.assigned == sa.true()))
        .order_by(_devices.c.name)).all()


def resources_of_others(connection, device_ids, agent_id):
    """Ids of resources bound on these devices to agents other than one."""
    if not device_ids:
        return []
    bindings = models.bindings
    return [row.resource_id for row in connection.execute(
        sa.select(bindings.c.resource_id).where(
            bindings.c.device_id.in_(list(device_ids)),
            sa.or_(bindings.c.agent_id != agent_id,
                   bindings.c.agent_id.is_(None))))]
