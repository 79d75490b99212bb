"""Devices scheduled to manager agents (issue 15) on SQLite, PostgreSQL and
MariaDB: assignment when an admin registers a device without agents, the
health monitor's reassignment when a manager dies (guarded and paced like
failover, before it, so resources are rebound, not moved), pins kept, the
managers' reports, the agents' device lists in the API.

Managers register through the real heartbeat sink and device sync (their
[agent] remote_device_types in their reports); the API is the real WSGI
app; the monitor runs its checks by hand with a clock the test moves.
Casts to agents are recorded.
"""

import datetime
import logging

import pytest
import sqlalchemy as sa

from agentsched import constants
from agentsched import liveness
from agentsched.db import models
from agentsched.health import leader
from agentsched.health import monitor as health_monitor
from agentsched.reports import device_sync
from agentsched.algorithms import device_assigners
from agentsched.db import assignment as assignment_db
from agentsched.reports import sink as reports_sink
from agentsched.services import agent_sync
from agentsched.services import device_assignment
from tests import api_fixtures
from tests import report_factory

DOWN_TIME = 3
REPORT_INTERVAL = 1
LB = constants.SERVICE_LOADBALANCER
VIP = {'name': 'web', 'address': '198.51.100.7', 'protocol': 'HTTP',
       'protocol_port': 80,
       'members': [{'address': '10.0.0.5', 'protocol_port': 8080}]}


class Clock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now


class Notifier(api_fixtures.RecordingNotifier):
    """Records casts; a devices_updated is checked to come after the commit:
    another connection must already see the agent's links."""

    def __init__(self, engine):
        super().__init__()
        self._engine = engine
        self.seen_links = []

    def devices_updated(self, agent):
        with self._engine.connect() as connection:
            self.seen_links.append((agent.host, connection.execute(
                sa.select(sa.func.count()).select_from(
                    models.agent_devices.join(models.agents))
                .where(models.agents.c.host == agent.host)).scalar()))
        super().devices_updated(agent)

    def told(self):
        """Hosts told devices_updated since the last call."""
        hosts = [host for host, what in self.calls
                 if what == 'devices_updated']
        self.calls.clear()
        return sorted(hosts)


class Cloud:
    """The server's services and API over one database, managers reporting
    through the heartbeat sink, a monitor with a test clock."""

    def __init__(self, conf, engine):
        self.conf, self.engine = conf, engine
        self.notifier = Notifier(engine)
        self.services = api_fixtures.services(conf, engine, self.notifier)
        self.client = api_fixtures.client(conf, engine,
                                          built=self.services)
        self.sync = device_sync.DeviceSync()
        self.sink = reports_sink.HeartbeatSink(engine, DOWN_TIME, 0.1,
                                               device_sync=self.sync)
        self.clock = Clock()
        self.monitor = health_monitor.HealthMonitor(
            engine, conf, self.services.failover, leader.AlwaysLeader(),
            clock=self.clock, assignment=self.services.assignment)
        self.ids = {}

    # -- agents --------------------------------------------------------------

    def report(self, host, remote_device_types=('noop',), devices=(),
               agent_type=constants.AGENT_TYPE_LOADBALANCER, zone='nova'):
        """One heartbeat of an agent, written at once."""
        configurations = {'devices': list(devices)}
        if remote_device_types:
            configurations['remote_device_types'] = list(
                remote_device_types)
        self.sink.record(report_factory.report(
            host, agent_type=agent_type, availability_zone=zone,
            configurations=configurations))
        self.sink.flush()
        with self.engine.connect() as connection:
            self.ids[host] = connection.execute(
                sa.select(models.agents.c.id).where(
                    models.agents.c.host == host,
                    models.agents.c.agent_type == agent_type)).scalar()
        return self.ids[host]

    def set_agent(self, host, **values):
        with self.engine.begin() as connection:
            connection.execute(sa.update(models.agents).where(
                models.agents.c.id == self.ids[host]).values(**values))

    def kill(self, *hosts):
        for host in hosts:
            self.set_agent(host, heartbeat_timestamp=liveness.utcnow() -
                           datetime.timedelta(seconds=600))

    def beat(self, *hosts):
        """The live agents heard just now (the outage guard watches)."""
        for host in hosts:
            self.set_agent(host, heartbeat_timestamp=liveness.utcnow())

    # -- devices -------------------------------------------------------------

    def create(self, name, device_type='noop', **fields):
        response = self.client.post('/v2.0/devices', json={'device': dict(
            name=name, device_type=device_type, capacity=10, **fields)})
        assert response.status_code == 201, response.get_data(as_text=True)
        return response.json['device']

    def links(self, device_id):
        """{host: 'assigned' or 'pinned'} of a device's agents, per the
        API."""
        response = self.client.get('/v2.0/devices/%s/agents' % device_id)
        assert response.status_code == 200
        return {agent['host']: agent['assignment']
                for agent in response.json['agents']}

    def agent_devices(self, host):
        response = self.client.get('/v2.0/agents/%s/devices' %
                                   self.ids[host])
        assert response.status_code == 200, response.get_data(as_text=True)
        return {device['name']: device['assignment']
                for device in response.json['devices']}

    def health(self, device_id):
        return self.client.get('/v2.0/devices/%s' % device_id).json[
            'device']['health']

    # -- the monitor ---------------------------------------------------------

    def past_grace(self):
        """First check (leader: the grace starts), then past the grace."""
        self.monitor.check()
        self.clock.now += DOWN_TIME + REPORT_INTERVAL + 1

    def check(self, *live):
        """One check, the live agents heard just now and the intake
        alive."""
        self.beat(*live)
        self.monitor._report_stats = type(
            'Stats', (), {'last_accepted': self.clock.now})
        return self.monitor.check()


