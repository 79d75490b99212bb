"""Notifications (issue 16) consumed from RabbitMQ by a real oslo.messaging
notification listener: Neutron's agent.create.end / update.end /
delete.end shapes, the same pattern for devices and VIPs, and
vip.failover.end with the agent and device it went from and to; no secret
in any payload; nothing at all with no driver configured."""

import threading
import time
import uuid

import oslo_messaging
import pytest

from agentsched import constants
from agentsched import messaging
from agentsched import notifications
from agentsched.agents import devices as agent_devices
from agentsched.agents import service as agent_service
from agentsched.agents import service_plugins
from agentsched.services import secrets
from tests import server_fixtures

VIP = {'address': '198.51.100.7', 'protocol': 'TCP', 'protocol_port': 443,
       'members': [{'address': '10.0.0.5', 'protocol_port': 443}]}


class Collected:

    def __init__(self):
        self.events = []
        self._lock = threading.Lock()

    def info(self, ctxt, publisher_id, event_type, payload, metadata):
        with self._lock:
            self.events.append((publisher_id, event_type, payload))

    def of(self, event_type):
        with self._lock:
            return [payload for _publisher, kind, payload in self.events
                    if kind == event_type]

    def wait(self, event_type, count=1, timeout=20):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if len(self.of(event_type)) >= count:
                return self.of(event_type)
            time.sleep(0.1)
        raise AssertionError('no %s after %s s; got %s' % (
            event_type, timeout, [kind for _p, kind, _x in self.events]))


@pytest.fixture
def listening(parsed_conf, rabbit, postgresql_database):
    topic = 'notifications-%s' % uuid.uuid4().hex[:8]
    notifications.register_opts(parsed_conf)
    postgresql_database.engine()  # migrated
    collected = Collected()
    with server_fixtures.running_server(
            parsed_conf, rabbit, postgresql_database,
            ('driver', ['messagingv2'], 'oslo_messaging_notifications'),
            ('topics', [topic], 'oslo_messaging_notifications'),
            ('agent_down_time', 5, None), ('report_interval', 1, 'agent'),
            ('enabled', False, 'health'), ('enabled', False, 'api'),
            ('encryption_keys', [secrets.generate_key()], 'secrets'),
            ('snapshot_max_age', 0, 'scheduler')) as server:
        transport = oslo_messaging.get_notification_transport(parsed_conf)
        listener = oslo_messaging.get_notification_listener(
            transport, [oslo_messaging.Target(topic=topic)], [collected],
            executor='threading')
        listener.start()
        try:
            yield server, collected
        finally:
            listener.stop()
            listener.wait()
            notifications.cleanup()


def _agents(conf, hosts):
    lbaas, = service_plugins.load(['lbaas'])
    agents = [agent_service.AgentService(
        conf, host, agent_devices.simulated(host, count=1), lbaas)
        for host in hosts]
    for agent in agents:
        agent.start()
    return agents


def test_events_for_agents_devices_vips_and_failover(listening,
                                                     parsed_conf):
    server, collected = listening
    agents = _agents(parsed_conf, ['note-1', 'note-2'])
    try:
        created = collected.wait('agent.create.end', count=2)
        assert {payload['agent']['host'] for payload in created} == {
            'note-1', 'note-2'}
        assert all(payload['agent']['agent_type'] ==
                   constants.AGENT_TYPE_LOADBALANCER for payload in created)
        agent_id = created[0]['agent']['id']

        services = server.services
        services.agents.update(agent_id, {'description': 'rack 4'})
        updated = collected.wait('agent.update.end')
        assert updated[0]['agent']['description'] == 'rack 4'

        password = 'pw-%s' % uuid.uuid4().hex
        device = services.devices.create({
            'name': 'shared-noop', 'device_type': 'noop',
            'service_type': constants.SERVICE_LOADBALANCER, 'capacity': 5,
            'physical_info': {'address': '192.0.2.9'},
            'credentials': {'password': password}})
        shown = collected.wait('device.create.end')[0]['device']
        assert (shown['id'], shown['physical_info']) == (
            device.id, {'address': '192.0.2.9'})
        services.devices.delete(device.id)
        assert collected.wait('device.delete.end')[0] == {
            'device_id': device.id}

        vip = services.resources.create('vip', 'project-n', 'web', VIP,
                                        {'device_type': 'noop'})
        payload = collected.wait('vip.create.end')[0]['vip']
        assert (payload['id'], payload['project_id'],
                payload['protocol_port']) == (vip.id, 'project-n', 443)
        before = services.resources.hosting(vip.id)
        # (the resource, what happened to it)
        outcome = services.failover.fail_over_by_admin(vip.id, 'vip')
        failover = collected.wait('vip.failover.end')[0]
        after = services.resources.hosting(vip.id)
        assert failover['vip_id'] == vip.id
        assert failover['action'] == outcome[1]
        assert failover['from'] == {'agent_id': before.binding.agent_id,
                                    'device_id': before.binding.device_id}
        assert failover['to'] == {'agent_id': after.binding.agent_id,
                                  'device_id': after.binding.device_id}
        services.resources.delete(vip.id)
        assert collected.wait('vip.delete.end')[0] == {'vip_id': vip.id}

        everything = repr(collected.events)
        assert password not in everything
        publishers = {publisher for publisher, _k, _p in collected.events}
        assert publishers == {'agentsched.%s' % parsed_conf.host}
    finally:
        for agent in agents:
            agent.stop()


def test_nothing_is_sent_without_a_driver(parsed_conf, rabbit,
                                          postgresql_database):
    notifications.register_opts(parsed_conf)
    postgresql_database.engine()  # migrated
    with server_fixtures.running_server(
            parsed_conf, rabbit, postgresql_database,
            ('enabled', False, 'health'), ('enabled', False, 'api')):
        assert not notifications.enabled()
    messaging.cleanup()
