"""agentsched-server's service: heartbeat intake, status RPC, local agents."""

import gc
import os
import socket
import threading

from oslo_log import log as logging
import oslo_messaging
from oslo_service import service
import setproctitle

from agentsched import algorithms
from agentsched import constants
from agentsched import messaging
from agentsched import metrics
from agentsched import notifications
from agentsched import server_metrics
from agentsched import signing
from agentsched.agents import devices as agent_devices
from agentsched.agents import service as agent_service
from agentsched.api import app as api_app
from agentsched.api import auth as api_auth
from agentsched.api import serving as api_serving
from agentsched.db import engine as db_engine
from agentsched.db import migration
from agentsched.health import leader
from agentsched.health import monitor as health_monitor
from agentsched.reports import device_sync
from agentsched.reports import endpoint as reports_endpoint
from agentsched.reports import intake as reports_intake
from agentsched.reports import sink as reports_sink
from agentsched.reports import trust as report_trust
from agentsched.services import agent_notifier
from agentsched.services import agent_sync
from agentsched.services import resource_types
from agentsched.services import secrets
from agentsched.services import wiring

LOG = logging.getLogger(__name__)


class SchemaNotCurrent(RuntimeError):
    pass


class PortInUse(RuntimeError):
    pass


class StatusEndpoint:
    """Server status over RPC, for agentsched-manage and tests.

    API version history:
        1.0 - get_report_stats
    """
    target = oslo_messaging.Target(namespace='status', version='1.0')

    def __init__(self, server):
        self._server = server

    def get_report_stats(self, context):
        return self._server.report_stats()


class ServerService(service.Service):

    def __init__(self, conf, local_agents=0, report_figures=None):
        """report_figures: the report workers' ReportWorkerFigures, read at
        scrape (None without report workers)."""
        super().__init__()
        self._conf = conf
        self._local_agent_count = local_agents
        self.report_figures = report_figures
        self.local_agents = []
        self._rpc_servers = []
        self._stop = threading.Event()
        self.heartbeats = None
        self.api = None
        self.monitor = None
        self._metrics_off = None
        self._metrics_listener = None

    def start(self):
        super().start()
        conf = self._conf
        self.engine = db_engine.create_engine(conf)
        check_schema(self.engine)
        notifications.setup(conf)
        # The embedded default keeps its own keys; others configure theirs.
        embedded_directory = (None if conf.database.connection
                              else db_engine.state_path(conf))
        self.secret_box = secrets.from_conf(
            conf, embedded_directory=embedded_directory)
        self.keyring, signer, verifier = _signing(conf, embedded_directory)
        if not report_workers(conf):
            # Otherwise the report workers take the topic (cmd/server.py
            # launches them).
            self.heartbeats = Heartbeats(conf, self.engine, self.keyring,
                                         verifier)
        self.sink = self.heartbeats and self.heartbeats.sink
        self.reports = self.heartbeats and self.heartbeats.reports
        self.device_sync = self.heartbeats and self.heartbeats.device_sync
        notifier = agent_notifier.AgentNotifier(conf, signer, self.keyring)
        self.services = wiring.build(conf, self.engine, notifier,
                                     self.secret_box)
        self.resources = self.services.resources
        if conf.api.enabled or conf.health.enabled:   # what places
            self.resources.warm()
        self.failover = self.services.failover
        self.agent_sync = agent_sync.AgentSyncEndpoint(
            self.engine, self.secret_box, self.resources, self.keyring,
            verifier, signer, conf.signing.enforce,
            data_plane=self.services.data_plane)
        plugin_server = messaging.get_server(
            conf, constants.PLUGIN_TOPIC,
            [StatusEndpoint(self), self.agent_sync])
        plugin_server.start()
        self._rpc_servers = [plugin_server]
        if self.heartbeats is None:
            LOG.info('agentsched-server on %s: heartbeats on topic %s, '
                     'exchange %s, taken by %d report workers', conf.host,
                     conf.reports.topic, conf.control_exchange,
                     report_workers(conf))
        else:
            LOG.info('agentsched-server on %s: %d agents known, heartbeats '
                     'on topic %s, exchange %s', conf.host,
                     self.heartbeats.known, conf.reports.topic,
                     conf.control_exchange)
        if conf.api.enabled:
            self.api = api_serving.APIServer(
                api_app.make_app(self.services),
                conf.bind_host, conf.bind_port, conf.api_workers,
                backlog=conf.backlog,
                connection_limit=conf.api.connection_limit,
                client_timeout=conf.client_socket_timeout)
            self.api.start()
        if conf.reports.stats_log_interval and self.heartbeats is not None:
            threading.Thread(target=self._log_stats, name='report-stats',
                             daemon=True).start()
        if conf.health.enabled:
            # With report workers the monitor watches the intake through
            # the database alone (its outage guard's stored heartbeats).
            self.monitor = health_monitor.HealthMonitor(
                self.engine, conf, self.failover, leader.from_conf(conf),
                report_stats=self.reports and self.reports.stats,
                sink=self.sink, assignment=self.services.assignment)
            self.monitor.start()
        self._start_metrics(conf)
        for index in range(self._local_agent_count):
            host = '%s-local-%d' % (conf.host, index + 1)
            agent = agent_service.AgentService(
                conf, host, agent_devices.simulated(host),
                keyring=self.keyring)
            agent.start()
            self.local_agents.append(agent)

    def stop(self, graceful=False):
        self._stop.set()
        if self._metrics_off is not None:
            self._metrics_off()
        if self._metrics_listener is not None:
            self._metrics_listener.shutdown()
        if self.monitor is not None:
            self.monitor.stop()
        if self.api is not None:
            self.api.stop()
        for agent in self.local_agents:
            agent.stop()
        for rpc_server in self._rpc_servers:
            rpc_server.stop()
        if self.heartbeats is not None:
            self.heartbeats.stop()
        for rpc_server in self._rpc_servers:
            rpc_server.wait()
        notifications.cleanup()
        super().stop(graceful)

    def _start_metrics(self, conf):
        metrics.enable(conf.metrics.enabled)
        if not conf.metrics.enabled:
            return
        self._metrics_off = metrics.register(
            server_metrics.ServerCollector(self))
        if conf.metrics.port:
            self._metrics_listener = metrics.serve(conf.metrics.bind_host,
                                                   conf.metrics.port)
            LOG.info('Prometheus metrics on http://%s:%d/metrics',
                     conf.metrics.bind_host, conf.metrics.port)

    def state(self):
        """What a guru meditation report shows: the counters, once the
        service runs in this process (None before)."""
        if getattr(self, 'agent_sync', None) is None:
            return None
        return self.report_stats()

    def report_stats(self):
        """This process's counters; with report workers, their heartbeat
        counters summed (what /metrics sums, server_metrics.
        ReportWorkerFigures: at most a publication interval behind)."""
        if self.heartbeats is None:
            stats = {'report_workers': report_workers(self._conf)}
            if self.report_figures is not None:
                totals = self.report_figures.totals()
                stats.update((field, int(totals[field])) for field in
                             server_metrics.COUNTERS + ('pending',))
        else:
            stats = self.heartbeats.stats()
        stats.update(refused_calls=self.agent_sync.refused,
                     invalid_batches=self.agent_sync.invalid)
        return stats

    def _log_stats(self):
        _log_stats(self._stop, self._conf, self.heartbeats.stats)


