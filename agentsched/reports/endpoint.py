"""Server end of the heartbeat RPC, wire-compatible with Neutron agents."""

import collections
import threading
import time

from oslo_log import log as logging
import oslo_messaging

from agentsched import liveness
from agentsched.reports import schema
from agentsched.reports import trust as report_trust

LOG = logging.getLogger(__name__)

# Why reports are rejected, as ReportStats counts them: the endpoint's checks
# and the kombu intake's malformed messages. Metrics show each, at 0 too
# (report workers publish one figure per reason: server_metrics.py).
REJECTION_REASONS = ('schema', 'signature', 'identity', 'malformed')


class ReportStats:
    """Counters of reports taken and refused, safe across RPC threads.

    failed also counts the sink's failed_writes: reports it took and
    answered, then could not store.
    """

    def __init__(self, sink=None):
        self._lock = threading.Lock()
        self._sink = sink
        self.accepted = 0
        self.rejected = 0
        self.failed = 0
        # Rejections by the check that refused them (schema, signature,
        # identity), for metrics.
        self.rejected_by = collections.Counter()
        # monotonic time of the last report taken: the health monitor's
        # outage guard watches the intake with it.
        self.last_accepted = None

    def count(self, field):
        with self._lock:
            setattr(self, field, getattr(self, field) + 1)

    def reject(self, reason):
        with self._lock:
            self.rejected += 1
            self.rejected_by[reason] += 1

    def rejections(self):
        with self._lock:
            return dict(self.rejected_by)

    def as_dict(self):
        failed_writes = getattr(self._sink, 'failed_writes', 0)
        with self._lock:
            return {'accepted': self.accepted, 'rejected': self.rejected,
                    'failed': self.failed + failed_writes}


class ReportsEndpoint:
    """Processes agents' state reports (Neutron's AgentExtRpcCallback).

    API version history (Neutron's numbering, so its agents can report here;
    report_state's kwargs are the same in every version):
        1.0 - report_state(agent_state, time)
        1.1 - report_state returns 'new', 'alive' or 'revived'
        1.2 - has_alive_neutron_server
        1.3, 1.4 - Neutron's later revisions; nothing changes on this wire
    """

    # No namespace: Neutron's RPC_NAMESPACE_STATE is None.
    target = oslo_messaging.Target(version='1.4')

    def __init__(self, sink, agent_down_time, stats=None, trust=None):
        """trust: a trust.ReportTrust; by default nothing is verified."""
        self._sink = sink
        self._agent_down_time = agent_down_time
        self.stats = stats or ReportStats(sink)
        self._trust = trust or report_trust.ReportTrust(None, ())

    @oslo_messaging.expected_exceptions(schema.InvalidReport)
    def report_state(self, context, **kwargs):
        """Record one heartbeat; return 'new', 'alive' or 'revived'.

        Every exception out of here is counted and logged once: bad input
        (InvalidReport, from the schema or the sink) as rejected, anything
        else as failed, with a traceback: that one is our fault.
        """
        check = 'schema'
        try:
            report = schema.parse(kwargs)
            check = 'signature'
            self._trust.check(report, kwargs)
            check = 'schema'
            if not self._sink.knows_configurations(report):
                schema.check_configurations(report)
            now = liveness.utcnow()
            if report.state.get('start_flag'):
                self._check_clock(report, now)
            # The sink refuses what breaks an agent's identity (an unsigned
            # report for a signed agent, a device another host reported).
            check = 'identity'
            status = self._sink.record(report, now)
        except schema.InvalidReport as exc:
            self.stats.reject(check)
            LOG.warning('Rejected heartbeat from %s: %s',
                        _sender(context, kwargs), exc)
            raise
        except Exception:
            self.stats.count('failed')
            LOG.exception('Could not record heartbeat from %s',
                          _sender(context, kwargs))
            raise
        self.stats.count('accepted')
        self.stats.last_accepted = time.monotonic()
        return status

    def has_alive_neutron_server(self, context, **kwargs):
        return True

    def _check_clock(self, report, now):
        skew = abs((now - report.agent_time).total_seconds())
        if skew > self._agent_down_time:
            LOG.warning(
                'Agent %(agent_type)s on %(host)s has a clock %(skew).0f s '
                'off the server\'s, more than agent_down_time '
                '(%(down)d s): synchronize the clocks (NTP)',
                {'agent_type': report.state['agent_type'],
                 'host': report.state['host'], 'skew': skew,
                 'down': self._agent_down_time})


def _sender(context, kwargs):
    """Best-effort name of whoever sent a report, for one log line."""
    state = kwargs.get('agent_state')
    if isinstance(state, dict) and isinstance(state.get('agent_state'), dict):
        state = state['agent_state']
        host, agent_type = state.get('host'), state.get('agent_type')
        if isinstance(host, str) and isinstance(agent_type, str):
            return 'host %r agent_type %r' % (host[:64], agent_type[:64])
    if isinstance(context, dict):
        for key in ('request_id', 'user_id', 'user'):
            if context.get(key):
                return '%s %r' % (key, str(context[key])[:64])
    return 'an unidentified sender'
