"""The agent daemon: heartbeats, and an RPC endpoint the server casts to."""

import collections
import json
import threading
import time

from oslo_log import log as logging
import oslo_messaging
from oslo_service import service
import tenacity

from agentsched import constants
from agentsched import messaging
from agentsched import metrics
from agentsched import sealing
from agentsched import signing
from agentsched.agents import data_plane
from agentsched.agents import deployments
from agentsched.agents import devices as agent_devices
from agentsched.agents import server_api
from agentsched.agents import service_plugins
from agentsched.reports import reporter

LOG = logging.getLogger(__name__)

# What a heartbeat says of a device managed remotely: its description is
# the admin's, kept by the server (physical_info and credentials never go
# into a heartbeat).
_REPORTED_REMOTE = ('name', 'device_type', 'service_type')
# Bytes of a heartbeat's configurations kept for all but its devices (the
# drivers in use, 32 remote device types of 255 characters, serialization).
_REPORT_ROOM = 16 * 1024


class AgentEndpoint:
    """What the server casts to <agent topic>.<host>.

    API version history:
        1.0 - agent_updated, devices_updated
        1.1 - deploy, undeploy
        1.2 - every method takes signature (signing.py); a deploy's secrets
              may come sealed to this host
    """

    target = oslo_messaging.Target(version='1.2')

    def __init__(self, agent):
        self._agent = agent

    def agent_updated(self, context, payload, signature=None):
        if self._agent.accepts('agent_updated', {'payload': payload},
                               signature):
            LOG.info('Server updated this agent: %s', payload)
            self._agent.admin_state_up = payload.get('admin_state_up')

    def devices_updated(self, context, signature=None):
        if self._agent.accepts('devices_updated', {}, signature):
            LOG.info('Server says the devices of this agent changed')
            self._agent.fetch_and_converge()

    def deploy(self, context, resource, signature=None):
        if self._agent.accepts('deploy', {'resource': resource}, signature):
            resource = self._agent.open_secrets(resource)
            if resource is not None:
                self._agent.deployments.deploy(resource)

    def undeploy(self, context, resource, signature=None):
        if self._agent.accepts('undeploy', {'resource': resource},
                               signature):
            self._agent.deployments.undeploy(resource)


