"""Placement under concurrency, on PostgreSQL and MariaDB (and SQLite).

Several schedulers (threads, each with its own snapshot like separate
servers, and separate processes) place at once: no device is ever
overcommitted and no resource is ever bound twice.
"""

import datetime
import multiprocessing
import threading
import time
import uuid

import pytest
import sqlalchemy as sa

from agentsched import algorithms
from agentsched import liveness
from agentsched.db import models
from agentsched.db import placement as placement_db
from agentsched.services import placement

CAPACITY = 5


def _setup(engine, agents=3, devices_per_agent=2, capacity=CAPACITY,
           dead=()):
    now = liveness.utcnow()
    with engine.begin() as connection:
        for a in range(agents):
            agent_id = 'agent-%d' % a
            beat = now - datetime.timedelta(seconds=600 if a in dead else 0)
            connection.execute(sa.insert(models.agents).values(
                id=agent_id, agent_type='Loadbalancer agent',
                binary='agentsched-agent', topic='t', host='h%d' % a,
                availability_zone='nova', admin_state_up=True,
                created_at=now, started_at=now, heartbeat_timestamp=beat,
                configurations='{}', load=0))
            for d in range(devices_per_agent):
                device_id = 'dev-%d-%d' % (a, d)
                connection.execute(sa.insert(models.devices).values(
                    id=device_id, name=device_id, device_type='haproxy',
                    service_type='LOADBALANCER', capabilities='{}',
                    capacity=capacity, used=0, physical_info='{}',
                    health='OK', source='admin', created_at=now))
                connection.execute(sa.insert(models.agent_devices).values(
                    agent_id=agent_id, device_id=device_id, missing=False,
                    health='OK'))


def _resources(engine, count):
    now = liveness.utcnow()
    ids = [str(uuid.uuid4()) for _ in range(count)]
    with engine.begin() as connection:
        connection.execute(sa.insert(models.resources), [dict(
            id=resource_id, project_id='p', resource_type='vip', spec='{}',
            requirements='{}', units=1, status='PENDING_CREATE',
            created_at=now) for resource_id in ids])
    return ids


def _request():
    return algorithms.PlacementRequest('vip', 'LOADBALANCER', 1,
                                       {'device_type': 'haproxy'})


def _check_invariants(engine):
    with engine.connect() as connection:
        devices = {row.id: row for row in connection.execute(
            sa.select(models.devices))}
        bound = dict(connection.execute(
            sa.select(models.bindings.c.device_id, sa.func.count())
            .group_by(models.bindings.c.device_id)).all())
        per_resource = connection.execute(
            sa.select(models.bindings.c.resource_id, sa.func.count())
            .group_by(models.bindings.c.resource_id)
            .having(sa.func.count() > 1)).all()
    assert per_resource == []  # never bound twice
    for device_id, device in devices.items():
        assert device.used <= device.capacity  # never overcommitted
        assert device.used == bound.get(device_id, 0)
    return sum(bound.values())


def _placer(parsed_conf, engine):
    return placement.Placer(engine, parsed_conf, placement.Snapshot(
        engine, 30, max_age=60))  # stale on purpose: the claim decides


def _place_all(placer, ids, outcomes):
    for resource_id in ids:
        try:
            placer.place(resource_id, _request())
            outcomes.append('placed')
        except algorithms.NoValidCandidate as exc:
            outcomes.append('full: %s' % exc)
        except placement.AlreadyBound:
            outcomes.append('bound')


