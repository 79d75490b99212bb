"""Service plugins: what an agent serves (lbaas, vpn), and so who it is.

A plugin (entry points agentsched.agent_services) names the agent_type and
topic an agent reports under and the service type of the devices it drives.
One agentsched-agent process can run several: it then reports one agent per
service, as Neutron's agents of different types on one host do.
"""

import stevedore

from agentsched import constants


class UnknownService(ValueError):
    pass


class ServicePlugin:
    """Base of service plugins. Subclasses set the class attributes."""
    name = None
    agent_type = None
    topic = None
    service_type = None


def load(names):
    """The plugins named, in order; UnknownService names the known ones."""
    manager = stevedore.ExtensionManager(constants.NS_AGENT_SERVICES,
                                         invoke_on_load=True)
    plugins = {extension.name: extension.obj for extension in manager}
    missing = [name for name in names if name not in plugins]
    if missing:
        raise UnknownService('unknown service(s) %s in [agent] services; '
                             'installed: %s' % (', '.join(missing),
                                                ', '.join(sorted(plugins))))
    return [plugins[name] for name in names]
