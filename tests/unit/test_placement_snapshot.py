"""The placement snapshot's columns and pools, from rows as
db/placement.candidate_batches gives them (no database here)."""

import gc
import json
import random
import threading
import time
import weakref

import pytest

from agentsched import algorithms
from agentsched import constants
from agentsched.services import placement

LB = constants.SERVICE_LOADBALANCER
VPN = constants.SERVICE_VPN


def row(agent, device, service_type=LB, owner=None, used=0,
        capabilities='{"ssl_offload": true}', alive=True):
    """A candidate_batches row: agent-<agent> and dev-<device>."""
    return ('agent-%d' % agent, 'host-%d' % agent,
            constants.AGENT_TYPE_LOADBALANCER, True, alive, agent % 3,
            'az%d' % (agent % 2),
            'dev-%02d' % device, 'lb-%d' % device, 'haproxy', service_type,
            capabilities, 10, used, constants.HEALTH_OK, True, None, owner)


def expected(values):
    values = list(values[:17])
    values[11] = json.loads(values[11])
    return algorithms.Candidate(*values)


ROWS = [row(0, 0), row(1, 0),            # two agents list device 0 (HA)
        row(0, 1, used=3), row(1, 2, VPN),
        row(2, 3, owner='pa'), row(3, 4, owner='pa', alive=False),
        row(1, 5, owner='pb'), row(2, 6, VPN, owner='pa')]


def test_every_pair_is_a_candidate_of_its_pool():
    columns, shared, private = placement._from_rows([ROWS[:3], ROWS[3:]])
    pools = dict(shared, **{'%s/%s' % key: pool
                            for key, pool in private.items()})
    assert {key: list(pool) for key, pool in pools.items()} == {
        LB: [expected(r) for r in ROWS[:3]],
        VPN: [expected(ROWS[3])],
        LB + '/pa': [expected(r) for r in ROWS[4:6]],
        LB + '/pb': [expected(ROWS[6])],
        VPN + '/pa': [expected(ROWS[7])]}
    # Each agent and each device once; their few-valued strings and their
    # capabilities shared.
    assert columns.agent_ids == tuple('agent-%d' % a for a in range(4))
    assert columns.device_ids == tuple('dev-%02d' % d for d in range(7))
    first, second = shared[LB][0], shared[LB][2]
    assert first.capabilities is second.capabilities
    assert first.service_type is second.service_type


def test_a_pool_is_a_sequence_built_when_read():
    _, shared, _ = placement._from_rows([ROWS])
    pool = shared[LB]
    assert len(pool) == 3
    assert pool[-1] == pool[2] == expected(ROWS[2])
    assert pool[1:] == [expected(ROWS[1]), expected(ROWS[2])]
    assert sorted(random.Random(1).sample(pool, 3)) == sorted(pool)
    assert type(pool[0]) is algorithms.Candidate


def test_a_read_lets_other_threads_run_every_yield_rows(monkeypatch):
    """A background reload gives up the interpreter (time.sleep(0)) before
    each YIELD_ROWS rows, whatever the fetches' size, and reads the same."""
    monkeypatch.setattr(placement, 'YIELD_ROWS', 3)
    slept = []
    monkeypatch.setattr(placement.time, 'sleep', slept.append)
    _, shared, private = placement._from_rows([ROWS[:7], ROWS[7:]])
    assert slept == [0] * 4     # 3 + 3 + 1 rows, then 1
    assert list(shared[LB]) == [expected(r) for r in ROWS[:3]]
    assert len(private) == 3


def test_a_claim_during_a_take_never_leaves_a_hole():
    """Another thread's claim (forget) between a take's look at what is
    built and its answer: every candidate is still there."""
    _, shared, _ = placement._from_rows([ROWS])
    pool = shared[LB]
    pool.take([0, 1])               # both built and kept
    build = pool._build

    def build_while_claimed(indexes):
        pool.forget(0)              # device 0's pairs: indexes 0 and 1
        return build(indexes)
    pool._build = build_while_claimed
    assert pool.take([0, 2]) == [expected(ROWS[0]), expected(ROWS[2])]


