"""Algorithms: what they keep, how they order it, how they fail, loading."""

import collections.abc
import random

from oslo_config import cfg
import pytest
import stevedore

from agentsched import algorithms
from agentsched import constants
from agentsched.algorithms import base
from agentsched.algorithms import chance
from agentsched.algorithms import least_loaded
from agentsched.algorithms import loader
from agentsched.algorithms import weighted
from agentsched.conf import scheduler as scheduler_conf
from tests.unit.test_filters import candidate
from tests.unit.test_filters import request

FILTERS = loader.load_filters(scheduler_conf.DEFAULT_FILTERS)
WEIGHERS = loader.load_weighers(scheduler_conf.DEFAULT_WEIGHERS,
                                scheduler_conf.DEFAULT_MULTIPLIERS)


def make(cls, seed=1, **kwargs):
    kwargs.setdefault('filters', FILTERS)
    return cls(rng=random.Random(seed), **kwargs)


def ids(ordered):
    return [c.device_id for c in ordered]


def fleet():
    """Six feasible devices (ids f0..f5, used = 0, 2, 4, ...) and four that
    fail one filter each."""
    feasible = [candidate(device_id='f%d' % i, used=2 * i, capacity=20,
                          agent_load=i) for i in range(6)]
    infeasible = [candidate(device_id='dead', agent_alive=False),
                  candidate(device_id='full', used=10),
                  candidate(device_id='down',
                            device_health=constants.HEALTH_DOWN),
                  candidate(device_id='vpn', service_type='VPN')]
    return feasible + infeasible


@pytest.mark.parametrize('cls', [chance.Chance, least_loaded.LeastLoaded,
                                 weighted.Weighted])
def test_every_algorithm_returns_exactly_the_feasible(cls):
    ordered = make(cls, weighers=WEIGHERS).select(fleet(), request())
    assert sorted(ids(ordered)) == ['f%d' % i for i in range(6)]


def test_chance_is_random_and_replayable():
    cs = fleet()
    first = {ids(make(chance.Chance, seed).select(cs, request()))[0]
             for seed in range(50)}
    assert len(first) == 6
    assert make(chance.Chance, 3).select(cs, request()) == \
        make(chance.Chance, 3).select(cs, request())


def test_least_loaded_ascending_share_ties_random():
    cs = [candidate(device_id='half', used=5, capacity=10),
          candidate(device_id='tenth', used=10, capacity=100),
          candidate(device_id='tie-a', used=1, capacity=4),
          candidate(device_id='tie-b', used=2, capacity=8)]
    orders = {tuple(ids(make(least_loaded.LeastLoaded, seed).select(
        cs, request()))) for seed in range(30)}
    assert orders == {('tenth', 'tie-a', 'tie-b', 'half'),
                      ('tenth', 'tie-b', 'tie-a', 'half')}


def test_weighted_orders_by_score():
    algorithm = make(weighted.Weighted, weighers=WEIGHERS)
    # device_load dominates agent_load (1.0 vs 0.5): emptiest first.
    assert ids(algorithm.select(fleet(), request())) == [
        'f0', 'f1', 'f2', 'f3', 'f4', 'f5']


def test_weighted_prefers_ok_over_freer_degraded():
    cs = [candidate(device_id='degraded-empty', used=0,
                    device_health=constants.HEALTH_DEGRADED),
          candidate(device_id='ok-busy', used=9, agent_load=100)]
    assert ids(make(weighted.Weighted, weighers=WEIGHERS).select(
        cs, request())) == ['ok-busy', 'degraded-empty']


def test_weighted_packs_with_negative_multiplier():
    packing = loader.load_weighers(['device_load'], {'device_load': -1.0})
    assert ids(make(weighted.Weighted, weighers=packing).select(
        fleet(), request())) == ['f5', 'f4', 'f3', 'f2', 'f1', 'f0']


def test_weighted_without_weighers_is_random():
    firsts = {ids(make(weighted.Weighted, seed).select(fleet(), request()))[0]
              for seed in range(50)}
    assert len(firsts) == 6


def test_host_subset_size_picks_among_the_best():
    picks = set()
    for seed in range(60):
        ordered = ids(make(weighted.Weighted, seed, weighers=WEIGHERS,
                           host_subset_size=3).select(fleet(), request()))
        picks.add(ordered[0])
        # The others follow by score.
        rest = ['f%d' % i for i in range(6)]
        rest.remove(ordered[0])
        assert ordered[1:] == rest
    assert picks == {'f0', 'f1', 'f2'}


