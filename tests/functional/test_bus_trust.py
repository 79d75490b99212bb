"""A hostile bus: spoofed, replayed and unsigned messages change nothing.

Issue 11: with nothing but the bus credentials every node holds, a client
could register any agent, wipe another host's devices, redirect its deploys
to a topic of its own, redefine a device, sync as another host (and read
its secrets), set the status of a resource it does not host, and undeploy
a live VIP with one cast. Here a real server (RabbitMQ, PostgreSQL) with a
master key, two real agents with their host keys, and an attacker holding
the bus credentials and the key of one host of its own (h3).
"""

import json
import threading
import time
import uuid

import kombu
import oslo_messaging
import pytest
import sqlalchemy as sa

from agentsched import constants
from agentsched import messaging
from agentsched import signing
from agentsched.agents import devices as agent_devices
from agentsched.agents import service as agent_service
from agentsched.agents import service_plugins
from agentsched.db import models
from agentsched.reports import reporter
from agentsched.services import secrets
from tests import report_factory
from tests import server_fixtures

MASTER = signing.generate_master_key()
PSK = 'psk-Osprey-5120-never-on-the-bus'
PASSWORD = 'Ibex-7731-never-on-the-bus'
VPN_SPEC = {'peer_address': '203.0.113.9', 'peer_id': '203.0.113.9',
            'peer_cidrs': ['10.2.0.0/24'], 'local_cidrs': ['10.1.0.0/24'],
            'psk': PSK}


def keyring(host, key_of=None):
    """Host keys as provisioned on host; key_of: another host's key."""
    return signing.Keyring.for_agent(
        host, [signing.host_key(MASTER, key_of or host)])


def _wait(predicate, timeout=20):
    return server_fixtures.wait_for(predicate, timeout)


class Capture:
    """Every message published on the deployment's exchange, as bytes."""

    def __init__(self, url, exchange):
        self._connection = kombu.Connection(url.replace('rabbit://',
                                                        'amqp://', 1))
        channel = self._connection.channel()
        self._queue = 'capture-%s' % uuid.uuid4().hex[:8]
        channel.queue_declare(self._queue, auto_delete=True)
        channel.queue_bind(self._queue, exchange=exchange, routing_key='#')
        self._channel = channel
        self.bodies = []

    def drain(self):
        while True:
            message = self._channel.basic_get(self._queue, no_ack=True)
            if message is None:
                return self.bodies
            self.bodies.append(message.body if isinstance(
                message.body, bytes) else message.body.encode())

    def close(self):
        self._connection.release()


@pytest.fixture
def fleet(parsed_conf, rabbit, postgresql_database):
    """A server with a master key, agents h1 (lbaas) and h2 (vpn)."""
    conf = parsed_conf
    engine = postgresql_database.engine()
    with server_fixtures.running_server(
            conf, rabbit, postgresql_database,
            ('agent_down_time', 4, None), ('report_interval', 1, 'agent'),
            ('status_interval', 0.3, 'agent'),
            ('enabled', False, 'health'), ('enabled', False, 'api'),
            ('master_keys', [MASTER], 'signing'),
            ('encryption_keys', [secrets.generate_key()],
             'secrets')) as server:
        yield from _fleet(conf, server, engine, rabbit)


def _fleet(conf, server, engine, rabbit):
    capture = Capture(rabbit.url, rabbit.exchange)
    lbaas, vpn = service_plugins.load(['lbaas', 'vpn'])
    agents = {
        'h1': agent_service.AgentService(
            conf, 'h1', agent_devices.simulated('h1', count=1), lbaas,
            keyring=keyring('h1')),
        'h2': agent_service.AgentService(
            conf, 'h2', agent_devices.simulated(
                'h2', count=1, service_type=constants.SERVICE_VPN), vpn,
            keyring=keyring('h2')),
    }
    for agent in agents.values():
        agent.start()
    assert _wait(lambda: all(a.managed_devices for a in agents.values()))
    yield Fleet(conf, server, engine, agents, rabbit, capture)
    for agent in agents.values():
        agent.stop()
    capture.close()


