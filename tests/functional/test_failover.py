"""The health monitor and failover on SQLite, PostgreSQL and MariaDB.

The monitor runs its checks here by hand, with a clock the test moves; the
database is real. Casts to agents are recorded by a notifier standing in
for the bus (the fault tests in test_fault_*.py run the real processes over
RabbitMQ). After every scenario: no resource bound twice, no device
overcommitted, generations only grow.
"""

import collections
import contextlib
import datetime
import logging
import threading
import uuid

import prometheus_client
import pytest
import sqlalchemy as sa

from agentsched import constants
from agentsched import liveness
from agentsched.db import failover as failover_db
from agentsched.db import models
from agentsched.db import placement as placement_db
from agentsched.db import resources as resources_db
from agentsched.health import guards as guards_mod
from agentsched.health import leader
from agentsched.health import monitor as health_monitor
from agentsched.services import failover as failover_service
from agentsched.services import placement
from agentsched.services import resources as resources_service
from agentsched.services import secrets
from tests import conftest
from tests import lock_waits

DOWN_TIME = 3
REPORT_INTERVAL = 1


class Clock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now


class RecordingNotifier:
    def __init__(self):
        self.casts = []
        self._lock = threading.Lock()

    def _record(self, method, agent, resource):
        with self._lock:
            self.casts.append((method, agent.host, resource))

    def deploy(self, agent, resource):
        self._record('deploy', agent, resource)

    def undeploy(self, agent, resource):
        self._record('undeploy', agent, resource)

    def of(self, method):
        return [cast for cast in self.casts if cast[0] == method]


@pytest.fixture
def conf(parsed_conf):
    overrides = {('agent_down_time', None): DOWN_TIME,
                 ('report_interval', 'agent'): REPORT_INTERVAL,
                 ('error_retry_interval', 'health'): 0,
                 ('move_rate', 'health'): 1000.0,
                 ('move_burst', 'health'): 1000}
    for (name, group), value in overrides.items():
        parsed_conf.set_override(name, value, group)
    yield parsed_conf
    for name, group in overrides:
        parsed_conf.clear_override(name, group)
    parsed_conf.clear_override('failover_policies', 'health')


class Fleet:
    """Agents, devices, links and resources written straight to the DB."""

    def __init__(self, engine):
        self.engine = engine
        self.now = liveness.utcnow()

    def agent(self, name, az='az1', alive=True, admin_state_up=True):
        beat = self.now - datetime.timedelta(seconds=0 if alive else 600)
        with self.engine.begin() as connection:
            connection.execute(sa.insert(models.agents).values(
                id=name, agent_type=constants.AGENT_TYPE_LOADBALANCER,
                binary='agentsched-agent', topic='agentsched-lbaas-agent',
                host=name, availability_zone=az,
                admin_state_up=admin_state_up, created_at=self.now,
                started_at=self.now, heartbeat_timestamp=beat,
                configurations='{}', load=0))
        return name

    def device(self, name, agents, capacity=200, health='OK'):
        with self.engine.begin() as connection:
            connection.execute(sa.insert(models.devices).values(
                id=name, name=name, device_type='noop',
                service_type=constants.SERVICE_LOADBALANCER,
                capabilities='{}', capacity=capacity, used=0,
                physical_info='{}', health=health, source='admin',
                created_at=self.now))
            for agent in agents:
                connection.execute(sa.insert(models.agent_devices).values(
                    agent_id=agent, device_id=name, missing=False,
                    health=health))
        return name

    def bound(self, count, device, agent):
        ids = [str(uuid.uuid4()) for _ in range(count)]
        with self.engine.begin() as connection:
            connection.execute(sa.insert(models.resources), [dict(
                id=resource_id, project_id='p', resource_type='vip',
                spec='{"protocol": "TCP", "protocol_port": 80}',
                requirements='{}', units=1, status='ACTIVE',
                created_at=self.now) for resource_id in ids])
            connection.execute(sa.insert(models.bindings), [dict(
                resource_id=resource_id, device_id=device, agent_id=agent,
                generation=1, created_at=self.now) for resource_id in ids])
            connection.execute(sa.update(models.devices).where(
                models.devices.c.id == device).values(
                used=models.devices.c.used + count))
        return ids

    def set_agent(self, name, **values):
        with self.engine.begin() as connection:
            connection.execute(sa.update(models.agents).where(
                models.agents.c.id == name).values(**values))

    def kill(self, *names):
        self.set_agent_beat(names, 600)

    def set_agent_beat(self, names, seconds_ago):
        with self.engine.begin() as connection:
            connection.execute(sa.update(models.agents).where(
                models.agents.c.id.in_(names)).values(
                heartbeat_timestamp=liveness.utcnow() -
                datetime.timedelta(seconds=seconds_ago)))

    def touch(self, *names):
        self.set_agent_beat(names, 0)

    def bindings(self):
        with self.engine.connect() as connection:
            return {row.resource_id: row for row in connection.execute(
                sa.select(models.bindings))}


