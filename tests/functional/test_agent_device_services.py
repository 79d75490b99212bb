"""The agents and devices services called directly (no HTTP), over SQLite,
PostgreSQL and MariaDB: the domain rules they own, and their casts, sent
only once the change is committed."""

import pytest
import sqlalchemy as sa

from agentsched import exceptions
from agentsched import liveness
from agentsched.db import agents as agents_db
from agentsched.db import devices as devices_db
from agentsched.db import models
from agentsched.services import secrets
from tests import api_fixtures

DOWN = 3
MISSING = '00000000-0000-0000-0000-000000000000'


class CommitCheckingNotifier:
    """Records each cast with what another connection reads when it is
    sent (read(connection)): a cast sent before its commit would record the
    state before the change."""

    def __init__(self, engine):
        self._engine = engine
        self.read = lambda connection: None
        self.casts = []

    def _record(self, *cast):
        with self._engine.connect() as connection:
            self.casts.append(cast + (self.read(connection),))

    def agent_updated(self, agent, admin_state_up):
        self._record('agent_updated', agent.host, admin_state_up)

    def devices_updated(self, agent):
        self._record('devices_updated', agent.host)


@pytest.fixture
def services(parsed_conf, database):
    parsed_conf.set_override('agent_down_time', DOWN)
    engine = database.engine()
    notifier = CommitCheckingNotifier(engine)
    yield api_fixtures.services(
        parsed_conf, engine, notifier,
        secrets.SecretBox([secrets.generate_key()])), engine, notifier
    parsed_conf.clear_override('agent_down_time')


def _device(name='gw1', **fields):
    return dict({'name': name, 'device_type': 'strongswan',
                 'physical_info': {'address': '192.0.2.1'}}, **fields)


def _bind(engine, device_id, agent_id):
    now = liveness.utcnow()
    with engine.begin() as connection:
        connection.execute(sa.insert(models.resources).values(
            id='r1', project_id='p', resource_type='vpn_connection',
            spec='{}', requirements='{}', units=1, status='ACTIVE',
            created_at=now))
        connection.execute(sa.insert(models.bindings).values(
            resource_id='r1', device_id=device_id, agent_id=agent_id,
            generation=1, created_at=now))


def _refused(exc_info, code):
    assert exc_info.value.code == code
    return exc_info.value.message


def test_agent_not_found_is_one_refusal_everywhere(services):
    built, _engine, notifier = services
    calls = [
        lambda: built.agents.get(MISSING),
        lambda: built.agents.update(MISSING, {'description': 'x'}),
        lambda: built.agents.delete(MISSING),
        lambda: built.devices.list(agent_id=MISSING),
        lambda: built.devices.add_to_agent(MISSING, new_device=_device()),
        lambda: built.devices.remove_from_agent(MISSING, MISSING),
    ]
    for call in calls:
        with pytest.raises(exceptions.NotFound) as exc_info:
            call()
        assert _refused(exc_info, 'AgentNotFound') == \
            'Agent %s could not be found.' % MISSING
    # The device of the refused add was not kept.
    assert built.devices.list() == []
    assert notifier.casts == []


def test_alive_agent_hosting_resources_is_not_deleted(services):
    built, engine, _notifier = services
    agent_id = api_fixtures.add_agent(engine, 'h1')
    device = built.devices.add_to_agent(agent_id, new_device=_device())
    _bind(engine, device.id, agent_id)
    with pytest.raises(exceptions.Conflict) as exc_info:
        built.agents.delete(agent_id)
    assert 'hosts 1 resource(s)' in _refused(exc_info, 'AgentInUse')
    assert built.agents.get(agent_id).id == agent_id
    # Fenced, it is dead: it may go, its resources then move.
    built.agents.update(agent_id, {'forced_down': True})
    built.agents.delete(agent_id)
    with pytest.raises(exceptions.NotFound):
        built.agents.get(agent_id)


def test_agent_update_casts_after_commit(services):
    built, engine, notifier = services
    agent_id = api_fixtures.add_agent(engine, 'h1')
    notifier.read = lambda connection: agents_db.get(
        connection, agent_id).admin_state_up
    row = built.agents.update(agent_id, {'admin_state_up': False})
    assert row.admin_state_up is False
    assert notifier.casts == [('agent_updated', 'h1', False, False)]
    built.agents.update(agent_id, {'description': 'rack 4'})
    assert len(notifier.casts) == 1  # no admin state change, no cast
    with pytest.raises(exceptions.Invalid) as exc_info:
        built.agents.update(agent_id, {'host': 'h2'})
    assert exc_info.value.message.startswith(
        'Attribute(s) host of an agent cannot be updated')


