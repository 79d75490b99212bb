"""agentsched-agent: one service agent reporting its devices."""

import sys

from oslo_service import service

from agentsched import conf as agentsched_conf
from agentsched import messaging
from agentsched.agents import devices
from agentsched.agents import service as agent_service


def main(argv=None):
    conf = agentsched_conf.CONF
    agentsched_conf.parse_args(sys.argv[1:] if argv is None else argv)
    if messaging.is_in_process(conf):
        sys.exit('agentsched-agent: set transport_url (e.g. '
                 'rabbit://user:pass@host:5672/) to reach the server; '
                 'in-process messaging only works for '
                 'agentsched-server --local-agents')
    try:
        device_list = devices.from_config(conf)
    except devices.InvalidDeviceConfig as exc:
        sys.exit('agentsched-agent: %s' % exc)
    agent = agent_service.AgentService(conf, conf.host, device_list)
    return service.launch(conf, agent, workers=1).wait()
