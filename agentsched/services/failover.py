"""Failing a resource over: rebind to another agent of its device, or move.

Rebind: the device is fine but its agent is dead, forced down or draining,
and another live agent lists the device: the binding changes agent
(generation + 1) and the new agent deploys; the data plane stays where it
is, and the old agent is told to forget the resource without touching the
device. Move: the device is DOWN or no live agent reaches it: the scheduler
places the resource on another device (generation + 1, in one transaction
with the capacity claim) and the old agent is told to undeploy, for when it
returns. decide() is the one rule choosing between them, for the health
monitor (health/monitor.py, which decides when) and for an admin's failover
of one resource through the API alike. This module also owns the failover
work's reads and the scheduler's health row (db/failover.py).
"""

import collections
import datetime
import json

from oslo_log import log as logging

from agentsched import algorithms
from agentsched import constants
from agentsched import exceptions
from agentsched import liveness
from agentsched import notifications
from agentsched.db import agents as agents_db
from agentsched.db import failover as failover_db
from agentsched.db import resources as resources_db

LOG = logging.getLogger(__name__)

# What a failover did.
REBOUND = 'rebound'
MOVED = 'moved'
FAILED = 'failed'
SKIPPED = 'skipped'
# What retry_pending did with a resource stuck PENDING.
PENDING_PLACED = 'placed again'
PENDING_DEPLOY_SENT = 'deploy sent again'
PENDING_UNDEPLOY_SENT = 'undeploy sent again'
PENDING_REMOVED = 'removed'

# What decide() chooses for a binding.
REBIND = 'rebind'        # another live agent of its device takes it over
MOVE = 'move'            # the scheduler places it on another device
RELOCATE = 'relocate'    # it serves where it is and an admin wants it
                         # elsewhere: moved if another device takes it,
                         # else left alone (NoOtherDevice)
HOLD = 'hold'            # its policy allows no move: it waits for its
                         # agent or an admin

# agents: for REBIND, the live agents of its device that may take it over
# (rows with id, agent_type, load), least loaded first; empty otherwise.
Decision = collections.namedtuple('Decision', 'action agents')

# The leader writes its state every check; three missed checks and the
# state shown is no longer current (no leader, or a stuck one).
_CURRENT_CHECKS = 3

# What GET /v2.0/scheduler/health shows; state: the leader's JSON text.
SchedulerHealth = collections.namedtuple(
    'SchedulerHealth', 'leader leader_since updated_at current state')
_NO_HEALTH = SchedulerHealth(None, None, None, False, None)


class NoOtherDevice(exceptions.NoValidCandidate):
    """An admin asked to move a healthy resource; nothing else fits."""


def decide(item, live_agents, may_move, serving=False):
    """Rebind, move, relocate or hold: the one rule, for one binding.

    item: a binding (a row of db/failover.py); live_agents: the live agents
    listing its device, least loaded first (rebind_targets()), its own
    included or not; may_move: its policy allows a move (an admin's request
    always may); serving: its agent is alive and admin-up (the monitor only
    hands over bindings whose agent is not serving, or on a DOWN device).
    """
    device_up = item.device_health != constants.HEALTH_DOWN
    if device_up and not serving:
        others = [agent for agent in live_agents
                  if agent.id != item.agent_id]
        if others:
            return Decision(REBIND, others)
    if not may_move:
        return Decision(HOLD, [])
    return Decision(RELOCATE if device_up and serving else MOVE, [])