class Fleet:

    def __init__(self, conf, server, engine, agents, bus, capture):
        self.conf, self.server, self.engine = conf, server, engine
        self.agents, self.bus, self.capture = agents, bus, capture

    def reporter(self, signer=None):
        return reporter.StateReporter(self.conf, timeout=10, signer=signer)

    def report(self, state, signer=None):
        """The server's answer, or the RemoteError's exc_type."""
        try:
            return self.reporter(signer).report_state(state)
        except oslo_messaging.RemoteError as exc:
            return exc.exc_type

    def plugin_call(self, method, **kwargs):
        client = messaging.get_client(self.conf, constants.PLUGIN_TOPIC,
                                      '1.4', timeout=10)
        try:
            return client.prepare(namespace='agent').call({}, method,
                                                          **kwargs)
        except oslo_messaging.RemoteError as exc:
            return exc.exc_type

    def agent_row(self, host, agent_type=constants.AGENT_TYPE_LOADBALANCER):
        with self.engine.connect() as connection:
            return connection.execute(sa.select(models.agents).where(
                models.agents.c.host == host,
                models.agents.c.agent_type == agent_type)).first()

    def links(self, host):
        with self.engine.connect() as connection:
            return {(row.name, row.missing) for row in connection.execute(
                sa.select(models.devices.c.name,
                          models.agent_devices.c.missing)
                .select_from(models.agent_devices.join(models.devices)
                             .join(models.agents))
                .where(models.agents.c.host == host))}

    def device(self, name):
        with self.engine.connect() as connection:
            return connection.execute(sa.select(models.devices).where(
                models.devices.c.name == name)).first()

    def stats(self):
        return self.server.report_stats()

    def watch_heartbeats(self):
        """Samples h1 and h2's liveness until stopped; returns the deaths."""
        deaths, stop = [], threading.Event()

        def sample():
            while not stop.wait(0.2):
                for host, agent in self.agents.items():
                    row = self.agent_row(host, agent.agent_type)
                    age = (models_now() - row.heartbeat_timestamp
                           ).total_seconds()
                    if age > self.conf.agent_down_time:
                        deaths.append((host, age))
        thread = threading.Thread(target=sample, daemon=True)
        thread.start()

        def stopped():
            stop.set()
            thread.join()
            return deaths
        return stopped


def models_now():
    from agentsched import liveness
    return liveness.utcnow()


def _state(host, agent_type=constants.AGENT_TYPE_LOADBALANCER, **extra):
    return report_factory.agent_state(host, agent_type=agent_type, **extra)


