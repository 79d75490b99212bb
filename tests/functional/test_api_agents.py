"""The agents API over SQLite, PostgreSQL and MariaDB, through the full WSGI
pipeline (request id, body limit, auth, policy, Flask app)."""

import datetime
import urllib.parse
import uuid

import orjson
import pytest
import sqlalchemy as sa

from agentsched import liveness
from agentsched.api import listing
from agentsched.db import agents as agents_db
from agentsched.db import models
from tests import api_fixtures

DOWN = 3


@pytest.fixture
def api(parsed_conf, database):
    parsed_conf.set_override('agent_down_time', DOWN)
    parsed_conf.set_override('auth_strategy', 'noauth')
    engine = database.engine()
    notifier = api_fixtures.RecordingNotifier()
    yield api_fixtures.client(parsed_conf, engine, notifier), engine, notifier
    parsed_conf.clear_override('agent_down_time')
    parsed_conf.clear_override('auth_strategy')


def _error(response, status, type_=None):
    assert response.status_code == status, response.get_data(as_text=True)
    error = response.json['NeutronError']
    assert set(error) == {'type', 'message', 'detail'}
    if type_:
        assert error['type'] == type_
    return error['message']


def test_versions_extensions_and_resources(api):
    client, engine, _ = api
    versions = client.get('/', base_url='http://api.example:9797').json
    assert versions == {'versions': [{
        'id': 'v2.0', 'status': 'CURRENT', 'links': [{
            'rel': 'self', 'href': 'http://api.example:9797/v2.0/'}]}]}
    extensions = client.get('/v2.0/extensions').json['extensions']
    assert [e['alias'] for e in extensions] == [
        'agent', 'agent-devices', 'agent-scheduler', 'flavors', 'resources',
        'scheduler-health']
    assert set(extensions[0]) == {'alias', 'name', 'description',
                                  'updated', 'links'}
    assert client.get('/v2.0/extensions/agent').json['extension'][
        'name'] == 'agent'
    _error(client.get('/v2.0/extensions/nope'), 404, 'ExtensionNotFound')
    resources = client.get('/v2.0/').json['resources']
    assert [(r['name'], r['collection']) for r in resources] == [
        ('agent', 'agents'), ('device', 'devices'), ('flavor', 'flavors'),
        ('service_profile', 'service_profiles')]
    # Neutron answers /v2.0 too, the same, without a redirect.
    assert client.get('/v2.0').json['resources'] == resources


def test_show_has_neutrons_fields_and_formats(api):
    client, engine, _ = api
    agent_id = api_fixtures.add_agent(engine, 'h1', description='rack 4',
                                      configurations='{"devices":[{"a":1}]}')
    response = client.get('/v2.0/agents/%s' % agent_id)
    assert response.status_code == 200
    assert response.headers['x-openstack-request-id'].startswith('req-')
    agent = response.json['agent']
    assert set(agent) == {
        'id', 'agent_type', 'binary', 'topic', 'host', 'admin_state_up',
        'alive', 'created_at', 'started_at', 'heartbeat_timestamp',
        'description', 'configurations', 'availability_zone',
        'resources_synced', 'forced_down'}
    assert agent['alive'] is True
    assert agent['configurations'] == {'devices': [{'a': 1}]}
    datetime.datetime.strptime(agent['heartbeat_timestamp'],
                               '%Y-%m-%d %H:%M:%S')
    shown = client.get('/v2.0/agents/%s?fields=host&fields=alive' %
                       agent_id).json['agent']
    assert shown == {'host': 'h1', 'alive': True}
    assert 'could not be found' in _error(
        client.get('/v2.0/agents/%s' % uuid.uuid4()), 404, 'AgentNotFound')


