"""Placing a resource: a snapshot of candidates, an algorithm, an atomic claim.

The algorithm ranks candidates from an in-memory snapshot of every (agent,
device) pair, reloaded at most every snapshot_max_age seconds; the claim in
the database (db/placement.py) has the last word. A claim lost to another
scheduler (its snapshot said free, the database says full) moves on to the
next candidate, a bounded number of times, with a fresh snapshot after the
list runs out. A placement costs no query per candidate.

Devices have an owner: shared (the provider's, project_id NULL) or private
to one project. The snapshot keeps their candidates apart, shared ones by
service type and private ones by service type and project, so a resource
only ever sees shared devices and its own project's private ones, whatever
the filters configured (ownership is not a filter an operator could leave
out), and a project without private devices pays one dict lookup. A
device's owner never changes, so the split is never stale; the claim
checks it again in the database all the same. requirements.private picks
among them: true, the project's private devices only; false, shared ones
only; absent, its private ones first when one of them fits, else shared.
"""

import json
import threading
import time

from oslo_log import log as logging
import sqlalchemy as sa
import tenacity

from agentsched import algorithms
from agentsched import liveness
from agentsched import metrics
from agentsched.db import placement as placement_db

LOG = logging.getLogger(__name__)


# The words of a NoValidCandidate for candidates whose claims were lost.
_CLAIMS_LOST = {'claim': 'lost to other schedulers'}


class ClaimLost(Exception):
    """Another scheduler took the capacity first."""


class AlreadyBound(Exception):
    """The resource has a binding: it was placed (by hand or elsewhere)."""


class Snapshot:
    """Candidates by service type (shared devices) and by service type and
    project (private devices), at most max_age seconds old."""

    def __init__(self, engine, agent_down_time, max_age):
        self._engine = engine
        self._down_time = agent_down_time
        self._max_age = max_age
        self._lock = threading.Lock()
        self._loaded_at = None
        self._by_service = {}  # service type -> shared devices' candidates
        self._private = {}     # (service type, project) -> its devices'
        self._positions = {}   # device_id -> [(list, index)] of its pairs
        self._reloading = None
        self.loads = 0         # how many snapshots were installed
        self.read_at = None    # when the installed one's read began

    def candidates(self, service_type, project_id=None):
        """The snapshot's list itself (not a copy: a placement must not
        cost a pass over every candidate); claims update it in place.
        project_id None: the shared devices' candidates; a project: its
        private devices' (empty if it has none).

        Only the first load is waited for. A stale snapshot is reloaded in
        the background meanwhile (tens of milliseconds with 40,000 pairs,
        which one placement in a thousand would otherwise pay).
        """
        with self._lock:
            self._refresh()
            if project_id is None:
                return self._by_service.get(service_type, [])
            return self._private.get((service_type, project_id), [])

    def pools(self, service_type, project_id):
        """(the shared devices' candidates, project_id's private devices'
        candidates, when the read of the snapshot they come from began
        (time.monotonic())), of one snapshot, as candidates() gives them."""
        with self._lock:
            self._refresh()
            return (self._by_service.get(service_type, []),
                    self._private.get((service_type, project_id), []),
                    self.read_at)

    def _refresh(self):
        if self._loaded_at is None:
            self._install(*self._read())
        elif time.monotonic() - self._loaded_at > self._max_age and (
                self._reloading is None or not self._reloading.is_alive()):
            self._loaded_at = time.monotonic()  # one reload at a time
            self._reloading = threading.Thread(
                target=self._reload, name='placement-snapshot', daemon=True)
            self._reloading.start()

    def claimed(self, device_id, units):
        """Count our own claim until the next load sees it in the table."""
        with self._lock:
            for candidates, index in self._positions.get(device_id, ()):
                candidate = candidates[index]
                candidates[index] = candidate._replace(
                    used=candidate.used + units)

    def invalidate(self):
        """The next placement waits for a fresh snapshot (after lost
        claims: this one misled us)."""
        with self._lock:
            self._loaded_at = None

    def _reload(self):
        try:
            loaded = self._read()
        except Exception:
            LOG.exception('Reloading the placement snapshot failed; the '
                          'next placement tries again')
            with self._lock:
                self._loaded_at = 0.0
            return
        with self._lock:
            self._install(*loaded)

    def _install(self, by_service, private, positions, read_at):
        self._by_service = by_service
        self._private = private
        self._positions = positions
        self._loaded_at = time.monotonic()
        self.read_at = read_at
        self.loads += 1

    def _read(self):
        read_at = time.monotonic()
        with self._engine.connect() as connection:
            # Each agent's liveness is judged in the query (the rule's SQL
            # twin), against this cutoff.
            rows = placement_db.candidate_rows(
                connection, liveness.alive_since(self._down_time))
        capabilities = {}
        by_service = {}
        private = {}
        positions = {}
        # One object per value of the few-valued text columns, shared by
        # every candidate: the filters then read a few hot strings (and
        # equal ones by identity) instead of a cold copy per candidate. A
        # sample of 256 of 40,000 candidates otherwise pays cache misses
        # per field per candidate (measured: a third of the algorithm).
        shared = {}.setdefault
        for row in rows:
            (agent_id, host, agent_type, agent_up, agent_alive, agent_load,
             agent_az, device_id, device_name, device_type, service_type,
             capabilities_json, capacity, used, health, device_up,
             device_az, owner) = row
            agent_type = shared(agent_type, agent_type)
            agent_az = shared(agent_az, agent_az)
            device_type = shared(device_type, device_type)
            service_type = shared(service_type, service_type)
            health = shared(health, health)
            device_az = shared(device_az, device_az)
            # Many agents list the same device (HA); parse its JSON once.
            if capabilities_json not in capabilities:
                capabilities[capabilities_json] = json.loads(
                    capabilities_json)
            if owner is None:
                candidates = by_service.setdefault(service_type, [])
            else:
                candidates = private.setdefault((service_type, owner), [])
            positions.setdefault(device_id, []).append(
                (candidates, len(candidates)))
            candidates.append(algorithms.Candidate(
                agent_id, host, agent_type, agent_up, agent_alive,
                agent_load, agent_az,
                device_id, device_name, device_type, service_type,
                capabilities[capabilities_json], capacity, used, health,
                device_up, device_az))
        return by_service, private, positions, read_at


