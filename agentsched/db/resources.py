"""Queries on resources (VIPs, VPN connections).

The lifecycle's rules (when to place, deploy, delete) belong to
services/resources.py; this module holds its statements.
"""

import sqlalchemy as sa

from agentsched import constants
from agentsched import formats
from agentsched.db import models
from agentsched.db import paging

_resources = models.resources
_bindings = models.bindings

SORT_COLUMNS = {
    'id': _resources.c.id,
    # NULL names sort as '' (paging compares a NULL marker value as '').
    'name': sa.func.coalesce(_resources.c.name, ''),
    'status': _resources.c.status,
    'project_id': _resources.c.project_id,
    'created_at': _resources.c.created_at,
}
FILTER_COLUMNS = ('id', 'name', 'status', 'project_id')


def get(connection, resource_id, resource_type=None, project_id=None):
    """The row, or None if absent, of another type or another project's."""
    statement = sa.select(_resources).where(_resources.c.id == resource_id)
    if resource_type is not None:
        statement = statement.where(
            _resources.c.resource_type == resource_type)
    if project_id is not None:
        statement = statement.where(_resources.c.project_id == project_id)
    return connection.execute(statement).first()


def query(connection, resource_type, filters=None, sort=(('id', True),),
          limit=None, marker=None, reverse=False, project_id=None,
          agent_id=None):
    """Resources of one type matching filters, in pages.

    project_id: only that project's (a tenant's view); agent_id: only those
    bound to that agent.
    """
    statement = sa.select(_resources).where(
        _resources.c.resource_type == resource_type)
    if project_id is not None:
        statement = statement.where(_resources.c.project_id == project_id)
    if agent_id is not None:
        statement = statement.join(
            _bindings, _bindings.c.resource_id == _resources.c.id).where(
            _bindings.c.agent_id == agent_id)
    for name, values in (filters or {}).items():
        statement = statement.where(_resources.c[name].in_(values))
    statement = paging.page(statement, SORT_COLUMNS, sort, marker, limit,
                            reverse)
    rows = connection.execute(statement).all()
    return rows[::-1] if reverse else rows


def insert(connection, values):
    connection.execute(sa.insert(_resources).values(**values))


def _not_deleting(statement):
    """statement (an UPDATE of resources) for those not being deleted: a
    delete's PENDING_DELETE is replaced by nothing but the delete's own
    end. The condition is in the UPDATE itself, so a delete committed
    after the caller read the rows, or while it waited for one of them, is
    never overwritten."""
    return statement.where(
        _resources.c.status != constants.STATUS_PENDING_DELETE)


def update(connection, resource_id, values):
    """True if the resource was updated: it exists and is not being
    deleted."""
    return connection.execute(_not_deleting(
        sa.update(_resources).where(_resources.c.id == resource_id))
        .values(**values)).rowcount == 1


def set_status(connection, resource_ids, status, description, now):
    """One status for resources; description: None (or '') stores none,
    cut to the column's size. Resources being deleted keep PENDING_DELETE
    (_not_deleting) unless status is that. Returns the ids given the
    status."""
    resource_ids = list(resource_ids)
    statement = sa.update(_resources).where(
        _resources.c.id.in_(resource_ids))
    if status != constants.STATUS_PENDING_DELETE:
        statement = _not_deleting(statement)
    written = connection.execute(statement.values(
        status=status,
        status_description=formats.shorten(description) or None,
        updated_at=now)).rowcount
    if written == len(resource_ids):
        return resource_ids
    # The rows written are this transaction's, and no one takes a resource
    # out of PENDING_DELETE but to remove it. A locking read: it sees the
    # newest rows, not the snapshot of an earlier read (MariaDB).
    return connection.execute(sa.select(_resources.c.id).where(
        _resources.c.id.in_(resource_ids),
        _resources.c.status == status)
        .with_for_update(read=True)).scalars().all()


def set_answered_status(connection, resource_id, generation, agent_id,
                        status, description, now):
    """An agent's status for one generation of a resource, stored only
    while that generation is bound (to agent_id, unless None) and the
    resource is not being deleted; True if stored. The binding is read
    with a shared lock, then the status written with its condition in the
    UPDATE: a failover (which locks the binding first, as this does) or a
    delete that commits after the caller read the rows is never
    overwritten. One transaction (the caller's)."""
    binding = sa.select(_bindings.c.resource_id).where(
        _bindings.c.resource_id == resource_id,
        _bindings.c.generation == generation)
    if agent_id is not None:
        binding = binding.where(_bindings.c.agent_id == agent_id)
    if connection.execute(binding.with_for_update(read=True)).first() is None:
        return False
    return connection.execute(_not_deleting(
        sa.update(_resources).where(_resources.c.id == resource_id))
        .values(status=status,
                status_description=formats.shorten(description) or None,
                updated_at=now)).rowcount == 1


def delete(connection, resource_id):
    connection.execute(sa.delete(_resources).where(
        _resources.c.id == resource_id))


def count_with_flavor(connection, flavor_id):
    return connection.execute(sa.select(sa.func.count()).select_from(
        _resources).where(_resources.c.flavor_id == flavor_id)).scalar()