def test_device_casts_after_commit(services):
    built, engine, notifier = services
    agent_id = api_fixtures.add_agent(engine, 'h1')

    def names_and_linked(connection):
        names = {row.id: row.name for row in devices_db.query(
            connection, liveness.alive_since(75))}
        linked = devices_db.links_of_agent(connection, agent_id)
        return sorted(names.values()), sorted(names.get(device_id)
                                              for device_id in linked)

    notifier.read = names_and_linked
    device = built.devices.add_to_agent(agent_id, new_device=_device())
    built.devices.update(device.id, {'name': 'gw2'})
    built.devices.remove_from_agent(agent_id, device.id)
    built.devices.add_to_agent(agent_id, device_id=device.id)
    built.devices.delete(device.id)
    assert notifier.casts == [
        ('devices_updated', 'h1', (['gw1'], ['gw1'])),  # added and linked
        ('devices_updated', 'h1', (['gw2'], ['gw2'])),  # renamed
        ('devices_updated', 'h1', (['gw2'], [])),       # unlinked
        ('devices_updated', 'h1', (['gw2'], ['gw2'])),  # linked again
        ('devices_updated', 'h1', ([], [])),            # deleted
    ]


def test_device_refusals(services):
    built, engine, notifier = services
    agent_id = api_fixtures.add_agent(engine, 'h1')
    first = built.devices.create(_device('gw1'))
    second = built.devices.create(_device('gw2'))

    with pytest.raises(exceptions.Conflict) as exc_info:
        built.devices.create(_device('gw1'))
    assert _refused(exc_info, 'DeviceNameInUse') == \
        'A device named gw1 already exists'
    with pytest.raises(exceptions.Conflict):
        built.devices.add_to_agent(agent_id, new_device=_device('gw1'))
    assert built.devices.list(agent_id=agent_id) == []
    with pytest.raises(exceptions.Conflict) as exc_info:
        built.devices.update(second.id, {'name': 'gw1'})
    _refused(exc_info, 'DeviceNameInUse')
    assert built.devices.get(second.id).revision_number == 0

    built.devices.update(first.id, {'capacity': 5}, expected_revision=0)
    with pytest.raises(exceptions.StaleRevision) as exc_info:
        built.devices.update(first.id, {'capacity': 6}, expected_revision=0)
    assert _refused(exc_info, 'RevisionNumberConstraintFailed') == \
        'Constrained to 0, but current revision is 1'
    assert built.devices.get(first.id).capacity == 5

    for fields in (_device('gw3', device_type='nope'),
                   _device('gw3', physical_info={}),
                   _device('gw3', credentials={'password': 'x'}),
                   _device('gw3', service_type='LOADBALANCER')):
        with pytest.raises(exceptions.Invalid):
            built.devices.create(fields)
    with pytest.raises(exceptions.Invalid):
        built.devices.update(first.id, {'physical_info': {'port': 0}})
    assert sorted(row.name for row in built.devices.list()) == [
        'gw1', 'gw2']
    assert notifier.casts == []


def test_credentials_without_a_key_are_refused(parsed_conf, database):
    engine = database.engine()
    built = api_fixtures.services(parsed_conf, engine,
                                  CommitCheckingNotifier(engine),
                                  secrets.SecretBox([]))
    with pytest.raises(exceptions.Conflict) as exc_info:
        built.devices.create(_device(credentials={'private_key': 'k'}))
    message = _refused(exc_info, 'NoEncryptionKey')
    assert 'No [secrets] encryption_keys' in message
    # Without credentials no key is needed.
    assert built.devices.create(_device()).credentials is None


def test_device_keeps_its_last_live_agent_while_hosting(services):
    built, engine, notifier = services
    first = api_fixtures.add_agent(engine, 'h1')
    device = built.devices.add_to_agent(first, new_device=_device())
    _bind(engine, device.id, first)
    dead = api_fixtures.add_agent(engine, 'h2', age=DOWN + 5)
    built.devices.add_to_agent(dead, device_id=device.id)

    with pytest.raises(exceptions.Conflict) as exc_info:
        built.devices.remove_from_agent(first, device.id)
    assert 'no other alive' in _refused(exc_info, 'DeviceInUse')
    with pytest.raises(exceptions.Conflict) as exc_info:
        built.devices.delete(device.id)
    _refused(exc_info, 'DeviceInUse')

    second = api_fixtures.add_agent(engine, 'h3')
    built.devices.add_to_agent(second, device_id=device.id)
    built.devices.remove_from_agent(first, device.id)
    assert [row.host for row in built.devices.agents(device.id)] == [
        'h2', 'h3']
    with pytest.raises(exceptions.NotFound) as exc_info:
        built.devices.remove_from_agent(first, device.id)
    _refused(exc_info, 'DeviceNotOnAgent')
    assert [cast[:2] for cast in notifier.casts] == [
        ('devices_updated', 'h1'), ('devices_updated', 'h2'),
        ('devices_updated', 'h3'), ('devices_updated', 'h1')]
