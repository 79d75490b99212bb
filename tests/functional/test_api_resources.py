"""The resources extension (VIPs, VPN connections) over SQLite, PostgreSQL
and MariaDB: placement on create, deploy casts, status from agents, secrets,
listing and project scoping."""

import threading
import uuid

from keystonemiddleware import fixture as ksm_fixture
import pytest
import sqlalchemy as sa

from agentsched import exceptions
from agentsched.db import models
from agentsched.db import resources as resources_db
from agentsched.services import secrets
from tests import api_fixtures
from tests import lock_waits

PSK = 'psk-%s' % uuid.uuid4().hex
VIP = {'name': 'web', 'address': '198.51.100.7', 'protocol': 'HTTP',
       'protocol_port': 80,
       'members': [{'address': '10.0.0.5', 'protocol_port': 8080}]}
VPN = {'name': 'branch', 'peer_address': '203.0.113.9', 'peer_id': 'branch',
       'peer_cidrs': ['10.2.0.0/16'], 'local_cidrs': ['10.1.0.0/16'],
       'psk': PSK}


@pytest.fixture
def box():
    return secrets.SecretBox([secrets.generate_key()])


def _overrides(conf):
    conf.set_override('agent_down_time', 30)
    # Devices are added between placements: no stale candidate snapshot.
    conf.set_override('snapshot_max_age', 0, 'scheduler')


def _clear(conf):
    conf.clear_override('agent_down_time')
    conf.clear_override('snapshot_max_age', 'scheduler')


class API(tuple):
    """(client, engine, notifier), and .service: the app's
    ResourceService, through which tests answer as agents would."""
    service = None


def _api(conf, database, box):
    conf.set_override('auth_strategy', 'noauth')
    _overrides(conf)
    engine = database.engine()
    notifier = api_fixtures.RecordingNotifier()
    built = api_fixtures.services(conf, engine, notifier, box)
    api = API((api_fixtures.client(conf, engine, built=built), engine,
               notifier))
    api.service = built.resources
    yield api
    conf.clear_override('auth_strategy')
    _clear(conf)


@pytest.fixture
def api(parsed_conf, database, box):
    yield from _api(parsed_conf, database, box)


@pytest.fixture
def server_api(parsed_conf, server_database, box):
    """api, on the databases where transactions run at once."""
    yield from _api(parsed_conf, server_database, box)


def _error(response, status, type_=None):
    assert response.status_code == status, response.get_data(as_text=True)
    error = response.json['NeutronError']
    if type_:
        assert error['type'] == type_
    return error['message']


def _lb(client, engine, host='lb-1', **device):
    agent_id = api_fixtures.add_agent(engine, host)
    device_id = api_fixtures.add_device(
        client, engine, agent_id, 'hap-%s' % host,
        physical_info={'address': '192.0.2.10', 'port': 8404}, **device)
    return agent_id, device_id


def _vpn(client, engine, host='vpn-1'):
    agent_id = api_fixtures.add_agent(engine, host, agent_type='VPN agent',
                                      topic='agentsched-vpn-agent')
    device_id = api_fixtures.add_device(
        client, engine, agent_id, 'swan-%s' % host, device_type='strongswan',
        physical_info={'address': '192.0.2.20'})
    return agent_id, device_id


def _binding(engine, resource_id):
    with engine.connect() as connection:
        return connection.execute(sa.select(models.bindings).where(
            models.bindings.c.resource_id == resource_id)).first()


