"""http_basic under attack (issue 13, item 2): long passwords, user
enumeration by status and timing, projects and roles, a failure flood."""

import base64

import bcrypt
import pytest

from tests import api_fixtures

PASSWORD = 'wonderland'
LONGEST = 'p' * 72  # bcrypt's limit


def _basic(user, password):
    token = base64.b64encode(('%s:%s' % (user, password)).encode()).decode()
    return {'Authorization': 'Basic ' + token}


@pytest.fixture
def basic(parsed_conf, tmp_path):
    """A client factory over SQLite with http_basic users alice and bob;
    identity: the identity file's text, or None for none."""
    from tests import conftest
    db = conftest.make_database('sqlite', tmp_path)
    engine = db.engine()
    users = tmp_path / 'htpasswd'
    hashed = bcrypt.hashpw(PASSWORD.encode(), bcrypt.gensalt(rounds=8))
    carol = bcrypt.hashpw(LONGEST.encode(), bcrypt.gensalt(rounds=4))
    users.write_text('alice:%s\nbob:%s\ncarol:%s\n' % (
        hashed.decode(), hashed.decode(), carol.decode()))
    parsed_conf.set_override('auth_strategy', 'http_basic')
    parsed_conf.set_override('http_basic_auth_user_file', str(users), 'api')

    def client(identity=None, failure_limit=10):
        if identity is not None:
            path = tmp_path / 'identities'
            path.write_text(identity)
            parsed_conf.set_override('http_basic_identity_file', str(path),
                                     'api')
        parsed_conf.set_override('http_basic_failure_limit', failure_limit,
                                 'api')
        return api_fixtures.client(parsed_conf, engine)
    yield client
    for option in ('http_basic_auth_user_file', 'http_basic_identity_file',
                   'http_basic_failure_limit'):
        parsed_conf.clear_override(option, 'api')
    parsed_conf.clear_override('auth_strategy')
    db.close()


def test_long_passwords_are_401_for_known_and_unknown_users(basic):
    client = basic()
    long_password = PASSWORD + 'x' * 80
    for user in ('alice', 'nobody'):
        response = client.get('/v2.0/agents',
                              headers=_basic(user, long_password))
        assert response.status_code == 401, (user, response.get_data())
    # A password whose first 72 bytes are right is refused, not truncated.
    assert client.get('/v2.0/agents', headers=_basic(
        'carol', LONGEST)).status_code == 200
    assert client.get('/v2.0/agents', headers=_basic(
        'carol', LONGEST + 'x')).status_code == 401


def test_unknown_users_cost_a_password_check(basic, monkeypatch):
    """An unknown user's refusal pays one bcrypt check at the known users'
    cost, as a known user's does: the time of a refusal does not say
    whether the user exists. Counted, not timed (a timed comparison failed
    on a loaded machine)."""
    client = basic(failure_limit=100)
    checked = []
    check = bcrypt.checkpw

    def counted(password, hashed):
        checked.append(hashed[:7])   # b'$2b$08$': the scheme and the cost
        return check(password, hashed)
    monkeypatch.setattr(bcrypt, 'checkpw', counted)
    for user in ('alice', 'nobody'):
        response = client.get('/v2.0/agents', headers=_basic(user, 'wrong'),
                              environ_base={'REMOTE_ADDR': user})
        assert response.status_code == 401
    assert len(checked) == 2 and checked[0] == checked[1], checked


def test_identity_file_gives_projects_and_roles(basic):
    client = basic('alice:p1:admin\nbob:p2:member,reader\n')
    assert client.get('/v2.0/agents', headers=_basic(
        'alice', PASSWORD)).status_code == 200
    response = client.get('/v2.0/agents', headers=_basic('bob', PASSWORD))
    assert response.status_code == 403
    assert response.json['NeutronError']['type'] == 'PolicyNotAuthorized'


def test_a_failure_flood_is_limited_per_source(basic):
    client = basic(failure_limit=3)
    attacker = {'REMOTE_ADDR': '192.0.2.66'}
    for _ in range(3):
        assert client.get('/v2.0/agents', headers=_basic('alice', 'wrong'),
                          environ_base=attacker).status_code == 401
    refused = client.get('/v2.0/agents', headers=_basic('alice', PASSWORD),
                         environ_base=attacker)
    assert refused.status_code == 429
    assert int(refused.headers['Retry-After']) >= 1
    assert refused.json['NeutronError']['type'] == 'HTTPTooManyRequests'
    # Another source is not held back.
    assert client.get('/v2.0/agents', headers=_basic('alice', PASSWORD),
                      environ_base={'REMOTE_ADDR': '192.0.2.7'}
                      ).status_code == 200


def test_identity_headers_a_client_sends_are_dropped(basic):
    """The identity is the identity file's: a client-sent system scope
    (or role, or project) header does not reach the policy check."""
    client = basic('bob:p2:member\n')
    for forged in ({'OpenStack-System-Scope': 'all'}, {'X-Roles': 'admin'},
                   {'X-Project-Id': 'p1'}, {'X-Is-Admin-Project': 'true'}):
        response = client.get('/v2.0/lb/vips', headers=dict(
            _basic('bob', PASSWORD), **forged))
        assert response.status_code == 200, (forged, response.get_data())
        assert client.get('/v2.0/agents', headers=dict(
            _basic('bob', PASSWORD), **forged)).status_code == 403
