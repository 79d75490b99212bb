"""Key rotation covers every secret; a secret under no key fails alone.

Issue 11: "agentsched-manage secrets rotate" re-encrypted device credentials
only, so once the old key was dropped a VPN connection's psk could not be
decrypted and every sync of its agent failed. Here: the rotation itself
(both kinds, counts, batches, the compare-and-swap beside a writing server)
on SQLite, PostgreSQL and MariaDB; the command as an operator runs it; what
the server does with a secret no key decrypts (sync, deploy, failover); and
the whole story with real server and agent processes over RabbitMQ.
"""

import datetime
import time

import pytest
import sqlalchemy as sa

from agentsched import constants
from agentsched import liveness
from agentsched import messaging
from agentsched import sealing
from agentsched import signing
from agentsched.db import models
from agentsched.services import agent_notifier
from agentsched.services import agent_sync
from agentsched.services import failover as failover_service
from agentsched.services import resources as resources_service
from agentsched.services import secrets
from tests import commands
from tests import processes

MASTER = signing.generate_master_key()
PSK_A = 'psk-Heron-6610-never-logged'
PSK_B = 'psk-Marten-2093-never-logged'
CREDENTIALS = {'username': 'admin', 'password': 'Lynx-4417-never-logged'}
LOST_PASSWORD = 'Gecko-8830-never-logged'
SYNCED = 'manages 1 devices: gw-1'   # the agent's log line after a sync
SPEC = {'peer_address': '203.0.113.9', 'peer_id': '203.0.113.9',
        'peer_cidrs': ['10.2.0.0/24'], 'local_cidrs': ['10.1.0.0/24']}


def _device_row(device_id, credentials, now):
    return dict(id=device_id, name='name-' + device_id, device_type='noop',
                service_type=constants.SERVICE_VPN, capabilities='{}',
                capacity=10, used=0, physical_info='{}',
                credentials=credentials, health='OK', source='admin',
                created_at=now)


def _resource_row(resource_id, token, now):
    return dict(id=resource_id, project_id='p',
                resource_type='vpn_connection', spec='{}',
                requirements='{}', units=1, secrets=token, status='ACTIVE',
                created_at=now)


def _stored(engine, table, column, row_id):
    with engine.connect() as connection:
        return connection.execute(sa.select(column).where(
            table.c.id == row_id)).scalar()


# -- the rotation ------------------------------------------------------------

@pytest.fixture
def keys():
    return {name: secrets.generate_key()
            for name in ('old', 'new', 'stranger')}


def test_rotation_re_encrypts_both_kinds_and_counts(database, keys):
    engine = database.engine()
    old = secrets.SecretBox([keys['old']])
    lost = secrets.SecretBox([keys['stranger']])
    now = liveness.utcnow()
    with engine.begin() as connection:
        connection.execute(sa.insert(models.devices), [
            _device_row('d1', old.encrypt({'password': 'one'}), now),
            _device_row('d2', lost.encrypt({'password': 'two'}), now),
            _device_row('d3', old.encrypt({'password': 'three'}), now),
            _device_row('d4', None, now)])
        connection.execute(sa.insert(models.resources), [
            _resource_row('r1', old.encrypt({'psk': 'one'}), now),
            _resource_row('r2', old.encrypt({'psk': 'two'}), now),
            _resource_row('r3', lost.encrypt({'psk': 'three'}), now),
            _resource_row('r4', None, now)])

    # Batches of two: three rows of each kind take two batches.
    done = secrets.rotate_all(
        engine, secrets.SecretBox([keys['new'], keys['old']]), batch_size=2)

    devices, resources = done['devices'], done['resources']
    assert (devices.rotated, devices.changed) == (2, 0)
    assert [(row.id, row.name) for row in devices.undecryptable] == [
        ('d2', 'name-d2')]
    assert (resources.rotated, resources.changed) == (2, 0)
    assert [row.id for row in resources.undecryptable] == ['r3']
    new = secrets.SecretBox([keys['new']])
    devices_table, resources_table = models.devices, models.resources
    assert new.decrypt(_stored(engine, devices_table,
                               devices_table.c.credentials, 'd1')) == {
        'password': 'one'}
    assert new.decrypt(_stored(engine, devices_table,
                               devices_table.c.credentials, 'd3')) == {
        'password': 'three'}
    assert new.decrypt(_stored(engine, resources_table,
                               resources_table.c.secrets, 'r2')) == {
        'psk': 'two'}
    # What no key decrypts is left as it was, for a rerun with its key.
    assert lost.decrypt(_stored(engine, resources_table,
                                resources_table.c.secrets, 'r3')) == {
        'psk': 'three'}
    assert _stored(engine, devices_table, devices_table.c.credentials,
                   'd4') is None