@pytest.fixture
def cloud(parsed_conf, database):
    overrides = {('agent_down_time', None): DOWN_TIME,
                 ('report_interval', 'agent'): REPORT_INTERVAL,
                 ('error_retry_interval', 'health'): 0,
                 ('move_rate', 'health'): 1000.0,
                 ('move_burst', 'health'): 1000,
                 ('snapshot_max_age', 'scheduler'): 0,
                 ('auth_strategy', None): 'noauth'}
    for (name, group), value in overrides.items():
        parsed_conf.set_override(name, value, group)
    yield Cloud(parsed_conf, database.engine())
    for name, group in overrides:
        parsed_conf.clear_override(name, group)
    parsed_conf.clear_override('agents_per_device', 'scheduler')


def _devices_outcome(outcome):
    return {key: outcome['devices'][key]
            for key in ('devices', 'assigned', 'unassigned', 'short',
                        'deferred')}


# -- assignment when an admin registers a device ---------------------------

def test_a_device_registered_without_agents_goes_to_the_least_loaded_managers(
        cloud):
    for host in ('m1', 'm2', 'm3'):
        cloud.report(host)
    cloud.report('m4-other-cloud', zone='cloud-b')
    # Not managers of noop devices, or not able to manage now.
    cloud.report('plain', remote_device_types=())
    cloud.report('ssh-only', remote_device_types=('haproxy_ssh',))
    cloud.report('vpn', agent_type=constants.AGENT_TYPE_VPN)
    for host in ('dead', 'off', 'forced'):
        cloud.report(host)
    cloud.kill('dead')
    cloud.set_agent('off', admin_state_up=False)
    cloud.set_agent('forced', forced_down=True)
    # m1 manages two devices already (an admin's pins, of a type nobody
    # manages remotely).
    for name in ('pinned-1', 'pinned-2'):
        response = cloud.client.post(
            '/v2.0/agents/%s/devices' % cloud.ids['m1'],
            json={'device': {'name': name, 'device_type': 'strongswan',
                             'physical_info': {'address': '192.0.2.9'}}})
        assert response.status_code == 201
    cloud.notifier.told()
    # A device in a zone goes to that zone's managers only.
    lb_z = cloud.create('lb-z', availability_zone='cloud-b')
    assert cloud.links(lb_z['id']) == {'m4-other-cloud': 'assigned'}
    cloud.notifier.told()

    lb_a = cloud.create('lb-a')
    # Two (agents_per_device), the fewest devices first, ties by host;
    # told after the commit: their links were visible when told.
    assert cloud.links(lb_a['id']) == {'m2': 'assigned', 'm3': 'assigned'}
    assert cloud.notifier.told() == ['m2', 'm3']
    assert ('m2', 1) in cloud.notifier.seen_links
    assert cloud.agent_devices('m2') == {'lb-a': 'assigned'}
    assert cloud.agent_devices('m1') == {'pinned-1': 'pinned',
                                         'pinned-2': 'pinned'}
    # Nobody reported it yet: UNKNOWN, so nothing is placed on it.
    assert lb_a['health'] == constants.HEALTH_UNKNOWN

    # Each assignment counts for the next device.
    lb_b = cloud.create('lb-b')
    assert cloud.links(lb_b['id']) == {'m2': 'assigned', 'm3': 'assigned'}
    lb_c = cloud.create('lb-c')
    assert cloud.links(lb_c['id']) == {'m1': 'assigned',
                                       'm4-other-cloud': 'assigned'}
    # ?fields= knows the new field on an agent's list, not elsewhere.
    assert cloud.client.get('/v2.0/agents/%s/devices?fields=assignment' %
                            cloud.ids['m2']).json['devices'] == [
        {'assignment': 'assigned'}] * 2
    assert cloud.client.get(
        '/v2.0/devices?fields=assignment').status_code == 400


