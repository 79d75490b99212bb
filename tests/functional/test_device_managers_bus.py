"""Per-cloud manager agents over the real bus (issue 15).

A real server (RabbitMQ, PostgreSQL, its REST API and health monitor, a
master key for signing and sealing) and three real agents in this process
(AgentService, as agentsched-agent runs it) with [agent]
remote_device_types = noop and no device of their own. An admin registers
a device without naming agents: the server assigns it to two of them
(agents_per_device), which get it with its credentials through their sync
and report its health; a VIP on it goes ACTIVE. Its agent dies: the health
monitor assigns the device to the third manager and the VIP is rebound (not
moved) to a live manager of the same device, ACTIVE again; an admin's pin
of the dead agent stays.
"""

import json
import time
import urllib.request

import pytest
import sqlalchemy as sa

from agentsched import constants
from agentsched import signing
from agentsched.agents import service as agent_service
from agentsched.agents import service_plugins
from agentsched.db import models
from agentsched.services import secrets
from tests import server_fixtures

MASTER = signing.generate_master_key()
SECRET = 'ssh-password-Heron-2207-sealed'
VIP = {'name': 'web', 'address': '198.51.100.7', 'protocol': 'HTTP',
       'protocol_port': 80, 'requirements': {'device_type': 'noop'},
       'members': [{'address': '10.0.0.5', 'protocol_port': 8080}]}


def _wait(predicate, timeout=30, what='the condition'):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.1)
    value = predicate()
    assert value, 'timed out waiting for %s' % what
    return value


class Cloud:

    def __init__(self, server, engine, agents, start):
        self.server, self.engine = server, engine
        self.agents, self.start = agents, start
        self._base = 'http://127.0.0.1:%d' % server.api.port

    def api(self, method, path, body=None):
        request = urllib.request.Request(
            self._base + path, method=method,
            data=json.dumps(body).encode() if body is not None else None,
            headers={'Content-Type': 'application/json'})
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                return response.status, json.loads(response.read() or 'null')
        except urllib.error.HTTPError as exc:
            return exc.code, json.loads(exc.read() or 'null')

    def agent_id(self, host):
        with self.engine.connect() as connection:
            return connection.execute(sa.select(models.agents.c.id).where(
                models.agents.c.host == host)).scalar()

    def host_of(self, agent_id):
        with self.engine.connect() as connection:
            return connection.execute(sa.select(models.agents.c.host).where(
                models.agents.c.id == agent_id)).scalar()

    def links(self, device_id):
        status, body = self.api('GET', '/v2.0/devices/%s/agents' % device_id)
        assert status == 200
        return {agent['host']: agent['assignment']
                for agent in body['agents']}

    def agent_devices(self, host):
        status, body = self.api('GET', '/v2.0/agents/%s/devices' %
                                self.agent_id(host))
        assert status == 200, body
        return {device['name']: device['assignment']
                for device in body['devices']}

    def binding(self, resource_id):
        with self.engine.connect() as connection:
            return connection.execute(sa.select(models.bindings).where(
                models.bindings.c.resource_id == resource_id)).first()

    def vip_status(self, vip_id):
        return self.api('GET', '/v2.0/lb/vips/%s' % vip_id)[1]['vip'][
            'status']

    def managed(self, host):
        return {device['name']: device
                for device in self.agents[host].managed_devices}


@pytest.fixture
def cloud(parsed_conf, rabbit, postgresql_database):
    conf = parsed_conf
    engine = postgresql_database.engine()
    lbaas, = service_plugins.load(['lbaas'])
    with server_fixtures.running_server(
            conf, rabbit, postgresql_database,
            ('agent_down_time', 4, None), ('report_interval', 1, 'agent'),
            ('health_check_interval', 0.3, 'health'),
            ('snapshot_max_age', 0, 'scheduler'),
            ('auth_strategy', 'noauth', None),
            ('status_interval', 0.5, 'agent'),
            ('fence_on_isolation', False, 'agent'),
            ('master_keys', [MASTER], 'signing'),
            ('encryption_keys', [secrets.generate_key()],
             'secrets')) as server:
        agents = {}

        def start(host):
            agents[host] = agent_service.AgentService(
                conf, host, [], lbaas,
                keyring=signing.Keyring.for_agent(
                    host, [signing.host_key(MASTER, host)]),
                remote_device_types=['noop'])
            agents[host].start()
            return agents[host]

        yield Cloud(server, engine, agents, start)
        for agent in agents.values():
            agent.stop()


