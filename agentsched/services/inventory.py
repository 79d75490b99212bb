"""Counts of agents, devices and resources, for the metrics endpoint."""

from agentsched import liveness
from agentsched.db import inventory as inventory_db


class InventoryService:

    def __init__(self, engine, conf):
        self._engine = engine
        self._conf = conf

    def counts(self):
        """{'agents': [(agent_type, availability_zone, state, n)],
        'devices': [(device_type, health, n)], 'resources':
        [(resource_type, status, operating_status, n)]}: three statements
        in one read."""
        alive_since = liveness.alive_since(self._conf.agent_down_time)
        with self._engine.connect() as connection:
            return {
                'agents': inventory_db.agents_by_state(connection,
                                                       alive_since),
                'devices': inventory_db.devices_by_health(connection),
                'resources': inventory_db.resources_by_status(connection)}