class ServerWritesMeanwhile:
    """A box whose rotate() lets a server rewrite one resource's secrets
    (with the first key, as servers do) between the rotation's read and
    its write."""

    def __init__(self, engine, keys, resource_id):
        self._box = secrets.SecretBox([keys['new'], keys['old']])
        self._engine = engine
        self._resource_id = resource_id
        self.written = None

    def rotate(self, token):
        if self.written is None and token == _stored(
                self._engine, models.resources, models.resources.c.secrets,
                self._resource_id):
            self.written = self._box.encrypt({'psk': 'set by a server'})
            with self._engine.begin() as connection:
                connection.execute(sa.update(models.resources).where(
                    models.resources.c.id == self._resource_id).values(
                    secrets=self.written))
        return self._box.rotate(token)


def test_a_row_a_server_changed_meanwhile_is_left_as_written(database,
                                                             keys):
    engine = database.engine()
    old = secrets.SecretBox([keys['old']])
    now = liveness.utcnow()
    with engine.begin() as connection:
        connection.execute(sa.insert(models.resources), [
            _resource_row('r%d' % n, old.encrypt({'psk': 'p%d' % n}), now)
            for n in (1, 2, 3)])
    # r3 opens the second batch: on SQLite the rotation has written nothing
    # in that transaction yet, so the "server" is not locked out.
    box = ServerWritesMeanwhile(engine, keys, 'r3')

    done = secrets.rotate_all(engine, box, batch_size=2)['resources']

    assert (done.rotated, done.changed, done.undecryptable) == (2, 1, [])
    stored = _stored(engine, models.resources, models.resources.c.secrets,
                     'r3')
    assert stored == box.written
    assert secrets.SecretBox([keys['new']]).decrypt(stored) == {
        'psk': 'set by a server'}


def test_manage_secrets_rotate_counts_and_fails_on_undecryptable(
        database, keys, tmp_path):
    engine = database.engine()
    old = secrets.SecretBox([keys['old']])
    lost = secrets.SecretBox([keys['stranger']])
    now = liveness.utcnow()
    with engine.begin() as connection:
        connection.execute(sa.insert(models.devices), [
            _device_row('d1', old.encrypt({'password': 'one'}), now),
            _device_row('d2', lost.encrypt({'password': 'two'}), now)])
        connection.execute(sa.insert(models.resources), [
            _resource_row('r1', old.encrypt({'psk': PSK_A}), now),
            _resource_row('r2', old.encrypt({'psk': 'two'}), now),
            _resource_row('r3', lost.encrypt({'psk': PSK_B}), now)])
    config = commands.write_config(
        tmp_path / 'manage.conf', database.url,
        secrets={'encryption_keys': '%s,%s' % (keys['new'], keys['old'])})

    result = commands.run('agentsched-manage', '--config-file', config,
                          'secrets', 'rotate', check=False)

    assert result.returncode == 1, result.stderr
    assert ('the credentials of 1 devices, the secrets of 2 resources'
            in result.stdout)
    assert 'Undecryptable: 1 devices, 1 resources' in result.stdout
    assert 'device d2 (name-d2)' in result.stdout
    assert 'resource r3' in result.stdout
    assert 'add it after the first key and run this again' in result.stderr
    for text in (result.stdout, result.stderr):
        assert PSK_A not in text and PSK_B not in text

    # Once the last one is gone, a rerun is clean.
    with engine.begin() as connection:
        connection.execute(sa.update(models.devices).values(credentials=None)
                           .where(models.devices.c.id == 'd2'))
        connection.execute(sa.delete(models.resources).where(
            models.resources.c.id == 'r3'))
    again = commands.run('agentsched-manage', '--config-file', config,
                         'secrets', 'rotate')
    assert 'the credentials of 1 devices, the secrets of 2 resources' in \
        again.stdout
    assert 'Undecryptable: 0 devices, 0 resources' in again.stdout


# -- a secret no key decrypts, on the server ---------------------------------

class RecordingNotifier:
    def __init__(self):
        self.casts = []

    def deploy(self, agent, resource):
        self.casts.append(('deploy', agent.host, resource))

    def undeploy(self, agent, resource):
        self.casts.append(('undeploy', agent.host, resource))


