"""agentsched-server: heartbeat intake (and, with --local-agents, agents)."""

import sys

from oslo_config import cfg
import oslo_messaging
from oslo_service import service
import sqlalchemy as sa

from agentsched import algorithms
from agentsched import conf as agentsched_conf
from agentsched.api import auth as api_auth
from agentsched.db import engine as db_engine
from agentsched import guru
from agentsched import malloc
from agentsched import messaging
from agentsched import server
from agentsched import server_metrics

cli_opts = [
    cfg.IntOpt('local-agents', default=0, min=0,
               help='Run this many agents with simulated devices inside the '
                    'server process: the whole heartbeat path in one '
                    'command.'),
]


def main(argv=None):
    malloc.configure()
    conf = agentsched_conf.CONF
    conf.register_cli_opts(cli_opts)
    agentsched_conf.parse_args(sys.argv[1:] if argv is None else argv)
    try:
        server.preflight(conf)
    except (server.SchemaNotCurrent, server.PortInUse,
            api_auth.UnsafeNoAuth, algorithms.UnknownPlugin) as exc:
        sys.exit('agentsched-server: %s' % exc)
    print(_banner(conf), flush=True)
    workers = server.report_workers(conf)
    # Made here, before the fork: the report workers write their heartbeat
    # figures there, the server's process reads them at scrape.
    report_figures = (server_metrics.ReportWorkerFigures(workers)
                      if workers else None)
    server_service = server.ServerService(conf,
                                          local_agents=conf.local_agents,
                                          report_figures=report_figures)
    guru.setup(conf, 'agentsched-server', server_service.state)
    launcher = service.launch(conf, server_service, workers=1)
    if workers:
        # One master, two kinds of worker: SIGTERM, SIGHUP and restarts
        # apply to all of them alike.
        launcher.launch_service(
            server.ReportWorkerService(conf, report_figures),
            workers=workers)
    return launcher.wait()


def _banner(conf):
    lines = ['agentsched-server starting on host %s' % conf.host]
    if conf.database.connection:
        url = sa.engine.make_url(conf.database.connection)
        lines.append('  database:  %s' % url.render_as_string(
            hide_password=True))
    else:
        lines.append('  database:  %s (embedded SQLite)' %
                     db_engine.embedded_url(conf)[len('sqlite:///'):])
    if messaging.is_in_process(conf):
        lines.append('  messaging: in-process (no transport_url); only '
                     '--local-agents can report')
    else:
        lines.append('  messaging: %s, exchange %s, topic %s' % (
            _hide_password(conf.transport_url), conf.control_exchange,
            conf.reports.topic))
    workers = server.report_workers(conf)
    if workers:
        lines.append('  reports:   %d report worker processes (%s intake)' %
                     (workers, conf.reports.intake))
    elif conf.reports.workers:
        lines.append('  reports:   [reports] workers ignored: only the '
                     'server process can take the in-process bus\'s '
                     'reports')
    if conf.local_agents:
        lines.append('  agents:    %d local agents with simulated devices, '
                     'reporting every %d s' % (conf.local_agents,
                                                conf.agent.report_interval))
    if conf.api.enabled:
        lines.append('  REST API:  http://%s:%d/ (auth_strategy %s)' % (
            conf.bind_host, conf.bind_port, conf.auth_strategy))
    lines.append('  see agents: agentsched-manage%s agent list' % (
        ''.join(' --config-file %s' % f for f in conf.config_file)))
    lines.append('  stop:      SIGTERM (graceful: last heartbeats written) or Ctrl-C '
                 '(at once)')
    return '\n'.join(lines)


def _hide_password(url):
    parsed = oslo_messaging.TransportURL.parse(cfg.CONF, url)
    hosts = ','.join('%s:%s' % (h.hostname, h.port) for h in parsed.hosts)
    return '%s://%s/%s' % (parsed.transport, hosts, parsed.virtual_host or '')