def check_invariants(engine, before=None):
    """No overcommit, one binding per resource, generations never fall."""
    with engine.connect() as connection:
        devices = connection.execute(sa.select(models.devices)).all()
        counts = dict(connection.execute(
            sa.select(models.bindings.c.device_id, sa.func.count())
            .group_by(models.bindings.c.device_id)).all())
        bindings = {row.resource_id: row for row in connection.execute(
            sa.select(models.bindings))}
    for device in devices:
        assert device.used <= device.capacity
        assert device.used == counts.get(device.id, 0), device.id
    for resource_id, row in (before or {}).items():
        if resource_id in bindings:
            assert bindings[resource_id].generation >= row.generation
    return bindings


def _monitor(engine, conf, clock, notifier=None):
    notifier = notifier or RecordingNotifier()
    placer = placement.Placer(engine, conf, placement.Snapshot(
        engine, conf.agent_down_time, max_age=0))
    resources = resources_service.ResourceService(
        engine, conf, notifier, secrets.SecretBox([secrets.generate_key()]),
        placer=placer)
    failover = failover_service.FailoverService(engine, conf, placer,
                                                notifier, resources)
    monitor = health_monitor.HealthMonitor(
        engine, conf, failover, leader.AlwaysLeader(), clock=clock)
    return monitor, notifier


def _past_grace(monitor, clock):
    """First check (becomes leader, grace starts), then past the grace."""
    assert monitor.check() == {'rebound': 0, 'moved': 0, 'failed': 0,
                               'deferred': 0, 'waiting': 0}
    clock.now += DOWN_TIME + REPORT_INTERVAL + 1


def _running_monitor(engine, conf):
    """A monitor past its start-up grace, its intake alive."""
    clock = Clock()
    monitor, notifier = _monitor(engine, conf, clock)
    _past_grace(monitor, clock)
    _heartbeats(monitor, clock)
    return monitor, notifier, clock


def _heartbeats(monitor, clock):
    """The intake is alive: a report was just taken."""
    monitor._report_stats = type('Stats', (), {'last_accepted': clock.now})


def _two_agents(database, conf, count):
    """Agents a and b, each with a device of its own, count VIPs on a's,
    and a monitor past its start-up grace."""
    engine = database.engine()
    fleet = Fleet(engine)
    a, b = fleet.agent('a'), fleet.agent('b')
    fleet.device('dev-a', [a])
    fleet.device('dev-b', [b])
    ids = fleet.bound(count, 'dev-a', a)
    clock = Clock()
    monitor, notifier = _monitor(engine, conf, clock)
    _past_grace(monitor, clock)
    return engine, fleet, ids, clock, monitor, notifier


def test_dead_agent_rebinds_to_the_other_agent_of_its_device(
        database, conf):
    engine = database.engine()
    fleet = Fleet(engine)
    a, b = fleet.agent('a'), fleet.agent('b')
    fleet.device('shared', [a, b])
    ids = fleet.bound(10, 'shared', a)
    clock = Clock()
    monitor, notifier = _monitor(engine, conf, clock)
    _past_grace(monitor, clock)
    before = fleet.bindings()
    fleet.kill(a)
    outcome = monitor.check()
    assert outcome['rebound'] == 10 and outcome['moved'] == 0
    after = check_invariants(engine, before)
    assert {row.agent_id for row in after.values()} == {b}
    assert {row.device_id for row in after.values()} == {'shared'}
    assert {row.generation for row in after.values()} == {2}
    deploys = notifier.of('deploy')
    assert sorted(cast[2]['id'] for cast in deploys) == sorted(ids)
    assert {cast[1] for cast in deploys} == {b}
    assert {cast[2]['generation'] for cast in deploys} == {2}
    releases = notifier.of('undeploy')
    assert {cast[1] for cast in releases} == {a}
    assert all(cast[2]['keep_on_device'] for cast in releases)
    # Nothing more to do at the next check.
    assert monitor.check()['rebound'] == 0


