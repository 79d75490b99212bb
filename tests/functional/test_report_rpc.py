"""The report_state endpoint over this machine's RabbitMQ, into PostgreSQL.

The server is agentsched's real ServerService, in this process; clients
send exactly what Neutron's agents send. Every test runs with each
[reports] intake: oslo.messaging's RPC server and the kombu consumer must
answer alike.
"""

import datetime
import json
import time

import kombu
from oslo_context import context as oslo_context
import oslo_messaging
import pytest
import sqlalchemy as sa

from agentsched import constants
from agentsched import messaging
from agentsched.db import models
from agentsched.reports import reporter
from tests import report_factory
from tests import server_fixtures

_wait = server_fixtures.wait_for


def neutron_context():
    """A request context flattened as neutron_lib's Context.to_dict() does."""
    ctx = oslo_context.RequestContext(user_id='neutron', project_id='svc',
                                      is_admin=True, roles=['admin'])
    flat = ctx.to_dict()
    flat.update(user_id='neutron', tenant_id='svc', project_id='svc',
                is_admin=True, roles=['admin'], tenant_name=None,
                project_name=None, user_name=None,
                timestamp=str(datetime.datetime.utcnow()))
    return flat


@pytest.fixture(params=server_fixtures.INTAKES)
def running_server(request, parsed_conf, rabbit, postgresql_database):
    engine = postgresql_database.engine()
    with server_fixtures.running_server(
            parsed_conf, rabbit, postgresql_database,
            ('intake', request.param, 'reports')) as service:
        yield service, engine, rabbit


def _client(conf, bus, version='1.2', exchange=None, timeout=10):
    transport = messaging.get_transport(conf)
    target = oslo_messaging.Target(topic=bus.reports_topic, version=version,
                                   exchange=exchange)
    return oslo_messaging.get_rpc_client(transport, target, timeout=timeout)


def _agent_count(engine):
    with engine.connect() as connection:
        return connection.execute(sa.select(sa.func.count()).select_from(
            models.agents)).scalar()


def test_neutron_report_registers_an_agent(running_server, parsed_conf):
    service, engine, bus = running_server
    client = _client(parsed_conf, bus)
    kwargs = report_factory.report_kwargs(
        'neutron-host', agent_type='Open vSwitch agent',
        binary='neutron-openvswitch-agent', topic='N/A', start_flag=True,
        configurations={'bridge_mappings': {'physnet1': 'br-ex'}},
        resource_versions={'Port': '1.9'}, uuid='6a8c1a2e')
    assert client.call(neutron_context(), 'report_state',
                       **kwargs) == constants.AGENT_NEW
    del kwargs['agent_state']['agent_state']['start_flag']
    assert client.call(neutron_context(), 'report_state',
                       **kwargs) == constants.AGENT_ALIVE
    with engine.connect() as connection:
        row = connection.execute(sa.select(models.agents)).one()
    assert row.binary == 'neutron-openvswitch-agent'
    assert row.topic == 'N/A'
    assert 'br-ex' in row.configurations
    assert row.resource_versions == '{"Port":"1.9"}'


def test_casts_are_processed_not_dropped(running_server, parsed_conf):
    service, engine, bus = running_server
    client = _client(parsed_conf, bus)
    for index in range(50):
        client.cast(neutron_context(), 'report_state',
                    **report_factory.report_kwargs('cast-%d' % index))
    assert _wait(lambda: _agent_count(engine) == 50), (
        'casts were acknowledged but not processed')


def test_malformed_reports_are_rejected_and_counted(running_server,
                                                     parsed_conf, caplog):
    service, engine, bus = running_server
    client = _client(parsed_conf, bus)
    bad = [
        {'agent_state': {'agent_state': {'host': 'no-type'}},
         'time': '2026-11-22T00:00:00.000000'},
        {'agent_state': 'flat'},
        report_factory.report_kwargs('h' * 300),
        report_factory.report_kwargs('many', configurations={
            'devices': [{'name': 'd', 'device_type': 'noop', 'capacity': -5}]}),
        {'agent_state': {'agent_state': report_factory.agent_state('bad-time')},
         'time': 'not a time'},
    ]
    for index in range(1000):
        client.cast({}, 'report_state', **bad[index % len(bad)])
        if index % 100 == 0:
            status = client.call(neutron_context(), 'report_state',
                                 **report_factory.report_kwargs('good'))
            assert status in (constants.AGENT_NEW, constants.AGENT_ALIVE)
    assert _wait(lambda: service.report_stats()['rejected'] == 1000)
    with pytest.raises(oslo_messaging.RemoteError) as info:
        client.call({}, 'report_state', **bad[0])
    assert 'InvalidReport' in info.value.exc_type
    assert 'agent_state must contain' in info.value.value
    stats = _client(parsed_conf, bus).prepare(
        topic=constants.PLUGIN_TOPIC, namespace='status',
        version='1.0').call({}, 'get_report_stats')
    assert stats['rejected'] == 1001
    assert stats['accepted'] == 10
    assert _agent_count(engine) == 1
    lines = [r for r in caplog.records if 'Rejected heartbeat' in r.message]
    assert len(lines) == 1001
    assert any("host 'many'" in r.message and 'capacity' in r.message
               for r in lines)


