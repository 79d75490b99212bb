"""Issue 15's acceptance test: a per-cloud pair of manager agents and an
appliance VM reached through SSH, all real.

A network namespace plays the appliance VM (test_haproxy_ssh's Appliance:
a real sshd for a temporary user with a key of the test's, haproxy started
there through SSH); two agentsched-agent processes in this (root)
namespace with [agent] remote_device_types = haproxy_ssh and no device of
their own; a real agentsched-server over a private RabbitMQ and PostgreSQL
(test_fault_failover's Cluster), every process at debug = true.

An admin registers the appliance through the server's REST API (POST
/v2.0/devices: address, host key, config_dir, login and private key); the
server assigns it to both agents, which sync it with its credentials and
report it OK. A VIP on it turns ACTIVE and a request from here to the VIP
address inside the namespace reaches both members (HTTP servers on this
side of the veth). kill -9 of the agent that deployed it: the VIP is
rebound to the other manager (its binding's agent changes, generation+1,
same device) and serves throughout, since the appliance's haproxy is not
the agent's. A second registration of the appliance with a wrong host
key (and a password login): DOWN with the reason, nothing deployed there.
Neither the private key nor the password appears in any process's log.

Needs root and the tools of test_haproxy_ssh, PostgreSQL and RabbitMQ;
mandatory under CI=true. About 40 s (20 s of scenario, the rest set-up).
"""

import json
import os
import re
import shutil
import threading
import time
import types
import urllib.request

import sqlalchemy as sa

from agentsched import constants
from agentsched.db import models
from tests import http_backends
from tests.functional.test_device_managers_bus import Cloud
from tests.functional.test_device_managers_bus import _wait
from tests.functional.test_fault_failover import CHECK_INTERVAL
from tests.functional.test_fault_failover import DOWN_TIME
from tests.functional.test_fault_failover import REPORT_INTERVAL
from tests.functional.test_fault_failover import cluster  # noqa: F401
from tests.functional.test_haproxy_ssh import PASSWORD
from tests.functional.test_haproxy_ssh import answers
from tests.functional.test_haproxy_ssh import appliance  # noqa: F401
from tests.functional.test_haproxy_ssh import keygen
from tests.functional.test_haproxy_ssh import members  # noqa: F401
from tests.functional.test_haproxy_ssh import no_secret_in
from tests.functional.test_haproxy_ssh import tools  # noqa: F401

HOSTS = ('cloud-a-1', 'cloud-a-2')


def _debug_everywhere(cluster):
    """debug = true in the shared config file (server and agents), and
    the scheduler's snapshot always fresh: a device OK a moment ago is
    placeable at once."""
    with open(cluster.config) as f:
        text = f.read()
    assert text.startswith('[DEFAULT]\n'), text
    text = text.replace('[DEFAULT]\n', '[DEFAULT]\ndebug = true\n', 1)
    text += '[scheduler]\nsnapshot_max_age = 0\n'
    with open(cluster.config, 'w') as f:
        f.write(text)


class Prober:
    """Requests to the VIP every 0.1 s in a thread; every failure kept."""

    def __init__(self, appliance, port):
        self.url = 'http://%s:%d/' % (appliance.address, port)
        self.answered = []
        self.failures = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self):
        while not self._stop.wait(0.1):
            try:
                with urllib.request.urlopen(self.url, timeout=3) as answer:
                    self.answered.append(answer.read().decode())
            except OSError as exc:
                self.failures.append('%.1f %r' % (time.monotonic(), exc))

    def stop(self):
        self._stop.set()
        self._thread.join()


def _device_report(cluster, host, name):
    """The device's entry in host's last heartbeat, as the server keeps
    it."""
    with cluster.engine.connect() as connection:
        configurations = connection.execute(
            sa.select(models.agents.c.configurations).where(
                models.agents.c.host == host)).scalar()
    if isinstance(configurations, str):
        configurations = json.loads(configurations)
    for device in (configurations or {}).get('devices', []):
        if device.get('name') == name:
            return device
    return None


def _text(value):
    return value if isinstance(value, str) else json.dumps(value)


def _binding(cluster, resource_id):
    return cluster.bindings().get(resource_id)


