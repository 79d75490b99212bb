"""The server's services, built once and handed to every caller.

The server process (server.py) and the API under a WSGI container
(api/wsgi.py) call build(); the API reaches the services through the
Services it is given and composes none itself.
"""

import dataclasses

from agentsched.services import agents as agents_service
from agentsched.services import data_plane as data_plane_service
from agentsched.services import device_assignment
from agentsched.services import devices as devices_service
from agentsched.services import failover as failover_service
from agentsched.services import flavors as flavors_service
from agentsched.services import inventory as inventory_service
from agentsched.services import placement
from agentsched.services import resources as resources_service


@dataclasses.dataclass
class Services:
    conf: object
    engine: object
    notifier: object
    secrets: object
    resources: object
    failover: object
    agents: object
    devices: object
    flavors: object
    data_plane: object
    inventory: object
    assignment: object = None


def build(conf, engine, notifier, secret_box, placer=None):
    """Every service over one engine, one notifier, one placer."""
    placer = placer or placement.Placer(engine, conf)
    flavors = flavors_service.FlavorService(engine)
    resources = resources_service.ResourceService(
        engine, conf, notifier, secret_box, placer=placer, flavors=flavors)
    failover = failover_service.FailoverService(
        engine, conf, placer, notifier, resources)
    agents = agents_service.AgentService(engine, conf, notifier)
    assignment = device_assignment.DeviceAssignmentService(engine, conf,
                                                           notifier)
    devices = devices_service.DeviceService(engine, conf, notifier,
                                            secret_box,
                                            assignment=assignment)
    return Services(conf=conf, engine=engine, notifier=notifier,
                    secrets=secret_box, resources=resources,
                    failover=failover, agents=agents, devices=devices,
                    flavors=flavors,
                    data_plane=data_plane_service.DataPlaneService(engine),
                    inventory=inventory_service.InventoryService(engine,
                                                                 conf),
                    assignment=assignment)
