"""The 100,000-agent benchmark (issue 17): python -m benchmarks.scale
[--agents N] [--small N] [--quick] [--phases P,...].

On PostgreSQL (a scratch database, as every benchmark) and RabbitMQ (the
run's own exchange), a fleet of N agents x 4 devices (N x 4 device links)
and N x 10 bound VIPs spread over the devices (each device's used their
count), written with COPY (placement._populate). Then, each phase timed,
with the machine's load beside it:

- placement: the snapshot in a process of its own (three reads, each
  installed as a background reload installs it: CPU, wall, RSS growth and
  peak; a full garbage collection; placements with an exclusion, as a
  failover's move places; then the pools' candidates built and kept up to
  KEEP_BUILT, and one more read, which drops them first as every read
  does: the memory at the most the pools keep; in the server's malloc
  settings), then benchmarks/placement.py's runs (sequential, and
  --threads threads sharing one Placer, back to back: saturation; then
  those threads in open loop, offered --open-loop times the big fleet's
  sequential rate, requests arriving at random as API requests do, each
  timed from its arrival), each --duration seconds long so
  that the snapshot's background reloads fall within the timing, at
  --small agents (--small x 10 bindings, a database of its own) and at N,
  in the same run, interleaved (per way of placing: small, N, small, so
  that the machine's drift during a run enters the ratio as little as it
  can): p99 and the rate at N against the mean of the two rates at
  --small around it;
- health: one HealthMonitor check in-process (built as agentsched-server
  builds it), process CPU around it: all agents alive, and with one more
  agent dead holding 1,000 VIPs (judged while the start-up grace holds its
  failover: the check alone, the failover is the failover phase's); a
  cProfile of one check;
- server: a real agentsched-server process (API on, RabbitMQ, health
  monitor on): time to serve, RSS after start-up (the sink's views
  loaded), after the monitor's first check, after GET /v2.0/agents pages
  and the full list (and the peak during it); pages of 100 (first, and
  deep by marker) p50; the full list's time and size; then SIGTERM and a
  start again: time until the API answers and a heartbeat call is
  answered, and what the start-up spent it on (from its log, and
  HeartbeatSink.load_views measured in-process);
- failover: benchmarks/failover.py's scenarios (one dead agent's 1,000 VIPs
  rebound or moved, 100 of 1,000 agents dead) with their fleets added to
  the big one.

Prints one JSON document: environment, figures, targets with met flags.
"""

import argparse
import cProfile
import contextlib
import http.client
import io
import json
import multiprocessing
import os
import pstats
import re
import sys
import threading
import time

import sqlalchemy as sa

from benchmarks import api
from benchmarks import common
from benchmarks import failover
from benchmarks import heartbeat
from benchmarks import placement

PHASES = ('placement', 'health', 'server', 'failover')
BINDINGS_PER_AGENT = 10
DEAD_VIPS = 1000
TARGETS = {
    'server_rss_mb': 400,
    'health_check_cpu_ms': 250,
    'placement_p99_ms': 5.0,
    'placement_rate_vs_small': 0.8,
    'page_p50_ms': 10,
    # 10x Neutron's plugin, about 1.3 s per 10,000 agents here.
    'full_list_s_per_100000': 1.3,
    'restart_s': 20,
}


# -- the machine while a phase runs -----------------------------------------

class Phases:
    """Wall time of each phase, and the CPU the machine spent meanwhile by
    group (this process and its servers, PostgreSQL, RabbitMQ, other)."""

    def __init__(self, on_done=None):
        self.pids = {os.getpid()}
        self.report = {}
        self._on_done = on_done

    @contextlib.contextmanager
    def phase(self, name):
        cpu_before, busy_before = common.cpu_snapshot(), common.machine_busy()
        began = time.perf_counter()
        try:
            yield
        finally:
            wall = time.perf_counter() - began
            busy_after = common.machine_busy()
            used = common.cpu_used(cpu_before, common.cpu_snapshot(), {
                'benchmark': self.pids, 'postgres': 'postgres',
                'rabbitmq': 'beam.smp'})
            share = ((busy_after[0] - busy_before[0]) /
                     max(1, busy_after[1] - busy_before[1]))
            self.report[name] = {
                'wall_s': round(wall, 1), 'machine_busy': round(share, 2),
                'cpu_s': used,
                # As the heartbeat harness flags it: processes outside the
                # benchmark used more than 5% of the machine (the
                # placement phase's worker processes count as other).
                'interference': used['other'] > 0.05 * wall * os.cpu_count()}
            if self._on_done is not None:
                self._on_done()


