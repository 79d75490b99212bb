"""Authentication strategies and policy on every admin route."""

import base64
import uuid

import bcrypt
from keystonemiddleware import fixture as ksm_fixture
import pytest

from agentsched.api import auth
from tests import api_fixtures
from tests import commands

ADMIN_ROUTES = [
    ('get', '/v2.0/agents', None),
    ('get', '/v2.0/agents/{id}', None),
    ('put', '/v2.0/agents/{id}', {'agent': {'description': 'x'}}),
    ('delete', '/v2.0/agents/{id}', None),
    ('post', '/v2.0/agents', {'agent': {}}),
    ('get', '/v2.0/openapi.json', None),
]


@pytest.fixture
def engine(tmp_path, parsed_conf):
    from tests import conftest
    db = conftest.make_database('sqlite', tmp_path)
    yield db.engine()
    db.close()


@pytest.fixture
def strategy(parsed_conf):
    def use(name, **api_options):
        parsed_conf.set_override('auth_strategy', name)
        for key, value in api_options.items():
            parsed_conf.set_override(key, value, 'api')
        overridden.append(api_options)
    overridden = []
    yield use
    parsed_conf.clear_override('auth_strategy')
    for api_options in overridden:
        for key in api_options:
            parsed_conf.clear_override(key, 'api')


def _call(client, method, path, body, headers):
    return getattr(client, method)(path, json=body, headers=headers)


@pytest.fixture
def keystone_conf(parsed_conf, strategy):
    strategy('keystone')
    parsed_conf.set_override('www_authenticate_uri',
                             'http://keystone.example/identity',
                             'keystone_authtoken')
    yield
    parsed_conf.clear_override('www_authenticate_uri', 'keystone_authtoken')


def test_keystone_admin_member_and_anonymous(parsed_conf, engine,
                                             keystone_conf):
    with ksm_fixture.AuthTokenFixture() as tokens:
        admin, member = uuid.uuid4().hex, uuid.uuid4().hex
        tokens.add_token_data(token_id=admin, role_list=['admin'],
                              user_id='u1', project_id='p1')
        tokens.add_token_data(token_id=member, role_list=['member'],
                              user_id='u2', project_id='p2')
        client = api_fixtures.client(parsed_conf, engine)
        agent_id = api_fixtures.add_agent(engine, 'h1')
        for method, path, body in ADMIN_ROUTES:
            path = path.format(id=agent_id)
            response = _call(client, method, path, body,
                             {'X-Auth-Token': member})
            assert response.status_code == 403, (method, path)
            assert response.json['NeutronError']['type'] == \
                'PolicyNotAuthorized'
            assert _call(client, method, path, body, {}).status_code == 401
            assert _call(client, method, path, body,
                         {'X-Auth-Token': 'forged'}).status_code == 401
        for method, path, body in ADMIN_ROUTES:
            response = _call(client, method, path.format(id=agent_id), body,
                             {'X-Auth-Token': admin})
            assert response.status_code in (200, 204, 400), (method, path)
        # Discovery and health need no token.
        assert client.get('/').status_code == 200
        assert client.get('/healthcheck').status_code == 200
        assert client.get('/v2.0/extensions',
                          headers={'X-Auth-Token': member}).status_code == 200


def _basic(user, password):
    token = base64.b64encode(('%s:%s' % (user, password)).encode()).decode()
    return {'Authorization': 'Basic ' + token}


def test_http_basic(parsed_conf, engine, strategy, tmp_path):
    users = tmp_path / 'htpasswd'
    users.write_text('# operators\nalice:%s\n' % bcrypt.hashpw(
        b'wonderland', bcrypt.gensalt(rounds=4)).decode())
    strategy('http_basic', http_basic_auth_user_file=str(users))
    client = api_fixtures.client(parsed_conf, engine)
    api_fixtures.add_agent(engine, 'h1')
    ok = client.get('/v2.0/agents', headers=_basic('alice', 'wonderland'))
    assert ok.status_code == 200
    assert len(ok.json['agents']) == 1
    for headers in ({}, _basic('alice', 'wrong'), _basic('bob', 'x'),
                    {'Authorization': 'Basic !!!'},
                    {'Authorization': 'Bearer abc'}):
        response = client.get('/v2.0/agents', headers=headers)
        assert response.status_code == 401
        assert response.headers['WWW-Authenticate'] == \
            'Basic realm="agentsched"'
        assert response.json['NeutronError']['type'] == 'HTTPUnauthorized'
    assert client.get('/healthcheck').status_code == 200


def test_http_basic_refuses_non_bcrypt_entries(parsed_conf, engine,
                                               strategy, tmp_path):
    users = tmp_path / 'htpasswd'
    users.write_text('alice:$apr1$abc$def\n')
    strategy('http_basic', http_basic_auth_user_file=str(users))
    with pytest.raises(ValueError, match='only bcrypt entries'):
        api_fixtures.client(parsed_conf, engine)


def test_noauth_ignores_identity_sent_by_the_client(parsed_conf, engine,
                                                    strategy):
    strategy('noauth')
    client = api_fixtures.client(parsed_conf, engine)
    response = client.get('/v2.0/agents', headers={'X-Roles': 'member'})
    assert response.status_code == 200


@pytest.mark.parametrize('host,loopback', [
    ('127.0.0.1', True), ('::1', True), ('localhost', True),
    ('0.0.0.0', False), ('192.0.2.1', False)])
def test_noauth_only_on_loopback(host, loopback):
    assert auth.is_loopback(host) is loopback


def test_server_refuses_noauth_on_a_public_address(tmp_path):
    config = commands.write_config(
        tmp_path / 'a.conf', 'sqlite:///%s' % (tmp_path / 'a.sqlite'),
        DEFAULT={'bind_host': '0.0.0.0', 'auth_strategy': 'noauth'})
    result = commands.run('agentsched-server', '--config-file', config,
                          check=False)
    assert result.returncode == 1
    assert 'refused with bind_host = 0.0.0.0' in result.stderr
    assert 'Traceback' not in result.stderr
