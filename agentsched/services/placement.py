"""Placing a resource: a snapshot of candidates, an algorithm, an atomic claim.

The algorithm ranks candidates from an in-memory snapshot of every (agent,
device) pair, reloaded in the background every snapshot_max_age seconds
(or READ_SHARE times its read's duration, when that is longer); the claim
in the database (db/placement.py) has the last word. The snapshot holds
columns, each agent and each device once, and builds a pair's Candidate
when the algorithm reads it: a placement builds the few hundred it
samples, not the 400,000 of a 100,000-agent fleet. A claim lost to another
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

import array
import bisect
import collections.abc
import ctypes
import inspect
import itertools
import json
import threading
import time

from oslo_log import log as logging
import sqlalchemy as sa
import tenacity

from agentsched import algorithms
from agentsched import liveness
from agentsched import metrics
from agentsched.db import failover as failover_db
from agentsched.db import placement as placement_db

LOG = logging.getLogger(__name__)


# The words of a NoValidCandidate for candidates whose claims were lost.
_CLAIMS_LOST = {'claim': 'lost to other schedulers'}


class ClaimLost(Exception):
    """Another scheduler took the capacity first."""


class AlreadyBound(Exception):
    """The resource has a binding: it was placed (by hand or elsewhere)."""


# A snapshot is reloaded at most every snapshot_max_age seconds, and never
# sooner than this many times its last read took: at 400,000 pairs a read
# costs about a second, and reloading every 10 s would keep a tenth of a core
# busy or more on a loaded machine.
READ_SHARE = 10

# A snapshot read of at most this many seconds is cheap enough to repeat
# for each refusal (Snapshot.fresh); longer reads are spaced.
CHEAP_READ = 0.1

# A snapshot's pools keep up to this many of the Candidates they build
# (about 200 bytes each: 80 MB at most), the first ones built: building 256
# for each placement's sample cost 0.8 ms of CPU (in-process, on a slow
# machine), 0.16 ms once they are kept; with four placing threads, building
# half of each sample took a third of the interpreter. Every pair of a
# 100,000-agent fleet (400,000) is kept. A read drops what the installed
# snapshot keeps before it begins (Snapshot._drop_kept), so two snapshots'
# candidates are never held at once: the 400 MB of a server's memory leaves
# room for one's. Kept Candidates are untracked by the garbage collector
# (_untrack): a full collection traversed 385,000 of them in 100-260 ms,
# stopping every placing thread, several times as the pools filled after
# each reload (docs/benchmarks.md, open loop). The collector never stops
# tracking a Candidate by itself (a tuple's subclass, holding a dict);
# keeping plain tuples instead, made Candidates when taken, cost 0.1 ms a
# placement.
KEEP_BUILT = 400000

# After a background reload failed, the next one waits this long, doubled
# at each failure in a row up to the snapshot's max_age: a database outage
# costs one read (and its log line) per back-off, not one per placement.
RELOAD_RETRY = 0.5

# A read (a background reload, while placements run) lets other threads
# have the interpreter every this many rows: else each of a placement's
# waits for the database costs it up to the switch interval (5 ms) to get
# the interpreter back while a read runs (seconds at 400,000 pairs).
YIELD_ROWS = 256

# tuple.__new__ builds a Candidate at C speed; Candidate(...) adds a Python
# call per candidate.
_new_tuple = tuple.__new__
Candidate = algorithms.Candidate


def _untracker():
    """CPython's PyObject_GC_UnTrack (the garbage collector no longer looks
    at an object: always memory-safe, but a reference cycle through it
    would never be collected), or, elsewhere, a no-op."""
    try:
        untrack = ctypes.pythonapi.PyObject_GC_UnTrack
    except AttributeError:   # not CPython
        return lambda candidate: None
    untrack.argtypes, untrack.restype = (ctypes.py_object,), None
    return untrack


# A kept Candidate refers to strings, numbers and its device kind's
# capabilities, never back to anything that refers to it: no cycle.
_untrack = _untracker()


class _Columns:
    """The snapshot's agents and devices, each once, a tuple (or an array)
    per field; the devices in the order of their ids (as the database
    sorts them). An agent's few-valued fields are one shared tuple per
    distinct combination (its kind), and so are a device's: building a
    candidate then reads 9 places in memory, not 17.

    Tuples and arrays, not lists: the garbage collector stops looking into
    tuples of strings and numbers, and never looks into arrays, where it
    would read every one of a million objects at each full collection.
    A Candidate per (agent, device) pair took +675 MB and 3.6 s of CPU a
    read at 400,000 pairs.
    """

    def __init__(self):
        self.agent_ids, self.hosts, self.agent_kinds = [], [], []
        self.loads = array.array('q')
        self.device_ids, self.names, self.device_kinds = [], [], []
        self.capacities, self.used = array.array('q'), array.array('q')
        # How many Candidates the pools keep, and the most they may
        # (KEEP_BUILT; 0 once dropped), under the lock: each placing thread
        # keeps what it built.
        self.kept = 0
        self.budget = KEEP_BUILT
        self.keeping = threading.Lock()

    def read(self):
        """The reading is done: lists become tuples (see above)."""
        for name, value in vars(self).items():
            if isinstance(value, list):
                setattr(self, name, tuple(value))

    def device_index(self, device_id):
        """The device's index, or None if the snapshot has no such device."""
        ids = self.device_ids
        index = bisect.bisect_left(ids, device_id)
        if index < len(ids) and ids[index] == device_id:
            return index
        try:
            # The database sorted the ids unlike Python would (a collation
            # of its own): look at each.
            return ids.index(device_id)
        except ValueError:
            return None