def test_no_valid_candidate_counts_and_words():
    cs = fleet()
    req = request(device_type='haproxy', capabilities={'ssl_offload': True})
    with pytest.raises(base.NoValidCandidate) as caught:
        make(weighted.Weighted, weighers=WEIGHERS).select(cs, req)
    error = caught.value
    assert error.counts == {'agent_alive': 1, 'agent_serves': 0,
                            'service_type': 1, 'device_healthy': 1,
                            'device_type': 0, 'capacity': 1,
                            'capabilities': 6}
    assert str(error) == (
        'no valid candidate for vip among 10: 1 on a dead or admin-down '
        'agent, 1 on a device that does not serve LOADBALANCER, 1 on a '
        'down, unknown-health or admin-down device, 1 without 1 free unit, '
        '6 without ssl_offload')


def test_no_valid_candidate_without_candidates_and_length_cap():
    with pytest.raises(base.NoValidCandidate,
                       match='^no valid candidate for vip: no agent reaches '
                             'a LOADBALANCER device$'):
        make(chance.Chance).select([], request())
    long_names = {'capability_%02d_with_a_long_name' % i: True
                  for i in range(20)}
    with pytest.raises(base.NoValidCandidate) as caught:
        make(chance.Chance).select([candidate()],
                                   request(capabilities=long_names))
    # Cut within the column, at a word (formats.shorten), and says so.
    assert len(str(caught.value)) <= constants.MAX_STRING_LENGTH
    assert str(caught.value).endswith('_with_a_long_name...')


def test_large_sets_are_sampled():
    cs = [candidate(device_id=str(i), used=i % 10) for i in range(5000)]
    algorithm = make(least_loaded.LeastLoaded, sample_size=100)
    ordered = algorithm.select(cs, request())
    assert len(ordered) == 100
    assert [c.used for c in ordered] == sorted(c.used for c in ordered)
    # 0: every candidate, exactly.
    ordered = make(least_loaded.LeastLoaded, sample_size=0).select(
        cs, request())
    assert len(ordered) == 5000 and ordered[0].used == 0


def test_sample_with_too_few_feasible_examines_all():
    # 5 feasible among 5000: a sample of 100 rarely holds 8 of them.
    cs = [candidate(device_id=str(i), capabilities={'rare': i % 1000 == 0})
          for i in range(5000)]
    ordered = make(chance.Chance, sample_size=100).select(
        cs, request(capabilities={'rare': True}))
    assert sorted(ids(ordered)) == ['0', '1000', '2000', '3000', '4000']


def test_failure_on_a_large_set_leads_with_the_scarcest():
    cs = [candidate(device_id=str(i), agent_alive=i % 2 == 0)
          for i in range(2000)]
    with pytest.raises(base.NoValidCandidate) as caught:
        make(chance.Chance, sample_size=100).select(
            cs, request(device_type='f5'))
    # Measured on the sample, device_type rejects all and runs first.
    assert caught.value.counts == {'device_type': 2000}
    assert str(caught.value) == ('no valid candidate for vip among 2000: '
                                 '2000 not of device_type f5')


class _Asked:
    """An exclude predicate that leaves out some device ids and remembers
    how many candidates it was asked about."""

    def __init__(self, *device_ids):
        self.device_ids = set(device_ids)
        self.asked = 0

    def __call__(self, c):
        self.asked += 1
        return c.device_id in self.device_ids


def test_exclude_is_asked_of_the_sample_only():
    """A move's exclusion (its device) costs no pass over a large pool: it
    was applied by copying every candidate before the sample (25-30 ms a
    move at 400,000 candidates)."""
    cs = [candidate(device_id=str(i), used=i % 10) for i in range(5000)]
    exclude = _Asked(*(str(i) for i in range(0, 5000, 2)))
    ordered = make(chance.Chance, sample_size=100).select(cs, request(),
                                                          exclude)
    assert exclude.asked == 100
    assert ordered and all(int(c.device_id) % 2 for c in ordered)


def test_exclude_when_every_candidate_is_examined():
    cs = fleet()
    # Leaves out two feasible ones and one that fails a filter: the
    # failure counts what is left, as if they were not candidates.
    exclude = _Asked('f0', 'f1', 'full')
    ordered = make(chance.Chance).select(cs, request(), exclude)
    assert exclude.asked == len(cs)
    assert sorted(ids(ordered)) == ['f2', 'f3', 'f4', 'f5']
    with pytest.raises(base.NoValidCandidate) as caught:
        make(chance.Chance).select(cs, request(device_type='f5'), exclude)
    assert caught.value.total == len(cs) - 3
    assert caught.value.counts['device_type'] == len(cs) - 3 - 3
    everything = _Asked(*ids(cs))
    with pytest.raises(base.NoValidCandidate) as caught:
        make(chance.Chance).select(cs, request(), everything)
    assert caught.value.total == 0