def test_a_per_cloud_pair_serves_an_appliance_vm_through_ssh(
        cluster, appliance, members):  # noqa: F811
    started = time.monotonic()
    cluster.configure()
    _debug_everywhere(cluster)
    server = cluster.server()
    # Never two bindings of the VIP, never a generation falling (checked
    # by the fixture at the end).
    cluster.watch()
    # test_device_managers_bus's client of the REST API, on this server.
    api_port = int(re.search(r'REST API listening on [^ ]*:(\d+)',
                             server.log()).group(1))
    cloud = Cloud(types.SimpleNamespace(api=types.SimpleNamespace(
        port=api_port)), cluster.engine, {}, None)
    api = cloud.api
    agents = {host: cluster.start(
        'agentsched-agent', host,
        agent={'remote_device_types': 'haproxy_ssh',
               'status_interval': 0.5}) for host in HOSTS}
    cluster.wait_alive(HOSTS)
    _wait(lambda: all(
        'haproxy_ssh' in _text(cluster.agents()[host].configurations)
        for host in HOSTS), what='both agents managers of haproxy_ssh')

    # The admin registers the appliance, naming no agent.
    device = appliance.device()
    status, body = api('POST', '/v2.0/devices', {'device': {
        'name': device['name'], 'device_type': 'haproxy_ssh',
        'capacity': 10, 'physical_info': device['physical_info'],
        'credentials': device['credentials']}})
    assert status == 201, body
    device_id = body['device']['id']
    assert 'credentials' not in body['device']
    assert cloud.links(device_id) == {host: 'assigned' for host in HOSTS}
    _wait(lambda: api('GET', '/v2.0/devices/%s' % device_id)[1]['device'][
        'health'] == constants.HEALTH_OK, what='the appliance OK',
        timeout=20)

    # A VIP on it: ACTIVE, and serving from here through the namespace.
    port = http_backends.free_port()
    status, body = api('POST', '/v2.0/lb/vips', {'vip': {
        'name': 'web', 'address': appliance.address, 'protocol': 'HTTP',
        'protocol_port': port,
        'requirements': {'device_type': 'haproxy_ssh'},
        'members': [{'address': appliance.here,
                     'protocol_port': server_.server_address[1]}
                    for server_ in members]}})
    assert status == 201, body
    vip_id = body['vip']['id']
    _wait(lambda: cloud.vip_status(vip_id) == constants.STATUS_ACTIVE,
          what='the VIP ACTIVE', timeout=20)
    assert answers(appliance, port) == {'backend-a', 'backend-b'}
    before = _binding(cluster, vip_id)
    assert before.device_id == device_id
    assert {'haproxy.cfg', 'haproxy.pid'} <= set(appliance.files())
    victim = before.host
    survivor = ({*HOSTS} - {victim}).pop()

    # kill -9 of the agent that deployed it; traffic watched throughout.
    server.wait_for_log('now runs the health monitor')
    prober = Prober(appliance, port)
    try:
        time.sleep(1)
        agents[victim].kill()
        after = _wait(lambda: (lambda row: row if row is not None and
                               row.agent_id != before.agent_id else None)(
            _binding(cluster, vip_id)),
            timeout=DOWN_TIME + CHECK_INTERVAL + 20, what='the VIP rebound')
        assert after.host == survivor
        assert (after.device_id, after.generation) == (
            device_id, before.generation + 1)
        _wait(lambda: cloud.vip_status(vip_id) == constants.STATUS_ACTIVE,
              what='the VIP ACTIVE again', timeout=20)
        agents[survivor].wait_for_log(vip_id, timeout=10)
        time.sleep(2)   # and after
    finally:
        prober.stop()
    assert prober.failures == [], prober.failures
    assert len(prober.answered) > 20
    assert set(prober.answered) == {'backend-a', 'backend-b'}
    assert answers(appliance, port) == {'backend-a', 'backend-b'}

    # The appliance again under another name, with a wrong host key and a
    # password login: DOWN with the reason, nothing sent, nothing deployed.
    bad_dir = os.path.join(appliance.directory, 'haproxy-bad')
    os.mkdir(bad_dir, 0o750)
    shutil.chown(bad_dir, appliance.user, appliance.user)
    _other, wrong_key = keygen(os.path.join(appliance.directory, 'sshd',
                                            'wrong_host_key'))
    status, body = api('POST', '/v2.0/devices', {'device': {
        'name': 'appliance-wrong-key', 'device_type': 'haproxy_ssh',
        'capacity': 10,
        'physical_info': {'address': appliance.address,
                          'host_key': wrong_key, 'config_dir': bad_dir},
        'credentials': {'username': appliance.user,
                        'password': PASSWORD}}})
    assert status == 201, body
    bad_id = body['device']['id']
    _wait(lambda: api('GET', '/v2.0/devices/%s' % bad_id)[1]['device'][
        'health'] == constants.HEALTH_DOWN, what='the wrong key DOWN',
        timeout=20)
    report = _wait(lambda: _device_report(cluster, survivor,
                                          'appliance-wrong-key'),
                   what="the wrong key in the survivor's heartbeat")
    assert report['health'] == constants.HEALTH_DOWN
    assert 'does not match physical_info.host_key' in report.get(
        'health_reason', ''), report
    assert 'nothing was sent' in report['health_reason'], report
    assert os.listdir(bad_dir) == []
    assert not [row for row in cluster.bindings().values()
                if row.device_id == bad_id]
    assert answers(appliance, port) == {'backend-a', 'backend-b'}

    # No credential in any log, at debug.
    for process in cluster.processes:
        text = process.log()
        assert ' DEBUG ' in text, process.name
        no_secret_in(text, appliance)
    took = time.monotonic() - started
    print('acceptance of issue 15 in %.1f s (agent_down_time %d, '
          'report_interval %d): %s killed, the VIP rebound to %s '
          '(generation %d to %d), %d requests answered meanwhile' % (
              took, DOWN_TIME, REPORT_INTERVAL, victim, survivor,
              before.generation, after.generation, len(prober.answered)))
