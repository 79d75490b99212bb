"""Casts from the server to one agent, on <agent topic>.<host>."""

from oslo_log import log as logging
import oslo_messaging

from agentsched import messaging

LOG = logging.getLogger(__name__)

# The agent endpoint's version (agents/service.py AgentEndpoint).
AGENT_API_VERSION = '1.1'


class AgentNotifier:

    def __init__(self, conf):
        self._conf = conf

    def _cast(self, agent, method, version='1.0', **kwargs):
        client = messaging.get_client(self._conf, agent.topic,
                                      AGENT_API_VERSION, server=agent.host)
        try:
            client.prepare(version=version).cast({}, method, **kwargs)
            return True
        except oslo_messaging.MessagingException as exc:
            LOG.warning('Could not cast %s to agent %s on %s: %s', method,
                        agent.agent_type, agent.host, exc)
            return False

    def deploy(self, agent, resource):
        """Deploy (or update) a resource; it carries its binding's
        generation, the device's physical info and the secrets the device
        needs: the bus must use TLS in production."""
        return self._cast(agent, 'deploy', version='1.1', resource=resource)

    def undeploy(self, agent, resource):
        return self._cast(agent, 'undeploy', version='1.1', resource=resource)

    def agent_updated(self, agent, admin_state_up):
        """Tell an agent its admin state changed, as Neutron does.

        Best effort: the change is already stored and the agent learns it at
        its next resync, so a broker outage must not fail the API call.
        """
        client = messaging.get_client(self._conf, agent.topic,
                                      AGENT_API_VERSION, server=agent.host)
        try:
            client.cast({}, 'agent_updated',
                        payload={'admin_state_up': admin_state_up})
        except oslo_messaging.MessagingException as exc:
            LOG.warning('Could not tell agent %s on %s of its new admin '
                        'state: %s', agent.agent_type, agent.host, exc)

    def devices_updated(self, agent):
        """Tell an agent its device list or a device changed; it calls sync
        to learn the new list (credentials travel on the bus: use TLS)."""
        client = messaging.get_client(self._conf, agent.topic,
                                      AGENT_API_VERSION, server=agent.host)
        try:
            client.cast({}, 'devices_updated')
        except oslo_messaging.MessagingException as exc:
            LOG.warning('Could not tell agent %s on %s its devices changed: '
                        '%s', agent.agent_type, agent.host, exc)
