"""The shipped feasibility filters (entry points in agentsched.filters).

Each is one predicate, written as a list comprehension over the candidates
(see base.Filter for why), with the words that explain its rejects. The
default order ([scheduler] enabled_filters) runs the cheapest and most often
failing checks first, so later filters see fewer candidates.
"""

from agentsched import constants
from agentsched.algorithms import base
from agentsched.algorithms import constraints

# service type -> agent types serving it: a set lookup per candidate is
# cheaper than a dict lookup and a comparison.
_AGENT_TYPES_BY_SERVICE = {
    service: frozenset(agent_type for agent_type, served
                       in constants.SERVICE_BY_AGENT_TYPE.items()
                       if served == service)
    for service in constants.SERVICE_TYPES}


class AgentAlive(base.Filter):
    """The agent heartbeats in time and an admin has not disabled it."""

    name = 'agent_alive'

    def filter_all(self, candidates, request):
        return [c for c in candidates
                if c.agent_alive and c.agent_admin_state_up]

    def reason(self, request):
        return 'on a dead or admin-down agent'


class AgentServes(base.Filter):
    """The agent's type provides the requested service type."""

    name = 'agent_serves'

    def filter_all(self, candidates, request):
        agent_types = _AGENT_TYPES_BY_SERVICE.get(request.service_type, ())
        return [c for c in candidates if c.agent_type in agent_types]

    def reason(self, request):
        return 'on an agent that does not serve %s' % request.service_type


class ServiceType(base.Filter):
    """The device serves the requested service type."""

    name = 'service_type'

    def filter_all(self, candidates, request):
        wanted = request.service_type
        return [c for c in candidates if c.service_type == wanted]

    def reason(self, request):
        return 'on a device that does not serve %s' % request.service_type


class DeviceHealthy(base.Filter):
    """The device is OK or DEGRADED (constants.PLACEABLE_HEALTHS) and admin
    up."""

    name = 'device_healthy'

    def filter_all(self, candidates, request):
        return [c for c in candidates
                if c.device_health in constants.PLACEABLE_HEALTHS
                and c.device_admin_state_up]

    def reason(self, request):
        return 'on a down, unknown-health or admin-down device'


class DeviceType(base.Filter):
    """The device has the requested device_type (when one is requested)."""

    name = 'device_type'

    def applies(self, request):
        return request.device_type is not None

    def filter_all(self, candidates, request):
        wanted = request.device_type
        return [c for c in candidates if c.device_type == wanted]

    def reason(self, request):
        return 'not of device_type %s' % request.device_type


class AvailabilityZone(base.Filter):
    """The device's zone, or its agent's when it has none, is the one asked."""

    name = 'availability_zone'

    def applies(self, request):
        return request.availability_zone is not None

    def filter_all(self, candidates, request):
        wanted = request.availability_zone
        return [c for c in candidates
                if (c.device_availability_zone
                    or c.agent_availability_zone) == wanted]

    def reason(self, request):
        return 'outside availability zone %s' % request.availability_zone


class Capacity(base.Filter):
    """The device has the request's units free (capacity - used)."""

    name = 'capacity'

    def filter_all(self, candidates, request):
        units = request.units
        return [c for c in candidates if c.capacity - c.used >= units]

    def reason(self, request):
        return 'without %d free unit%s' % (
            request.units, '' if request.units == 1 else 's')


class Capabilities(base.Filter):
    """The device meets every capability constraint of the request."""

    name = 'capabilities'

    def applies(self, request):
        return bool(request.capabilities)

    def filter_all(self, candidates, request):
        return constraints.keep_matching(candidates, request.capabilities)

    def reason(self, request):
        return 'without %s' % constraints.describe(request.capabilities)

