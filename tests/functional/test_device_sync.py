"""Devices from heartbeats, on SQLite, PostgreSQL and MariaDB."""

import json
import logging

import sqlalchemy as sa

from agentsched import constants
from agentsched import liveness
from agentsched.db import devices as devices_db
from agentsched.db import models
from agentsched.reports import device_sync
from agentsched.reports import sink as reports_sink
from agentsched.services import devices as devices_service
from agentsched.services import secrets
from tests import report_factory


def _device(name, device_type='haproxy', health='OK', load=0, **fields):
    device = {'name': name, 'device_type': device_type,
              'service_type': 'LOADBALANCER', 'capabilities': {'ssl': True},
              'capacity': 10, 'address': '10.0.0.1', 'health': health,
              'load': load}
    device.update(fields)
    return device


def _report(sink, host, devices):
    sink.record(report_factory.report(host,
                                      configurations={'devices': devices}))


def _sink(engine):
    return reports_sink.HeartbeatSink(engine, 30, 0.1,
                                      device_sync=device_sync.DeviceSync())


def _devices(engine):
    with engine.connect() as connection:
        return {row.name: row for row in connection.execute(
            sa.select(models.devices))}


def _links(engine):
    with engine.connect() as connection:
        rows = connection.execute(
            sa.select(models.agents.c.host, models.devices.c.name,
                      models.agent_devices.c.missing,
                      models.agent_devices.c.health,
                      models.agent_devices.c.load)
            .select_from(models.agent_devices.join(models.agents).join(
                models.devices)))
        return {(row.host, row.name): row for row in rows}


def test_reported_devices_are_registered_and_linked(database):
    engine = database.engine()
    sink = _sink(engine)
    _report(sink, 'h1', [_device('lb-a', load=3), _device('lb-b')])
    sink.flush()
    devices = _devices(engine)
    assert sorted(devices) == ['lb-a', 'lb-b']
    lb_a = devices['lb-a']
    assert lb_a.source == constants.DEVICE_SOURCE_REPORTED
    assert lb_a.health == 'OK'
    assert json.loads(lb_a.capabilities) == {'ssl': True}
    assert json.loads(lb_a.physical_info) == {'address': '10.0.0.1'}
    assert lb_a.availability_zone == 'nova'
    links = _links(engine)
    assert links[('h1', 'lb-a')].load == 3
    assert not links[('h1', 'lb-a')].missing


def test_another_agents_device_is_refused_until_an_admin_links_it(database):
    """Issue 11: a host naming an existing device it is not linked to must
    neither redefine it nor get linked to it (and so to its credentials)."""
    engine = database.engine()
    sink = _sink(engine)
    _report(sink, 'h1', [_device('shared', health='DOWN')])
    _report(sink, 'h2', [_device('shared', health='OK', capacity=1,
                                 address='192.0.2.66'),
                         _device('own')])
    sink.flush()
    assert sorted(_devices(engine)) == ['own', 'shared']
    shared = _devices(engine)['shared']
    assert (shared.health, shared.capacity) == ('DOWN', 10)
    assert json.loads(shared.physical_info) == {'address': '10.0.0.1'}
    assert set(_links(engine)) == {('h1', 'shared'), ('h2', 'own')}
    assert sink._device_sync.refused == 1

    # An admin links h2 (an HA pair): its reports now count for the device.
    with engine.begin() as connection:
        h2 = connection.execute(sa.select(models.agents.c.id).where(
            models.agents.c.host == 'h2')).scalar()
        devices_db.link(connection, h2, shared.id, liveness.utcnow(),
                        'UNKNOWN', None)
    _report(sink, 'h2', [_device('shared', health='OK'), _device('own')])
    sink.flush()
    assert _devices(engine)['shared'].health == 'OK'
    assert set(_links(engine)) == {('h1', 'shared'), ('h2', 'shared'),
                                   ('h2', 'own')}


