"""[reports] options: the server end of the heartbeat path."""

from oslo_config import cfg

from agentsched import constants

GROUP = 'reports'

opts = [
    cfg.StrOpt(
        'topic', default=constants.REPORTS_TOPIC,
        help='Topic the server consumes heartbeats on. Neutron agents use '
             'q-reports-plugin on the control_exchange "neutron".'),
    cfg.FloatOpt(
        'flush_interval', default=0.5, min=0.05, max=1.0,
        help='Seconds between batched writes of heartbeats to the database. '
             'Several reports of one agent within an interval cost one row '
             'update.'),
    cfg.FloatOpt(
        'flush_retry_max_wait', default=5.0, min=0.1,
        help='Longest back-off, in seconds, between attempts to write a '
             'batch while the database is unreachable. Reports keep arriving '
             'meanwhile; only the newest state per agent is kept.'),
    cfg.ListOpt(
        'load_keys', default=['load', 'instances'],
        help='Keys of an agent\'s configurations read, in order, for its '
             'load column (the first integer found wins; 0 otherwise).'),
    cfg.StrOpt(
        'intake', default='oslo.messaging',
        choices=[('oslo.messaging',
                  "oslo.messaging's RPC server, as for every other topic"),
                 ('kombu',
                  'a consumer built on kombu that speaks the same wire: a '
                  'prefetch window, acknowledgements in batches, orjson '
                  '(RabbitMQ only)')],
        help='What takes heartbeats off the report topic. Both answer '
             'calls and casts of the same clients (Neutron agents, '
             'agentsched-agent) identically and consume the same queues, '
             'so servers can switch one at a time. kombu costs the server '
             'less CPU per report and bounds what a server holds to '
             'intake_prefetch messages; with the in-process bus (no '
             'transport_url) oslo.messaging is used whatever this says.'),
    cfg.IntOpt(
        'intake_prefetch', default=500, min=1,
        help='intake = kombu: the most report messages RabbitMQ delivers '
             'to one server process before it acknowledges them (the '
             'channel\'s prefetch window). The rest wait in the queue, '
             'for this server or another.'),
    cfg.IntOpt(
        'executor_threads', default=1, min=1,
        help='Threads taking heartbeats off the bus (intake = kombu: the '
             'threads the consumer hands its batches to). Recording one '
             'costs microseconds; more threads contend for the '
             'interpreter (measured here through oslo.messaging: 1 thread '
             'took 0.94-0.99 of the reports a no-op server takes, 2 '
             'threads 0.76-0.86). A new or revived agent costs a few '
             'milliseconds of database work, which one thread waits '
             'for alone: when 10,000 agents revived at once, their '
             'reports were all taken in 60-63 s with 1 thread, 57-59 s '
             'with 2, but half of them had waited 54-57 s against 35-38 '
             's. Set 2 where recovering from an outage matters more '
             'than the steady rate; more processes ([reports] workers) '
             'give both.'),
    cfg.IntOpt(
        'workers', default=0, min=0,
        help='Report worker processes (Neutron: rpc_state_report_workers). '
             '0: the server process takes the report topic itself. N: the '
             'server forks N more processes that only take heartbeats, each '
             'with its own intake and in-memory view, as competing '
             'consumers of the topic (another server\'s processes are '
             'just more of them); the server process then does not consume '
             'it. Each process uses executor_threads, intake_prefetch and '
             'its own database connections. Ignored with the in-process '
             'bus (no transport_url), where only the server process can '
             'take reports.'),
    cfg.IntOpt(
        'stats_log_interval', default=60, min=0,
        help='Seconds between log lines counting accepted and rejected '
             'reports. 0 disables them.'),
]


def register_opts(conf):
    conf.register_opts(opts, group=GROUP)
