"""Queries on flavors, service profiles and their association."""

import sqlalchemy as sa

from agentsched.db import models
from agentsched.db import paging

flavors = models.flavors
profiles = models.service_profiles
_links = models.flavor_service_profiles

FLAVOR_SORT = {
    'id': flavors.c.id, 'name': flavors.c.name,
    'service_type': flavors.c.service_type, 'enabled': flavors.c.enabled,
}
FLAVOR_FILTERS = ('id', 'name', 'service_type', 'enabled')
PROFILE_SORT = {
    'id': profiles.c.id, 'driver': sa.func.coalesce(profiles.c.driver, ''),
    'enabled': profiles.c.enabled,
}
PROFILE_FILTERS = ('id', 'driver', 'enabled')


def get(connection, table, row_id):
    return connection.execute(
        sa.select(table).where(table.c.id == row_id)).first()


def query(connection, table, columns, filters, sort, limit, marker,
          reverse):
    statement = sa.select(table)
    for name, values in filters.items():
        statement = statement.where(table.c[name].in_(values))
    statement = paging.page(statement, columns, sort, marker, limit, reverse)
    rows = connection.execute(statement).all()
    return rows[::-1] if reverse else rows


def insert(connection, table, values):
    connection.execute(sa.insert(table).values(**values))


def update(connection, table, row_id, values):
    return connection.execute(sa.update(table).where(
        table.c.id == row_id).values(**values)).rowcount


def delete(connection, table, row_id):
    return connection.execute(
        sa.delete(table).where(table.c.id == row_id)).rowcount


def profile_ids(connection, flavor_ids):
    """{flavor_id: [service profile ids]} of the given flavors."""
    found = {flavor_id: [] for flavor_id in flavor_ids}
    if not found:
        return found
    rows = connection.execute(
        sa.select(_links).where(_links.c.flavor_id.in_(list(found)))
        .order_by(_links.c.service_profile_id))
    for row in rows:
        found[row.flavor_id].append(row.service_profile_id)
    return found


def associate(connection, flavor_id, profile_id):
    """False if the two are associated already."""
    try:
        # A savepoint: the caller's transaction survives the refusal.
        with connection.begin_nested():
            connection.execute(sa.insert(_links).values(
                flavor_id=flavor_id, service_profile_id=profile_id))
    except sa.exc.IntegrityError:
        return False
    return True


def dissociate(connection, flavor_id, profile_id):
    return connection.execute(sa.delete(_links).where(
        _links.c.flavor_id == flavor_id,
        _links.c.service_profile_id == profile_id)).rowcount


def flavors_of_profile(connection, profile_id):
    return [row.flavor_id for row in connection.execute(
        sa.select(_links.c.flavor_id).where(
            _links.c.service_profile_id == profile_id))]


def with_first_profile(connection, flavor_id):
    """The flavor's service_type and enabled, and the metainfo of its first
    enabled service profile by id (None if it has none), or None if there
    is no such flavor: one query (a resource's create pays for it)."""
    enabled = _links.join(profiles, sa.and_(
        profiles.c.id == _links.c.service_profile_id,
        profiles.c.enabled == sa.true()))
    return connection.execute(
        sa.select(flavors.c.service_type, flavors.c.enabled,
                  profiles.c.metainfo)
        .select_from(flavors.outerjoin(
            enabled, _links.c.flavor_id == flavors.c.id))
        .where(flavors.c.id == flavor_id)
        .order_by(profiles.c.id).limit(1)).first()
