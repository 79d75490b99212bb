"""The agent's calls to the server (services/agent_sync.py answers)."""

from agentsched import constants
from agentsched import messaging

SYNC_API_VERSION = '1.1'


class ServerAPI:

    def __init__(self, conf, timeout):
        self._client = messaging.get_client(
            conf, constants.PLUGIN_TOPIC, SYNC_API_VERSION, timeout=timeout)

    def sync(self, agent_type, host):
        return self._client.prepare(namespace='agent').call(
            {}, 'sync', agent_type=agent_type, host=host)

    def update_status(self, resource_id, generation, status, description):
        return self._client.prepare(namespace='agent').call(
            {}, 'update_status', resource_id=resource_id,
            generation=generation, status=status, description=description)
