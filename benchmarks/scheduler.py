"""The scheduler benchmark: python -m benchmarks.scheduler [--quick].

Prints one JSON document: the time of one select() against the number of
candidates (agents x 4 devices each), per algorithm and request, p50 and p99
in microseconds. Pure in-process: the algorithms on candidates built in
memory, no database, no bus; the database claim is measured elsewhere.

Requests:
  common  a VIP on any haproxy device with 1 free unit: most candidates fit
          (the sampled path);
  rare    a VIP needing a capability 1% of devices have: the sample holds
          too few, so every candidate is examined;
  none    a VIP needing a device type nobody has: every candidate is
          examined and NoValidCandidate is built.
Each is run with the default sample_size and with sample_size = 0 (always
examine all) for comparison.
"""

import argparse
import json
import platform
import random
import sys
import time

from agentsched import constants
from agentsched.algorithms import base
from agentsched.algorithms import loader
from agentsched.conf import scheduler as scheduler_conf

DEVICES_PER_AGENT = 4
SIZES = (100, 1000, 10000)
ALGORITHMS = ('chance', 'least_loaded', 'weighted')
TARGET_P99_US = 2000  # the algorithm's share of the 5 ms placement budget

REQUESTS = {
    'common': base.PlacementRequest(
        'vip', constants.SERVICE_LOADBALANCER,
        requirements={'device_type': 'haproxy'}),
    'rare': base.PlacementRequest(
        'vip', constants.SERVICE_LOADBALANCER,
        requirements={'device_type': 'haproxy',
                      'capabilities': {'hw_accel': True}}),
    'none': base.PlacementRequest(
        'vip', constants.SERVICE_LOADBALANCER,
        requirements={'device_type': 'f5'}),
}


def fleet(agents, rng):
    """agents x 4 candidates: 80% load-balancer agents, 20% VPN agents;
    5% of agents dead, 2% admin-down; devices 90% OK, 5% DEGRADED, 5% DOWN
    or UNKNOWN; random fill; 1% with hw_accel."""
    healths = ([constants.HEALTH_OK] * 90 + [constants.HEALTH_DEGRADED] * 5
               + [constants.HEALTH_DOWN] * 3 + [constants.HEALTH_UNKNOWN] * 2)
    candidates = []
    for a in range(agents):
        lbaas = rng.random() < 0.8
        agent = ('agent-%d' % a, 'host-%d' % a,
                 constants.AGENT_TYPE_LOADBALANCER if lbaas
                 else constants.AGENT_TYPE_VPN,
                 rng.random() > 0.02, rng.random() > 0.05,
                 rng.randrange(100), 'az%d' % (a % 3))
        for d in range(DEVICES_PER_AGENT):
            capabilities = {'ssl_offload': rng.random() < 0.5,
                            'tier': rng.choice(('gold', 'silver')),
                            'bandwidth': rng.choice((1000, 10000))}
            if rng.random() < 0.01:
                capabilities['hw_accel'] = True
            candidates.append(base.Candidate(
                *agent, 'device-%d-%d' % (a, d), 'dev%d' % d,
                'haproxy' if lbaas else 'strongswan',
                constants.SERVICE_LOADBALANCER if lbaas
                else constants.SERVICE_VPN,
                capabilities, 100, rng.randrange(101), rng.choice(healths),
                True, None))
    return candidates


def measure(algorithm, candidates, request, runs):
    times = []
    for _ in range(runs):
        began = time.perf_counter_ns()
        try:
            algorithm.select(candidates, request)
        except base.NoValidCandidate:
            pass
        times.append(time.perf_counter_ns() - began)
    times.sort()
    return {'p50_us': round(times[len(times) // 2] / 1000, 1),
            'p99_us': round(times[int(len(times) * 0.99)] / 1000, 1)}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--quick', action='store_true',
                        help='fewer runs per figure (a smoke check)')
    args = parser.parse_args(argv)
    rng = random.Random(42)
    filters = loader.load_filters(scheduler_conf.DEFAULT_FILTERS)
    weighers = loader.load_weighers(scheduler_conf.DEFAULT_WEIGHERS,
                                    scheduler_conf.DEFAULT_MULTIPLIERS)
    results = []
    began = time.time()
    for agents in SIZES:
        candidates = fleet(agents, rng)
        for name in ALGORITHMS:
            for sample_size in (base.DEFAULT_SAMPLE_SIZE, 0):
                algorithm = loader.load_algorithm(
                    name, filters, weighers, sample_size=sample_size,
                    rng=random.Random(7))
                for label, request in REQUESTS.items():
                    # Fewer runs where one costs milliseconds.
                    runs = 2000 if len(candidates) <= 4000 else 300
                    if args.quick:
                        runs //= 10
                    figure = measure(algorithm, candidates, request, runs)
                    results.append(dict(
                        agents=agents, candidates=len(candidates),
                        algorithm=name, sample_size=sample_size,
                        request=label, runs=runs, **figure))
    largest = [r for r in results
               if r['candidates'] == max(SIZES) * DEVICES_PER_AGENT
               and r['sample_size'] and r['request'] == 'common']
    report = {
        'quick': args.quick,
        'environment': {'python': platform.python_version(),
                        'machine': platform.machine(),
                        'processor': platform.processor() or None},
        'results': results,
        'target': {'p99_us_max': TARGET_P99_US,
                   'met_for_common_at_largest': all(
                       r['p99_us'] <= TARGET_P99_US for r in largest)},
        'duration_s': round(time.time() - began, 1),
    }
    json.dump(report, sys.stdout, indent=2)
    sys.stdout.write('\n')


if __name__ == '__main__':
    main()