def test_with_fewer_managers_a_device_gets_what_there_is_then_more(
        cloud, caplog):
    cloud.conf.set_override('agents_per_device', 3, 'scheduler')
    cloud.report('m1')
    caplog.set_level(logging.WARNING)
    lb_a = cloud.create('lb-a')
    assert cloud.links(lb_a['id']) == {'m1': 'assigned'}
    assert 'managed by 1 of 3 agents' in caplog.text
    # No manager of a type at all: unassigned, UNKNOWN, unplaceable.
    gw = cloud.create('gw-1', device_type='strongswan',
                      physical_info={'address': '192.0.2.20'})
    assert cloud.links(gw['id']) == {}
    assert cloud.health(gw['id']) == constants.HEALTH_UNKNOWN
    # A device an agent reported is its own: never assigned.
    cloud.report('plain', remote_device_types=(), devices=[{
        'name': 'plain-noop', 'device_type': 'noop', 'service_type': LB,
        'health': 'OK'}])
    cloud.services.agents.delete(cloud.ids['plain'])   # links go with it
    cloud.past_grace()

    # Managers appear: the monitor assigns, each check, what is short.
    cloud.report('m2')
    cloud.report('v1', remote_device_types=('strongswan',),
                 agent_type=constants.AGENT_TYPE_VPN)
    cloud.notifier.told()
    outcome = cloud.check('m1', 'm2', 'v1')
    assert _devices_outcome(outcome) == {
        'devices': 2, 'assigned': 2, 'unassigned': 0, 'short': 2,
        'deferred': 0}
    assert cloud.links(lb_a['id']) == {'m1': 'assigned', 'm2': 'assigned'}
    assert cloud.links(gw['id']) == {'v1': 'assigned'}
    assert cloud.notifier.told() == ['m2', 'v1']
    with cloud.engine.connect() as connection:
        plain = connection.execute(sa.select(models.devices.c.id).where(
            models.devices.c.name == 'plain-noop')).scalar()
    assert cloud.links(plain) == {}
    # Still short, but nobody else to take them: nothing more to do.
    assert cloud.check('m1', 'm2', 'v1')['devices']['devices'] == 0
    assert cloud.monitor.totals['devices_reassigned'] == 2


# -- managers report what they were assigned -------------------------------

def _said(name, device_type='noop', service_type=LB, health='OK'):
    """A device as a manager's heartbeat describes it: no address."""
    return {'name': name, 'device_type': device_type,
            'service_type': service_type, 'health': health, 'load': 0}


