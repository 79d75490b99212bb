"""What the hot paths cost in statements, over SQLite, PostgreSQL and MariaDB
(issue 12): a VIP's create with a flavor, through the API, and an agent's
sync, whatever the number of its resources. Counted by a
before_cursor_execute listener on the engine: every statement sent."""

import contextlib
import json

import pytest
import sqlalchemy as sa

from agentsched.services import agent_sync
from tests import api_fixtures
from tests.functional import test_api_resources as resources_tests

# A create with a flavor: the flavor and its profile (one SELECT), the
# INSERT, the claim and binding, the read of what the deploy cast needs (the
# binding, agent and device). The claim and binding are one statement on
# PostgreSQL (a data-modifying CTE), two elsewhere: SQLite and MariaDB have
# no such CTE, and MariaDB no UPDATE ... RETURNING to spare the read.
VIP_CREATE_STATEMENTS = {'postgresql': 4, 'sqlite': 5, 'mysql': 5}


@contextlib.contextmanager
def statements(engine):
    """The statements engine sends meanwhile, in order."""
    sent = []

    def count(_connection, _cursor, statement, _parameters, _context,
              _executemany):
        sent.append(statement)

    sa.event.listen(engine, 'before_cursor_execute', count)
    try:
        yield sent
    finally:
        sa.event.remove(engine, 'before_cursor_execute', count)


@pytest.fixture
def api(parsed_conf, database):
    # The default snapshot age: no background reload of the placement
    # snapshot sends its query while a test counts.
    parsed_conf.set_override('auth_strategy', 'noauth')
    parsed_conf.set_override('agent_down_time', 30)
    engine = database.engine()
    built = api_fixtures.services(parsed_conf, engine)
    yield api_fixtures.client(parsed_conf, engine, built=built), engine, built
    parsed_conf.clear_override('auth_strategy')
    parsed_conf.clear_override('agent_down_time')


def _gold_flavor(client):
    flavor = client.post('/v2.0/flavors', json={'flavor': {
        'name': 'gold', 'service_type': 'LOADBALANCER'}}).json['flavor']
    profile = client.post('/v2.0/service_profiles', json={
        'service_profile': {'metainfo': json.dumps(
            {'device_type': 'haproxy'})}}).json['service_profile']
    assert client.post('/v2.0/flavors/%s/service_profiles' % flavor['id'],
                       json={'service_profile': {'id': profile['id']}}
                       ).status_code == 201
    return flavor['id']


def _create_vip(client, flavor_id, port):
    response = client.post('/v2.0/lb/vips', json={'vip': dict(
        resources_tests.VIP, protocol_port=port, flavor_id=flavor_id)})
    assert response.status_code == 201, response.get_data(as_text=True)
    return response.json['vip']


def test_a_vip_create_with_a_flavor_is_four_or_five_statements(api):
    client, engine, _built = api
    resources_tests._lb(client, engine, 'lb-1', capacity=100)
    flavor_id = _gold_flavor(client)
    _create_vip(client, flavor_id, 80)  # the placement snapshot loads

    with statements(engine) as sent:
        vip = _create_vip(client, flavor_id, 81)

    assert vip['status'] == 'PENDING_CREATE'
    assert vip['flavor_id'] == flavor_id
    assert len(sent) <= VIP_CREATE_STATEMENTS[engine.dialect.name], \
        '\n'.join(sent)


def test_an_agents_sync_costs_the_same_for_1_or_20_resources(api):
    client, engine, built = api
    resources_tests._lb(client, engine, 'lb-one', capacity=100)
    resources_tests._lb(client, engine, 'lb-many', capacity=100,
                        device_type='noop')
    for port, device_type in [(80, 'haproxy')] + [
            (8000 + n, 'noop') for n in range(20)]:
        spec = dict(resources_tests.VIP, protocol_port=port)
        del spec['name']
        built.resources.create('vip', 'project-a', 'web', spec,
                               {'device_type': device_type})
    endpoint = agent_sync.AgentSyncEndpoint(engine, built.secrets,
                                            built.resources)
    counts = {}
    for host, expected in (('lb-one', 1), ('lb-many', 20)):
        with statements(engine) as sent:
            answer = endpoint.sync({}, 'Loadbalancer agent', host)
        assert len(answer['resources']) == expected
        counts[host] = len(sent)

    assert counts['lb-one'] == counts['lb-many'], counts