def _refused_most(exc):
    """The filter that refused the most candidates ('claim' when claims
    were lost; 'no_candidates' when there were none): a metric's label."""
    if not exc.counts:
        return 'no_candidates'
    return max(exc.counts.items(), key=lambda item: item[1])[0]


class Placer:

    def __init__(self, engine, conf, snapshot=None):
        self._engine = engine
        self._conf = conf
        self._snapshot = snapshot or Snapshot(
            engine, conf.agent_down_time, conf.scheduler.snapshot_max_age)
        self._algorithms = {}

    def _algorithm(self, resource_type):
        if resource_type not in self._algorithms:
            self._algorithms[resource_type] = algorithms.load(
                self._conf, resource_type)
        return self._algorithms[resource_type]

    def place(self, resource_id, request, candidates_filter=None,
              claim=None):
        """_place, timed and counted (agentsched/metrics.py)."""
        started = time.perf_counter()
        outcome, reason = 'placed', ''
        try:
            return self._place(resource_id, request, candidates_filter,
                               claim)
        except algorithms.NoValidCandidate as exc:
            outcome, reason = 'no_valid_candidate', _refused_most(exc)
            raise
        except AlreadyBound:
            outcome = 'already_bound'
            raise
        except Exception:
            outcome = 'error'
            raise
        finally:
            metrics.placement(time.perf_counter() - started, outcome, reason)

    def _place(self, resource_id, request, candidates_filter=None,
               claim=None):
        """Claim capacity and bind the resource; return the Candidate.

        Candidates: the shared devices' and the request's project's private
        devices', as request.private says (the module's docstring).
        claim(connection, candidate, alive_since, now) -> bool: how to
        claim a candidate instead of claiming its capacity and binding the
        resource (a failover's move: the binding exists and changes), in
        one transaction; False if the candidate could not be claimed.
        Raises algorithms.NoValidCandidate (nothing fits; its text says
        what is missing) or AlreadyBound.
        """
        attempts = self._conf.scheduler.max_claim_attempts
        tried = set()
        started = time.monotonic()
        judged_on = []   # when the read of each attempt's snapshot began

        def attempt():
            refused = None   # the private devices' refusal, if they had one
            for private, candidates in self._pools(request, judged_on):
                try:
                    return self._attempt(resource_id, request, candidates,
                                         candidates_filter, claim, tried,
                                         attempts)
                except algorithms.NoValidCandidate as exc:
                    refused = exc.of_pool(private, None if private
                                          else refused)
            raise refused

        retrying = tenacity.Retrying(
            retry=tenacity.retry_if_exception_type(ClaimLost),
            stop=tenacity.stop_after_attempt(3), reraise=True)
        try:
            return retrying(attempt)
        except ClaimLost:
            raise algorithms.NoValidCandidate(
                request, len(tried), {'claim': len(tried)}, _CLAIMS_LOST)
        except algorithms.NoValidCandidate:
            if tried or judged_on[-1] >= started:
                raise
            # "Nothing fits" must not come from a snapshot read before this
            # request (a device linked or an agent revived since; a reload
            # installed meanwhile may have been read before it too): judge
            # again on a fresh one. Only failures pay for this reload.
            self._snapshot.invalidate()
            return retrying(attempt)

    def _pools(self, request, judged_on):
        """(private, candidates) in the order to try them: the project's
        private devices' unless requirements.private is false, then the
        shared devices' unless it is true; when it is absent, the private
        ones only if the project has some. Appends to judged_on when the
        read of their snapshot began."""
        shared, own, read_at = self._snapshot.pools(request.service_type,
                                                    request.project_id)
        judged_on.append(read_at)
        if request.project_id is None or request.private is False:
            return [(False, shared)]
        if request.private:
            return [(True, own)]
        return ([(True, own)] if own else []) + [(False, shared)]

    def _attempt(self, resource_id, request, candidates, candidates_filter,
                 claim, tried, attempts):
        """One round on one pool of candidates: the Candidate claimed;
        NoValidCandidate if none is feasible, ClaimLost if every claim of
        the round was lost."""
        if candidates_filter is not None:
            candidates = [c for c in candidates if candidates_filter(c)]
        remaining = candidates if not tried else [
            c for c in candidates
            if (c.agent_id, c.device_id) not in tried]
        algorithm = self._algorithm(request.resource_type)
        if not remaining and tried:
            # Every one was tried, and claims lost: say what the snapshot
            # (fresh since a lost claim) finds missing, else the claims.
            algorithm.select(candidates, request)
            raise algorithms.NoValidCandidate(
                request, len(candidates), {'claim': len(candidates)},
                _CLAIMS_LOST)
        ordered = algorithm.select(remaining, request)
        for candidate in ordered:
            tried.add((candidate.agent_id, candidate.device_id))
            if self._claim(resource_id, candidate, request, claim):
                return candidate
            if len(tried) % attempts == 0:
                break
        # The snapshot was stale for these devices: reload before the
        # next round.
        self._snapshot.invalidate()
        metrics.claim_retry()
        raise ClaimLost()

    def _claim(self, resource_id, candidate, request, claim=None):
        units = request.units
        now = liveness.utcnow()
        alive_since = liveness.alive_since(self._conf.agent_down_time)
        if claim is not None:
            with self._engine.begin() as connection:
                claimed = claim(connection, candidate, alive_since, now)
            if claimed:
                self._snapshot.claimed(candidate.device_id, units)
            return claimed
        if self._engine.dialect.name == 'postgresql':
            # A single statement there: autocommit spares the BEGIN and
            # COMMIT round trips, and it is atomic all the same.
            transaction = self._engine.connect().execution_options(
                isolation_level='AUTOCOMMIT')
        else:
            transaction = self._engine.begin()
        try:
            with transaction as connection:
                claimed = placement_db.claim_and_bind(
                    connection, resource_id, candidate.device_id,
                    candidate.agent_id, units, alive_since, now,
                    request.project_id)
        except sa.exc.IntegrityError:
            # The whole transaction, claim included, was undone.
            raise AlreadyBound(resource_id)
        if claimed:
            self._snapshot.claimed(candidate.device_id, units)
        return claimed
