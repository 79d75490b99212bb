"""VPN: IPsec site-to-site connections on strongSwan (or other) gateways."""

from agentsched import constants
from agentsched.agents import service_plugins

_IDENTITY = constants.AGENT_SERVICES[constants.AGENT_SERVICE_VPN]


class VPN(service_plugins.ServicePlugin):
    name = constants.AGENT_SERVICE_VPN
    agent_type = _IDENTITY['agent_type']
    topic = _IDENTITY['topic']
    service_type = _IDENTITY['service_type']
