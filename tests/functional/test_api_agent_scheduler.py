"""The agent scheduler extension over SQLite, PostgreSQL and MariaDB:
resources per agent, placement by hand and its refusals, unbinding, and
the hosting agent of a resource."""

import uuid

from keystonemiddleware import fixture as ksm_fixture
import pytest

from agentsched.services import secrets
from tests import api_fixtures
from tests.functional import test_api_resources as resources_tests

VIP = resources_tests.VIP
VPN = resources_tests.VPN
_error = resources_tests._error
_binding = resources_tests._binding


@pytest.fixture
def box():
    return secrets.SecretBox([secrets.generate_key()])


@pytest.fixture
def api(parsed_conf, database, box):
    parsed_conf.set_override('auth_strategy', 'noauth')
    resources_tests._overrides(parsed_conf)
    engine = database.engine()
    notifier = api_fixtures.RecordingNotifier()
    yield (api_fixtures.client(parsed_conf, engine, notifier, box), engine,
           notifier)
    parsed_conf.clear_override('auth_strategy')
    resources_tests._clear(parsed_conf)


def _unplaced_vip(client):
    """A VIP created while nothing could take it (ERROR, unbound)."""
    vip = client.post('/v2.0/lb/vips', json={'vip': dict(
        VIP, requirements={'device_type': 'haproxy'})}).json['vip']
    assert vip['status'] == 'ERROR'
    return vip


def test_place_by_hand_list_show_agent_and_unbind(api):
    client, engine, notifier = api
    vip = _unplaced_vip(client)
    lb_1, dev_1 = resources_tests._lb(client, engine, 'lb-1')
    lb_2, dev_2 = resources_tests._lb(client, engine, 'lb-2',
                                      credentials={})
    placed = client.post('/v2.0/agents/%s/vips' % lb_2,
                         json={'vip_id': vip['id']})
    assert placed.status_code == 201, placed.get_data(as_text=True)
    assert placed.json['vip']['id'] == vip['id']
    assert placed.json['vip']['status'] == 'ERROR'  # until the agent answers
    binding = _binding(engine, vip['id'])
    assert (binding.agent_id, binding.device_id) == (lb_2, dev_2)
    assert notifier.deployed[-1][0] == 'lb-2'

    listed = client.get('/v2.0/agents/%s/vips' % lb_2).json['vips']
    assert [v['id'] for v in listed] == [vip['id']]
    assert client.get('/v2.0/agents/%s/vips' % lb_1).json == {'vips': []}
    assert client.get('/v2.0/agents/%s/vips?fields=id' % lb_2).json == {
        'vips': [{'id': vip['id']}]}
    assert client.get('/v2.0/agents/%s/vpn-connections' % lb_2).json == {
        'vpn_connections': []}

    hosting = client.get('/v2.0/lb/vips/%s/agent' % vip['id'])
    assert hosting.status_code == 200, hosting.get_data(as_text=True)
    body = hosting.json
    assert body['agent']['id'] == lb_2 and body['agent']['alive'] is True
    assert body['agent']['host'] == 'lb-2'
    assert body['device']['id'] == dev_2
    assert body['device']['physical_info']['address'] == '192.0.2.10'
    assert body['device']['used'] == 1
    assert 'credentials' not in body['device']
    assert body['binding']['generation'] == 1

    # Bound: a second placement is refused.
    message = _error(client.post('/v2.0/agents/%s/vips' % lb_1,
                                 json={'vip_id': vip['id']}), 409,
                     'ResourceAlreadyBound')
    assert vip['id'] in message
    # Not on that agent.
    _error(client.delete('/v2.0/agents/%s/vips/%s' % (lb_1, vip['id'])),
           404, 'ResourceNotOnAgent')
    response = client.delete('/v2.0/agents/%s/vips/%s' % (lb_2, vip['id']))
    assert response.status_code == 204
    assert _binding(engine, vip['id']) is None
    assert notifier.undeployed[-1][0] == 'lb-2'
    shown = client.get('/v2.0/lb/vips/%s' % vip['id']).json['vip']
    assert shown['status'] == 'PENDING_CREATE'
    _error(client.get('/v2.0/lb/vips/%s/agent' % vip['id']), 404,
           'ResourceNotBound')
    _error(client.delete('/v2.0/agents/%s/vips/%s' % (lb_2, vip['id'])),
           404, 'ResourceNotOnAgent')
    # Unbound again: it can go to the other agent.
    assert client.post('/v2.0/agents/%s/vips' % lb_1, json={
        'vip_id': vip['id']}).status_code == 201
    assert _binding(engine, vip['id']).device_id == dev_1


