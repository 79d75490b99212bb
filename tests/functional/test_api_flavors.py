"""The flavors extension over SQLite, PostgreSQL and MariaDB: flavors and
service profiles in Neutron's shapes, and a flavor_id standing for the
requirements of its service profile."""

import json
import uuid

from keystonemiddleware import fixture as ksm_fixture

from tests import api_fixtures
from tests.functional import test_api_resources as resources_tests
# The same API over each database (the fixtures, not the tests).
from tests.functional.test_api_agent_scheduler import api  # noqa: F401
from tests.functional.test_api_agent_scheduler import box  # noqa: F401

_error = resources_tests._error


def _flavor(client, service_type='LOADBALANCER', **fields):
    response = client.post('/v2.0/flavors', json={'flavor': dict(
        name='gold-%s' % uuid.uuid4().hex[:6], service_type=service_type,
        **fields)})
    assert response.status_code == 201, response.get_data(as_text=True)
    return response.json['flavor']


def _profile(client, requirements, **fields):
    response = client.post('/v2.0/service_profiles', json={
        'service_profile': dict(metainfo=json.dumps(requirements),
                                driver='agentsched', **fields)})
    assert response.status_code == 201, response.get_data(as_text=True)
    return response.json['service_profile']


def _associate(client, flavor_id, profile_id):
    return client.post('/v2.0/flavors/%s/service_profiles' % flavor_id,
                       json={'service_profile': {'id': profile_id}})


def test_flavor_and_profile_crud_in_neutrons_shapes(api):
    client, _engine, _ = api
    flavor = _flavor(client, description='fast')
    assert set(flavor) == {'id', 'name', 'description', 'service_type',
                           'enabled', 'service_profiles'}
    assert flavor['enabled'] is True and flavor['service_profiles'] == []
    profile = _profile(client, {'device_type': 'haproxy'})
    assert set(profile) == {'id', 'description', 'driver', 'metainfo',
                            'enabled'}
    assert json.loads(profile['metainfo']) == {'device_type': 'haproxy'}

    associated = _associate(client, flavor['id'], profile['id'])
    assert associated.status_code == 201
    assert associated.json == {'service_profile': {'id': profile['id']}}
    _error(_associate(client, flavor['id'], profile['id']), 409,
           'FlavorServiceProfileBindingExists')
    _error(_associate(client, flavor['id'], 'nope'), 404,
           'ServiceProfileNotFound')
    path = '/v2.0/flavors/%s' % flavor['id']
    assert client.get(path).json['flavor']['service_profiles'] == [
        profile['id']]
    # In use by a flavor: the profile stays.
    _error(client.delete('/v2.0/service_profiles/%s' % profile['id']), 409,
           'ServiceProfileInUse')

    updated = client.put(path, json={'flavor': {'enabled': False,
                                                'name': 'silver'}})
    assert updated.status_code == 200
    assert (updated.json['flavor']['enabled'],
            updated.json['flavor']['name']) == (False, 'silver')
    _error(client.put(path, json={'flavor': {'service_type': 'VPN'}}), 400)
    changed = client.put('/v2.0/service_profiles/%s' % profile['id'], json={
        'service_profile': {'metainfo': '{"availability_zone": "az1"}'}})
    assert json.loads(changed.json['service_profile']['metainfo']) == {
        'availability_zone': 'az1'}

    listed = client.get('/v2.0/flavors?service_type=LOADBALANCER').json
    assert [f['id'] for f in listed['flavors']] == [flavor['id']]
    assert client.get('/v2.0/flavors?enabled=true').json == {'flavors': []}
    assert client.get('/v2.0/flavors?fields=name').json == {
        'flavors': [{'name': 'silver'}]}
    assert [p['id'] for p in client.get('/v2.0/service_profiles').json[
        'service_profiles']] == [profile['id']]

    assert client.delete('%s/service_profiles/%s' % (
        path, profile['id'])).status_code == 204
    _error(client.delete('%s/service_profiles/%s' % (path, profile['id'])),
           404, 'FlavorServiceProfileBindingNotFound')
    assert client.delete('/v2.0/service_profiles/%s' % profile[
        'id']).status_code == 204
    assert client.delete(path).status_code == 204
    _error(client.get(path), 404, 'FlavorNotFound')


def test_metainfo_must_be_requirements(api):
    client, _engine, _ = api
    for metainfo, word in (('not json', 'metainfo'),
                           ('[1]', 'metainfo'),
                           ('{"size": "L"}', 'metainfo'),
                           ('{"capabilities": {"x": {"max": 1}}}', 'x')):
        message = _error(client.post('/v2.0/service_profiles', json={
            'service_profile': {'metainfo': metainfo}}), 400)
        assert word in message, message
    _error(client.post('/v2.0/flavors', json={'flavor': {
        'name': 'x', 'service_type': 'FIREWALL'}}), 400)


