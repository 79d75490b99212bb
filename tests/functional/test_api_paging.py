"""Every sort key pages through markers without a 500 (issue 13, item 5):
the API's own next links, followed to the end, give every row once, in
order, on SQLite, PostgreSQL and MariaDB."""

import urllib.parse

import pytest

from agentsched.db import agents as agents_db
from agentsched.db import devices as devices_db
from tests import api_fixtures


@pytest.fixture
def api(parsed_conf, database):
    parsed_conf.set_override('auth_strategy', 'noauth')
    engine = database.engine()
    yield api_fixtures.client(parsed_conf, engine), engine
    parsed_conf.clear_override('auth_strategy')


def _walk(client, collection, sort_key, direction):
    """Ids of every page, following next links from a first page of 2."""
    path = '/v2.0/%s?sort_key=%s&sort_dir=%s&limit=2' % (
        collection, sort_key, direction)
    seen = []
    while path:
        response = client.get(path)
        assert response.status_code == 200, (path, response.get_data())
        seen += [item['id'] for item in response.json[collection]]
        links = {link['rel']: link['href'] for link in
                 response.json.get(collection + '_links', ())}
        path = None
        if 'next' in links:
            href = urllib.parse.urlsplit(links['next'])
            path = '%s?%s' % (href.path, href.query)
    return seen


def _all(client, collection, sort_key, direction):
    response = client.get('/v2.0/%s?sort_key=%s&sort_dir=%s' % (
        collection, sort_key, direction))
    assert response.status_code == 200
    return [item['id'] for item in response.json[collection]]


def test_agents_page_by_every_sort_key(api):
    client, engine = api
    for index in range(5):
        api_fixtures.add_agent(engine, 'h%d' % index,
                               admin_state_up=bool(index % 2),
                               forced_down=index == 3,
                               description=None if index % 2 else 'd%d' % index)
    for key in agents_db.SORT_COLUMNS:
        for direction in ('asc', 'desc'):
            assert _walk(client, 'agents', key, direction) == \
                _all(client, 'agents', key, direction), key


def test_devices_page_by_every_sort_key(api):
    client, _ = api
    for index in range(5):
        response = client.post('/v2.0/devices', json={'device': {
            'name': 'gw-%d' % index, 'device_type': 'strongswan',
            'physical_info': {'address': '203.0.113.%d' % (index + 1)},
            'capacity': 10 + index % 2, 'admin_state_up': bool(index % 2)}})
        assert response.status_code == 201, response.get_data()
    for key in devices_db.SORT_COLUMNS:
        for direction in ('asc', 'desc'):
            assert _walk(client, 'devices', key, direction) == \
                _all(client, 'devices', key, direction), key


def _next_link(client, headers=None):
    response = client.get('/v2.0/agents?limit=1', headers=headers or {})
    return {link['rel']: link['href'] for link in
            response.json['agents_links']}['next']


def test_links_ignore_the_host_header(api, parsed_conf):
    """Issue 13, item 8: a client's Host header does not reach links
    other clients follow."""
    client, engine = api
    for index in range(2):
        api_fixtures.add_agent(engine, 'h%d' % index)
    link = _next_link(client, {'Host': 'evil.example:666'})
    assert 'evil.example' not in link
    assert link.startswith('http://%s:' % parsed_conf.bind_host)
    parsed_conf.set_override('public_endpoint', 'https://api.example.com/',
                             'api')
    try:
        link = _next_link(client, {'Host': 'evil.example'})
        assert link.startswith('https://api.example.com/v2.0/agents?')
    finally:
        parsed_conf.clear_override('public_endpoint', 'api')
    parsed_conf.set_override('enable_proxy_headers_parsing', True,
                             'oslo_middleware')
    try:
        link = _next_link(client, {'X-Forwarded-Host': 'lb.example.com',
                                   'X-Forwarded-Proto': 'https'})
        assert link.startswith('https://lb.example.com/v2.0/agents?')
    finally:
        parsed_conf.clear_override('enable_proxy_headers_parsing',
                                   'oslo_middleware')
