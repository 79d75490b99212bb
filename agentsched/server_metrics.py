"""The server's metrics read at scrape time (see agentsched/metrics.py),
and the shared memory through which report workers hand the server's
process their heartbeat figures."""

import mmap
import multiprocessing
import os
import time

from oslo_log import log as logging

from agentsched import metrics
from agentsched.reports import endpoint as reports_endpoint

LOG = logging.getLogger(__name__)

GUARDS = ('startup_grace', 'outage', 'mass_failure')

# Seconds between a report worker's publications of its figures: how far
# the server's scrape may lag behind the workers.
PUBLISH_INTERVAL = 1.0

# A process's heartbeat figures (heartbeat_figures()): counters, then
# gauges. last_flush is a time.monotonic(), the same clock in every process.
COUNTERS = ('accepted', 'rejected', 'failed', 'flush_failures') + tuple(
    'rejected_' + reason for reason in reports_endpoint.REJECTION_REASONS)
GAUGES = ('pending', 'last_flush')


def heartbeat_figures(heartbeats):
    """{COUNTERS and GAUGES name: value} of one process's
    server.Heartbeats."""
    stats = heartbeats.reports.stats
    rejections = stats.rejections()
    sink = heartbeats.sink
    figures = stats.as_dict()
    figures.update(('rejected_' + reason, rejections.get(reason, 0))
                   for reason in reports_endpoint.REJECTION_REASONS)
    figures.update(flush_failures=sink.flush_failures,
                   pending=sink.pending_count(), last_flush=sink.last_flush)
    return figures


class ReportWorkerFigures:
    """The report workers' heartbeat figures, for the server process's
    scrape.

    Shared memory that the master process makes before it forks: every
    worker, a restarted one too, and the server's process see the same
    block. One slot per report worker, where it writes heartbeat_figures()
    every PUBLISH_INTERVAL (a thread; the heartbeat path does nothing more);
    the scrape sums the slots. A worker writes its own slot only, one float
    at a time (aligned 8-byte stores, never seen half-written), so neither
    side locks; claiming a slot at a worker's start does.
    """

    FIELDS = ('pid',) + COUNTERS + GAUGES

    def __init__(self, workers):
        self._slots = workers
        self._values = memoryview(mmap.mmap(
            -1, 8 * len(self.FIELDS) * workers)).cast('d')
        self._claim_lock = multiprocessing.get_context('fork').Lock()
        # This process's slot and the counters it took over; set in a
        # worker (after the fork) by its first publish().
        self._slot = None
        self._base = None

    def _offset(self, slot, field):
        return slot * len(self.FIELDS) + self.FIELDS.index(field)

    def _get(self, slot, field):
        return self._values[self._offset(slot, field)]

    def _set(self, slot, field, value):
        self._values[self._offset(slot, field)] = value

    def _claim(self):
        """A slot whose worker is gone, or None while all live. The counters
        carry on from the dead worker's: a restart is no counter reset, so
        the sums never go back (Prometheus' rate() would read a drop of one
        worker's share as a reset of the sum, and count it all again)."""
        with self._claim_lock:
            for slot in range(self._slots):
                pid = int(self._get(slot, 'pid'))
                if not pid or not _alive(pid):
                    self._set(slot, 'pid', os.getpid())
                    self._slot = slot
                    self._base = {field: self._get(slot, field)
                                  for field in COUNTERS}
                    return slot
        return None

    def publish(self, figures):
        """Write this worker's heartbeat_figures() into its slot."""
        if self._slot is None and self._claim() is None:
            # A worker restarted before its predecessor was reaped (the
            # master restarts one after it died, so hardly ever): next time.
            return
        for field in COUNTERS:
            self._set(self._slot, field, self._base[field] + figures[field])
        for field in GAUGES:
            self._set(self._slot, field, figures[field])

    def totals(self):
        """The workers' figures as one process's: counters summed over
        every slot ever claimed (a dead worker's last figures stay until its
        successor carries them on), pending summed over the live workers,
        last_flush the oldest of theirs (None with none alive)."""
        totals = dict.fromkeys(COUNTERS + ('pending',), 0)
        totals['last_flush'] = None
        for slot in range(self._slots):
            pid = int(self._get(slot, 'pid'))
            if not pid:
                continue
            for field in COUNTERS:
                totals[field] += self._get(slot, field)
            if _alive(pid):
                totals['pending'] += self._get(slot, 'pending')
                last_flush = self._get(slot, 'last_flush')
                if totals['last_flush'] is None:
                    totals['last_flush'] = last_flush
                else:
                    totals['last_flush'] = min(totals['last_flush'],
                                               last_flush)
        return totals