def test_spoofed_reports_are_refused_and_the_real_agents_carry_on(fleet):
    watch = fleet.watch_heartbeats()
    before = fleet.stats()
    h1 = fleet.agents['h1']
    topic_before = fleet.agent_row('h1').topic
    links_before = fleet.links('h1')
    assert links_before == {('h1-noop-0', False)}
    h3 = signing.Signer(keyring('h3'))
    refused = []

    # An unsigned agentsched agent type: never registered.
    refused.append(fleet.report(_state('evil')))
    # Unsigned reports for a real agent: wipe its devices, steal its topic.
    refused.append(fleet.report(_state('h1', topic=h1.topic, start_flag=True,
                                       configurations={'devices': []})))
    refused.append(fleet.report(_state('h1', topic='evil-topic')))
    # Signed with another host's key (h3's), claiming to be h1.
    refused.append(fleet.report(_state('h1', topic='evil-topic'),
                                signing.Signer(keyring('h1', key_of='h3'))))
    # h3 (its own key) may register as itself...
    assert fleet.report(_state('h3', topic='t3'), h3) == 'new'
    # ...but a replay of its report is refused.
    replayed = fleet.reporter(h3)
    sent = []
    real_call = replayed._client.prepare

    def recording_prepare(**kwargs):
        cctxt = real_call(**kwargs)
        original = cctxt.call

        def call(ctxt, method, **call_kwargs):
            sent.append(json.loads(json.dumps(call_kwargs)))
            return original(ctxt, method, **call_kwargs)
        cctxt.call = call
        return cctxt
    replayed._client.prepare = recording_prepare
    assert replayed.report_state(_state('h3', topic='t3')) == 'alive'
    client = messaging.get_client(fleet.conf, fleet.bus.reports_topic, '1.2',
                                  timeout=10)
    try:
        client.call({}, 'report_state', **sent[0])
        refused.append(None)
    except oslo_messaging.RemoteError as exc:
        refused.append(exc.exc_type)
    # h3 claims h1's device, redefined, beside a device of its own.
    stolen = dict(agent_devices.simulated('h1', count=1)[0], capacity=1,
                  address='192.0.2.66')
    own = agent_devices.simulated('h3', count=1)[0]
    assert fleet.report(_state('h3', topic='t3', configurations={
        'devices': [stolen, own]}), h3) == 'alive'

    assert refused == ['InvalidReport'] * len(refused)
    assert _wait(lambda: fleet.links('h3') == {('h3-noop-0', False)})
    device = fleet.device('h1-noop-0')
    assert (device.capacity, json.loads(device.physical_info)) == (100, {})
    assert fleet.agent_row('evil') is None
    time.sleep(1.5)   # a few more heartbeats and flushes
    assert fleet.agent_row('h1').topic == topic_before
    assert fleet.links('h1') == links_before
    after = fleet.stats()
    assert after['rejected'] - before['rejected'] == len(refused)
    # Counted by the check that refused them (metrics' reason label).
    assert sum(fleet.server.reports.stats.rejections().values()) == \
        after['rejected']
    assert fleet.server.reports.stats.rejections().get('signature', 0) > 0
    assert after['refused_devices'] - before.get('refused_devices', 0) == 1
    assert watch() == []


def test_neutron_agents_stay_welcome_unsigned_but_not_after_signing(fleet):
    # Neutron's OVS agent reports a port count under 'devices'.
    ovs = _state('compute-1', agent_type='Open vSwitch agent', topic='N/A',
                 binary='neutron-openvswitch-agent',
                 configurations={'devices': 3, 'bridge_mappings': {}})
    assert fleet.report(ovs) == 'new'
    assert fleet.report(ovs) == 'alive'
    assert fleet.links('compute-1') == set()
    # Once an agent signed, unsigned reports for it are refused.
    signer = signing.Signer(keyring('compute-2'))
    ovs2 = dict(ovs, host='compute-2')
    assert fleet.report(ovs2, signer) == 'new'
    assert fleet.report(ovs2) == 'InvalidReport'
    assert fleet.report(ovs2, signer) == 'alive'


def test_spoofed_calls_are_refused(fleet):
    h2 = fleet.agents['h2']
    vpn = fleet.server.resources.create(
        'vpn_connection', 'p', 'c1', VPN_SPEC, {'device_type': 'noop'})
    assert _wait(lambda: fleet.server.resources.get(vpn.id).status ==
                 constants.STATUS_ACTIVE)
    generation = h2.deployments.deployed[vpn.id]
    h3 = signing.Signer(keyring('h3'))
    assert fleet.report(_state('h3', topic='t3'), h3) == 'new'
    refused_before = fleet.stats()['refused_calls']

    def signed(signer, method, **kwargs):
        kwargs['signature'] = signer.sign(method, kwargs, kwargs['host'],
                                          kwargs['agent_type'])
        return fleet.plugin_call(method, **kwargs)

    vpn_type = constants.AGENT_TYPE_VPN
    # sync for another host: unsigned, and signed with h3's key.
    assert fleet.plugin_call('sync', agent_type=vpn_type,
                             host='h2') == 'BadSignature'
    assert signed(signing.Signer(keyring('h2', key_of='h3')), 'sync',
                  agent_type=vpn_type, host='h2') == 'BadSignature'
    # update_status of h2's resource: unsigned, and signed by h3 as itself.
    status = dict(resource_id=vpn.id, generation=generation,
                  status=constants.STATUS_ERROR, description='spoofed')
    assert fleet.plugin_call('update_status', agent_type=vpn_type,
                             host='h2', **status) == 'BadSignature'
    assert fleet.plugin_call('update_status', **status) == 'BadSignature'
    assert signed(h3, 'update_status', agent_type=constants.
                  AGENT_TYPE_LOADBALANCER, host='h3', **status) is False
    # h3's own sync tells it nothing of h2's.
    answer = signed(h3, 'sync', agent_type=constants.AGENT_TYPE_LOADBALANCER,
                    host='h3')
    assert answer['resources'] == [] and answer['devices'] == []
    assert fleet.stats()['refused_calls'] - refused_before == 4
    assert fleet.server.resources.get(vpn.id).status == \
        constants.STATUS_ACTIVE