class AgentService(service.Service):
    """One agentsched-agent: reports its state and devices every interval."""

    def __init__(self, conf, host, devices, plugin=None, keyring=None,
                 remote_device_types=None):
        """plugin: the service (agents/service_plugins) this agent runs;
        the first of [agent] services by default. keyring: what it signs
        with (signing.Keyring); [signing] host_keys by default, and with
        none it neither signs nor verifies. remote_device_types: the device
        types it manages remotely; [agent] remote_device_types by
        default."""
        super().__init__()
        self._conf = conf
        self.host = host
        self.remote_device_types = agent_devices.remote_device_types(
            conf, remote_device_types)
        self._keyring = keyring or signing.Keyring.for_agent(
            host, conf.signing.host_keys)
        self._signer = (signing.Signer(self._keyring)
                        if self._keyring is not None else None)
        self._verifier = (signing.Verifier(self._keyring,
                                           conf.signing.replay_window)
                          if self._keyring is not None else None)
        self.devices = devices
        if plugin is None:
            plugin = service_plugins.load(conf.agent.services[:1])[0]
        self.agent_type = plugin.agent_type
        self.topic = plugin.topic
        self.admin_state_up = None
        self._interval = conf.agent.report_interval
        self._timeout = conf.agent.report_timeout or self._interval
        self._retry_max_wait = conf.agent.retry_max_wait or self._interval
        self._start_flag = True
        self._resync_interval = conf.agent.resync_interval
        self._reports_since_sync = 0
        self._stop = threading.Event()
        self._thread = None
        self._fence_thread = None
        self._data_plane_thread = None
        self.data_plane = None
        fence_time = conf.agent.fence_time
        self._fence_time = (conf.agent_down_time if fence_time is None
                            else fence_time)
        # Whether it fences itself when not heard for fence_time.
        self._fencing = conf.agent.fence_on_isolation and fence_time != 0
        if fence_time == 0:
            LOG.warning('[agent] fence_time = 0 is deprecated: set [agent] '
                        'fence_on_isolation = false (the same: never fence)')
        elif self._fencing and self._timeout >= self._fence_time:
            # An answer past fence_time is not counted (report_once).
            LOG.warning('[agent] report_timeout (%s s) is not below '
                        'fence_time (%s s): a slow answer leaves the agent '
                        'fenced', self._timeout, self._fence_time)
        # When the last heartbeat the server accepted was sent (monotonic);
        # the start counts as one: how long a previous incarnation was away
        # is unknown, and an agent that never reaches the server fences
        # fence_time after its start.
        self._last_accepted = time.monotonic()
        # Set while fenced: what this host served is stopped until the
        # server answers again.
        self.fenced = False
        self._rpc_server = None
        self.resync_hooks = [self._log_resync, self.fetch_and_converge]
        # A 'revived' answered to a heartbeat not counted (sent longer than
        # fence_time before it was answered): the resync is still owed.
        self._revival_pending = False
        self.last_status = None
        self.last_devices = []
        # What the server says this agent manages (sync), credentials
        # included: kept in memory only, never logged.
        self.managed_devices = []
        # Remote devices left out of the last heartbeat (_fitting).
        self._left_out = 0
        self._sync_lock = threading.Lock()
        self.deployments = deployments.Deployments(self._report_status,
                                                   conf=conf)

    def agent_state(self):
        remote = self.remote_devices()
        # Health and load as the device drivers see them now, and the
        # drivers in use (Neutron's LBaaS agent reported device_drivers).
        configurations = {
            'devices': self._device_health(remote),
            'device_drivers': sorted({d['device_type']
                                      for d in self.devices + remote})}
        if self.remote_device_types:
            configurations['remote_device_types'] = self.remote_device_types
        return {
            'agent_type': self.agent_type,
            'binary': constants.AGENT_BINARY,
            'host': self.host,
            'topic': self.topic,
            'availability_zone': self._conf.agent.availability_zone,
            'configurations': configurations,
            'start_flag': self._start_flag,
        }

    def _device_health(self, remote):
        """Health and load of its own devices and of those it manages
        remotely (remote: their dicts from the sync), as heartbeat entries;
        kept for the agent's metrics (device health by type)."""
        own = self.deployments.device_health(self.devices)
        self.last_devices = own + self._fitting(
            own, self.deployments.device_health(remote, _REPORTED_REMOTE))
        return self.last_devices

    def _fitting(self, own, managed):
        """The remote devices' entries that fit in a heartbeat beside its
        own devices' (the server refuses a report beyond its bounds, and an
        agent whose reports are refused is judged dead): the rest are left
        out, with a WARNING when their number changes."""
        if not managed:
            return managed
        budget = constants.MAX_CONFIGURATIONS_BYTES - _REPORT_ROOM
        used = sum(len(json.dumps(entry)) + 1 for entry in own)
        kept = []
        for entry in managed:
            used += len(json.dumps(entry)) + 1
            if used > budget or len(own) + len(kept) >= \
                    constants.MAX_DEVICES_PER_REPORT:
                break
            kept.append(entry)
        left_out = len(managed) - len(kept)
        if left_out != self._left_out:
            self._left_out = left_out
            if left_out:
                LOG.warning('Agent %s on %s manages %d devices more than '
                            'its heartbeats can carry: %d left out of them '
                            '(no health reported for them from here)',
                            self.agent_type, self.host, left_out, left_out)
        return kept

    def remote_devices(self):
        """The devices this agent manages remotely: those of its sync
        (assigned by the server, or pinned by an admin) of a type in its
        remote_device_types and not one of its own [device:] sections;
        dicts with physical_info and credentials, as the sync gave them."""
        if not self.remote_device_types:
            return []
        own = {device['name'] for device in self.devices}
        return [device for device in self.managed_devices
                if device.get('device_type') in self.remote_device_types
                and device.get('name') not in own]

    def start(self):
        super().start()
        self._reporter = reporter.StateReporter(self._conf, self._timeout,
                                                self._signer)
        self._server = server_api.ServerAPI(
            self._conf, self._timeout, self._signer, self._verifier,
            self._conf.signing.enforce)
        self._rpc_server = messaging.get_server(
            self._conf, self.topic, [AgentEndpoint(self)], server=self.host)
        self._rpc_server.start()
        self.data_plane = data_plane.DataPlaneReporter(
            self.deployments, self._server, self.agent_type, self.host,
            self._conf.agent.status_interval,
            self._conf.agent.stats_interval)
        self.resync_hooks.append(self.data_plane.forget)
        self._data_plane_thread = threading.Thread(
            target=self.data_plane.run, args=(self._stop,),
            name='data-plane-%s' % self.host, daemon=True)
        self._data_plane_thread.start()
        self._thread = threading.Thread(
            target=self._run, name='heartbeat-%s' % self.host, daemon=True)
        self._thread.start()
        if self._fencing:
            self._fence_thread = threading.Thread(
                target=self._watch_fence, name='fence-%s' % self.host,
                daemon=True)
            self._fence_thread.start()
        LOG.info('Agent %s on %s started: %d devices, reporting every %d s',
                 self.agent_type, self.host, len(self.devices),
                 self._interval)
        if self._signer is None:
            LOG.warning('Agent %s on %s has no [signing] host_keys: it sends '
                        'unsigned messages (servers with master keys refuse '
                        'them) and takes any cast (docs/security.md)',
                        self.agent_type, self.host)

    def stop(self, graceful=False):
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=self._timeout + 1)
        if self._fence_thread is not None:
            self._fence_thread.join(timeout=self._timeout + 1)
        if self._data_plane_thread is not None:
            self._data_plane_thread.join(timeout=self._timeout + 1)
        if self._rpc_server is not None:
            self._rpc_server.stop()
            self._rpc_server.wait()
        super().stop(graceful)

    def _run(self):
        while not self._stop.is_set():
            try:
                self.report_once()
            except Exception:
                if self._stop.is_set():
                    return
                LOG.exception('Heartbeat failed unexpectedly')
            self._stop.wait(self._interval)

    def report_once(self):
        """Send one heartbeat, retrying with capped back-off until it lands.

        The timeout of each attempt's answer is fixed (report_timeout) and
        the wait between attempts grows to retry_max_wait at most. Without
        a broker, an attempt's send waits while oslo.messaging reconnects
        (its own back-off: kombu_reconnect_delay and a wait growing to
        rabbit_interval_max), and leaves once the broker is back.
        """
        retrying = tenacity.Retrying(
            wait=tenacity.wait_exponential_jitter(
                initial=1, max=self._retry_max_wait),
            retry=tenacity.retry_if_not_exception_type(
                oslo_messaging.RemoteError),
            stop=tenacity.stop_when_event_set(self._stop),
            sleep=self._stop.wait,
            before_sleep=self._log_failure,
            reraise=True)
        try:
            sent, status = retrying(self._send_report)
            while self._fencing and self._fence_left(sent) <= 0:
                # Answered, but sent longer than fence_time ago (its send
                # waited for the broker, or the agent was frozen): the
                # server may have judged this agent since. Heard on this
                # one, it would fence again at once: another goes now.
                self._revival_pending |= status == constants.AGENT_REVIVED
                metrics.heartbeat_sent('late')
                LOG.warning('Heartbeat of %s answered %.1f s after its '
                            'sending, past fence_time: not counted; '
                            'sending another', self.host,
                            time.monotonic() - sent)
                if self._stop.is_set():
                    return None
                sent, status = retrying(self._send_report)
        except oslo_messaging.RemoteError as exc:
            # The server refused this report (InvalidReport names why);
            # sending it again at once would be refused again.
            metrics.heartbeat_sent('refused')
            LOG.error('Server refused the heartbeat of %s: %s: %s',
                      self.host, exc.exc_type, exc.value)
            return None
        self._last_accepted = sent
        metrics.heartbeat_sent('accepted')
        unfenced = self._unfence()
        # start_flag is dropped only once a report carrying it was taken.
        if self._start_flag:
            self._start_flag = False
            self._reports_since_sync = 0
            self.fetch_and_converge()
        elif self._resync_interval:
            # Periodic resync: repairs what a lost cast left out of step.
            self._reports_since_sync += 1
            if self._reports_since_sync >= self._resync_interval:
                self._reports_since_sync = 0
                self.fetch_and_converge()
        if status != self.last_status:
            LOG.info('Server answered %s to agent %s on %s', status,
                     self.agent_type, self.host)
        self.last_status = status
        if status == constants.AGENT_REVIVED or self._revival_pending:
            self._revival_pending = False
            for hook in self.resync_hooks:
                hook()
        elif unfenced:
            # Not judged down after all (a fence_time shorter than the
            # server's agent_down_time): what is still ours comes back.
            self.fetch_and_converge()
        return status

    def _send_report(self):
        """One heartbeat attempt: (when it was sent, the server's answer).
        The fence clock starts at the sending: the server's clock for this
        heartbeat starts later, so the agent never fences after it.

        Past the fence time, it fences first: an agent whose process was
        frozen wakes with all its threads at once, and must stop serving
        what may have moved before it is heard (and its sync removes what
        did), whichever thread runs first."""
        if self._fencing and self._fence_left() <= 0:
            self.fence()
        state = self.agent_state()   # device checks: seconds, at times
        sent = time.monotonic()
        return sent, self._reporter.report_state(state)

    # -- fencing -------------------------------------------------------------

    def _watch_fence(self):
        """Fence this agent once no heartbeat was accepted for fence_time;
        wakes at each deadline (an accepted heartbeat moves it on)."""
        while not self._stop.is_set():
            left = self._fence_left()
            if left <= 0 and not self.fenced:
                self.fence()
            self._stop.wait(left if left > 0 else self._interval)

    def _fence_left(self, accepted=None):
        """Seconds until the fence, counted from the sending of the last
        accepted heartbeat (or of the one accepted at accepted)."""
        if accepted is None:
            accepted = self._last_accepted
        return accepted + self._fence_time - time.monotonic()

    def fence(self):
        """Stop serving on this host's devices: past fence_time without an
        accepted heartbeat, the server has judged this agent down and may
        have moved its resources to other agents, which serve the same
        addresses. Nothing is told to the server (it cannot be reached).
        Called by the fence thread at the deadline and by every heartbeat
        attempt past it; whichever comes second waits for the first."""
        with self._sync_lock:
            if self.fenced or self._fence_left() > 0:
                return  # fenced already, or heard meanwhile
            self.fenced = True
            fenced = self.deployments.fence()
            # Counted, not listed: each undeploy logged its own line.
            # Logged before a heartbeat waiting for the lock is sent.
            LOG.warning('Agent %s on %s fenced itself: no heartbeat '
                        'accepted for %.0f s (fence_time); stopped serving '
                        '%d resource(s) until the server answers',
                        self.agent_type, self.host, self._fence_time,
                        len(fenced))

    def _unfence(self):
        """After an accepted heartbeat: whether this agent was fenced
        (and is no longer)."""
        if not self.fenced:
            return False
        self.fenced = False
        LOG.info('Agent %s on %s is heard again: unfenced; its sync deploys '
                 'what is still its own', self.agent_type, self.host)
        return True

    def accepts(self, method, arguments, signature):
        """Whether a cast from the server is taken: with host keys, only
        when signed for this agent; it is logged once when not."""
        if self._verifier is None or (signature is None and
                                      not self._conf.signing.enforce):
            return True
        try:
            self._verifier.verify(method, arguments, signature, self.host,
                                  self.agent_type)
        except signing.BadSignature as exc:
            LOG.warning('Agent %s on %s ignored a %s cast: %s',
                        self.agent_type, self.host, method, exc)
            return False
        return True

    def open_secrets(self, message):
        """A deploy message or a device with its sealed secrets opened;
        None (logged) if they were not sealed for this host."""
        try:
            return sealing.open_secrets(self._keyring, self.host, message)
        except sealing.CannotUnseal as exc:
            LOG.error('Agent %s on %s cannot use %s %s: %s', self.agent_type,
                      self.host, message.get('resource_type', 'device'),
                      message.get('id'), exc)
            return None

    def fetch_and_converge(self):
        """Learn from the server what this agent manages now."""
        with self._sync_lock:
            try:
                answer = self._server.assigned_resources(self.agent_type, self.host)
            except (oslo_messaging.MessagingException,
                    signing.BadSignature) as exc:
                LOG.warning('Sync of %s failed (%s); the next start, '
                            'revival or device change retries', self.host,
                            exc)
                return False
            self.managed_devices = [
                self.open_secrets(d) or dict(
                    d, credentials=None,
                    credentials_error='not sealed for this host')
                for d in answer['devices']]
            resources, withheld = [], list(answer.get('withheld', ()))
            for resource in answer.get('resources', []):
                opened = self.open_secrets(resource)
                if opened is None:
                    # Left as it is, as the server's own withheld ones.
                    withheld.append(resource['id'])
                else:
                    resources.append(opened)
            past_fence_time = self._fencing and self._fence_left() <= 0
            if not past_fence_time:
                # Devices it no longer manages (a remote one the server
                # reassigned while it was away) are dropped, never touched.
                self.deployments.converge(
                    resources, answer.get('elsewhere', ()), withheld,
                    devices={device['name'] for device in
                             self.devices + self.managed_devices})
        if past_fence_time:
            # Frozen since its last heartbeat was accepted: what it would
            # deploy may have moved. It fences instead; the next heartbeat
            # accepted syncs again.
            self.fence()
            return False
        LOG.info('Agent %s on %s manages %d devices: %s', self.agent_type,
                 self.host, len(self.managed_devices),
                 ', '.join(d['name'] for d in self.managed_devices))
        return True

    def state(self):
        """This agent as a guru meditation report shows it (no secret:
        ids, names and counts)."""
        return {'host': self.host, 'last_status': self.last_status,
                'fenced': self.fenced, 'admin_state_up': self.admin_state_up,
                'devices': sorted(d['name'] for d in self.devices),
                'managed_devices': sorted(d['name']
                                          for d in self.managed_devices),
                'deployed': dict(self.deployments.deployed)}

    def _report_status(self, resource_id, generation, status, description):
        return self._server.update_status(self.agent_type, self.host,
                                          resource_id, generation, status,
                                          description)

    def _log_failure(self, retry_state):
        metrics.heartbeat_sent('failed')
        LOG.warning('Heartbeat of %s failed (%s); retrying in %.1f s',
                    self.host, retry_state.outcome.exception(),
                    retry_state.next_action.sleep)

    def _log_resync(self):
        LOG.info('Server reports agent %s on %s revived: resyncing',
                 self.agent_type, self.host)


