"""agentsched-agent: the agents of this host, one per service."""

import sys

from oslo_service import service

from agentsched import conf as agentsched_conf
from agentsched import guru
from agentsched import messaging
from agentsched import signing
from agentsched.agents import devices
from agentsched.agents import service as agent_service
from agentsched.agents import service_plugins


def main(argv=None):
    conf = agentsched_conf.CONF
    agentsched_conf.parse_args(sys.argv[1:] if argv is None else argv)
    if messaging.is_in_process(conf):
        sys.exit('agentsched-agent: set transport_url (e.g. '
                 'rabbit://user:pass@host:5672/) to reach the server; '
                 'in-process messaging only works for '
                 'agentsched-server --local-agents')
    try:
        plugins = service_plugins.load(conf.agent.services)
        device_list = devices.from_config(conf)
        devices.remote_device_types(conf)
    except (service_plugins.UnknownService,
            devices.InvalidDeviceConfig) as exc:
        sys.exit('agentsched-agent: %s' % exc)
    try:
        keyring = signing.Keyring.for_agent(conf.host,
                                            conf.signing.host_keys)
    except ValueError as exc:
        sys.exit('agentsched-agent: %s' % exc)
    # One agent per service, in this one process; each drives the devices
    # of its service type.
    group = agent_service.AgentGroup([
        agent_service.AgentService(
            conf, conf.host,
            [d for d in device_list
             if d['service_type'] == plugin.service_type], plugin,
            keyring=keyring)
        for plugin in plugins], conf=conf)
    guru.setup(conf, 'agentsched-agent', group.state)
    return service.launch(conf, group, workers=1).wait()
