"""Storm guards: when the health monitor must not fail anything over.

The control plane is the likelier fault when many agents look dead at once
(Neutron bug 1505166, Octavia 2018): a server that just started, a stalled
heartbeat intake, an unreachable database or broker, or half of a zone gone
silent together. Each guard here holds failover back and says why; the
token bucket paces the moves that do happen. Time is a monotonic clock,
injectable for tests.
"""

import time

from oslo_log import log as logging

LOG = logging.getLogger(__name__)


class TokenBucket:
    """rate tokens a second, at most burst saved up; a move takes one."""

    def __init__(self, rate, burst, clock=time.monotonic):
        self.rate = rate
        self.burst = burst
        self._clock = clock
        self._tokens = float(burst)
        self._at = clock()
        self.deferred = 0   # moves refused for want of a token, in all

    def _refill(self):
        now = self._clock()
        self._tokens = min(self.burst,
                           self._tokens + (now - self._at) * self.rate)
        self._at = now

    def take(self):
        self._refill()
        if self._tokens >= 1:
            self._tokens -= 1
            return True
        self.deferred += 1
        return False

    @property
    def tokens(self):
        self._refill()
        return self._tokens


class Guards:

    def __init__(self, agent_down_time, report_interval, max_dead_ratio,
                 min_dead, move_rate, move_burst, reconnect_time=0,
                 clock=time.monotonic):
        """reconnect_time: how much later than another a client of the
        bus may reach the broker once it is back
        (messaging.reconnect_time)."""
        self._down_time = agent_down_time
        self._reconnect_time = reconnect_time
        self._report_interval = report_interval
        self._max_dead_ratio = max_dead_ratio
        self._min_dead = min_dead
        self._clock = clock
        self.bucket = TokenBucket(move_rate, move_burst, clock)
        self._grace_until = None
        self._outage_reason = None
        self._recovered_at = None
        self._recovery_wait = agent_down_time
        self._tripped = {}     # (agent_type, az) -> (dead, total)

    # -- a. start-up grace -------------------------------------------------

    def start_grace(self):
        """The server (or a new leader) starts: it has not been listening,
        so nobody is judged before a dead agent could have reported."""
        self._grace_until = self._clock() + self._down_time + \
            self._report_interval

    # -- b. outage guard ---------------------------------------------------

    def outage(self, reason, bus=False):
        """The DB or broker is unreachable, or the intake stalled (bus:
        the agents may have lost the broker too)."""
        if self._outage_reason is None:
            LOG.warning('Failover on hold: %s', reason)
            self._recovery_wait = self._down_time
        if bus:
            # The broker is back when this server hears from it; each
            # agent retries on its own back-off, and may be that much
            # later than the first to report.
            self._recovery_wait = self._down_time + self._reconnect_time
        self._outage_reason = reason
        self._recovered_at = None

    def healthy(self):
        """The intake and the DB work (again): wait agent_down_time more
        (and the bus's reconnect time after a bus outage), so agents cut
        off by the outage can report before being judged."""
        if self._outage_reason is not None and self._recovered_at is None:
            self._recovered_at = self._clock()
            LOG.warning('Recovered from "%s"; judging agents again in %d s',
                        self._outage_reason, self._recovery_wait)

    def _outage_holds(self):
        if self._outage_reason is None:
            return False
        if self._recovered_at is None:
            return True
        if self._clock() - self._recovered_at < self._recovery_wait:
            return True
        LOG.info('Outage guard released after "%s"', self._outage_reason)
        self._outage_reason = None
        self._recovered_at = None
        return False

    # -- c. mass-failure guard ---------------------------------------------

    def judge_groups(self, groups):
        """groups: {(agent_type, az): (dead or late, total)}; return the
        tripped ones, where failover is held. An alarm on each trip."""
        tripped = {}
        for key, (dead, total) in groups.items():
            if dead > self._min_dead and total and \
                    dead / total > self._max_dead_ratio:
                tripped[key] = (dead, total)
                if key not in self._tripped:
                    LOG.error(
                        'ALARM: %d of %d %s agents in availability zone %s '
                        'are dead or late at once (more than %d%%): no '
                        'failover there; the control plane or the network '
                        'is the likelier fault', dead, total, key[0],
                        key[1] or '(none)', self._max_dead_ratio * 100)
        for key in set(self._tripped) - set(tripped):
            LOG.warning('Mass-failure alarm cleared for %s agents in '
                        'availability zone %s', key[0], key[1] or '(none)')
        self._tripped = tripped
        return set(tripped)

    # -- all together ------------------------------------------------------

    def hold_reason(self):
        """Why dead agents must not be judged now, or None."""
        if self._grace_until is not None and \
                self._clock() < self._grace_until:
            return 'start-up grace'
        if self._outage_holds():
            return 'outage: %s' % self._outage_reason
        return None

    def state(self):
        now = self._clock()
        grace_left = max(0.0, (self._grace_until or now) - now)
        outage = {'active': self._outage_reason is not None,
                  'reason': self._outage_reason,
                  'recovering': self._recovered_at is not None}
        if self._recovered_at is not None:
            outage['seconds_left'] = round(max(
                0.0, self._recovered_at + self._recovery_wait - now), 1)
        return {
            'startup_grace': {'active': grace_left > 0,
                              'seconds_left': round(grace_left, 1)},
            'outage': outage,
            'mass_failure': {
                'active': bool(self._tripped),
                'max_dead_ratio': self._max_dead_ratio,
                'tripped': [{'agent_type': key[0],
                             'availability_zone': key[1],
                             'dead': dead, 'total': total}
                            for key, (dead, total) in
                            sorted(self._tripped.items(),
                                   key=lambda item: (item[0][0],
                                                     item[0][1] or ''))]},
            'rate_limit': {'rate': self.bucket.rate,
                           'burst': self.bucket.burst,
                           'tokens': round(self.bucket.tokens, 1),
                           'deferred': self.bucket.deferred},
        }