# -- the fleet ----------------------------------------------------------------

def _configurations(devices):
    """host -> its stored configurations with `devices` devices, as
    common.configurations_json makes them, at a fraction of the cost (one
    document made, its host replaced: same length, same bytes)."""
    template_host = 'h-000000'
    template = common.configurations_json(
        common.agent_state(template_host, devices))
    return lambda host: template.replace(template_host, host)


def _populate(engine, agents, devices_configured=False):
    began = time.perf_counter()
    placement._populate(
        engine, agents, agents * BINDINGS_PER_AGENT,
        _configurations(placement.DEVICES_PER_AGENT)
        if devices_configured else None)
    with engine.connect() as connection:
        counts = {table: connection.execute(sa.text(
            'SELECT count(*) FROM %s' % table)).scalar()
            for table in ('agents', 'devices', 'agent_devices',
                          'resources', 'bindings')}
    return dict(counts, seconds=round(time.perf_counter() - began, 1))


def _heartbeat_now(engine):
    """Every agent alive: the fleet's reports are not what is measured.
    Vacuumed after, as autovacuum would, where it is off (common.vacuum):
    a full list read 0.84-0.94 s with two such rounds' dead rows in the
    table against 0.52-0.56 s vacuumed (docs/benchmarks.md)."""
    from agentsched import liveness
    with engine.begin() as connection:
        connection.execute(sa.text(
            'UPDATE agents SET heartbeat_timestamp = :now'),
            {'now': liveness.utcnow()})
    if common.autovacuum_off(engine):
        common.vacuum(engine, 'agents')


# -- placement --------------------------------------------------------------

def _snapshot_child(config_file, ids, results):
    """In a process of its own, so that its memory is the snapshot's: three
    reads of the placement snapshot, each installed as a background reload
    installs it (the previous one alive while the next is read); a full
    garbage collection with it installed; then one placement per id with
    an exclusion, as a failover's move places (its CPU: the move's
    placement, without the move's own statements)."""
    import gc
    from agentsched import algorithms
    from agentsched import malloc
    from agentsched.db import engine as db_engine
    from agentsched.services import placement as placement_service
    malloc.configure()   # the server's malloc, whose memory this is
    conf = common.load_conf(config_file)
    engine = db_engine.create_engine(conf)
    with engine.connect():
        pass   # the pool and the dialect's first connect, not the snapshot
    snapshot = placement_service.Snapshot(
        engine, conf.agent_down_time, 3600)
    gc.collect()
    base = common.memory_mb()[0]
    reads = []

    reload = snapshot._reload   # a background reload's, in this thread
    for _ in range(3):
        cpu, wall = time.process_time(), time.perf_counter()
        reload()
        reads.append({'wall_s': round(time.perf_counter() - wall, 2),
                      'cpu_s': round(time.process_time() - cpu, 2),
                      'rss_growth_mb': round(common.memory_mb()[0] - base,
                                             1)})
    gc.collect()   # the first one also stops tracking the new tuples
    began = time.perf_counter()
    gc.collect()
    collect_ms = (time.perf_counter() - began) * 1000
    placer = placement_service.Placer(engine, conf, snapshot)
    request = algorithms.PlacementRequest(
        'vip', 'LOADBALANCER', 1,
        {'device_type': 'haproxy', 'capabilities': {'ssl_offload': True}})
    avoided = snapshot.candidates('LOADBALANCER')[0].device_id

    def move(resource_id):
        placer.place(resource_id, request,
                     lambda candidate: candidate.device_id != avoided)
    # The reads may have outlasted agent_down_time on a loaded machine:
    # every agent alive again, and a snapshot that says so (its read
    # outside the timing).
    _heartbeat_now(engine)
    snapshot.invalidate()
    move(ids[0])
    cpu = time.process_time()
    for resource_id in ids[1:]:
        move(resource_id)
    move_ms = (time.process_time() - cpu) * 1000 / (len(ids) - 1)
    moved_peak = common.memory_mb()[1]
    # The worst case of the candidates the pools keep (KEEP_BUILT): every
    # pool's built and kept up to the budget, then a reload (whose read
    # begins once the installed snapshot dropped them).
    for pool in snapshot._by_service.values():
        for _ in pool:
            pass
    kept_mb = common.memory_mb()[0] - base
    snapshot_kept = snapshot._columns.kept
    reload()
    results.put({
        'candidates': sum(len(pool) for pool in
                          snapshot._by_service.values()),
        'reads': reads, 'rss_base_mb': base,
        'rss_peak_growth_mb': round(moved_peak - base, 1),
        'candidates_kept': snapshot_kept,
        'rss_growth_with_kept_mb': round(kept_mb, 1),
        'rss_peak_growth_with_kept_mb': round(common.memory_mb()[1] - base,
                                              1),
        'full_gc_ms': round(collect_ms, 1),
        'placement_with_exclusion_cpu_ms': round(move_ms, 2),
        'snapshot_max_age_s': conf.scheduler.snapshot_max_age})
    engine.dispose()


