"""first_fit: the first feasible candidate in the order the caller gave."""

from agentsched.algorithms import base


class FirstFit(base.Algorithm):

    name = 'first_fit'

    def select(self, candidates, request):
        # All candidates, in their given order: no sampling, no shuffle.
        feasible, counts = self.filter(list(candidates), request)
        if not feasible:
            raise base.NoValidCandidate(
                request, len(candidates), counts,
                {f.name: f.reason(request) for f in self.filters})
        return feasible

    def order(self, feasible, request):
        return feasible