class FailoverService:

    def __init__(self, engine, conf, placer, notifier, resources):
        self._engine = engine
        self._conf = conf
        self._placer = placer
        self._notifier = notifier
        self._resources = resources
        self._agents = {}   # agent_id -> row, for casts to old agents

    # -- the policies ----------------------------------------------------

    def _policy(self, resource_type):
        return self._conf.health.failover_policies.get(
            resource_type, self._conf.health.default_failover_policy)

    def fails_over(self, resource_type):
        """The monitor fails this type over (its policy is not off)."""
        return self._policy(resource_type) != constants.FAILOVER_OFF

    def may_move(self, resource_type):
        """The monitor may move this type to another device."""
        return self._policy(resource_type) == \
            constants.FAILOVER_REBIND_AND_MOVE

    # -- the monitor's work -----------------------------------------------

    def work(self, agent_ids, include_orphans, limit, skip):
        """Bindings to fail over, at most limit of each kind: those of these
        agents (dead, forced down or draining), and with include_orphans
        those of deleted agents and on DOWN devices; skip: resources not to
        return (moves waiting for their retry). Types whose policy is off
        are left out."""
        with self._engine.connect() as connection:
            items = (failover_db.bindings_of_agents(
                connection, agent_ids, limit, skip) if agent_ids else [])
            if include_orphans:
                seen = {item.resource_id for item in items}
                items += [item for item in failover_db.orphaned_bindings(
                    connection, limit, skip)
                    if item.resource_id not in seen]
        return [item for item in items if self.fails_over(item.resource_type)]

    def unplaced_errors(self, updated_before, limit):
        """Resources in ERROR with no binding, untouched since a time,
        whose policy is not off: the monitor schedules them again."""
        with self._engine.connect() as connection:
            rows = failover_db.unbound_errors(connection, updated_before,
                                              limit)
        return [row for row in rows if self.fails_over(row.resource_type)]

    def stuck_pending(self, updated_before, limit):
        """Resources left PENDING_* since a time (a deploy or undeploy
        nobody answered, a server killed mid-create), oldest first."""
        alive_since = liveness.alive_since(self._conf.agent_down_time)
        with self._engine.connect() as connection:
            return failover_db.stuck_pending(connection, updated_before,
                                             alive_since, limit)

    def retry_pending(self, row, waited):
        """Finish what left a resource PENDING (a row of stuck_pending):
        unbound, it is placed again; bound to a live agent, the deploy (or
        undeploy) is sent again, same generation; PENDING_DELETE on a dead
        or missing agent, it is removed. What was done, or None: changed
        since it was read (someone else acts), or bound to a dead agent
        (failover's work)."""
        deleting = row.status == constants.STATUS_PENDING_DELETE
        if row.agent_id is not None and not row.agent_alive and not deleting:
            return None
        with self._engine.begin() as connection:
            if not failover_db.touch_if_unchanged(
                    connection, row.id, row.status, row.since,
                    'no answer for %d s: retried' % waited,
                    liveness.utcnow()):
                return None
        if deleting:
            return (PENDING_REMOVED if self._resources.delete(row.id)
                    else PENDING_UNDEPLOY_SENT)
        if row.agent_id is None:
            return (PENDING_PLACED if self._resources.schedule(row.id)
                    else FAILED)
        return PENDING_DEPLOY_SENT if self._resources.deploy(row.id) \
            else FAILED

    def save_health(self, leader, leader_since, state_json, now):
        """The leader's state, for every server's API."""
        with self._engine.begin() as connection:
            failover_db.save_health(connection, leader, leader_since,
                                    state_json, now)

    def health(self):
        """The leader's state as it last wrote it (a SchedulerHealth)."""
        with self._engine.connect() as connection:
            row = failover_db.load_health(connection)
        if row is None:
            return _NO_HEALTH
        current = liveness.utcnow() - row.updated_at <= datetime.timedelta(
            seconds=_CURRENT_CHECKS *
            self._conf.health.health_check_interval)
        return SchedulerHealth(row.leader, row.leader_since, row.updated_at,
                               current, row.state)

    # -- failing over ------------------------------------------------------

    def rebind_targets(self, device_ids):
        """{device_id: [rows (id, agent_type, load)]}, least loaded
        first."""
        with self._engine.connect() as connection:
            return failover_db.live_agents_of_devices(
                connection, device_ids,
                liveness.alive_since(self._conf.agent_down_time))

    def rebind(self, items, old_agent_id, device_id, new_agent_id, reason):
        """Rebind bindings (rows of db/failover.py) of one old agent and
        device to a new agent; return the ids rebound."""
        now = liveness.utcnow()
        try:
            with self._engine.begin() as connection:
                rebound = failover_db.rebind(
                    connection, [item.resource_id for item in items],
                    old_agent_id, device_id, new_agent_id, now,
                    'failover: %s; rebound to agent %s' % (
                        reason, new_agent_id))
                old_agent = (agents_db.get(connection, old_agent_id)
                             if old_agent_id else None)
        except failover_db.BindingChanged:
            return []   # the next check sees what changed
        kinds = {item.resource_id: item.resource_type for item in items}
        for resource_id, generation in rebound:
            self._resources.deploy(resource_id)
            notifications.emit(
                kinds[resource_id] + '.failover.end',
                notifications.failover_payload(
                    kinds[resource_id], resource_id, REBOUND,
                    (old_agent_id, device_id), (new_agent_id, device_id)))
            if old_agent is not None:
                # The device keeps serving it for the new agent.
                self._notifier.undeploy(old_agent, {
                    'id': resource_id, 'generation': generation - 1,
                    'resource_type': kinds[resource_id],
                    'keep_on_device': True})
        if rebound:
            LOG.info('Failover (%s): %d resource(s) on device %s (%s) '
                     'rebound from agent %s to %s', reason, len(rebound),
                     items[0].device_name, device_id, old_agent_id,
                     new_agent_id)
        return [resource_id for resource_id, _ in rebound]

    def move(self, item, reason, healthy_where_it_is=False):
        """Place a bound resource on another device; MOVED, SKIPPED (its
        binding changed meanwhile, or it is being deleted) or FAILED (nothing fits: ERROR, bound
        where it was, so its agent's return brings it back).

        healthy_where_it_is: an admin's move of a resource that is fine
        where it is; nothing fitting raises NoOtherDevice and leaves its
        status alone.
        """
        resource = self._resources.get(item.resource_id)
        kind = self._resources.types.get(item.resource_type)
        # Its project's: its private devices are candidates, no other
        # project's are.
        request = algorithms.PlacementRequest(
            kind.name, kind.service_type, item.units,
            json.loads(resource.requirements),
            project_id=resource.project_id)

        def claim_by_moving(connection, candidate, alive_since, now):
            moved = failover_db.move(
                connection, item.resource_id, item.generation,
                item.device_id, item.units, candidate.device_id,
                candidate.agent_id, alive_since, now, resource.project_id)
            # In the same transaction: the status never tells of a move
            # that was undone, nor misses one that happened. A delete
            # committed since the item was read undoes the move (raised,
            # the transaction rolls back): the delete acts, not this.
            if moved and not resources_db.set_status(
                    connection, [item.resource_id],
                    constants.STATUS_PENDING_UPDATE,
                    'failover: %s; moved to device %s' % (
                        reason, candidate.device_name), now):
                raise failover_db.BindingChanged(item.resource_id)
            return moved

        def elsewhere(candidate):
            return candidate.device_id != item.device_id

        try:
            candidate = self._placer.place(item.resource_id, request,
                                           elsewhere, claim_by_moving)
        except failover_db.BindingChanged:
            return SKIPPED
        except algorithms.NoValidCandidate as exc:
            if healthy_where_it_is:
                raise NoOtherDevice(
                    '%s %s stays where it is, serving: no other device can '
                    'take it: %s' % (item.resource_type, item.resource_id,
                                     exc))
            if not self._resources.set_status(
                    item.resource_id, constants.STATUS_ERROR,
                    'failover (%s) found no other device: %s' % (reason, exc)):
                return SKIPPED   # deleted since it was read
            LOG.warning('Failover (%s) of %s %s found no other device: %s',
                        reason, item.resource_type, item.resource_id, exc)
            return FAILED
        self._resources.deploy(item.resource_id)
        if item.agent_id is not None:
            old_agent = self._agent(item.agent_id)
            if old_agent is not None:
                # Queued for when it returns; the generation fences it.
                self._notifier.undeploy(old_agent, {
                    'id': item.resource_id, 'generation': item.generation,
                    'resource_type': item.resource_type})
        notifications.emit(
            item.resource_type + '.failover.end',
            notifications.failover_payload(
                item.resource_type, item.resource_id, MOVED,
                (item.agent_id, item.device_id),
                (candidate.agent_id, candidate.device_id)))
        # Devices by name and id alike: names are what admins read, ids
        # what the API and the database take.
        LOG.info('Failover (%s): %s %s moved from device %s (%s) to device '
                 '%s (%s) of agent %s', reason, item.resource_type,
                 item.resource_id, item.device_name, item.device_id,
                 candidate.device_name, candidate.device_id, candidate.host)
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
        """One resource's failover, now, as decide() says (its policy not
        asked: an admin may always move). Unplaced resources are scheduled
        again."""
        with self._engine.connect() as connection:
            item = failover_db.binding(connection, resource_id)
            agent = (agents_db.get(connection, item.agent_id)
                     if item is not None and item.agent_id else None)
        if item is None:
            return MOVED if self._resources.schedule(resource_id) else FAILED
        serving = agent is not None and agent.admin_state_up and \
            liveness.agent_is_alive(agent, self._conf.agent_down_time)
        decision = decide(
            item, self.rebind_targets([item.device_id]).get(
                item.device_id, []), may_move=True, serving=serving)
        if decision.action == REBIND:
            rebound = self.rebind([item], item.agent_id, item.device_id,
                                  decision.agents[0].id, reason)
            # Not rebound: its binding changed or another server holds it.
            return REBOUND if rebound else SKIPPED
        return self.move(item, reason,
                         healthy_where_it_is=decision.action == RELOCATE)

    def fail_over_by_admin(self, resource_id, resource_type):
        """An admin's failover of one resource (PUT .../{id}/failover):
        (the resource row after it, what failover_one did), or None if no
        resource of that type has this id, before or after the failover
        (deleted meanwhile; the API names that refusal)."""
        row = self._resource(resource_id, resource_type)
        if row is None:
            return None
        if row.status == constants.STATUS_PENDING_DELETE:
            raise exceptions.Conflict('%s %s is being deleted' % (
                resource_type, resource_id), 'ResourceBeingDeleted')
        outcome = self.failover_one(resource_id)
        after = self._resource(resource_id, resource_type)
        return None if after is None else (after, outcome)

    def _resource(self, resource_id, resource_type):
        with self._engine.connect() as connection:
            return resources_db.get(connection, resource_id, resource_type)
