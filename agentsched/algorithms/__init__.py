"""Scheduling algorithms: filter and rank the candidates they are given.

Pure logic: nothing here reads or writes the database. The caller (services)
gathers the candidates, calls select() and claims the returned candidates
in order, atomically in the database, until one claim succeeds.

    algorithm = algorithms.load(conf, 'vip')
    ordered = algorithm.select(candidates, algorithms.PlacementRequest(
        'vip', 'LOADBALANCER', requirements={'device_type': 'haproxy'}))
"""

from agentsched.algorithms import base
from agentsched.algorithms import device_assigners
from agentsched.algorithms import loader

# The interface callers use, in one place.
Algorithm = base.Algorithm
Candidate = base.Candidate
DeviceAssigner = device_assigners.DeviceAssigner
DeviceToAssign = device_assigners.Device
Manager = device_assigners.Manager
Filter = base.Filter
InvalidRequest = base.InvalidRequest
NoValidCandidate = base.NoValidCandidate
PlacementRequest = base.PlacementRequest
Weigher = base.Weigher
UnknownPlugin = loader.UnknownPlugin
load = loader.load
load_algorithm = loader.load_algorithm
load_device_assigner = loader.load_device_assigner
