"""Every route against every persona (secure RBAC, issue 13 item 3).

The routes come from the routing table itself (root routes plus each
loaded extension's), so a new route fails test_every_route_is_classified
until ROUTES below says who may call it. Personas are keystone tokens:

  admin      role admin, in project p-admin (an admin acts on every project)
  member_a   role member of project A (pa): reads and writes A's resources
  reader_a   role reader of project A: reads A's resources, writes nothing
  member_b   role member of project B (pb), aimed at A's resources
  system     role admin on a system-scoped token: every rule is
             scope_types=['project'], so it is refused everywhere
  anonymous  no token: 401, but for the public version document

Outcomes: OK (allowed: neither 401 nor 403), DENIED (403
PolicyNotAuthorized naming the route's rule), HIDDEN (404: another
project's resource is not found, as Neutron answers, before any policy
check), UNAUTHENTICATED (401). Every request gets fresh objects (an
agent, devices, a VIP and a VPN connection of project A, a flavor, a
service profile), so a DELETE allowed to one persona cannot turn another's
403 into a 404.
"""

import json
import re
import uuid

from keystoneauth1 import fixture as ks_fixture
from keystonemiddleware import fixture as ksm_fixture
from oslo_context import context as oslo_context
from oslo_policy import opts as policy_opts
import pytest

from agentsched.api import app as api_app
from agentsched.api import errors
from agentsched.api import policy
from agentsched.db import devices as devices_db
from agentsched.services import secrets
from tests import api_fixtures

OK, DENIED, HIDDEN, UNAUTHENTICATED = 'ok', 'denied', 'hidden', 'unauth'
PERSONAS = ('admin', 'member_a', 'reader_a', 'member_b', 'system',
            'anonymous')
PROJECT_A, PROJECT_B = 'pa', 'pb'


def _expect(admin, member_a, reader_a, member_b, system=DENIED,
            anonymous=UNAUTHENTICATED):
    return dict(admin=admin, member_a=member_a, reader_a=reader_a,
                member_b=member_b, system=system, anonymous=anonymous)


ADMIN_ONLY = _expect(OK, DENIED, DENIED, DENIED)
# Any authenticated project-scoped token (get_flavor).
ANY_USER = _expect(OK, OK, OK, OK)
# Routes no policy rule guards: any authenticated token, system scope too.
NO_RULE = _expect(OK, OK, OK, OK, system=OK)
PUBLIC = _expect(OK, OK, OK, OK, system=OK, anonymous=OK)
# A project's collection: B lists its own (none of A's), B cannot create
# in A.
LIST_OWN = _expect(OK, OK, OK, OK)
CREATE_IN_A = _expect(OK, OK, DENIED, DENIED)
# One of A's resources: B does not find it.
READ_A = _expect(OK, OK, OK, HIDDEN)
WRITE_A = _expect(OK, OK, DENIED, HIDDEN)

