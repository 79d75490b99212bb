"""Counts of the whole inventory by a few low-cardinality columns, for the
metrics endpoint: three GROUP BY statements per scrape, whatever the size.
"""

import sqlalchemy as sa

from agentsched import liveness
from agentsched.db import models

_agents = models.agents
_devices = models.devices
_resources = models.resources


def agents_by_state(connection, alive_since):
    """[(agent_type, availability_zone, state, count)]; state: 'forced_down'
    (an admin's), else 'dead' or 'alive' by the liveness rule, and
    'admin_down' for a live agent an admin disabled."""
    state = sa.case(
        (_agents.c.forced_down == sa.true(), sa.literal('forced_down')),
        (liveness.dead_clause(_agents, alive_since), sa.literal('dead')),
        (_agents.c.admin_state_up == sa.false(), sa.literal('admin_down')),
        else_=sa.literal('alive'))
    return connection.execute(
        sa.select(_agents.c.agent_type, _agents.c.availability_zone,
                  state.label('state'), sa.func.count())
        .group_by(_agents.c.agent_type, _agents.c.availability_zone,
                  state)).all()


def devices_by_health(connection):
    return connection.execute(
        sa.select(_devices.c.device_type, _devices.c.health,
                  sa.func.count())
        .group_by(_devices.c.device_type, _devices.c.health)).all()


def resources_by_status(connection):
    return connection.execute(
        sa.select(_resources.c.resource_type, _resources.c.status,
                  _resources.c.operating_status, sa.func.count())
        .group_by(_resources.c.resource_type, _resources.c.status,
                  _resources.c.operating_status)).all()
