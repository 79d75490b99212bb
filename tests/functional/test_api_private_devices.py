"""Tenants' private appliances (issue 15) over SQLite, PostgreSQL and
MariaDB, under keystone tokens: a project registers its own devices, sees
and changes only those, and only its resources ever land on them; the
scheduler's private/shared choice; the quota, racing creates included."""

import base64
import struct
import threading
import uuid

from keystonemiddleware import fixture as ksm_fixture
import pytest
import sqlalchemy as sa

from agentsched import exceptions
from agentsched.db import devices as devices_db
from agentsched.db import models
from agentsched.services import secrets
from tests import api_fixtures
from tests.functional import test_api_resources as resources_tests

VIP = resources_tests.VIP
SECRET = 'private-key-%s' % uuid.uuid4().hex


def _ssh_string(data):
    return struct.pack('>I', len(data)) + data


ED25519 = 'ssh-ed25519 ' + base64.b64encode(
    _ssh_string(b'ssh-ed25519') + _ssh_string(b'k' * 32)).decode()
PERSONAS = {'admin': ('admin', 'p-admin'), 'member_a': ('member', 'pa'),
            'reader_a': ('reader', 'pa'), 'member_b': ('member', 'pb'),
            'member_c': ('member', 'pc'), 'unscoped': ('member', None)}


class Site:
    """The API over one database, a token per persona (self.headers)."""

    def __init__(self, client, engine, built, notifier, headers):
        self.client, self.engine, self.built = client, engine, built
        self.notifier, self.headers = notifier, headers

    def call(self, persona, method, path, body=None):
        return getattr(self.client, method)(path, json=body,
                                            headers=self.headers[persona])

    def device(self, persona, name, status=201, **fields):
        """Register a device as persona; its JSON (or the error's)."""
        device = dict({'name': name, 'device_type': 'haproxy',
                       'capacity': 5,
                       'physical_info': {'address': '192.0.2.20'}},
                      **fields)
        response = self.call(persona, 'post', '/v2.0/devices',
                             {'device': device})
        assert response.status_code == status, response.get_data(
            as_text=True)
        return response.json.get('device') or response.json

    def link(self, device_id, host=None):
        """An admin links the device to a (new) live agent, which reports
        it OK."""
        agent_id = api_fixtures.add_agent(self.engine,
                                          host or 'h-' + uuid.uuid4().hex[:8])
        response = self.call('admin', 'post',
                             '/v2.0/agents/%s/devices' % agent_id,
                             {'device_id': device_id})
        assert response.status_code == 201, response.get_data(as_text=True)
        self.health(device_id, 'OK')
        return agent_id

    def health(self, device_id, health):
        with self.engine.begin() as connection:
            devices_db.set_health(connection, device_id, health)

    def vip(self, persona, **requirements):
        body = dict(VIP, requirements=dict(requirements,
                                           device_type='haproxy'))
        response = self.call(persona, 'post', '/v2.0/lb/vips', {'vip': body})
        assert response.status_code == 201, response.get_data(as_text=True)
        return response.json['vip']

    def device_of(self, resource_id):
        """The device a resource is bound to (None: unbound)."""
        with self.engine.connect() as connection:
            return connection.execute(
                sa.select(models.bindings.c.device_id).where(
                    models.bindings.c.resource_id == resource_id)).scalar()


@pytest.fixture
def site(parsed_conf, database):
    parsed_conf.set_override('auth_strategy', 'keystone')
    parsed_conf.set_override('www_authenticate_uri',
                             'http://keystone.example/identity',
                             'keystone_authtoken')
    parsed_conf.set_override('agent_down_time', 30)
    # Devices are linked between placements: no stale candidate snapshot.
    parsed_conf.set_override('snapshot_max_age', 0, 'scheduler')
    engine = database.engine()
    notifier = api_fixtures.RecordingNotifier()
    built = api_fixtures.services(parsed_conf, engine, notifier,
                                  secrets.SecretBox([secrets.generate_key()]))
    try:
        with ksm_fixture.AuthTokenFixture() as tokens:
            headers = {}
            for persona, (role, project) in PERSONAS.items():
                token = uuid.uuid4().hex
                tokens.add_token_data(token_id=token, role_list=[role],
                                      user_id=persona, project_id=project)
                headers[persona] = {'X-Auth-Token': token}
            yield Site(api_fixtures.client(parsed_conf, engine, built=built),
                       engine, built, notifier, headers)
    finally:
        parsed_conf.clear_override('www_authenticate_uri',
                                   'keystone_authtoken')
        for name in ('auth_strategy', 'agent_down_time'):
            parsed_conf.clear_override(name)
        parsed_conf.clear_override('snapshot_max_age', 'scheduler')


