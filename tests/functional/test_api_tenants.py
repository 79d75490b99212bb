"""Tenant isolation under keystone (issue 13, item 1): a token without a
project sees nothing and writes nothing; another project's resource is a
404 exactly like a missing one, on every verb."""

import uuid

from keystonemiddleware import fixture as ksm_fixture
import pytest

from tests import api_fixtures
from tests.functional import test_api_resources as resources_tests

VIP = {k: v for k, v in resources_tests.VIP.items() if k != 'name'}


@pytest.fixture
def keystone(parsed_conf, database):
    parsed_conf.set_override('auth_strategy', 'keystone')
    parsed_conf.set_override('www_authenticate_uri',
                             'http://keystone.example/identity',
                             'keystone_authtoken')
    engine = database.engine()
    built = api_fixtures.services(parsed_conf, engine)
    with ksm_fixture.AuthTokenFixture() as tokens:
        yield (api_fixtures.client(parsed_conf, engine, built=built),
               built, tokens)
    parsed_conf.clear_override('www_authenticate_uri', 'keystone_authtoken')
    parsed_conf.clear_override('auth_strategy')


def _token(tokens, roles, project_id=None):
    token = uuid.uuid4().hex
    tokens.add_token_data(token_id=token, role_list=roles,
                          user_id='u-' + token[:6], project_id=project_id)
    return {'X-Auth-Token': token}


def test_a_token_without_a_project_sees_and_writes_nothing(keystone):
    client, built, tokens = keystone
    mine = built.resources.create('vip', 'p1', 'web', dict(VIP))
    for roles in (['member', 'reader'], ['reader']):
        headers = _token(tokens, roles)   # unscoped: no project
        listed = client.get('/v2.0/lb/vips', headers=headers)
        assert listed.status_code in (200, 403), listed.get_data()
        if listed.status_code == 200:
            assert listed.json['vips'] == []
        for project_filter in ('p1', ''):
            response = client.get('/v2.0/lb/vips?project_id=%s' %
                                  project_filter, headers=headers)
            assert response.status_code == 403 or \
                response.json['vips'] == []
        assert client.get('/v2.0/lb/vips/%s' % mine.id,
                          headers=headers).status_code in (403, 404)
        for body in ({'vip': dict(VIP)},
                     {'vip': dict(VIP, project_id='p1')}):
            response = client.post('/v2.0/lb/vips', json=body,
                                   headers=headers)
            assert response.status_code == 403, response.get_data()
        assert client.delete('/v2.0/lb/vips/%s' % mine.id,
                             headers=headers).status_code in (403, 404)
    assert built.resources.get(mine.id).status != 'PENDING_DELETE'


def test_another_projects_resource_is_a_404_like_a_missing_one(keystone):
    client, built, tokens = keystone
    theirs = built.resources.create('vip', 'p2', 'web', dict(VIP))
    missing = str(uuid.uuid4())
    headers = _token(tokens, ['member', 'reader'], 'p1')
    for method, suffix, body in (('get', '', None),
                                 ('put', '', {'vip': {'name': 'x'}}),
                                 ('delete', '', None)):
        answers = []
        for resource_id in (theirs.id, missing):
            response = getattr(client, method)(
                '/v2.0/lb/vips/%s%s' % (resource_id, suffix), json=body,
                headers=headers)
            answers.append((response.status_code,
                            response.json['NeutronError']['type'],
                            response.json['NeutronError']['message'].replace(
                                resource_id, 'ID')))
        assert answers[0] == answers[1], (method, answers)
        assert answers[0][0] == 404
    listed = client.get('/v2.0/lb/vips', headers=headers).json['vips']
    assert listed == []
    assert client.get('/v2.0/lb/vips?project_id=p2',
                      headers=headers).json['vips'] == []
