"""The failover benchmark: python -m benchmarks.failover [--quick].

On PostgreSQL, through the real HealthMonitor, FailoverService, Placer and
ResourceService, with the real AgentNotifier casting over RabbitMQ (to the
run's own exchange, bench_<id>; nobody consumes the agents' topics, so the
broker drops the casts after taking them), three scenarios:

- rebind_1x1000: one dead agent hosts 1,000 VIPs on a device another live
  agent lists too: 1,000 rebinds (50 other live agents with their own
  devices stand by);
- move_1x1000: one dead agent hosts 1,000 VIPs on its own device: 1,000
  moves to the devices of 50 live agents (capacity 100, 20 used);
- mass_100_of_1000: 1,000 agents with one device each (capacity 100, 10 VIPs
  each); 100 of them (every tenth) die at once: 1,000 moves.

Each with the guards on (the shipped defaults: move_rate 20/s, move_burst
100, failover_max_dead_ratio 0.5, batch_size 500) and off (move_rate and
move_burst 10^9, failover_max_dead_ratio 1.0), at health_check_interval 5 s
(the default) and 1 s.

A run: the fleet is written straight to the database (bulk inserts, then
ANALYZE); the monitor is built as agentsched-server builds it, with an
offset monotonic clock and an intake that always looks alive; one check
(it becomes leader, the start-up grace starts), the clock is advanced past
the grace, the placement snapshot and the bus connection are warmed (as in a
server that has been running), then the agents die (their heartbeat set 600
s in the past, in the database). Checks are then driven in a loop as the
monitor's own thread drives them: a check, then a wait of the interval.
Measured from the start of the first check (the first to see the agents
dead) to the end of the check after which no binding is left on a dead
agent: wall time, number of checks, time and process CPU inside checks, SQL
statements and pool checkouts (a ping round trip each where idle) inside checks,
time per FailoverService.move and per rebound resource, time in casts.
Every HEARTBEAT_REFRESH seconds a thread refreshes the live agents'
heartbeats in the database (the intake; also during a long check, which at
100,000 agents can outlast agent_down_time: its process CPU counts in the
check's, its statements do not).

After each run the database is checked: every binding on a live agent, no
device over capacity, used equal to the units bound per device, no resource
bound twice, generation 2 on every failed-over binding (1 elsewhere), every
affected resource PENDING_UPDATE; and every affected resource was cast one
deploy and one undeploy. Prints one JSON document.
"""

import argparse
import collections
import datetime
import json
import os
import sys
import threading
import time
import uuid

import sqlalchemy as sa

from benchmarks import common

GUARDS = {
    'on': {},   # the shipped defaults, checked below
    'off': {'move_rate': 1e9, 'move_burst': 10 ** 9,
            'failover_max_dead_ratio': 1.0},
}
SHIPPED = {'move_rate': 20.0, 'move_burst': 100,
           'failover_max_dead_ratio': 0.5, 'batch_size': 500}
RUN_TIMEOUT = 400.0
HEARTBEAT_REFRESH = 15.0


# -- the fleet ----------------------------------------------------------------

