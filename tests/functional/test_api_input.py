"""Client mistakes the API answers with a 400, not a guess (issue 13,
item 8)."""

import pytest

from tests import api_fixtures


@pytest.fixture
def client(parsed_conf, database):
    parsed_conf.set_override('auth_strategy', 'noauth')
    yield api_fixtures.client(parsed_conf, database.engine())
    parsed_conf.clear_override('auth_strategy')


@pytest.mark.parametrize('body', [
    b'{"device": {"name": "a", "name": "b", "device_type": "noop"}}',
    b'{"device": {"name": "a", "device_type": "noop"}, "device": {}}',
])
def test_duplicate_keys_are_refused(client, body):
    response = client.post('/v2.0/devices', data=body,
                           content_type='application/json')
    assert response.status_code == 400, response.get_data(as_text=True)
    error = response.json['NeutronError']
    assert error['type'] == 'HTTPBadRequest'
    assert 'duplicate key' in error['message']
    assert ("'name'" in error['message']) or ("'device'" in error['message'])
    assert client.get('/v2.0/devices').json['devices'] == []


@pytest.mark.parametrize('number', [2 ** 64, -2 ** 63 - 1, 2 ** 70])
def test_integers_orjson_cannot_keep_exact_are_refused(client, number):
    # orjson reads them as floats: a VIP's connection_limit of 2**70 was
    # stored and shown as 1.1805916207174113e+21 (found by the stateful
    # schemathesis run in test_openapi.py).
    body = b'{"device": {"name": "a", "device_type": "noop", ' \
           b'"capacity": %d}}' % number
    response = client.post('/v2.0/devices', data=body,
                           content_type='application/json')
    assert response.status_code == 400, response.get_data(as_text=True)
    error = response.json['NeutronError']
    assert error['type'] == 'HTTPBadRequest'
    assert 'integer out of range' in error['message']
    assert client.get('/v2.0/devices').json['devices'] == []


@pytest.mark.parametrize('capacity', [2 ** 31, 2 ** 40])
def test_a_capacity_the_database_cannot_store_is_a_400(client, capacity):
    """devices.capacity is a 32-bit integer column: a larger capacity was a
    500 (PostgreSQL's integer out of range)."""
    response = client.post('/v2.0/devices', json={'device': {
        'name': 'big', 'device_type': 'noop', 'capacity': capacity}})
    assert response.status_code == 400, response.get_data(as_text=True)
    assert 'capacity' in response.json['NeutronError']['message']
    created = client.post('/v2.0/devices', json={'device': {
        'name': 'ok', 'device_type': 'noop', 'capacity': 2 ** 31 - 1}})
    assert created.status_code == 201, created.get_data(as_text=True)
    response = client.put('/v2.0/devices/%s' % created.json['device']['id'],
                          json={'device': {'capacity': capacity}})
    assert response.status_code == 400, response.get_data(as_text=True)


@pytest.mark.parametrize('name', ['..', '.', '../etc', 'a/b', 'tab\there',
                                  'esc\x1b[2J'])
def test_a_device_name_that_is_not_a_directory_name_is_a_400(client, name):
    response = client.post('/v2.0/devices', json={'device': {
        'name': name, 'device_type': 'noop'}})
    assert response.status_code == 400, response.get_data(as_text=True)
    assert 'name' in response.json['NeutronError']['message']


@pytest.mark.parametrize('name', ['esc\x1b[2J', 'line\nbreak', 'bell\x07',
                                  'c1\x9b31m', 'del\x7f', 'end\n'])
def test_a_name_with_control_characters_is_a_400(client, name):
    """Names reach operators' terminals and logs: a VIP's or a flavor's
    name with a control character is refused, when created and when
    changed; other text (spaces, any script) is a name."""
    vip = {'address': '10.0.0.10', 'protocol': 'HTTP', 'protocol_port': 80,
           'members': [{'address': '10.0.1.1', 'protocol_port': 8080}],
           'requirements': {'device_type': 'noop'}}
    response = client.post('/v2.0/lb/vips', json={'vip': dict(vip,
                                                              name=name)})
    assert response.status_code == 400, response.get_data(as_text=True)
    assert response.json['NeutronError']['message'] == (
        'Invalid request body: body.vip.name must not contain control '
        'characters')
    created = client.post('/v2.0/lb/vips', json={'vip': dict(
        vip, name='web front \u00e9\u65e5')})
    assert created.status_code == 201, created.get_data(as_text=True)
    response = client.put('/v2.0/lb/vips/%s' % created.json['vip']['id'],
                          json={'vip': {'name': name}})
    assert response.status_code == 400, response.get_data(as_text=True)
    response = client.post('/v2.0/flavors', json={'flavor': {
        'name': name, 'service_type': 'LOADBALANCER'}})
    assert response.status_code == 400, response.get_data(as_text=True)
    assert 'name' in response.json['NeutronError']['message']