def test_create_vip_places_deploys_and_goes_active(api):
    client, engine, notifier = api
    agent_id, device_id = _lb(client, engine)
    response = client.post('/v2.0/lb/vips', json={'vip': dict(
        VIP, requirements={'device_type': 'haproxy'})})
    assert response.status_code == 201, response.get_data(as_text=True)
    vip = response.json['vip']
    assert vip['status'] == 'PENDING_CREATE'
    assert vip['project_id'] == vip['tenant_id'] == 'admin'
    assert (vip['address'], vip['protocol'], vip['protocol_port']) == (
        '198.51.100.7', 'HTTP', 80)
    assert vip['requirements']['device_type'] == 'haproxy'
    assert vip['flavor_id'] is None and 'has_psk' not in vip
    binding = _binding(engine, vip['id'])
    assert (binding.agent_id, binding.device_id, binding.generation) == (
        agent_id, device_id, 1)
    [(host, message)] = notifier.deployed
    assert host == 'lb-1'
    assert message['id'] == vip['id'] and message['generation'] == 1
    assert message['device']['physical_info'] == {'address': '192.0.2.10',
                                                  'port': 8404}
    assert message['spec']['members'] == VIP['members']

    service = api.service
    assert service.update_status(vip['id'], 1, 'ACTIVE', None) is True
    shown = client.get('/v2.0/lb/vips/%s' % vip['id']).json['vip']
    assert shown['status'] == 'ACTIVE'
    # An answer for a generation that moved on is ignored.
    assert service.update_status(vip['id'], 7, 'ERROR', 'stale') is False
    assert client.get('/v2.0/lb/vips/%s' % vip['id']).json['vip'][
        'status'] == 'ACTIVE'


def test_no_feasible_candidate_is_error_with_the_reason(api):
    client, engine, notifier = api
    _lb(client, engine, capabilities={'ssl_offload': False})
    response = client.post('/v2.0/lb/vips', json={'vip': dict(
        VIP, requirements={'capabilities': {'ssl_offload': True}})})
    assert response.status_code == 201, response.get_data(as_text=True)
    vip = response.json['vip']
    assert vip['status'] == 'ERROR'
    assert 'ssl_offload' in vip['status_description']
    assert _binding(engine, vip['id']) is None
    assert notifier.deployed == []
    # No device at all for VPN: the reason says so.
    vpn = client.post('/v2.0/vpn/connections',
                      json={'vpn_connection': VPN}).json['vpn_connection']
    assert vpn['status'] == 'ERROR'
    assert 'VPN' in vpn['status_description']


def test_vpn_psk_reaches_the_agent_and_no_response(api, box):
    client, engine, notifier = api
    _vpn(client, engine)
    response = client.post('/v2.0/vpn/connections',
                           json={'vpn_connection': VPN})
    assert response.status_code == 201, response.get_data(as_text=True)
    connection_ = response.json['vpn_connection']
    assert connection_['has_psk'] is True and 'psk' not in connection_
    [(_host, message)] = notifier.deployed
    assert message['spec']['psk'] == PSK
    assert message['device']['device_type'] == 'strongswan'
    path = '/v2.0/vpn/connections/%s' % connection_['id']
    bodies = [response, client.get(path), client.get('/v2.0/vpn/connections'),
              client.put(path, json={'vpn_connection': {
                  'mtu': 1400, 'psk': PSK + '-new'}}),
              client.get(path + '?fields=has_psk&fields=mtu')]
    for each in bodies:
        assert each.status_code in (200, 201), each.get_data(as_text=True)
        assert PSK not in each.get_data(as_text=True)
    assert bodies[-1].json['vpn_connection'] == {'has_psk': True,
                                                 'mtu': 1400}
    assert _error(client.get(path + '?fields=psk'), 400)
    # The new psk went to the agent with the update, and is encrypted.
    assert notifier.deployed[-1][1]['spec']['psk'] == PSK + '-new'
    with engine.connect() as connection:
        stored = connection.execute(sa.select(models.resources).where(
            models.resources.c.id == connection_['id'])).first()
    assert PSK not in stored.secrets and PSK not in stored.spec
    assert box.decrypt(stored.secrets) == {'psk': PSK + '-new'}


