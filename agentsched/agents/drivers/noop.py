"""A device that does nothing: for scale tests and trying agentsched out.

It records what it was given and is always healthy, so the whole flow
(placement, deploy, update_status, failover) runs without an appliance. It
pretends to serve: every resource (and a VIP's every member) is ONLINE;
it counts nothing, so it has no statistics.
"""

import threading

from agentsched import constants
from agentsched.agents.drivers import base


class NoopDriver(base.DeviceDriver):

    def __init__(self, device, conf):
        super().__init__(device, conf)
        self._generations = {}
        # A VIP's member keys (constants.MEMBER_KEY), for its status.
        self._members = {}
        self.lock = threading.Lock()

    def deploy(self, resource):
        spec = resource.get('spec')
        members = None
        if resource.get('resource_type') == 'vip' and isinstance(spec, dict):
            # noop checks nothing: what is not a member is left out.
            members = [constants.MEMBER_KEY.format(**member)
                       for member in spec.get('members') or []
                       if isinstance(member, dict) and
                       {'address', 'protocol_port'} <= set(member)]
        with self.lock:
            self._generations[resource['id']] = resource['generation']
            self._members[resource['id']] = members

    def undeploy(self, resource_id):
        with self.lock:
            self._generations.pop(resource_id, None)
            self._members.pop(resource_id, None)

    def resources(self):
        with self.lock:
            return set(self._generations)

    def health(self):
        return constants.HEALTH_OK, 0, None

    def operating_status(self):
        with self.lock:
            members = dict(self._members)
        statuses = {}
        for resource_id, keys in members.items():
            status = {'operating_status': constants.OPERATING_ONLINE}
            if keys is not None:
                status['members'] = dict.fromkeys(
                    keys, constants.OPERATING_ONLINE)
            statuses[resource_id] = status
        return statuses

    def statistics(self):
        # Nothing passes through it: nothing to count.
        return {}