def test_a_manager_reports_the_health_of_what_it_was_assigned(cloud):
    v1 = cloud.report('v1', remote_device_types=('strongswan',),
                      agent_type=constants.AGENT_TYPE_VPN)
    with cloud.engine.connect() as connection:
        assert connection.execute(sa.select(
            models.manager_device_types.c.device_type).where(
            models.manager_device_types.c.agent_id == v1)).scalars().all() \
            == ['strongswan']
    gw = cloud.create('gw-1', device_type='strongswan',
                      service_type=constants.SERVICE_VPN,
                      physical_info={'address': '192.0.2.20'})
    assert cloud.links(gw['id']) == {'v1': 'assigned'}
    # Its sync gives it the device with its physical info.
    answer = agent_sync.AgentSyncEndpoint(cloud.engine, None).sync(
        {}, constants.AGENT_TYPE_VPN, 'v1')
    assert [(d['name'], d['physical_info']) for d in answer['devices']] == [
        ('gw-1', {'address': '192.0.2.20'})]
    # It reports the device without an address (the admin's description
    # stands; a description strongswan would refuse does not matter).
    cloud.report('v1', remote_device_types=('strongswan',),
                  agent_type=constants.AGENT_TYPE_VPN,
                  devices=[_said('gw-1', 'strongswan',
                                 constants.SERVICE_VPN)])
    assert cloud.health(gw['id']) == constants.HEALTH_OK
    assert cloud.sync.refused == 0
    # Its types follow its reports.
    cloud.report('v1', remote_device_types=('noop',),
                 agent_type=constants.AGENT_TYPE_VPN)
    with cloud.engine.connect() as connection:
        assert connection.execute(sa.select(
            models.manager_device_types.c.device_type)).scalars().all() \
            == ['noop']


# -- the health monitor ----------------------------------------------------

def test_a_dead_managers_devices_go_to_another_and_its_vip_is_rebound(
        cloud):
    """agents_per_device 1: without the new manager assigned first, the
    VIP of the dead one could only move (and there is no other device)."""
    cloud.conf.set_override('agents_per_device', 1, 'scheduler')
    cloud.report('m1')
    cloud.report('m2')
    cloud.report('m3')
    lb_a = cloud.create('lb-a')
    assert cloud.links(lb_a['id']) == {'m1': 'assigned'}
    cloud.report('m1', devices=[_said('lb-a')])
    assert cloud.health(lb_a['id']) == constants.HEALTH_OK
    response = cloud.client.post('/v2.0/lb/vips', json={'vip': dict(
        VIP, requirements={'device_type': 'noop'})})
    assert response.status_code == 201, response.get_data(as_text=True)
    vip = response.json['vip']
    assert cloud.services.resources.update_status(
        vip['id'], 1, constants.STATUS_ACTIVE, None)
    # An admin pins another device to m1, and pins m3 to lb-a by hand (an
    # assigned link would be refused twice; a pin takes it over).
    response = cloud.client.post(
        '/v2.0/agents/%s/devices' % cloud.ids['m1'],
        json={'device': {'name': 'lb-pinned', 'device_type': 'noop'}})
    pinned = response.json['device']
    cloud.past_grace()
    assert cloud.links(pinned['id']) == {'m1': 'pinned'}

    cloud.kill('m1')
    cloud.notifier.told()
    outcome = cloud.check('m2', 'm3')
    # Each of m1's devices got a manager, the least loaded first; only the
    # server's assignment was removed, never the admin's pin.
    new_a, = cloud.links(lb_a['id'])
    assert cloud.links(lb_a['id']) == {new_a: 'assigned'}
    new_pinned = ({'m2', 'm3'} - {new_a}).pop()
    assert cloud.links(pinned['id']) == {'m1': 'pinned',
                                         new_pinned: 'assigned'}
    assert _devices_outcome(outcome) == {
        'devices': 2, 'assigned': 2, 'unassigned': 1, 'short': 0,
        'deferred': 0}
    assert cloud.notifier.told() == ['m1', 'm2', 'm3']
    # Then the failover: rebound to the new manager, not moved.
    assert (outcome['rebound'], outcome['moved']) == (1, 0)
    with cloud.engine.connect() as connection:
        binding = connection.execute(sa.select(models.bindings)).one()
    assert (binding.agent_id, binding.device_id, binding.generation) == (
        cloud.ids[new_a], lb_a['id'], 2)
    host, message = cloud.notifier.deployed[-1]
    assert (host, message['id']) == (new_a, vip['id'])
    # Nothing more to do.
    outcome = cloud.check('m2', 'm3')
    assert outcome['devices']['devices'] == 0 and outcome['rebound'] == 0
    # m1 comes back: it gets nothing back, and keeps its pin.
    cloud.report('m1', devices=[_said('lb-a'), _said('lb-pinned')])
    assert cloud.links(lb_a['id']) == {new_a: 'assigned'}
    assert cloud.agent_devices('m1') == {'lb-pinned': 'pinned'}
    assert cloud.sync.refused == 0