class _Rows:
    """Agents, devices, links and bound VIPs, as rows for bulk inserts."""

    def __init__(self, run_id):
        from agentsched import constants
        from agentsched import liveness
        self.constants = constants
        self.now = liveness.utcnow()
        self.run_id = run_id
        self.agents, self.devices, self.links = [], [], []
        self.resources, self.bindings = [], []
        self._used = collections.Counter()

    def agent(self, index):
        agent_id = str(uuid.uuid4())
        self.agents.append(dict(
            id=agent_id, agent_type=self.constants.AGENT_TYPE_LOADBALANCER,
            binary=self.constants.AGENT_BINARY, topic=common.AGENT_TOPIC,
            host=common.host_name(self.run_id, index),
            availability_zone='nova', admin_state_up=True,
            created_at=self.now, started_at=self.now,
            heartbeat_timestamp=self.now, configurations='{}', load=0,
            resources_synced=True))
        return agent_id

    def device(self, name, capacity, agent_ids):
        device_id = str(uuid.uuid4())
        self.devices.append(dict(
            # Named apart from other fleets' (benchmarks/scale.py adds
            # several to one database).
            id=device_id, name='%s-%s' % (self.run_id, name),
            device_type='haproxy',
            service_type=self.constants.SERVICE_LOADBALANCER,
            capabilities='{"ssl_offload": true}', capacity=capacity, used=0,
            physical_info='{"address": "10.0.0.1"}', admin_state_up=True,
            health=self.constants.HEALTH_OK, availability_zone='nova',
            source='reported', revision_number=0, created_at=self.now,
            updated_at=self.now))
        for agent_id in agent_ids:
            self.links.append(dict(
                agent_id=agent_id, device_id=device_id, missing=False,
                health=self.constants.HEALTH_OK, load=0,
                updated_at=self.now))
        return device_id

    def bound(self, count, device_id, agent_id):
        ids = [str(uuid.uuid4()) for _ in range(count)]
        for resource_id in ids:
            self.resources.append(dict(
                id=resource_id, project_id='p', resource_type='vip',
                name='vip', spec='{"protocol": "TCP", "protocol_port": 80}',
                requirements='{}', units=1, status='ACTIVE',
                created_at=self.now, updated_at=self.now))
            self.bindings.append(dict(
                resource_id=resource_id, device_id=device_id,
                agent_id=agent_id, generation=1, created_at=self.now))
        self._used[device_id] += count
        return ids

    def write(self, engine, replace=True):
        """Bulk-write the rows (COPY), in place of every agent, device and
        binding there is, or (replace False) beside them."""
        from agentsched.db import models
        for row in self.devices:
            row['used'] = self._used[row['id']]
        with engine.begin() as connection:
            if replace:
                common.truncate(connection, (
                    models.scheduler_health, models.bindings,
                    models.resources, models.agent_devices, models.devices,
                    models.agents))
            for table, rows in ((models.agents, self.agents),
                                (models.devices, self.devices),
                                (models.agent_devices, self.links),
                                (models.resources, self.resources),
                                (models.bindings, self.bindings)):
                common.copy_rows(connection, table, rows)
        common.analyze(engine)


def _rebind_fleet(run_id, vips, live):
    """One dead agent and one live partner share a device with the VIPs."""
    rows = _Rows(run_id)
    for index in range(live):
        agent_id = rows.agent(index)
        device_id = rows.device('lb-%04d' % index, 100, [agent_id])
        rows.bound(20, device_id, agent_id)
    dead, partner = rows.agent(live), rows.agent(live + 1)
    shared = rows.device('lb-shared', 2 * vips, [dead, partner])
    affected = rows.bound(vips, shared, dead)
    return rows, [dead], affected, 'rebound'


def _move_fleet(run_id, vips, live):
    """One dead agent alone on its device; live agents with room."""
    rows = _Rows(run_id)
    for index in range(live):
        agent_id = rows.agent(index)
        device_id = rows.device('lb-%04d' % index, 100, [agent_id])
        rows.bound(20, device_id, agent_id)
    dead = rows.agent(live)
    own = rows.device('lb-dead', vips, [dead])
    affected = rows.bound(vips, own, dead)
    return rows, [dead], affected, 'moved'


def _mass_fleet(run_id, agents, per_agent, every):
    """agents with one device each; every `every`-th one dies."""
    rows = _Rows(run_id)
    dead, affected = [], []
    for index in range(agents):
        agent_id = rows.agent(index)
        device_id = rows.device('lb-%05d' % index, 100, [agent_id])
        ids = rows.bound(per_agent, device_id, agent_id)
        if index % every == 0:
            dead.append(agent_id)
            affected += ids
    return rows, dead, affected, 'moved'


def _scenarios(quick):
    if quick:
        return {
            'rebind_1x200': lambda run_id: _rebind_fleet(run_id, 200, 10),
            'move_1x200': lambda run_id: _move_fleet(run_id, 200, 10),
            'mass_20_of_200': lambda run_id: _mass_fleet(run_id, 200, 10,
                                                         10),
        }
    return {
        'rebind_1x1000': lambda run_id: _rebind_fleet(run_id, 1000, 50),
        'move_1x1000': lambda run_id: _move_fleet(run_id, 1000, 50),
        'mass_100_of_1000': lambda run_id: _mass_fleet(run_id, 1000, 10,
                                                       10),
    }


# -- instruments ------------------------------------------------------------

class OffsetClock:
    """time.monotonic, movable forward (past the start-up grace)."""

    def __init__(self):
        self.offset = 0.0

    def __call__(self):
        return time.monotonic() + self.offset


