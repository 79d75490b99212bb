"""The agent's calls to the server (services/agent_sync.py answers)."""

from agentsched import constants
from agentsched import messaging

# What the agent sends and reads: signed calls, update_status naming its
# agent (1.4), 'withheld' (1.3) and all before.
SYNC_API_VERSION = '1.4'


class ServerAPI:

    def __init__(self, conf, timeout, signer=None):
        """signer: signs every call (signing.Signer); None sends them
        unsigned, which servers with master keys refuse."""
        self._client = messaging.get_client(
            conf, constants.PLUGIN_TOPIC, SYNC_API_VERSION, timeout=timeout)
        self._signer = signer

    def _call(self, method, **kwargs):
        """kwargs name the calling agent (agent_type, host)."""
        if self._signer is not None:
            kwargs['signature'] = self._signer.sign(
                method, kwargs, kwargs['host'], kwargs['agent_type'])
        return self._client.prepare(namespace='agent').call(
            {}, method, **kwargs)

    def sync(self, agent_type, host):
        return self._call('sync', agent_type=agent_type, host=host)

    def update_status(self, agent_type, host, resource_id, generation,
                      status, description):
        return self._call('update_status', agent_type=agent_type, host=host,
                          resource_id=resource_id, generation=generation,
                          status=status, description=description)