def _agent(engine, host, now):
    with engine.begin() as connection:
        connection.execute(sa.insert(models.agents).values(
            id=host, agent_type=constants.AGENT_TYPE_VPN,
            binary='agentsched-agent', topic='agentsched-vpn-agent',
            host=host, created_at=now, started_at=now,
            heartbeat_timestamp=now, configurations='{}', load=0))


def _device(engine, device_id, credentials, agents, now):
    with engine.begin() as connection:
        connection.execute(sa.insert(models.devices).values(
            **_device_row(device_id, credentials, now)))
        for agent in agents:
            connection.execute(sa.insert(models.agent_devices).values(
                agent_id=agent, device_id=device_id, missing=False,
                health='OK'))


def _lose_key_of(engine, keys, resource_id, psk):
    """Its psk encrypted with a key nobody has any more."""
    with engine.begin() as connection:
        connection.execute(sa.update(models.resources).where(
            models.resources.c.id == resource_id).values(
            secrets=secrets.SecretBox([keys['stranger']]).encrypt(
                {'psk': psk})))


@pytest.fixture
def placed(database, keys, parsed_conf):
    """Agent vpn-1 with device gw-1 (credentials), connections a and b on
    it; gw-2, added later, has credentials under a lost key."""
    engine = database.engine()
    box = secrets.SecretBox([keys['new']])
    now = liveness.utcnow()
    _agent(engine, 'vpn-1', now)
    _device(engine, 'gw-1', box.encrypt(CREDENTIALS), ['vpn-1'], now)
    notifier = RecordingNotifier()
    service = resources_service.ResourceService(engine, parsed_conf,
                                                notifier, box)
    a = service.create('vpn_connection', 'p', 'a', dict(SPEC, psk=PSK_A),
                       {'device_type': 'noop'})
    b = service.create('vpn_connection', 'p', 'b', dict(SPEC, psk=PSK_B),
                       {'device_type': 'noop'})
    _device(engine, 'gw-2', secrets.SecretBox([keys['stranger']]).encrypt(
        {'password': LOST_PASSWORD}), ['vpn-1'], now)
    notifier.casts.clear()
    return engine, box, service, notifier, a.id, b.id


def _assert_withheld(service, resource_id):
    row = service.get(resource_id)
    assert row.status == constants.STATUS_ERROR
    assert 'its secrets' in row.status_description
    assert 'cannot be decrypted' in row.status_description
    assert PSK_B not in row.status_description


def test_sync_withholds_only_the_resource_and_device_without_a_key(
        placed, keys, caplog):
    engine, box, service, _notifier, a_id, b_id = placed
    _lose_key_of(engine, keys, b_id, PSK_B)
    endpoint = agent_sync.AgentSyncEndpoint(engine, box, service)

    answer = endpoint.sync({}, constants.AGENT_TYPE_VPN, 'vpn-1')

    assert [r['id'] for r in answer['resources']] == [a_id]
    assert answer['resources'][0]['spec']['psk'] == PSK_A
    assert answer['resources'][0]['device']['credentials'] == CREDENTIALS
    assert answer['withheld'] == [b_id]
    _assert_withheld(service, b_id)
    assert service.get(a_id).status != constants.STATUS_ERROR
    devices = {d['name']: d for d in answer['devices']}
    assert devices['name-gw-1']['credentials'] == CREDENTIALS
    assert 'credentials_error' not in devices['name-gw-1']
    assert devices['name-gw-2']['credentials'] is None
    assert 'cannot be decrypted' in devices['name-gw-2']['credentials_error']
    errors = [r.getMessage() for r in caplog.records
              if r.levelname == 'ERROR']
    assert len([m for m in errors if 'name-gw-2' in m]) == 1
    for message in [r.getMessage() for r in caplog.records]:
        assert PSK_B not in message and LOST_PASSWORD not in message