class LiveIntake:
    """report_stats of a server whose heartbeat intake is working."""

    def __init__(self, clock):
        self._clock = clock

    @property
    def last_accepted(self):
        return self._clock()


class Counters:
    """SQL statements (and their time) and pool checkouts of an engine, in
    all and per thread (the monitor may move from several threads)."""

    def __init__(self, engine):
        self._lock = threading.Lock()
        self._total = [0, 0.0, 0]
        self._local = threading.local()
        sa.event.listen(engine, 'before_cursor_execute', self._before)
        sa.event.listen(engine, 'after_cursor_execute', self._after)
        sa.event.listen(engine.pool, 'checkout', self._checkout)

    def _mine(self):
        counts = getattr(self._local, 'counts', None)
        if counts is None:
            counts = self._local.counts = [0, 0.0, 0]
        return counts

    def _add(self, index, value):
        self._mine()[index] += value
        with self._lock:
            self._total[index] += value

    def _before(self, conn, cursor, statement, parameters, context,
                executemany):
        self._add(0, 1)
        conn.info.setdefault('bench_started', []).append(
            time.perf_counter())

    def _after(self, conn, cursor, statement, parameters, context,
               executemany):
        self._add(1, time.perf_counter() - conn.info['bench_started'].pop())

    def _checkout(self, dbapi_connection, record, proxy):
        self._add(2, 1)

    def read(self):
        """(statements, seconds in statements, checkouts), all threads."""
        with self._lock:
            return tuple(self._total)

    def read_mine(self):
        """The same, this thread's only."""
        return tuple(self._mine())


class CountingNotifier:
    """The real AgentNotifier, with each cast counted and timed."""

    def __init__(self, notifier):
        self._notifier = notifier
        self._lock = threading.Lock()
        self.casts = collections.Counter()
        self.failures = 0
        self.seconds = 0.0
        self.ids = collections.defaultdict(collections.Counter)

    def _cast(self, method, agent, resource):
        began = time.perf_counter()
        ok = getattr(self._notifier, method)(agent, resource)
        with self._lock:
            self.seconds += time.perf_counter() - began
            self.casts[method] += 1
            self.ids[method][resource['id']] += 1
            if ok is False:
                self.failures += 1
        return ok

    def deploy(self, agent, resource):
        return self._cast('deploy', agent, resource)

    def undeploy(self, agent, resource):
        return self._cast('undeploy', agent, resource)

    def reset(self):
        self.casts.clear()
        self.ids.clear()
        self.failures = 0
        self.seconds = 0.0


class Timed:
    """Wraps FailoverService.move and .rebind on the instance: time and
    statements per call."""

    def __init__(self, failover, counters):
        self.counters = counters
        self.move_s, self.move_statements, self.move_checkouts = [], 0, 0
        self.rebind_s, self.rebound, self.rebind_statements = 0.0, 0, 0
        self.rebind_calls, self.rebind_checkouts = 0, 0
        move, rebind = failover.move, failover.rebind

        lock = threading.Lock()

        def timed_move(item, reason):
            statements, _, checkouts = counters.read_mine()
            began = time.perf_counter()
            result = move(item, reason)
            spent = time.perf_counter() - began
            after = counters.read_mine()
            with lock:
                self.move_s.append(spent)
                self.move_statements += after[0] - statements
                self.move_checkouts += after[2] - checkouts
            return result

        def timed_rebind(items, *args):
            statements, _, checkouts = counters.read_mine()
            began = time.perf_counter()
            result = rebind(items, *args)
            self.rebind_s += time.perf_counter() - began
            after = counters.read_mine()
            self.rebind_statements += after[0] - statements
            self.rebind_checkouts += after[2] - checkouts
            self.rebound += len(result)
            self.rebind_calls += 1
            return result

        failover.move = timed_move
        failover.rebind = timed_rebind


# -- one run ----------------------------------------------------------------

def _build(engine, conf, clock, notifier):
    """The monitor and its services, as agentsched-server builds them."""
    from agentsched.health import leader
    from agentsched.health import monitor as health_monitor
    from agentsched.services import failover as failover_service
    from agentsched.services import placement
    from agentsched.services import resources as resources_service
    from agentsched.services import secrets
    placer = placement.Placer(engine, conf)
    resources = resources_service.ResourceService(
        engine, conf, notifier, secrets.SecretBox([secrets.generate_key()]),
        placer=placer)
    failover = failover_service.FailoverService(engine, conf, placer,
                                                notifier, resources)
    monitor = health_monitor.HealthMonitor(
        engine, conf, failover, leader.AlwaysLeader(),
        report_stats=LiveIntake(clock), clock=clock)
    return monitor, failover, placer