def test_validation_errors_name_the_field(api):
    client, _engine, _ = api
    missing = dict(VIP)
    del missing['protocol']
    assert 'protocol' in _error(client.post('/v2.0/lb/vips', json={
        'vip': missing}), 400)
    assert 'protocol_port' in _error(client.post('/v2.0/lb/vips', json={
        'vip': dict(VIP, protocol_port=70000)}), 400)
    assert 'colour' in _error(client.post('/v2.0/lb/vips', json={
        'vip': dict(VIP, colour='red')}), 400)
    assert 'requirements' in _error(client.post('/v2.0/lb/vips', json={
        'vip': dict(VIP, requirements={'size': 'L'})}), 400)
    assert 'requirements' in _error(client.post('/v2.0/lb/vips', json={
        'vip': dict(VIP, requirements={'capabilities': {
            'x': {'max': 3}}})}), 400)
    assert 'flavor_id' in _error(client.post('/v2.0/lb/vips', json={
        'vip': dict(VIP, requirements={}, flavor_id='f')}), 400)
    assert 'psk' in _error(client.post('/v2.0/vpn/connections', json={
        'vpn_connection': dict(VPN, psk='short')}), 400)
    _error(client.post('/v2.0/lb/vips', json={'vpn_connection': VIP}), 400)
    vip = client.post('/v2.0/lb/vips', json={'vip': VIP}).json['vip']
    path = '/v2.0/lb/vips/%s' % vip['id']
    assert 'protocol' in _error(client.put(path, json={'vip': {
        'protocol': 'FTP'}}), 400)
    assert 'requirements' in _error(client.put(path, json={'vip': {
        'requirements': {}}}), 400)
    assert 'status' in _error(client.put(path, json={'vip': {
        'status': 'ACTIVE'}}), 400)


def test_update_redeploys_and_delete_waits_for_the_agent(api):
    client, engine, notifier = api
    _lb(client, engine)
    vip = client.post('/v2.0/lb/vips', json={'vip': VIP}).json['vip']
    path = '/v2.0/lb/vips/%s' % vip['id']
    renamed = client.put(path, json={'vip': {'name': 'www'}})
    assert renamed.status_code == 200, renamed.get_data(as_text=True)
    assert renamed.json['vip']['name'] == 'www'
    assert len(notifier.deployed) == 1  # a name is not deployed
    changed = client.put(path, json={'vip': {'protocol_port': 8080}}).json[
        'vip']
    assert (changed['status'], changed['protocol_port']) == (
        'PENDING_UPDATE', 8080)
    assert notifier.deployed[-1][1]['spec']['protocol_port'] == 8080

    response = client.delete(path)
    assert response.status_code == 204
    assert client.get(path).json['vip']['status'] == 'PENDING_DELETE'
    [(host, message)] = notifier.undeployed
    assert (host, message['id'], message['generation']) == (
        'lb-1', vip['id'], 1)
    _error(client.put(path, json={'vip': {'name': 'x'}}), 409)
    assert api.service.update_status(vip['id'], 1, 'DELETED', None)
    _error(client.get(path), 404, 'VipNotFound')
    # Never placed: removed at once.
    other = client.post('/v2.0/vpn/connections',
                        json={'vpn_connection': VPN}).json['vpn_connection']
    assert client.delete('/v2.0/vpn/connections/%s' % other[
        'id']).status_code == 204
    _error(client.get('/v2.0/vpn/connections/%s' % other['id']), 404,
           'VPNConnectionNotFound')
    # A VIP is not a VPN connection.
    _error(client.get('/v2.0/vpn/connections/%s' % vip['id']), 404)


def test_an_answer_read_before_a_delete_does_not_undo_it(api, monkeypatch):
    # The agent's ACTIVE is read while the resource is still
    # PENDING_CREATE; the admin's delete commits before it is stored. The
    # delete stands, and the agent's DELETED that follows removes it (CI
    # once waited for a vip.delete.end that never came).
    client, engine, notifier = api
    _lb(client, engine)
    vip = client.post('/v2.0/lb/vips', json={'vip': VIP}).json['vip']
    path = '/v2.0/lb/vips/%s' % vip['id']
    read = resources_db.get

    def read_then_delete(connection, resource_id):
        row = read(connection, resource_id)
        monkeypatch.setattr(resources_db, 'get', read)
        assert client.delete(path).status_code == 204
        return row

    monkeypatch.setattr(resources_db, 'get', read_then_delete)
    assert api.service.update_status(vip['id'], 1, 'ACTIVE', None) is False
    assert client.get(path).json['vip']['status'] == 'PENDING_DELETE'
    assert api.service.update_status(vip['id'], 1, 'DELETED', None)
    _error(client.get(path), 404, 'VipNotFound')


