"""The heartbeat benchmark: python -m benchmarks.heartbeat [--quick].

Prints one JSON document with every figure (see docs/benchmarks.md):
  a. bus: reports/s through RabbitMQ, the same pre-serialized stream into a
     no-op oslo.messaging server, the kombu intake with a no-op endpoint,
     the real server with the kombu intake and with the oslo.messaging
     intake, and the agentsched-server command with [reports] workers = 2
     on either intake (issue 17); server CPU per report; lag to the
     database; false deaths.
  b. handler: ReportsEndpoint + HeartbeatSink in-process on PostgreSQL,
     unsigned and signed (the cost of signatures; Signer.sign and
     Verifier.verify alone).
  c. server RSS with all agents registered and heartbeating.
Needs RabbitMQ (guest/guest) and PostgreSQL (user postgres, trust) on
127.0.0.1; creates and drops its own database bench_<id>.
"""

import argparse
import datetime
import json
import multiprocessing
import platform
import shutil
import sys
import time

from benchmarks import bus
from benchmarks import common
from benchmarks import handler

FULL = {'handler_agents': 10000, 'handler_rounds': 5,
        'bus_agents': 10000, 'bus_senders': 2, 'bus_rounds': 4,
        'bus_devices': 2}
QUICK = {'handler_agents': 10000, 'handler_rounds': 1,
         'bus_agents': 10000, 'bus_senders': 2, 'bus_rounds': 1,
         'bus_devices': 2}

TARGETS = {'bus_ratio_min': 0.90, 'false_deaths_max': 0,
           # Issue 17: the real server on the kombu intake against the
           # no-op oslo.messaging server of the same stream: reports/s,
           # and the server's CPU per report.
           'bus_ratio_kombu_min': 3.0, 'cpu_ratio_kombu_max': 0.3,
           'handler_reports_per_s_min': 7200, 'server_rss_mb_max': 150,
           # Heartbeats with 10 devices at >= 80% of those with none.
           'devices_ratio_min': 0.80}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--quick', action='store_true',
                        help='one round of each: a smoke check (< 1 min)')
    parser.add_argument('--keep-logs', action='store_true',
                        help='keep the scratch directory with server logs')
    parser.add_argument('--bus-devices', type=int, metavar='N',
                        help='devices per agent in the bus figure '
                             '(default 2)')
    parser.add_argument('--bus-rounds', type=int, metavar='N',
                        help='reports per agent in the bus figure (default '
                             '4): a real phase counts until its last flush '
                             '(flush_interval, then the write), a fixed '
                             'tail that longer phases amortize')
    parser.add_argument('--skip-handler', action='store_true',
                        help='only the bus figure')
    parser.add_argument('--skip-bus', action='store_true',
                        help='only the handler figure')
    parser.add_argument('--signed', action='store_true',
                        help='bus figure with signed heartbeats: senders '
                             'sign, the server has [signing] master_keys')
    parser.add_argument('--bus-phases', default=','.join(bus.PHASES),
                        help='the bus figure\'s phases, in order (default '
                             '%(default)s)')
    parser.add_argument('--metrics', choices=('on', 'off'), default='on',
                        help='the servers\' [metrics] enabled (issue 16: '
                             'compare the bus figure on and off)')
    args = parser.parse_args(argv)
    phases = tuple(args.bus_phases.split(','))
    if set(phases) - set(bus.PHASES):
        parser.error('--bus-phases: choose among %s' % ', '.join(bus.PHASES))
    shape = dict(QUICK if args.quick else FULL)
    if args.bus_devices is not None:
        shape['bus_devices'] = args.bus_devices
    if args.bus_rounds is not None:
        shape['bus_rounds'] = args.bus_rounds
    context = multiprocessing.get_context('spawn')
    from agentsched import signing
    bench = common.Run(master_key=signing.generate_master_key()
                       if args.signed else None,
                       metrics=args.metrics == 'on')
    began = time.time()
    bench.create_database()
    try:
        from agentsched.db import engine as db_engine
        from agentsched.db import migration
        conf = common.load_conf(bench.config_file('real'))
        engine = db_engine.create_engine(conf)
        migration.upgrade(engine)
        report = {'quick': args.quick, 'metrics': args.metrics,
                  'environment': _environment(engine)}
        report['handler'] = [] if args.skip_handler else handler.run(
            context, bench, shape['handler_agents'], shape['handler_rounds'],
            (0, 10))
        report['handler_signing'] = _signing_summary(report['handler'])
        report['bus'] = {} if args.skip_bus else bus.run(
            context, bench, engine, shape['bus_agents'],
            shape['bus_senders'], shape['bus_rounds'], shape['bus_devices'],
            phases=phases)
        engine.dispose()
    finally:
        bench.drop_database()
        if not args.keep_logs:
            shutil.rmtree(bench.dir, ignore_errors=True)
    report['targets'] = _verdicts(report)
    report['duration_s'] = round(time.time() - began, 1)
    if args.keep_logs:
        report['logs'] = bench.dir
    json.dump(report, sys.stdout, indent=2)
    sys.stdout.write('\n')
    return 0