def _error(response, status, type_=None):
    assert response.status_code == status, response.get_data(as_text=True)
    error = response.json['NeutronError']
    if type_:
        assert error['type'] == type_, error
    return error['message']


def _hidden_like_a_missing_one(site, persona, device_id):
    """GET, PUT and DELETE of device_id answer persona exactly as for an
    id that names no device: 404 DeviceNotFound."""
    missing = str(uuid.uuid4())
    for method, body in (('get', None),
                         ('put', {'device': {'capacity': 1}}),
                         ('delete', None)):
        answers = []
        for target in (device_id, missing):
            response = site.call(persona, method, '/v2.0/devices/%s' % target,
                                 body)
            error = response.json['NeutronError']
            answers.append((response.status_code, error['type'],
                            error['message'].replace(target, 'ID')))
        assert answers[0] == answers[1] == (
            404, 'DeviceNotFound', 'Device ID could not be found.'), (
            method, answers)


def test_a_private_device_hosts_its_projects_vips_only(site):
    """The issue's test: tenant A registers its VM balancer; B's VIP never
    lands on it, even as the only device with room (ERROR, and the reason
    does not name A's device); A's does; B gets a 404 on it."""
    device = site.device('member_a', 'a-balancer')
    assert (device['project_id'], device['tenant_id'], device['source']) == (
        'pa', 'pa', 'project')
    assert device['health'] == 'UNKNOWN'
    site.link(device['id'])

    theirs = site.vip('member_b')
    assert theirs['status'] == 'ERROR', theirs
    assert site.device_of(theirs['id']) is None
    assert 'no agent reaches a LOADBALANCER device' in \
        theirs['status_description']
    assert device['id'] not in theirs['status_description']
    assert 'a-balancer' not in theirs['status_description']

    mine = site.vip('member_a')
    assert mine['status'] == 'PENDING_CREATE', mine
    assert site.device_of(mine['id']) == device['id']

    _hidden_like_a_missing_one(site, 'member_b', device['id'])
    assert site.device_of(mine['id']) == device['id']   # not deleted
    listed = site.call('member_b', 'get', '/v2.0/devices').json['devices']
    assert listed == []
    for query in ('project_id=pa', 'tenant_id=pa', 'name=a-balancer'):
        assert site.call('member_b', 'get', '/v2.0/devices?' + query).json[
            'devices'] == []
    # Nor does paging after it tell it exists.
    for marker in (device['id'], str(uuid.uuid4())):
        response = site.call('member_b', 'get',
                             '/v2.0/devices?marker=%s' % marker)
        assert _error(response, 400).replace(marker, 'ID') == \
            'marker ID is not a device id'
    # A sees it; its reader too, who cannot change it.
    for persona in ('member_a', 'reader_a'):
        assert [d['id'] for d in site.call(
            persona, 'get', '/v2.0/devices').json['devices']] == \
            [device['id']]
        assert site.call(persona, 'get', '/v2.0/devices/%s' % device[
            'id']).json['device']['name'] == 'a-balancer'
    for method, body in (('put', {'device': {'capacity': 9}}),
                         ('delete', None)):
        _error(site.call('reader_a', method, '/v2.0/devices/%s' %
                         device['id'], body), 403, 'PolicyNotAuthorized')
    _error(site.call('reader_a', 'post', '/v2.0/devices', {'device': {
        'name': 'r', 'device_type': 'noop'}}), 403, 'PolicyNotAuthorized')


