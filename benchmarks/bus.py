"""Figures a and c: heartbeats through RabbitMQ into one server process.

The same stream goes into each phase's server, sent by the same sender
processes (every sender simulates a slice of the agents, distinct hosts;
each report made as agentsched's StateReporter makes it and serialized as
oslo.messaging's client writes a cast before the clock starts, then
published as fast as the broker takes it):

* noop: an oslo.messaging RPC server whose report_state only counts. Its
  rate, reports / (time the count reached all - first publish), is the
  ceiling of RabbitMQ + oslo.messaging on this machine for this stream.
* noop-kombu: the kombu intake ([reports] intake = kombu) with the same
  counting endpoint: the ceiling of RabbitMQ + that intake.
* real-kombu: agentsched's ServerService with the kombu intake
  (ReportsEndpoint + HeartbeatSink on PostgreSQL).
* real: the same with the oslo.messaging intake.
* real-workers, real-workers-kombu: the real agentsched-server command
  (its launcher: the master, the server's worker and [reports] workers =
  2 report workers, competing consumers of the topic, each with its own
  sink) with either intake: the combined throughput of several processes.
  Its server CPU is the whole process tree's; it publishes no count of
  reports taken (received_per_s is absent), only the database's.

A real phase has every agent registered beforehand, and a report counts as
processed once the database shows it, or a newer report of the same agent
(the sink keeps only an agent's newest state between flushes). Its rate is
reports / (time the database showed every agent's last report - first
publish).

Lag: each report carries its round, bench_seq, in resource_versions (Neutron
agents send resource_versions with their reports; agentsched stores it when
it changes), and the sender notes time.time() just before each publish. This
process polls the agents table every
poll_interval and notes, per agent, when a new heartbeat became visible.
lag = end of the first poll that showed this report (or a newer one) -
the send time: an upper bound, too high by at most one poll interval. The
configurations (devices) repeat the stored document, as in steady state, so
they are neither checked in full nor rewritten; resource_versions is
written with every heartbeat.

False deaths: per agent, the longest time the database showed a heartbeat
older than now (visible time of the next heartbeat - the previous one's
heartbeat_timestamp, and end of run - the last); an agent whose longest
staleness exceeds agent_down_time would have been judged dead.

Figure c is the real server's resident memory after load_views, and after
every agent's heartbeats were flushed.

Signed (Run.master_key set, heartbeat --signed): the senders sign every
report, each as its host, when they serialize the stream (at most the
run's length before the server verifies it, within the replay window).
The real servers have [signing] master_keys, verify every report and
refuse unsigned ones; the agents are registered as having signed.
"""

import os
import signal
import subprocess
import sys
import time

import amqp
import sqlalchemy as sa

from benchmarks import common
from benchmarks import processes

_CHANGED = sa.text(
    "SELECT host, heartbeat_timestamp, "
    "(resource_versions::json->>'bench_seq')::int AS seq "
    "FROM agents WHERE heartbeat_timestamp > :since")


class Poller:
    """Watches the agents table for newly visible heartbeats."""

    # Rows are re-read if their heartbeat is at most this much older than
    # the newest seen: a flush commits heartbeats taken up to one flush
    # interval (plus thread scheduling) before it.
    MARGIN = 1.5
    # Several processes flush independently: one may commit heartbeats
    # taken seconds before another's newest (measured: 1.5 s missed some
    # under load), so the real-workers phases look further back, and poll
    # less often to keep the cost of the wider look.
    WORKERS_MARGIN = 10.0
    WORKERS_POLL_INTERVAL = 1.0

    def __init__(self, engine, hosts, registered, margin=MARGIN):
        self._engine = engine
        self._margin = margin
        self.registered_epoch = common.utc_epoch(registered)
        self.seen = {host: (0, self.registered_epoch) for host in hosts}
        self.events = {host: [] for host in hosts}   # (visible, seq, hb)
        self._since = registered
        self.polls = 0

    def poll(self, connection):
        rows = connection.execute(_CHANGED, {'since': self._since}).all()
        visible = time.time()
        newest = None
        for host, heartbeat, seq in rows:
            hb = common.utc_epoch(heartbeat)
            if (seq or 0, hb) != self.seen[host]:
                self.seen[host] = (seq or 0, hb)
                self.events[host].append((visible, seq or 0, hb))
            if newest is None or heartbeat > newest:
                newest = heartbeat
        if newest is not None:
            self._since = max(self._since, newest - _seconds(self._margin))
        self.polls += 1
        return visible

    def complete(self, rounds):
        return sum(1 for seq, _ in self.seen.values() if seq >= rounds)