def test_a_resource_being_deleted_is_not_unbound(api):
    # Its agent is undeploying it; unbound, it would be PENDING_CREATE and
    # placed again, the delete undone.
    client, engine, notifier = api
    lb_1, _dev = resources_tests._lb(client, engine, 'lb-1')
    vip = client.post('/v2.0/lb/vips', json={'vip': VIP}).json['vip']
    assert client.delete('/v2.0/lb/vips/%s' % vip['id']).status_code == 204
    _error(client.delete('/v2.0/agents/%s/vips/%s' % (lb_1, vip['id'])),
           409, 'ResourceBeingDeleted')
    assert _binding(engine, vip['id']).agent_id == lb_1
    shown = client.get('/v2.0/lb/vips/%s' % vip['id']).json['vip']
    assert shown['status'] == 'PENDING_DELETE'


def test_placing_on_an_agent_without_a_fit_is_409_with_the_reason(api):
    client, engine, _ = api
    vip = _unplaced_vip(client)
    full, _ = resources_tests._lb(client, engine, 'lb-full', capacity=0)
    message = _error(client.post('/v2.0/agents/%s/vips' % full,
                                 json={'vip_id': vip['id']}), 409,
                     'NoValidCandidate')
    assert 'free unit' in message
    vpn_agent, _ = resources_tests._vpn(client, engine)
    message = _error(client.post('/v2.0/agents/%s/vips' % vpn_agent,
                                 json={'vip_id': vip['id']}), 409,
                     'NoValidCandidate')
    assert 'LOADBALANCER' in message
    assert _binding(engine, vip['id']) is None
    # A VPN connection placed on the VPN agent by hand.
    vpn = client.post('/v2.0/vpn/connections', json={
        'vpn_connection': VPN}).json['vpn_connection']
    assert vpn['status'] == 'PENDING_CREATE'  # the scheduler placed it
    listed = client.get('/v2.0/agents/%s/vpn-connections' % vpn_agent).json
    assert [v['id'] for v in listed['vpn_connections']] == [vpn['id']]
    assert resources_tests.PSK not in client.get(
        '/v2.0/agents/%s/vpn-connections' % vpn_agent).get_data(
        as_text=True)
    hosting = client.get('/v2.0/vpn/connections/%s/agent' % vpn['id']).json
    assert hosting['agent']['id'] == vpn_agent


def test_not_found_and_bad_bodies(api):
    client, engine, _ = api
    agent_id = api_fixtures.add_agent(engine, 'lb-1')
    vip = _unplaced_vip(client)
    nobody = str(uuid.uuid4())
    _error(client.get('/v2.0/agents/%s/vips' % nobody), 404, 'AgentNotFound')
    _error(client.post('/v2.0/agents/%s/vips' % nobody,
                       json={'vip_id': vip['id']}), 404, 'AgentNotFound')
    _error(client.post('/v2.0/agents/%s/vips' % agent_id,
                       json={'vip_id': nobody}), 404, 'VipNotFound')
    # A VIP is not a VPN connection.
    _error(client.post('/v2.0/agents/%s/vpn-connections' % agent_id,
                       json={'vpn_connection_id': vip['id']}), 404,
           'VPNConnectionNotFound')
    _error(client.post('/v2.0/agents/%s/vips' % agent_id,
                       json={'vpn_connection_id': vip['id']}), 400)
    _error(client.get('/v2.0/lb/vips/%s/agent' % nobody), 404)
    _error(client.delete('/v2.0/agents/%s/vips/%s' % (agent_id, nobody)),
           404)


def test_admin_only(parsed_conf, database, box):
    parsed_conf.set_override('auth_strategy', 'keystone')
    parsed_conf.set_override('www_authenticate_uri', 'http://ks.example/',
                             'keystone_authtoken')
    try:
        engine = database.engine()
        with ksm_fixture.AuthTokenFixture() as tokens:
            member = uuid.uuid4().hex
            tokens.add_token_data(token_id=member, role_list=['member'],
                                  user_id='u', project_id='p')
            client = api_fixtures.client(parsed_conf, engine, secret_box=box)
            agent_id = api_fixtures.add_agent(engine, 'lb-1')
            vip = client.post('/v2.0/lb/vips', json={'vip': VIP},
                              headers={'X-Auth-Token': member}).json['vip']
            headers = {'X-Auth-Token': member}
            for response in (
                    client.get('/v2.0/agents/%s/vips' % agent_id,
                               headers=headers),
                    client.post('/v2.0/agents/%s/vips' % agent_id,
                                json={'vip_id': vip['id']}, headers=headers),
                    client.delete('/v2.0/agents/%s/vips/%s' % (
                        agent_id, vip['id']), headers=headers),
                    client.get('/v2.0/lb/vips/%s/agent' % vip['id'],
                               headers=headers)):
                _error(response, 403, 'PolicyNotAuthorized')
    finally:
        parsed_conf.clear_override('auth_strategy')
        parsed_conf.clear_override('www_authenticate_uri',
                                   'keystone_authtoken')