class Pool(collections.abc.Sequence):
    """The candidates of one pool (a service type's shared devices, or a
    project's private ones), each built when it is read: an algorithm
    samples a few hundred of them (Algorithm.select)."""

    def __init__(self, columns, service_type):
        self._columns = columns
        self._service_type = service_type
        self.agents = array.array('I')   # per pair, its agent's index
        # and its device's, ascending: a device's pairs are neighbours
        # (_from_rows reads them one after the other).
        self.devices = array.array('I')
        # What it built and keeps (KEEP_BUILT), by pair index (a list: a
        # dict's lookups cost a sample more than building it).
        self._built = None

    def __len__(self):
        return len(self.agents)

    def __getitem__(self, index):
        if index.__class__ is slice:
            return self.take(range(*index.indices(len(self))))
        return self.take((index,))[0]

    def __iter__(self):
        for start in range(0, len(self), 4096):
            yield from self.take(range(start, min(start + 4096, len(self))))

    def take(self, indexes):
        """The candidates at these indexes (what Algorithm.select asks for
        its sample), each built once while the snapshot keeps fewer than
        its budget (KEEP_BUILT)."""
        built = self._built
        # Read once: a claim's forget() (another thread) may empty a slot
        # between two reads.
        taken = ([None] * len(indexes) if built is None
                 else [built[index] for index in indexes])
        missing = [at for at, candidate in enumerate(taken)
                   if candidate is None]
        if missing:
            indexes = [indexes[at] for at in missing]
            fresh = self._build(indexes)
            for at, candidate in zip(missing, fresh):
                taken[at] = candidate
            columns = self._columns
            if columns.kept < columns.budget:   # a hint: checked below
                self._keep(indexes, fresh)
        return taken

    def _keep(self, indexes, candidates):
        """Keep the candidates just built, while the snapshot keeps fewer
        than its budget (KEEP_BUILT): each slot counted once (another
        thread may have filled it meanwhile), and none whose device a claim
        changed since it was built (its forget() came before: the
        candidate's used is stale). Kept, out of the garbage collector's
        sight (_untrack)."""
        columns = self._columns
        devices, used = self.devices, columns.used
        with columns.keeping:
            room = columns.budget - columns.kept
            if room <= 0:
                return
            built = self._built
            if built is None:
                built = self._built = [None] * len(self.agents)
            for index, candidate in zip(indexes, candidates):
                if room <= 0:
                    break
                if built[index] is None and \
                        candidate.used == used[devices[index]]:
                    _untrack(candidate)
                    built[index] = candidate
                    room -= 1
            columns.kept = columns.budget - room

    def drop_kept(self):
        """Forget what it keeps (the caller holds the columns' lock)."""
        self._built = None

    def forget(self, device):
        """The device's used units changed (a claim, which changed the
        column first): its candidates are built again when next read."""
        if self._built is None:   # a hint: read again below
            return
        devices = self.devices
        with self._columns.keeping:
            # Read under the lock: drop_kept() may have dropped it and
            # counted nothing kept.
            built = self._built
            if built is None:
                return
            for index in range(bisect.bisect_left(devices, device),
                               bisect.bisect_right(devices, device)):
                if built[index] is not None:
                    built[index] = None
                    self._columns.kept -= 1

    def _build(self, indexes):
        """The candidates at these indexes, built in one loop: about a
        microsecond each (3 on a slow machine)."""
        c = self._columns
        agents, devices, service_type = (self.agents, self.devices,
                                         self._service_type)
        agent_ids, hosts, agent_kinds, loads = (
            c.agent_ids, c.hosts, c.agent_kinds, c.loads)
        device_ids, names, device_kinds, capacities, used = (
            c.device_ids, c.names, c.device_kinds, c.capacities, c.used)
        built = []
        for index in indexes:
            agent = agents[index]
            device = devices[index]
            agent_type, agent_up, agent_alive, agent_zone = \
                agent_kinds[agent]
            (device_type, capabilities, health, device_up,
             device_zone) = device_kinds[device]
            built.append(_new_tuple(Candidate, (
                agent_ids[agent], hosts[agent], agent_type, agent_up,
                agent_alive, loads[agent], agent_zone,
                device_ids[device], names[device], device_type,
                service_type, capabilities, capacities[device],
                used[device], health, device_up, device_zone)))
        return built