def _kept(pool):
    """The pair indexes whose candidates the pool keeps."""
    return [index for index, values in enumerate(pool._built or ())
            if values is not None]


def _snapshot(rows, max_age=10.0, read_seconds=0.1):
    class Fixed(placement.Snapshot):
        reads = 0

        def _read(self):
            self.reads += 1
            return placement._from_rows([rows]) + (0.0, read_seconds)
    return Fixed(None, 75, max_age)


def test_our_claims_count_in_every_pair_of_the_device():
    snapshot = _snapshot(ROWS)
    pool = snapshot.candidates(LB)
    snapshot.claimed('dev-00', 2)
    snapshot.claimed('dev-99', 2)   # not in the snapshot: nothing
    assert [c.used for c in pool] == [2, 2, 3]


@pytest.mark.parametrize('keep_built', [placement.KEEP_BUILT, 0])
def test_a_claim_shows_in_candidates_read_before_it(monkeypatch, keep_built):
    """Read, claim, read again: the second read sees the claim, whether the
    pool keeps what it built (within KEEP_BUILT) or builds each time."""
    monkeypatch.setattr(placement, 'KEEP_BUILT', keep_built)
    snapshot = _snapshot(ROWS)
    pool = snapshot.candidates(LB)
    assert [c.used for c in pool] == [0, 0, 3]
    snapshot.claimed('dev-00', 2)
    assert [c.used for c in pool] == [2, 2, 3]
    snapshot.claimed('dev-01', 1)
    assert [c.used for c in pool.take([2, 0])] == [4, 2]


def test_the_pools_keep_what_they_build_up_to_keep_built(monkeypatch):
    """A sample reads the candidates built for earlier samples (building 256
    a placement cost 0.8 ms), while the snapshot's pools keep fewer than
    KEEP_BUILT (their memory); the others are built each time, and a
    claim's forget() makes room again."""
    monkeypatch.setattr(placement, 'KEEP_BUILT', 2)
    snapshot = _snapshot(ROWS)
    pool = snapshot.candidates(LB)
    first = pool.take([0, 1, 2])
    again = pool.take([2, 1, 0])
    assert again == first[::-1]
    assert _kept(pool) == [0, 1]        # 2: over the budget
    vpn = snapshot.candidates(VPN)      # the budget is the snapshot's
    vpn.take([0])
    assert _kept(vpn) == []
    snapshot.claimed('dev-00', 1)       # pairs 0 and 1: forgotten
    assert pool._columns.kept == 0
    pool.take([2])
    assert _kept(pool) == [2]
    assert [c.used for c in pool.take([0, 1])] == [1, 1]


def test_kept_candidates_cost_the_garbage_collector_nothing():
    """What the pools keep (every pair at 100,000 agents) is out of the
    collector's sight: kept Candidates (a tuple's subclass, which it
    never stops tracking by itself) made each full collection traverse
    385,000 of them, 100-260 ms with every placing thread stopped."""
    snapshot = _snapshot(ROWS)
    pool = snapshot.candidates(LB)
    taken = pool.take([0, 1, 2])
    assert all(type(c) is algorithms.Candidate for c in taken)
    assert taken == [expected(values) for values in ROWS[:3]]
    assert _kept(pool) == [0, 1, 2]
    assert not any(gc.is_tracked(pool._built[i]) for i in _kept(pool))
    assert pool.take([0])[0] is pool._built[0]
    # Untracked, they are freed as any other: forgotten after a claim,
    # dropped before a read.
    snapshot.claimed('dev-00', 1)
    assert _kept(pool) == [2]
    snapshot.invalidate()
    snapshot.candidates(LB)
    assert pool._built is None
    gc.collect()



