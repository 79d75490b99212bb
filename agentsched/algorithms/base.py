"""What every scheduling algorithm shares: its inputs, its failure, its stages.

A placement runs in three stages, as in Nomad's scheduler:
  1. feasibility: filters, cheapest first, each dropping the candidates that
     fail its one predicate and counting them under its name, so an empty
     result explains itself (NoValidCandidate);
  2. ranking: the algorithm orders the feasible candidates (the weighted
     algorithm through weighers);
  3. selection: the first of the order is the choice; the caller claims it
     in the database and falls back to the next ones if another scheduler
     won the race.
Large candidate sets are sampled first (see Algorithm.select): examining all
40,000 pairs of a 10,000-agent fleet costs milliseconds in Python.
"""

import abc
import collections.abc
import dataclasses
import random
import typing

from agentsched import constants
from agentsched import formats
from agentsched.algorithms import constraints

InvalidRequest = constraints.InvalidRequest

REQUIREMENT_KEYS = ('device_type', 'capabilities', 'availability_zone',
                    'private')

# Candidates examined per placement before falling back to all of them.
DEFAULT_SAMPLE_SIZE = 256
# Candidates built and filtered at a time when all of them are examined.
EXAMINE_CHUNK = 4096
# A sample of a sequence that builds its candidates (take(indexes)) is
# drawn as blocks of this many neighbours: reading neighbours' columns
# costs a third of reading scattered ones at 400,000 pairs (memory, not
# Python), and 16 draws cost less than 256.
SAMPLE_BLOCK = 16
# A sample is good enough when it holds at least this many feasible
# candidates: that many claim races would have to be lost in a row before
# the caller runs out of fallbacks.
MIN_FALLBACKS = 8
# A sample with too few is drawn again this many times larger, up to
# SAMPLE_STEPS draws in all, before every candidate is examined: a
# requirement that one candidate in a hundred meets finds enough in 2,048
# (milliseconds) rather than in every one of 400,000 pairs (a second).
SAMPLE_GROWTH = 8
SAMPLE_STEPS = 3


class Candidate(typing.NamedTuple):
    """One (agent, device) pair the agent reaches; the caller builds them.

    A tuple: cheap to build by the tens of thousands, immutable, and its
    fields are read at C speed in the filters' comprehensions. Read
    capabilities, never change it: one dict is shared by every candidate
    of a device kind (and what refers to a kept candidate is not seen by
    the garbage collector: services/placement.py).
    """
    agent_id: str
    host: str
    agent_type: str
    agent_admin_state_up: bool
    agent_alive: bool
    agent_load: int
    agent_availability_zone: typing.Optional[str]
    device_id: str
    device_name: str
    device_type: str
    service_type: str
    capabilities: dict
    capacity: int
    used: int
    device_health: str
    device_admin_state_up: bool
    device_availability_zone: typing.Optional[str]


@dataclasses.dataclass(frozen=True, slots=True)
class PlacementRequest:
    """What a resource needs. Checked when built: InvalidRequest says why.

    requirements: {'device_type': str|None, 'capabilities': {name:
    constraint}, 'availability_zone': str|None, 'private': bool|None};
    missing keys mean "any". Unknown keys are refused, so a misspelt
    requirement is not ignored. private: True, only the project's private
    devices; False, only shared ones; None (kept out of requirements, so
    stored requirements read as before), its private devices first when
    one fits, else shared ones (the caller, services/placement.py, picks
    the candidates accordingly).

    project_id: the project the resource belongs to: its private devices
    are candidates, no other project's are. None: shared devices only.
    """
    resource_type: str
    service_type: str
    units: int = 1
    requirements: dict = None
    project_id: typing.Optional[str] = None

    def __post_init__(self):
        if self.service_type not in constants.SERVICE_TYPES:
            raise InvalidRequest('service_type must be one of %s, not %r' % (
                ', '.join(constants.SERVICE_TYPES), self.service_type))
        if isinstance(self.units, bool) or not isinstance(self.units, int) \
                or self.units < 1:
            raise InvalidRequest('units must be a positive integer, not %r'
                                 % (self.units,))
        given = dict(self.requirements or {})
        unknown = sorted(set(given) - set(REQUIREMENT_KEYS))
        if unknown:
            raise InvalidRequest('unknown requirements %s; known: %s' % (
                ', '.join(unknown), ', '.join(REQUIREMENT_KEYS)))
        given.setdefault('device_type', None)
        given.setdefault('availability_zone', None)
        if given.get('private', None) is None:
            given.pop('private', None)
        elif not isinstance(given['private'], bool):
            raise InvalidRequest('private must be true, false or null, not '
                                 '%r' % (given['private'],))
        given['capabilities'] = dict(given.get('capabilities') or {})
        constraints.validate(given['capabilities'])
        object.__setattr__(self, 'requirements', given)

    @property
    def device_type(self):
        return self.requirements['device_type']

    @property
    def capabilities(self):
        return self.requirements['capabilities']

    @property
    def availability_zone(self):
        return self.requirements['availability_zone']

    @property
    def private(self):
        return self.requirements.get('private')