def _yielding(batches):
    """The batches' rows, YIELD_ROWS at a time, other threads let run
    before each (time.sleep(0) gives up the interpreter)."""
    for rows in batches:
        for start in range(0, len(rows), YIELD_ROWS):
            time.sleep(0)
            yield rows[start:start + YIELD_ROWS]


def _from_rows(batches, previous=None):
    """(columns, {service type: Pool of its shared devices}, {(service
    type, project): Pool of its private devices}) of candidate_batches'
    rows.

    previous: the installed snapshot's columns, whose strings (ids, names,
    hosts) the new ones take where equal: the rows' own then go as soon as
    their batch is read, and a reload adds little more than the columns'
    slots to the memory the installed snapshot holds (at 400,000 pairs
    without it: old and new, twice the snapshot, at every reload).
    """
    if previous is None:
        previous = _Columns()
        previous.read()
    old_agents, old_hosts = previous.agent_ids, previous.hosts
    old_devices, old_names = previous.device_ids, previous.names
    shift = 0   # where the previous columns have this device: device + shift
    columns = _Columns()
    by_service = {}
    private = {}
    agents = {}        # agent id -> its index, while reading
    device_kinds = {}  # (fields, capabilities as JSON) -> the kind
    # One object per value of the few-valued fields, shared by every
    # candidate: the filters then read a few hot objects (and equal
    # strings by identity) instead of a cold copy per candidate. A sample
    # of 256 of 40,000 candidates otherwise pays cache misses per field per
    # candidate (measured: a third of the algorithm).
    shared = {}.setdefault
    last_device = pool = None
    device = -1
    for rows in _yielding(batches):
        for (agent_id, host, agent_type, agent_up, agent_alive, agent_load,
             agent_zone, device_id, device_name, device_type, service_type,
             capabilities, capacity, used, health, device_up,
             device_zone, owner) in rows:
            agent = agents.get(agent_id)
            if agent is None:
                agent = agents[agent_id] = len(columns.agent_ids)
                # Agents come in the same order as before, unless devices
                # came or went.
                if agent < len(old_agents) and \
                        old_agents[agent] == agent_id:
                    agent_id = old_agents[agent]
                    if old_hosts[agent] == host:
                        host = old_hosts[agent]
                columns.agent_ids.append(agent_id)
                columns.hosts.append(host)
                kind = (agent_type, agent_up, agent_alive, agent_zone)
                columns.agent_kinds.append(shared(kind, kind))
                columns.loads.append(agent_load)
            if device_id != last_device:
                # A device's pairs come one after the other
                # (candidate_batches): the first one adds it.
                last_device = device_id
                device += 1
                before = device + shift
                if before >= len(old_devices) or \
                        old_devices[before] != device_id:
                    before = bisect.bisect_left(old_devices, device_id)
                    shift = before - device
                if before < len(old_devices) and \
                        old_devices[before] == device_id:
                    device_id = old_devices[before]
                    if old_names[before] == device_name:
                        device_name = old_names[before]
                columns.device_ids.append(device_id)
                columns.names.append(device_name)
                key = (device_type, capabilities, health, device_up,
                       device_zone)
                kind = device_kinds.get(key)
                if kind is None:
                    # Its capabilities parsed once, and its strings shared
                    # with the other kinds'.
                    kind = device_kinds[key] = (
                        shared(device_type, device_type),
                        json.loads(capabilities), shared(health, health),
                        device_up, shared(device_zone, device_zone))
                columns.device_kinds.append(kind)
                columns.capacities.append(capacity)
                columns.used.append(used)
                pools, key = ((by_service, service_type) if owner is None
                              else (private, (service_type, owner)))
                pool = pools.get(key)
                if pool is None:
                    service_type = shared(service_type, service_type)
                    pool = pools[key] = Pool(columns, service_type)
            pool.agents.append(agent)
            pool.devices.append(device)
    columns.read()
    return columns, by_service, private


