"""The health monitor: every health_check_interval, on the leader only.

One check: read the agents (db/failover.py agents_overview: the steady
ones, alive with nothing to judge, only counted; the others with how many
resources they hold), watch the intake and the database (outage guard),
judge each agent type and availability zone (mass-failure guard), then fail
over what must be:
- bindings of agents forced down or draining (admin_state_up false): at
  once, whatever the guards say, as an admin asked (moves still paced);
- bindings of dead agents, of deleted agents and on DOWN devices: only when
  no guard holds and the agent's group is not tripped.
Before them, devices short of [scheduler] agents_per_device managers get
new ones (services/device_assignment.py; a dead manager's devices only as
the guards allow, paced by the same token bucket), so that the resources
of a dead manager are rebound to the device's live managers, not moved.
Each binding is rebound, moved or held as services/failover.decide() says
(the rule an admin's failover follows too); rebinds are done at once, moves
paced by the token bucket and handed to a pool of movers. What the check
saw is written for every server's GET /v2.0/scheduler/health.
"""

from concurrent import futures
import datetime
import threading
import time

from oslo_log import log as logging
import orjson

from agentsched import constants
from agentsched import liveness
from agentsched import messaging
from agentsched.db import engine as db_engine
from agentsched.db import failover as failover_db
from agentsched.health import guards as guards_mod
from agentsched.services import failover as failover_service

LOG = logging.getLogger(__name__)

REASON_DEAD = 'agent dead'
REASON_FORCED = 'agent forced down'
REASON_DRAINING = 'agent disabled (draining)'
REASON_DELETED = 'agent deleted'
REASON_DEVICE_DOWN = 'device DOWN'

# Seconds between two looks for devices short of managers when nothing the
# agents' overview shows changed (an admin's unlink, a manager's deletion,
# a pinned agent's death): the look costs one statement over every
# API-registered device of a managed type (docs/failover.md).
DEVICE_SWEEP_INTERVAL = 60.0