class NoValidCandidate(Exception):
    """No candidate passed the filters. str() says what was missing.

    counts: {filter name: candidates it rejected}, in filter order, for the
    filters that ran (each candidate counts once, under the first filter
    that rejected it). reasons: {filter name: the words for its rejects}.
    private: the candidates were the project's private devices, and the
    message says so. before: the refusal of the project's private devices
    that this one (of the shared ones) came after; the message says both.
    """

    def __init__(self, request, total, counts, reasons, private=False,
                 before=None):
        self.request = request
        self.total = total
        self.counts = dict(counts)
        self.reasons = dict(reasons)
        self.private = private
        self.text = self._text()
        if before is not None:
            self.text = '%s; %s' % (before.text, self.text)
        # The text becomes the resource's status description (a 255-char
        # column): cut it rather than lose it.
        super().__init__(formats.shorten(self.text))

    def _text(self):
        kind = self.request.resource_type
        owner = ' of project %s' % self.request.project_id
        if not self.total:
            return 'no valid candidate for %s: no agent reaches a %s%s ' \
                'device%s' % (kind, 'private ' if self.private else '',
                              self.request.service_type,
                              owner if self.private else '')
        parts = ['%d %s' % (count, self.reasons[name])
                 for name, count in self.counts.items() if count]
        return 'no valid candidate for %s among %d%s: %s' % (
            kind, self.total,
            ' on private devices' + owner if self.private else '',
            ', '.join(parts))

    def of_pool(self, private, before=None):
        """The same refusal, said of the project's private candidates
        (private) or of the shared ones after the private ones' (before)."""
        return NoValidCandidate(self.request, self.total, self.counts,
                                self.reasons, private, before)


class Filter(abc.ABC):
    """One feasibility predicate over candidates.

    Filters work on the whole list, not one candidate at a time: a list
    comprehension costs a few tens of nanoseconds per candidate, a method
    call per candidate several times that.
    """

    name = None  # the entry point name, used in counts and config

    def applies(self, request):
        """False when the request asks nothing of this filter (skip it)."""
        return True

    @abc.abstractmethod
    def filter_all(self, candidates, request):
        """The candidates that pass, in their given order (a new list)."""

    @abc.abstractmethod
    def reason(self, request):
        """Words following a count: '3 without 2 free units'."""

    def passes(self, candidate, request):
        return bool(self.filter_all([candidate], request))


class Weigher(abc.ABC):
    """One preference: a score per candidate, normalized, times multiplier.

    Scores are scaled to 0..1 across the candidate set (min to max), so
    weighers with different units add up; the multiplier then says how much
    this one counts, and its sign turns a preference into its opposite
    (spread with a positive multiplier, pack with a negative one).
    """

    name = None

    def __init__(self, multiplier=1.0):
        self.multiplier = float(multiplier)

    @abc.abstractmethod
    def raw_weights(self, candidates, request):
        """One number per candidate; higher is preferred."""

    def weigh(self, candidates, request):
        raw = self.raw_weights(candidates, request)
        low, high = min(raw), max(raw)
        if high == low:
            # Nothing to tell the candidates apart: no preference.
            return [0.0] * len(raw)
        scale = self.multiplier / (high - low)
        return [(value - low) * scale for value in raw]