def test_filters(api):
    client, engine, _ = api
    api_fixtures.add_agent(engine, 'a', agent_type='L3 agent')
    api_fixtures.add_agent(engine, 'b', admin_state_up=False)
    api_fixtures.add_agent(engine, 'c', age=DOWN + 5,
                           availability_zone='az2', description='old')

    def hosts(query):
        response = client.get('/v2.0/agents?' + query)
        assert response.status_code == 200, response.get_data(as_text=True)
        return sorted(a['host'] for a in response.json['agents'])

    assert hosts('') == ['a', 'b', 'c']
    assert hosts('agent_type=L3+agent') == ['a']
    assert hosts('host=a&host=c') == ['a', 'c']
    for false in ('False', 'false', '0'):
        assert hosts('admin_state_up=' + false) == ['b']
    for true in ('True', 'true', '1'):
        assert hosts('alive=' + true) == ['a', 'b']
    assert hosts('alive=false') == ['c']
    assert hosts('alive=true&alive=false') == ['a', 'b', 'c']
    assert hosts('availability_zone=az2') == ['c']
    assert hosts('description=old') == ['c']
    assert hosts('binary=agentsched-agent&topic=agentsched-lbaas-agent') == [
        'a', 'b', 'c']
    assert 'Invalid value' in _error(
        client.get('/v2.0/agents?alive=maybe'), 400)
    assert 'Unknown query parameter(s) colour' in _error(
        client.get('/v2.0/agents?colour=red'), 400)
    assert 'Unknown field(s) colour' in _error(
        client.get('/v2.0/agents?fields=colour'), 400)


def test_sorting(api):
    client, engine, _ = api
    for host, zone in (('h2', 'z1'), ('h1', 'z2'), ('h3', 'z1')):
        api_fixtures.add_agent(engine, host, availability_zone=zone)
    api_fixtures.add_agent(engine, 'h0', availability_zone=None)

    def hosts(query):
        return [a['host'] for a in client.get(
            '/v2.0/agents?fields=host&' + query).json['agents']]

    assert hosts('sort_key=host') == ['h0', 'h1', 'h2', 'h3']
    assert hosts('sort_key=host&sort_dir=desc') == ['h3', 'h2', 'h1', 'h0']
    assert hosts('sort_key=availability_zone&sort_dir=asc&sort_key=host'
                 '&sort_dir=desc') == ['h0', 'h3', 'h2', 'h1']
    assert 'invalid attribute for sort_key' in _error(
        client.get('/v2.0/agents?sort_key=alive'), 400)
    assert 'must be same' in _error(client.get(
        '/v2.0/agents?sort_key=host&sort_dir=asc&sort_dir=desc'), 400)
    assert 'invalid value for sort_dir' in _error(
        client.get('/v2.0/agents?sort_key=host&sort_dir=up'), 400)


def _walk(client, url, rel):
    """Follow agents_links of one kind; return the pages' hosts."""
    pages = []
    while url:
        body = client.get(url).json
        pages.append([a['host'] for a in body['agents']])
        url = None
        for link in body.get('agents_links', []):
            if link['rel'] == rel:
                parts = urllib.parse.urlsplit(link['href'])
                url = '%s?%s' % (parts.path, parts.query)
        if not pages[-1]:
            break
    return pages


@pytest.mark.parametrize('sort', ['', '&sort_key=availability_zone'
                                      '&sort_key=host&sort_dir=desc'
                                      '&sort_dir=asc'])
def test_paging_by_limit_and_marker_is_exact(api, sort):
    client, engine, _ = api
    for index in range(23):
        api_fixtures.add_agent(engine, 'host-%02d' % index,
                               availability_zone='az%d' % (index % 3))
    everything = [a['host'] for a in client.get(
        '/v2.0/agents?fields=host' + sort).json['agents']]
    assert len(everything) == 23
    pages = _walk(client, '/v2.0/agents?limit=5&fields=host' + sort, 'next')
    assert [len(p) for p in pages] == [5, 5, 5, 5, 3]
    assert sum(pages, []) == everything
    # Back from the last page through the previous links.
    body = client.get('/v2.0/agents?limit=5&fields=host%s&marker=%s' % (
        sort, client.get('/v2.0/agents?fields=id' + sort).json[
            'agents'][19]['id'])).json
    assert [a['host'] for a in body['agents']] == everything[20:]
    previous = [link for link in body['agents_links']
                if link['rel'] == 'previous'][0]['href']
    parts = urllib.parse.urlsplit(previous)
    back = _walk(client, '%s?%s' % (parts.path, parts.query), 'previous')
    assert sum(reversed(back), []) == everything[:20]