def test_claims_found_whatever_order_the_database_sorted_the_ids():
    """Ids sorted by a collation of the database's own, not Python's: a
    claim still counts."""
    rows = [row(0, 0), row(0, 1), row(0, 2)]
    for index, device_id in enumerate(('a-dev', 'B-dev', 'c-dev')):
        rows[index] = rows[index][:7] + (device_id,) + rows[index][8:]
    snapshot = _snapshot(rows)
    pool = snapshot.candidates(LB)
    for units, device_id in enumerate(('a-dev', 'B-dev', 'c-dev'), 1):
        snapshot.claimed(device_id, units)
    assert [(c.device_id, c.used) for c in pool] == [
        ('a-dev', 1), ('B-dev', 2), ('c-dev', 3)]


def test_a_long_read_spaces_the_reloads():
    """Reloaded every max(snapshot_max_age, READ_SHARE x the last read's
    duration): a read of 3 s at most every 30 s."""
    snapshot = _snapshot(ROWS, max_age=10.0, read_seconds=3.0)
    snapshot.candidates(LB)
    assert snapshot.max_age() == 3.0 * placement.READ_SHARE
    snapshot._loaded_at -= 20
    snapshot.candidates(LB)
    assert snapshot._reloading is None
    snapshot._loaded_at -= 11
    snapshot.candidates(LB)
    snapshot._reloading.join()
    assert snapshot.reads == 2
    quick = _snapshot(ROWS, max_age=10.0, read_seconds=0.1)
    quick.candidates(LB)
    assert quick.max_age() == 10.0


def test_an_algorithm_whose_select_takes_no_exclusion():
    """An algorithm of another package may override select() with the
    older signature: it gets a copy of the candidates left."""
    class FirstFit(algorithms.Algorithm):
        def select(self, candidates, request):
            return list(candidates)

        def order(self, feasible, request):
            return feasible
    _, shared, _ = placement._from_rows([ROWS])
    chosen = placement._select(FirstFit(), shared[LB], None,
                               lambda c: c.agent_id == 'agent-0')
    assert chosen == [expected(ROWS[1])]
    assert placement._select(FirstFit(), shared[LB], None, None) == [
        expected(r) for r in ROWS[:3]]


def _copy(rows):
    """The same rows with strings of their own, as a new read gives."""
    return [tuple(''.join(v) if isinstance(v, str) else v for v in r)
            for r in rows]


def test_a_reload_keeps_the_strings_it_already_has():
    """A reload takes the installed snapshot's ids, names and hosts where
    equal (the rows' copies are let go): a reload holds little more than
    one snapshot, not two. A device added or gone shifts the others: they
    are found all the same (agents: those before it)."""
    first, _, _ = placement._from_rows([ROWS])
    again = _copy(ROWS[:2]) + _copy([row(4, 1)]) + _copy(ROWS[3:])
    second, _, _ = placement._from_rows([again], first)
    assert second.device_ids == first.device_ids
    assert all(new is old for new, old in zip(
        second.device_ids + second.names, first.device_ids + first.names))
    assert second.agent_ids[:3] == ('agent-0', 'agent-1', 'agent-4')
    assert all(new is old for new, old in zip(
        second.agent_ids[:2] + second.hosts[:2],
        first.agent_ids[:2] + first.hosts[:2]))
    gone, _, _ = placement._from_rows([_copy(ROWS[:2] + ROWS[3:])], first)
    assert 'dev-01' not in gone.device_ids
    assert all(new is first.device_ids[first.device_ids.index(new)]
               for new in gone.device_ids)


def _timed_snapshot(rows, read_seconds):
    class Timed(placement.Snapshot):
        reads = 0

        def _read(self):
            self.reads += 1
            return placement._from_rows([rows]) + (time.monotonic(),
                                                    read_seconds)
    return Timed(None, 75, 10.0)


