"""Queries of device assignment: manager agents, their device types, the
devices that need managers and the links the server assigns.

A manager is an agent whose [agent] remote_device_types (from its
heartbeats, kept in manager_device_types by reports/device_sync.py) lists
a device type. Assigned links are agent_devices rows with assigned true;
the others (an admin's pins, an agent's own reports) are never changed
here.

Cost: the candidates of a device type are found through the index on
manager_device_types.device_type (no agent's configurations is parsed),
each with one index count of its links. short_devices(), the health
monitor's per-check query, counts each API-registered device's managing
links through the index on agent_devices.device_id: a few index probes per
device of a managed type (benchmarks in docs/failover.md).
"""

import sqlalchemy as sa

from agentsched import constants
from agentsched import liveness
from agentsched.db import models

_agents = models.agents
_devices = models.devices
_links = models.agent_devices
_types = models.manager_device_types


# -- the types each agent manages ------------------------------------------

def managed_types(connection, agent_id):
    return {row.device_type for row in connection.execute(
        sa.select(_types.c.device_type).where(_types.c.agent_id == agent_id))}


def set_managed_types(connection, agent_id, device_types):
    """Make an agent's managed types these; whether they changed."""
    current = managed_types(connection, agent_id)
    wanted = set(device_types)
    if wanted == current:
        return False
    if current - wanted:
        connection.execute(sa.delete(_types).where(
            _types.c.agent_id == agent_id,
            _types.c.device_type.in_(sorted(current - wanted))))
    if wanted - current:
        connection.execute(sa.insert(_types), [
            {'agent_id': agent_id, 'device_type': device_type}
            for device_type in sorted(wanted - current)])
    return True


# -- who manages -------------------------------------------------------------

def _live(agents, alive_since):
    """Alive, not forced down, admin-up: an agent that may manage."""
    return sa.and_(liveness.alive_clause(agents, alive_since),
                   agents.c.admin_state_up == sa.true())


def _managing(agents, alive_since, hold=False, tripped=()):
    """Whether a linked agent counts as managing its device: live, or dead
    by its heartbeats while a storm guard holds failover back (hold: the
    start-up grace or the outage guard; tripped: the (agent_type,
    availability_zone) groups of the mass-failure guard). A forced-down or
    draining agent never counts: an admin asked."""
    live = _live(agents, alive_since)
    if not hold and not tripped:
        return live
    stale = sa.and_(agents.c.forced_down == sa.false(),
                    agents.c.heartbeat_timestamp < alive_since)
    if not hold:
        stale = sa.and_(stale, sa.or_(*[
            sa.and_(agents.c.agent_type == agent_type,
                    agents.c.availability_zone.is_(None) if zone is None
                    else agents.c.availability_zone == zone)
            for agent_type, zone in sorted(
                tripped, key=lambda key: (key[0], key[1] or ''))]))
    return sa.or_(live, stale)


def _devices_managed(agents):
    """How many devices an agent manages: its links not missing, and its
    assigned ones even while missing (not yet picked up)."""
    links = _links.alias('counted')
    return (sa.select(sa.func.count()).select_from(links)
            .where(links.c.agent_id == agents.c.id,
                   sa.or_(links.c.missing == sa.false(),
                          links.c.assigned == sa.true()))
            .scalar_subquery())


def manager_candidates(connection, device_type, alive_since):
    """Live, admin-up agents managing a device type, with how many devices
    each manages (rows: id, host, agent_type, topic, availability_zone,
    devices), by host."""
    return connection.execute(
        sa.select(_agents.c.id, _agents.c.host, _agents.c.agent_type,
                  _agents.c.topic, _agents.c.availability_zone,
                  _devices_managed(_agents).label('devices'))
        .join(_types, _types.c.agent_id == _agents.c.id)
        .where(_types.c.device_type == device_type,
               _live(_agents, alive_since))
        .order_by(_agents.c.host, _agents.c.id)).all()