def test_dead_agent_with_its_own_device_moves_to_another_device(
        database, conf):
    engine, fleet, ids, clock, monitor, notifier = _two_agents(
        database, conf, 5)
    a, b = 'a', 'b'
    before = fleet.bindings()
    fleet.kill(a)
    assert monitor.check()['moved'] == 5
    after = check_invariants(engine, before)
    assert {(row.agent_id, row.device_id, row.generation)
            for row in after.values()} == {(b, 'dev-b', 2)}
    undeploys = notifier.of('undeploy')
    assert sorted(cast[2]['id'] for cast in undeploys) == sorted(ids)
    assert {(cast[1], cast[2]['generation']) for cast in undeploys} == {
        (a, 1)}
    assert not any(cast[2].get('keep_on_device') for cast in undeploys)
    with engine.connect() as connection:
        statuses = {row.status for row in connection.execute(
            sa.select(models.resources.c.status))}
    assert statuses == {constants.STATUS_PENDING_UPDATE}


def test_startup_grace_holds_failover(database, conf):
    engine = database.engine()
    fleet = Fleet(engine)
    a, b = fleet.agent('a', alive=False), fleet.agent('b')
    fleet.device('dev-a', [a])
    fleet.device('dev-b', [b])
    fleet.bound(3, 'dev-a', a)
    clock = Clock()
    monitor, _ = _monitor(engine, conf, clock)
    assert monitor.check()['moved'] == 0
    assert monitor.guards.state()['startup_grace']['active']
    clock.now += DOWN_TIME + REPORT_INTERVAL - 0.5
    _heartbeats(monitor, clock)
    fleet.touch(b)
    assert monitor.check()['moved'] == 0
    clock.now += 1
    _heartbeats(monitor, clock)
    assert monitor.check()['moved'] == 3
    check_invariants(engine)


def test_mass_failure_guard_trips_and_raises_the_alarm(database, conf,
                                                       caplog):
    engine = database.engine()
    fleet = Fleet(engine)
    agents = [fleet.agent('a%d' % index) for index in range(5)]
    other_az = fleet.agent('z', az='az2')
    for agent in agents + [other_az]:
        fleet.device('dev-' + agent, [agent])
        fleet.bound(2, 'dev-' + agent, agent)
    monitor, _, clock = _running_monitor(engine, conf)
    before = fleet.bindings()
    fleet.kill(*agents[:3])  # 60% of az1
    with caplog.at_level(logging.ERROR):
        outcome = monitor.check()
    assert outcome['moved'] == 0 and outcome['rebound'] == 0
    assert check_invariants(engine, before) == before
    state = monitor.state()['guards']['mass_failure']
    assert state['active']
    assert state['tripped'] == [{
        'agent_type': constants.AGENT_TYPE_LOADBALANCER,
        'availability_zone': 'az1', 'dead': 3, 'total': 5}]
    assert any('ALARM' in record.getMessage() for record in caplog.records)
    # In the other zone, one death of one agent is failed over as usual.
    fleet.kill(other_az)
    fleet.touch(*agents[3:])
    assert monitor.check()['moved'] == 2
    # The zone comes back: the alarm clears and nothing moved there.
    fleet.touch(*agents[:3])
    monitor.check()
    assert not monitor.state()['guards']['mass_failure']['active']
    after = check_invariants(engine, before)
    assert all(after[resource_id].agent_id == row.agent_id
               for resource_id, row in before.items()
               if row.agent_id in agents)


def test_the_token_bucket_paces_moves(database, conf):
    conf.set_override('move_rate', 0.5, 'health')
    conf.set_override('move_burst', 3, 'health')
    engine, fleet, _, clock, monitor, _ = _two_agents(database, conf, 6)
    _heartbeats(monitor, clock)
    fleet.kill('a')
    fleet.touch('b')
    outcome = monitor.check()
    assert (outcome['moved'], outcome['deferred']) == (3, 3)
    assert monitor.check()['moved'] == 0
    clock.now += 2.1  # one token
    _heartbeats(monitor, clock)
    assert monitor.check()['moved'] == 1
    check_invariants(engine)


@pytest.mark.parametrize('policy', ['rebind_only', 'off'])
def test_policies_that_do_not_move(database, conf, policy):
    conf.set_override('failover_policies', {'vip': policy}, 'health')
    engine = database.engine()
    fleet = Fleet(engine)
    a, b, c = fleet.agent('a'), fleet.agent('b'), fleet.agent('c')
    fleet.device('shared', [a, b])
    fleet.device('dev-c', [c])
    on_shared = fleet.bound(2, 'shared', a)
    fleet.device('dev-a', [a])
    alone = fleet.bound(2, 'dev-a', a)
    monitor, _, clock = _running_monitor(engine, conf)
    fleet.kill(a)
    outcome = monitor.check()
    after = check_invariants(engine)
    assert outcome['moved'] == 0
    assert all(after[i].agent_id == a for i in alone)
    if policy == 'off':
        assert outcome['rebound'] == 0
        assert all(after[i].agent_id == a for i in on_shared)
    else:
        assert outcome['rebound'] == 2 and outcome['waiting'] == 2
        assert all(after[i].agent_id == b for i in on_shared)