def _alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # another user's: the pid was reused, not ours
    return True


class ServerCollector:
    """Gauges and counters of one ServerService, from what it keeps."""

    def __init__(self, server):
        self._server = server

    def describe(self):
        # Not known before a scrape: prometheus_client then skips the
        # duplicate-name check against the instrumented metrics.
        return []

    def collect(self):
        server = self._server
        if server.heartbeats is not None:
            yield from self._heartbeats(heartbeat_figures(server.heartbeats))
        elif server.report_figures is not None:
            yield from self._heartbeats(server.report_figures.totals())
        yield from self._inventory()
        monitor = getattr(server, 'monitor', None)
        if monitor is not None:
            yield from self._monitor(monitor)

    def _heartbeats(self, figures):
        """From heartbeat_figures(): the server process's own, or its
        report workers' totals."""
        yield metrics.counter(
            'heartbeats', 'Heartbeats taken (accepted), refused by their '
            'schema or signature (rejected) and taken but not stored '
            '(failed).', ['outcome'],
            [(outcome, figures[outcome])
             for outcome in ('accepted', 'rejected', 'failed')])
        yield metrics.counter(
            'heartbeats_rejected', 'Heartbeats rejected, by the check that '
            'refused them: schema, signature, identity, malformed.',
            ['reason'],
            [(reason, figures['rejected_' + reason])
             for reason in reports_endpoint.REJECTION_REASONS])
        yield metrics.gauge('heartbeats_pending', 'Heartbeats taken and '
                            'not yet written.', [], [(figures['pending'],)])
        if figures['last_flush'] is not None:
            yield metrics.gauge(
                'heartbeat_flush_age_seconds', 'Seconds since heartbeats '
                'were last written (the flush lag: grows while the '
                'database refuses them); with report workers, the '
                'oldest.', [], [(time.monotonic() - figures['last_flush'],)])
        yield metrics.counter('heartbeat_flush_failures', 'Flushes that '
                              'failed on a database outage.', [],
                              [(figures['flush_failures'],)])

    def _inventory(self):
        try:
            counts = self._server.services.inventory.counts()
        except Exception as exc:
            # A scrape during a database outage still gets the rest.
            LOG.warning('Metrics: inventory counts failed: %s', exc)
            return
        yield metrics.gauge('agents', 'Agents by type, availability zone '
                            'and state (alive, dead, admin_down, '
                            'forced_down).',
                            ['agent_type', 'availability_zone', 'state'],
                            counts['agents'])
        yield metrics.gauge('devices', 'Devices by type and health.',
                            ['device_type', 'health'], counts['devices'])
        yield metrics.gauge('resources', 'Resources by type, provisioning '
                            'status and operating status.',
                            ['resource_type', 'status', 'operating_status'],
                            counts['resources'])

    def _monitor(self, monitor):
        yield metrics.gauge('leader', '1 on the server whose health monitor '
                            'leads (it alone fails over), else 0.', [],
                            [(1 if monitor.leading else 0,)])
        state = monitor.guards.state()
        yield metrics.gauge(
            'guard_active', 'Failover guards holding back moves (1) or not '
            '(0): startup_grace, outage, mass_failure.', ['guard'],
            [(guard, 1 if state[guard]['active'] else 0)
             for guard in GUARDS])
        totals = dict(monitor.totals,
                      deferred=state['rate_limit']['deferred'])
        yield metrics.counter(
            'failover_actions', 'Failover actions of this server\'s monitor '
            'while it led: rebound, moved, failed, retried (ERROR and stuck '
            'PENDING retries), deferred (by the rate limit), held (a dead '
            'agent a guard kept from failover, at each check), '
            'devices_reassigned (devices given new manager agents).',
            ['action'],
            sorted(totals.items()))
        yield metrics.counter('health_check_errors', 'Health checks that '
                              'failed on a bug.', [],
                              [(monitor.check_errors,)])
