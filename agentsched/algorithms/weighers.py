"""The shipped weighers (entry points in agentsched.weighers).

Each returns raw numbers where higher is preferred; base.Weigher scales
them to 0..1 across the candidates and applies the configured multiplier.
"""

from agentsched import constants
from agentsched.algorithms import base


class DeviceLoad(base.Weigher):
    """The free share of the device, 1 - used/capacity.

    A positive multiplier spreads resources over devices; a negative one
    packs them onto the fullest devices that still fit (keeping others
    empty for large requests or for maintenance).
    """

    name = 'device_load'

    def raw_weights(self, candidates, request):
        return [1.0 - c.used / c.capacity if c.capacity > 0 else 0.0
                for c in candidates]


class AgentLoad(base.Weigher):
    """The agent's reported load, lower preferred.

    The load is whatever the agent reports (configurations' load key, see
    [reports] load_keys), so only its order among candidates means
    anything: the normalization makes it comparable with the other weighers.
    """

    name = 'agent_load'

    def raw_weights(self, candidates, request):
        return [-(c.agent_load or 0) for c in candidates]


class DeviceHealth(base.Weigher):
    """OK devices over DEGRADED ones (the device_healthy filter lets both
    through). With a multiplier above the sum of the others' a DEGRADED
    device is chosen only when no OK device is feasible.
    """

    name = 'device_health'

    def raw_weights(self, candidates, request):
        ok = constants.HEALTH_OK
        return [1.0 if c.device_health == ok else 0.0 for c in candidates]