def _seconds(value):
    import datetime
    return datetime.timedelta(seconds=value)


def _phase(context, bench, mode, hosts, senders, rounds, device_count,
           engine=None, poll_interval=0.2, timeout=300):
    config_file = bench.config_file(mode)
    counter = context.Value('q', 0)
    ready, stop, go = context.Event(), context.Event(), context.Event()
    real = mode.startswith('real')
    registered = (common.register_agents(engine, hosts, device_count,
                                         signed=bool(bench.master_key))
                  if real else None)
    if '-workers' in mode:
        server = _Launched(config_file, REPORT_WORKERS)
    else:
        server = context.Process(target=processes.server,
                                 name='bench-server',
                                 args=(config_file, mode, counter, ready,
                                       stop))
        server.start()
        if not ready.wait(60):
            raise RuntimeError('%s server did not start' % mode)
    server_pids = _tree(server.pid)
    result = {}
    if real:
        result['server_rss_after_load_views_mb'] = _rss(server_pids)

    results = context.Queue()
    workers = []
    for index in range(senders):
        sender_ready = context.Event()
        worker = context.Process(
            target=processes.sender, name='bench-sender-%d' % index,
            args=(config_file, hosts[index::senders], rounds, device_count,
                  sender_ready, go, results, bench.master_key))
        worker.start()
        workers.append((worker, sender_ready))
    for _, sender_ready in workers:
        if not sender_ready.wait(60):
            raise RuntimeError('sender did not start')

    total = len(hosts) * rounds
    poller = None
    if '-workers' in mode:
        poller = Poller(engine, hosts, registered, Poller.WORKERS_MARGIN)
        poll_interval = Poller.WORKERS_POLL_INTERVAL
        result.update(poll_interval_s=poll_interval,
                      poll_margin_s=Poller.WORKERS_MARGIN)
    elif real:
        poller = Poller(engine, hosts, registered)
    cpu = time.process_time()
    cpu_before, busy_before = common.cpu_snapshot(), common.machine_busy()
    start = time.time()
    go.set()
    deadline = start + timeout
    received = done = None
    if poller is None:
        while counter.value < total and time.time() < deadline:
            time.sleep(0.002)
        received = done = time.time()
    else:
        with engine.connect().execution_options(
                isolation_level='AUTOCOMMIT') as connection:
            while time.time() < deadline:
                began = time.time()
                visible = poller.poll(connection)
                if received is None and counter.value >= total:
                    received = visible
                if poller.complete(rounds) == len(hosts):
                    done = visible
                    break
                time.sleep(max(0.0, began + poll_interval - time.time()))
    poller_cpu = time.process_time() - cpu
    cpu_after, busy_after = common.cpu_snapshot(), common.machine_busy()
    sent = [results.get(timeout=120) for _ in workers]
    for worker, _ in workers:
        worker.join()

    result.update(_rates(total, start, sent, received, done, counter.value))
    if '-workers' in mode:
        del result['reports_taken_by_server']  # not counted across processes
    result['cpu_s'] = _cpu(cpu_before, cpu_after, server_pids, workers,
                           sent)
    result['machine_busy_pct'] = round(
        100.0 * (busy_after[0] - busy_before[0])
        / max(1, busy_after[1] - busy_before[1]), 1)
    # CPU of processes that are not part of the benchmark (another test run
    # on the machine) makes both phases slower, and their ratio unreliable.
    result['interference'] = (
        result['cpu_s']['other'] > 0.05 * 2 * (time.time() - start))
    result['server_cpu_ms_per_report'] = round(
        1000.0 * result['cpu_s']['server'] / total, 3)
    if poller is not None:
        time.sleep(1.0)    # the flusher goes idle; RSS is what stays
        rss, peak = _rss(server_pids), _rss(server_pids, peak=True)
        result.update(server_rss_mb=rss, server_peak_rss_mb=peak,
                      poller_cpu_s=round(poller_cpu, 2),
                      polls=poller.polls)
        result.update(_lag_and_staleness(poller, sent, rounds,
                                         done or time.time(),
                                         bench.agent_down_time))
    stop.set()
    server.join(60)
    return result