class Snapshot:
    """Candidates by service type (shared devices) and by service type and
    project (private devices), at most max_age seconds old (or READ_SHARE
    times its read's duration, when that is longer)."""

    def __init__(self, engine, agent_down_time, max_age):
        self._engine = engine
        self._down_time = agent_down_time
        self._max_age = max_age
        self._lock = threading.Lock()
        self._loaded_at = None
        self._columns = None
        self._by_service = {}  # service type -> shared devices' Pool
        self._private = {}     # (service type, project) -> its devices'
        self._reloading = None
        self._failed_reloads = 0   # in a row, for the back-off
        self.loads = 0         # how many snapshots were installed
        self.read_at = None    # when the installed one's read began
        self.read_seconds = 0.0  # how long the installed one's read took
        # The installed one was read as the server started: see fresh().
        self._read_at_start = False

    def candidates(self, service_type, project_id=None):
        """The snapshot's Pool itself (candidates built as they are read,
        never a list of every one: a placement must not cost a pass over
        every candidate); claims update it in place. project_id None: the
        shared devices' candidates; a project: its private devices' (empty
        if it has none).

        Only the first load is waited for. A stale snapshot is reloaded in
        the background meanwhile (tenths of a second with 40,000 pairs,
        which one placement in a thousand would otherwise pay).
        """
        with self._lock:
            self._refresh()
            if project_id is None:
                return self._by_service.get(service_type, ())
            return self._private.get((service_type, project_id), ())

    def pools(self, service_type, project_id):
        """(the shared devices' candidates, project_id's private devices'
        candidates, when the read of the snapshot they come from began
        (time.monotonic())), of one snapshot, as candidates() gives them."""
        with self._lock:
            self._refresh()
            return (self._by_service.get(service_type, ()),
                    self._private.get((service_type, project_id), ()),
                    self.read_at)

    def load_in_background(self):
        """The first read, in a thread of its own, unless one was read:
        a placement meanwhile waits for it, as it would for its own."""
        def load():
            try:
                with self._lock:
                    if self._loaded_at is None:
                        self._read_and_install()
                        self._read_at_start = True
                        LOG.info('Placement snapshot read: %d candidates '
                                 'in %.1f s', self._size(),
                                 self.read_seconds)
            except Exception:
                LOG.exception('Reading the placement snapshot failed; the '
                              'first placement reads it again')
        threading.Thread(target=load, name='placement-snapshot',
                         daemon=True).start()

    def _every_pool(self):
        """Every pool of the installed snapshot, shared and private."""
        return itertools.chain(self._by_service.values(),
                               self._private.values())

    def _size(self):
        return sum(len(pool) for pool in self._every_pool())

    def max_age(self):
        """Seconds the installed snapshot serves before a reload."""
        return max(self._max_age, READ_SHARE * self.read_seconds)

    def _refresh(self):
        if self._loaded_at is None:
            self._read_and_install()
        elif time.monotonic() - self._loaded_at > self.max_age() and (
                self._reloading is None or not self._reloading.is_alive()):
            self._loaded_at = time.monotonic()  # one reload at a time
            self._reloading = threading.Thread(
                target=self._reload, name='placement-snapshot', daemon=True)
            self._reloading.start()

    def claimed(self, device_id, units):
        """Count our own claim until the next load sees it in the table."""
        with self._lock:
            if self._columns is None:
                return
            device = self._columns.device_index(device_id)
            if device is not None:
                self._columns.used[device] += units
                for pool in self._every_pool():
                    pool.forget(device)

    def fresh(self, since):
        """Install a snapshot whose read began at or after since
        (time.monotonic()) unless the installed one's did; True if the
        installed one now did.

        One read serves every refusal waiting for it (each waits on the
        lock, then finds it read after it began). Where a read takes more
        than CHEAP_READ seconds, refusals are spaced as reloads are: no new
        read sooner than READ_SHARE times the last one's duration after it
        began (False then: the refusal stands on a snapshot at most that
        old). A stream of requests that nothing fits (a tenant's, a
        failover with no room left) would otherwise keep a core reading,
        seconds a read at 400,000 pairs. Not after the read made as the
        server started (load_in_background): that one may have found every
        agent dead (their heartbeats stale after an outage of the servers),
        and the first refusal reads again.
        """
        with self._lock:
            if self.read_at is not None:
                if self.read_at >= since:
                    return True
                if self.read_seconds > CHEAP_READ and (
                        not self._read_at_start) and (
                        time.monotonic() - self.read_at <
                        READ_SHARE * self.read_seconds):
                    return False
            self._read_and_install()
            return True

    def invalidate(self):
        """The next placement waits for a fresh snapshot (after lost
        claims: this one misled us)."""
        with self._lock:
            self._loaded_at = None

    def _reload(self):
        with self._lock:
            self._drop_kept()
        try:
            loaded = self._read()
        except Exception:
            with self._lock:
                self._keep_again()
                self._failed_reloads += 1
                retry = min(self.max_age(), RELOAD_RETRY * 2 ** (
                    self._failed_reloads - 1))
                # Due again retry seconds from now.
                self._loaded_at = time.monotonic() - self.max_age() + retry
            LOG.exception('Reloading the placement snapshot failed; the '
                          'installed one serves on, a placement tries '
                          'again in %.1f s', retry)
            return
        with self._lock:
            self._install(*loaded)

    def _read_and_install(self):
        """A read in the caller's turn (it holds the lock); if it fails,
        the installed snapshot, still serving, keeps again."""
        self._drop_kept()
        try:
            loaded = self._read()
        except Exception:
            self._keep_again()
            raise
        self._install(*loaded)

    def _install(self, columns, by_service, private, read_at, read_seconds):
        self._drop_kept()   # another read may have installed one meanwhile
        self._columns = columns
        self._by_service = by_service
        self._private = private
        self._loaded_at = time.monotonic()
        self._failed_reloads = 0
        self.read_at = read_at
        self.read_seconds = read_seconds
        self._read_at_start = False
        self.loads += 1

    def _drop_kept(self):
        """The installed snapshot's pools forget what they keep, and keep
        nothing more (the caller holds the lock): before a read, and when
        another replaces it, so that two snapshots' candidates never take
        memory at once (80 MB at 400,000 pairs). Placements meanwhile
        build what they read."""
        columns = self._columns
        if columns is None:
            return
        with columns.keeping:
            columns.budget = columns.kept = 0
            for pool in self._every_pool():
                pool.drop_kept()

    def _keep_again(self):
        """A read failed: the installed snapshot serves on, and its pools
        keep what they build again (the caller holds the lock), unless a
        background reload is still reading (it installs or calls this)."""
        reloading = self._reloading
        if reloading is not None and reloading.is_alive() and \
                reloading is not threading.current_thread():
            return
        columns = self._columns
        if columns is not None:
            with columns.keeping:
                columns.budget = KEEP_BUILT

    def _read(self):
        read_at = time.monotonic()
        with self._engine.connect() as connection:
            # Each agent's liveness is judged in the query (the rule's SQL
            # twin), against this cutoff.
            columns, by_service, private = _from_rows(
                placement_db.candidate_batches(
                    connection, liveness.alive_since(self._down_time)),
                self._columns)
        return (columns, by_service, private, read_at,
                time.monotonic() - read_at)


