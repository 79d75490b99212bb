"""Load balancing: VIPs on haproxy (or other load-balancer) devices."""

from agentsched import constants
from agentsched.agents import service_plugins

_IDENTITY = constants.AGENT_SERVICES[constants.AGENT_SERVICE_LBAAS]


class LBaaS(service_plugins.ServicePlugin):
    name = constants.AGENT_SERVICE_LBAAS
    agent_type = _IDENTITY['agent_type']
    topic = _IDENTITY['topic']
    service_type = _IDENTITY['service_type']