@pytest.mark.parametrize('change', ['unbind', 'spec'])
def test_a_change_read_before_a_delete_does_not_undo_it(api, monkeypatch,
                                                        change):
    # An admin's unbind (PENDING_CREATE, placed again) or spec change
    # (PENDING_UPDATE, deployed again) read the resource before another
    # admin's delete committed: it is refused, and the delete stands.
    client, engine, notifier = api
    _lb(client, engine)
    vip = client.post('/v2.0/lb/vips', json={'vip': VIP}).json['vip']
    path = '/v2.0/lb/vips/%s' % vip['id']
    binding = _binding(engine, vip['id'])
    read = resources_db.get

    def read_then_delete(connection, resource_id, *args, **kwargs):
        row = read(connection, resource_id, *args, **kwargs)
        monkeypatch.setattr(resources_db, 'get', read)
        assert client.delete(path).status_code == 204
        return row

    monkeypatch.setattr(resources_db, 'get', read_then_delete)
    deploys = len(notifier.deployed)
    with pytest.raises(exceptions.Conflict, match='being deleted'):
        if change == 'unbind':
            api.service.unbind(vip['id'])
        else:
            api.service.update(vip['id'], spec_changes={'protocol_port': 81})
    assert client.get(path).json['vip']['status'] == 'PENDING_DELETE'
    assert _binding(engine, vip['id']) == binding
    assert len(notifier.deployed) == deploys


def test_no_deploy_is_cast_for_a_resource_being_deleted(api):
    # A failover or a spec change commits, then a delete does before the
    # change's deploy is cast: the deploy is not sent after the undeploy.
    client, engine, notifier = api
    _lb(client, engine)
    vip = client.post('/v2.0/lb/vips', json={'vip': VIP}).json['vip']
    assert client.delete('/v2.0/lb/vips/%s' % vip['id']).status_code == 204
    deploys = len(notifier.deployed)
    assert api.service.deploy(vip['id']) is False
    assert len(notifier.deployed) == deploys


@pytest.mark.parametrize('moved', ['generation', 'agent_id'])
def test_an_answer_read_before_a_failover_does_not_land_on_it(
        api, monkeypatch, moved):
    # A binding that moved on between the read and the write (a new
    # generation, or another agent: a rebind after an admin's unbind starts
    # at generation 1 again) is not given the old one's status.
    client, engine, notifier = api
    agent_id, _device = _lb(client, engine)
    other_id, _other_device = _lb(client, engine, host='lb-2')
    vip = client.post('/v2.0/lb/vips', json={'vip': VIP}).json['vip']
    bound_to = _binding(engine, vip['id']).agent_id
    change = {'generation': 2} if moved == 'generation' else {
        'agent_id': other_id if bound_to == agent_id else agent_id}
    read = resources_db.get

    def read_then_move(connection, resource_id):
        row = read(connection, resource_id)
        monkeypatch.setattr(resources_db, 'get', read)
        with engine.begin() as other:
            other.execute(sa.update(models.bindings).where(
                models.bindings.c.resource_id == resource_id).values(
                **change))
        return row

    monkeypatch.setattr(resources_db, 'get', read_then_move)
    assert api.service.update_status(vip['id'], 1, 'ERROR', 'old',
                                     agent_id=bound_to) is False
    shown = client.get('/v2.0/lb/vips/%s' % vip['id']).json['vip']
    assert shown['status'] == 'PENDING_CREATE'