def test_a_device_no_longer_reported_is_marked_missing_not_deleted(database):
    engine = database.engine()
    sink = _sink(engine)
    now = liveness.utcnow()
    sink.record(report_factory.report('h1', configurations={'devices': [
        _device('lb-a'), _device('lb-b', health='DOWN')]}), now)
    sink.flush()
    sink.record(report_factory.report('h1', configurations={'devices': [
        _device('lb-b', health='DOWN')]}), now)
    sink.flush()
    links = _links(engine)
    assert links[('h1', 'lb-a')].missing is True
    assert links[('h1', 'lb-b')].missing is False
    devices = _devices(engine)
    assert sorted(devices) == ['lb-a', 'lb-b']
    assert devices['lb-a'].health == 'UNKNOWN'  # no live report of it
    # Reported again: linked again.
    sink.record(report_factory.report('h1', configurations={'devices': [
        _device('lb-a'), _device('lb-b', health='DOWN')]}), now)
    sink.flush()
    assert _links(engine)[('h1', 'lb-a')].missing is False
    assert _devices(engine)['lb-a'].health == 'OK'


def test_invalid_devices_are_ignored_with_a_warning(database, caplog):
    engine = database.engine()
    sink = _sink(engine)
    with caplog.at_level(logging.WARNING):
        _report(sink, 'h1', [
            _device('ok'),
            _device('gw', device_type='strongswan', service_type='VPN',
                    address=''),
            _device('odd', device_type='teleporter'),
            _device('wrong', device_type='haproxy', service_type='VPN')])
        sink.flush()
    assert list(_devices(engine)) == ['ok']
    text = caplog.text
    assert "'gw', ignored: physical_info for device_type strongswan" in text
    assert "Unknown device_type 'teleporter'" in text
    assert 'serves LOADBALANCER, not VPN' in text


def test_admin_devices_keep_their_description(database):
    engine = database.engine()
    now = liveness.utcnow()
    with engine.begin() as connection:
        connection.execute(sa.insert(models.devices).values(
            id='adm', name='lb-admin', device_type='haproxy',
            service_type='LOADBALANCER', capabilities='{"tier":"gold"}',
            capacity=99, physical_info='{"address":"192.0.2.9"}',
            health='UNKNOWN', source='admin', created_at=now))
    sink = _sink(engine)
    # Not linked to h1: a report cannot claim an admin's device (issue 11).
    _report(sink, 'h1', [_device('lb-admin', capacity=1)])
    sink.flush()
    assert ('h1', 'lb-admin') not in _links(engine)
    assert _devices(engine)['lb-admin'].health == 'UNKNOWN'
    # Linked by the admin, h1's reports carry its health, never its
    # description.
    with engine.begin() as connection:
        h1 = connection.execute(sa.select(models.agents.c.id).where(
            models.agents.c.host == 'h1')).scalar()
        devices_db.link(connection, h1, 'adm', now, 'UNKNOWN', None)
    _report(sink, 'h1', [_device('lb-admin', capacity=2)])
    sink.flush()
    device = _devices(engine)['lb-admin']
    assert device.capacity == 99
    assert json.loads(device.capabilities) == {'tier': 'gold'}
    assert device.health == 'OK'
    assert ('h1', 'lb-admin') in _links(engine)


def test_reported_changes_update_the_device(database):
    engine = database.engine()
    sink = _sink(engine)
    now = liveness.utcnow()
    sink.record(report_factory.report('h1', configurations={'devices': [
        _device('lb-a')]}), now)
    sink.flush()
    revision = _devices(engine)['lb-a'].revision_number
    sink.record(report_factory.report('h1', configurations={'devices': [
        _device('lb-a')]}), now)
    sink.flush()
    assert _devices(engine)['lb-a'].revision_number == revision
    sink.record(report_factory.report('h1', configurations={'devices': [
        _device('lb-a', capacity=20)]}), now)
    sink.flush()
    device = _devices(engine)['lb-a']
    assert device.capacity == 20
    assert device.revision_number == revision + 1