def _log_stats(stop, conf, stats):
    while not stop.wait(conf.reports.stats_log_interval):
        LOG.info('Heartbeats: %(accepted)d accepted, %(rejected)d '
                 'rejected, %(failed)d failed, %(pending)d pending', stats())


def _signing(conf, embedded_directory):
    """(keyring, signer, verifier); all None without [signing]
    master_keys."""
    keyring = signing.server_keyring(conf, embedded_directory)
    if keyring is None:
        LOG.warning('No [signing] master_keys: messages on the bus are '
                    'neither signed nor verified, any bus client can act as '
                    'any agent, and secrets cross the bus in clear '
                    '(docs/security.md)')
        return None, None, None
    return (keyring, signing.Signer(keyring),
            signing.Verifier(keyring, conf.signing.replay_window))


def report_workers(conf):
    """How many report worker processes take the report topic: 0 when the
    server process takes it itself, as always on the in-process bus (only
    its own local agents can report there)."""
    if messaging.is_in_process(conf):
        return 0
    return conf.reports.workers


class Heartbeats:
    """The report topic's intake and what it feeds: the endpoint, the sink
    and its device sync. Started here, in the server process or in a
    report worker (one home for this wiring)."""

    def __init__(self, conf, engine, keyring, verifier):
        self.device_sync = device_sync.DeviceSync()
        self.sink = reports_sink.HeartbeatSink(
            engine, conf.agent_down_time, conf.reports.flush_interval,
            enable_new_agents=conf.enable_new_agents,
            load_keys=conf.reports.load_keys,
            flush_retry_max_wait=conf.reports.flush_retry_max_wait,
            device_sync=self.device_sync,
            pin_signed_agents=(keyring is not None and
                               conf.signing.enforce))
        self.known = self.sink.load_views()
        # What exists now (modules, configuration, every agent's view)
        # lives as long as the intake: out of the collector's sight, or
        # each full collection walks it again. Decoded reports and flushes
        # make enough survivors for one every second or so: a fifth of the
        # server's CPU per heartbeat on the kombu intake (docs/benchmarks.md).
        gc.collect()
        gc.freeze()
        self.sink.start()
        self.reports = reports_endpoint.ReportsEndpoint(
            self.sink, conf.agent_down_time,
            trust=report_trust.ReportTrust(
                verifier, conf.signing.unsigned_agent_types,
                conf.signing.enforce))
        self.intake = reports_intake.start(conf, self.reports)

    def stats(self):
        stats = self.reports.stats.as_dict()
        stats.update(refused_devices=self.device_sync.refused,
                     topic_changes=self.sink.topic_changes,
                     pending=self.sink.pending_count(),
                     flushed_rows=self.sink.flushed_rows,
                     flush_failures=self.sink.flush_failures)
        return stats

    def stop(self):
        """Stop taking reports, then write what was taken."""
        self.intake.stop()
        self.intake.wait()
        self.sink.stop()
        # Collectable again (a process that starts servers again, as tests
        # do, would otherwise keep every stopped one's cycles).
        gc.unfreeze()