# (method, route as Flask spells it) -> (policy rule or None, outcomes).
ROUTES = {
    ('GET', '/'): (None, PUBLIC),
    ('GET', '/v2.0'): (None, NO_RULE),
    ('GET', '/v2.0/'): (None, NO_RULE),
    ('GET', '/v2.0/extensions'): (None, NO_RULE),
    ('GET', '/v2.0/extensions/<alias>'): (None, NO_RULE),
    ('GET', '/v2.0/openapi.json'): ('get_openapi', ADMIN_ONLY),
    ('GET', '/metrics'): ('get_metrics', ADMIN_ONLY),

    ('GET', '/v2.0/agents'): ('get_agent', ADMIN_ONLY),
    ('POST', '/v2.0/agents'): ('update_agent', ADMIN_ONLY),
    ('GET', '/v2.0/agents/<agent_id>'): ('get_agent', ADMIN_ONLY),
    ('PUT', '/v2.0/agents/<agent_id>'): ('update_agent', ADMIN_ONLY),
    ('DELETE', '/v2.0/agents/<agent_id>'): ('delete_agent', ADMIN_ONLY),

    # /v2.0/devices/<device_id> is A's private device (issue 15).
    ('GET', '/v2.0/devices'): ('get_device', LIST_OWN),
    ('POST', '/v2.0/devices'): ('create_device', CREATE_IN_A),
    ('GET', '/v2.0/devices/<device_id>'): ('get_device', READ_A),
    ('PUT', '/v2.0/devices/<device_id>'): ('update_device', WRITE_A),
    ('DELETE', '/v2.0/devices/<device_id>'): ('delete_device', WRITE_A),
    ('GET', '/v2.0/devices/<device_id>/agents'): ('get_device_agents',
                                                  ADMIN_ONLY),
    ('GET', '/v2.0/agents/<agent_id>/devices'): ('get_agent_devices',
                                                 ADMIN_ONLY),
    ('POST', '/v2.0/agents/<agent_id>/devices'): ('add_device_to_agent',
                                                  ADMIN_ONLY),
    ('DELETE', '/v2.0/agents/<agent_id>/devices/<device_id>'): (
        'remove_device_from_agent', ADMIN_ONLY),

    ('GET', '/v2.0/lb/vips'): ('get_vip', LIST_OWN),
    ('POST', '/v2.0/lb/vips'): ('create_vip', CREATE_IN_A),
    ('GET', '/v2.0/lb/vips/<resource_id>'): ('get_vip', READ_A),
    ('PUT', '/v2.0/lb/vips/<resource_id>'): ('update_vip', WRITE_A),
    ('DELETE', '/v2.0/lb/vips/<resource_id>'): ('delete_vip', WRITE_A),
    ('GET', '/v2.0/lb/vips/<resource_id>/stats'): ('get_vip_stats', READ_A),
    ('GET', '/v2.0/vpn/connections'): ('get_vpn_connection', LIST_OWN),
    ('POST', '/v2.0/vpn/connections'): ('create_vpn_connection',
                                        CREATE_IN_A),
    ('GET', '/v2.0/vpn/connections/<resource_id>'): ('get_vpn_connection',
                                                     READ_A),
    ('PUT', '/v2.0/vpn/connections/<resource_id>'): (
        'update_vpn_connection', WRITE_A),
    ('DELETE', '/v2.0/vpn/connections/<resource_id>'): (
        'delete_vpn_connection', WRITE_A),

    ('GET', '/v2.0/agents/<agent_id>/vips'): ('get_agent_resources',
                                              ADMIN_ONLY),
    ('POST', '/v2.0/agents/<agent_id>/vips'): ('add_resource_to_agent',
                                               ADMIN_ONLY),
    ('DELETE', '/v2.0/agents/<agent_id>/vips/<resource_id>'): (
        'remove_resource_from_agent', ADMIN_ONLY),
    ('GET', '/v2.0/lb/vips/<resource_id>/agent'): ('get_resource_agent',
                                                   ADMIN_ONLY),
    ('GET', '/v2.0/agents/<agent_id>/vpn-connections'): (
        'get_agent_resources', ADMIN_ONLY),
    ('POST', '/v2.0/agents/<agent_id>/vpn-connections'): (
        'add_resource_to_agent', ADMIN_ONLY),
    ('DELETE', '/v2.0/agents/<agent_id>/vpn-connections/<resource_id>'): (
        'remove_resource_from_agent', ADMIN_ONLY),
    ('GET', '/v2.0/vpn/connections/<resource_id>/agent'): (
        'get_resource_agent', ADMIN_ONLY),

    ('GET', '/v2.0/flavors'): ('get_flavor', ANY_USER),
    ('POST', '/v2.0/flavors'): ('create_flavor', ADMIN_ONLY),
    ('GET', '/v2.0/flavors/<flavor_id>'): ('get_flavor', ANY_USER),
    ('PUT', '/v2.0/flavors/<flavor_id>'): ('update_flavor', ADMIN_ONLY),
    ('DELETE', '/v2.0/flavors/<flavor_id>'): ('delete_flavor', ADMIN_ONLY),
    ('POST', '/v2.0/flavors/<flavor_id>/service_profiles'): (
        'create_flavor_service_profile', ADMIN_ONLY),
    ('DELETE', '/v2.0/flavors/<flavor_id>/service_profiles/<profile_id>'): (
        'delete_flavor_service_profile', ADMIN_ONLY),
    ('GET', '/v2.0/service_profiles'): ('get_service_profile', ADMIN_ONLY),
    ('POST', '/v2.0/service_profiles'): ('create_service_profile',
                                         ADMIN_ONLY),
    ('GET', '/v2.0/service_profiles/<profile_id>'): ('get_service_profile',
                                                     ADMIN_ONLY),
    ('PUT', '/v2.0/service_profiles/<profile_id>'): (
        'update_service_profile', ADMIN_ONLY),
    ('DELETE', '/v2.0/service_profiles/<profile_id>'): (
        'delete_service_profile', ADMIN_ONLY),

    ('GET', '/v2.0/scheduler/health'): ('get_scheduler_health', ADMIN_ONLY),
    ('PUT', '/v2.0/lb/vips/<resource_id>/failover'): ('failover_resource',
                                                      ADMIN_ONLY),
    ('PUT', '/v2.0/vpn/connections/<resource_id>/failover'): (
        'failover_resource', ADMIN_ONLY),
}

