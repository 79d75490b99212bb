"""Casts from the server to one agent, on <agent topic>.<host>.

With [signing] master keys every cast is signed for the receiving agent's
host and its secrets are sealed to that host (docs/security.md).
"""

from oslo_log import log as logging
import oslo_messaging

from agentsched import messaging
from agentsched import sealing

LOG = logging.getLogger(__name__)

# The cap: the newest version of the agent's endpoint (agents/service.py
# AgentEndpoint) a server sends. Its history:
#   1.0 - agent_updated, devices_updated
#   1.1 - deploy, undeploy
#   1.2 - every method takes signature; a deploy's secrets may come sealed
# Servers are upgraded before agents; each cast goes at the oldest version
# that carries it, so an agent older than the cap still takes what it can.
AGENT_API_VERSION_CAP = '1.2'
_SIGNED_VERSION = '1.2'


class AgentNotifier:

    def __init__(self, conf, signer=None, keyring=None):
        self._conf = conf
        self._signer = signer
        self._keyring = keyring

    def _cast(self, agent, method, version, **kwargs):
        """Every cast to an agent: method at version (the unsigned form), at
        1.2 when signed.

        Best effort: a broker outage must not fail the caller; what the
        cast said reaches the agent at its next sync. A version above the
        cap is not an outage: it raises messaging.VersionCapError.
        """
        client = messaging.get_client(self._conf, agent.topic,
                                      AGENT_API_VERSION_CAP,
                                      server=agent.host,
                                      version_cap=AGENT_API_VERSION_CAP)
        if self._signer is not None:
            # No fallback to the unsigned form under a lower cap: an agent
            # with host keys ignores an unsigned cast, and a server with
            # master keys never sends one (docs/security.md).
            version = messaging.require_version(
                client, method, _SIGNED_VERSION, 'a signed cast')
            kwargs['signature'] = self._signer.sign(
                method, kwargs, agent.host, agent.agent_type)
        else:
            # Unsigned: the fallback, the oldest version that carries the
            # cast (with the cap at 1.1 a deploy goes at 1.1 and an
            # agent_updated at 1.0, as before signing); a cap below it
            # raises.
            version = messaging.require_version(client, method, version,
                                                'this form of the cast')
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
        resource = sealing.seal_secrets(self._keyring, agent.host,
                                        resource)
        # Sealed secrets are 1.2, as signatures (a server has both or
        # neither): an older agent could not open them.
        return self._cast(agent, 'deploy',
                          _SIGNED_VERSION if 'sealed' in resource else '1.1',
                          resource=resource)

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