def test_every_candidate_examined_a_chunk_at_a_time(monkeypatch):
    """The fallback over a large pool builds and filters EXAMINE_CHUNK
    candidates at a time; counts add up over the chunks, in the order the
    filters ran."""
    monkeypatch.setattr(base, 'EXAMINE_CHUNK', 7)
    cs = [candidate(device_id=str(i), agent_alive=i % 3 != 0,
                    used=10 if i % 5 == 0 else 0) for i in range(100)]
    with pytest.raises(base.NoValidCandidate) as caught:
        make(chance.Chance, sample_size=0).select(
            cs, request(device_type='f5'))
    assert list(caught.value.counts) == ['agent_alive', 'agent_serves',
                                         'service_type', 'device_healthy',
                                         'device_type']
    assert caught.value.counts['agent_alive'] == 34
    assert caught.value.counts['device_type'] == 66
    ordered = make(chance.Chance, sample_size=0).select(cs, request())
    assert sorted(ids(ordered), key=int) == [
        str(i) for i in range(100) if i % 3 and i % 5]


def test_a_sequence_is_sampled_without_a_copy():
    """Any sequence will do (services/placement.py's pools build each
    candidate when it is read): a sample reads sample_size of them."""
    class Built:
        def __init__(self, n):
            self.n, self.read = n, 0

        def __len__(self):
            return self.n

        def __getitem__(self, index):
            if isinstance(index, slice):
                return [self[i] for i in range(*index.indices(self.n))]
            if not -self.n <= index < self.n:
                raise IndexError(index)
            self.read += 1
            return candidate(device_id=str(index % self.n))
    collections.abc.Sequence.register(Built)
    pool = Built(100000)
    assert make(chance.Chance, sample_size=64).select(pool, request())
    assert pool.read == 64


class _Taken(collections.abc.Sequence):
    """A sequence that builds many at once (take), as placement's pools do,
    remembering what each take asked for."""

    def __init__(self, n, rare_every=None):
        self.n, self.asked, self.rare_every = n, [], rare_every

    def __len__(self):
        return self.n

    def __getitem__(self, index):
        if isinstance(index, slice):
            return self.take(range(*index.indices(self.n)))
        return self.take([index])[0]

    def take(self, indexes):
        self.asked.append(list(indexes))
        if self.rare_every is None:
            return [candidate(device_id=str(i)) for i in indexes]
        return [candidate(device_id=str(i),
                          capabilities={'rare': i % self.rare_every == 0})
                for i in indexes]


def test_a_pool_is_sampled_in_blocks_of_neighbours_equally():
    """From a sequence with take(), the sample is sample_size candidates in
    blocks of SAMPLE_BLOCK neighbours (their columns are read together),
    the blocks drawn at random: every candidate as likely as another."""
    pool = _Taken(40 * base.SAMPLE_BLOCK + 5)   # the last block is short
    algorithm = make(chance.Chance, sample_size=64)
    drawn = collections.Counter()
    for _ in range(2000):
        algorithm.select(pool, request())
        indexes = pool.asked[-1]
        assert len(indexes) == len(set(indexes)) <= 64
        starts = [i for i in indexes if i % base.SAMPLE_BLOCK == 0]
        for start in starts:
            block = range(start, min(start + base.SAMPLE_BLOCK, pool.n))
            assert set(block) <= set(indexes)
        assert len(indexes) == sum(
            min(base.SAMPLE_BLOCK, pool.n - s) for s in starts)
        drawn.update(indexes)
    # 41 blocks, 4 of them a draw: each candidate in about 2000 x 4 / 41.
    assert set(drawn) == set(range(pool.n))
    expected = 2000 * 4 / 41
    assert all(0.8 * expected < count < 1.2 * expected
               for count in drawn.values())


def test_a_pool_sample_is_chosen_from_in_random_order():
    """The blocks come in id order within each: chance's pick and the
    rankers' ties must not go to a block's first pair."""
    pool = _Taken(40000)
    algorithm = make(chance.Chance)
    firsts = {int(algorithm.select(pool, request())[0].device_id) %
              base.SAMPLE_BLOCK for _ in range(200)}
    assert len(firsts) > base.SAMPLE_BLOCK // 2


def test_a_sample_with_too_few_grows_before_all_are_examined():
    """One candidate in 50 fits: a sample of 64 holds about one, so a
    sample SAMPLE_GROWTH times larger is drawn, and enough are found
    without building every candidate."""
    pool = _Taken(20000, rare_every=50)
    ordered = make(chance.Chance, sample_size=64).select(
        pool, request(capabilities={'rare': True}))
    assert len(ordered) >= base.MIN_FALLBACKS
    assert all(int(c.device_id) % 50 == 0 for c in ordered)
    assert [len(asked) for asked in pool.asked] == [
        64 * base.SAMPLE_GROWTH ** step for step in range(len(pool.asked))]
    assert sum(len(asked) for asked in pool.asked) < pool.n // 4
    # Nothing fits: the grown samples, then every candidate, counted.
    pool = _Taken(20000, rare_every=50)
    with pytest.raises(base.NoValidCandidate) as caught:
        make(chance.Chance, sample_size=64).select(
            pool, request(capabilities={'none': True}))
    assert caught.value.total == 20000
    assert [len(asked) for asked in pool.asked[:base.SAMPLE_STEPS]] == [
        64, 512, 4096]