def test_an_admins_pin_of_an_assigned_link_is_never_undone(cloud):
    cloud.report('m1')
    cloud.report('m2')
    cloud.report('m3')
    lb_a = cloud.create('lb-a')
    assert cloud.links(lb_a['id']) == {'m1': 'assigned', 'm2': 'assigned'}
    response = cloud.client.post(
        '/v2.0/agents/%s/devices' % cloud.ids['m1'],
        json={'device_id': lb_a['id']})
    assert response.status_code == 201, response.get_data(as_text=True)
    assert cloud.links(lb_a['id']) == {'m1': 'pinned', 'm2': 'assigned'}
    again = cloud.client.post('/v2.0/agents/%s/devices' % cloud.ids['m1'],
                              json={'device_id': lb_a['id']})
    assert again.status_code == 409
    cloud.past_grace()
    cloud.kill('m1', 'm2')
    cloud.check('m3')
    # m2's assignment went to m3; m1's pin stays, dead as it is.
    assert cloud.links(lb_a['id']) == {'m1': 'pinned', 'm3': 'assigned'}


def test_an_admin_unpins_or_unassigns_and_registers_through_an_agent(
        cloud):
    for host in ('m1', 'm2', 'm3', 'm4'):
        cloud.report(host)
    lb_a = cloud.create('lb-a')
    assert cloud.links(lb_a['id']) == {'m1': 'assigned', 'm2': 'assigned'}
    cloud.notifier.told()
    # Taken off m1 by hand: another manager in its place at once, never
    # m1 again (it is the least loaded now).
    response = cloud.client.delete('/v2.0/agents/%s/devices/%s' % (
        cloud.ids['m1'], lb_a['id']))
    assert response.status_code == 204
    assert cloud.links(lb_a['id']) == {'m2': 'assigned', 'm3': 'assigned'}
    assert cloud.notifier.told() == ['m1', 'm3']
    # Registered through an agent's list: pinned there, and one manager
    # more (the pin counts toward agents_per_device).
    response = cloud.client.post(
        '/v2.0/agents/%s/devices' % cloud.ids['m2'],
        json={'device': {'name': 'lb-b', 'device_type': 'noop'}})
    assert response.status_code == 201
    lb_b = response.json['device']
    assert cloud.links(lb_b['id']) == {'m2': 'pinned', 'm1': 'assigned'}
    assert cloud.notifier.told() == ['m1', 'm2']