class ReportWorkerService(service.Service):
    """A report worker ([reports] workers): only the heartbeat intake, its
    own sink and endpoint. Its heartbeat figures go to the server's
    process through report_figures (a ReportWorkerFigures the master made);
    its instrumented metrics only where processes share them
    (PROMETHEUS_MULTIPROC_DIR)."""

    def __init__(self, conf, report_figures=None):
        super().__init__()
        self._conf = conf
        self._report_figures = report_figures
        self._stop = threading.Event()
        self._publisher = None
        self.heartbeats = None

    def start(self):
        super().start()
        conf = self._conf
        _name_process('report')
        # Only the server process's exposition shows metrics: a worker's
        # count only where processes share them.
        metrics.enable(conf.metrics.enabled and
                       bool(os.environ.get('PROMETHEUS_MULTIPROC_DIR')))
        self.engine = db_engine.create_engine(conf)
        notifications.setup(conf)
        embedded_directory = (None if conf.database.connection
                              else db_engine.state_path(conf))
        keyring, _signer, verifier = _signing(conf, embedded_directory)
        self.heartbeats = Heartbeats(conf, self.engine, keyring, verifier)
        LOG.info('Report worker on %s: %d agents known, heartbeats on topic '
                 '%s, exchange %s', conf.host, self.heartbeats.known,
                 conf.reports.topic, conf.control_exchange)
        if conf.reports.stats_log_interval:
            threading.Thread(
                target=_log_stats, args=(self._stop, conf,
                                         self.heartbeats.stats),
                name='report-stats', daemon=True).start()
        if self._report_figures is not None:
            self._publisher = threading.Thread(
                target=self._publish_figures, name='report-figures',
                daemon=True)
            self._publisher.start()

    def _publish_figures(self):
        while not self._stop.wait(server_metrics.PUBLISH_INTERVAL):
            self._report_figures.publish(
                server_metrics.heartbeat_figures(self.heartbeats))

    def stop(self, graceful=False):
        self._stop.set()
        if self.heartbeats is not None:
            self.heartbeats.stop()
        if self._publisher is not None:
            self._publisher.join()
            # The last figures, after the last flush.
            self._report_figures.publish(
                server_metrics.heartbeat_figures(self.heartbeats))
        notifications.cleanup()
        super().stop(graceful)


def _name_process(kind):
    """cotyledon titles every worker 'ServiceWrapper worker(i)': say which
    kind this is in ps."""
    title = setproctitle.getproctitle()
    setproctitle.setproctitle(title.replace('ServiceWrapper', kind))


def preflight(conf):
    """Checks that would otherwise fail inside the worker, again and again.

    Raises SchemaNotCurrent, PortInUse, UnsafeNoAuth or
    algorithms.UnknownPlugin with a message for the operator.
    """
    # A misspelt plugin name would fail the worker at every start, or
    # every placement.
    algorithms.load_device_assigner(conf)
    for resource_type in resource_types.Registry().names():
        algorithms.load(conf, resource_type)
    if conf.api.enabled and conf.auth_strategy == 'noauth':
        api_auth.check_noauth(conf)
    if conf.api.enabled and conf.bind_port:
        _check_port_free(conf.bind_host, conf.bind_port)
    engine = db_engine.create_engine(conf)
    try:
        check_schema(engine)
    finally:
        engine.dispose()


def _check_port_free(host, port):
    family = socket.AF_INET6 if ':' in host else socket.AF_INET
    with socket.socket(family) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as exc:
            raise PortInUse('cannot listen on %s:%d for the REST API (%s): '
                            'is another agentsched-server running? Set '
                            'bind_port, or [api] enabled = false' % (
                                host, port, exc.strerror))


def check_schema(engine):
    if engine.url.get_backend_name() == 'sqlite':
        # The embedded default keeps itself current; nobody runs
        # agentsched-manage for a try-out.
        migration.upgrade(engine)
        return
    current, head = migration.current(engine), migration.head()
    if current != head:
        raise SchemaNotCurrent(
            'The database schema is at %s, this server needs %s: run '
            '"agentsched-manage db upgrade" first' % (current, head))