class Algorithm(abc.ABC):
    """Filters, then ranks. Subclasses implement order().

    rng: a random.Random; tests pass a seeded one. Each algorithm gets its
    own so that schedulers in several processes draw independently.
    """

    name = None

    def __init__(self, filters=(), weighers=(), host_subset_size=1,
                 sample_size=DEFAULT_SAMPLE_SIZE, rng=None):
        self.filters = list(filters)
        self.weighers = list(weighers)
        self.host_subset_size = max(1, int(host_subset_size))
        self.sample_size = max(0, int(sample_size))
        self.rng = rng if rng is not None else random.Random()

    def select(self, candidates, request, exclude=None):
        """The feasible candidates in the order to try them; first = choice.

        candidates: a sequence (len() and indexing): a list, or a pool
        that builds each candidate when it is read (services/placement.py).
        With more candidates than sample_size, a uniform random sample of
        sample_size is filtered and ranked (Nomad's "limit"; a full shuffle
        and filter of 40,000 candidates costs 12 to 27 ms in CPython). The
        result then holds the feasible candidates of the sample only: as
        many fallbacks as anyone needs, and the best of the sample is among
        the best fraction of a percent of the fleet. Concurrent schedulers
        drawing different samples also collide less on one device. If the
        sample holds fewer than max(MIN_FALLBACKS, host_subset_size)
        feasible candidates (rare requirements), a sample SAMPLE_GROWTH
        times larger is drawn, SAMPLE_STEPS draws at most and none larger
        than half the candidates; then every candidate is examined,
        EXAMINE_CHUNK at a time, and the failure message always counts
        every candidate.

        exclude(candidate) -> True: leave it out, as if it were not among
        the candidates (a move's current device, candidates whose claims
        were lost); asked of the sample only, or of every candidate when
        all are examined, so excluding costs no pass over a large pool.
        Raises NoValidCandidate when none is feasible.
        """
        if not isinstance(candidates, collections.abc.Sequence):
            candidates = list(candidates)
        filters = self.filters
        sample = None
        for step in range(SAMPLE_STEPS):
            size = self.sample_size * SAMPLE_GROWTH ** step
            if not size or len(candidates) <= size or (
                    step and 2 * size > len(candidates)):
                break
            sample = self._sample(candidates, size)
            if exclude is not None:
                sample = [c for c in sample if not exclude(c)]
            feasible, counts = self.filter(sample, request)
            if len(feasible) >= max(MIN_FALLBACKS, self.host_subset_size):
                # In random order (see below): a pool's sample comes in
                # blocks of neighbours.
                self.rng.shuffle(feasible)
                return self.order(feasible, request)
        if sample is not None:
            # Too few: examine all. Each filter's pass costs about a
            # millisecond at 40,000 candidates, so run first the filters
            # that rejected most of the sample: the first pass leaves
            # little for the others, and a failure message then leads with
            # what is scarcest.
            filters = most_selective_first(filters, counts, len(sample))
        total, feasible, counts = self._examine_all(candidates, request,
                                                    filters, exclude)
        if not feasible:
            raise NoValidCandidate(
                request, total, counts,
                {f.name: f.reason(request) for f in self.filters})
        # order() gets its candidates in random order, sampled or not (the
        # sampled path shuffles above), so ties between equals are broken
        # at random.
        return self.order(self.rng.sample(feasible, len(feasible)), request)

    def _sample(self, candidates, size):
        """rng.sample(candidates, size); from a sequence that builds
        its items when read and can build many at once (take(indexes)),
        size of them rounded up to whole blocks of SAMPLE_BLOCK
        neighbours, the blocks drawn at random (services/placement.py's
        pools: their neighbours are devices in the order of their ids,
        random UUIDs, so a block is a random set of devices too, 16 of
        them where each device has one agent). Every candidate is equally
        likely to be in a sample either way; the sample is not in random
        order."""
        take = getattr(candidates, 'take', None)
        if take is None:
            return self.rng.sample(candidates, size)
        end = len(candidates)
        blocks = self.rng.sample(range(0, end, SAMPLE_BLOCK),
                                 -(-size // SAMPLE_BLOCK))
        return take([index for block in blocks
                     for index in range(block, min(block + SAMPLE_BLOCK,
                                                   end))])

    def _examine_all(self, candidates, request, filters, exclude):
        """(how many candidates were not excluded, the feasible ones,
        {filter name: rejected} in the order of filters for those that
        ran), EXAMINE_CHUNK candidates at a time: a pool that builds its
        candidates never has them all built at once, and the filters
        always get lists."""
        total, feasible, counts = 0, [], {}
        for start in range(0, len(candidates), EXAMINE_CHUNK):
            chunk = candidates[start:start + EXAMINE_CHUNK]
            if exclude is not None:
                chunk = [c for c in chunk if not exclude(c)]
            total += len(chunk)
            kept, rejected = self.filter(chunk, request, filters)
            feasible += kept
            for name, count in rejected.items():
                counts[name] = counts.get(name, 0) + count
        return total, feasible, {f.name: counts[f.name] for f in filters
                                 if f.name in counts}

    def filter(self, candidates, request, filters=None):
        """(feasible candidates in their given order, counts per filter).

        filters: defaults to self.filters, in their configured order.
        """
        counts = {}
        remaining = candidates
        for candidate_filter in (self.filters if filters is None
                                 else filters):
            if not remaining:
                break
            if not candidate_filter.applies(request):
                continue
            kept = candidate_filter.filter_all(remaining, request)
            counts[candidate_filter.name] = len(remaining) - len(kept)
            remaining = kept
        if remaining is candidates:
            remaining = list(candidates)
        return remaining, counts

    @abc.abstractmethod
    def order(self, feasible, request):
        """Rank feasible candidates (a non-empty list in random order)."""


def most_selective_first(filters, counts, examined):
    """filters sorted by the share of candidates each rejected of those it
    saw (counts from a run over `examined` candidates); those that did not
    run keep their order, after the others."""
    rates = {}
    reached = examined
    for name, rejected in counts.items():
        rates[name] = rejected / reached if reached else 0.0
        reached -= rejected
    return sorted(filters, key=lambda f: -rates.get(f.name, -1.0))