def test_newer_major_or_minor_version_is_refused(running_server, parsed_conf):
    service, engine, bus = running_server
    client = _client(parsed_conf, bus, version='1.5', timeout=5)
    with pytest.raises(oslo_messaging.RemoteError) as info:
        client.call(neutron_context(), 'report_state',
                    **report_factory.report_kwargs('h1'))
    assert 'UnsupportedVersion' in info.value.exc_type
    assert _client(parsed_conf, bus, version='1.4').call(
        {}, 'report_state',
        **report_factory.report_kwargs('h1')) == constants.AGENT_NEW


def test_other_exchange_is_not_heard(running_server, parsed_conf):
    """Neutron publishes on 'neutron'; a client on another exchange is lost."""
    service, engine, bus = running_server
    client = _client(parsed_conf, bus, exchange='openstack', timeout=2)
    with pytest.raises(oslo_messaging.MessagingTimeout):
        client.call({}, 'report_state', **report_factory.report_kwargs('h1'))
    assert _agent_count(engine) == 0


def _stats(conf, bus):
    return _client(conf, bus).prepare(
        topic=constants.PLUGIN_TOPIC, namespace='status',
        version='1.0').call({}, 'get_report_stats')


REFUSED = [
    ('no_such_method', '1.2', None, 'NoSuchMethod'),
    ('_flush', '1.2', None, 'NoSuchMethod'),
    ('report_state', '2.0', None, 'UnsupportedVersion'),
    ('report_state', '0.9', None, 'UnsupportedVersion'),
    # No endpoint of the topic takes that namespace: oslo.messaging's
    # dispatcher answers UnsupportedVersion, not NoSuchMethod.
    ('report_state', '1.2', 'status', 'UnsupportedVersion'),
    ('report_state', '1.2', 'other', 'UnsupportedVersion'),
]


def test_what_the_topic_does_not_serve_gets_an_error_reply(
        running_server, parsed_conf):
    service, engine, bus = running_server
    for method, version, namespace, error in REFUSED:
        client = _client(parsed_conf, bus, timeout=10).prepare(
            version=version, namespace=namespace)
        began = time.monotonic()
        with pytest.raises(oslo_messaging.RemoteError) as info:
            client.call(neutron_context(), method,
                        **report_factory.report_kwargs('h1'))
        assert time.monotonic() - began < 3, (method, 'answered late')
        assert info.value.exc_type == error, (method, version, namespace)
        # A cast of the same is dropped, and holds nothing up.
        client.cast({}, method, **report_factory.report_kwargs('h1'))
    assert _client(parsed_conf, bus).call(
        {}, 'report_state',
        **report_factory.report_kwargs('h2')) == constants.AGENT_NEW
    assert _agent_count(engine) == 1
    assert service.report_stats()['rejected'] == 0


def test_has_alive_neutron_server(running_server, parsed_conf):
    service, engine, bus = running_server
    assert _client(parsed_conf, bus).call(
        neutron_context(), 'has_alive_neutron_server') is True


def test_agentsched_reporter_calls_and_casts(running_server, parsed_conf):
    """agentsched-agent's own report client, both ways."""
    service, engine, bus = running_server
    state_reporter = reporter.StateReporter(parsed_conf, timeout=10)
    state = report_factory.agent_state('own-agent', start_flag=True)
    assert state_reporter.report_state(state) == constants.AGENT_NEW
    assert state_reporter.report_state(state) == constants.AGENT_ALIVE
    # The second report written first: a flush of it is not the cast's.
    assert _wait(lambda: service.sink.pending_count() == 0)
    with engine.connect() as connection:
        first = connection.execute(sa.select(
            models.agents.c.heartbeat_timestamp)).scalar()
    assert state_reporter.report_state(state, use_call=False) is None
    assert _wait(lambda: _heartbeat(engine, 'own-agent') > first)
    # Counted once the sink took it, which its flush may have beaten.
    assert _wait(lambda: service.report_stats()['accepted'] == 3)