def test_paging_with_alive_filter_gives_full_pages(api):
    client, engine, _ = api
    for index in range(12):
        api_fixtures.add_agent(engine, 'h%02d' % index,
                               age=0 if index % 2 else DOWN + 10)
    pages = _walk(client, '/v2.0/agents?alive=true&limit=2', 'next')
    assert [len(p) for p in pages] == [2, 2, 2, 0]
    assert sorted(sum(pages, [])) == ['h%02d' % i for i in range(1, 12, 2)]


def test_the_full_list_is_streamed_in_batches(api, monkeypatch):
    """Without a limit the list is written piece by piece (STREAM_BATCH
    rows a fetch, 3 here, so 7 agents take 3; STREAM_PIECE rows written at
    a time, 2, so a batch's pieces end inside it and at its end): the same
    bytes as a page of them all, filters, fields and sorting as on pages,
    a bad marker still a 400 before any row, and the connection back in
    the pool after."""
    client, engine, _ = api
    monkeypatch.setattr(agents_db, 'STREAM_BATCH', 3)
    monkeypatch.setattr(listing, 'STREAM_PIECE', 2)
    for index in range(7):
        api_fixtures.add_agent(engine, 'h%d' % index,
                               age=0 if index % 2 else DOWN + 10)
    streamed = client.get('/v2.0/agents')
    # Streamed: no length known before the end.
    assert streamed.status_code == 200
    assert 'Content-Length' not in streamed.headers
    body = streamed.get_data()
    assert len(orjson.loads(body)['agents']) == 7
    page = client.get('/v2.0/agents?limit=100')
    assert int(page.headers['Content-Length']) == len(page.get_data())
    # The page's agents, byte for byte, then its links.
    assert page.get_data().startswith(body[:-1] + b',"agents_links":')
    hosts = client.get('/v2.0/agents?alive=true&fields=host'
                       '&sort_key=host&sort_dir=desc')
    assert 'Content-Length' not in hosts.headers
    assert hosts.json == {'agents': [{'host': 'h%d' % i}
                                     for i in (5, 3, 1)]}
    after = client.get('/v2.0/agents?marker=%s' % orjson.loads(body)[
        'agents'][4]['id']).json['agents']
    assert after == orjson.loads(body)['agents'][5:]
    assert 'is not an agent id' in _error(
        client.get('/v2.0/agents?marker=nope'), 400)
    assert client.get('/v2.0/agents?hosts=none').status_code == 400
    assert client.get('/v2.0/agents?host=none').json == {'agents': []}
    if hasattr(engine.pool, 'checkedout'):
        assert engine.pool.checkedout() == 0


def test_a_list_closed_early_gives_its_connection_back(api, monkeypatch):
    """A client gone mid-list: the response closed after its first rows
    stops the read-ahead and returns its connection before close ends."""
    client, engine, _ = api
    monkeypatch.setattr(agents_db, 'STREAM_BATCH', 1)
    monkeypatch.setattr(listing, 'STREAM_PIECE', 1)
    for index in range(20):
        api_fixtures.add_agent(engine, 'h%02d' % index)
    response = client.get('/v2.0/agents', buffered=False)
    chunks = response.iter_encoded()
    assert next(chunks).startswith(b'{"agents":[')
    response.close()
    if hasattr(engine.pool, 'checkedout'):
        assert engine.pool.checkedout() == 0


def test_limit_rules(api, parsed_conf):
    client, engine, _ = api
    for index in range(4):
        api_fixtures.add_agent(engine, 'h%d' % index)
    assert len(client.get('/v2.0/agents?limit=0').json['agents']) == 4
    parsed_conf.set_override('pagination_max_limit', 3, 'api')
    try:
        assert len(client.get('/v2.0/agents?limit=10').json['agents']) == 3
    finally:
        parsed_conf.clear_override('pagination_max_limit', 'api')
    assert 'expected an integer' in _error(
        client.get('/v2.0/agents?limit=-1'), 400)
    assert 'is not an agent id' in _error(
        client.get('/v2.0/agents?limit=2&marker=nope'), 400)


