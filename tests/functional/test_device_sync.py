"""Devices from heartbeats, on SQLite, PostgreSQL and MariaDB."""

import json
import logging

import sqlalchemy as sa

from agentsched import constants
from agentsched.db import models
from agentsched.health import liveness
from agentsched.reports import device_sync
from agentsched.reports import sink as reports_sink
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


def test_a_shared_device_has_one_row_and_a_link_per_agent(database):
    engine = database.engine()
    sink = _sink(engine)
    _report(sink, 'h1', [_device('shared', health='DOWN')])
    _report(sink, 'h2', [_device('shared', health='OK')])
    sink.flush()
    assert list(_devices(engine)) == ['shared']
    assert _devices(engine)['shared'].health == 'OK'
    assert set(_links(engine)) == {('h1', 'shared'), ('h2', 'shared')}


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
    _report(sink, 'h1', [_device('lb-admin', capacity=1)])
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