def test_a_tenant_sees_no_provider_device(site):
    shared = site.device('admin', 'provider-lb')
    assert (shared['project_id'], shared['source']) == (None, 'admin')
    agent_id = site.link(shared['id'])
    own = site.device('member_a', 'a-own')
    listed = site.call('member_a', 'get', '/v2.0/devices').json['devices']
    assert [d['id'] for d in listed] == [own['id']]
    _hidden_like_a_missing_one(site, 'member_a', shared['id'])
    # Which agents reach a device, and the links, are the admin's.
    for method, path, body in (
            ('get', '/v2.0/devices/%s/agents' % own['id'], None),
            ('get', '/v2.0/agents/%s/devices' % agent_id, None),
            ('post', '/v2.0/agents/%s/devices' % agent_id,
             {'device_id': own['id']}),
            ('delete', '/v2.0/agents/%s/devices/%s' % (agent_id,
                                                       shared['id']), None)):
        _error(site.call('member_a', method, path, body), 403,
               'PolicyNotAuthorized')
    # The admin sees both, with their owners, and filters by owner.
    everything = site.call('admin', 'get', '/v2.0/devices').json['devices']
    assert {d['name']: d['project_id'] for d in everything} == {
        'provider-lb': None, 'a-own': 'pa'}
    assert [d['name'] for d in site.call(
        'admin', 'get', '/v2.0/devices?tenant_id=pa').json['devices']] == [
        'a-own']
    # A token without a project sees none and registers none.
    assert site.call('unscoped', 'get', '/v2.0/devices').json[
        'devices'] == []
    _error(site.call('unscoped', 'post', '/v2.0/devices', {'device': {
        'name': 'u', 'device_type': 'noop'}}), 403, 'PolicyNotAuthorized')


def test_private_or_shared_as_requirements_say(site):
    shared = site.device('admin', 'shared-lb', capacity=4)
    site.link(shared['id'])
    own = site.device('member_a', 'a-lb', capacity=2)
    site.link(own['id'])

    # Absent: its private device first; false: shared only; true: private.
    assert site.device_of(site.vip('member_a')['id']) == own['id']
    assert site.device_of(site.vip('member_a', private=False)['id']) == \
        shared['id']
    assert site.device_of(site.vip('member_a', private=True)['id']) == \
        own['id']
    # Its device is full: absent falls back to shared, true does not.
    assert site.device_of(site.vip('member_a')['id']) == shared['id']
    refused = site.vip('member_a', private=True)
    assert refused['status'] == 'ERROR'
    assert refused['status_description'] == (
        'no valid candidate for vip among 1 on private devices of project '
        'pa: 1 without 1 free unit')
    # A project without private devices: shared, and a clear refusal.
    assert site.device_of(site.vip('member_b')['id']) == shared['id']
    refused = site.vip('member_c', private=True)
    assert refused['status_description'] == (
        'no valid candidate for vip: no agent reaches a private '
        'LOADBALANCER device of project pc')
    # Both full: what the private and the shared devices lack, both said.
    assert site.device_of(site.vip('member_c')['id']) == shared['id']
    refused = site.vip('member_a')
    assert refused['status_description'] == (
        'no valid candidate for vip among 1 on private devices of project '
        'pa: 1 without 1 free unit; no valid candidate for vip among 1: 1 '
        'without 1 free unit')
    for value in ('yes', 1, {}):
        message = _error(site.call('member_a', 'post', '/v2.0/lb/vips', {
            'vip': dict(VIP, requirements={'private': value})}), 400)
        assert 'private' in message, message


def test_by_hand_and_failover_never_use_another_projects_device(site):
    """An admin's placement by hand and failover moves choose among the
    resource's own candidates only."""
    own = site.device('member_a', 'a-lb')
    a_agent = site.link(own['id'])
    theirs = site.vip('member_b')
    assert theirs['status'] == 'ERROR'
    # By hand, on the agent of A's device: nothing there fits B's VIP.
    message = _error(site.call('admin', 'post', '/v2.0/agents/%s/vips' %
                               a_agent, {'vip_id': theirs['id']}), 409,
                     'NoValidCandidate')
    assert 'no agent reaches a LOADBALANCER device' in message
    assert site.device_of(theirs['id']) is None
    shared = site.device('admin', 'shared-lb')
    shared_agent = site.link(shared['id'])
    response = site.call('admin', 'post', '/v2.0/agents/%s/vips' %
                         shared_agent, {'vip_id': theirs['id']})
    assert response.status_code == 201, response.get_data(as_text=True)
    assert site.device_of(theirs['id']) == shared['id']
    # A's VIP lands on the shared device while its own is down.
    site.health(own['id'], 'DOWN')
    mine = site.vip('member_a')
    assert site.device_of(mine['id']) == shared['id']
    site.health(own['id'], 'OK')
    # The shared device goes down; A's is the only other one with room.
    site.health(shared['id'], 'DOWN')
    response = site.call('admin', 'put', '/v2.0/lb/vips/%s/failover' %
                         theirs['id'])
    assert response.status_code == 202, response.get_data(as_text=True)
    assert response.json['failover'] == 'failed'
    assert site.device_of(theirs['id']) == shared['id']
    response = site.call('admin', 'put', '/v2.0/lb/vips/%s/failover' %
                         mine['id'])
    assert response.json['failover'] == 'moved', response.json
    assert site.device_of(mine['id']) == own['id']