def test_agents_take_only_casts_signed_for_them(fleet):
    h1 = fleet.agents['h1']
    vip = fleet.server.resources.create(
        'vip', 'p', 'web', {'address': '10.0.0.10', 'protocol': 'HTTP',
                            'protocol_port': 80, 'members': []},
        {'device_type': 'noop'})
    assert _wait(lambda: vip.id in h1.deployments.deployed)
    resource = {'id': vip.id, 'generation': h1.deployments.deployed[vip.id],
                'resource_type': 'vip'}
    client = messaging.get_client(fleet.conf, h1.topic, '1.2', server='h1')
    # Unsigned, and signed by the server's key but for h2.
    client.cast({}, 'undeploy', resource=resource)
    for_h2 = signing.Signer(signing.Keyring.for_server([MASTER]))
    client.cast({}, 'undeploy', resource=resource, signature=for_h2.sign(
        'undeploy', {'resource': resource}, 'h2', h1.agent_type))
    time.sleep(1.0)
    assert vip.id in h1.deployments.deployed
    # What the server signs for h1 is taken.
    fleet.server.resources.delete(vip.id)
    assert _wait(lambda: vip.id not in h1.deployments.deployed)


def test_no_secret_crosses_the_bus_in_clear(fleet):
    h2 = fleet.agents['h2']
    received = []
    deploy = h2.deployments.deploy
    h2.deployments.deploy = lambda r: (received.append(r), deploy(r))
    box = fleet.server.secret_box
    with fleet.engine.begin() as connection:
        connection.execute(sa.update(models.devices).where(
            models.devices.c.name == 'h2-noop-0').values(
            credentials=box.encrypt({'password': PASSWORD})))
    vpn = fleet.server.resources.create(
        'vpn_connection', 'p', 'c1', VPN_SPEC, {'device_type': 'noop'})
    assert _wait(lambda: fleet.server.resources.get(vpn.id).status ==
                 constants.STATUS_ACTIVE)
    assert h2.fetch_and_converge()
    # The agent opened them...
    assert received[0]['spec']['psk'] == PSK
    assert received[0]['device']['credentials'] == {'password': PASSWORD}
    assert h2.managed_devices[0]['credentials'] == {'password': PASSWORD}
    # ...but on the bus they were sealed: casts, calls, and sync's answer.
    bodies = fleet.capture.drain()
    assert any(vpn.id.encode() in body for body in bodies)
    answer = fleet.plugin_call('sync', agent_type=h2.agent_type, host='h2',
                               signature=signing.Signer(keyring('h2')).sign(
                                   'sync', {'agent_type': h2.agent_type,
                                            'host': 'h2'},
                                   'h2', h2.agent_type))
    bodies.append(json.dumps(answer).encode())
    for secret in (PSK, PASSWORD):
        assert not any(secret.encode() in body for body in bodies)


