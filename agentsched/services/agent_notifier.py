"""Casts from the server to one agent, on <agent topic>.<host>."""

from oslo_log import log as logging
import oslo_messaging

from agentsched import messaging

LOG = logging.getLogger(__name__)

# The agent endpoint's version (agents/service.py AgentEndpoint).
AGENT_API_VERSION = '1.0'


class AgentNotifier:

    def __init__(self, conf):
        self._conf = conf

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