def test_credentials_are_write_only_for_tenants(site):
    device = site.device('member_a', 'a-gw', device_type='strongswan',
                         physical_info={'address': '203.0.113.5'},
                         credentials={'private_key': SECRET})
    assert device['has_credentials'] is True and 'credentials' not in device
    url = '/v2.0/devices/%s' % device['id']
    texts = [site.call('member_a', 'get', url).get_data(as_text=True),
             site.call('member_a', 'get', '/v2.0/devices').get_data(
                 as_text=True),
             site.call('member_a', 'get', url + '?fields=has_credentials')
             .get_data(as_text=True)]
    _error(site.call('member_a', 'get', url + '?fields=credentials'), 400)
    changed = site.call('member_a', 'put', url, {'device': {
        'credentials': {'private_key': SECRET + '2'}}})
    assert changed.json['device']['has_credentials'] is True
    texts.append(changed.get_data(as_text=True))
    assert not any(SECRET in text for text in texts)
    with site.engine.connect() as connection:
        stored = connection.execute(
            sa.select(models.devices.c.credentials).where(
                models.devices.c.id == device['id'])).scalar()
    assert SECRET not in stored


def test_what_a_tenant_may_set(site):
    device = site.device('member_a', 'a-lb', availability_zone='az1',
                         capabilities={'ssl': True}, admin_state_up=False,
                         service_type='LOADBALANCER')
    url = '/v2.0/devices/%s' % device['id']
    changed = site.call('member_a', 'put', url, {'device': {
        'name': 'a-lb-2', 'capacity': 7, 'admin_state_up': True,
        'physical_info': {'address': '192.0.2.21', 'port': 8080}}})
    assert changed.status_code == 200, changed.get_data(as_text=True)
    assert changed.json['device']['revision_number'] == 1
    # Paths on the agent's host are the provider's.
    for fields in ({'physical_info': {'address': '192.0.2.20',
                                      'config_dir': '/etc/cron.d'}},
                   {'physical_info': {'management': {
                       'stats_socket': '/run/x.sock'}}}):
        name = next(key for key in fields['physical_info']
                    if key != 'address')
        message = _error(site.call('member_a', 'put', url,
                                   {'device': fields}), 400)
        assert 'physical_info.%s' % name in message
        message = _error(site.call('member_a', 'post', '/v2.0/devices', {
            'device': dict(fields, name='x', device_type='haproxy')}), 400)
        assert 'physical_info.%s' % name in message
    # ... which an admin may set on it, and a tenant's change keeps.
    site.call('admin', 'put', url, {'device': {'physical_info': {
        'address': '192.0.2.21', 'config_dir': '/var/lib/a-lb'}}})
    kept = site.call('member_a', 'put', url, {'device': {'physical_info': {
        'address': '192.0.2.22'}}}).json['device']
    assert kept['physical_info'] == {'address': '192.0.2.22',
                                     'config_dir': '/var/lib/a-lb'}
    # An appliance driven over SSH: its paths are its own, the project's.
    ssh = site.device('member_a', 'a-vm', device_type='haproxy_ssh',
                      physical_info={'address': '192.0.2.30',
                                     'host_key': ED25519,
                                     'config_dir': '/srv/haproxy'},
                      credentials={'username': 'lb', 'password': SECRET})
    assert ssh['physical_info']['config_dir'] == '/srv/haproxy'
    for key in ('project_id', 'tenant_id'):
        message = _error(site.call('member_a', 'put', url,
                                   {'device': {key: 'pa'}}), 400)
        assert message == '%s of a device cannot be updated: its owner ' \
            'never changes' % key
        _error(site.call('admin', 'put', url, {'device': {key: None}}), 400)


@pytest.mark.parametrize('value', ['', ' pa', 'p a', 'pa\n', 'p\x1ba',
                                   'x' * 256, 7, True, ['pa'], {'id': 'pa'}])
def test_hostile_owners_are_refused_naming_the_field(site, value):
    for key in ('project_id', 'tenant_id'):
        message = _error(site.call('admin', 'post', '/v2.0/devices', {
            'device': {'name': 'd', 'device_type': 'noop', key: value}}),
            400, 'HTTPBadRequest')
        assert 'body.device.%s' % key in message, message
    with site.engine.connect() as connection:
        assert connection.execute(sa.select(sa.func.count()).select_from(
            models.devices)).scalar() == 0