def test_a_flavor_resolves_to_its_profiles_requirements(api):
    client, engine, notifier = api
    resources_tests._lb(client, engine, 'lb-plain')
    _agent, gold_device = resources_tests._lb(
        client, engine, 'lb-gold', capabilities={'ssl_offload': True})
    flavor = _flavor(client)
    disabled = _profile(client, {'device_type': 'f5'}, enabled=False)
    profile = _profile(client, {'device_type': 'haproxy', 'capabilities': {
        'ssl_offload': True}})
    for each in (disabled, profile):
        assert _associate(client, flavor['id'], each['id']).status_code == \
            201
    created = client.post('/v2.0/lb/vips', json={'vip': dict(
        resources_tests.VIP, flavor_id=flavor['id'])})
    assert created.status_code == 201, created.get_data(as_text=True)
    vip = created.json['vip']
    assert vip['flavor_id'] == flavor['id']
    assert vip['requirements']['capabilities'] == {'ssl_offload': True}
    assert vip['status'] == 'PENDING_CREATE'
    assert resources_tests._binding(engine, vip['id']).device_id == \
        gold_device
    _error(client.delete('/v2.0/flavors/%s' % flavor['id']), 409,
           'FlavorInUse')

    # A flavor of another service type, a disabled one, one without an
    # enabled profile, one that does not exist.
    vpn_flavor = _flavor(client, 'VPN')
    assert _associate(client, vpn_flavor['id'], profile['id']).status_code \
        == 201
    message = _error(client.post('/v2.0/lb/vips', json={'vip': dict(
        resources_tests.VIP, flavor_id=vpn_flavor['id'])}), 400)
    assert 'service type' in message and 'flavor_id' in message
    off = _flavor(client, enabled=False)
    _associate(client, off['id'], profile['id'])
    assert 'disabled' in _error(client.post('/v2.0/lb/vips', json={
        'vip': dict(resources_tests.VIP, flavor_id=off['id'])}), 400)
    empty = _flavor(client)
    _associate(client, empty['id'], disabled['id'])
    assert 'service profile' in _error(client.post('/v2.0/lb/vips', json={
        'vip': dict(resources_tests.VIP, flavor_id=empty['id'])}), 400)
    _error(client.post('/v2.0/lb/vips', json={'vip': dict(
        resources_tests.VIP, flavor_id='nope')}), 404, 'FlavorNotFound')
    assert len(notifier.deployed) == 1


def test_tenants_read_flavors_only(parsed_conf, database, box):
    parsed_conf.set_override('auth_strategy', 'keystone')
    parsed_conf.set_override('www_authenticate_uri', 'http://ks.example/',
                             'keystone_authtoken')
    try:
        engine = database.engine()
        with ksm_fixture.AuthTokenFixture() as tokens:
            admin, member = uuid.uuid4().hex, uuid.uuid4().hex
            tokens.add_token_data(token_id=admin, role_list=['admin'],
                                  user_id='a', project_id='pa')
            tokens.add_token_data(token_id=member, role_list=['member'],
                                  user_id='m', project_id='pm')
            client = api_fixtures.client(parsed_conf, engine, secret_box=box)
            as_admin = {'X-Auth-Token': admin}
            as_member = {'X-Auth-Token': member}
            flavor = client.post('/v2.0/flavors', json={'flavor': {
                'name': 'gold', 'service_type': 'VPN'}},
                headers=as_admin).json['flavor']
            listed = client.get('/v2.0/flavors', headers=as_member)
            assert [f['id'] for f in listed.json['flavors']] == [
                flavor['id']]
            assert client.get('/v2.0/flavors/%s' % flavor['id'],
                              headers=as_member).status_code == 200
            for response in (
                    client.post('/v2.0/flavors', json={'flavor': {
                        'name': 'x', 'service_type': 'VPN'}},
                        headers=as_member),
                    client.put('/v2.0/flavors/%s' % flavor['id'], json={
                        'flavor': {'name': 'y'}}, headers=as_member),
                    client.delete('/v2.0/flavors/%s' % flavor['id'],
                                  headers=as_member),
                    client.get('/v2.0/service_profiles', headers=as_member),
                    client.post('/v2.0/service_profiles', json={
                        'service_profile': {}}, headers=as_member),
                    _associate_as(client, flavor['id'], 'p', as_member)):
                _error(response, 403, 'PolicyNotAuthorized')
    finally:
        parsed_conf.clear_override('auth_strategy')
        parsed_conf.clear_override('www_authenticate_uri',
                                   'keystone_authtoken')


def _associate_as(client, flavor_id, profile_id, headers):
    return client.post('/v2.0/flavors/%s/service_profiles' % flavor_id,
                       json={'service_profile': {'id': profile_id}},
                       headers=headers)
