"""Which server runs the health monitor: a tooz lock, held while alive.

Any tooz backend with locks will do (redis://, postgresql://, mysql://,
etcd3+http://, zookeeper://, file://). The lock's lease is the backend's
(redis: the URL's timeout, 30 s by default); the leader refreshes it every
check and steps down the moment it cannot. No backend: this server leads
(one server only).
"""

import os

from oslo_log import log as logging

LOG = logging.getLogger(__name__)

LOCK_NAME = b'agentsched-health-monitor'


class AlwaysLeader:
    """No coordination backend: the only server leads."""
    backend = None

    def check(self):
        return True

    def stop(self):
        pass


class Leadership:

    def __init__(self, backend_url, member_id):
        # Imported here: tooz is needed only by servers that coordinate.
        from tooz import coordination
        self._coordination = coordination
        self.backend = backend_url
        self._member_id = member_id.encode()
        self._coordinator = None
        self._lock = None
        self._leading = False

    def check(self):
        """Keep or take the lead; True while this server leads."""
        try:
            if self._coordinator is None:
                self._coordinator = self._coordination.get_coordinator(
                    self.backend, self._member_id)
                self._coordinator.start(start_heart=False)
                self._lock = self._coordinator.get_lock(LOCK_NAME)
            if self._leading:
                self._coordinator.heartbeat()
                self._leading = self._still_owner()
                if not self._leading:
                    LOG.error('Lost the health monitor lock at %s',
                              self.backend)
            else:
                self._leading = self._lock.acquire(blocking=False)
                if self._leading:
                    LOG.info('Took the health monitor lock at %s',
                             self.backend)
        except Exception as exc:
            if self._leading:
                LOG.error('Stepping down as health monitor: coordination '
                          'backend failed: %s', exc)
            else:
                LOG.warning('Coordination backend %s failed: %s',
                            self.backend, exc)
            self._leading = False
            self._reset()
        return self._leading

    def _still_owner(self):
        try:
            return self._lock.is_still_owner()
        except NotImplementedError:
            # Session locks (postgresql, mysql) live while the heartbeat's
            # connection does: a failed heartbeat raised above.
            return True

    def _reset(self):
        coordinator, self._coordinator, self._lock = \
            self._coordinator, None, None
        if coordinator is not None:
            try:
                coordinator.stop()
            except Exception:
                pass

    def stop(self):
        if self._leading:
            try:
                self._lock.release()
            except Exception:
                pass
        self._leading = False
        self._reset()


def from_conf(conf):
    url = conf.coordination.backend_url
    if not url:
        return AlwaysLeader()
    return Leadership(url, '%s-%d' % (conf.host, os.getpid()))