def test_drain_and_force_down_act_during_the_grace(database, conf):
    engine = database.engine()
    fleet = Fleet(engine)
    a, b, c = fleet.agent('a'), fleet.agent('b'), fleet.agent('c')
    for agent in (a, b, c):
        fleet.device('dev-' + agent, [agent])
    drained = fleet.bound(2, 'dev-a', a)
    forced = fleet.bound(2, 'dev-b', b)
    fleet.set_agent(a, admin_state_up=False)
    fleet.set_agent(b, forced_down=True)
    clock = Clock()
    monitor, notifier = _monitor(engine, conf, clock)
    outcome = monitor.check()   # in the grace: admins' wishes go ahead
    assert outcome['moved'] == 4
    after = check_invariants(engine)
    assert {after[i].agent_id for i in drained + forced} == {c}
    # A forced-down agent is dead to the scheduler: not a candidate.
    fleet.set_agent(c, forced_down=True)
    fleet.set_agent(a, admin_state_up=True)
    assert monitor.check()['moved'] == 4
    after = check_invariants(engine)
    assert {after[i].agent_id for i in drained + forced} == {a}


def test_device_down_moves_its_resources(database, conf):
    engine = database.engine()
    fleet = Fleet(engine)
    a = fleet.agent('a')
    fleet.device('broken', [a], health=constants.HEALTH_DOWN)
    fleet.device('good', [a])
    ids = fleet.bound(3, 'broken', a)
    monitor, _, clock = _running_monitor(engine, conf)
    fleet.touch(a)
    assert monitor.check()['moved'] == 3
    after = check_invariants(engine)
    assert {after[i].device_id for i in ids} == {'good'}


def test_no_room_leaves_the_binding_and_says_why(database, conf):
    conf.set_override('error_retry_interval', 30, 'health')
    engine = database.engine()
    fleet = Fleet(engine)
    a, b = fleet.agent('a'), fleet.agent('b')
    fleet.device('dev-a', [a])
    fleet.device('dev-b', [b], capacity=1)
    ids = fleet.bound(3, 'dev-a', a)
    monitor, _, clock = _running_monitor(engine, conf)
    fleet.kill(a)
    outcome = monitor.check()
    assert (outcome['moved'], outcome['failed']) == (1, 2)
    after = check_invariants(engine)
    with engine.connect() as connection:
        rows = connection.execute(sa.select(models.resources)).all()
    failed = [row for row in rows if row.status == constants.STATUS_ERROR]
    assert len(failed) == 2
    assert all('no other device' in row.status_description
               for row in failed)
    assert all(after[row.id].agent_id == a for row in failed)
    # Failed moves are not retried at every check.
    assert monitor.check()['failed'] == 0
    assert len(ids) == 3


def test_outage_guard_holds_until_agent_down_time_after_recovery(
        database, conf):
    engine, fleet, _, clock, monitor, _ = _two_agents(database, conf, 2)
    a, b = 'a', 'b'
    # Nobody's heartbeats arrive (the broker is down): everyone looks dead
    # after agent_down_time, but the intake stalled first.
    fleet.kill(a, b)
    assert monitor.check()['moved'] == 0
    state = monitor.state()['guards']['outage']
    assert state['active'] and 'no heartbeat' in state['reason']
    # Recovery: b reports again; a stays dead. Wait agent_down_time.
    _heartbeats(monitor, clock)
    fleet.touch(b)
    assert monitor.check()['moved'] == 0
    assert monitor.state()['guards']['outage']['recovering']
    clock.now += DOWN_TIME + 0.1
    _heartbeats(monitor, clock)
    fleet.touch(b)
    assert monitor.check()['moved'] == 2
    check_invariants(engine)


def test_a_database_outage_during_a_broker_outage_waits_the_reconnect_time(
        database, conf):
    # The database and the broker fail together: the monitor cannot read
    # the agents, and this server's intake has stalled. Once both are back,
    # agents reach the broker on their own back-off (reconnect_time).
    engine, fleet, _, clock, monitor, _ = _two_agents(database, conf, 2)
    monitor.guards = guards_mod.Guards(
        DOWN_TIME, REPORT_INTERVAL, max_dead_ratio=0.5, min_dead=2,
        move_rate=1000.0, move_burst=1000, reconnect_time=20, clock=clock)
    fleet.kill('a', 'b')
    # Nothing listens on port 1: connections are refused, as by a
    # database that is down.
    monitor._engine = sa.create_engine(
        'postgresql+psycopg://postgres@127.0.0.1:1/test',
        poolclass=sa.pool.NullPool)
    assert monitor.check() is None
    assert 'database unreachable' in \
        monitor.state()['guards']['outage']['reason']
    monitor._engine = engine
    moved = []
    for step in (0, DOWN_TIME + 0.1, 20):
        clock.now += step
        _heartbeats(monitor, clock)
        fleet.touch('b')
        moved.append(monitor.check()['moved'])
        if step == 0:
            assert monitor.state()['guards']['outage']['seconds_left'] == \
                DOWN_TIME + 20
    assert moved == [0, 0, 2]
    check_invariants(engine)