def test_an_answer_waits_for_a_failover_in_flight(server_api):
    # A failover's transaction (the binding locked, a new generation, the
    # resource PENDING_UPDATE) is open when the old generation's answer
    # comes: the answer waits for it, then finds its generation gone.
    client, engine, notifier = server_api
    _lb(client, engine)
    vip = client.post('/v2.0/lb/vips', json={'vip': VIP}).json['vip']
    bound = _binding(engine, vip['id'])
    answers = []
    with engine.connect() as failover:
        with failover.begin():
            failover.execute(sa.select(models.bindings).where(
                models.bindings.c.resource_id == vip['id'])
                .with_for_update())
            failover.execute(sa.update(models.bindings).where(
                models.bindings.c.resource_id == vip['id']).values(
                generation=2))
            failover.execute(sa.update(models.resources).where(
                models.resources.c.id == vip['id']).values(
                status='PENDING_UPDATE'))
            answer = threading.Thread(target=lambda: answers.append(
                server_api.service.update_status(
                    vip['id'], 1, 'ACTIVE', None, agent_id=bound.agent_id)))
            answer.start()
            lock_waits.wait_for_a_lock_wait(engine)
    answer.join(10)
    assert answers == [False]
    shown = client.get('/v2.0/lb/vips/%s' % vip['id']).json['vip']
    assert shown['status'] == 'PENDING_UPDATE'


def test_delete_on_a_forced_down_agent_removes_at_once(api):
    # Forced down is dead (the liveness rule): no undeploy waited for, as
    # for an agent whose heartbeats stopped.
    client, engine, notifier = api
    agent_id, _device_id = _lb(client, engine)
    vip = client.post('/v2.0/lb/vips', json={'vip': VIP}).json['vip']
    assert _binding(engine, vip['id']).agent_id == agent_id
    with engine.begin() as connection:
        connection.execute(sa.update(models.agents).where(
            models.agents.c.id == agent_id).values(forced_down=True))
    path = '/v2.0/lb/vips/%s' % vip['id']
    assert client.delete(path).status_code == 204
    _error(client.get(path), 404, 'VipNotFound')
    assert notifier.undeployed == []
    assert _binding(engine, vip['id']) is None


def test_list_filters_fields_sort_and_pages(api):
    client, _engine, _ = api
    ids = [client.post('/v2.0/lb/vips', json={'vip': dict(
        VIP, name='v%d' % n)}).json['vip']['id'] for n in range(5)]
    client.post('/v2.0/vpn/connections', json={'vpn_connection': VPN})
    listed = client.get('/v2.0/lb/vips').json['vips']
    assert sorted(v['id'] for v in listed) == sorted(ids)
    named = client.get('/v2.0/lb/vips?name=v1&name=v3&fields=name').json
    assert sorted(named['vips'], key=lambda v: v['name']) == [
        {'name': 'v1'}, {'name': 'v3'}]
    assert client.get('/v2.0/lb/vips?status=ACTIVE').json == {'vips': []}
    assert len(client.get('/v2.0/lb/vips?status=ERROR').json['vips']) == 5
    assert len(client.get('/v2.0/lb/vips?tenant_id=admin').json[
        'vips']) == 5
    names = [v['name'] for v in client.get(
        '/v2.0/lb/vips?sort_key=name&sort_dir=desc').json['vips']]
    assert names == ['v4', 'v3', 'v2', 'v1', 'v0']
    page = client.get('/v2.0/lb/vips?sort_key=name&limit=2').json
    assert [v['name'] for v in page['vips']] == ['v0', 'v1']
    following = page['vips_links'][0]['href'].split('?', 1)[1]
    assert [v['name'] for v in client.get(
        '/v2.0/lb/vips?' + following).json['vips']] == ['v2', 'v3']
    _error(client.get('/v2.0/lb/vips?marker=nope'), 400)
    _error(client.get('/v2.0/lb/vips?colour=red'), 400)
    _error(client.get('/v2.0/lb/vips?sort_key=address'), 400)


@pytest.fixture
def tokens(parsed_conf, database, box):
    """Keystone tokens: admin (project p-admin), alice (pa), bob (pb)."""
    parsed_conf.set_override('auth_strategy', 'keystone')
    parsed_conf.set_override('www_authenticate_uri',
                             'http://keystone.example/identity',
                             'keystone_authtoken')
    _overrides(parsed_conf)
    engine = database.engine()
    with ksm_fixture.AuthTokenFixture() as fixture:
        names = {}
        for name, role, project in (('admin', 'admin', 'p-admin'),
                                    ('alice', 'member', 'pa'),
                                    ('bob', 'member', 'pb')):
            token = uuid.uuid4().hex
            fixture.add_token_data(token_id=token, role_list=[role],
                                   user_id=name, project_id=project)
            names[name] = {'X-Auth-Token': token}
        client = api_fixtures.client(parsed_conf, engine, secret_box=box)
        yield client, engine, names
    parsed_conf.clear_override('auth_strategy')
    parsed_conf.clear_override('www_authenticate_uri', 'keystone_authtoken')
    _clear(parsed_conf)