def test_guards_hold_device_reassignment_back_and_admins_act_at_once(
        cloud):
    for host in ('forced', 'spare', 'z0', 'z1', 'z2', 'z3', 'z4'):
        cloud.report(host)
    lb_a = cloud.create('lb-a')
    assert cloud.links(lb_a['id']) == {'forced': 'assigned',
                                       'spare': 'assigned'}
    lb_b = cloud.create('lb-b')
    assert cloud.links(lb_b['id']) == {'z0': 'assigned', 'z1': 'assigned'}
    lb_c = cloud.create('lb-c')
    assert cloud.links(lb_c['id']) == {'z2': 'assigned', 'z3': 'assigned'}

    # The start-up grace holds a dead manager's devices...
    cloud.kill('z0')
    cloud.set_agent('forced', forced_down=True)
    outcome = cloud.check('z1', 'z2', 'z3', 'z4', 'spare')
    assert cloud.monitor.last['held_back'] == 'start-up grace'
    assert cloud.links(lb_b['id']) == {'z0': 'assigned', 'z1': 'assigned'}
    # ... not a forced-down one's: an admin asked.
    assert cloud.links(lb_a['id']) == {'spare': 'assigned',
                                       'z4': 'assigned'}
    assert outcome['devices']['unassigned'] == 1

    # Past the grace, 4 of the group's 6 agents dead at once: the
    # mass-failure guard holds their devices too.
    cloud.clock.now += DOWN_TIME + REPORT_INTERVAL + 1
    cloud.kill('z1', 'z2', 'z3')
    outcome = cloud.check('z4', 'spare')
    assert cloud.monitor.last['held_back'] is None
    assert cloud.monitor.guards.state()['mass_failure']['active']
    assert outcome['devices']['devices'] == 0
    assert cloud.links(lb_b['id']) == {'z0': 'assigned', 'z1': 'assigned'}
    assert cloud.links(lb_c['id']) == {'z2': 'assigned', 'z3': 'assigned'}

    # All but z0 come back: the guard clears, z0's device goes.
    outcome = cloud.check('z1', 'z2', 'z3', 'z4', 'spare')
    assert not cloud.monitor.guards.state()['mass_failure']['active']
    assert outcome['devices']['devices'] == 1
    assert cloud.links(lb_b['id']) == {'spare': 'assigned',
                                       'z1': 'assigned'}


def test_reassignment_is_paced_by_the_rate_limit(cloud):
    cloud.conf.set_override('agents_per_device', 1, 'scheduler')
    for host in ('m1', 'm2', 'm3'):
        cloud.report(host)
    names = ['lb-%d' % index for index in range(3)]
    for name in names:
        cloud.create(name)
    # One device each, by host.
    assert [len(cloud.agent_devices(host)) for host in ('m1', 'm2', 'm3')] \
        == [1, 1, 1]
    cloud.past_grace()
    bucket = cloud.monitor.guards.bucket
    bucket.rate, bucket.burst, bucket._tokens = 0.001, 1, 1.0
    cloud.kill('m1')
    outcome = cloud.check('m2', 'm3')
    assert _devices_outcome(outcome) == {
        'devices': 1, 'assigned': 1, 'unassigned': 1, 'short': 0,
        'deferred': 0}
    assert cloud.agent_devices('m1') == {}
    # Three devices on dead managers, one token: one now, two deferred.
    cloud.kill('m2', 'm3')
    cloud.report('m4')
    cloud.report('m5')
    bucket._tokens = 1.0
    outcome = cloud.check('m4', 'm5')
    assert (outcome['devices']['devices'], outcome['devices']['deferred']) \
        == (1, 2)
    bucket.burst, bucket._tokens = 5, 5.0
    outcome = cloud.check('m4', 'm5')
    assert (outcome['devices']['devices'], outcome['devices']['deferred']) \
        == (2, 0)
    assert len(cloud.agent_devices('m4')) + len(
        cloud.agent_devices('m5')) == 3