def _beat(engine, dead, seconds_ago=0, live=True):
    """Heartbeats in the database: the live agents now (the intake), or
    the dead ones long ago."""
    from agentsched.db import models
    from agentsched import liveness
    agents = models.agents
    at = liveness.utcnow() - datetime.timedelta(seconds=seconds_ago)
    condition = (agents.c.id.not_in(dead) if live else agents.c.id.in_(dead))
    with engine.begin() as connection:
        connection.execute(sa.update(agents).where(condition).values(
            heartbeat_timestamp=at))


class _Beating:
    """The intake: the live agents' heartbeats refreshed every
    HEARTBEAT_REFRESH seconds, from a thread of its own, on a connection
    of its own (the run's counters count the monitor's statements)."""

    def __init__(self, engine, dead):
        self._engine = sa.create_engine(engine.url, poolclass=sa.NullPool)
        self._dead = dead
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self):
        while not self._stopping.wait(HEARTBEAT_REFRESH):
            _beat(self._engine, self._dead)

    def stop(self):
        self._stopping.set()
        self._thread.join()
        self._engine.dispose()


def _left_on_dead(engine, dead):
    from agentsched.db import models
    with engine.connect() as connection:
        return connection.execute(
            sa.select(sa.func.count()).select_from(models.bindings)
            .where(models.bindings.c.agent_id.in_(dead))).scalar()


def _verify(engine, conf, dead, affected, kind, notifier, own):
    """What must hold after the failover: counts of violations. own: the
    scenario's resources (generation 2 if affected, 1 if not)."""
    from agentsched import liveness
    alive_since = liveness.alive_since(conf.agent_down_time)
    with engine.connect() as connection:
        not_live = connection.execute(sa.text("""
            SELECT count(*) FROM bindings b
            LEFT JOIN agents a ON a.id = b.agent_id
            WHERE a.id IS NULL OR a.heartbeat_timestamp < :since
               OR NOT a.admin_state_up OR a.forced_down"""), {
            'since': alive_since}).scalar()
        over, mismatched, twice = common.capacity_violations(connection)
        rows = connection.execute(sa.text("""
            SELECT b.resource_id, b.generation, b.device_id, b.agent_id,
                   r.status
            FROM bindings b JOIN resources r ON r.id = b.resource_id"""
        )).all()
        dead_devices = set(connection.execute(sa.text("""
            SELECT device_id FROM agent_devices
            WHERE agent_id = ANY(:dead)"""), {'dead': dead}).scalars())
    affected_set = set(affected)
    by_id = {row.resource_id: row for row in rows}
    missing = len(affected_set - set(by_id))
    wrong_generation = sum(
        1 for row in rows if row.resource_id in own and
        row.generation != (2 if row.resource_id in affected_set else 1))
    not_pending = sum(1 for resource_id in affected_set
                      if resource_id in by_id and
                      by_id[resource_id].status != 'PENDING_UPDATE')
    # A rebind keeps the device, a move leaves it.
    wrong_device = sum(
        1 for resource_id in affected_set if resource_id in by_id and
        ((by_id[resource_id].device_id in dead_devices) != (
            kind == 'rebound')))
    casts_wrong = sum(
        1 for resource_id in affected_set
        if notifier.ids['deploy'][resource_id] != 1 or
        notifier.ids['undeploy'][resource_id] != 1)
    check = {'bindings_not_on_live_agent': not_live,
             'over_capacity': over, 'used_mismatch': mismatched,
             'bound_twice': twice, 'affected_unbound': missing,
             'wrong_generation': wrong_generation,
             'affected_not_pending_update': not_pending,
             'wrong_device': wrong_device,
             'casts_not_one_deploy_one_undeploy': casts_wrong,
             'cast_failures': notifier.failures}
    check['ok'] = not any(check.values())
    return check


def _move_workers(conf):
    """[health] move_workers, or 1 where the monitor moves one at a
    time (a version without the option)."""
    try:
        return conf.health.move_workers
    except Exception:
        return 1