class HealthMonitor:

    def __init__(self, engine, conf, failover, leadership, report_stats=None,
                 sink=None, clock=time.monotonic, assignment=None):
        """assignment: services/device_assignment.py, which gives devices
        short of managers new ones (None: devices are not reassigned)."""
        self._engine = engine
        self._conf = conf
        self._failover = failover
        self._assignment = assignment
        self._leadership = leadership
        self._report_stats = report_stats
        self._sink = sink
        self._clock = clock
        health = conf.health
        self.guards = guards_mod.Guards(
            conf.agent_down_time, conf.agent.report_interval,
            health.failover_max_dead_ratio, health.failover_min_dead,
            health.move_rate, health.move_burst,
            reconnect_time=messaging.reconnect_time(conf), clock=clock)
        self.leading = False
        self.leader_since = None
        self._started = clock()
        self._flush_failures = 0
        self._failed_at = {}     # resource_id -> when its move failed
        self.totals = {failover_service.REBOUND: 0,
                       failover_service.MOVED: 0,
                       failover_service.FAILED: 0, 'retried': 0,
                       'held': 0}
        if assignment is not None:
            self.totals['devices_reassigned'] = 0
        self.last = {}
        # Checks that failed on a bug (not a database outage).
        self.check_errors = 0
        # What the last look for devices short of managers saw, and when.
        self._device_view = None
        self._device_sweep_at = None
        self._devices_pending = False
        self._stop = threading.Event()
        self._thread = None
        self._movers = futures.ThreadPoolExecutor(
            health.move_workers, thread_name_prefix='failover-move')

    # -- running -----------------------------------------------------------

    def start(self):
        self._thread = threading.Thread(target=self._run,
                                        name='health-monitor', daemon=True)
        self._thread.start()

    def stop(self):
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=30)
        self._movers.shutdown(wait=True)
        self._leadership.stop()

    def _run(self):
        interval = self._conf.health.health_check_interval
        while not self._stop.wait(interval):
            try:
                self.check()
            except Exception:
                self.check_errors += 1
                LOG.exception('Health check failed; the next one tries again')

    # -- one check ---------------------------------------------------------

    def check(self):
        if not self._lead():
            return None
        now = liveness.utcnow()
        overview = self._read_agents(now)
        if overview is None:
            return None
        self._watch_intake(overview, now)
        groups, admin, dead = self._judge_agents(overview, now)
        tripped = self.guards.judge_groups(groups)
        hold = self.guards.hold_reason()
        reasons = dict(admin)
        if hold is None:
            reasons.update((agent_id, REASON_DEAD)
                           for agent_id, key in dead.items()
                           if key not in tripped)
        # Dead agents a guard kept from failover in this check (counted at
        # each check while it holds: metrics' held).
        self.totals['held'] += sum(
            1 for key in dead.values() if hold is not None or key in tripped)
        # Devices first: the failover below rebinds to their new managers.
        devices = self._reassign_devices(overview.agents, now,
                                         hold is not None, tripped)
        outcome = self._fail_over(reasons, include_orphans=hold is None)
        if devices is not None:
            outcome['devices'] = devices
        if hold is None:
            outcome['retried'] = (self._retry_errors(now) +
                                  self._retry_pending(now))
        self.last = dict(outcome, dead_agents=len(dead),
                         held_back=hold, checked_at=now.isoformat())
        self._save(now)
        return outcome

    def _lead(self):
        """Whether this server leads; a new leader starts its grace."""
        if not self._leadership.check():
            if self.leading:
                LOG.warning('No longer the health monitor leader')
            self.leading = False
            return False
        if not self.leading:
            self.leading = True
            self.leader_since = liveness.utcnow()
            self._started = self._clock()
            self.guards.start_grace()
            LOG.info('This server now runs the health monitor; no failover '
                     'of dead agents for the start-up grace (%d s)',
                     self._conf.agent_down_time +
                     self._conf.agent.report_interval)
        return True

    def _late_since(self, now):
        """Heartbeats older than this are late (see _judge_agents)."""
        return liveness.alive_since(
            max(self._conf.agent_down_time - self._conf.agent.report_interval,
                self._conf.agent.report_interval), now)

    def _read_agents(self, now):
        """The agents' overview (db/failover.py); None in a database
        outage (the outage guard then holds failover). An agent neither
        late nor dead, not forced down, admin up and managing no device
        type needs nothing but counting (_judge_agents, _reassign_devices).
        """
        steady_since = max(
            liveness.alive_since(self._conf.agent_down_time, now),
            self._late_since(now))
        try:
            with self._engine.connect() as connection:
                return failover_db.agents_overview(connection, steady_since)
        except Exception as exc:
            if not db_engine.is_outage(exc):
                # A bug, not an outage: holding failover back for it would
                # hide it. Counted, and logged with its traceback by _run.
                raise
            # The broker may be out too: agents then need its reconnect
            # time after both are back.
            self.guards.outage('database unreachable (%s)' %
                               type(exc).__name__,
                               bus=self._own_intake_stalled())
            return None

    def _judge_agents(self, overview, now):
        """({(agent_type, zone): (dead or late, total)} for the mass-failure
        guard, {agent_id: reason} failed over as admins asked,
        {agent_id: (agent_type, zone)} of the dead)."""
        alive_since = liveness.alive_since(self._conf.agent_down_time, now)
        # Agents that die together cross agent_down_time up to one
        # report_interval apart (their last reports were that far apart):
        # counting only the dead, the guard would see them one at a time
        # and fail each over. It counts the late too (a report missed).
        late_since = self._late_since(now)
        # (agent_type, zone) -> agents dead or late, agents in all. The
        # steady agents are alive and not late: counted in total only.
        late_count = dict.fromkeys(overview.steady, 0)
        total = dict(overview.steady)
        admin, dead = {}, {}
        for agent in overview.agents:
            # Resources bound to it, or devices the server assigned to it:
            # what failover hands over when it dies.
            holds = agent.held or agent.assigned
            # Forced down: dead by the rule, failed over as an admin asked
            # (whatever the guards say); otherwise its heartbeats decide.
            if agent.forced_down:
                if holds:
                    admin[agent.id] = REASON_FORCED
                continue
            is_dead = not liveness.heartbeat_is_fresh(
                agent.heartbeat_timestamp, alive_since)
            key = (agent.agent_type, agent.availability_zone)
            late_count.setdefault(key, 0)
            total.setdefault(key, 0)
            if holds and not liveness.heartbeat_is_fresh(
                    agent.heartbeat_timestamp, late_since):
                late_count[key] += 1
                total[key] += 1
                if is_dead:
                    dead[agent.id] = key
            elif not is_dead:
                total[key] += 1
                if not agent.admin_state_up and holds:
                    admin[agent.id] = REASON_DRAINING
        return ({key: (late_count[key], total[key]) for key in total},
                admin, dead)

    def _watch_intake(self, overview, now):
        """Outage guard: a stalled intake or failing writes hold failover."""
        report_interval = self._conf.agent.report_interval
        failures = self._sink.flush_failures if self._sink else 0
        if failures > self._flush_failures:
            self._flush_failures = failures
            self.guards.outage('heartbeat writes to the database failing',
                               bus=self._own_intake_stalled())
            return
        if overview.newest is not None and self._own_intake_stalled():
            newest = overview.newest
            # Other servers take reports too (competing consumers): the
            # intake stalls only if nobody's heartbeats reach the database.
            slack = report_interval + self._conf.reports.flush_interval + 1
            if (now - newest).total_seconds() > slack:
                self.guards.outage('no heartbeat for %.0f s (broker or '
                                   'network down?)' % self._since_own_report(),
                                   bus=True)
                return
        self.guards.healthy()

    def _since_own_report(self):
        """Seconds since this server's intake last took a report (or since
        the monitor started)."""
        last = (self._report_stats.last_accepted
                if self._report_stats else None) or self._started
        return self._clock() - last

    def _own_intake_stalled(self):
        return self._since_own_report() > self._conf.agent.report_interval

    def _reassign_devices(self, agents, now, hold, tripped):
        """Give devices short of managers new ones: a dead manager's
        devices only when no guard holds and its group is not tripped
        (they count as still managed meanwhile); a forced-down or draining
        one's at once. Paced by the token bucket, one token a device.
        What was done, for the health state.

        The look costs a statement over every API-registered device of a
        managed type: taken when what the overview shows changed (the live
        managers, the agents with assignments no longer managing them),
        when the last look left work, and every DEVICE_SWEEP_INTERVAL.
        agents: the overview's, without the steady ones, which are neither
        managers nor failing (alive, admin up, not forced down)."""
        if self._assignment is None:
            return None
        alive_since = liveness.alive_since(self._conf.agent_down_time, now)
        live, failing = set(), set()
        for agent in agents:
            fresh = liveness.heartbeat_is_fresh(agent.heartbeat_timestamp,
                                                alive_since)
            if fresh and not agent.forced_down and agent.admin_state_up:
                if agent.manager:
                    live.add(agent.id)
            elif agent.assigned and (agent.forced_down or fresh or not (
                    hold or (agent.agent_type, agent.availability_zone)
                    in tripped)):
                failing.add(agent.id)
        view = (frozenset(live), frozenset(failing))
        if view == self._device_view and not self._devices_pending and \
                self._device_sweep_at is not None and \
                self._clock() - self._device_sweep_at < \
                DEVICE_SWEEP_INTERVAL:
            return dict(self._assignment.nothing()._asdict())
        self._device_view = view
        self._device_sweep_at = self._clock()
        done = self._assignment.reassign(
            self._conf.health.batch_size, self.guards.bucket.take,
            hold=hold, tripped=tripped)
        self._devices_pending = bool(done.devices or done.deferred or
                                     done.more)
        self.totals['devices_reassigned'] += done.devices
        if done.devices or done.deferred:
            LOG.info('Device assignment: %d device(s) got %d new agent(s), '
                     '%d assignment(s) of agents no longer managing them '
                     'removed, %d still short of agents, %d deferred by the '
                     'rate limit', done.devices, done.assigned,
                     done.unassigned, done.short, done.deferred)
        return done._asdict()

    def _fail_over(self, reasons, include_orphans):
        """Claim this check's work, decide each binding, rebind and hand
        the moves to the pool, count."""
        items = self._claim(reasons, include_orphans)
        rebinds, moves, waiting = self._decide(items, reasons)
        outcome = self._hand_over(rebinds, moves)
        outcome['waiting'] = waiting
        self._count(outcome)
        return outcome

    def _claim(self, reasons, include_orphans):
        """A batch of bindings to fail over, without the failed moves still
        waiting for their retry."""
        retry_after = self._conf.health.error_retry_interval
        # Forget failed moves once retried or gone (deleted resources).
        self._failed_at = {
            resource_id: failed
            for resource_id, failed in self._failed_at.items()
            if self._clock() - failed < retry_after}
        return self._failover.work(list(reasons), include_orphans,
                                   self._conf.health.batch_size,
                                   set(self._failed_at))

    def _decide(self, items, reasons):
        """({(old agent, device, reason): (live agents, bindings)} to
        rebind, [(binding, reason)] to move, how many wait)."""
        targets = (self._failover.rebind_targets(
            {item.device_id for item in items}) if items else {})
        rebinds, moves, waiting = {}, [], 0
        # No binding here is served (its agent is dead, forced down,
        # draining or deleted) unless its device is DOWN, where serving
        # does not count: decide()'s serving stays False.
        for item in items:
            reason = self._reason(item, reasons)
            decision = failover_service.decide(
                item, targets.get(item.device_id, []),
                self._failover.may_move(item.resource_type))
            if decision.action == failover_service.REBIND:
                key = (item.agent_id, item.device_id, reason)
                rebinds.setdefault(key, (decision.agents, []))[1].append(item)
            elif decision.action == failover_service.MOVE:
                moves.append((item, reason))
            else:
                waiting += 1
        return rebinds, moves, waiting

    def _hand_over(self, rebinds, moves):
        """Rebind here (cheap, not paced); moves as the token bucket allows,
        to the pool of movers."""
        outcome = {failover_service.REBOUND: 0, failover_service.MOVED: 0,
                   failover_service.FAILED: 0, 'deferred': 0}
        for (old_agent, device_id, reason), (agents, group) in \
                rebinds.items():
            # Spread a device's resources over its live agents.
            for index, agent in enumerate(agents):
                share = group[index::len(agents)]
                if share:
                    outcome[failover_service.REBOUND] += len(
                        self._failover.rebind(share, old_agent, device_id,
                                              agent.id, reason))
        allowed = 0
        while allowed < len(moves) and self.guards.bucket.take():
            allowed += 1
        outcome['deferred'] = len(moves) - allowed
        for (item, _), result in zip(moves, self._movers.map(
                self._move, moves[:allowed])):
            if result == failover_service.FAILED:
                self._failed_at[item.resource_id] = self._clock()
            if result in outcome:
                outcome[result] += 1
        return outcome

    def _count(self, outcome):
        for key in (failover_service.REBOUND, failover_service.MOVED,
                    failover_service.FAILED):
            self.totals[key] += outcome[key]
        # Not for bindings waiting alone: they wait at every check until
        # their agent returns (GET /v2.0/scheduler/health shows them).
        if any(outcome[key] for key in outcome if key != 'waiting'):
            LOG.info('Failover check: %(rebound)d rebound, %(moved)d moved, '
                     '%(failed)d failed, %(deferred)d deferred by the rate '
                     'limit, %(waiting)d waiting (policy)', outcome)

    def _move(self, move):
        item, reason = move
        try:
            return self._failover.move(item, reason)
        except Exception as exc:
            # A deadlock or a lost connection: the transaction was undone
            # and the next check tries again.
            LOG.warning('Failover move of %s %s failed, retried at the next '
                        'check: %s', item.resource_type, item.resource_id,
                        exc)
            return failover_service.SKIPPED

    def _reason(self, item, reasons):
        if item.device_health == constants.HEALTH_DOWN:
            return REASON_DEVICE_DOWN
        if item.agent_id is None:
            return REASON_DELETED
        return reasons.get(item.agent_id, REASON_DEAD)

    def _retry_errors(self, now):
        """Resources left in ERROR without a placement for [health]
        error_retry_interval: scheduled again."""
        interval = self._conf.health.error_retry_interval
        if not interval:
            return 0
        before = now - datetime.timedelta(seconds=interval)

        def retry(row):
            self._failover.failover_one(row.id, 'retry after ERROR')
            return True  # tried: counted whatever it found
        return self._paced(
            self._failover.unplaced_errors(before,
                                           self._conf.health.batch_size),
            retry)

    def _retry_pending(self, now):
        """Resources stuck PENDING past [health] pending_timeout: placed or
        sent again (services.failover.retry_pending)."""
        timeout = self._conf.health.pending_timeout
        if not timeout:
            return 0
        before = now - datetime.timedelta(seconds=timeout)

        def retry(row):
            done = self._failover.retry_pending(row, timeout)
            if done is not None:
                LOG.info('%s %s was %s for over %d s: %s', row.resource_type,
                         row.id, row.status, timeout, done)
            return done is not None
        return self._paced(
            self._failover.stuck_pending(before,
                                         self._conf.health.batch_size),
            retry)

    def _paced(self, rows, retry):
        """retry(row) for rows while the move rate limit allows; how many
        were retried (retry says whether it did), counted in totals."""
        retried = 0
        for row in rows:
            if not self.guards.bucket.take():
                break
            if retry(row):
                retried += 1
        self.totals['retried'] += retried
        return retried

    # -- what admins see -----------------------------------------------------

    def state(self):
        return {
            'leader': self._conf.host,
            'coordination_backend': (
                'configured' if self._leadership.backend else None),
            'guards': self.guards.state(),
            'last_check': self.last,
            'totals': dict(self.totals),
        }

    def _save(self, now):
        try:
            self._failover.save_health(
                self._conf.host, self.leader_since,
                orjson.dumps(self.state()).decode(), now)
        except Exception as exc:
            LOG.warning('Could not record the health state: %s', exc)