VIP = {'name': 'web', 'address': '198.51.100.7', 'protocol': 'HTTP',
       'protocol_port': 80,
       'members': [{'address': '10.0.0.5', 'protocol_port': 8080}]}
VPN = {'name': 'branch', 'peer_address': '203.0.113.9', 'peer_id': 'branch',
       'peer_cidrs': ['10.2.0.0/16'], 'local_cidrs': ['10.1.0.0/16'],
       'psk': 'psk-%s' % uuid.uuid4().hex}


def _table():
    return api_app.routes(api_app.load_extensions())


def _pairs():
    return sorted((method, path) for path, methods in _table().items()
                  for method in methods)


def _device(name, device_type='haproxy'):
    return {'name': name, 'device_type': device_type, 'capacity': 10,
            'capabilities': {}, 'physical_info': {'address': '192.0.2.10'}}


def _body(method, path, world):
    """A valid body, so that no 400 comes before the policy check."""
    unique = uuid.uuid4().hex[:8]
    if method not in ('POST', 'PUT'):
        return None
    if path == '/v2.0/agents':
        return {'agent': {}}
    if path == '/v2.0/agents/<agent_id>':
        return {'agent': {'description': 'x'}}
    if path == '/v2.0/devices':
        return {'device': dict(_device('dev-' + unique),
                               project_id=PROJECT_A)}
    if path == '/v2.0/agents/<agent_id>/devices':
        return {'device': _device('dev-' + unique)}
    if path == '/v2.0/devices/<device_id>':
        return {'device': {'capacity': 12}}
    if path == '/v2.0/lb/vips':
        return {'vip': dict(VIP, project_id=PROJECT_A)}
    if path == '/v2.0/vpn/connections':
        return {'vpn_connection': dict(VPN, project_id=PROJECT_A)}
    if path == '/v2.0/lb/vips/<resource_id>':
        return {'vip': {'name': 'renamed'}}
    if path == '/v2.0/vpn/connections/<resource_id>':
        return {'vpn_connection': {'name': 'renamed'}}
    if path == '/v2.0/agents/<agent_id>/vips':
        return {'vip_id': world['vip']}
    if path == '/v2.0/agents/<agent_id>/vpn-connections':
        return {'vpn_connection_id': world['vpn']}
    if path == '/v2.0/flavors':
        return {'flavor': {'name': 'f-' + unique, 'service_type': 'VPN'}}
    if path == '/v2.0/flavors/<flavor_id>':
        return {'flavor': {'name': 'g-' + unique}}
    if path == '/v2.0/flavors/<flavor_id>/service_profiles':
        return {'service_profile': {'id': world['spare_profile']}}
    if path == '/v2.0/service_profiles':
        return {'service_profile': {'metainfo': json.dumps(
            {'device_type': 'haproxy'}), 'driver': 'agentsched'}}
    if path == '/v2.0/service_profiles/<profile_id>':
        return {'service_profile': {'description': 'changed'}}
    if path.endswith('/failover'):
        return None
    raise AssertionError('no body for %s %s: add one to _body' % (
        method, path))


