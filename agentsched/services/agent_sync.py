"""The server end of the agent's sync call: what the agent should manage.

Agents keep no inventory of their own (the seed thread is explicit): at
start, on 'revived' and when told that its devices changed, an agent asks
here and gets its devices with physical info and decrypted credentials.
Credentials cross the bus in clear inside the message: production buses
must use TLS (docs/deployment.md).
"""

import json

from oslo_log import log as logging
import oslo_messaging

from agentsched.db import agents as agents_db
from agentsched.db import devices as devices_db

LOG = logging.getLogger(__name__)


class AgentSyncEndpoint:
    """Calls from agents, on the agentsched-plugin topic.

    API version history:
        1.0 - sync(agent_type, host)
        1.1 - sync also returns the resources bound to the agent (deploy
              messages with their generations); update_status
        1.2 - sync also returns 'elsewhere': ids of resources on the
              agent's devices that other agents manage (failover rebinds)
    """
    target = oslo_messaging.Target(namespace='agent', version='1.2')

    def __init__(self, engine, secret_box, resources=None):
        self._engine = engine
        self._secrets = secret_box
        self._resources = resources

    def sync(self, context, agent_type, host):
        with self._engine.begin() as connection:
            agent = agents_db.get_by_type_and_host(connection, agent_type,
                                                   host)
            if agent is None:
                return {'devices': [], 'resources': []}
            rows = devices_db.devices_of_agent(connection, agent.id)
            elsewhere = devices_db.resources_of_others(
                connection, [row.id for row in rows], agent.id)
            agents_db.update(connection, agent.id, {'resources_synced': True})
        devices = [self._device(row) for row in rows]
        resources = (self._resources.resources_of_agent(
            agent.id, with_secrets=True) if self._resources else [])
        LOG.info('Agent %s on %s synced: %d devices, %d resources',
                 agent_type, host, len(devices), len(resources))
        return {'devices': devices, 'resources': resources,
                'elsewhere': elsewhere}

    def update_status(self, context, resource_id, generation, status,
                      description=None):
        """A deploy or undeploy's outcome; stale generations are ignored."""
        return self._resources.update_status(resource_id, generation, status,
                                             description)

    def _device(self, row):
        return {
            'id': row.id, 'name': row.name, 'device_type': row.device_type,
            'service_type': row.service_type,
            'capabilities': json.loads(row.capabilities),
            'capacity': row.capacity,
            'physical_info': json.loads(row.physical_info),
            'credentials': (self._secrets.decrypt(row.credentials)
                            if row.credentials else None),
            'admin_state_up': row.admin_state_up, 'health': row.health,
        }
