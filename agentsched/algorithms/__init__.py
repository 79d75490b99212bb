"""Scheduling algorithms: filter and rank the candidates they are given.

Pure logic: nothing here reads or writes the database. The caller (services)
gathers the candidates, calls select() and claims the returned candidates
in order, atomically in the database, until one claim succeeds.

    algorithm = algorithms.load(conf, 'vip')
    ordered = algorithm.select(candidates, algorithms.PlacementRequest(
        'vip', 'LOADBALANCER', requirements={'device_type': 'haproxy'}))
"""

from agentsched.algorithms import base
from agentsched.algorithms import loader

# The interface callers use, in one place.
Algorithm = base.Algorithm
Candidate = base.Candidate
Filter = base.Filter
InvalidRequest = base.InvalidRequest
NoValidCandidate = base.NoValidCandidate
PlacementRequest = base.PlacementRequest
Weigher = base.Weigher
UnknownPlugin = loader.UnknownPlugin
load = loader.load
load_algorithm = loader.load_algorithm