def test_projects_see_only_their_own(tokens):
    client, _engine, as_ = tokens
    mine = client.post('/v2.0/lb/vips', json={'vip': VIP},
                       headers=as_['alice'])
    assert mine.status_code == 201, mine.get_data(as_text=True)
    mine = mine.json['vip']
    assert mine['project_id'] == 'pa'
    theirs = client.post('/v2.0/lb/vips', json={'vip': VIP},
                         headers=as_['bob']).json['vip']
    path = '/v2.0/lb/vips/%s' % theirs['id']

    listed = client.get('/v2.0/lb/vips', headers=as_['alice']).json['vips']
    assert [v['id'] for v in listed] == [mine['id']]
    # Asking for another project's gives nothing, not theirs.
    assert client.get('/v2.0/lb/vips?project_id=pb',
                      headers=as_['alice']).json == {'vips': []}
    _error(client.get(path, headers=as_['alice']), 404, 'VipNotFound')
    _error(client.put(path, json={'vip': {'name': 'mine now'}},
                      headers=as_['alice']), 404)
    _error(client.delete(path, headers=as_['alice']), 404)
    _error(client.get('/v2.0/lb/vips?marker=%s' % theirs['id'],
                      headers=as_['alice']), 400)
    # Creating in another project is the admin's right only.
    _error(client.post('/v2.0/lb/vips', json={'vip': dict(
        VIP, project_id='pb')}, headers=as_['alice']), 403,
        'PolicyNotAuthorized')

    everything = client.get('/v2.0/lb/vips', headers=as_['admin']).json[
        'vips']
    assert sorted(v['id'] for v in everything) == sorted(
        [mine['id'], theirs['id']])
    only_b = client.get('/v2.0/lb/vips?project_id=pb',
                        headers=as_['admin']).json['vips']
    assert [v['id'] for v in only_b] == [theirs['id']]
    for_b = client.post('/v2.0/lb/vips', json={'vip': dict(
        VIP, tenant_id='pb')}, headers=as_['admin']).json['vip']
    assert for_b['project_id'] == 'pb'
    assert client.delete(path, headers=as_['bob']).status_code == 204
    assert client.delete('/v2.0/lb/vips/%s' % mine['id'],
                         headers=as_['admin']).status_code == 204
    assert [v['id'] for v in client.get(
        '/v2.0/lb/vips', headers=as_['bob']).json['vips']] == [for_b['id']]
    assert client.get('/v2.0/lb/vips').status_code == 401


def test_spec_change_while_its_agent_is_deleted_is_not_a_500(api):
    # The binding outlives a deleted agent (agent_id set NULL) until the
    # health monitor moves the resource; an update must not try to place
    # the still-bound resource a second time.
    client, engine, notifier = api
    agent_id, device_id = _lb(client, engine)
    vip = client.post('/v2.0/lb/vips', json={'vip': VIP}).json['vip']
    _lb(client, engine, 'lb-2')  # room elsewhere, for a wrong second place
    with engine.begin() as connection:
        connection.execute(sa.delete(models.agents).where(
            models.agents.c.id == agent_id))
    assert _binding(engine, vip['id']).agent_id is None
    response = client.put('/v2.0/lb/vips/%s' % vip['id'],
                          json={'vip': {'protocol_port': 81}})
    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.json['vip']['protocol_port'] == 81
    assert response.json['vip']['status'] == 'PENDING_UPDATE'
    assert _binding(engine, vip['id']).device_id == device_id
    assert len(notifier.deployed) == 1


