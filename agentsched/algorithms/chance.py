"""chance: any feasible candidate, uniformly at random."""

from agentsched.algorithms import base


class Chance(base.Algorithm):
    """Random order among the feasible candidates.

    Algorithm.select already hands order() its candidates in random order
    (a random sample, or a shuffle), so there is nothing left to do here.
    """

    name = 'chance'

    def order(self, feasible, request):
        return list(feasible)
