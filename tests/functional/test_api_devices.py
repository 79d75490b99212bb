"""The devices extension over SQLite, PostgreSQL and MariaDB."""

import datetime

import pytest
import sqlalchemy as sa

from agentsched import liveness
from agentsched.db import models
from agentsched.services import secrets
from tests import api_fixtures

SECRET = 'correct-horse-battery-staple'


@pytest.fixture
def box():
    return secrets.SecretBox([secrets.generate_key()])


@pytest.fixture
def api(parsed_conf, database, box):
    parsed_conf.set_override('auth_strategy', 'noauth')
    # Long enough that an agent added at a test's start stays alive through
    # it on a loaded machine; a dead one is made older (_agent's age).
    parsed_conf.set_override('agent_down_time', 30)
    engine = database.engine()
    notifier = api_fixtures.RecordingNotifier()
    yield (api_fixtures.client(parsed_conf, engine, notifier, box), engine,
           notifier)
    parsed_conf.clear_override('auth_strategy')
    parsed_conf.clear_override('agent_down_time')


def _error(response, status, type_=None):
    assert response.status_code == status, response.get_data(as_text=True)
    error = response.json['NeutronError']
    if type_:
        assert error['type'] == type_
    return error['message']


def _create(client, **fields):
    device = {'name': 'gw-1', 'device_type': 'strongswan',
              'physical_info': {'address': '203.0.113.5'},
              'capabilities': {'ikev2': True}, 'capacity': 20}
    device.update(fields)
    return client.post('/v2.0/devices', json={'device': device})


def test_create_show_list(api):
    client, engine, _ = api
    response = _create(client, credentials={'private_key': SECRET})
    assert response.status_code == 201, response.get_data(as_text=True)
    device = response.json['device']
    assert device['has_credentials'] is True
    assert 'credentials' not in device
    assert SECRET not in response.get_data(as_text=True)
    assert device['service_type'] == 'VPN'
    assert device['source'] == 'admin'
    assert device['health'] == 'UNKNOWN'
    assert device['revision_number'] == 0
    shown = client.get('/v2.0/devices/%s' % device['id']).json['device']
    assert shown == device
    listed = client.get('/v2.0/devices?device_type=strongswan').json
    assert [d['id'] for d in listed['devices']] == [device['id']]
    assert client.get('/v2.0/devices?device_type=haproxy').json == {
        'devices': []}
    only = client.get('/v2.0/devices/%s?fields=name&fields=capabilities' %
                      device['id']).json['device']
    assert only == {'name': 'gw-1', 'capabilities': {'ikev2': True}}


def test_credentials_are_encrypted_at_rest(api, box):
    client, engine, _ = api
    device = _create(client, credentials={'private_key': SECRET}).json[
        'device']
    with engine.connect() as connection:
        stored = connection.execute(sa.select(models.devices.c.credentials)
                                    .where(models.devices.c.id ==
                                           device['id'])).scalar()
    assert SECRET not in stored
    assert box.decrypt(stored) == {'private_key': SECRET}


def test_create_errors(api):
    client, engine, _ = api
    message = _error(_create(client, device_type='teleporter'), 400)
    assert "Unknown device_type 'teleporter'; known: haproxy, haproxy_ssh, " \
        "noop, strongswan" in message
    assert 'physical_info for device_type strongswan' in _error(
        _create(client, physical_info={}), 400)
    assert 'credentials for device_type strongswan' in _error(
        _create(client, credentials={'password': 'x'}), 400)
    assert 'serves LOADBALANCER, not VPN' in _error(
        _create(client, device_type='haproxy', service_type='VPN',
                physical_info={}), 400)
    assert _create(client).status_code == 201
    _error(_create(client), 409, 'DeviceNameInUse')
    assert 'capacity must be bigger' in _error(_create(
        client, name='x', capacity=-1), 400)


def test_update_with_revision_number(api, box):
    client, engine, notifier = api
    device = _create(client).json['device']
    url = '/v2.0/devices/%s' % device['id']
    response = client.put(url, json={'device': {'capacity': 30}},
                          headers={'If-Match': 'revision_number=0'})
    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.json['device']['capacity'] == 30
    assert response.json['device']['revision_number'] == 1
    assert 'Constrained to 0, but current revision is 1' in _error(
        client.put(url, json={'device': {'capacity': 40}},
                   headers={'If-Match': 'revision_number=0'}), 412,
        'RevisionNumberConstraintFailed')
    _error(client.put(url, json={'device': {'capacity': 40}},
                      headers={'If-Match': 'yesterday'}), 400)
    response = client.put(url, json={'device': {
        'credentials': {'private_key': SECRET}}})
    assert response.json['device']['has_credentials'] is True
    assert SECRET not in response.get_data(as_text=True)
    response = client.put(url, json={'device': {'credentials': None}})
    assert response.status_code == 400  # credentials must be an object
    response = client.put(url, json={'device': {'credentials': {}}})
    assert response.json['device']['has_credentials'] is False
    assert 'device_type' in _error(client.put(url, json={'device': {
        'device_type': 'noop'}}), 400)


def _agent(engine, host, age=0):
    return api_fixtures.add_agent(engine, host, age=age)


def _bind(engine, device_id, agent_id):
    now = liveness.utcnow()
    with engine.begin() as connection:
        connection.execute(sa.insert(models.resources).values(
            id='r1', project_id='p', resource_type='vpn_connection',
            spec='{}', requirements='{}', units=1, status='ACTIVE',
            created_at=now))
        connection.execute(sa.insert(models.bindings).values(
            resource_id='r1', device_id=device_id, agent_id=agent_id,
            generation=1, created_at=now))