@pytest.mark.parametrize('read_seconds,reads', [(0.01, 3), (3.0, 1)])
def test_refusals_are_judged_again_only_where_reads_are_cheap(
        parsed_conf, read_seconds, reads):
    """Nothing fits: a refusal is judged again on a snapshot read after its
    request began; where a read takes more than CHEAP_READ, not sooner than
    READ_SHARE times its duration after the last began (a stream of
    refusals would keep a core reading 400,000 pairs)."""
    snapshot = _timed_snapshot(ROWS, read_seconds)
    snapshot.candidates(LB)      # read before the requests
    placer = placement.Placer(None, parsed_conf, snapshot)
    request = algorithms.PlacementRequest(
        'vip', LB, 1, {'capabilities': {'nothing_has_this': True}})
    for resource_id in ('r1', 'r2'):
        with pytest.raises(algorithms.NoValidCandidate) as info:
            placer.place(resource_id, request)
        assert 'among 3' in str(info.value)
    assert snapshot.reads == reads


def test_the_budget_counts_each_kept_candidate_once():
    """A slot filled twice (the same index twice in one take, or two
    threads building it at once) is one kept candidate."""
    snapshot = _snapshot(ROWS)
    pool = snapshot.candidates(LB)
    pool.take([0, 0, 2, 2])
    assert pool._columns.kept == 2
    assert sum(c is not None for c in pool._built) == 2
    snapshot.claimed('dev-00', 1)
    snapshot.claimed('dev-01', 1)
    assert pool._columns.kept == 0


def test_a_candidate_built_before_a_claim_is_not_kept():
    """A claim (another thread's) between a candidate's build and its
    keeping: the candidate's used is stale, and the next read must not get
    it from the kept ones."""
    snapshot = _snapshot(ROWS)
    pool = snapshot.candidates(LB)
    build = pool._build

    def build_then_claim(indexes):
        candidates = build(indexes)
        snapshot.claimed('dev-00', 2)   # pairs 0 and 1
        return candidates
    pool._build = build_then_claim
    assert [c.used for c in pool.take([0, 1, 2])] == [0, 0, 3]
    pool._build = build
    assert [c.used for c in pool.take([0, 1, 2])] == [2, 2, 3]
    assert pool._columns.kept == 3


def _read_by(how, snapshot):
    """Install a new snapshot the way a placement's does: a first read
    after invalidate(), a refusal's fresh(), a background reload."""
    if how == 'invalidate':
        snapshot.invalidate()
        snapshot.candidates(LB)
    elif how == 'fresh':
        snapshot.fresh(float('inf'))
    else:
        snapshot._reload()


@pytest.mark.parametrize('how', ['invalidate', 'fresh', 'reload'])
def test_a_read_begins_once_the_installed_snapshot_dropped_what_it_keeps(
        how):
    """Two snapshots' kept candidates are never held at once (80 MB each at
    400,000 pairs): before a read, the installed snapshot's pools forget
    what they keep and keep nothing more, placements meanwhile building
    what they read; the new snapshot keeps what it builds."""
    snapshot = _snapshot(ROWS)
    pool = snapshot.candidates(LB)
    pool.take([0, 1, 2])
    assert pool._columns.kept == 3
    during = []
    read = snapshot._read

    def look_then_read():
        during.append((pool._columns.kept, pool._built))
        pool.take([0])
        during.append(_kept(pool))
        return read()
    snapshot._read = look_then_read
    _read_by(how, snapshot)
    new_pool = snapshot.candidates(LB)
    assert during == [(0, None), []]
    assert new_pool is not pool
    new_pool.take([0])
    assert _kept(new_pool) == [0]
    assert new_pool._columns.kept == 1


@pytest.mark.parametrize('how', ['invalidate', 'fresh', 'reload'])
def test_a_failed_read_leaves_the_installed_snapshot_keeping(how):
    """A read that fails (the database away) leaves the installed
    snapshot serving, and keeping what it builds again: else every
    placement would build its whole sample until a read succeeds."""
    snapshot = _snapshot(ROWS)
    pool = snapshot.candidates(LB)
    pool.take([0, 1])

    def fail():
        raise RuntimeError('database away')
    snapshot._read = fail
    if how == 'reload':
        snapshot._reload()
    else:
        with pytest.raises(RuntimeError):
            _read_by(how, snapshot)
    assert pool._columns.kept == 0      # dropped before the read
    pool.take([0, 1])
    assert pool._columns.kept == 2
    assert _kept(pool) == [0, 1]