def test_most_selective_first():
    f = {f.name: f for f in FILTERS}
    order = base.most_selective_first(
        FILTERS, {'agent_alive': 10, 'agent_serves': 0, 'capacity': 45}, 100)
    # capacity rejected 45 of 90 seen, agent_alive 10 of 100; filters that
    # did not run keep their order after.
    assert [x.name for x in order[:3]] == ['capacity', 'agent_alive',
                                           'agent_serves']
    assert order[3] is f['service_type']


def test_filter_exposes_counts():
    feasible, counts = make(chance.Chance).filter(fleet(), request())
    assert len(feasible) == 6
    assert counts['agent_alive'] == 1 and 'device_type' not in counts


# Loading through stevedore.

def conf_with(**overrides):
    conf = cfg.ConfigOpts()
    scheduler_conf.register_opts(conf)
    conf([], project='agentsched-test', default_config_files=[])
    for name, value in overrides.items():
        conf.set_override(name, value, group='scheduler')
    return conf


def test_shipped_plugins_are_entry_points():
    names = stevedore.ExtensionManager(constants.NS_FILTERS).names()
    assert sorted(names) == sorted(scheduler_conf.DEFAULT_FILTERS)
    names = stevedore.ExtensionManager(constants.NS_WEIGHERS).names()
    assert sorted(names) == sorted(scheduler_conf.DEFAULT_WEIGHERS)
    names = stevedore.ExtensionManager(constants.NS_ALGORITHMS).names()
    assert {'chance', 'least_loaded', 'weighted'} <= set(names)


def test_load_defaults():
    algorithm = algorithms.load(conf_with(), 'vip', rng=random.Random(1))
    assert isinstance(algorithm, weighted.Weighted)
    assert [f.name for f in algorithm.filters] == \
        scheduler_conf.DEFAULT_FILTERS
    assert {w.name: w.multiplier for w in algorithm.weighers} == \
        scheduler_conf.DEFAULT_MULTIPLIERS
    assert ids(algorithm.select(fleet(), request()))[0] == 'f0'


def test_load_by_name_with_options():
    conf = conf_with(vpn_connection_algorithm='least_loaded',
                     enabled_filters=['capacity', 'agent_alive'],
                     enabled_weighers=['device_load'],
                     weigher_multipliers={'device_load': -2.0},
                     host_subset_size=4, sample_size=0)
    algorithm = algorithms.load(conf, 'vpn_connection')
    assert isinstance(algorithm, least_loaded.LeastLoaded)
    assert [f.name for f in algorithm.filters] == ['capacity', 'agent_alive']
    assert [(w.name, w.multiplier) for w in algorithm.weighers] == [
        ('device_load', -2.0)]
    assert (algorithm.host_subset_size, algorithm.sample_size) == (4, 0)
    assert isinstance(algorithms.load(conf, 'vip'), weighted.Weighted)


def test_unknown_algorithm_is_a_clear_error():
    with pytest.raises(algorithms.UnknownPlugin) as caught:
        algorithms.load(conf_with(vip_algorithm='best_fit'), 'vip')
    text = str(caught.value)
    assert "'best_fit'" in text and 'vip_algorithm' in text
    assert 'chance, least_loaded' in text and 'weighted' in text


def test_unknown_filter_or_weigher_or_resource_type():
    with pytest.raises(algorithms.UnknownPlugin,
                       match="filter 'lucky'.*enabled_filters"):
        algorithms.load(conf_with(enabled_filters=['capacity', 'lucky']),
                        'vip')
    with pytest.raises(algorithms.UnknownPlugin,
                       match="weigher 'heavy'.*enabled_weighers"):
        algorithms.load(conf_with(enabled_weighers=['heavy']), 'vip')
    with pytest.raises(algorithms.UnknownPlugin,
                       match="resource type 'pool'.*pool_algorithm"):
        algorithms.load(conf_with(), 'pool')


def test_weigher_multipliers_option_parses_floats(tmp_path):
    path = tmp_path / 'agentsched.conf'
    path.write_text('[scheduler]\n'
                    'weigher_multipliers = device_load:-1.5,agent_load:2\n')
    conf = cfg.ConfigOpts()
    scheduler_conf.register_opts(conf)
    conf([], project='agentsched-test', default_config_files=[str(path)])
    assert conf.scheduler.weigher_multipliers == {'device_load': -1.5,
                                                  'agent_load': 2.0}