def _heartbeat(engine, host):
    with engine.connect() as connection:
        return connection.execute(sa.select(
            models.agents.c.heartbeat_timestamp).where(
                models.agents.c.host == host)).scalar()


@pytest.mark.parametrize('fields,words', [
    ({'configurations': {'devices': [{
        'name': 'd', 'device_type': 'noop', 'load': float('nan')}]}},
     'must be a finite number'),
    ({'configurations': {'devices': [{
        'name': 'd', 'device_type': 'noop', 'load': float('inf')}]}},
     'must be smaller than or equal to 2147483647'),
    ({'binary': 'agent\ud800'}, 'must not contain a lone surrogate'),
])
def test_json_only_the_stdlib_reads_is_refused_with_an_answer(
        running_server, parsed_conf, fields, words):
    """oslo.messaging's clients send NaN, Infinity and lone surrogates,
    which orjson does not read: refused by the schema, not dropped."""
    service, engine, bus = running_server
    with pytest.raises(oslo_messaging.RemoteError) as info:
        _client(parsed_conf, bus).call(
            {}, 'report_state', **report_factory.report_kwargs(
                'odd', **fields))
    assert info.value.exc_type == 'InvalidReport'
    assert words in info.value.value
    assert service.report_stats()['rejected'] == 1


def _publish(bus, bodies, routing_key=None):
    """Publish raw AMQP bodies on the topic, as a client that is not
    oslo.messaging could."""
    with kombu.Connection(bus.url.replace('rabbit://', 'amqp://')) as amqp:
        producer = amqp.Producer(auto_declare=False)
        for body in bodies:
            producer.publish(body, exchange=bus.exchange,
                             routing_key=routing_key or bus.reports_topic,
                             content_type='application/json',
                             content_encoding='utf-8')


def _cast_body(host, unique_id):
    message = {'method': 'report_state', 'version': '1.0',
               'args': report_factory.report_kwargs(host),
               '_unique_id': unique_id, '_context_user': 'u'}
    return json.dumps({'oslo.version': '2.0',
                       'oslo.message': json.dumps(message)}).encode()


MALFORMED = [b'not json', b'[1, 2]', b'{"oslo.version": "3.0", '
             b'"oslo.message": "{}"}', b'{"oslo.version": "2.0", '
             b'"oslo.message": "{broken"}', b'\xff\xfe']


def test_malformed_messages_are_dropped_and_the_next_are_taken(
        running_server, parsed_conf):
    """Bodies that are not oslo.messaging's go nowhere and hold nothing
    up. The kombu intake counts them as rejected; oslo.messaging's driver
    drops them uncounted."""
    service, engine, bus = running_server
    _publish(bus, MALFORMED + [_cast_body('after-poison', 'u-1')])
    assert _wait(lambda: _agent_count(engine) == 1)
    assert _client(parsed_conf, bus).call(
        {}, 'report_state',
        **report_factory.report_kwargs('called')) == constants.AGENT_NEW
    kombu = parsed_conf.reports.intake == 'kombu'
    assert _wait(lambda: service.report_stats()['rejected'] == (
        len(MALFORMED) if kombu else 0))
    assert service.report_stats()['accepted'] == 2
    if kombu:
        assert server_fixtures.reports_server(service).malformed == \
            len(MALFORMED)
        assert service.reports.stats.rejections() == {
            'malformed': len(MALFORMED)}


def test_a_redelivered_message_is_taken_once(running_server, parsed_conf):
    """The same _unique_id twice (a redelivery): processed once, as
    oslo.messaging's listener does."""
    service, engine, bus = running_server
    _publish(bus, [_cast_body('twice', 'same-id'),
                   _cast_body('twice', 'same-id'),
                   _cast_body('other', 'another-id')])
    assert _wait(lambda: _agent_count(engine) == 2)
    time.sleep(0.5)
    assert service.report_stats()['accepted'] == 2
