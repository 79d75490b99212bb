"""What an agent has deployed, kept in step with what the server says.

Each deploy goes to the driver of the resource's device (agents/drivers,
one driver per device name, loaded by device_type) and ends in one
update_status: ACTIVE, or ERROR with the driver's reason. Each resource's
deploys and undeploys are serialized; a failure of one, even an exception
from a driver, never touches another nor the agent.
"""

import collections
import contextlib
import hashlib
import json
import threading
import time

from oslo_config import cfg
from oslo_log import log as logging

from agentsched import constants
from agentsched import formats
from agentsched import metrics
from agentsched.agents.drivers import base as drivers
from agentsched.conf import agent as agent_conf

LOG = logging.getLogger(__name__)


def _fingerprint(resource):
    """What a deploy asks for, as a digest: an update keeps the generation
    and changes the spec, and converge must see it. Digested so no secret
    of the spec is kept twice."""
    wanted = {'spec': resource.get('spec'),
              'device': (resource.get('device') or {}).get('name')}
    return hashlib.sha256(json.dumps(wanted, sort_keys=True).encode()
                          ).hexdigest()


def _driver_label(device):
    # A label, so of bounded length whatever a deploy message says.
    return str(device.get('device_type') or 'unknown')[:64]


def _reason(exc):
    if isinstance(exc, drivers.DriverError):
        return str(exc)
    # Not a driver's own message: name the kind, it may say more than str().
    return '%s: %s' % (type(exc).__name__, exc)


