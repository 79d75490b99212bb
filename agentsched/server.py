"""agentsched-server's service: heartbeat intake, status RPC, local agents."""

import threading

from oslo_log import log as logging
import oslo_messaging
from oslo_service import service

from agentsched import constants
from agentsched import messaging
from agentsched.agents import devices as agent_devices
from agentsched.agents import service as agent_service
from agentsched.db import engine as db_engine
from agentsched.db import migration
from agentsched.reports import endpoint as reports_endpoint
from agentsched.reports import sink as reports_sink

LOG = logging.getLogger(__name__)


class SchemaNotCurrent(RuntimeError):
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

    def __init__(self, conf, local_agents=0):
        super().__init__()
        self._conf = conf
        self._local_agent_count = local_agents
        self.local_agents = []
        self._rpc_servers = []
        self._stop = threading.Event()

    def start(self):
        super().start()
        conf = self._conf
        self.engine = db_engine.create_engine(conf)
        _check_schema(self.engine)
        self.sink = reports_sink.HeartbeatSink(
            self.engine, conf.agent_down_time, conf.reports.flush_interval,
            enable_new_agents=conf.enable_new_agents,
            load_keys=conf.reports.load_keys,
            flush_retry_max_wait=conf.reports.flush_retry_max_wait)
        known = self.sink.load_views()
        self.sink.start()
        self.reports = reports_endpoint.ReportsEndpoint(
            self.sink, conf.agent_down_time)
        self._rpc_servers = [
            messaging.get_server(conf, conf.reports.topic, [self.reports]),
            messaging.get_server(conf, constants.PLUGIN_TOPIC,
                                 [StatusEndpoint(self)]),
        ]
        for rpc_server in self._rpc_servers:
            rpc_server.start()
        LOG.info('agentsched-server on %s: %d agents known, heartbeats on '
                 'topic %s, exchange %s', conf.host, known,
                 conf.reports.topic, conf.control_exchange)
        if conf.reports.stats_log_interval:
            threading.Thread(target=self._log_stats, name='report-stats',
                             daemon=True).start()
        for index in range(self._local_agent_count):
            host = '%s-local-%d' % (conf.host, index + 1)
            agent = agent_service.AgentService(
                conf, host, agent_devices.simulated(host))
            agent.start()
            self.local_agents.append(agent)

    def stop(self, graceful=False):
        self._stop.set()
        for agent in self.local_agents:
            agent.stop()
        for rpc_server in self._rpc_servers:
            rpc_server.stop()
        for rpc_server in self._rpc_servers:
            rpc_server.wait()
        self.sink.stop()
        super().stop(graceful)

    def report_stats(self):
        stats = self.reports.stats.as_dict()
        stats.update(pending=self.sink.pending_count(),
                     flushed_rows=self.sink.flushed_rows,
                     flush_failures=self.sink.flush_failures)
        return stats

    def _log_stats(self):
        while not self._stop.wait(self._conf.reports.stats_log_interval):
            LOG.info('Heartbeats: %(accepted)d accepted, %(rejected)d '
                     'rejected, %(failed)d failed, %(pending)d pending',
                     self.report_stats())


def _check_schema(engine):
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