class _Launched:
    """The agentsched-server command with [reports] workers = N, as an
    operator runs it (multiprocessing's Process interface, as far as
    _phase uses it)."""

    def __init__(self, config_file, workers):
        with open(config_file, 'a') as f:
            # oslo.config merges a section given twice.
            f.write('\n[reports]\nworkers = %d\n' % workers)
        self._log = _log_file(config_file)
        self._popen = subprocess.Popen(
            [os.path.join(os.path.dirname(sys.executable),
                          'agentsched-server'), '--config-file', config_file],
            stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
        self.pid = self._popen.pid
        deadline = time.time() + 60
        while (_log_count(self._log, 'Report worker on') < workers or
               not _log_count(self._log, 'report workers')):
            if time.time() > deadline or self._popen.poll() is not None:
                raise RuntimeError('agentsched-server with %d report workers '
                                   'did not start (%s)' % (workers,
                                                           self._log))
            time.sleep(0.1)

    def join(self, timeout):
        self._popen.send_signal(signal.SIGTERM)
        self._popen.wait(timeout)


def _log_file(config_file):
    with open(config_file) as f:
        for line in f:
            if line.startswith('log_file'):
                return line.split('=', 1)[1].strip()


def _log_count(path, text):
    try:
        with open(path) as f:
            return f.read().count(text)
    except OSError:
        return 0


def _tree(pid):
    """pid and its children's: a launcher's master and its workers."""
    pids = {pid}
    for name in os.listdir('/proc'):
        try:
            with open('/proc/%s/stat' % name) as f:
                if int(f.read().rsplit(')', 1)[1].split()[1]) == pid:
                    pids.add(int(name))
        except (OSError, ValueError, IndexError):
            continue
    return pids


def _rss(pids, peak=False):
    """Resident MB summed over processes (peak: their peaks)."""
    return round(sum(common.memory_mb(pid)[1 if peak else 0]
                     for pid in pids), 1)


def _cpu(before, after, server_pids, workers, sent):
    """CPU seconds per process group from first cast to completion."""
    used = common.cpu_used(before, after, {
        'server': server_pids, 'harness_poller': {os.getpid()},
        'senders': {worker.pid for worker, _ in workers},
        'postgres': 'postgres', 'rabbitmq': 'beam.smp'})
    # Senders may have exited before the last snapshot: they report their
    # own CPU time.
    used['senders'] = round(sum(batch['cpu_s'] for batch in sent), 2)
    return used


def _rates(total, start, sent, received, done, taken):
    last_cast = max(batch['done'] for batch in sent)
    figures = {
        'reports': total,
        'reports_taken_by_server': taken,
        'send_s': round(last_cast - start, 2),
        'sent_per_s': round(total / (last_cast - start)),
        'completed': done is not None,
    }
    if received is not None:
        figures['received_per_s'] = round(total / (received - start))
    if done is not None:
        figures['elapsed_s'] = round(done - start, 2)
        figures['processed_per_s'] = round(total / (done - start))
    return figures


def _lag_and_staleness(poller, sent, rounds, end, agent_down_time):
    lags, missing, staleness = [], 0, []
    for batch in sent:
        for index, host in enumerate(batch['hosts']):
            events = poller.events[host]
            # seq -> when the database first showed it or a newer report.
            shown, highest = {}, 0
            for visible, seq, _ in events:
                while highest < seq:
                    highest += 1
                    shown[highest] = visible
            for seq in range(1, rounds + 1):
                if seq in shown:
                    lags.append(shown[seq] - batch['sent'][seq - 1][index])
                else:
                    missing += 1
            worst, last_hb = 0.0, poller.registered_epoch
            for visible, _, hb in events:
                worst = max(worst, visible - last_hb)
                last_hb = hb
            staleness.append(max(worst, end - last_hb))
    return {
        'lag_s': common.percentiles(lags),
        'reports_never_visible': missing,
        'max_staleness_s': round(max(staleness), 3),
        'agent_down_time_s': agent_down_time,
        'false_deaths': sum(1 for s in staleness if s > agent_down_time),
    }


def cleanup_broker(bench, phases):
    """Delete the run's queues and exchanges (queues outlive consumers)."""
    from agentsched import constants
    names = []
    for phase in phases:
        for topic in (bench.topic(phase), constants.PLUGIN_TOPIC):
            names.append(('queue', topic))
            names.append(('queue', '%s.%s' % (topic, bench.host)))
            names.append(('exchange', topic + '_fanout'))
    names.append(('exchange', bench.id))
    connection = amqp.Connection('127.0.0.1:5672', userid='guest',
                                 password='guest')
    connection.connect()
    try:
        for kind, name in names:
            channel = connection.channel()
            try:
                if kind == 'queue':
                    channel.queue_delete(name)
                else:
                    channel.exchange_delete(name)
                channel.close()
            except amqp.exceptions.AMQPError:
                pass
    finally:
        connection.close()


PHASES = ('noop', 'noop-kombu', 'real-kombu', 'real', 'real-workers-kombu',
          'real-workers')
# [reports] workers of the real-workers phases.
REPORT_WORKERS = 2


def run(context, bench, engine, agents, senders, rounds, device_count,
        poll_interval=0.2, phases=PHASES):
    """Each phase in turn (PHASES by default), and the ratios of their
    rates and of their servers' CPU per report."""
    hosts = [common.host_name(bench.id, i) for i in range(agents)]
    shape = {'agents': agents, 'senders': senders, 'rounds': rounds,
             'devices_per_agent': device_count,
             'poll_interval_s': poll_interval,
             'signed': bool(bench.master_key), 'phases': list(phases),
             'stream': 'pre-serialized casts'}
    figures = {}
    try:
        for phase in phases:
            figures[phase] = _phase(
                context, bench, phase, hosts, senders, rounds, device_count,
                engine=engine if phase.startswith('real') else None,
                poll_interval=poll_interval)
    finally:
        cleanup_broker(bench, phases)
    result = {'shape': shape}
    for phase, values in figures.items():
        result[phase.replace('-', '_')] = values
    # As before issue 17: the oslo.messaging path against its ceiling.
    result['ratio_real_to_noop'] = _ratio(figures, 'real', 'noop')
    result['ratios'] = {
        # Issue 17's: the real server on the kombu intake against the
        # no-op oslo.messaging server, in rate and in server CPU per report.
        'real_kombu_to_noop': _ratio(figures, 'real-kombu', 'noop'),
        'cpu_real_kombu_to_noop': _ratio(figures, 'real-kombu', 'noop',
                                         'server_cpu_ms_per_report'),
        'real_to_noop': _ratio(figures, 'real', 'noop'),
        'cpu_real_to_noop': _ratio(figures, 'real', 'noop',
                                   'server_cpu_ms_per_report'),
        'noop_kombu_to_noop': _ratio(figures, 'noop-kombu', 'noop'),
        'cpu_noop_kombu_to_noop': _ratio(figures, 'noop-kombu', 'noop',
                                         'server_cpu_ms_per_report'),
        'real_kombu_to_noop_kombu': _ratio(figures, 'real-kombu',
                                           'noop-kombu'),
        'real_kombu_to_real': _ratio(figures, 'real-kombu', 'real'),
        # Issue 17's several processes: what two report workers take
        # against one server process, per intake.
        'real_workers_kombu_to_real_kombu': _ratio(
            figures, 'real-workers-kombu', 'real-kombu'),
        'real_workers_to_real': _ratio(figures, 'real-workers', 'real'),
        'cpu_real_workers_kombu_to_real_kombu': _ratio(
            figures, 'real-workers-kombu', 'real-kombu',
            'server_cpu_ms_per_report'),
        'cpu_real_workers_to_real': _ratio(
            figures, 'real-workers', 'real', 'server_cpu_ms_per_report'),
    }
    return result


def _ratio(figures, phase, base, key='processed_per_s'):
    value = figures.get(phase, {}).get(key)
    reference = figures.get(base, {}).get(key)
    if not value or not reference:
        return None
    return round(value / reference, 3)