def _snapshot_read(context, bench, engine, moves=300):
    """_snapshot_child's figures: what every placing server pays at start,
    after lost claims, and in the background every [scheduler]
    snapshot_max_age seconds (or more, Snapshot.max_age)."""
    ids = placement._new_resources(engine, moves)
    results = context.Queue()
    child = context.Process(target=_snapshot_child, args=(
        bench.config_file('scale'), ids, results))
    child.start()
    result = results.get(timeout=900)
    child.join()
    return result


def _placement(context, fleets, modes, count, algorithm, duration=None,
               rate=None):
    """Per mode, a run on each fleet in turn: fleets is [(agents, bench,
    engine)], small, big, small. rate: open loop (benchmarks/placement.py),
    placements a second offered to each fleet alike."""
    runs = []
    for processes, threads in modes:
        for agents, bench, engine in fleets:
            run = placement._run(context, bench.config_file('scale'), engine,
                                 algorithm, processes, threads, count,
                                 duration, rate)
            run.update(agents=agents, algorithm=algorithm)
            runs.append(run)
    return runs


# -- health -----------------------------------------------------------------

def _monitor(engine, conf, clock):
    """A monitor as agentsched-server builds it (services/wiring.py, the
    device assignment on), leading alone, its intake alive."""
    from agentsched.health import leader
    from agentsched.health import monitor as health_monitor
    from agentsched.services import agent_notifier
    from agentsched.services import secrets
    from agentsched.services import wiring
    services = wiring.build(conf, engine, agent_notifier.AgentNotifier(conf),
                            secrets.SecretBox([secrets.generate_key()]))
    return health_monitor.HealthMonitor(
        engine, conf, services.failover, leader.AlwaysLeader(),
        report_stats=failover.LiveIntake(clock), clock=clock,
        assignment=services.assignment)


def _timed_check(monitor, counters):
    statements, statement_s, _ = counters.read()
    cpu, wall = time.process_time(), time.perf_counter()
    outcome = monitor.check()
    after = counters.read()
    return {'cpu_ms': round((time.process_time() - cpu) * 1000, 1),
            'wall_ms': round((time.perf_counter() - wall) * 1000, 1),
            'statements': after[0] - statements,
            'sql_ms': round((after[1] - statement_s) * 1000, 1),
            'failed_over': sum((outcome or {}).get(key, 0)
                               for key in ('rebound', 'moved'))}


def _profile(function, lines=18):
    profile = cProfile.Profile()
    profile.enable()
    function()
    profile.disable()
    out = io.StringIO()
    pstats.Stats(profile, stream=out).sort_stats('cumulative').print_stats(
        lines)
    # The table only, each row trimmed of its path prefix.
    rows = out.getvalue().split('\n')
    start = next(i for i, row in enumerate(rows) if 'ncalls' in row)
    return [re.sub(r'/\S*/(agentsched|site-packages)/', r'\1/', row).rstrip()
            for row in rows[start:] if row.strip()]


