"""The OpenAPI document at GET /v2.0/openapi.json: valid OpenAPI 3, in step
with the routing table, and true of the live app (schemathesis against the
full WSGI pipeline over PostgreSQL)."""

import re

import hypothesis
from hypothesis import strategies as st
import pytest
import schemathesis
import sqlalchemy as sa
from schemathesis import checks
from werkzeug import test as werkzeug_test

from agentsched import liveness
from agentsched.api import app as api_app
from agentsched.api import openapi
from agentsched.db import models
from tests import api_fixtures

OPENAPI_PATH = '/v2.0/openapi.json'
HTTP_METHODS = ('get', 'put', 'post', 'delete', 'patch', 'head', 'options',
                'trace')
# What every response must satisfy: no 5xx, a documented status code and
# content type, a body that matches the documented schema.
CHECKS = [checks.not_a_server_error, checks.status_code_conformance,
          checks.content_type_conformance,
          checks.response_schema_conformance]


@pytest.fixture
def noauth(parsed_conf):
    parsed_conf.set_override('auth_strategy', 'noauth')
    yield parsed_conf
    parsed_conf.clear_override('auth_strategy')


# Agents with ids known before the test runs, so that the generated requests
# can name them (a random id almost never names an agent).
AGENT_IDS = ['00000000-0000-4000-8000-00000000000%d' % n for n in range(1, 5)]
# Likewise a VIP bound to lb-1's device, an unbound VPN connection, a flavor
# and a service profile.
RESOURCE_IDS = ['00000000-0000-4000-8000-0000000000a1',
                '00000000-0000-4000-8000-0000000000a2']
FLAVOR_IDS = ['00000000-0000-4000-8000-0000000000f1']
PROFILE_IDS = ['00000000-0000-4000-8000-0000000000b1']
DEVICE_ID = '00000000-0000-4000-8000-0000000000d1'


@pytest.fixture
def live_app(noauth, postgresql_database):
    """The full pipeline over PostgreSQL, with alive, dead and disabled
    agents."""
    engine = postgresql_database.engine()
    lb_1, lb_2, vpn_1, lb_3 = AGENT_IDS
    api_fixtures.add_agent(engine, 'lb-1', id=lb_1, description='rack 4')
    api_fixtures.add_agent(engine, 'lb-2', id=lb_2, age=1000,
                           availability_zone=None)
    api_fixtures.add_agent(engine, 'vpn-1', id=vpn_1, agent_type='VPN agent',
                           admin_state_up=False)
    api_fixtures.add_agent(engine, 'lb-3', id=lb_3, resources_synced=True,
                           configurations='{"devices":[{"name":"d"}]}')
    _add_resources(engine, lb_1)
    return api_fixtures.app(noauth, engine)


def _add_resources(engine, agent_id):
    now = liveness.utcnow()
    vip, vpn = RESOURCE_IDS
    with engine.begin() as connection:
        connection.execute(sa.insert(models.devices).values(
            id=DEVICE_ID, name='hap', device_type='haproxy',
            service_type='LOADBALANCER', capabilities='{}', capacity=10,
            used=1, physical_info='{}', health='OK', source='admin',
            created_at=now))
        connection.execute(sa.insert(models.agent_devices).values(
            agent_id=agent_id, device_id=DEVICE_ID))
        for resource_id, resource_type, spec in (
                (vip, 'vip', '{"address": "192.0.2.1", "protocol": "TCP", '
                             '"protocol_port": 80}'),
                (vpn, 'vpn_connection', '{"peer_address": "192.0.2.2", '
                 '"peer_id": "p", "peer_cidrs": ["10.0.0.0/8"], '
                 '"local_cidrs": ["10.1.0.0/16"]}')):
            connection.execute(sa.insert(models.resources).values(
                id=resource_id, project_id='admin',
                resource_type=resource_type, name=resource_type, spec=spec,
                requirements='{}', units=1, status='ACTIVE',
                created_at=now))
        connection.execute(sa.insert(models.bindings).values(
            resource_id=vip, device_id=DEVICE_ID, agent_id=agent_id,
            generation=1, created_at=now))
        connection.execute(sa.insert(models.flavors).values(
            id=FLAVOR_IDS[0], name='gold', service_type='LOADBALANCER'))
        connection.execute(sa.insert(models.service_profiles).values(
            id=PROFILE_IDS[0], metainfo='{"device_type": "haproxy"}'))


def _flask_to_openapi(path):
    # Flask's <name> and <converter:name> are OpenAPI's {name}.
    return re.sub(r'<(?:[^:<>]+:)?([^<>]+)>', r'{\1}', path)


def _operations(document):
    return {(path, method) for path, item in document['paths'].items()
            for method in item if method in HTTP_METHODS}


def _served_document(app):
    response = werkzeug_test.Client(app).get(OPENAPI_PATH)
    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.mimetype == 'application/json'
    return response.json


def test_served_document_is_valid_openapi_3(live_app):
    document = _served_document(live_app)
    assert document == openapi.document(api_app.load_extensions(),
                                        'http://localhost')
    assert document['openapi'].startswith('3.0.')
    schema = schemathesis.openapi.from_dict(document)
    schema.validate()  # against the OpenAPI 3.0 meta-schema
    # Every operation loads, its $refs resolved.
    loaded = {result.ok().label for result in schema.get_all_operations()}
    assert loaded == {'%s %s' % (method.upper(), path)
                      for path, method in _operations(document)}


def test_an_invalid_document_fails_validation():
    # The test above means something only if the validator rejects this.
    schema = schemathesis.openapi.from_dict({
        'openapi': '3.0.3', 'info': {'title': 'no version'},
        'paths': {'/x': {'get': {'responses': {'200': {}}}}}})
    with pytest.raises(Exception, match='description|version'):
        schema.validate()


def test_document_has_an_operation_for_every_route_and_no_other(live_app):
    document = _served_document(live_app)
    table = api_app.routes(api_app.load_extensions())
    routed = {(_flask_to_openapi(path), method.lower())
              for path, methods in table.items() for method in methods}
    documented = _operations(document)
    assert sorted(routed - documented) == [], 'routes without an operation'
    assert sorted(documented - routed) == [], 'operations without a route'


# The document as the app builds it; a test above checks that the app serves
# this very document.
schema = schemathesis.openapi.from_dict(
    openapi.document(api_app.load_extensions()))


KNOWN_IDS = {'agent_id': AGENT_IDS, 'resource_id': RESOURCE_IDS,
             'flavor_id': FLAVOR_IDS, 'profile_id': PROFILE_IDS}


@schema.hook
def before_generate_path_parameters(context, strategy):
    known = {name: ids for name, ids in KNOWN_IDS.items()
             if '{%s}' % name in context.operation.path}
    if not known:
        return strategy
    return st.one_of(strategy, st.builds(
        lambda parameters, ids: dict(parameters, **ids), strategy,
        st.fixed_dictionaries({name: st.sampled_from(ids)
                               for name, ids in known.items()})))


# schemathesis.pytest.from_fixture would build the schema from the live app,
# but schemathesis 4.32.5's lazy schemas fail under pytest 9 (they set
# request.node._nodeid); so the schema is static and the app is passed in.
@schema.parametrize()
@hypothesis.settings(max_examples=50, deadline=None, database=None,
                     suppress_health_check=list(hypothesis.HealthCheck))
def test_app_keeps_to_its_document(case, live_app):
    case.call_and_validate(app=live_app, checks=CHECKS)