def short_devices(connection, alive_since, count, limit, hold=False,
                  tripped=(), after=None, until=None):
    """Devices registered through the API (by an admin or a project) of a
    managed type with fewer than count
    agents managing them (live, or held back by a guard: _managing) while
    a live manager of their type, service type and zone (the shipped
    assigner's rule, algorithms/device_assigners.py) is not linked to them
    yet, by id, after (until) an id if given, at most limit (rows: id,
    name, device_type, service_type, availability_zone).

    Set-based (one pass over the links with their agents, grouped, hash
    joined to the devices): a correlated count per device costs PostgreSQL
    40 us a device, and at 10,000 devices its estimate switches the JIT on
    (seconds)."""
    linked = _agents.alias('linked')
    managing = (sa.select(_links.c.device_id,
                          sa.func.count().label('managing'))
                .select_from(_links.join(linked,
                                         linked.c.id == _links.c.agent_id))
                .where(_managing(linked, alive_since, hold, tripped))
                .group_by(_links.c.device_id).subquery('managing'))
    manager = _agents.alias('manager')
    other_link = _links.alias('other_link')
    free_manager = sa.exists(
        sa.select(1).select_from(_types.join(
            manager, manager.c.id == _types.c.agent_id))
        .where(_types.c.device_type == _devices.c.device_type,
               _live(manager, alive_since),
               sa.or_(*[sa.and_(manager.c.agent_type == agent_type,
                                _devices.c.service_type == service_type)
                        for agent_type, service_type in sorted(
                            constants.SERVICE_BY_AGENT_TYPE.items())]),
               sa.or_(sa.func.coalesce(_devices.c.availability_zone,
                                       '') == '',
                      manager.c.availability_zone ==
                      _devices.c.availability_zone),
               # Correlated by hand: two levels down, SQLAlchemy would
               # add devices to the inner FROM instead.
               ~sa.select(1).select_from(other_link).where(
                   other_link.c.device_id == _devices.c.id,
                   other_link.c.agent_id == manager.c.id)
               .correlate(_devices, manager).exists()))
    short = (sa.select(_devices.c.id)
             .select_from(_devices.outerjoin(
                 managing, managing.c.device_id == _devices.c.id))
             .where(_devices.c.source.in_(constants.ASSIGNED_SOURCES),
                    _devices.c.device_type.in_(
                        sa.select(_types.c.device_type).distinct()),
                    sa.func.coalesce(managing.c.managing, 0) < count))
    if after is not None:
        short = short.where(_devices.c.id > after)
    if until is not None:
        short = short.where(_devices.c.id <= until)
    # The short ones first (few), then the free manager of each: left to
    # itself PostgreSQL probes a free manager for every device first.
    short = short.cte('short').prefix_with('MATERIALIZED',
                                           dialect='postgresql')
    return connection.execute(
        sa.select(_devices.c.id, _devices.c.name, _devices.c.device_type,
                  _devices.c.service_type, _devices.c.availability_zone)
        .join(short, short.c.id == _devices.c.id)
        .where(free_manager)
        .order_by(_devices.c.id).limit(limit)).all()


def lock_device(connection, device_id):
    """The device's row, locked for this transaction; None if gone or
    locked by another server (SKIP LOCKED: two servers that both believe
    they lead skip each other's devices)."""
    statement = sa.select(_devices.c.id, _devices.c.name,
                          _devices.c.device_type, _devices.c.service_type,
                          _devices.c.availability_zone,
                          _devices.c.source).where(
        _devices.c.id == device_id)
    if connection.dialect.name in ('postgresql', 'mysql', 'mariadb'):
        statement = statement.with_for_update(skip_locked=True)
    return connection.execute(statement).first()


def links_of_device(connection, device_id, alive_since, hold=False,
                    tripped=()):
    """The agents linked to a device (rows: agent_id, host, topic,
    agent_type, assigned, managing)."""
    return connection.execute(
        sa.select(_agents.c.id.label('agent_id'), _agents.c.host,
                  _agents.c.topic, _agents.c.agent_type, _links.c.assigned,
                  _managing(_agents, alive_since, hold, tripped)
                  .label('managing'))
        .join(_agents, _agents.c.id == _links.c.agent_id)
        .where(_links.c.device_id == device_id)
        .order_by(_agents.c.host)).all()


def assign(connection, agent_id, device_id, now):
    """A link the server assigned: the device is the agent's to manage."""
    connection.execute(sa.insert(_links).values(
        agent_id=agent_id, device_id=device_id, missing=False,
        assigned=True, updated_at=now))


def unassign(connection, agent_id, device_id):
    """Remove an assigned link (never a pinned one); 1 if removed."""
    return connection.execute(sa.delete(_links).where(
        _links.c.agent_id == agent_id, _links.c.device_id == device_id,
        _links.c.assigned == sa.true())).rowcount