def _health(bench, conf, checks):
    """One check's CPU, all alive, then with one agent dead and its 1,000
    VIPs (failover held by the start-up grace of a new monitor)."""
    from agentsched.db import engine as db_engine
    engine = db_engine.create_engine(conf)
    counters = failover.Counters(engine)
    _heartbeat_now(engine)
    clock = failover.OffsetClock()
    monitor = _monitor(engine, conf, clock)
    report = {'first_check': _timed_check(monitor, counters)}
    clock.offset += conf.agent_down_time + conf.agent.report_interval + 1
    alive = [_timed_check(monitor, counters) for _ in range(checks)]
    report['all_alive'] = alive
    report['all_alive_cpu_ms_median'] = sorted(
        c['cpu_ms'] for c in alive)[len(alive) // 2]
    report['profile_all_alive'] = _profile(monitor.check)
    # One agent dead with 1,000 VIPs on a device a live partner lists
    # (failover.py's rebind fleet, added to the big one).
    rows, dead, _, _ = failover._rebind_fleet(bench.id + '-health',
                                              DEAD_VIPS, 0)
    rows.write(engine, replace=False)
    failover._beat(engine, dead, seconds_ago=600, live=False)
    monitor = _monitor(engine, conf, clock)
    monitor.check()  # leads; its grace holds failover
    held = [_timed_check(monitor, counters) for _ in range(checks)]
    report['one_dead_held'] = held
    report['one_dead_held_cpu_ms_median'] = sorted(
        c['cpu_ms'] for c in held)[len(held) // 2]
    report['one_dead_held_reason'] = monitor.guards.hold_reason()
    # The phases after this one find it alive again (_heartbeat_now).
    engine.dispose()
    return report


def _load_views(conf):
    """HeartbeatSink.load_views alone, in this process: the largest part of
    a server's start-up at scale."""
    from agentsched.db import engine as db_engine
    from agentsched.reports import sink as reports_sink
    engine = db_engine.create_engine(conf)
    sink = reports_sink.HeartbeatSink(engine, conf.agent_down_time,
                                      conf.reports.flush_interval)
    rss_before = common.memory_mb()[0]
    cpu, wall = time.process_time(), time.perf_counter()
    loaded = sink.load_views()
    result = {'agents': loaded,
              'wall_s': round(time.perf_counter() - wall, 2),
              'cpu_s': round(time.process_time() - cpu, 2),
              'rss_growth_mb': round(common.memory_mb()[0] - rss_before, 1)}
    engine.dispose()
    return result


# -- the server ---------------------------------------------------------------

def _worker(master, timeout=30):
    """The cotyledon worker process of an agentsched-server master."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        children = []
        for task in os.listdir('/proc/%d/task' % master):
            with open('/proc/%d/task/%s/children' % (master, task)) as f:
                children += [int(pid) for pid in f.read().split()]
        if children:
            return children[0]
        time.sleep(0.05)
    raise RuntimeError('no worker process under %d' % master)


def _process_cpu_s(pid):
    with open('/proc/%d/stat' % pid) as f:
        fields = f.read().rsplit(')', 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf('SC_CLK_TCK')


def _memory(master, worker):
    rss, peak = common.memory_mb(worker)
    return {'worker_rss_mb': rss, 'worker_peak_mb': peak,
            'master_rss_mb': common.memory_mb(master)[0]}


def _get_json(port, path):
    import orjson
    connection = http.client.HTTPConnection('127.0.0.1', port, timeout=60)
    try:
        connection.request('GET', path)
        response = connection.getresponse()
        body = response.read()
        if response.status != 200:
            raise RuntimeError('%s: %d' % (path, response.status))
        return orjson.loads(body)
    finally:
        connection.close()


def _forget_checks(engine):
    """No recorded check: the next one is the new server's."""
    with engine.begin() as connection:
        connection.execute(sa.text('DELETE FROM scheduler_health'))


def _wait_first_check(port, timeout=120):
    """Seconds until the monitor has recorded a check (_forget_checks
    before the server started)."""
    began = time.perf_counter()
    while time.perf_counter() - began < timeout:
        health = _get_json(port, '/v2.0/scheduler/health')['scheduler_health']
        if health['updated_at']:
            return round(time.perf_counter() - began, 1)
        time.sleep(0.5)
    raise RuntimeError('no health check in %d s' % timeout)


def _heartbeat_answered(conf, state, began, timeout):
    """Seconds from `began` (perf_counter) until a report_state call is
    answered, or None."""
    from agentsched.reports import reporter
    client = reporter.StateReporter(conf, timeout=1)
    while time.perf_counter() - began < timeout:
        try:
            client.report_state(state)
            return round(time.perf_counter() - began, 2)
        except Exception:  # not serving yet: the call timed out
            pass
    return None


def _api_answered(port_holder, began, timeout):
    while time.perf_counter() - began < timeout:
        if port_holder:
            try:
                _get_json(port_holder[0], '/v2.0/agents?limit=1')
                return round(time.perf_counter() - began, 2)
            except OSError:
                pass
        time.sleep(0.02)
    return None


_LOG_TIME = re.compile(r'^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d+) ')


def _log_timeline(log_path, offset, started_at, marks):
    """{mark: seconds after started_at (epoch)} of the first log line after
    offset matching each mark's pattern, from oslo.log's timestamps (local
    time)."""
    import datetime
    found = {}
    with open(log_path) as log:
        log.seek(offset)
        for line in log:
            stamp = _LOG_TIME.match(line)
            if not stamp:
                continue
            at = datetime.datetime.strptime(
                stamp.group(1), '%Y-%m-%d %H:%M:%S.%f').timestamp()
            for name, pattern in marks.items():
                if name not in found and re.search(pattern, line):
                    found[name] = round(at - started_at, 2)
    return found


_START_MARKS = {
    'first_log_line': r'.',
    'agents_known (views loaded)': r'agents known',
    'api_listening': r'REST API listening',
    'monitor_leads': r'now runs the health monitor',
    'snapshot_read': r'Placement snapshot read',
}


def _wait_logged(log_path, offset, pattern, timeout=300):
    """Seconds until a line after offset matches pattern."""
    began = time.perf_counter()
    while time.perf_counter() - began < timeout:
        with open(log_path) as log:
            log.seek(offset)
            if any(re.search(pattern, line) for line in log):
                return round(time.perf_counter() - began, 1)
        time.sleep(0.5)
    raise RuntimeError('no %r in the log in %d s' % (pattern, timeout))


def _server(bench, conf, engine, agents, page_requests, list_requests,
            phases):
    _heartbeat_now(engine)
    _forget_checks(engine)
    state = common.agent_state('h-000000', placement.DEVICES_PER_AGENT)
    # As placement._populate stored the agent: steady state.
    state.update(agent_type='Loadbalancer agent', topic='t')
    report = {}
    log_path = os.path.join(bench.dir, 'scale.log')
    offset = os.path.getsize(log_path) if os.path.exists(log_path) else 0
    began = time.perf_counter()
    server, port = api.start_server(bench, 'scale', timeout=300)
    report['start_to_api_s'] = round(time.perf_counter() - began, 2)
    master, worker = server.pid, _worker(server.pid)
    phases.pids.update((master, worker))
    try:
        report['memory_after_start'] = _memory(master, worker)
        report['first_check_after_s'] = _wait_first_check(port)
        # The memory from here on is a placing server's: its snapshot in.
        report['snapshot_read_after_s'] = _wait_logged(
            log_path, offset, _START_MARKS['snapshot_read'])
        report['memory_after_first_check'] = _memory(master, worker)
        connection = http.client.HTTPConnection('127.0.0.1', port,
                                                    timeout=120)
        api.time_gets(connection, '/v2.0/agents?limit=1', 5)  # warm up
        first, _ = api.time_gets(connection, '/v2.0/agents?limit=100',
                                 page_requests)
        with engine.connect() as db:
            middle = db.execute(sa.text(
                'SELECT id FROM agents ORDER BY id OFFSET :n LIMIT 1'),
                {'n': agents // 2}).scalar()
        deep, _ = api.time_gets(
            connection, '/v2.0/agents?limit=100&marker=%s' % middle,
            page_requests)
        report['first_page_of_100_ms'] = api.percentiles_ms(first)
        report['deep_page_of_100_ms'] = api.percentiles_ms(deep)
        report['memory_after_pages'] = _memory(master, worker)
        # Start-up and pages may have outlasted agent_down_time on a loaded
        # machine: then every check in the lists' time reads the whole
        # fleet as late (seconds of the worker's CPU), counted as theirs.
        _heartbeat_now(engine)
        cpu = _process_cpu_s(worker)
        full, body = api.time_gets(connection, '/v2.0/agents',
                                   list_requests)
        report['full_list'] = {
            's': [round(s, 3) for s in full],
            'best_s': round(min(full), 3),
            'server_cpu_s_each': round(
                (_process_cpu_s(worker) - cpu) / list_requests, 2),
            'bytes': len(body),
            'agents': len(json.loads(body)['agents'])}
        del body
        report['memory_after_full_list'] = _memory(master, worker)
        connection.close()
        # Restart: SIGTERM (graceful), then a new server on the same
        # database and queues.
        stopping = time.perf_counter()
        server.terminate()
        server.wait(120)
        report['restart'] = {'stop_s': round(time.perf_counter() - stopping,
                                             2)}
        _forget_checks(engine)
        offset = os.path.getsize(log_path)
        port_holder, answered = [], {}
        began, started_at = time.perf_counter(), time.time()
        watchers = [
            threading.Thread(target=lambda: answered.update(
                heartbeat=_heartbeat_answered(conf, state, began, 120))),
            threading.Thread(target=lambda: answered.update(
                api=_api_answered(port_holder, began, 120)))]
        for watcher in watchers:
            watcher.start()
        server, port = api.start_server(bench, 'scale', timeout=300)
        port_holder.append(port)
        master, worker = server.pid, _worker(server.pid)
        phases.pids.update((master, worker))
        for watcher in watchers:
            watcher.join()
        report['restart'].update(
            api_answers_s=answered['api'],
            heartbeat_answered_s=answered['heartbeat'],
            serving_s=(max(answered.values())
                       if None not in answered.values() else None))
        _wait_first_check(port)
        report['restart']['log_timeline_s'] = _log_timeline(
            log_path, offset, started_at, _START_MARKS)
        report['restart']['memory'] = _memory(master, worker)
    finally:
        server.terminate()
        server.wait(120)
    return report


# -- failover ---------------------------------------------------------------

def _failover(bench, conf, quick, guards, intervals, names=None):
    from agentsched.db import engine as db_engine
    from agentsched.services import agent_notifier
    engine = db_engine.create_engine(conf)
    counters = failover.Counters(engine)
    notifier = failover.CountingNotifier(agent_notifier.AgentNotifier(conf))
    runs = []
    scenarios = failover._scenarios(quick)
    for name in names or scenarios:
        build = scenarios[name]
        for guard in guards:
            for interval in intervals:
                _heartbeat_now(engine)
                run = failover._run(bench, engine, conf, counters, notifier,
                                    name, build, guard, interval,
                                    replace=False)
                run.pop('per_check')
                runs.append(run)
                sys.stderr.write('failover %s guards %s interval %s: %s s, '
                                 'ok %s\n' % (name, guard, interval,
                                              run['wall_s'],
                                              run['check']['ok']))
    engine.dispose()
    return runs


# -- verdicts -----------------------------------------------------------------

def _verdict(value, target, met):
    return {'value': value, 'target': target, 'met': met}


def _verdicts(report, agents):
    found = {}
    server = report.get('server')
    if server:
        peaks = [server[key]['worker_rss_mb'] for key in server
                 if key.startswith('memory_')]
        peaks.append(server['memory_after_full_list']['worker_peak_mb'])
        found['server_rss'] = _verdict(
            max(peaks), '<= %d MB (the worker, peak)' %
            TARGETS['server_rss_mb'], max(peaks) <= TARGETS['server_rss_mb'])
        page = max(server['first_page_of_100_ms']['p50'],
                   server['deep_page_of_100_ms']['p50'])
        found['page_of_100_p50'] = _verdict(
            page, '<= %d ms' % TARGETS['page_p50_ms'],
            page <= TARGETS['page_p50_ms'])
        limit = TARGETS['full_list_s_per_100000'] * agents / 100000.0
        best = server['full_list']['best_s']
        found['full_list'] = _verdict(best, '<= %.2f s' % limit,
                                      best <= limit)
        serving = server['restart']['serving_s']
        found['restart'] = _verdict(
            serving, '<= %d s' % TARGETS['restart_s'],
            serving is not None and serving <= TARGETS['restart_s'])
    snapshot = report.get('snapshot')
    if server and snapshot:
        # The API worker places too: its figures plus the snapshot's
        # (measured apart, in a process of its own), steady and at a
        # reload's peak.
        worker = max(server[key]['worker_rss_mb'] for key in server
                     if key.startswith('memory_'))
        # The worker holds the snapshot it read at start (Placer.warm):
        # placing adds what its pools keep and a reload's peak.
        placing = round(worker + max(
            snapshot['rss_peak_growth_mb'],
            snapshot['rss_peak_growth_with_kept_mb']) -
            snapshot['reads'][0]['rss_growth_mb'], 1)
        found['placing_server_rss'] = _verdict(
            placing, '<= %d MB (the worker with its snapshot, plus the '
            'candidates kept and a reload\'s peak)'
            % TARGETS['server_rss_mb'],
            placing <= TARGETS['server_rss_mb'])
    health = report.get('health')
    if health:
        worst = max(health['all_alive_cpu_ms_median'],
                    health['one_dead_held_cpu_ms_median'])
        found['health_check_cpu'] = _verdict(
            worst, '<= %d ms' % TARGETS['health_check_cpu_ms'],
            worst <= TARGETS['health_check_cpu_ms'])
    runs = report.get('placement')
    if runs:
        def mode_of(run):
            return run['processes'], run['threads'], run['offered_per_s']
        for mode in {mode_of(r) for r in runs}:
            of_mode = [r for r in runs if mode_of(r) == mode]
            big = next(r for r in of_mode if r['agents'] == agents)
            small = [r for r in of_mode if r['agents'] != agents]
            # The small fleet's runs before and after the big one's.
            small_rate = sum(r['per_s'] for r in small) / len(small)
            ratio = round(big['per_s'] / small_rate, 2)
            # Open loop (offered): the rates are the offered one's if
            # every fleet kept up; the p99 is the figure.
            name = 'placement_%dp_%dt' % mode[:2] + (
                '_open_%d_per_s' % mode[2] if mode[2] else '')
            found[name] = _verdict(
                {'p99_ms': big['p99_ms'], 'rate_ratio': ratio,
                 'rate_ratios_each': [round(big['per_s'] / r['per_s'], 2)
                                      for r in small],
                 'snapshot_reloads_timed': big['snapshot_reloads']},
                'p99 <= %s ms and rate >= %s of the small fleet\'s (the '
                'mean of its runs before and after)' % (
                    TARGETS['placement_p99_ms'],
                    TARGETS['placement_rate_vs_small']),
                big['p99_ms'] <= TARGETS['placement_p99_ms'] and
                ratio >= TARGETS['placement_rate_vs_small'] and
                all(r['check']['ok'] for r in of_mode))
    return found


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--agents', type=int, default=100000)
    parser.add_argument('--small', type=int, default=10000,
                        help='the fleet placement is compared with')
    parser.add_argument('--quick', action='store_true',
                        help='2,000 and 1,000 agents, fewer requests')
    parser.add_argument('--phases', default=','.join(PHASES),
                        help='comma-separated, of %s' % ', '.join(PHASES))
    parser.add_argument('--threads', type=int, default=4)
    parser.add_argument('--open-loop', type=float, default=0.5,
                        help='then the --threads threads in open loop, '
                             'offered this fraction of the big fleet\'s '
                             'sequential rate (0: not run)')
    parser.add_argument('--duration', type=float,
                        help='seconds each timed placement run places for '
                             '(default 40, so that it includes the '
                             'snapshot\'s background reloads; none with '
                             '--quick: 300 placements)')
    parser.add_argument('--algorithm', default='weighted',
                        choices=('chance', 'least_loaded', 'weighted'))
    parser.add_argument('--guards', action='append', choices=('on', 'off'),
                        help='failover guards (repeatable; default off)')
    parser.add_argument('--partial', metavar='PATH',
                        help='also write the report so far to PATH after '
                             'each phase (kept if the run is cut short)')
    parser.add_argument('--scenario', action='append',
                        help='failover scenario, in the order given '
                             '(repeatable; default all of failover.py\'s)')
    parser.add_argument('--interval', type=float, action='append',
                        help='failover health_check_interval (repeatable; '
                             'default 1)')
    args = parser.parse_args(argv)
    if args.quick:
        args.agents, args.small = min(args.agents, 2000), min(args.small,
                                                              1000)
    phases = [p for p in args.phases.split(',') if p]
    unknown = set(phases) - set(PHASES)
    if unknown:
        parser.error('unknown phase(s) %s' % ', '.join(sorted(unknown)))
    context = multiprocessing.get_context('spawn')
    bench = common.Run()
    bench.create_database()
    report = {'agents': args.agents, 'devices_per_agent':
              placement.DEVICES_PER_AGENT,
              'bindings': args.agents * BINDINGS_PER_AGENT,
              'small_fleet': args.small}

    def write_partial():
        if args.partial:
            with open(args.partial, 'w') as partial:
                json.dump(report, partial, indent=2)
    timing = Phases(write_partial)
    small_bench = small_engine = None
    try:
        import traceback  # oslo_log's excepthook writes only to the log
        from agentsched.db import engine as db_engine
        from agentsched.db import migration
        api.server_config(bench, 'scale', bus=True)
        conf = common.load_conf(bench.config_file('scale'))
        engine = db_engine.create_engine(conf)
        migration.upgrade(engine)
        report['environment'] = heartbeat._environment(engine)
        report['phases'] = timing.report
        modes = [(1, 1), (1, args.threads)]
        duration = args.duration if args.duration is not None else (
            None if args.quick else 40.0)
        count = placement.resources_for(duration) or (
            300 if args.quick else 2000)
        report['placement_duration_s'] = duration
        if 'placement' in phases:
            # The small fleet in a database of its own, so that its runs
            # and the big one's can alternate.
            small_bench = common.Run()
            small_bench.create_database()
            small_engine = db_engine.create_engine(conf, small_bench.db_url)
            migration.upgrade(small_engine)
            with timing.phase('populate_small'):
                report['populate_small'] = _populate(small_engine,
                                                     args.small)
            with timing.phase('snapshot_small'):
                report['snapshot_small'] = _snapshot_read(
                    context, small_bench, small_engine)
        with timing.phase('populate'):
            report['populate'] = _populate(engine, args.agents,
                                           devices_configured=True)
        if 'placement' in phases:
            with timing.phase('snapshot'):
                report['snapshot'] = _snapshot_read(context, bench, engine)
            small = (args.small, small_bench, small_engine)
            with timing.phase('placement'):
                fleets = [small, (args.agents, bench, engine), small]
                runs = _placement(context, fleets, modes, count,
                                  args.algorithm, duration)
                if args.open_loop:
                    # A load below saturation: a fraction of the big
                    # fleet's sequential rate, from --threads threads.
                    sequential = next(
                        r['per_s'] for r in runs if r['threads'] == 1 and
                        r['agents'] == args.agents)
                    runs += _placement(
                        context, fleets, [(1, args.threads)], count,
                        args.algorithm, duration,
                        rate=round(args.open_loop * sequential))
                report['placement'] = runs
        if 'health' in phases:
            with timing.phase('health'):
                report['health'] = _health(bench, conf,
                                           3 if args.quick else 5)
        if 'server' in phases:
            with timing.phase('load_views'):
                report['load_views_in_process'] = _load_views(conf)
            with timing.phase('server'):
                report['server'] = _server(
                    bench, conf, engine, args.agents,
                    50 if args.quick else 200, 2 if args.quick else 3,
                    timing)
        if 'failover' in phases:
            with timing.phase('failover'):
                report['failover'] = _failover(
                    bench, conf, args.quick, args.guards or ('off',),
                    tuple(args.interval or (1.0,)), args.scenario)
        engine.dispose()
    except BaseException:
        traceback.print_exc()
        raise
    finally:
        from agentsched import messaging
        messaging.cleanup()
        bench.drop_database()
        if small_engine is not None:
            small_engine.dispose()
            small_bench.drop_database()
    report['targets'] = _verdicts(report, args.agents)
    if 'failover' in report:
        report['checks_ok'] = all(r['check']['ok']
                                  for r in report['failover'])
    json.dump(report, sys.stdout, indent=2)
    sys.stdout.write('\n')
    return 0


if __name__ == '__main__':
    sys.exit(main())