def _run(bench, engine, conf, counters, notifier, scenario, build, guards,
         interval, replace=True):
    """One failover from the first check that sees the agents dead to the
    last binding off them. replace False: the scenario's fleet joins the
    one in the database (benchmarks/scale.py's), its hosts named apart."""
    rows, dead, affected, kind = build(
        bench.id if replace else '%s-%s-%s-%s' % (bench.id, scenario, guards,
                                                  interval))
    rows.write(engine, replace)
    for name in GUARDS['off']:
        conf.clear_override(name, 'health')
    for name, value in dict(GUARDS[guards], health_check_interval=interval
                            ).items():
        conf.set_override(name, value, 'health')
    if guards == 'on':
        assert {name: conf.health[name] for name in SHIPPED} == SHIPPED, \
            'the shipped guard defaults changed'
    clock = OffsetClock()
    notifier.reset()
    monitor, failover, placer = _build(engine, conf, clock, notifier)
    timed = Timed(failover, counters)
    first = monitor.check()  # leader now; the start-up grace starts
    assert first is not None and not any(first.values()), first
    assert monitor.guards.hold_reason() == 'start-up grace'
    clock.offset += conf.agent_down_time + conf.agent.report_interval + 1
    assert monitor.guards.hold_reason() is None
    # A server that has been running: its snapshot loaded, its bus
    # connection open.
    placer._snapshot.candidates(rows.constants.SERVICE_LOADBALANCER)
    agent = collections.namedtuple('Agent', 'agent_type host topic')(
        rows.constants.AGENT_TYPE_LOADBALANCER, bench.id + '-nobody',
        common.AGENT_TOPIC)
    notifier._notifier.undeploy(agent, {'id': 'warm-up', 'generation': 1,
                                        'resource_type': 'vip'})
    loads_before = placer._snapshot.loads
    _beat(engine, dead)
    _beat(engine, dead, seconds_ago=600, live=False)
    beating = _Beating(engine, dead)
    cpu_before = common.cpu_snapshot()
    checks, outcomes = [], collections.Counter()
    began = time.perf_counter()
    ended = None
    while True:
        statements, statement_s, checkouts = counters.read()
        cpu, at = time.process_time(), time.perf_counter()
        outcome = monitor.check()
        done_at = time.perf_counter()
        after = counters.read()
        checks.append({
            's': done_at - at, 'cpu_s': time.process_time() - cpu,
            'statements': after[0] - statements,
            'statement_s': after[1] - statement_s,
            'checkouts': after[2] - checkouts,
            'outcome': outcome})
        for key, value in (outcome or {}).items():
            if isinstance(value, int):
                outcomes[key] += value
        left = _left_on_dead(engine, dead)
        if left == 0:
            ended = done_at
            break
        if done_at - began > RUN_TIMEOUT:
            break
        # The monitor's thread waits the interval after each check.
        time.sleep(max(0.0, interval - (time.perf_counter() - done_at)))
    beating.stop()
    cpu_after = common.cpu_snapshot()
    work = sum(c['s'] for c in checks)
    resources = outcomes['rebound'] + outcomes['moved']
    moves = timed.move_s
    run = {
        'scenario': scenario, 'guards': guards, 'interval_s': interval,
        'move_workers': _move_workers(conf),
        'agents': len(rows.agents), 'dead_agents': len(dead),
        'devices': len(rows.devices), 'bindings': len(rows.bindings),
        'affected': len(affected), 'expected': kind,
        'completed': ended is not None,
        'wall_s': round((ended or time.perf_counter()) - began, 2),
        'checks': len(checks),
        'checks_with_work': sum(1 for c in checks if c['outcome'] and (
            c['outcome']['rebound'] or c['outcome']['moved'])),
        'rebound': outcomes['rebound'], 'moved': outcomes['moved'],
        'failed': outcomes['failed'],
        'deferred_max': max((c['outcome'] or {}).get('deferred', 0)
                            for c in checks),
        'in_checks': {
            'wall_s': round(work, 3),
            'process_cpu_s': round(sum(c['cpu_s'] for c in checks), 3),
            # Summed over the threads that move: may exceed wall_s.
            'sql_statement_s_all_threads': round(
                sum(c['statement_s'] for c in checks), 3),
            'casts_s_all_threads': round(notifier.seconds, 3),
            'statements': sum(c['statements'] for c in checks),
            'pool_checkouts': sum(c['checkouts'] for c in checks),
            'longest_check_s': round(max(c['s'] for c in checks), 3),
        },
        'ms_per_resource_in_checks': round(
            work * 1000 / resources, 3) if resources else None,
        'casts': dict(notifier.casts),
        'snapshot_reloads': placer._snapshot.loads - loads_before,
        'cpu_s_during_run': common.cpu_used(cpu_before, cpu_after, {
            'benchmark': {os.getpid()}, 'postgres': 'postgres',
            'rabbitmq': 'beam.smp'}),
    }
    if moves:
        run['per_move'] = {
            'count': len(moves),
            'mean_ms': round(sum(moves) * 1000 / len(moves), 3),
            'p50_ms': round(sorted(moves)[len(moves) // 2] * 1000, 3),
            'p99_ms': round(sorted(moves)[min(len(moves) - 1, int(
                len(moves) * 0.99))] * 1000, 3),
            'max_ms': round(max(moves) * 1000, 3),
            'statements': round(timed.move_statements / len(moves), 2),
            'pool_checkouts': round(timed.move_checkouts / len(moves), 2),
        }
    if timed.rebound:
        run['per_rebind'] = {
            'count': timed.rebound, 'calls': timed.rebind_calls,
            'mean_ms': round(timed.rebind_s * 1000 / timed.rebound, 3),
            'statements': round(timed.rebind_statements / timed.rebound, 2),
            'pool_checkouts': round(
                timed.rebind_checkouts / timed.rebound, 2),
        }
    run['per_check'] = [
        {'s': round(c['s'], 3), 'statements': c['statements'],
         **{key: value for key, value in (c['outcome'] or {}).items()
            if value}}
        for c in checks]
    run['check'] = _verify(engine, conf, dead, affected, kind, notifier,
                           {row['id'] for row in rows.resources})
    run['check']['ok'] &= run['completed'] and outcomes['failed'] == 0 and \
        outcomes[kind] == len(affected)
    return run


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--quick', action='store_true')
    parser.add_argument('--interval', type=float, action='append',
                        help='health_check_interval (repeatable; default 5 '
                             'and 1, 1 with --quick)')
    parser.add_argument('--scenario', action='append',
                        help='repeatable; default all')
    parser.add_argument('--guards', action='append', choices=('on', 'off'),
                        help='repeatable; default both')
    parser.add_argument('--move-workers', type=int,
                        help='[health] move_workers, where the code has it '
                             '(default: its default)')
    args = parser.parse_args(argv)
    intervals = tuple(args.interval or ((1.0,) if args.quick
                                        else (5.0, 1.0)))
    scenarios = _scenarios(args.quick)
    bench = common.Run()
    bench.create_database()
    report = {'quick': args.quick, 'notifier': (
        'real AgentNotifier over RabbitMQ, exchange %s; no consumers, the '
        'broker drops the casts' % bench.id), 'runs': []}
    try:
        import traceback  # oslo_log's excepthook writes only to the log
        from agentsched.db import engine as db_engine
        from agentsched.db import migration
        from benchmarks import heartbeat
        conf = common.load_conf(bench.config_file('failover'))
        engine = db_engine.create_engine(conf)
        migration.upgrade(engine)
        report['environment'] = heartbeat._environment(engine)
        report['agent_down_time'] = conf.agent_down_time
        if args.move_workers:
            conf.set_override('move_workers', args.move_workers, 'health')
        counters = Counters(engine)
        from agentsched.services import agent_notifier
        notifier = CountingNotifier(agent_notifier.AgentNotifier(conf))
        for name in (args.scenario or list(scenarios)):
            for guards in (args.guards or ('on', 'off')):
                for interval in intervals:
                    run = _run(bench, engine, conf, counters, notifier, name,
                               scenarios[name], guards, interval)
                    report['runs'].append(run)
                    sys.stderr.write('%s guards %s interval %s: %s s, %d '
                                     'checks, ok %s\n' % (
                                         name, guards, interval,
                                         run['wall_s'], run['checks'],
                                         run['check']['ok']))
        engine.dispose()
    except BaseException:
        traceback.print_exc()
        raise
    finally:
        from agentsched import messaging
        messaging.cleanup()
        bench.drop_database()
    report['checks_ok'] = all(r['check']['ok'] for r in report['runs'])
    json.dump(report, sys.stdout, indent=2)
    sys.stdout.write('\n')
    return 0


if __name__ == '__main__':
    sys.exit(main())
