"""The report_state endpoint over this machine's RabbitMQ, into PostgreSQL.

The server is agentsched's real ServerService, in this process; clients
send exactly what Neutron's agents send.
"""

import datetime
import time

from oslo_context import context as oslo_context
import oslo_messaging
import pytest
import sqlalchemy as sa

from agentsched import constants
from agentsched import messaging
from agentsched.db import models
from tests import report_factory
from tests import server_fixtures


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


@pytest.fixture
def running_server(parsed_conf, rabbit, postgresql_database):
    engine = postgresql_database.engine()
    with server_fixtures.running_server(parsed_conf, rabbit,
                                        postgresql_database) as service:
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


def _wait(predicate, timeout=15):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return predicate()


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