def _url(path, world):
    vpn = 'vpn' in path

    def value(match):
        name = match.group(1)
        if name == 'agent_id':
            return world['vpn_agent' if vpn else 'lb_agent']
        if name == 'resource_id':
            return world['vpn' if vpn else 'vip']
        if name == 'device_id' and path.startswith('/v2.0/devices/'):
            return world['a_device']
        if name == 'device_id':
            return world['vpn_device' if vpn else 'lb_device']
        return world[name]
    return re.sub(r'<(?:[a-z]+:)?([a-z_]+)>', value, path)


@pytest.fixture(scope='module')
def site(parsed_conf, tmp_path_factory):
    """One API over one SQLite database, with a token per persona."""
    from tests import conftest
    database = conftest.make_database('sqlite',
                                      tmp_path_factory.mktemp('personas'))
    engine = database.engine()
    parsed_conf.set_override('auth_strategy', 'keystone')
    parsed_conf.set_override('www_authenticate_uri',
                             'http://keystone.example/identity',
                             'keystone_authtoken')
    parsed_conf.set_override('agent_down_time', 30)
    parsed_conf.set_override('snapshot_max_age', 0, 'scheduler')
    # Every test makes A a private device.
    parsed_conf.set_override('private_devices_per_project', -1, 'quota')
    try:
        with ksm_fixture.AuthTokenFixture() as tokens:
            headers = {'anonymous': {}}
            for name, role, project in (
                    ('admin', 'admin', 'p-admin'),
                    ('member_a', 'member', PROJECT_A),
                    ('reader_a', 'reader', PROJECT_A),
                    ('member_b', 'member', PROJECT_B)):
                token = uuid.uuid4().hex
                tokens.add_token_data(token_id=token, role_list=[role],
                                      user_id=name, project_id=project)
                headers[name] = {'X-Auth-Token': token}
            system = ks_fixture.V3Token(user_id='system')
            system.set_system_scope()
            system.add_role(name='admin')
            headers['system'] = {'X-Auth-Token': tokens.add_token(system)}
            box = secrets.SecretBox([secrets.generate_key()])
            client = api_fixtures.client(parsed_conf, engine,
                                         secret_box=box)
            yield client, engine, headers
    finally:
        parsed_conf.clear_override('auth_strategy')
        parsed_conf.clear_override('www_authenticate_uri',
                                   'keystone_authtoken')
        parsed_conf.clear_override('agent_down_time')
        parsed_conf.clear_override('snapshot_max_age', 'scheduler')
        parsed_conf.clear_override('private_devices_per_project', 'quota')
        database.close()


def _created(response, key):
    assert response.status_code == 201, response.get_data(as_text=True)
    return response.json[key]['id']


def _world(client, engine, as_admin):
    """Fresh objects, made by the admin: A's VIP and VPN connection live on
    agents with (shared) devices; A has a private device of its own."""
    unique = uuid.uuid4().hex[:8]
    world = {'alias': 'resources'}
    for kind, agent_type, topic, device_type in (
            ('lb', 'Loadbalancer agent', 'agentsched-lbaas-agent',
             'haproxy'),
            ('vpn', 'VPN agent', 'agentsched-vpn-agent', 'strongswan')):
        agent_id = api_fixtures.add_agent(engine, '%s-%s' % (kind, unique),
                                          agent_type=agent_type, topic=topic)
        device_id = _created(client.post(
            '/v2.0/agents/%s/devices' % agent_id, headers=as_admin,
            json={'device': _device('%s-%s' % (kind, unique),
                                    device_type)}), 'device')
        with engine.begin() as connection:
            devices_db.set_health(connection, device_id, 'OK')
        world['%s_agent' % kind] = agent_id
        world['%s_device' % kind] = device_id
    world['a_device'] = _created(client.post(
        '/v2.0/devices', headers=as_admin, json={'device': dict(
            _device('a-' + unique), project_id=PROJECT_A)}), 'device')
    requirements = {'device_type': 'haproxy'}
    world['vip'] = _created(client.post('/v2.0/lb/vips', headers=as_admin,
                                        json={'vip': dict(
                                            VIP, project_id=PROJECT_A,
                                            requirements=requirements)}),
                            'vip')
    world['vpn'] = _created(client.post(
        '/v2.0/vpn/connections', headers=as_admin,
        json={'vpn_connection': dict(VPN, project_id=PROJECT_A)}),
        'vpn_connection')
    world['flavor_id'] = _created(client.post(
        '/v2.0/flavors', headers=as_admin, json={'flavor': {
            'name': 'f-' + unique, 'service_type': 'LOADBALANCER'}}),
        'flavor')
    profiles = []
    for _ in range(2):
        profiles.append(_created(client.post(
            '/v2.0/service_profiles', headers=as_admin,
            json=_body('POST', '/v2.0/service_profiles', world)),
            'service_profile'))
    world['profile_id'], world['spare_profile'] = profiles
    response = client.post('/v2.0/flavors/%s/service_profiles' %
                           world['flavor_id'], headers=as_admin,
                           json={'service_profile': {'id': profiles[0]}})
    assert response.status_code == 201, response.get_data(as_text=True)
    return world


