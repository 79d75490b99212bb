"""What an agent has deployed, kept in step with what the server says.

Until device drivers exist (haproxy, strongSwan), a deployment is recorded
only; the server still gets the update_status answer it waits for. Each
resource's deploys and undeploys are serialized; a failure of one never
touches another.
"""

import collections
import threading

from oslo_log import log as logging

from agentsched import constants

LOG = logging.getLogger(__name__)

DELETED = 'DELETED'


class Deployments:

    def __init__(self, report_status):
        self._report_status = report_status
        self._locks = collections.defaultdict(threading.Lock)
        self._guard = threading.Lock()
        self.deployed = {}   # resource id -> generation

    def _lock(self, resource_id):
        with self._guard:
            return self._locks[resource_id]

    def deploy(self, resource):
        resource_id, generation = resource['id'], resource['generation']
        with self._lock(resource_id):
            current = self.deployed.get(resource_id)
            if current is not None and current > generation:
                LOG.info('Ignoring deploy of %s generation %d: %d is here',
                         resource_id, generation, current)
                return
            self.deployed[resource_id] = generation
        LOG.info('Deployed %s %s (generation %d) on device %s',
                 resource['resource_type'], resource_id, generation,
                 resource.get('device', {}).get('name'))
        self._report(resource_id, generation, constants.STATUS_ACTIVE, None)

    def undeploy(self, resource, report=True):
        resource_id, generation = resource['id'], resource['generation']
        with self._lock(resource_id):
            if self.deployed.get(resource_id, generation) > generation:
                return
            self.deployed.pop(resource_id, None)
        LOG.info('Undeployed %s %s (generation %d)',
                 resource.get('resource_type'), resource_id, generation)
        if report:
            self._report(resource_id, generation, DELETED, None)

    def converge(self, resources):
        """Make what is deployed here match the server's list (sync)."""
        wanted = {r['id']: r for r in resources}
        for resource_id, generation in list(self.deployed.items()):
            if resource_id not in wanted:
                # Moved away or deleted while we could not hear: fenced.
                self.undeploy({'id': resource_id, 'generation': generation},
                              report=False)
        for resource in resources:
            if self.deployed.get(resource['id']) != resource['generation']:
                self.deploy(resource)

    def _report(self, resource_id, generation, status, description):
        try:
            self._report_status(resource_id, generation, status, description)
        except Exception as exc:
            LOG.warning('Could not report %s of %s to the server (%s); the '
                        'next sync repeats it', status, resource_id, exc)