def test_update(api):
    client, engine, notifier = api
    agent_id = api_fixtures.add_agent(engine, 'h1')
    url = '/v2.0/agents/%s' % agent_id
    response = client.put(url, json={'agent': {'description': 'maint'}})
    assert response.json['agent']['description'] == 'maint'
    assert notifier.calls == []
    response = client.put(url, json={'agent': {'admin_state_up': False}})
    assert response.json['agent']['admin_state_up'] is False
    assert notifier.calls == [('h1', False)]
    client.put(url, json={'agent': {'admin_state_up': False}})
    assert notifier.calls == [('h1', False)]  # no change, no cast
    assert "host" in _error(client.put(url, json={'agent': {'host': 'x'}}),
                            400)
    assert 'description must be shorter' in _error(client.put(
        url, json={'agent': {'description': 'x' * 256}}), 400)
    assert 'admin_state_up must be boolean' in _error(client.put(
        url, json={'agent': {'admin_state_up': 'no'}}), 400)
    assert 'not valid JSON' in _error(client.put(
        url, data='{', content_type='application/json'), 400)
    _error(client.put(url, data='x', content_type='text/plain'), 415)
    _error(client.put('/v2.0/agents/%s' % uuid.uuid4(),
                      json={'agent': {}}), 404, 'AgentNotFound')


def _bind_a_resource(engine, agent_id):
    now = liveness.utcnow()
    with engine.begin() as connection:
        connection.execute(sa.insert(models.devices).values(
            id='d1', name='d1', device_type='noop',
            service_type='LOADBALANCER', capabilities='{}', capacity=10,
            physical_info='{}', health='OK', source='admin',
            created_at=now))
        connection.execute(sa.insert(models.resources).values(
            id='r1', project_id='p', resource_type='vip', spec='{}',
            requirements='{}', units=1, status='ACTIVE', created_at=now))
        connection.execute(sa.insert(models.bindings).values(
            resource_id='r1', device_id='d1', agent_id=agent_id,
            generation=1, created_at=now))


def test_delete(api):
    client, engine, _ = api
    idle = api_fixtures.add_agent(engine, 'idle')
    assert client.delete('/v2.0/agents/%s' % idle).status_code == 204
    _error(client.get('/v2.0/agents/%s' % idle), 404)
    busy = api_fixtures.add_agent(engine, 'busy')
    _bind_a_resource(engine, busy)
    message = _error(client.delete('/v2.0/agents/%s' % busy), 409,
                     'AgentInUse')
    assert 'alive and hosts 1 resource' in message
    with engine.begin() as connection:
        connection.execute(sa.update(models.agents).values(
            heartbeat_timestamp=liveness.utcnow() -
            datetime.timedelta(seconds=DOWN + 1)))
    assert client.delete('/v2.0/agents/%s' % busy).status_code == 204
    _error(client.delete('/v2.0/agents/%s' % busy), 404)


def test_create_and_unknown_methods(api):
    client, engine, _ = api
    assert _error(client.post('/v2.0/agents', json={'agent': {}}), 400) == \
        'Agent creation using API is not supported'
    response = client.patch('/v2.0/agents')
    _error(response, 405, 'HTTPMethodNotAllowed')
    assert 'GET' in response.headers['Allow']
    _error(client.get('/v2.0/nothing'), 404, 'HTTPNotFound')


def test_body_size_limit(api):
    client, engine, _ = api
    agent_id = api_fixtures.add_agent(engine, 'h1')
    response = client.put('/v2.0/agents/%s' % agent_id,
                          data='{"agent": {"description": "%s"}}' % (
                              'x' * 200000),
                          content_type='application/json')
    assert response.status_code == 413


def test_nul_characters_are_refused_before_the_database(api):
    """PostgreSQL refuses NUL in text; the API answers 4xx, never 500."""
    client, engine, _ = api
    agent_id = api_fixtures.add_agent(engine, 'h1')
    assert 'NUL' in _error(client.get('/v2.0/agents?host=a%00b'), 400)
    _error(client.get('/v2.0/agents/%s%%00' % agent_id), 404)
    _error(client.delete('/v2.0/agents/x%00'), 404)
    assert 'NUL' in _error(client.put(
        '/v2.0/agents/%s' % agent_id,
        data='{"agent": {"description": "a\\u0000b"}}',
        content_type='application/json'), 400)