def test_deploy_and_failover_of_a_resource_without_a_key(placed, keys,
                                                         parsed_conf):
    engine, box, service, notifier, a_id, b_id = placed
    _lose_key_of(engine, keys, b_id, PSK_B)

    assert service.deploy(b_id) is False
    _assert_withheld(service, b_id)
    assert service.deploy(a_id) is True
    assert [(cast[0], cast[2]['id']) for cast in notifier.casts] == [
        ('deploy', a_id)]

    # The health monitor's path: vpn-1 dies, vpn-2 reaches gw-1 too; the
    # rebind goes through, and only the deploy of b is held back.
    now = liveness.utcnow()
    _agent(engine, 'vpn-2', now)
    with engine.begin() as connection:
        connection.execute(sa.insert(models.agent_devices).values(
            agent_id='vpn-2', device_id='gw-1', missing=False, health='OK'))
        connection.execute(sa.update(models.agents).where(
            models.agents.c.id == 'vpn-1').values(
            heartbeat_timestamp=now - datetime.timedelta(hours=1)))
    notifier.casts.clear()
    failover = failover_service.FailoverService(
        engine, parsed_conf, service.placer, notifier, service)
    assert failover.failover_one(b_id) == failover_service.REBOUND
    assert failover.failover_one(a_id) == failover_service.REBOUND
    _assert_withheld(service, b_id)
    deploys = [(cast[1], cast[2]['id']) for cast in notifier.casts
               if cast[0] == 'deploy']
    assert deploys == [('vpn-2', a_id)]

    # The API's path (an admin places it again): placed, ERROR, no raise.
    service.unbind(b_id)
    assert service.schedule(b_id) is not None
    _assert_withheld(service, b_id)


# -- end to end --------------------------------------------------------------

@pytest.fixture
def flow(tmp_path, rabbit, server_database, parsed_conf, keys):
    config_path = tmp_path / 'agentsched.conf'

    def configure(*key_names):
        return commands.write_config(
            config_path, server_database.url, rabbit,
            DEFAULT={'agent_down_time': 5},
            reports={'flush_interval': 0.2},
            agent={'report_interval': 1, 'services': 'vpn'},
            secrets={'encryption_keys': ','.join(
                keys[name] for name in key_names)},
            # Signed and sealed, as in production.
            signing={'master_keys': MASTER},
            **{'device:gw-1': {'device_type': 'noop', 'capacity': 10}})

    config = configure('old')
    commands.run('agentsched-manage', '--config-file', config, 'db',
                 'upgrade')
    started = []

    def start(name, host):
        process = processes.Process(
            name, ['--config-file', config, '--config-file',
                   commands.write_config(
                       tmp_path / (host + '.conf'), DEFAULT={'host': host},
                       signing={'host_keys': signing.host_key(MASTER,
                                                              host)})],
            tmp_path / ('%s-%d.log' % (host, len(started)))).start()
        started.append(process)
        return process

    overrides = [('transport_url', rabbit.url, None),
                 ('control_exchange', rabbit.exchange, None),
                 ('agent_down_time', 5, None)]
    for name, value, group in overrides:
        parsed_conf.set_override(name, value, group)
    messaging.cleanup()
    engine = server_database.engine(migrated=False)
    yield configure, start, engine, parsed_conf
    for process in started:
        process.ensure_dead()
    messaging.cleanup()
    for name, _value, group in overrides:
        parsed_conf.clear_override(name, group)


def _wait_status(engine, resource_id, status, timeout=30):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with engine.connect() as connection:
            row = connection.execute(sa.select(
                models.resources.c.status,
                models.resources.c.status_description).where(
                models.resources.c.id == resource_id)).first()
        if row.status == status:
            return row
        time.sleep(0.2)
    raise AssertionError('%s is %s, not %s' % (resource_id, row, status))


def _sync_as_agent(conf, host):
    """The server's sync answer, called as the agent calls it (signed),
    with the secrets sealed to the agent opened as it opens them."""
    client = messaging.get_client(conf, constants.PLUGIN_TOPIC, '1.4',
                                  timeout=20)
    keyring = signing.Keyring.for_agent(host,
                                        [signing.host_key(MASTER, host)])
    arguments = {'agent_type': constants.AGENT_TYPE_VPN, 'host': host}
    answer = client.prepare(namespace='agent').call(
        {}, 'sync', signature=signing.Signer(keyring).sign(
            'sync', arguments, host, constants.AGENT_TYPE_VPN), **arguments)
    for kind in ('devices', 'resources'):
        assert all('sealed' in item for item in answer[kind]
                   if item.get('credentials_error') is None)
        answer[kind] = [sealing.open_secrets(keyring, host, item)
                        for item in answer[kind]]
    return answer


def _notifier(conf):
    """Casts signed as a server with MASTER signs them."""
    keyring = signing.Keyring.for_server([MASTER])
    return agent_notifier.AgentNotifier(conf, signing.Signer(keyring),
                                        keyring)


