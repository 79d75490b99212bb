"""The scheduler extension and the agent controls of failover, over
SQLite, PostgreSQL and MariaDB: GET /v2.0/scheduler/health, PUT
.../{id}/failover, and forced_down on agents."""

import time

import sqlalchemy as sa

from agentsched.db import models
from agentsched.health import leader
from agentsched.health import monitor as health_monitor
from agentsched.services import failover as failover_service
from agentsched.services import secrets
from tests import api_fixtures
from tests.functional import test_api_resources as resources_tests
# The same API over each database (the fixtures, not the tests).
from tests.functional.test_api_agent_scheduler import api  # noqa: F401
from tests.functional.test_api_agent_scheduler import box  # noqa: F401

VIP = resources_tests.VIP
_error = resources_tests._error
_binding = resources_tests._binding
_lb = resources_tests._lb


def _vip_on(client, lb_agent):
    response = client.post('/v2.0/lb/vips', json={'vip': dict(
        VIP, requirements={'device_type': 'haproxy'})})
    assert response.status_code == 201, response.get_data(as_text=True)
    return response.json['vip']


def test_health_before_any_leader_and_after_a_check(api, parsed_conf):
    client, engine, notifier = api
    health = client.get('/v2.0/scheduler/health')
    assert health.status_code == 200
    assert health.json == {'scheduler_health': {
        'leader': None, 'leader_since': None, 'updated_at': None,
        'current': False, 'monitor': None}}
    # A monitor's check writes what it saw, for every server's API.
    app_resources = api_fixtures.resource_service(
        parsed_conf, engine, notifier,
        secrets.SecretBox([secrets.generate_key()]))
    monitor = health_monitor.HealthMonitor(
        engine, parsed_conf, failover_service.FailoverService(
            engine, parsed_conf, app_resources.placer, notifier,
            app_resources), leader.AlwaysLeader())
    monitor.check()
    health = client.get('/v2.0/scheduler/health').json['scheduler_health']
    assert health['leader'] == parsed_conf.host and health['current']
    guards = health['monitor']['guards']
    assert guards['startup_grace']['active'] is True
    assert set(guards) == {'startup_grace', 'outage', 'mass_failure',
                           'rate_limit'}
    assert guards['rate_limit']['rate'] == parsed_conf.health.move_rate
    assert health['monitor']['totals'] == {'rebound': 0, 'moved': 0,
                                           'failed': 0, 'retried': 0,
                                           'held': 0}
    _error(client.get('/v2.0/scheduler/health?x=1'), 400, 'HTTPBadRequest')


def test_failover_one_vip_by_hand(api):
    client, engine, notifier = api
    lb_1, dev_1 = _lb(client, engine, 'lb-1')
    vip = _vip_on(client, lb_1)
    lb_2, dev_2 = _lb(client, engine, 'lb-2')
    before = _binding(engine, vip['id'])
    response = client.put('/v2.0/lb/vips/%s/failover' % vip['id'])
    assert response.status_code == 202, response.get_data(as_text=True)
    assert response.json['failover'] == 'moved'
    assert response.json['vip']['status'] == 'PENDING_UPDATE'
    after = _binding(engine, vip['id'])
    assert after.generation == before.generation + 1
    assert after.device_id != before.device_id
    # The old agent is told to undeploy the old generation.
    host, message = notifier.undeployed[-1]
    assert message['generation'] == before.generation
    assert host == ('lb-1' if before.agent_id == lb_1 else 'lb-2')
    _error(client.put('/v2.0/lb/vips/nope/failover'), 404, 'VipNotFound')
    _error(client.put('/v2.0/lb/vips/%s/failover' % vip['id'],
                      json={'force': True}), 400, 'HTTPBadRequest')
    # A VIP is not a VPN connection.
    _error(client.put('/v2.0/vpn/connections/%s/failover' % vip['id']),
           404, 'VPNConnectionNotFound')


def test_failover_of_a_healthy_vip_with_nowhere_to_go_leaves_it_alone(api):
    client, engine, notifier = api
    lb_1, dev_1 = _lb(client, engine, 'lb-1')
    vip = _vip_on(client, lb_1)
    before = _binding(engine, vip['id'])
    status = client.get('/v2.0/lb/vips/%s' % vip['id']).json['vip']['status']
    answer = _error(client.put('/v2.0/lb/vips/%s/failover' % vip['id']),
                    409, 'NoValidCandidate')
    assert 'stays where it is' in answer
    after = _binding(engine, vip['id'])
    assert (after.device_id, after.generation) == (before.device_id,
                                                   before.generation)
    assert client.get('/v2.0/lb/vips/%s' % vip['id']).json['vip'][
        'status'] == status


