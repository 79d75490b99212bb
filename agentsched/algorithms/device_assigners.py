"""Device assigners: which manager agents take a device nobody was named for.

An agent that lists device types in [agent] remote_device_types manages
devices of those types remotely. A device an admin registers without
naming agents is assigned by the server ([scheduler] agents_per_device of
them); the server gathers the live, admin-up agents that manage its type
(services/device_assignment.py, one query) and an assigner, a plugin of
agentsched.device_assigners named by [scheduler] device_assigner, chooses
among them. Pure logic, like the placement algorithms: nothing here reads
the database.

    assigner = algorithms.load_device_assigner(conf)
    chosen = assigner.select(candidates, device, count)
"""

import abc
import random
import typing

from agentsched import constants


class Manager(typing.NamedTuple):
    """A live, admin-up agent that manages the device's type remotely."""
    agent_id: str
    host: str
    agent_type: str
    # What the agent serves (constants.SERVICE_BY_AGENT_TYPE); None for an
    # agent type agentsched does not know.
    service_type: typing.Optional[str]
    availability_zone: typing.Optional[str]
    # Devices it manages now: assigned and pinned, not missing.
    devices: int


class Device(typing.NamedTuple):
    """The device to assign."""
    device_id: str
    name: str
    device_type: str
    service_type: str
    availability_zone: typing.Optional[str]


class DeviceAssigner(abc.ABC):
    """Filters the managers that can take a device, then orders them.

    Subclasses implement order(). rng: a random.Random for those that draw
    (tests seed one).
    """

    name = None

    def __init__(self, rng=None):
        self.rng = rng if rng is not None else random.Random()

    def feasible(self, managers, device):
        """The managers that may take the device: of its service type,
        when it has an availability zone of that zone, and with room in
        their heartbeats (constants.MAX_DEVICES_PER_MANAGER)."""
        zone = device.availability_zone
        return [manager for manager in managers
                if manager.service_type == device.service_type and
                (not zone or manager.availability_zone == zone) and
                manager.devices < constants.MAX_DEVICES_PER_MANAGER]

    def select(self, managers, device, count):
        """At most count managers for the device, best first (fewer when
        fewer are feasible; none when count < 1)."""
        if count < 1:
            return []
        return self.order(self.feasible(managers, device), device)[:count]

    @abc.abstractmethod
    def order(self, feasible, device):
        """The feasible managers in the order to assign them."""


class LeastDevices(DeviceAssigner):
    """The managers with the fewest devices first; ties by host, then id.

    Deterministic: the same fleet gives the same choice, which an operator
    can predict and a test can check. The server assigns one device at a
    time and counts each assignment before the next, so devices created in
    a row spread over the managers; two servers assigning at the same
    instant may both pick the same least-loaded agent, which leaves one
    device more on it, never a device without agents.
    """

    name = 'least_devices'

    def order(self, feasible, device):
        return sorted(feasible, key=lambda manager: (
            manager.devices, manager.host, manager.agent_id))
