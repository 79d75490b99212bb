"""Casts from the server to one agent, on <agent topic>.<host>.

With [signing] master keys every cast is signed for the receiving agent's
host and its secrets are sealed to that host (docs/security.md).
"""

from oslo_log import log as logging
import oslo_messaging

from agentsched import messaging
from agentsched import sealing

LOG = logging.getLogger(__name__)

# The agent endpoint's version (agents/service.py AgentEndpoint); 1.2 adds
# the signature kwarg to every method.
AGENT_API_VERSION = '1.2'
_SIGNED_VERSION = '1.2'


class AgentNotifier:

    def __init__(self, conf, signer=None, keyring=None):
        self._conf = conf
        self._signer = signer
        self._keyring = keyring

    def _cast(self, agent, method, version, **kwargs):
        """Best effort: a broker outage must not fail the caller; what the
        cast said reaches the agent at its next sync."""
        client = messaging.get_client(self._conf, agent.topic,
                                      AGENT_API_VERSION, server=agent.host)
        if self._signer is not None:
            version = _SIGNED_VERSION
            kwargs['signature'] = self._signer.sign(
                method, kwargs, agent.host, agent.agent_type)
        try:
            client.prepare(version=version).cast({}, method, **kwargs)
            return True
        except oslo_messaging.MessagingException as exc:
            LOG.warning('Could not cast %s to agent %s on %s: %s', method,
                        agent.agent_type, agent.host, exc)
            return False

    def deploy(self, agent, resource):
        """Deploy (or update) a resource; it carries its binding's
        generation, the device's physical info and, sealed to the agent's
        host, the secrets the device needs."""
        return self._cast(agent, 'deploy', '1.1',
                          resource=sealing.seal_secrets(
                              self._keyring, agent.host, resource))

    def undeploy(self, agent, resource):
        return self._cast(agent, 'undeploy', '1.1', resource=resource)

    def agent_updated(self, agent, admin_state_up):
        """Tell an agent its admin state changed, as Neutron does."""
        return self._cast(agent, 'agent_updated', '1.0',
                          payload={'admin_state_up': admin_state_up})

    def devices_updated(self, agent):
        """Tell an agent its device list or a device changed; it calls sync
        to learn the new list."""
        return self._cast(agent, 'devices_updated', '1.0')