def test_every_route_is_classified():
    """A route nobody classified fails here: add it to ROUTES."""
    pairs = set(_pairs())
    assert sorted(pairs - set(ROUTES)) == [], 'routes missing from ROUTES'
    assert sorted(set(ROUTES) - pairs) == [], 'ROUTES names no such route'


def _normal(path):
    return re.sub(r'<[^>]+>|\{[^}]+\}', '{}', path)


def test_each_route_is_documented_under_its_rule():
    """The policy sample's operations list each route under the rule that
    guards it, and nowhere else."""
    documented = {}
    for rule in policy.list_rules():
        for operation in getattr(rule, 'operations', ()):
            key = (operation['method'], _normal(operation['path']))
            documented.setdefault(key, []).append(rule.name)
    for (method, path), (rule, _outcomes) in ROUTES.items():
        names = documented.get((method, _normal(path)), [])
        assert names == ([rule] if rule else []), (method, path)


@pytest.mark.parametrize('method,path', _pairs())
def test_persona_matrix(site, method, path):
    client, engine, headers = site
    try:
        rule, outcomes = ROUTES[(method, path)]
    except KeyError:
        pytest.fail('%s %s is not classified in ROUTES' % (method, path))
    world = _world(client, engine, headers['admin'])
    # The strongest last: an allowed DELETE cannot hide a later denial.
    order = ('anonymous', 'system', 'member_b', 'reader_a', 'member_a',
             'admin')
    assert sorted(order) == sorted(PERSONAS)
    seen = {}
    for persona in order:
        response = getattr(client, method.lower())(
            _url(path, world), headers=headers[persona],
            json=_body(method, path, world))
        seen[persona] = (response.status_code,
                         response.get_data(as_text=True)[:300])
    failures = []
    for persona in order:
        status, text = seen[persona]
        expected = outcomes[persona]
        if expected == OK:
            good = status not in (401, 403) and status < 500
        elif expected == DENIED:
            good = status == 403 and 'PolicyNotAuthorized' in text and (
                'rule:%s ' % rule in text)
        elif expected == HIDDEN:
            good = status == 404
        else:
            good = status == 401
        if not good:
            failures.append('%s expected %s, got %s %s' % (
                persona, expected, status, text))
    assert not failures, '%s %s:\n%s' % (method, path, '\n'.join(failures))


def test_the_reader_cannot_create_a_vip(site):
    """The issue's case: a token with only the reader role created VIPs."""
    client, engine, headers = site
    _world(client, engine, headers['admin'])
    response = client.post('/v2.0/lb/vips', headers=headers['reader_a'],
                           json={'vip': VIP})
    assert response.status_code == 403, response.get_data(as_text=True)
    assert response.json['NeutronError']['type'] == 'PolicyNotAuthorized'
    listed = client.get('/v2.0/lb/vips', headers=headers['reader_a'])
    assert listed.status_code == 200
    assert {v['project_id'] for v in listed.json['vips']} == {PROJECT_A}