def test_a_device_registered_without_agents_is_managed_and_fails_over(
        cloud):
    for host in ('m1', 'm2', 'm3'):
        cloud.start(host)

    def managers():
        with cloud.engine.connect() as connection:
            return connection.execute(sa.select(sa.func.count()).select_from(
                models.manager_device_types)).scalar() == 3
    _wait(managers, what='three managers of noop devices')

    status, body = cloud.api('POST', '/v2.0/devices', {'device': {
        'name': 'cloud-a-lb', 'device_type': 'noop', 'capacity': 10,
        'physical_info': {'host': '192.0.2.80'},
        'credentials': {'password': SECRET}}})
    assert status == 201, body
    device = body['device']
    # Two managers (agents_per_device), fewest devices first, by host.
    assert cloud.links(device['id']) == {'m1': 'assigned', 'm2': 'assigned'}
    # Told, they sync: the device with its credentials, sealed to each.
    for host in ('m1', 'm2'):
        managed = _wait(lambda: cloud.managed(host).get('cloud-a-lb'),
                        what='%s to sync the device' % host)
        assert managed['credentials'] == {'password': SECRET}
        assert managed['physical_info'] == {'host': '192.0.2.80'}
    assert 'cloud-a-lb' not in cloud.managed('m3')
    # Their heartbeats carry its health: placeable.
    _wait(lambda: cloud.api('GET', '/v2.0/devices/%s' % device['id'])[1][
        'device']['health'] == constants.HEALTH_OK, what='health OK')
    assert cloud.agent_devices('m1') == {'cloud-a-lb': 'assigned'}

    status, body = cloud.api('POST', '/v2.0/lb/vips', {'vip': VIP})
    assert status == 201, body
    vip = body['vip']
    _wait(lambda: cloud.vip_status(vip['id']) == constants.STATUS_ACTIVE,
          what='the VIP ACTIVE')
    before = cloud.binding(vip['id'])
    assert before.device_id == device['id']
    victim = cloud.host_of(before.agent_id)
    survivor = ({'m1', 'm2'} - {victim}).pop()

    # An admin pins a device of its own to the victim; the monitor adds
    # a manager to it (agents_per_device counts the pin).
    status, body = cloud.api(
        'POST', '/v2.0/agents/%s/devices' % cloud.agent_id(victim),
        {'device': {'name': 'pinned-lb', 'device_type': 'noop'}})
    assert status == 201, body
    pinned = body['device']
    _wait(lambda: cloud.links(pinned['id']) == {victim: 'pinned',
                                                'm3': 'assigned'},
          what='the pinned device topped up')

    cloud.agents[victim].stop()
    # The monitor (after agent_down_time): the device to m3, the VIP
    # rebound on the same device, not moved, and ACTIVE again.
    _wait(lambda: cloud.links(device['id']) == {survivor: 'assigned',
                                                'm3': 'assigned'},
          timeout=40, what='the device reassigned to m3')
    after = _wait(lambda: (lambda row: row if row.agent_id !=
                           before.agent_id else None)(
        cloud.binding(vip['id'])), what='the VIP rebound')
    assert (after.device_id, after.generation) == (device['id'], 2)
    new_host = cloud.host_of(after.agent_id)
    assert new_host in (survivor, 'm3')
    _wait(lambda: cloud.vip_status(vip['id']) == constants.STATUS_ACTIVE,
          what='the VIP ACTIVE again')
    assert cloud.agents[new_host].deployments.deployed[vip['id']] == 2
    _wait(lambda: 'cloud-a-lb' in cloud.managed('m3'),
          what='m3 to sync the device')
    # The admin's pin stays; the pinned device got a live manager more.
    assert cloud.links(pinned['id']) == {victim: 'pinned', 'm3': 'assigned',
                                         survivor: 'assigned'}
    assert cloud.agent_devices(victim) == {'pinned-lb': 'pinned'}
    assert cloud.agent_devices('m3') == {'cloud-a-lb': 'assigned',
                                         'pinned-lb': 'assigned'}
    status, body = cloud.api('GET', '/v2.0/scheduler/health')
    assert body['scheduler_health']['monitor']['totals'][
        'devices_reassigned'] >= 2
