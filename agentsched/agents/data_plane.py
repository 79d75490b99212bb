"""The agent's reports of what its devices' data plane does.

Every [agent] status_interval the agent reads the operating status of what
it deployed (its drivers' operating_status()) and sends what changed since
the last batch the server took, in one call; every stats_interval it sends
its devices' counters (statistics()), one call. A failed call is repeated
at the next interval with whatever changed meanwhile; a revival or a new
start sends every status again (the server may have lost or never had them).
"""

import threading
import time

from oslo_log import log as logging

from agentsched import constants

LOG = logging.getLogger(__name__)

# As services/data_plane.py takes them: larger batches go in several calls.
MAX_BATCH = 10000


def _chunks(items):
    for start in range(0, len(items), MAX_BATCH):
        yield items[start:start + MAX_BATCH]


class DataPlaneReporter:

    def __init__(self, deployments, server, agent_type, host,
                 status_interval, stats_interval):
        self._deployments = deployments
        self._server = server
        self._agent_type = agent_type
        self._host = host
        self._status_interval = status_interval
        self._stats_interval = stats_interval
        # resource id -> the item the server last took for it.
        self._sent = {}
        self._lock = threading.Lock()
        self._failing = False

    def forget(self):
        """Send every status again at the next reading."""
        with self._lock:
            self._sent.clear()

    def run(self, stop):
        """Until stop (a threading.Event) is set."""
        next_stats = time.monotonic() + (self._stats_interval or 0)
        while not stop.wait(self._status_interval):
            self._guarded(self.report_statuses)
            if self._stats_interval and time.monotonic() >= next_stats:
                next_stats = time.monotonic() + self._stats_interval
                self._guarded(self.report_statistics)

    def _guarded(self, report):
        try:
            report()
            if self._failing:
                LOG.info('Data-plane reports of %s reach the server again',
                         self._host)
            self._failing = False
        except Exception as exc:
            # Logged once per outage: the heartbeat says the rest.
            if not self._failing:
                LOG.warning('Data-plane report of %s failed (%s: %s); '
                            'retried at the next interval', self._host,
                            type(exc).__name__, exc)
            self._failing = True

    def report_statuses(self):
        """Send what changed; returns how many items were sent."""
        current = {}
        for resource_id, (generation, reading) in \
                self._deployments.operating_status().items():
            item = {'id': resource_id, 'generation': generation,
                    'operating_status': reading['operating_status']}
            if 'members' in reading:
                item['members'] = reading['members']
            current[resource_id] = item
        with self._lock:
            changed = [item for resource_id, item in sorted(current.items())
                       if self._sent.get(resource_id) != item]
            # Gone from here: forgotten, so a return is reported.
            for resource_id in set(self._sent) - set(current):
                del self._sent[resource_id]
        for batch in _chunks(changed):
            self._server.update_operating_status(self._agent_type,
                                                 self._host, batch)
            with self._lock:
                self._sent.update((item['id'], item) for item in batch)
        return len(changed)

    def report_statistics(self):
        items = [dict({'id': resource_id, 'generation': generation},
                      **{field: int(reading.get(field, 0))
                         for field in constants.STATS_FIELDS})
                 for resource_id, (generation, reading) in sorted(
                     self._deployments.statistics().items())]
        for batch in _chunks(items):
            self._server.update_statistics(self._agent_type, self._host,
                                           batch)
        return len(items)