def test_owners_a_caller_may_give(site):
    for body, status in (({'project_id': 'pa', 'tenant_id': 'pb'}, 400),
                         ({'project_id': 'pb'}, 403),
                         ({'tenant_id': 'pb'}, 403),
                         ({'project_id': None}, 403)):
        response = site.call('member_a', 'post', '/v2.0/devices', {
            'device': dict(body, name='d', device_type='noop')})
        assert response.status_code == status, (body, response.get_data())
    assert site.device('member_a', 'own', device_type='noop',
                       tenant_id='pa')['project_id'] == 'pa'
    # An admin registers a project's device, or a shared one (null, or
    # nothing said), and creates and links a project's in one step.
    made = site.device('admin', 'for-b', device_type='noop',
                       project_id='pb')
    assert (made['project_id'], made['source']) == ('pb', 'admin')
    assert site.device('admin', 'shared', device_type='noop',
                       project_id=None)['project_id'] is None
    agent_id = api_fixtures.add_agent(site.engine, 'h1')
    response = site.call('admin', 'post', '/v2.0/agents/%s/devices' %
                         agent_id, {'device': {'name': 'linked-b',
                                               'device_type': 'noop',
                                               'tenant_id': 'pb'}})
    assert response.json['device']['project_id'] == 'pb'
    assert [d['name'] for d in site.call(
        'member_b', 'get', '/v2.0/devices?sort_key=name').json[
        'devices']] == ['for-b', 'linked-b']


def test_quota_of_private_devices(site, parsed_conf):
    parsed_conf.set_override('private_devices_per_project', 2, 'quota')
    try:
        first = site.device('member_a', 'a-1', device_type='noop')
        site.device('admin', 'a-2', device_type='noop', project_id='pa')
        for persona, fields in (('member_a', {}),
                                ('admin', {'project_id': 'pa'})):
            refused = site.device(persona, 'a-3', status=409,
                                  device_type='noop', **fields)
            assert refused['NeutronError']['type'] == 'OverQuota'
            assert refused['NeutronError']['message'] == (
                "Quota exceeded for resources: ['private_device']. Project "
                "pa has reached its limit of 2 private devices ([quota] "
                "private_devices_per_project).")
        # Other projects' and shared devices do not count.
        site.device('member_b', 'b-1', device_type='noop')
        site.device('admin', 'shared-1', device_type='noop')
        assert site.call('member_a', 'delete', '/v2.0/devices/%s' %
                         first['id']).status_code == 204
        site.device('member_a', 'a-3', device_type='noop')
        parsed_conf.set_override('private_devices_per_project', 0, 'quota')
        site.device('member_b', 'b-2', status=409, device_type='noop')
        parsed_conf.set_override('private_devices_per_project', -1, 'quota')
        for n in range(4):
            site.device('member_b', 'b-more-%d' % n, device_type='noop')
    finally:
        parsed_conf.clear_override('private_devices_per_project', 'quota')


@pytest.mark.parametrize('limit', [1, 3])
def test_racing_creates_never_pass_the_quota(database, parsed_conf, limit):
    """Creates at the limit from several threads, each its own transaction
    at once: exactly limit of them pass, on every database (PostgreSQL and
    MariaDB: under the project's lock; SQLite: one writer)."""
    parsed_conf.set_override('private_devices_per_project', limit, 'quota')
    engine = database.engine()
    built = api_fixtures.services(parsed_conf, engine, secret_box=(
        secrets.SecretBox([secrets.generate_key()])))
    racers, rounds = 8, 3
    outcomes = []

    def create(start, project, n):
        start.wait()
        try:
            built.devices.create({'name': '%s-%d' % (project, n),
                                  'device_type': 'noop',
                                  'project_id': project}, tenant=project)
            outcomes.append((project, 'created'))
        except exceptions.Conflict as exc:
            outcomes.append((project, exc.code))

    try:
        for project in ['p%d' % n for n in range(rounds)]:
            start = threading.Barrier(racers)
            threads = [threading.Thread(target=create,
                                        args=(start, project, n))
                       for n in range(racers)]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
            assert sorted(code for owner, code in outcomes
                          if owner == project) == sorted(
                ['created'] * limit + ['OverQuota'] * (racers - limit))
            with engine.connect() as connection:
                assert devices_db.private_count(connection, project) == limit
    finally:
        parsed_conf.clear_override('private_devices_per_project', 'quota')
