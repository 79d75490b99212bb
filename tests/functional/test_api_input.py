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


@pytest.mark.parametrize('name', ['\x1b[31mred\x1b[0m', 'title\x07',
                                  'two\nlines', 'trailing\n', 'cr\r',
                                  '\x9bcsi'])
def test_control_characters_in_a_vip_name_are_refused(client, name):
    for response in (
            client.post('/v2.0/lb/vips', json={'vip': {
                'name': name, 'address': '198.51.100.7', 'protocol': 'HTTP',
                'protocol_port': 80}}),):
        assert response.status_code == 400, response.get_data(as_text=True)
        assert 'name' in response.json['NeutronError']['message']
    assert client.get('/v2.0/lb/vips').json['vips'] == []