def test_the_monitor_looks_for_short_devices_only_when_something_changed(
        cloud, monkeypatch):
    cloud.conf.set_override('agents_per_device', 1, 'scheduler')
    looks = []
    reassign = cloud.services.assignment.reassign
    monkeypatch.setattr(cloud.services.assignment, 'reassign',
                        lambda *args, **kwargs: looks.append(1) or
                        reassign(*args, **kwargs))
    cloud.report('m1')
    cloud.report('plain', remote_device_types=())
    # Pinned by an admin to an agent that manages nothing remotely.
    response = cloud.client.post(
        '/v2.0/agents/%s/devices' % cloud.ids['plain'],
        json={'device': {'name': 'lb-p', 'device_type': 'noop'}})
    lb_p = response.json['device']
    assert cloud.links(lb_p['id']) == {'plain': 'pinned'}
    cloud.past_grace()
    assert len(looks) == 1
    cloud.check('m1', 'plain')
    cloud.check('m1', 'plain')
    assert len(looks) == 1      # nothing changed: no statement
    # Its pinned agent dies: nothing the overview tracks changed (it has
    # no assignment, it manages nothing) until the periodic look.
    cloud.kill('plain')
    cloud.check('m1')
    assert len(looks) == 1
    cloud.clock.now += health_monitor.DEVICE_SWEEP_INTERVAL
    cloud.check('m1')
    assert len(looks) == 2
    assert cloud.links(lb_p['id']) == {'plain': 'pinned', 'm1': 'assigned'}
    # Work done: looked again at the next check, then quiet.
    cloud.check('m1')
    cloud.check('m1')
    assert len(looks) == 3
    # A new manager: looked at once.
    cloud.report('m2')
    cloud.check('m1', 'm2')
    assert len(looks) == 4


class Refusing(device_assigners.LeastDevices):
    """A stricter assigner of a third party's: no manager for 'stuck-*'."""

    def feasible(self, managers, device):
        return [] if device.name.startswith('stuck') else super().feasible(
            managers, device)


def test_devices_no_manager_can_take_never_starve_the_others(cloud):
    cloud.report('m1')
    now = liveness.utcnow()
    with cloud.engine.begin() as connection:
        for device_id in ('a', 'b', 'c', 'd'):
            name = 'ok-d' if device_id == 'd' else 'stuck-' + device_id
            connection.execute(sa.insert(models.devices).values(
                id=device_id, name=name, device_type='noop',
                service_type=LB, capabilities='{}', capacity=1,
                physical_info='{}', health='UNKNOWN', source='admin',
                created_at=now))
        # Nobody may take these by the shipped rule: another zone's, and a
        # VPN device (m1 is a load balancer agent). Never looked at.
        for device_id, zone, service_type in (
                ('e', 'cloud-x', LB), ('f', None, constants.SERVICE_VPN)):
            connection.execute(sa.insert(models.devices).values(
                id=device_id, name='elsewhere-' + device_id,
                device_type='noop', service_type=service_type,
                availability_zone=zone, capabilities='{}', capacity=1,
                physical_info='{}', health='UNKNOWN', source='admin',
                created_at=now))
    with cloud.engine.connect() as connection:
        assert [row.id for row in assignment_db.short_devices(
            connection, liveness.alive_since(DOWN_TIME), 2, 10)] == [
            'a', 'b', 'c', 'd']
    service = device_assignment.DeviceAssignmentService(
        cloud.engine, cloud.conf, cloud.notifier, assigner=Refusing())
    # Two a look: a and b, which nobody takes, then c and d.
    first = service.reassign(2)
    assert (first.devices, first.more) == (0, True)
    second = service.reassign(2)
    assert second.devices == 1
    assert cloud.links('d') == {'m1': 'assigned'}
    # Then around again from the start.
    assert service.reassign(2).devices == 0



def test_a_projects_device_is_assigned_and_reassigned_too(cloud):
    """'A device that an admin (or a tenant) registers': a project's
    private appliance is managed as the provider's are."""
    for host in ('m1', 'm2', 'm3'):
        cloud.report(host)
    row = cloud.services.devices.create(
        {'name': 'tenant-lb', 'device_type': 'noop', 'project_id': 'pa'},
        tenant='pa')
    assert (row.source, row.project_id) == ('project', 'pa')
    assert cloud.links(row.id) == {'m1': 'assigned', 'm2': 'assigned'}
    assert cloud.notifier.told() == ['m1', 'm2']
    cloud.past_grace()
    cloud.kill('m1')
    outcome = cloud.check('m2', 'm3')
    assert outcome['devices']['devices'] == 1
    assert cloud.links(row.id) == {'m2': 'assigned', 'm3': 'assigned'}
