"""A device that does nothing: for scale tests and trying agentsched out.

It records what it was given and is always healthy, so the whole flow
(placement, deploy, update_status, failover) runs without an appliance.
"""

import threading

from agentsched import constants
from agentsched.agents.drivers import base


class NoopDriver(base.DeviceDriver):

    def __init__(self, device, conf):
        super().__init__(device, conf)
        self._generations = {}
        self.lock = threading.Lock()

    def deploy(self, resource):
        with self.lock:
            self._generations[resource['id']] = resource['generation']

    def undeploy(self, resource_id):
        with self.lock:
            self._generations.pop(resource_id, None)

    def resources(self):
        with self.lock:
            return set(self._generations)

    def health(self):
        return constants.HEALTH_OK, 0, None