def test_agent_device_lists(api):
    client, engine, notifier = api
    first, second = _agent(engine, 'h1'), _agent(engine, 'h2')
    device = _create(client).json['device']
    response = client.post('/v2.0/agents/%s/devices' % first,
                           json={'device_id': device['id']})
    assert response.status_code == 201
    assert notifier.calls == [('h1', 'devices_updated')]
    _error(client.post('/v2.0/agents/%s/devices' % first,
                       json={'device_id': device['id']}), 409)
    created = client.post('/v2.0/agents/%s/devices' % second, json={
        'device': {'name': 'lb-9', 'device_type': 'haproxy'}})
    assert created.status_code == 201
    assert created.json['device']['service_type'] == 'LOADBALANCER'
    client.post('/v2.0/agents/%s/devices' % second,
                json={'device_id': device['id']})
    names = sorted(d['name'] for d in client.get(
        '/v2.0/agents/%s/devices' % second).json['devices'])
    assert names == ['gw-1', 'lb-9']
    agents = client.get('/v2.0/devices/%s/agents' % device['id']).json[
        'agents']
    assert sorted(a['host'] for a in agents) == ['h1', 'h2']
    assert all(a['alive'] for a in agents)
    _error(client.post('/v2.0/agents/%s/devices' % first, json={}), 400)
    _error(client.post('/v2.0/agents/%s/devices' % first,
                       json={'device_id': 'nope'}), 404, 'DeviceNotFound')
    _error(client.get('/v2.0/agents/nope/devices'), 404, 'AgentNotFound')


def test_dissociate_keeps_resources_reachable(api):
    client, engine, notifier = api
    first, second = _agent(engine, 'h1'), _agent(engine, 'h2', age=100)
    device = _create(client).json['device']
    for agent in (first, second):
        client.post('/v2.0/agents/%s/devices' % agent,
                    json={'device_id': device['id']})
    _bind(engine, device['id'], first)
    # h2 is dead: without h1 nobody alive would reach the bound device.
    message = _error(client.delete('/v2.0/agents/%s/devices/%s' % (
        first, device['id'])), 409, 'DeviceInUse')
    assert 'no other alive, admin-up agent reaches it' in message
    assert client.delete('/v2.0/agents/%s/devices/%s' % (
        second, device['id'])).status_code == 204
    third = _agent(engine, 'h3')
    client.post('/v2.0/agents/%s/devices' % third,
                json={'device_id': device['id']})
    assert client.delete('/v2.0/agents/%s/devices/%s' % (
        first, device['id'])).status_code == 204
    _error(client.delete('/v2.0/agents/%s/devices/%s' % (
        first, device['id'])), 404, 'DeviceNotOnAgent')
    _error(client.delete('/v2.0/devices/%s' % device['id']), 409,
           'DeviceInUse')


def test_delete_device(api):
    client, engine, notifier = api
    agent = _agent(engine, 'h1')
    device = _create(client).json['device']
    client.post('/v2.0/agents/%s/devices' % agent,
                json={'device_id': device['id']})
    notifier.calls.clear()
    assert client.delete('/v2.0/devices/%s' % device['id']).status_code == 204
    assert notifier.calls == [('h1', 'devices_updated')]
    _error(client.get('/v2.0/devices/%s' % device['id']), 404)


def test_no_key_no_credentials(parsed_conf, database):
    parsed_conf.set_override('auth_strategy', 'noauth')
    try:
        client = api_fixtures.client(parsed_conf, database.engine(),
                                     secret_box=secrets.SecretBox([]))
        message = _error(_create(client, credentials={'private_key': 'x'}),
                         409, 'NoEncryptionKey')
        assert 'encryption_keys' in message
        assert _create(client).status_code == 201
    finally:
        parsed_conf.clear_override('auth_strategy')


def test_key_rotation():
    old, new = secrets.generate_key(), secrets.generate_key()
    token = secrets.SecretBox([old]).encrypt({'password': SECRET})
    both = secrets.SecretBox([new, old])
    assert both.decrypt(token) == {'password': SECRET}
    rotated = both.rotate(token)
    assert secrets.SecretBox([new]).decrypt(rotated) == {'password': SECRET}
    with pytest.raises(secrets.NoEncryptionKey):
        secrets.SecretBox([new]).decrypt(token)


def test_health_is_unknown_without_a_live_agent(api):
    """A device whose only agent died, or was deleted, showed the health
    that agent last reported (issue 14): nobody knows it any more."""
    client, engine, _ = api
    agent = _agent(engine, 'h1')
    device = _create(client).json['device']
    client.post('/v2.0/agents/%s/devices' % agent,
                json={'device_id': device['id']})
    with engine.begin() as connection:
        connection.execute(sa.update(models.devices).values(health='OK'))

    def shown():
        one = client.get('/v2.0/devices/%s' % device['id']).json['device']
        listed = client.get('/v2.0/devices').json['devices']
        by_health = {health: [d['id'] for d in client.get(
            '/v2.0/devices?health=%s' % health).json['devices']]
            for health in ('OK', 'UNKNOWN')}
        assert [d['health'] for d in listed] == [one['health']]
        assert by_health[one['health']] == [device['id']]
        return one['health']

    assert shown() == 'OK'
    with engine.begin() as connection:
        connection.execute(sa.update(models.agents).values(
            heartbeat_timestamp=liveness.utcnow() -
            datetime.timedelta(seconds=100)))
    assert shown() == 'UNKNOWN'
    # The admin state is the admin's intent, not a health: it stays.
    assert client.get('/v2.0/devices/%s' % device['id']).json[
        'device']['admin_state_up'] is True
    with engine.begin() as connection:
        connection.execute(sa.update(models.agents).values(
            heartbeat_timestamp=liveness.utcnow()))
    assert shown() == 'OK'
    client.delete('/v2.0/agents/%s' % agent)
    assert shown() == 'UNKNOWN'