# The same personas straight at the Authorizer, for the [oslo_policy]
# options and the operator's policy file.
CONTEXTS = {
    'admin': dict(roles=['admin'], project_id='p-admin'),
    'member_a': dict(roles=['member'], project_id=PROJECT_A),
    'reader_a': dict(roles=['reader'], project_id=PROJECT_A),
    'member_b': dict(roles=['member'], project_id=PROJECT_B),
    'system': dict(roles=['admin'], system_scope='all'),
}
RESOURCE_RULES = ('create_vip', 'get_vip', 'update_vip', 'delete_vip',
                  'create_vpn_connection', 'get_vpn_connection',
                  'update_vpn_connection', 'delete_vpn_connection')


@pytest.fixture
def authorizer(parsed_conf, tmp_path):
    """build(policy_file=None, **[oslo_policy] options): an Authorizer."""
    overridden = []

    def build(policy_file=None, **options):
        if policy_file is not None:
            path = tmp_path / 'policy.yaml'
            path.write_text(policy_file)
            options['policy_file'] = str(path)
        for name, value in options.items():
            parsed_conf.set_override(name, value, 'oslo_policy')
            overridden.append(name)
        return policy.Authorizer(parsed_conf)
    yield build
    for name in overridden:
        parsed_conf.clear_override(name, 'oslo_policy')


def _allowed(authorizer, persona, rule, project=PROJECT_A):
    """Whether persona may apply rule to a resource of project."""
    context = oslo_context.RequestContext(user_id=persona,
                                          **CONTEXTS[persona])
    try:
        authorizer.authorize(context, rule, {'project_id': project})
    except errors.Forbidden:
        return False
    return True


def _who(authorizer, rule):
    return sorted(p for p in CONTEXTS if _allowed(authorizer, p, rule))


def test_new_defaults(authorizer):
    built = authorizer()
    for rule in RESOURCE_RULES:
        readers = ['admin', 'member_a', 'reader_a']
        assert _who(built, rule) == (
            readers if rule.startswith('get_') else ['admin', 'member_a'])
    assert _who(built, 'get_agent') == ['admin']
    assert _who(built, 'get_flavor') == ['admin', 'member_a', 'member_b',
                                         'reader_a']
    # A project's private devices (issue 15); the agents' side stays the
    # admin's.
    assert _who(built, 'get_device') == ['admin', 'member_a', 'reader_a']
    for rule in ('create_device', 'update_device', 'delete_device'):
        assert _who(built, rule) == ['admin', 'member_a'], rule
    for rule in ('get_device_agents', 'get_agent_devices',
                 'add_device_to_agent', 'remove_device_from_agent'):
        assert _who(built, rule) == ['admin'], rule


def test_enforce_new_defaults_false_ors_the_deprecated_rule(authorizer):
    """An operator not ready for the reader role: rule:admin_or_owner as
    before, any role of the project writes."""
    built = authorizer(enforce_new_defaults=False)
    for rule in RESOURCE_RULES:
        assert _who(built, rule) == ['admin', 'member_a', 'reader_a'], rule
    # Admin-only rules did not change, and scope is still checked.
    assert _who(built, 'delete_agent') == ['admin']


def test_an_old_policy_file_still_applies(authorizer):
    """A rule the operator's file names wins over the default, whatever
    enforce_new_defaults says; it may name the old base rules."""
    built = authorizer(policy_file='"create_vip": "rule:admin_or_owner"\n'
                                   '"get_vip": "rule:admin_only"\n')
    assert _who(built, 'create_vip') == ['admin', 'member_a', 'reader_a']
    assert _who(built, 'get_vip') == ['admin']
    assert _who(built, 'update_vip') == ['admin', 'member_a']


def _has_enforce_scope():
    return any(opt.dest == 'enforce_scope'
               for _group, opts in policy_opts.list_opts() for opt in opts)


def test_scope_is_enforced(authorizer):
    """A system-scoped admin is refused project rules; enforce_scope =
    false lets it in where oslo.policy still has that option (before 6.0,
    which always enforces scope)."""
    assert not _allowed(authorizer(), 'system', 'get_agent')
    if _has_enforce_scope():
        assert _allowed(authorizer(enforce_scope=False), 'system',
                        'get_agent')
