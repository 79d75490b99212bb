"""Failing a resource over: rebind to another agent of its device, or move.

Rebind: the device is fine but its agent is dead, forced down or draining,
and another live agent lists the device: the binding changes agent
(generation + 1) and the new agent deploys; the data plane stays where it
is, and the old agent is told to forget the resource without touching the
device. Move: the device is DOWN or no live agent reaches it: the scheduler
places the resource on another device (generation + 1, in one transaction
with the capacity claim) and the old agent is told to undeploy, for when it
returns. The health monitor decides when (health/monitor.py); admins may
trigger one resource's failover through the API.
"""

import json

from oslo_log import log as logging

from agentsched import algorithms
from agentsched import constants
from agentsched import liveness
from agentsched.db import agents as agents_db
from agentsched.db import failover as failover_db

LOG = logging.getLogger(__name__)

REBOUND = 'rebound'
MOVED = 'moved'
FAILED = 'failed'
SKIPPED = 'skipped'


class NoOtherDevice(Exception):
    """An admin asked to move a healthy resource; nothing else fits."""


class FailoverService:

    def __init__(self, engine, conf, placer, notifier, resources):
        self._engine = engine
        self._conf = conf
        self._placer = placer
        self._notifier = notifier
        self._resources = resources
        self._agents = {}   # agent_id -> row, for casts to old agents

    def policy(self, resource_type):
        return self._conf.health.failover_policies.get(
            resource_type, self._conf.health.default_failover_policy)

    def rebind_targets(self, device_ids):
        """{device_id: [(agent_id, agent_type, load)]}, least loaded first."""
        with self._engine.connect() as connection:
            return failover_db.live_agents_of_devices(
                connection, device_ids,
                liveness.alive_since(self._conf.agent_down_time))

    def rebind(self, items, old_agent_id, device_id, new_agent_id, reason):
        """Rebind bindings (rows of db/failover.py) of one old agent and
        device to a new agent; return the ids rebound."""
        now = liveness.utcnow()
        with self._engine.begin() as connection:
            rebound = failover_db.rebind(
                connection, [item.resource_id for item in items],
                old_agent_id, device_id, new_agent_id, now)
            if rebound:
                failover_db.set_status(
                    connection, [resource_id for resource_id, _ in rebound],
                    constants.STATUS_PENDING_UPDATE,
                    'failover: %s; rebound to agent %s' % (
                        reason, new_agent_id), now)
            old_agent = (agents_db.get(connection, old_agent_id)
                         if old_agent_id else None)
        kinds = {item.resource_id: item.resource_type for item in items}
        for resource_id, generation in rebound:
            self._resources.deploy(resource_id)
            if old_agent is not None:
                # The device keeps serving it for the new agent.
                self._notifier.undeploy(old_agent, {
                    'id': resource_id, 'generation': generation - 1,
                    'resource_type': kinds[resource_id],
                    'keep_on_device': True})
        if rebound:
            LOG.info('Failover (%s): %d resource(s) on device %s rebound '
                     'from agent %s to %s', reason, len(rebound), device_id,
                     old_agent_id, new_agent_id)
        return [resource_id for resource_id, _ in rebound]

    def move(self, item, reason, healthy_where_it_is=False):
        """Place a bound resource on another device; MOVED, SKIPPED (its
        binding changed meanwhile) or FAILED (nothing fits: ERROR, bound
        where it was, so its agent's return brings it back).

        healthy_where_it_is: an admin's move of a resource that is fine
        where it is; nothing fitting raises NoOtherDevice and leaves its
        status alone.
        """
        resource = self._resources.get(item.resource_id)
        kind = self._resources.types.get(item.resource_type)
        request = algorithms.PlacementRequest(
            kind.name, kind.service_type, item.units,
            json.loads(resource.requirements))

        def step(connection, candidate, alive_since, now):
            moved = failover_db.move(
                connection, item.resource_id, item.generation,
                item.device_id, item.units, candidate.device_id,
                candidate.agent_id, alive_since, now)
            if moved:
                # In the same transaction: the status never tells of a
                # move that was undone, nor misses one that happened.
                failover_db.set_status(
                    connection, [item.resource_id],
                    constants.STATUS_PENDING_UPDATE,
                    'failover: %s; moved to device %s' % (
                        reason, candidate.device_name), now)
            return moved

        def elsewhere(candidate):
            return candidate.device_id != item.device_id

        try:
            candidate = self._placer.place(item.resource_id, request,
                                           elsewhere, step)
        except failover_db.BindingChanged:
            return SKIPPED
        except algorithms.NoValidCandidate as exc:
            if healthy_where_it_is:
                raise NoOtherDevice(str(exc))
            self._resources.set_status(
                item.resource_id, constants.STATUS_ERROR,
                'failover (%s) found no other device: %s' % (reason, exc))
            LOG.warning('Failover (%s) of %s %s found no other device: %s',
                        reason, item.resource_type, item.resource_id, exc)
            return FAILED
        self._resources.deploy(item.resource_id, row=resource)
        if item.agent_id is not None:
            old_agent = self._agent(item.agent_id)
            if old_agent is not None:
                # Queued for when it returns; the generation fences it.
                self._notifier.undeploy(old_agent, {
                    'id': item.resource_id, 'generation': item.generation,
                    'resource_type': item.resource_type})
        LOG.info('Failover (%s): %s %s moved from device %s to %s of agent '
                 '%s', reason, item.resource_type, item.resource_id,
                 item.device_id, candidate.device_name, candidate.host)
        return MOVED

    def _agent(self, agent_id):
        """An agent row, read once: its topic and host (what a cast needs)
        never change, (agent_type, host) being its identity."""
        agent = self._agents.get(agent_id)
        if agent is None:
            with self._engine.connect() as connection:
                agent = agents_db.get(connection, agent_id)
            if agent is not None:
                self._agents[agent_id] = agent
        return agent

    def failover_one(self, resource_id, reason='requested by an admin'):
        """An admin's failover of one resource, now: rebind if its agent is
        not serving and another live agent lists its device, else move it
        to another device. Unplaced resources are scheduled again."""
        with self._engine.connect() as connection:
            item = failover_db.binding(connection, resource_id)
            agent = (agents_db.get(connection, item.agent_id)
                     if item is not None and item.agent_id else None)
        if item is None:
            return MOVED if self._resources.schedule(resource_id) else FAILED
        serving = agent is not None and agent.admin_state_up and \
            liveness.agent_is_alive(agent, self._conf.agent_down_time)
        if not serving and item.device_health != constants.HEALTH_DOWN:
            others = [target for target in self.rebind_targets(
                [item.device_id]).get(item.device_id, [])
                if target[0] != item.agent_id]
            if others and self.rebind([item], item.agent_id, item.device_id,
                                      others[0][0], reason):
                return REBOUND
        return self.move(item, reason, healthy_where_it_is=(
            serving and item.device_health != constants.HEALTH_DOWN))