def test_a_failing_device_sync_is_logged_counted_and_not_repeated(
        database, caplog):
    """Bad values bypassing the schema (it refuses them): the agent's sync
    fails alone, with one ERROR line (a traceback the first time only),
    and is not retried until the agent reports other devices."""
    engine = database.engine()
    sink = _sink(engine)
    with caplog.at_level(logging.ERROR):
        _report(sink, 'h1', [_device('lb-a', load=float('nan'))])
        _report(sink, 'h2', [_device('lb-b')])
        for _ in range(3):
            _report(sink, 'h1', [_device('lb-a', load=float('nan'))])
            sink.flush()
        # Infinity serializes as NaN does (null): a changed document needs
        # another change.
        _report(sink, 'h1', [_device('lb-a', load=float('inf'), capacity=9)])
        sink.flush()
    records = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert [r.getMessage() for r in records] == [
        "Could not update the devices of agent Loadbalancer agent on h1 "
        "(ValueError: cannot convert float NaN to integer); ignored until "
        "it reports other devices",
        "Could not update the devices of agent Loadbalancer agent on h1 "
        "(OverflowError: cannot convert float infinity to integer); "
        "ignored until it reports other devices"]
    assert records[0].exc_info and not records[1].exc_info
    assert sink.failed_writes == 2
    assert set(_links(engine)) == {('h2', 'lb-b')}
    _report(sink, 'h1', [_device('lb-a', load=7)])
    sink.flush()
    assert _links(engine)[('h1', 'lb-a')].load == 7


def test_a_deleted_agent_gets_its_own_devices_back_and_no_one_else(database):
    """Deleting an agent drops its links; its host's reports link the
    devices it created again, another host's do not."""
    engine = database.engine()
    sink = _sink(engine)
    _report(sink, 'h1', [_device('lb-a')])
    sink.flush()
    with engine.begin() as connection:
        connection.execute(sa.delete(models.agents).where(
            models.agents.c.host == 'h1'))
    assert _links(engine) == {}
    _report(sink, 'h2', [_device('lb-a', capacity=1)])
    sink.flush()
    assert _links(engine) == {}
    assert sink._device_sync.refused == 1
    sink = _sink(engine)   # the server restarted: h1 registers anew
    _report(sink, 'h1', [_device('lb-a')])
    sink.flush()
    assert set(_links(engine)) == {('h1', 'lb-a')}
    assert _devices(engine)['lb-a'].capacity == 10


class _Notifier:
    def devices_updated(self, agent):
        pass


def test_an_admin_link_takes_the_health_the_agent_already_reports(
        database, parsed_conf):
    """An admin's device, linked to an agent that already reports it, stayed
    UNKNOWN (unplaceable): the report refused before the link never changes,
    and the server reconciles devices only on a changed report (issue 14)."""
    engine = database.engine()
    now = liveness.utcnow()
    with engine.begin() as connection:
        connection.execute(sa.insert(models.devices).values(
            id='adm', name='lb-admin', device_type='haproxy',
            service_type='LOADBALANCER', capabilities='{}', capacity=9,
            physical_info='{"address":"192.0.2.9"}', health='UNKNOWN',
            source='admin', created_at=now))
    sink = _sink(engine)
    _report(sink, 'h1', [_device('lb-admin', load=4)])
    sink.flush()
    assert _devices(engine)['lb-admin'].health == 'UNKNOWN'
    with engine.connect() as connection:
        h1 = connection.execute(sa.select(models.agents.c.id).where(
            models.agents.c.host == 'h1')).scalar()
    service = devices_service.DeviceService(
        engine, parsed_conf, _Notifier(), secrets.SecretBox([]))
    assert service.add_to_agent(h1, device_id='adm').health == 'OK'
    # The same report again: nothing to reconcile, the health holds.
    _report(sink, 'h1', [_device('lb-admin', load=4)])
    sink.flush()
    assert _devices(engine)['lb-admin'].health == 'OK'
    assert _links(engine)[('h1', 'lb-admin')].load == 4