def test_an_agent_takes_only_sync_answers_signed_for_its_request(fleet):
    """A reply on the bus is anyone's to race: a forged answer (here with
    no resources, which would undeploy the VIP) and a genuine answer to
    an earlier request are both refused."""
    h1 = fleet.agents['h1']
    vip = fleet.server.resources.create(
        'vip', 'p', 'web', {'address': '10.0.0.10', 'protocol': 'HTTP',
                            'protocol_port': 80, 'members': []},
        {'device_type': 'noop'})
    assert _wait(lambda: vip.id in h1.deployments.deployed)
    client = h1._server._client
    real_prepare = client.prepare
    genuine = []

    def answering(answer_of):
        def prepare(**kwargs):
            cctxt = real_prepare(**kwargs)
            real_call = cctxt.call

            def call(ctxt, method, **call_kwargs):
                answer = real_call(ctxt, method, **call_kwargs)
                genuine.append(answer)
                return answer_of(answer)
            cctxt.call = call
            return cctxt
        return prepare

    client.prepare = answering(lambda answer: {
        'devices': [], 'resources': [], 'elsewhere': [], 'withheld': []})
    assert h1.fetch_and_converge() is False
    client.prepare = answering(lambda answer: dict(genuine[0]))
    assert h1.fetch_and_converge() is False
    assert vip.id in h1.deployments.deployed
    client.prepare = real_prepare
    assert h1.fetch_and_converge() is True
    assert vip.id in h1.deployments.deployed


def test_data_plane_batches_are_signed_bounded_and_counted(fleet):
    """Issue 14: an agent's batch of operating statuses crosses RabbitMQ
    signed; one for another host's resource, unsigned or signed by a
    third host, changes nothing; a batch that breaks the schema is
    refused with the reason and counted, and the next good one lands."""
    h2 = fleet.agents['h2']
    vpn = fleet.server.resources.create(
        'vpn_connection', 'p', 'c2', VPN_SPEC, {'device_type': 'noop'})
    assert _wait(lambda: fleet.server.resources.get(vpn.id).status ==
                 constants.STATUS_ACTIVE)
    generation = h2.deployments.deployed[vpn.id]
    vpn_type = constants.AGENT_TYPE_VPN
    h3 = signing.Signer(keyring('h3'))
    before = fleet.stats()

    def signed(signer, method, **kwargs):
        kwargs['signature'] = signer.sign(method, kwargs, kwargs['host'],
                                          kwargs['agent_type'])
        return fleet.plugin_call(method, **kwargs)

    def operating_status():
        with fleet.engine.connect() as connection:
            return connection.execute(sa.select(
                models.resources.c.operating_status).where(
                models.resources.c.id == vpn.id)).scalar()

    # The agent's own reporter: its noop device serves it, signed batch.
    assert _wait(lambda: operating_status() == constants.OPERATING_ONLINE)
    spoofed = [{'id': vpn.id, 'generation': generation,
                'operating_status': constants.OPERATING_ERROR}]
    assert fleet.plugin_call('update_operating_status', agent_type=vpn_type,
                             host='h2', statuses=spoofed) == 'BadSignature'
    assert signed(h3, 'update_operating_status', agent_type=vpn_type,
                  host='h3', statuses=spoofed) is None
    assert operating_status() != constants.OPERATING_ERROR
    hostile = [{'id': vpn.id, 'generation': generation,
                'operating_status': 'ONLINE; DROP TABLE resources'}]
    assert signed(h2._signer, 'update_operating_status',
                  agent_type=vpn_type, host='h2',
                  statuses=hostile) == 'InvalidDataPlane'
    assert signed(h2._signer, 'update_statistics', agent_type=vpn_type,
                  host='h2', statistics=[{'id': vpn.id}]
                  ) == 'InvalidDataPlane'
    after = fleet.stats()
    assert after['refused_calls'] - before['refused_calls'] == 1
    assert after['invalid_batches'] - before['invalid_batches'] == 2
    assert operating_status() == constants.OPERATING_ONLINE
    # The agent's own client, signed, over the same bus (its reporter
    # sends nothing more: nothing changed on its device).
    h2._server.update_operating_status(vpn_type, 'h2', [dict(
        spoofed[0], operating_status=constants.OPERATING_DEGRADED)])
    assert operating_status() == constants.OPERATING_DEGRADED