class AgentGroup(service.Service):
    """The agents of one agentsched-agent process, one per service, and
    the process's metrics listener ([agent] metrics_port)."""

    def __init__(self, agents, conf=None):
        super().__init__()
        self.agents = agents
        self._conf = conf
        self._metrics_listener = None
        self._metrics_off = None

    def start(self):
        super().start()
        for agent in self.agents:
            agent.start()
        if self._conf is not None and self._conf.agent.metrics_port:
            self._metrics_off = metrics.register(AgentCollector(self.agents))
            self._metrics_listener = metrics.serve(
                self._conf.agent.metrics_bind_host,
                self._conf.agent.metrics_port)
            LOG.info('Prometheus metrics on http://%s:%d/metrics',
                     self._conf.agent.metrics_bind_host,
                     self._conf.agent.metrics_port)

    def state(self):
        """What a guru meditation report shows of each agent; None where
        they do not run (before start: the supervising process)."""
        if not any(agent.data_plane for agent in self.agents):
            return None
        return {agent.agent_type: agent.state() for agent in self.agents}

    def stop(self, graceful=False):
        if self._metrics_listener is not None:
            self._metrics_listener.shutdown()
            self._metrics_off()
        for agent in self.agents:
            agent.stop(graceful)
        super().stop(graceful)


class AgentCollector:
    """The agents' gauges at scrape time, from what they last reported."""

    def __init__(self, agents):
        self._agents = agents

    def describe(self):
        return []

    def collect(self):
        health = collections.Counter(
            (agent.agent_type, device.get('device_type', ''),
             device.get('health', ''))
            for agent in self._agents for device in agent.last_devices)
        yield metrics.gauge('agent_devices', 'This agent\'s devices by type '
                            'and health, as its last heartbeat reported.',
                            ['agent_type', 'device_type', 'health'],
                            [key + (count,) for key, count in
                             sorted(health.items())])
        yield metrics.gauge('agent_resources_deployed', 'Resources this '
                            'agent has deployed.', ['agent_type'],
                            [(agent.agent_type,
                              len(agent.deployments.deployed))
                             for agent in self._agents])
        yield metrics.gauge('agent_fenced', '1 while the agent is fenced '
                            '(no heartbeat accepted for fence_time).',
                            ['agent_type'],
                            [(agent.agent_type, 1 if agent.fenced else 0)
                             for agent in self._agents])
