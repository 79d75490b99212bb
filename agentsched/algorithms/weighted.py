"""weighted: the filter and weigher pipeline, as Nova's filter scheduler.

Scores are the sum over the configured weighers of their normalized weight
times their multiplier. The first candidate is drawn at random among the
best host_subset_size: with several schedulers placing at once, always
taking the single best sends them all to the same device, and all but one
lose the claim race.
"""

import operator

from agentsched.algorithms import base


class Weighted(base.Algorithm):

    name = 'weighted'

    def scores(self, feasible, request):
        """The total score of each feasible candidate, in their order."""
        total = [0.0] * len(feasible)
        for weigher in self.weighers:
            if weigher.multiplier:
                total = list(map(operator.add, total,
                                 weigher.weigh(feasible, request)))
        return total

    def order(self, feasible, request):
        scores = self.scores(feasible, request)
        # Stable even in reverse: equal scores keep their random order.
        ranked = sorted(range(len(feasible)), key=scores.__getitem__,
                        reverse=True)
        ordered = [feasible[i] for i in ranked]
        subset = min(self.host_subset_size, len(ordered))
        if subset > 1:
            ordered.insert(0, ordered.pop(self.rng.randrange(subset)))
        return ordered