def _select(algorithm, candidates, request, exclude):
    """algorithm.select with an exclusion (None: none). An algorithm of
    another package whose select() takes no exclude gets a copy of the
    candidates left, as every algorithm did before."""
    if exclude is None:
        return algorithm.select(candidates, request)
    if 'exclude' in inspect.signature(algorithm.select).parameters:
        return algorithm.select(candidates, request, exclude=exclude)
    return algorithm.select([c for c in candidates if not exclude(c)],
                            request)


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

    def warm(self, resource_types):
        """Load what the first placement would otherwise load and wait
        for: each resource type's algorithm (stevedore: 0.1 s), then, in
        the background, the snapshot (a second or more at 400,000
        pairs)."""
        for resource_type in resource_types:
            self._algorithm(resource_type)
        self._snapshot.load_in_background()

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
        except failover_db.BindingChanged:
            # A move's claim found the resource rebound or being deleted
            # since its failover read it: someone else handles it.
            outcome = 'skipped'
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
            # again on a fresh one. Only failures pay for this reload, and
            # not always where reads are long (Snapshot.fresh).
            if not self._snapshot.fresh(started):
                raise
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
        algorithm = self._algorithm(request.resource_type)

        def excluded(candidate):
            return not candidates_filter(candidate)

        def excluded_or_tried(candidate):
            return ((candidate.agent_id, candidate.device_id) in tried or
                    (candidates_filter is not None and
                     not candidates_filter(candidate)))
        # The algorithm asks these of its sample, not of every candidate
        # (copying 400,000 candidates cost a move 25-30 ms).
        exclude = None if candidates_filter is None else excluded
        try:
            ordered = _select(algorithm, candidates, request,
                              excluded_or_tried if tried else exclude)
        except algorithms.NoValidCandidate as exc:
            if exc.total or not tried:
                raise
            # Every one left was tried, and claims lost: say what the
            # snapshot (fresh since a lost claim) finds missing, else the
            # claims. The pool is small: a round's claims covered it.
            _select(algorithm, candidates, request, exclude)
            total = sum(1 for c in candidates
                        if exclude is None or not exclude(c))
            raise algorithms.NoValidCandidate(
                request, total, {'claim': total}, _CLAIMS_LOST)
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