# Issue 13: input that reached a config renderer. Each is a 400 naming the
# field, and nothing is created.
INJECTED_PEER = (
    'fe80::1%eth0\n    }\n    evil {\n'
    '        children { evil { remote_ts = 0.0.0.0-255.255.255.255 } }\n'
    '        local { auth = psk }\n'
    '        remote { auth = psk }\n').ljust(168, '#')


@pytest.mark.parametrize('changes, field', [
    ({'peer_address': INJECTED_PEER}, 'peer_address'),
    ({'peer_address': 'gw.example\n'}, 'peer_address'),
    ({'peer_address': 'fe80::1%eth0'}, 'peer_address'),
    ({'peer_address': 'a' * 64 + '.example'}, 'peer_address'),
    ({'peer_id': 'branch\n'}, 'peer_id'),
    ({'peer_id': 'x"\n}'}, 'peer_id'),
    ({'peer_cidrs': ['fe80::%eth0 } evil {/64']}, 'peer_cidrs'),
    ({'peer_cidrs': ['10.0.0.0/33']}, 'peer_cidrs'),
    ({'local_cidrs': ['10.1.0.0/16\n']}, 'local_cidrs'),
])
def test_vpn_connection_injections_are_refused(api, changes, field):
    client, _engine, notifier = api
    _vpn(client, _engine)
    message = _error(client.post('/v2.0/vpn/connections', json={
        'vpn_connection': dict(VPN, **changes)}), 400)
    assert field in message
    assert PSK not in message
    assert client.get('/v2.0/vpn/connections').json['vpn_connections'] == []
    assert notifier.deployed == []


@pytest.mark.parametrize('changes, field', [
    ({'address': 'host\n'}, 'address'),
    ({'address': 'fe80::1%eth0 bind 0.0.0.0:22'}, 'address'),
    ({'address': 'fe80::1%eth0'}, 'address'),
    ({'address': '-lb.example'}, 'address'),
    ({'members': [{'address': 'backend.example\n', 'protocol_port': 80}]},
     'members'),
    ({'members': [{'address': 'a b', 'protocol_port': 80}]}, 'members'),
    ({'session_persistence': {'type': 'APP_COOKIE',
                              'cookie_name': 'x)\nbind :1'}},
     'cookie_name'),
    ({'session_persistence': {'type': 'APP_COOKIE',
                              'cookie_name': 'SID#x'}}, 'cookie_name'),
])
def test_vip_injections_are_refused(api, changes, field):
    client, engine, notifier = api
    _lb(client, engine)
    message = _error(client.post('/v2.0/lb/vips', json={
        'vip': dict(VIP, **changes)}), 400)
    assert field in message
    assert client.get('/v2.0/lb/vips').json['vips'] == []
    assert notifier.deployed == []


def test_updates_are_checked_as_strictly(api):
    client, engine, notifier = api
    _lb(client, engine)
    vip = client.post('/v2.0/lb/vips', json={'vip': VIP}).json['vip']
    path = '/v2.0/lb/vips/%s' % vip['id']
    assert 'address' in _error(client.put(path, json={'vip': {
        'address': 'host\n'}}), 400)
    assert client.get(path).json['vip']['address'] == VIP['address']


@pytest.mark.parametrize('device_type, physical_info, field', [
    ('strongswan', {'address': 'gw.example\n'}, 'address'),
    ('strongswan', {'address': 'fe80::1%eth0 }'}, 'address'),
    ('haproxy', {'address': 'lb\n'}, 'address'),
    ('haproxy', {'management': {'stats_socket': '/run/s.sock\nx'}},
     'stats_socket'),
    ('strongswan', {'address': '192.0.2.1', 'config_dir': '/etc/a b'},
     'config_dir'),
])
def test_device_physical_info_is_checked(api, device_type, physical_info,
                                         field):
    client, _engine, _notifier = api
    message = _error(client.post('/v2.0/devices', json={
        'device': {'name': 'd', 'device_type': device_type, 'capacity': 1,
                   'physical_info': physical_info}}), 400)
    assert field in message
    assert client.get('/v2.0/devices').json['devices'] == []
