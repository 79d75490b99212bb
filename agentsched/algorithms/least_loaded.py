"""least_loaded: the device with the smallest used share first."""

from agentsched.algorithms import base


def used_share(candidate):
    if candidate.capacity <= 0:
        return float('inf')
    return candidate.used / candidate.capacity


class LeastLoaded(base.Algorithm):
    """Ascending used/capacity; ties broken at random.

    The sort is stable and its input comes in random order (see
    Algorithm.select), so equally loaded devices keep a random order.
    """

    name = 'least_loaded'

    def order(self, feasible, request):
        return sorted(feasible, key=used_share)
