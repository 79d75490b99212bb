"""The server's metrics read at scrape time (see agentsched/metrics.py)."""

import time

from oslo_log import log as logging

from agentsched import metrics

LOG = logging.getLogger(__name__)

GUARDS = ('startup_grace', 'outage', 'mass_failure')


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
            yield from self._heartbeats(server.heartbeats)
        yield from self._inventory()
        monitor = getattr(server, 'monitor', None)
        if monitor is not None:
            yield from self._monitor(monitor)

    def _heartbeats(self, heartbeats):
        """The server process's own intake only: report workers' counters
        are not collected here (they log them)."""
        stats = heartbeats.reports.stats.as_dict()
        yield metrics.counter(
            'heartbeats', 'Heartbeats taken (accepted), refused by their '
            'schema or signature (rejected) and taken but not stored '
            '(failed).', ['outcome'],
            [(outcome, stats[outcome])
             for outcome in ('accepted', 'rejected', 'failed')])
        yield metrics.counter(
            'heartbeats_rejected', 'Heartbeats rejected, by the check that '
            'refused them: schema, signature, identity.', ['reason'],
            sorted(heartbeats.reports.stats.rejections().items()))
        sink = heartbeats.sink
        yield metrics.gauge('heartbeats_pending', 'Heartbeats taken and '
                            'not yet written.', [],
                            [(sink.pending_count(),)])
        yield metrics.gauge(
            'heartbeat_flush_age_seconds', 'Seconds since heartbeats were '
            'last written (the flush lag: grows while the database refuses '
            'them).', [], [(time.monotonic() - sink.last_flush,)])
        yield metrics.counter('heartbeat_flush_failures', 'Flushes that '
                              'failed on a database outage.', [],
                              [(sink.flush_failures,)])

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