@pytest.mark.parametrize('threads', [4])
def test_concurrent_schedulers_never_overcommit(server_database, parsed_conf,
                                                threads):
    engine = server_database.engine()
    _setup(engine)
    total_capacity = 3 * 2 * CAPACITY
    ids = _resources(engine, total_capacity + 6)
    outcomes = []
    # Every scheduler tries every resource: each resource is contended by
    # all of them, and the fleet holds fewer slots than resources.
    workers = [threading.Thread(target=_place_all, args=(
        _placer(parsed_conf, server_database.engine(migrated=False)),
        ids, outcomes)) for _ in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    placed = _check_invariants(engine)
    assert placed == total_capacity
    assert outcomes.count('placed') == total_capacity
    assert any(o.startswith('full') for o in outcomes)


def _process_main(url, ids, results):
    from agentsched import conf as agentsched_conf
    from agentsched.db import engine as db_engine
    agentsched_conf.parse_args([], default_config_files=[])
    engine = db_engine.create_engine(agentsched_conf.CONF, url=url)
    outcomes = []
    _place_all(placement.Placer(engine, agentsched_conf.CONF,
                                placement.Snapshot(engine, 30, 60)),
               ids, outcomes)
    results.put(outcomes)


def test_two_processes_never_overcommit(server_database):
    engine = server_database.engine()
    _setup(engine, agents=2, devices_per_agent=2)
    ids = _resources(engine, 2 * 2 * CAPACITY + 4)
    context = multiprocessing.get_context('spawn')
    results = context.Queue()
    processes = [context.Process(target=_process_main, args=(
        server_database.url, ids, results)) for _ in range(2)]
    for process in processes:
        process.start()
    outcomes = sum((results.get(timeout=120) for _ in processes), [])
    for process in processes:
        process.join()
    assert _check_invariants(engine) == 2 * 2 * CAPACITY
    assert outcomes.count('placed') == 2 * 2 * CAPACITY


def test_dead_agents_and_stale_snapshots(database, parsed_conf):
    engine = database.engine()
    _setup(engine, agents=2, devices_per_agent=1, dead=(1,))
    placer = _placer(parsed_conf, engine)
    ids = _resources(engine, CAPACITY + 1)
    chosen = {placer.place(resource_id, _request()).agent_id
              for resource_id in ids[:CAPACITY]}
    assert chosen == {'agent-0'}  # agent-1 is dead
    with pytest.raises(algorithms.NoValidCandidate) as info:
        placer.place(ids[-1], _request())
    assert 'dead or admin-down' in str(info.value)
    # The snapshot believes agent-1 is dead; revive it and make agent-0's
    # device full in the database behind the snapshot's back: the claim,
    # not the snapshot, decides.
    with engine.begin() as connection:
        connection.execute(sa.update(models.agents).values(
            heartbeat_timestamp=liveness.utcnow()))
    placer._snapshot.invalidate()
    assert placer.place(ids[-1], _request()).agent_id == 'agent-1'
    assert _check_invariants(engine) == CAPACITY + 1


def test_warm_loads_what_the_first_placement_would(database, parsed_conf,
                                                  caplog):
    engine = database.engine()
    _setup(engine, agents=2, devices_per_agent=1)
    placer = _placer(parsed_conf, engine)
    reads = []
    read = placer._snapshot._read

    def counted():
        reads.append(threading.current_thread().name)
        return read()
    placer._snapshot._read = counted
    placer.warm(['vip', 'vpn_connection'])
    assert sorted(placer._algorithms) == ['vip', 'vpn_connection']
    deadline = time.monotonic() + 10
    while placer._snapshot.loads == 0:
        assert time.monotonic() < deadline, 'the snapshot was never read'
        time.sleep(0.01)
    assert reads == ['placement-snapshot']
    deadline = time.monotonic() + 10
    while 'Placement snapshot read: 2 candidates' not in caplog.text:
        assert time.monotonic() < deadline, caplog.text
        time.sleep(0.01)
    # The first placement places on it, reading nothing more.
    placer.place(_resources(engine, 1)[0], _request())
    assert reads == ['placement-snapshot']


def test_a_resource_is_bound_once(database, parsed_conf):
    engine = database.engine()
    _setup(engine, agents=1, devices_per_agent=2)
    placer = _placer(parsed_conf, engine)
    resource_id = _resources(engine, 1)[0]
    placer.place(resource_id, _request())
    with pytest.raises(placement.AlreadyBound):
        placer.place(resource_id, _request())
    assert _check_invariants(engine) == 1


def _own(engine, device_id, project_id):
    with engine.begin() as connection:
        connection.execute(sa.update(models.devices).where(
            models.devices.c.id == device_id).values(project_id=project_id))


def _owned_request(project_id, **requirements):
    return algorithms.PlacementRequest(
        'vip', 'LOADBALANCER', 1, dict(requirements, device_type='haproxy'),
        project_id=project_id)


def test_private_devices_take_their_projects_resources_only(database,
                                                            parsed_conf):
    """Whatever the filters configured: a project's private device is no
    other project's candidate, nor a resource's without a project; the
    claim refuses it too, were a candidate ever to name it."""
    engine = database.engine()
    _setup(engine, agents=2, devices_per_agent=1)
    _own(engine, 'dev-0-0', 'pa')
    parsed_conf.set_override('enabled_filters', [], 'scheduler')
    try:
        placer = _placer(parsed_conf, engine)
        ids = _resources(engine, 3 * CAPACITY)
        placed = [placer.place(resource_id, _owned_request(project)).device_id
                  for resource_id, project in zip(ids, ['pb', None, 'pa'])]
    finally:
        parsed_conf.clear_override('enabled_filters', 'scheduler')
    assert placed == ['dev-1-0', 'dev-1-0', 'dev-0-0']
    now = liveness.utcnow()
    alive_since = liveness.alive_since(30)
    with engine.begin() as connection:
        for project in ('pb', None):
            assert not placement_db.claim(connection, 'dev-0-0', 'agent-0',
                                          1, alive_since, project)
            assert not placement_db.claim_and_bind(
                connection, ids[3], 'dev-0-0', 'agent-0', 1, alive_since,
                now, project)
        assert placement_db.claim(connection, 'dev-0-0', 'agent-0', 1,
                                  alive_since, 'pa')
        assert placement_db.claim(connection, 'dev-1-0', 'agent-1', 1,
                                  alive_since, 'pb')


def test_private_true_false_or_absent(database, parsed_conf):
    engine = database.engine()
    _setup(engine, agents=2, devices_per_agent=1, capacity=1)
    _own(engine, 'dev-0-0', 'pa')
    placer = _placer(parsed_conf, engine)
    ids = _resources(engine, 6)
    assert placer.place(ids[0], _owned_request(
        'pa', private=False)).device_id == 'dev-1-0'
    with pytest.raises(algorithms.NoValidCandidate) as info:
        placer.place(ids[1], _owned_request('pb', private=True))
    assert str(info.value) == ('no valid candidate for vip: no agent '
                               'reaches a private LOADBALANCER device of '
                               'project pb')
    assert placer.place(ids[2], _owned_request('pa')).device_id == 'dev-0-0'
    with pytest.raises(algorithms.NoValidCandidate) as info:
        placer.place(ids[3], _owned_request('pa'))
    assert str(info.value) == (
        'no valid candidate for vip among 1 on private devices of project '
        'pa: 1 without 1 free unit; no valid candidate for vip among 1: 1 '
        'without 1 free unit')
    with pytest.raises(algorithms.InvalidRequest):
        _owned_request('pa', private='yes')
    assert 'private' not in _owned_request('pa', private=None).requirements
    assert _check_invariants(engine) == 2


def test_a_refusal_after_lost_claims_says_what_is_missing(database,
                                                          parsed_conf):
    """The snapshot said free, the database says full: the claim is lost,
    and the refusal judged on the fresh snapshot names the capacity (it
    named nothing: 'among 1: ')."""
    engine = database.engine()
    _setup(engine, agents=1, devices_per_agent=1, capacity=1)
    placer = _placer(parsed_conf, engine)
    placer._snapshot.candidates('LOADBALANCER')
    with engine.begin() as connection:
        connection.execute(sa.update(models.devices).values(used=1))
    with pytest.raises(algorithms.NoValidCandidate) as info:
        placer.place(_resources(engine, 1)[0], _request())
    assert str(info.value) == ('no valid candidate for vip among 1: 1 '
                               'without 1 free unit')


class _LateReload(placement.Snapshot):
    """A background reload read before the request, installed during it."""

    stale = None

    def _late(self):
        if self.stale is not None:
            with self._lock:
                self._install(*self.stale)
            self.stale = None

    def candidates(self, *args, **kwargs):
        self._late()
        return super().candidates(*args, **kwargs)

    def pools(self, *args):
        self._late()
        return super().pools(*args)


def test_nothing_fits_only_on_a_snapshot_read_after_the_request(
        database, parsed_conf):
    """A refusal is trusted only from a snapshot whose read began after the
    request did: a reload read before it (the agent still admin-down) and
    installed meanwhile is judged again on a fresh one."""
    engine = database.engine()
    _setup(engine, agents=1, devices_per_agent=1)
    with engine.begin() as connection:
        connection.execute(sa.update(models.agents).values(
            admin_state_up=False))
    snapshot = _LateReload(engine, 30, max_age=60)
    snapshot.candidates('LOADBALANCER')
    snapshot.stale = snapshot._read()
    with engine.begin() as connection:
        connection.execute(sa.update(models.agents).values(
            admin_state_up=True))
    placer = placement.Placer(engine, parsed_conf, snapshot)
    assert placer.place(_resources(engine, 1)[0], _request()).agent_id == \
        'agent-0'


def test_a_refusal_on_the_read_at_start_is_judged_again(
        database, parsed_conf, monkeypatch):
    """The read made as the server started may find every agent dead
    (their heartbeats stale after the servers were away): the first
    refusal reads again, however long reads take."""
    monkeypatch.setattr(placement, 'CHEAP_READ', 0.0)
    monkeypatch.setattr(placement, 'READ_SHARE', 10 ** 6)
    engine = database.engine()
    _setup(engine, agents=1, devices_per_agent=1, dead=(0,))
    placer = _placer(parsed_conf, engine)
    placer.warm(['vip'])
    deadline = time.monotonic() + 10
    while placer._snapshot.loads == 0:
        assert time.monotonic() < deadline, 'the snapshot was never read'
        time.sleep(0.01)
    with engine.begin() as connection:   # the agent reports again
        connection.execute(sa.update(models.agents).values(
            heartbeat_timestamp=liveness.utcnow()))
    assert placer.place(_resources(engine, 1)[0], _request()).agent_id == \
        'agent-0'
    assert placer._snapshot.loads == 2


def _fleet(engine, agents, devices_per_agent=4):
    """agents x devices_per_agent devices, each listed by its agent, in
    three statements (uuid ids, as the server makes them)."""
    now = liveness.utcnow()
    agent_ids = [str(uuid.uuid4()) for _ in range(agents)]
    links = [(agent_id, str(uuid.uuid4())) for agent_id in agent_ids
             for _ in range(devices_per_agent)]
    with engine.begin() as connection:
        connection.execute(sa.insert(models.agents), [dict(
            id=agent_id, agent_type='Loadbalancer agent',
            binary='agentsched-agent', topic='t', host='h-%06d' % a,
            availability_zone='nova', admin_state_up=True, created_at=now,
            started_at=now, heartbeat_timestamp=now, configurations='{}',
            load=0) for a, agent_id in enumerate(agent_ids)])
        connection.execute(sa.insert(models.devices), [dict(
            id=device_id, name='lb-%06d' % d, device_type='haproxy',
            service_type='LOADBALANCER', capabilities='{}',
            capacity=CAPACITY, used=0, physical_info='{}', health='OK',
            source='admin', created_at=now)
            for d, (_, device_id) in enumerate(links)])
        connection.execute(sa.insert(models.agent_devices), [dict(
            agent_id=agent_id, device_id=device_id, missing=False,
            health='OK') for agent_id, device_id in links])
    return links


def test_the_snapshot_is_read_in_batches(database, monkeypatch):
    """candidate_batches reads the pairs in batches (a server-side cursor
    where there is one), a device's pairs one after the other; the
    snapshot keeps each device once, and our claim counts in each of its
    pairs."""
    monkeypatch.setattr(placement_db, 'CANDIDATE_BATCH', 2)
    engine = database.engine()
    _setup(engine, agents=2, devices_per_agent=2)
    with engine.begin() as connection:   # agent-0 reaches dev-1-0 too
        connection.execute(sa.insert(models.agent_devices).values(
            agent_id='agent-0', device_id='dev-1-0', missing=False,
            health='OK'))
    with engine.connect() as connection:
        batches = list(placement_db.candidate_batches(
            connection, liveness.alive_since(30)))
    assert [len(rows) for rows in batches] == [2, 2, 1]
    assert [row[7] for rows in batches for row in rows] == [
        'dev-0-0', 'dev-0-1', 'dev-1-0', 'dev-1-0', 'dev-1-1']
    snapshot = placement.Snapshot(engine, 30, 60)
    pool = snapshot.candidates('LOADBALANCER')
    assert snapshot._columns.device_ids == (
        'dev-0-0', 'dev-0-1', 'dev-1-0', 'dev-1-1')
    assert sorted((c.agent_id, c.device_id) for c in pool) == [
        ('agent-0', 'dev-0-0'), ('agent-0', 'dev-0-1'),
        ('agent-0', 'dev-1-0'), ('agent-1', 'dev-1-0'),
        ('agent-1', 'dev-1-1')]
    snapshot.claimed('dev-1-0', 2)
    assert [c.used for c in pool if c.device_id == 'dev-1-0'] == [2, 2]


def test_a_move_excludes_on_the_sample_only(database, parsed_conf):
    """A failover's move (candidates_filter: not its device) costs no pass
    over every candidate: the filter is asked of the algorithm's sample
    (it was asked of every candidate, copied before the sample: 25-30 ms
    a move at 400,000)."""
    engine = database.engine()
    links = _fleet(engine, 100)   # 400 candidates, a sample of 256
    placer = _placer(parsed_conf, engine)
    avoided = links[0][1]
    asked = []

    def elsewhere(candidate):
        asked.append(candidate.device_id)
        return candidate.device_id != avoided
    for resource_id in _resources(engine, 5):
        assert placer.place(resource_id, _request(),
                            elsewhere).device_id != avoided
    assert len(asked) == 5 * parsed_conf.scheduler.sample_size


def test_the_snapshot_holds_columns_not_a_tuple_per_pair(tmp_path):
    """At 20,000 pairs the snapshot takes well under 400 bytes a pair (a
    Candidate per pair and the positions of each took 1,700: +675 MB at
    400,000 pairs)."""
    import tracemalloc
    from tests import conftest
    database = conftest.make_database('sqlite', tmp_path)
    engine = database.engine()
    _fleet(engine, 5000)
    snapshot = placement.Snapshot(engine, 30, 60)
    with engine.connect():
        pass
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        loaded = snapshot._read()
        size = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    with snapshot._lock:
        snapshot._install(*loaded)
    assert len(snapshot.candidates('LOADBALANCER')) == 20000
    assert size / 20000 < 400