@contextlib.contextmanager
def _reporting(fleet, agents, every=0.5):
    """agents' heartbeats refreshed every 'every' seconds meanwhile."""
    stop = threading.Event()

    def beat():
        while not stop.is_set():
            fleet.set_agent_beat(agents, 0)
            stop.wait(every)
    thread = threading.Thread(target=beat, daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()


def test_two_leaders_never_fail_one_resource_over_twice(server_database,
                                                        conf):
    """Split brain (two monitors both believe they lead): the row locks
    (FOR UPDATE SKIP LOCKED) and the conditional updates let each binding
    move once."""
    engine = server_database.engine()
    fleet = Fleet(engine)
    a = fleet.agent('a')
    targets = [fleet.agent('t%d' % index) for index in range(4)]
    fleet.device('dev-a', [a])
    for agent in targets:
        fleet.device('dev-' + agent, [agent], capacity=100)
    ids = fleet.bound(120, 'dev-a', a)
    monitors = []
    for _ in range(2):
        clock = Clock()
        monitor, notifier = _monitor(server_database.engine(migrated=False),
                                     conf, clock)
        _past_grace(monitor, clock)
        _heartbeats(monitor, clock)
        monitors.append((monitor, notifier))
    before = fleet.bindings()
    fleet.kill(a)
    outcomes = []
    threads = [threading.Thread(target=lambda m=m: outcomes.append(m.check()))
               for m, _ in monitors]
    # The targets keep reporting, as live agents do: on a loaded machine 120
    # moves outlast agent_down_time, and targets judged dead midway would
    # fail the rest.
    with _reporting(fleet, targets):
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    after = check_invariants(engine, before)
    assert sum(outcome['moved'] for outcome in outcomes) == len(ids)
    assert {row.generation for row in after.values()} == {2}
    assert {row.agent_id for row in after.values()} <= set(targets)
    deployed = [cast[2]['id'] for _, notifier in monitors
                for cast in notifier.of('deploy')]
    assert sorted(deployed) == sorted(ids)  # one deploy each, not two


def test_unplaced_error_resources_are_retried(database, conf):
    conf.set_override('error_retry_interval', 30, 'health')
    engine = database.engine()
    fleet = Fleet(engine)
    a = fleet.agent('a')
    fleet.device('dev-a', [a])
    ids = [str(uuid.uuid4()) for _ in range(3)]
    long_ago = liveness.utcnow() - datetime.timedelta(seconds=60)
    with engine.begin() as connection:
        connection.execute(sa.insert(models.resources), [dict(
            id=resource_id, project_id='p', resource_type='vip',
            spec='{"protocol": "TCP", "protocol_port": 80}',
            requirements='{}', units=1, status=constants.STATUS_ERROR,
            status_description='no alive agent', created_at=long_ago,
            updated_at=long_ago if index else liveness.utcnow())
            for index, resource_id in enumerate(ids)])
    monitor, notifier, clock = _running_monitor(engine, conf)
    fleet.touch(a)
    assert monitor.check()['retried'] == 2   # not the one just failed
    bound = check_invariants(engine)
    assert set(bound) == set(ids[1:])
    assert {cast[2]['id'] for cast in notifier.of('deploy')} == set(ids[1:])


def test_agents_dying_together_trip_the_guard_before_the_first_moves(
        database, conf):
    """Killed at once, agents cross agent_down_time up to a report_interval
    apart. When the first is dead the others are late: the guard counts
    them, and nothing moves one by one."""
    engine = database.engine()
    fleet = Fleet(engine)
    agents = [fleet.agent('a%d' % index) for index in range(5)]
    for agent in agents:
        fleet.device('dev-' + agent, [agent])
        fleet.bound(2, 'dev-' + agent, agent)
    monitor, _, clock = _running_monitor(engine, conf)
    before = fleet.bindings()
    fleet.set_agent_beat(agents[:1], DOWN_TIME + 0.2)   # just dead
    fleet.set_agent_beat(agents[1:3], DOWN_TIME - REPORT_INTERVAL + 0.3)
    fleet.touch(*agents[3:])
    outcome = monitor.check()
    assert outcome['moved'] == 0
    assert check_invariants(engine, before) == before
    tripped = monitor.state()['guards']['mass_failure']['tripped']
    assert [(t['dead'], t['total']) for t in tripped] == [(3, 5)]
    # The late ones report again: the one dead agent alone is failed over.
    fleet.touch(*agents[1:3])
    assert monitor.check()['moved'] == 2


def test_moves_waiting_for_a_retry_do_not_starve_the_batch(database, conf):
    """A batch's worth of bindings that cannot move (here: they need a
    haproxy device, and there is none elsewhere) must not hide the others
    from the next checks."""
    conf.set_override('error_retry_interval', 30, 'health')
    conf.set_override('batch_size', 2, 'health')
    engine = database.engine()
    fleet = Fleet(engine)
    a, b = fleet.agent('a'), fleet.agent('b')
    fleet.device('dev-a', [a])
    fleet.device('dev-b', [b])
    with engine.begin() as connection:
        for index, requirements in enumerate(
                ['{"device_type": "haproxy"}'] * 2 + ['{}'] * 2):
            resource_id = 'r%d' % index     # the stuck ones sort first
            connection.execute(sa.insert(models.resources).values(
                id=resource_id, project_id='p', resource_type='vip',
                spec='{"protocol": "TCP", "protocol_port": 80}',
                requirements=requirements, units=1, status='ACTIVE',
                created_at=fleet.now))
            connection.execute(sa.insert(models.bindings).values(
                resource_id=resource_id, device_id='dev-a', agent_id=a,
                generation=1, created_at=fleet.now))
        connection.execute(sa.update(models.devices).where(
            models.devices.c.id == 'dev-a').values(used=4))
    monitor, _, clock = _running_monitor(engine, conf)
    fleet.kill(a)
    outcomes = []
    for _ in range(2):
        outcomes.append(monitor.check())
        _heartbeats(monitor, clock)
    conf.clear_override('batch_size', 'health')
    assert [(o['moved'], o['failed']) for o in outcomes] == [(0, 2), (2, 0)]
    after = check_invariants(engine)
    assert {resource_id: row.device_id for resource_id, row in after.items()
            } == {'r0': 'dev-a', 'r1': 'dev-a', 'r2': 'dev-b',
                  'r3': 'dev-b'}


def test_a_bug_reading_agents_is_not_taken_for_an_outage(database, conf,
                                                         monkeypatch):
    """Issue 12: any exception reading the agents tripped the outage guard,
    so a programming error held failover back silently."""
    _engine, _fleet, _, _clock, monitor, _ = _two_agents(database, conf, 2)

    def broken(connection, *cutoffs):
        raise KeyError('a bug')
    monkeypatch.setattr(failover_db, 'agents_overview', broken)
    with pytest.raises(KeyError):
        monitor.check()
    assert not monitor.state()['guards']['outage']['active']


def _stuck(fleet, status, device=None, agent=None, seconds_ago=600):
    """A resource left in status since seconds_ago, bound if device."""
    resource_id = str(uuid.uuid4())
    since = liveness.utcnow() - datetime.timedelta(seconds=seconds_ago)
    with fleet.engine.begin() as connection:
        connection.execute(sa.insert(models.resources).values(
            id=resource_id, project_id='p', resource_type='vip',
            spec='{"protocol": "TCP", "protocol_port": 80}',
            requirements='{}', units=1, status=status, created_at=since,
            updated_at=since))
        if device is not None:
            connection.execute(sa.insert(models.bindings).values(
                resource_id=resource_id, device_id=device, agent_id=agent,
                generation=1, created_at=since))
            connection.execute(sa.update(models.devices).where(
                models.devices.c.id == device).values(
                used=models.devices.c.used + 1))
    return resource_id


def _resource(engine, resource_id):
    with engine.connect() as connection:
        return connection.execute(sa.select(models.resources).where(
            models.resources.c.id == resource_id)).first()


def test_stuck_pending_resources_are_taken_up_again(database, conf):
    """Issue 13, item 6: nothing stays PENDING_* because a message or a
    server was lost; a fresh PENDING resource and a dead agent's are left
    alone (the agent may still answer; failover moves the dead one's)."""
    conf.set_override('pending_timeout', 60, 'health')
    engine = database.engine()
    fleet = Fleet(engine)
    a, dead = fleet.agent('a'), fleet.agent('dead', az='az2', alive=False)
    fleet.device('dev-a', [a])
    fleet.device('dev-dead', [dead])
    unplaced = _stuck(fleet, constants.STATUS_PENDING_CREATE)
    unanswered = _stuck(fleet, constants.STATUS_PENDING_UPDATE, 'dev-a', a)
    undeploying = _stuck(fleet, constants.STATUS_PENDING_DELETE, 'dev-a', a)
    orphaned = _stuck(fleet, constants.STATUS_PENDING_DELETE, 'dev-dead',
                      dead)
    fresh = _stuck(fleet, constants.STATUS_PENDING_CREATE, 'dev-a', a,
                   seconds_ago=5)
    on_dead = _stuck(fleet, constants.STATUS_PENDING_CREATE, 'dev-dead',
                     dead)
    conf.set_override('failover_policies', {'vip': 'off'}, 'health')
    monitor, notifier, clock = _running_monitor(engine, conf)
    fleet.touch(a)
    assert monitor.check()['retried'] == 4
    bindings = check_invariants(engine)
    assert bindings[unplaced].device_id == 'dev-a'
    assert {cast[2]['id'] for cast in notifier.of('deploy')} == {
        unplaced, unanswered}
    redeployed = [cast[2] for cast in notifier.of('deploy')
                  if cast[2]['id'] == unanswered]
    assert redeployed[0]['generation'] == 1   # the same deploy, again
    assert [cast[2]['id'] for cast in notifier.of('undeploy')] == \
        [undeploying]
    assert _resource(engine, orphaned) is None
    assert orphaned not in bindings
    assert 'retried' in _resource(engine, unanswered).status_description
    assert _resource(engine, fresh).status_description is None
    assert _resource(engine, on_dead).status_description is None
    # Taken up once per pending_timeout, not at every check.
    notifier.casts.clear()
    assert monitor.check()['retried'] == 0
    assert notifier.casts == []
    conf.clear_override('pending_timeout', 'health')


def test_failover_log_names_each_device_by_name_and_id(database, conf,
                                                       caplog):
    """The move's log line once gave the old device's id and the new one's
    name; an admin reads both the same way now (issue 14)."""
    engine, fleet, ids, clock, monitor, notifier = _two_agents(
        database, conf, 1)
    with engine.begin() as connection:
        connection.execute(sa.update(models.devices).values(
            name='name-of-' + models.devices.c.id))
    fleet.kill('a')
    with caplog.at_level(logging.INFO, logger=failover_service.__name__):
        assert monitor.check()['moved'] == 1
    moved = [r.getMessage() for r in caplog.records if 'moved from' in
             r.getMessage()]
    assert len(moved) == 1, moved
    assert 'from device name-of-dev-a (dev-a) to device name-of-dev-b ' \
           '(dev-b) of agent b' in moved[0]


def test_a_long_status_description_is_cut_at_a_word_with_an_ellipsis(
        database, conf):
    """haproxy's alerts run past the 255-char column; the cut once fell
    mid-word ('... for [10.0.0.10:80] [A'), issue 14."""
    engine = database.engine()
    fleet = Fleet(engine)
    fleet.device('dev-a', [fleet.agent('a')])
    [resource_id] = fleet.bound(1, 'dev-a', 'a')
    alert = ('[ALERT] (1234) : Starting proxy vip-%d: cannot bind socket '
             '(Address already in use) for [10.0.0.10:80]')
    text = 'haproxy start failed (exit 1): ' + ' '.join(
        alert % n for n in range(4))
    assert len(text) > constants.MAX_STRING_LENGTH
    with engine.begin() as connection:
        resources_db.set_status(connection, [resource_id],
                                constants.STATUS_ERROR, text,
                                liveness.utcnow())
    with engine.connect() as connection:
        stored = connection.execute(
            sa.select(models.resources.c.status_description)).scalar()
    assert len(stored) <= constants.MAX_STRING_LENGTH
    assert stored.endswith('...')
    kept = stored[:-len('...')]
    # A whole-word prefix of the text: what follows the cut is a space.
    assert text.startswith(kept) and text[len(kept)] == ' ', stored


def _statuses(engine):
    with engine.connect() as connection:
        return {row.id: row.status for row in connection.execute(
            sa.select(models.resources.c.id, models.resources.c.status))}


def _fleet_for(engine, how):
    """Agent a's resource, and what its failover will do: rebind to b
    (their shared device), move to b's device, or fail (no room there)."""
    fleet = Fleet(engine)
    a, b = fleet.agent('a'), fleet.agent('b')
    if how == 'rebind':
        fleet.device('dev-a', [a, b])
    else:
        fleet.device('dev-a', [a])
        fleet.device('dev-b', [b], capacity=0 if how == 'no room' else 200)
    return fleet, fleet.bound(1, 'dev-a', a)


def _left_to_its_delete(engine, before, notifier, resource_id):
    """Still PENDING_DELETE, bound where it was, nothing deployed."""
    assert _statuses(engine) == {
        resource_id: constants.STATUS_PENDING_DELETE}
    after = check_invariants(engine, before)
    assert (after[resource_id].agent_id, after[resource_id].device_id,
            after[resource_id].generation) == ('a', 'dev-a', 1)
    assert notifier.of('deploy') == []


@pytest.mark.parametrize('how', ['rebind', 'move', 'no room'])
def test_a_delete_after_the_failover_read_its_work_stands(database, conf,
                                                          how):
    # The check reads its work (the resource ACTIVE on dead agent a), then
    # an admin's delete commits (PENDING_DELETE, undeploy sent) before the
    # failover writes: the delete stands, nothing is rebound, moved or
    # deployed, and the status is not overwritten (PENDING_UPDATE, ERROR).
    engine = database.engine()
    fleet, [resource_id] = _fleet_for(engine, how)
    monitor, notifier, clock = _running_monitor(engine, conf)
    failover = monitor._failover
    read = failover.work

    def read_then_delete(*args, **kwargs):
        work = read(*args, **kwargs)
        assert [item.resource_id for item in work] == [resource_id]
        with engine.begin() as connection:
            resources_db.set_status(connection, [resource_id],
                                    constants.STATUS_PENDING_DELETE, None,
                                    liveness.utcnow())
        return work

    failover.work = read_then_delete
    before = fleet.bindings()
    fleet.kill('a')
    placements = _placements()
    outcome = monitor.check()
    assert outcome['rebound'] == outcome['moved'] == outcome['failed'] == 0
    _left_to_its_delete(engine, before, notifier, resource_id)
    # A move given up is counted as such, not as an error of placement.
    assert _placements() - placements == {
        'rebind': collections.Counter(),
        'move': collections.Counter(skipped=1),
        'no room': collections.Counter(no_valid_candidate=1)}[how]


def _placements():
    """agentsched_placements_total by outcome, as a scrape reads it."""
    counted = collections.Counter()
    for metric in prometheus_client.REGISTRY.collect():
        for sample in metric.samples:
            if sample.name == 'agentsched_placements_total':
                counted[sample.labels['outcome']] += sample.value
    return counted


@pytest.mark.parametrize('how', ['rebind', 'move'])
def test_a_failover_waits_for_a_delete_in_flight(server_database, conf,
                                                 how):
    # The delete's transaction holds the resource's row (PENDING_DELETE,
    # not committed) when the failover writes: the failover waits for it,
    # then finds the resource being deleted and leaves it to its delete.
    engine = server_database.engine()
    fleet, [resource_id] = _fleet_for(engine, how)
    monitor, notifier, clock = _running_monitor(engine, conf)
    before = fleet.bindings()
    fleet.kill('a')
    outcomes = []
    with engine.connect() as delete:
        with delete.begin():
            resources_db.set_status(delete, [resource_id],
                                    constants.STATUS_PENDING_DELETE, None,
                                    liveness.utcnow())
            check = threading.Thread(
                target=lambda: outcomes.append(monitor.check()))
            check.start()
            lock_waits.wait_for_a_lock_wait(engine)
    check.join(20)
    [outcome] = outcomes
    assert outcome['rebound'] == outcome['moved'] == 0
    _left_to_its_delete(engine, before, notifier, resource_id)


def test_a_binding_changed_under_a_move_on_sqlite_undoes_it(tmp_path,
                                                            conf,
                                                            monkeypatch):
    # SQLite has no row locks: the move's read of the binding holds
    # nothing, and an admin's unbind can commit before the move's claim.
    # The move is undone, its claim with it (the old device was once
    # released twice and the new one claimed for nothing).
    database = conftest.make_database('sqlite', tmp_path)
    engine = database.engine()
    fleet, [resource_id] = _fleet_for(engine, 'move')
    monitor, notifier, clock = _running_monitor(engine, conf)
    claim = placement_db.claim

    def unbound_then_claim(connection, *args, **kwargs):
        monkeypatch.setattr(placement_db, 'claim', claim)
        with engine.begin() as other:
            other.execute(sa.delete(models.bindings))
            other.execute(sa.update(models.devices).values(used=0))
        return claim(connection, *args, **kwargs)

    monkeypatch.setattr(placement_db, 'claim', unbound_then_claim)
    fleet.kill('a')
    assert monitor.check()['moved'] == 0
    assert check_invariants(engine) == {}
    with engine.connect() as connection:
        used = dict(connection.execute(sa.select(
            models.devices.c.id, models.devices.c.used)).all())
    assert used == {'dev-a': 0, 'dev-b': 0}
    assert _statuses(engine) == {resource_id: constants.STATUS_ACTIVE}
    assert notifier.of('deploy') == []
    database.close()
