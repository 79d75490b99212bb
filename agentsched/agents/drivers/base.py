"""The device driver interface, and the loader that picks one by device_type.

An agent holds one driver per device it drives, built from the device as
the agent knows it (its [device:<name>] section, or the device dict of a
deploy message: id, name, device_type, physical_info, credentials). The
driver is the only thing that touches the appliance; Deployments
(agents/deployments.py) decides what is deployed and reports to the server.
"""

import abc
import os
import threading

from oslo_log import log as logging
from stevedore import driver as stevedore_driver
from stevedore import exception as stevedore_exception

from agentsched import constants

LOG = logging.getLogger(__name__)

# Where drivers keep their files when physical_info names no config_dir and
# [DEFAULT] state_path is unset.
DEFAULT_STATE_PATH = '/var/lib/agentsched'


class DriverError(Exception):
    """A deploy or undeploy that did not happen. str() says why, for the
    resource's status_description: it must never carry a secret."""


class DeviceDriver(abc.ABC):
    """One appliance. Calls may come from several threads (RPC, heartbeat):
    implementations take self.lock around anything that changes the device.
    """

    # True when the device is this host itself (haproxy's processes,
    # swanctl's charon): only this agent serves through it, so a fenced
    # agent (agents/service.py) stops it. An appliance elsewhere may be
    # shared with agents of other hosts, which a failover's rebind hands it
    # to as it is: fencing never touches it.
    local = False

    def __init__(self, device, conf):
        self.device = device
        self.conf = conf
        self.name = device['name']
        self.physical_info = device.get('physical_info') or {}
        self.lock = threading.RLock()

    @abc.abstractmethod
    def deploy(self, resource):
        """Make the device serve resource (a deploy message) as given.

        Idempotent: deploying what is already there changes nothing.
        Returns an optional note for the status; raises DriverError (or
        anything else) when the device does not serve it as asked.
        """

    @abc.abstractmethod
    def undeploy(self, resource_id):
        """Remove a resource from the device; unknown ids are no error."""

    def undeploy_all(self, resource_ids):
        """Remove several resources at once (a fence): drivers that reload
        a whole configuration override this to reload once."""
        for resource_id in resource_ids:
            self.undeploy(resource_id)

    @abc.abstractmethod
    def resources(self):
        """Ids of the resources deployed on the device (a set)."""

    @abc.abstractmethod
    def health(self):
        """(health from constants.DEVICE_HEALTHS, load int, reason|None)."""

    def operating_status(self):
        """What the device's data plane does now, for each resource it
        serves: {resource id: {'operating_status': one of
        constants.OPERATING_STATUSES, 'members': {constants.MEMBER_KEY of a
        member: its operating status}}} ('members' for VIPs only). Read
        from the device each call (the agent reports changes); resources
        the device cannot say anything about are left out."""
        return {}

    def statistics(self):
        """{resource id: {field of constants.STATS_FIELDS: int}}: the
        counters only grow for as long as the device keeps its files (the
        driver carries them across its own reloads); the server turns them
        into totals across agent restarts and moves."""
        return {}

    def serves(self, device):
        """Whether this driver was built for that very device."""
        return (device.get('device_type') == self.device.get('device_type')
                and (device.get('physical_info') or {}) == self.physical_info)

    def adopt(self, device):
        """Take what may change in place of a device this driver serves
        (its login, its connection settings): drivers holding a connection
        override this; the others have nothing to take."""

    def config_dir(self):
        return self.physical_info.get('config_dir') or default_config_dir(
            self.conf, self.device['device_type'], self.name)


def default_config_dir(conf, device_type, name):
    try:
        state_path = conf.state_path
    except Exception:
        # A ConfigOpts without agentsched's options (a library user's).
        state_path = None
    return os.path.join(state_path or DEFAULT_STATE_PATH, device_type, name)


class UnavailableDriver(DeviceDriver):
    """Stands for a device whose driver could not be loaded: the device
    reports DOWN with the reason, its deploys fail with it, and the agent
    keeps serving its other devices."""

    def __init__(self, device, conf, reason):
        super().__init__(device, conf)
        self.reason = reason

    def deploy(self, resource):
        raise DriverError(self.reason)

    def undeploy(self, resource_id):
        # Nothing was ever deployed through this driver.
        return None

    def resources(self):
        return set()

    def health(self):
        return constants.HEALTH_DOWN, 0, self.reason


def _raise(_manager, _entry_point, exc):
    raise exc


def load(device, conf):
    """The driver for device, by its device_type (stevedore, namespace
    agentsched.device_drivers); an UnavailableDriver when none loads."""
    device_type = device.get('device_type')
    try:
        manager = stevedore_driver.DriverManager(
            constants.NS_DEVICE_DRIVERS, device_type, invoke_on_load=True,
            invoke_args=(device, conf),
            # Without this stevedore logs a plugin's import error and only
            # says "no driver found"; the device's reason should say what.
            on_load_failure_callback=_raise)
        return manager.driver
    except Exception as exc:
        if isinstance(exc, stevedore_exception.NoMatches):
            reason = 'no device driver for device_type %r' % device_type
        else:
            reason = 'device driver %r failed to load: %s' % (device_type,
                                                               exc)
        LOG.error('Device %s: %s', device.get('name'), reason)
        return UnavailableDriver(device, conf, reason)