def _signing_summary(cases):
    """Per device count: reports/s unsigned and signed, and µs per report
    of Signer.sign and Verifier.verify alone."""
    summary = {}
    for case in cases:
        figures = summary.setdefault(str(case['devices_per_agent']), {})
        figures['signed' if case['signed'] else 'unsigned'] = \
            case['reports_per_s']
        for key in ('sign_us', 'verify_us'):
            if key in case:
                figures[key] = case[key]
    for figures in summary.values():
        if 'signed' in figures and 'unsigned' in figures:
            figures['signed_vs_unsigned'] = round(
                figures['signed'] / figures['unsigned'], 3)
    return summary


def _verdicts(report):
    real = report['bus'].get('real', {})
    ratio = report['bus'].get('ratio_real_to_noop')
    by_devices = {case['devices_per_agent']: case['reports_per_s']
                  for case in report['handler'] if not case['signed']}
    # The slowest case, signed ones included.
    slowest = min((case['reports_per_s'] for case in report['handler']),
                  default=None)
    devices_ratio = (round(by_devices[10] / by_devices[0], 3)
                     if 0 in by_devices and 10 in by_devices else None)
    rss = real.get('server_rss_mb')
    real_kombu = report['bus'].get('real_kombu', {})
    ratios = report['bus'].get('ratios', {})
    ratio_kombu = ratios.get('real_kombu_to_noop')
    cpu_kombu = ratios.get('cpu_real_kombu_to_noop')
    return {
        'bus_ratio_kombu': {
            'value': ratio_kombu,
            'target': '>= %.2f' % TARGETS['bus_ratio_kombu_min'],
            'met': ratio_kombu is not None
            and ratio_kombu >= TARGETS['bus_ratio_kombu_min']},
        'cpu_ratio_kombu': {
            'value': cpu_kombu,
            'target': '<= %.2f' % TARGETS['cpu_ratio_kombu_max'],
            'met': cpu_kombu is not None
            and cpu_kombu <= TARGETS['cpu_ratio_kombu_max']},
        'false_deaths_kombu': {
            'value': real_kombu.get('false_deaths'), 'target': '0',
            'met': real_kombu.get('false_deaths') == 0},
        'handler_10_devices_vs_none': {
            'value': devices_ratio,
            'target': '>= %.2f' % TARGETS['devices_ratio_min'],
            'met': devices_ratio is not None
            and devices_ratio >= TARGETS['devices_ratio_min']},
        'bus_ratio': {'value': ratio, 'target': '>= %.2f'
                      % TARGETS['bus_ratio_min'],
                      'met': ratio is not None
                      and ratio >= TARGETS['bus_ratio_min']},
        'false_deaths': {'value': real.get('false_deaths'), 'target': '0',
                         'met': real.get('false_deaths') == 0},
        'handler_reports_per_s': {
            'value': slowest,
            'target': '>= %d' % TARGETS['handler_reports_per_s_min'],
            'met': slowest is not None
            and slowest >= TARGETS['handler_reports_per_s_min']},
        'server_rss_mb': {'value': rss,
                          'target': '<= %d' % TARGETS['server_rss_mb_max'],
                          'met': rss is not None
                          and rss <= TARGETS['server_rss_mb_max']},
    }


def _environment(engine):
    import oslo_messaging  # noqa: F401 (version lookup below)
    from importlib import metadata
    import sqlalchemy as sa
    with engine.connect() as connection:
        postgres = connection.execute(sa.text('SHOW server_version')).scalar()
    connection = bus.amqp.Connection('127.0.0.1:5672', userid='guest',
                                     password='guest')
    connection.connect()
    rabbitmq = connection.server_properties.get('version')
    connection.close()
    if isinstance(rabbitmq, bytes):
        rabbitmq = rabbitmq.decode()
    return {
        'date': datetime.datetime.now(datetime.timezone.utc).isoformat(
            timespec='seconds'),
        'nproc': _nproc(),
        'cpu': _cpu_model(),
        'ram_gb': round(_mem_total_kb() / 1024.0 / 1024.0, 1),
        'python': platform.python_version(),
        'postgresql': postgres,
        'rabbitmq': rabbitmq,
        'oslo.messaging': metadata.version('oslo.messaging'),
        'sqlalchemy': metadata.version('SQLAlchemy'),
        'psycopg': metadata.version('psycopg'),
        'agentsched_commit': _git_head(),
    }


def _git_head():
    """Commit measured; '+dirty' if agentsched/ has uncommitted changes."""
    import os
    import subprocess
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    try:
        head = subprocess.run(['git', 'rev-parse', '--short', 'HEAD'],
                              cwd=root, capture_output=True, text=True,
                              check=True).stdout.strip()
        dirty = subprocess.run(['git', 'status', '--porcelain', 'agentsched'],
                               cwd=root, capture_output=True, text=True,
                               check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return None
    return head + ('+dirty' if dirty else '')


def _nproc():
    import os
    return len(os.sched_getaffinity(0))


def _cpu_model():
    with open('/proc/cpuinfo') as f:
        for line in f:
            if line.startswith('model name'):
                return line.split(':', 1)[1].strip()
    return platform.processor()


def _mem_total_kb():
    with open('/proc/meminfo') as f:
        for line in f:
            if line.startswith('MemTotal:'):
                return int(line.split()[1])
    return 0


if __name__ == '__main__':
    sys.exit(main())