class Deployments:

    def __init__(self, report_status, conf=None, load_driver=drivers.load):
        self._report_status = report_status
        self._conf = conf if conf is not None else cfg.CONF
        self._load_driver = load_driver
        self._locks = collections.defaultdict(threading.Lock)
        self._guard = threading.Lock()
        self._drivers = {}       # device name -> driver
        self._drivers_guard = threading.Lock()
        self._placed = {}        # resource id -> device name
        self._fingerprints = {}  # resource id -> _fingerprint of its deploy
        self._withheld = set()   # withheld by the last sync (converge)
        self.deployed = {}       # resource id -> generation

    def _lock(self, resource_id):
        with self._guard:
            return self._locks[resource_id]

    # -- drivers -----------------------------------------------------------

    def driver(self, device):
        """The driver of a device (a dict with name and device_type), loaded
        on first use. A device whose physical_info changed gets a new driver
        once its old one is idle."""
        name = device.get('name')
        with self._drivers_guard:
            current = self._drivers.get(name)
            if current is not None and 'physical_info' not in device:
                # A heartbeat's device dict has no physical_info: whatever
                # the driver was built with still holds.
                return current
            if current is not None and current.serves(device):
                # The server's description (a sync, a deploy): rotated
                # credentials apply now, not at the next deploy; a login
                # this agent could not open leaves the one it has.
                if not device.get('credentials_error'):
                    current.adopt(device)
                return current
            if current is not None and current.resources():
                LOG.warning('Device %s changed while it serves resources; '
                            'the change applies once they are gone', name)
                return current
            if 'physical_info' not in device:
                # A heartbeat's device (its [device:<name>] section): built
                # in the form the server's deploys bring, so that after a
                # restart the first deploy finds the same device.
                device = dict(device, physical_info=agent_conf.physical_info(
                    device.get('address')))
            self._drivers[name] = self._load_driver(device, self._conf)
            return self._drivers[name]

    def device_health(self, devices, reported=None):
        """Copies of devices (heartbeat dicts) with health and load from
        their drivers, and health_reason when the driver gave one.

        reported: the keys a copy keeps, for devices known from the
        server's sync (physical_info and credentials build the driver and
        never go into a heartbeat)."""
        updated = []
        for device in devices:
            try:
                health, load, reason = self.driver(device).health()
            except Exception as exc:
                LOG.exception('Health check of device %s failed',
                              device.get('name'))
                health, load, reason = constants.HEALTH_DOWN, 0, _reason(exc)
            entry = dict(device) if reported is None else {
                key: device[key] for key in reported if key in device}
            entry.update(health=health, load=load)
            entry.pop('health_reason', None)
            if reason:
                entry['health_reason'] = formats.shorten(reason)
            updated.append(entry)
        return updated

    # -- deploy, undeploy, converge ----------------------------------------

    def deploy(self, resource):
        resource_id, generation = resource['id'], resource['generation']
        device = resource.get('device') or {}
        seconds = None
        with self._lock(resource_id):
            current = self.deployed.get(resource_id)
            if current is not None and current > generation:
                LOG.info('Ignoring deploy of %s generation %d: %d is here',
                         resource_id, generation, current)
                return
            try:
                if not device.get('name'):
                    raise drivers.DriverError('the deploy names no device')
                driver = self.driver(device)
                moved_from = self._placed.get(resource_id)
                if moved_from is not None and moved_from != device['name']:
                    self._drivers[moved_from].undeploy(resource_id)
                    self._forget(resource_id)
                started = time.perf_counter()
                try:
                    note = driver.deploy(resource)
                finally:
                    seconds = time.perf_counter() - started
            except Exception as exc:
                status, description = constants.STATUS_ERROR, _reason(exc)
                # What was deployed before stays recorded (the driver keeps
                # serving it); the next sync tries this deploy again.
                LOG.error('Deploy of %s %s (generation %d) on device %s '
                          'failed: %s', resource.get('resource_type'),
                          resource_id, generation, device.get('name'),
                          description)
                if seconds is not None:
                    # The driver's own failure, not a refused message.
                    metrics.deploy(_driver_label(device), 'error', seconds)
            else:
                status, description = constants.STATUS_ACTIVE, note
                self.deployed[resource_id] = generation
                self._placed[resource_id] = device['name']
                self._fingerprints[resource_id] = _fingerprint(resource)
                LOG.info('Deployed %s %s (generation %d) on device %s',
                         resource.get('resource_type'), resource_id,
                         generation, device['name'])
                metrics.deploy(_driver_label(device), 'active', seconds)
        self._report(resource_id, generation, status, description)

    def undeploy(self, resource, report=True):
        resource_id, generation = resource['id'], resource['generation']
        if resource.get('keep_on_device'):
            self.release(resource_id, generation)
            return
        with self._lock(resource_id):
            if self.deployed.get(resource_id, generation) > generation:
                return
            error = None
            for driver in self._holders(resource_id):
                try:
                    driver.undeploy(resource_id)
                except Exception as exc:
                    error = _reason(exc)
                    LOG.error('Undeploy of %s from device %s failed: %s',
                              resource_id, driver.name, error)
            if error is None:
                self._forget(resource_id)
        if error is None:
            LOG.info('Undeployed %s %s (generation %d)',
                     resource.get('resource_type', 'resource'), resource_id,
                     generation)
        if report:
            # Never DELETED for what is still on a device: the server keeps
            # the resource PENDING_DELETE and the agent's log says why.
            self._report(resource_id, generation,
                         constants.STATUS_DELETED if error is None
                         else constants.STATUS_ERROR,
                         error)

    def release(self, resource_id, generation):
        """Stop managing a resource another agent of the same device now
        serves (a failover's rebind): the device keeps it."""
        with self._lock(resource_id):
            if self.deployed.get(resource_id, generation) > generation:
                return
            self._forget(resource_id)
        LOG.info('Released %s (generation %d): another agent of its device '
                 'manages it now', resource_id, generation)

    def converge(self, resources, elsewhere=(), withheld=(), devices=None):
        """Make what is deployed here match the server's list (sync).

        elsewhere: resources on our devices that other agents now manage
        (rebound while we were away): forgotten, left on the devices.
        withheld: ours, but the server could not decrypt their secrets:
        left exactly as they are (it may be a working tunnel), neither
        undeployed nor deployed.
        devices: names of the devices this agent manages now; a device
        elsewhere (not local) that it no longer manages and none of its
        resources is on (one the server assigned to another manager) is
        dropped without touching it: what it serves belongs to its other
        agents.
        """
        wanted = {r['id']: r for r in resources}
        if devices is not None:
            devices = set(devices)
            self._drop_devices(devices | {
                (r.get('device') or {}).get('name') for r in resources})
        elsewhere = set(elsewhere)
        keep = set(wanted) | set(withheld)
        for resource_id in elsewhere & set(self.deployed):
            self.release(resource_id, self.deployed.get(resource_id, 0))
        for resource_id, generation in list(self.deployed.items()):
            if resource_id not in keep:
                # Moved away or deleted while we could not hear: fenced.
                self.undeploy({'id': resource_id, 'generation': generation},
                              report=False)
        for resource in resources:
            resource_id = resource['id']
            # Once no longer withheld, deployed again even if unchanged: the
            # server marked it ERROR meanwhile and waits for a status.
            if self.deployed.get(resource_id) != resource['generation'] \
                    or self._fingerprints.get(resource_id) != \
                    _fingerprint(resource) or resource_id in self._withheld:
                self.deploy(resource)
        self._withheld = set(withheld)
        # What devices still hold that nobody wants: found in their files
        # after the agent restarted, or left by a failed undeploy. Only on
        # the devices this agent manages, or of its host: a device
        # elsewhere that it no longer manages (a rebind to its other agent
        # on the way) may hold what its other agents serve.
        with self._drivers_guard:
            known = [driver for name, driver in self._drivers.items()
                     if devices is None or name in devices or driver.local]
        for driver in known:
            for resource_id in driver.resources() - keep - elsewhere:
                self.undeploy({'id': resource_id,
                               'generation': self.deployed.get(resource_id,
                                                               0)},
                              report=False)

    def _drop_devices(self, keep):
        """Forget the drivers of devices elsewhere not in keep, and what
        was deployed through them, leaving the devices as they are."""
        with self._drivers_guard:
            gone = [name for name, driver in self._drivers.items()
                    if name not in keep and not driver.local]
        for name in gone:
            placed = [resource_id for resource_id, device in
                      list(self._placed.items()) if device == name]
            for resource_id in placed:
                self.release(resource_id, self.deployed.get(resource_id, 0))
            with self._drivers_guard:
                self._drivers.pop(name, None)
            LOG.info('Device %s is no longer managed by this agent: '
                     'dropped, %d resource(s) left on it for its other '
                     'agents', name, len(placed))

    def fence(self):
        """Stop serving what the devices of this host serve (drivers whose
        device is local), telling nobody: the server cannot be reached, and
        may have moved them already. The next sync deploys again what is
        still ours. Returns the ids undeployed."""
        with self._drivers_guard:
            local = [driver for driver in self._drivers.values()
                     if driver.local]
        fenced = set()
        for driver in local:
            # All of a device's at once: one reload, not one per VIP, so
            # the host stops serving in seconds even with a thousand.
            ids = sorted(driver.resources())
            with contextlib.ExitStack() as held:
                for resource_id in ids:
                    held.enter_context(self._lock(resource_id))
                try:
                    driver.undeploy_all(ids)
                except Exception as exc:
                    LOG.error('Fencing device %s failed: %s', driver.name,
                              _reason(exc))
                    continue
                for resource_id in ids:
                    self._forget(resource_id)
            fenced.update(ids)
        return sorted(fenced)

    # -- the data plane ----------------------------------------------------

    def operating_status(self):
        """{resource id: (generation, its driver's operating_status())}
        for what is deployed here."""
        return self._read('operating_status')

    def statistics(self):
        """{resource id: (generation, its driver's statistics())}."""
        return self._read('statistics')

    def _read(self, method):
        """method of every driver, kept to the resources deployed through
        it (a device's files may hold what is not ours): a driver that
        fails is logged and left out, the others still count."""
        with self._drivers_guard:
            known = list(self._drivers.items())
        found = {}
        for name, driver in known:
            try:
                readings = getattr(driver, method)()
            except Exception:
                LOG.exception('Reading the %s of device %s failed', method,
                              name)
                continue
            for resource_id, reading in readings.items():
                generation = self.deployed.get(resource_id)
                if generation is not None and \
                        self._placed.get(resource_id) == name:
                    found[resource_id] = (generation, reading)
        return found

    def _holders(self, resource_id):
        """Drivers that hold a resource: where it was deployed, and any
        other that found it in its files (after a restart)."""
        with self._drivers_guard:
            known = list(self._drivers.items())
        placed = self._placed.get(resource_id)
        return [driver for name, driver in known
                if name == placed or resource_id in driver.resources()]

    def _forget(self, resource_id):
        self.deployed.pop(resource_id, None)
        self._placed.pop(resource_id, None)
        self._fingerprints.pop(resource_id, None)

    def _report(self, resource_id, generation, status, description):
        try:
            # Within the report schema's bound, cut where a reader sees it.
            self._report_status(resource_id, generation, status,
                                formats.shorten(description))
        except Exception as exc:
            LOG.warning('Could not report %s of %s to the server (%s); the '
                        'next sync repeats it', status, resource_id, exc)