def test_a_failed_read_keeps_nothing_while_a_reload_reads():
    """A refusal's read fails while a background reload is still reading:
    the installed snapshot keeps nothing yet (two snapshots' candidates
    would be held at once); the reload installs, or keeps again if it
    fails too."""
    snapshot = _snapshot(ROWS)
    pool = snapshot.candidates(LB)
    reading = threading.Event()
    snapshot._reloading = threading.Thread(target=reading.wait)
    snapshot._reloading.start()
    try:
        def fail():
            raise RuntimeError('database away')
        snapshot._read = fail
        with pytest.raises(RuntimeError):
            snapshot.fresh(float('inf'))
        pool.take([0, 1])
        assert (pool._columns.kept, pool._built) == (0, None)
    finally:
        reading.set()
        snapshot._reloading.join()
    snapshot._reload()      # fails too: keeps again
    pool.take([0, 1])
    assert pool._columns.kept == 2


def test_a_snapshot_replaced_by_another_read_keeps_nothing():
    """Two reads at once (a background reload, and a refusal's fresh()
    read meanwhile): the snapshot the second install replaces drops what
    it kept too."""
    snapshot = _snapshot(ROWS)
    snapshot.candidates(LB)
    loaded = snapshot._read()          # the reload's read, not installed
    snapshot.fresh(float('inf'))       # another read installs meanwhile
    meanwhile = snapshot.candidates(LB)
    meanwhile.take([0, 1])
    assert meanwhile._columns.kept == 2
    with snapshot._lock:
        snapshot._install(*loaded)
    assert (meanwhile._columns.kept, meanwhile._built) == (0, None)


def test_a_claim_after_the_drop_counts_nothing_kept():
    """forget() on a pool that dropped what it kept (a claim while a
    reload reads) leaves the count at 0: a negative count would let a
    dropped snapshot keep again."""
    snapshot = _snapshot(ROWS)
    pool = snapshot.candidates(LB)
    pool.take([0, 1, 2])
    with snapshot._lock:
        snapshot._drop_kept()
    snapshot.claimed('dev-00', 1)
    assert pool._columns.kept == 0
    pool.take([0, 1, 2])
    assert (pool._columns.kept, pool._built) == (0, None)


def test_a_replaced_snapshot_is_freed_without_the_garbage_collector():
    """Nothing points back from a snapshot's columns to its pools: once
    replaced, its columns (100 MB at 100,000 agents) go at once, not at
    the next full collection."""
    snapshot = _snapshot(ROWS)
    snapshot.candidates(LB).take([0, 1])
    old = weakref.ref(snapshot._columns)
    gc.disable()
    try:
        snapshot.fresh(float('inf'))
        assert old() is None
    finally:
        gc.enable()


def test_failed_reloads_back_off():
    """A background reload that fails is tried again after RELOAD_RETRY,
    doubled at each failure in a row, not at the next placement: a
    database outage would otherwise start a read (and log a traceback)
    for every placement. A read that succeeds ends the back-off."""
    snapshot = _snapshot(ROWS, max_age=10.0)
    snapshot.candidates(LB)
    read = snapshot._read
    failures = []

    def fail():
        failures.append(1)
        raise RuntimeError('database away')

    def placement_now():
        snapshot.candidates(LB)
        if snapshot._reloading is not None:
            snapshot._reloading.join()

    snapshot._read = fail
    snapshot._loaded_at -= 11
    placement_now()
    assert len(failures) == 1
    placement_now()     # at once: waits for its back-off
    assert len(failures) == 1
    for failed, wait in ((1, placement.RELOAD_RETRY),
                         (2, 2 * placement.RELOAD_RETRY)):
        snapshot._loaded_at -= wait * 0.9
        placement_now()
        assert len(failures) == failed
        snapshot._loaded_at -= wait * 0.2
        placement_now()
        assert len(failures) == failed + 1
    snapshot._read = read
    snapshot._loaded_at -= 4 * placement.RELOAD_RETRY + 0.1
    placement_now()
    assert snapshot.loads == 2 and snapshot._failed_reloads == 0