def _sync_now(engine, conf, agent):
    """Tell the agent its devices changed; return once it synced (its
    periodic resync may be the one that counts: it syncs the same)."""
    synced = agent.log().count(SYNCED)
    with engine.connect() as connection:
        row = connection.execute(sa.select(models.agents).where(
            models.agents.c.host == 'vpn-1')).first()
    _notifier(conf).devices_updated(row)
    agent.wait_for_log(SYNCED, count=synced + 1)


def test_rotate_drop_the_old_key_restart_and_a_lost_key(flow, keys):
    configure, start, engine, conf = flow
    server = start('agentsched-server', 'server-1')
    server.wait_for_log('REST API listening')
    agent = start('agentsched-agent', 'vpn-1')
    agent.wait_for_log(SYNCED)
    old = secrets.SecretBox([keys['old']])
    with engine.begin() as connection:
        connection.execute(sa.update(models.devices).where(
            models.devices.c.name == 'gw-1').values(
            credentials=old.encrypt(CREDENTIALS)))
    service = resources_service.ResourceService(
        engine, conf, _notifier(conf), old)
    a = service.create('vpn_connection', 'p', 'a', dict(SPEC, psk=PSK_A),
                       {'device_type': 'noop'}).id
    b = service.create('vpn_connection', 'p', 'b', dict(SPEC, psk=PSK_B),
                       {'device_type': 'noop'}).id
    _wait_status(engine, a, constants.STATUS_ACTIVE)
    _wait_status(engine, b, constants.STATUS_ACTIVE)

    # Rotate to the new key while the server serves, then drop the old one.
    config = configure('new', 'old')
    rotated = commands.run('agentsched-manage', '--config-file', config,
                           'secrets', 'rotate')
    assert 'the credentials of 1 devices, the secrets of 2 resources' in \
        rotated.stdout
    assert 'Undecryptable: 0 devices, 0 resources' in rotated.stdout
    assert agent.stop() == 0
    assert server.stop() == 0
    configure('new')
    server = start('agentsched-server', 'server-1')
    server.wait_for_log('REST API listening')
    agent = start('agentsched-agent', 'vpn-1')
    agent.wait_for_log(SYNCED)
    for resource_id in (a, b):
        agent.wait_for_log('Deployed vpn_connection %s (generation 1) on '
                           'device gw-1' % resource_id)
    answer = _sync_as_agent(conf, 'vpn-1')
    assert answer['withheld'] == []
    assert {r['id']: r['spec']['psk'] for r in answer['resources']} == {
        a: PSK_A, b: PSK_B}
    assert [r['device']['credentials'] for r in answer['resources']] == [
        CREDENTIALS, CREDENTIALS]
    assert answer['devices'][0]['credentials'] == CREDENTIALS

    # b's psk is now under a key nobody has: b alone ends ERROR, the agent
    # keeps it deployed as it was, a and gw-1 sync as before.
    _lose_key_of(engine, keys, b, PSK_B)
    _sync_now(engine, conf, agent)
    row = _wait_status(engine, b, constants.STATUS_ERROR)
    assert 'cannot be decrypted' in row.status_description
    assert PSK_B not in row.status_description
    assert _wait_status(engine, a, constants.STATUS_ACTIVE)
    assert 'Undeployed' not in agent.log()
    assert 'Sync of vpn-1 failed' not in agent.log()
    server.wait_for_log('Resource %s not deployed' % b)
    answer = _sync_as_agent(conf, 'vpn-1')
    assert answer['withheld'] == [b]
    assert [(r['id'], r['spec']['psk'], r['device']['credentials'])
            for r in answer['resources']] == [(a, PSK_A, CREDENTIALS)]
    assert answer['devices'][0]['credentials'] == CREDENTIALS

    # b's psk decrypts again (as if its key were put back): the next sync
    # deploys it, unchanged as it is, and it is ACTIVE again.
    with engine.begin() as connection:
        connection.execute(sa.update(models.resources).where(
            models.resources.c.id == b).values(
            secrets=secrets.SecretBox([keys['new']]).encrypt(
                {'psk': PSK_B})))
    _sync_now(engine, conf, agent)
    _wait_status(engine, b, constants.STATUS_ACTIVE)
    assert agent.log().count('Deployed vpn_connection %s' % b) == 2

    assert agent.stop() == 0
    assert server.stop() == 0
    for process in (server, agent):
        for secret in (PSK_A, PSK_B, CREDENTIALS['password']):
            assert secret not in process.log()