def test_forced_down_agent_is_dead_to_the_api_and_the_scheduler(api):
    client, engine, notifier = api
    lb_1, _ = _lb(client, engine, 'lb-1')
    response = client.put('/v2.0/agents/%s' % lb_1,
                          json={'agent': {'forced_down': True}})
    assert response.status_code == 200, response.get_data(as_text=True)
    agent = response.json['agent']
    assert agent['forced_down'] is True and agent['alive'] is False
    assert notifier.calls[-1] == ('lb-1', True)
    dead = client.get('/v2.0/agents?alive=false').json['agents']
    assert [a['id'] for a in dead] == [lb_1]
    assert client.get('/v2.0/agents?forced_down=true').json['agents'][0][
        'id'] == lb_1
    vip = client.post('/v2.0/lb/vips', json={'vip': dict(
        VIP, requirements={'device_type': 'haproxy'})}).json['vip']
    assert vip['status'] == 'ERROR'
    client.put('/v2.0/agents/%s' % lb_1,
               json={'agent': {'forced_down': False}})
    assert client.get('/v2.0/agents/%s' % lb_1).json['agent']['alive']
    _error(client.put('/v2.0/agents/%s' % lb_1,
                      json={'agent': {'forced_down': 'yes'}}), 400,
           'HTTPBadRequest')


def test_forced_down_agent_fails_over_at_the_next_check(api, parsed_conf):
    client, engine, notifier = api
    lb_1, dev_1 = _lb(client, engine, 'lb-1')
    vip = _vip_on(client, lb_1)
    lb_2, dev_2 = _lb(client, engine, 'lb-2')
    client.put('/v2.0/agents/%s' % lb_1,
               json={'agent': {'forced_down': True}})
    service = api_fixtures.resource_service(
        parsed_conf, engine, notifier,
        secrets.SecretBox([secrets.generate_key()]))
    monitor = health_monitor.HealthMonitor(
        engine, parsed_conf, failover_service.FailoverService(
            engine, parsed_conf, service.placer, notifier, service),
        leader.AlwaysLeader(), clock=time.monotonic)
    outcome = monitor.check()   # in the start-up grace: admins go ahead
    assert outcome['moved'] == 1
    binding = _binding(engine, vip['id'])
    assert (binding.agent_id, binding.device_id) == (lb_2, dev_2)
    with engine.connect() as connection:
        assert connection.execute(sa.select(models.devices.c.used).where(
            models.devices.c.id == dev_1)).scalar() == 0


def test_failover_of_a_vip_whose_agent_died_rebinds_it(api):
    """The admin's failover asks the monitor's rule (failover.decide): a
    dead agent's VIP goes to another live agent of its device, which keeps
    serving it."""
    client, engine, notifier = api
    lb_1, dev_1 = _lb(client, engine, 'lb-1')
    vip = _vip_on(client, lb_1)
    lb_2 = api_fixtures.add_agent(engine, 'lb-2')
    with engine.begin() as connection:
        connection.execute(sa.insert(models.agent_devices).values(
            agent_id=lb_2, device_id=dev_1, missing=False, health='OK'))
        connection.execute(sa.update(models.agents).where(
            models.agents.c.id == lb_1).values(forced_down=True))
    before = _binding(engine, vip['id'])
    response = client.put('/v2.0/lb/vips/%s/failover' % vip['id'])
    assert response.status_code == 202, response.get_data(as_text=True)
    assert response.json['failover'] == 'rebound'
    assert response.json['vip']['status'] == 'PENDING_UPDATE'
    after = _binding(engine, vip['id'])
    assert (after.agent_id, after.device_id, after.generation) == (
        lb_2, dev_1, before.generation + 1)
    host, message = notifier.undeployed[-1]
    assert host == 'lb-1' and message['keep_on_device'] is True


def test_failover_of_a_vip_being_deleted_is_refused(api):
    client, engine, notifier = api
    lb_1, _ = _lb(client, engine, 'lb-1')
    vip = _vip_on(client, lb_1)
    _lb(client, engine, 'lb-2')
    with engine.begin() as connection:
        connection.execute(sa.update(models.resources).where(
            models.resources.c.id == vip['id']).values(
            status='PENDING_DELETE'))
    before = _binding(engine, vip['id'])
    answer = _error(client.put('/v2.0/lb/vips/%s/failover' % vip['id']),
                    409, 'ResourceBeingDeleted')
    assert answer == 'vip %s is being deleted' % vip['id']
    assert _binding(engine, vip['id']) == before
