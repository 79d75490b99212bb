"""RPC clients: each pins a version cap and sends each call at the version
it needs, falling back or raising (before sending) when the cap is lower.

No broker: the clients run on oslo.messaging's fake transport, whose send
is replaced by a recorder of what would have gone on the wire.
"""

import collections

import oslo_messaging
import pytest

from agentsched import messaging
from agentsched import signing
from agentsched.agents import server_api
from agentsched.cmd import manage
from agentsched.reports import reporter
from agentsched.services import agent_notifier

Sent = collections.namedtuple('Sent', 'topic server namespace version '
                                      'method args wait_for_reply')
Agent = collections.namedtuple('Agent', 'agent_type host topic')

AGENT = Agent('Loadbalancer agent', 'lb-1', 'agentsched-lbaas-agent')
MASTER_KEY = signing.generate_master_key()


class Bus:
    """What the clients sent, and what a call gets back, by method."""

    def __init__(self, transport):
        self.transport = transport
        self.sent = []
        self.replies = {}
        self.clients = []

    def send(self, target, ctxt, message, wait_for_reply=None, timeout=None,
             **kwargs):
        self.sent.append(Sent(target.topic, target.server,
                              message.get('namespace'),
                              message.get('version'), message['method'],
                              message['args'], bool(wait_for_reply)))
        return self.replies.get(message['method'])

    def only(self):
        assert len(self.sent) == 1, self.sent
        return self.sent.pop()


@pytest.fixture
def bus(parsed_conf, monkeypatch):
    transport = oslo_messaging.get_rpc_transport(parsed_conf, url='fake:')
    recorder = Bus(transport)
    monkeypatch.setattr(transport, '_send', recorder.send)
    monkeypatch.setattr(messaging, 'get_transport', lambda conf: transport)
    get_client = messaging.get_client

    def recording_get_client(*args, **kwargs):
        client = get_client(*args, **kwargs)
        recorder.clients.append(client)
        return client

    monkeypatch.setattr(messaging, 'get_client', recording_get_client)
    yield recorder
    transport.cleanup()


def server_signer():
    return signing.Signer(signing.Keyring.for_server([MASTER_KEY]))


def agent_signer(host=AGENT.host):
    return signing.Signer(signing.Keyring.for_agent(
        host, [signing.host_key(MASTER_KEY, host)]))


def resource():
    return {'id': 'r-1', 'resource_type': 'vip', 'generation': 3}


# messaging.get_client


def test_get_client_passes_the_cap_to_oslo_messaging(bus, parsed_conf):
    client = messaging.get_client(parsed_conf, 'topic', '1.0',
                                  version_cap='1.1')
    assert client.version_cap == '1.1'
    assert client.can_send_version('1.1')
    assert not client.can_send_version('1.2')
    with pytest.raises(oslo_messaging.RPCVersionCapError):
        client.prepare(version='1.2').cast({}, 'method')
    assert bus.sent == []
    with pytest.raises(messaging.VersionCapError,
                       match=r'^m needs RPC version 1.2 \(why\) but this '
                             r'client is capped at 1.1$'):
        messaging.require_version(client, 'm', '1.2', 'why')
    assert messaging.require_version(client, 'm', '1.1', 'why') == '1.1'


def test_get_client_without_a_cap_sends_any_version(bus, parsed_conf):
    client = messaging.get_client(parsed_conf, 'topic', '1.0')
    assert client.version_cap is None
    assert client.can_send_version('1.99')


# services/agent_notifier.py: server -> agent casts


def test_notifier_casts_each_method_at_its_version_under_the_cap(
        bus, parsed_conf):
    notifier = agent_notifier.AgentNotifier(parsed_conf)
    assert notifier.agent_updated(AGENT, False)
    assert notifier.devices_updated(AGENT)
    assert notifier.deploy(AGENT, resource())
    assert notifier.undeploy(AGENT, resource())
    assert [(s.method, s.version) for s in bus.sent] == [
        ('agent_updated', '1.0'), ('devices_updated', '1.0'),
        ('deploy', '1.1'), ('undeploy', '1.1')]
    assert all(s.topic == AGENT.topic and s.server == AGENT.host and
               not s.wait_for_reply and 'signature' not in s.args
               for s in bus.sent)
    assert {c.version_cap for c in bus.clients} == {'1.2'}


def test_notifier_signs_at_1_2(bus, parsed_conf):
    notifier = agent_notifier.AgentNotifier(parsed_conf, server_signer())
    assert notifier.agent_updated(AGENT, True)
    assert notifier.deploy(AGENT, resource())
    verifier = signing.Verifier(agent_signer()._keyring, 60)
    for sent in bus.sent:
        assert sent.version == '1.2'
        args = dict(sent.args)
        verifier.verify(sent.method, args, args.pop('signature'),
                        AGENT.host, AGENT.agent_type)


def test_notifier_capped_at_1_1_sends_unsigned_casts_in_their_old_form(
        bus, parsed_conf, monkeypatch):
    monkeypatch.setattr(agent_notifier, 'AGENT_API_VERSION_CAP', '1.1')
    notifier = agent_notifier.AgentNotifier(parsed_conf)
    assert notifier.deploy(AGENT, resource())
    assert notifier.agent_updated(AGENT, True)
    assert [(s.method, s.version) for s in bus.sent] == [
        ('deploy', '1.1'), ('agent_updated', '1.0')]
    assert {c.version_cap for c in bus.clients} == {'1.1'}


def test_notifier_capped_at_1_1_never_downgrades_a_signed_cast(
        bus, parsed_conf, monkeypatch):
    monkeypatch.setattr(agent_notifier, 'AGENT_API_VERSION_CAP', '1.1')
    notifier = agent_notifier.AgentNotifier(parsed_conf, server_signer())
    for cast in (lambda: notifier.deploy(AGENT, resource()),
                 lambda: notifier.agent_updated(AGENT, True)):
        with pytest.raises(messaging.VersionCapError,
                           match='needs RPC version 1.2 .a signed cast.'):
            cast()
    assert bus.sent == []


def test_notifier_seals_only_at_1_2(bus, parsed_conf, monkeypatch):
    keyring = signing.Keyring.for_server([MASTER_KEY])
    notifier = agent_notifier.AgentNotifier(parsed_conf, keyring=keyring)
    message = dict(resource(), secrets={'spec': {'psk': 'secret'}})
    assert notifier.deploy(AGENT, message)
    assert 'sealed' in bus.only().args['resource']
    monkeypatch.setattr(agent_notifier, 'AGENT_API_VERSION_CAP', '1.1')
    with pytest.raises(messaging.VersionCapError):
        notifier.deploy(AGENT, message)
    assert bus.sent == []


def test_notifier_capped_below_a_method_raises(bus, parsed_conf,
                                               monkeypatch):
    monkeypatch.setattr(agent_notifier, 'AGENT_API_VERSION_CAP', '1.0')
    notifier = agent_notifier.AgentNotifier(parsed_conf)
    with pytest.raises(messaging.VersionCapError,
                       match='^undeploy needs RPC version 1.1'):
        notifier.undeploy(AGENT, resource())
    assert notifier.devices_updated(AGENT)
    assert bus.only().version == '1.0'


# agents/server_api.py: agent -> server calls


def test_server_api_asks_for_what_the_agent_reads(bus, parsed_conf):
    api = server_api.ServerAPI(parsed_conf, timeout=5)
    bus.replies['sync'] = {'devices': [], 'resources': [], 'elsewhere': [],
                           'withheld': []}
    assert api.assigned_resources(AGENT.agent_type, AGENT.host) == bus.replies['sync']
    sync = bus.only()
    assert (sync.namespace, sync.version, sync.wait_for_reply) == (
        'agent', '1.3', True)
    assert sync.args == {'agent_type': AGENT.agent_type,
                         'host': AGENT.host}
    api.update_status(AGENT.agent_type, AGENT.host, 'r-1', 3, 'ACTIVE', '')
    status = bus.only()
    assert (status.namespace, status.version) == ('agent', '1.4')
    assert status.args == {'agent_type': AGENT.agent_type,
                           'host': AGENT.host, 'resource_id': 'r-1',
                           'generation': 3, 'status': 'ACTIVE',
                           'description': ''}
    assert bus.clients[0].version_cap == '1.5'


def test_server_api_signs_at_1_4(bus, parsed_conf):
    api = server_api.ServerAPI(parsed_conf, timeout=5,
                               signer=agent_signer())
    api.assigned_resources(AGENT.agent_type, AGENT.host)
    api.update_status(AGENT.agent_type, AGENT.host, 'r-1', 3, 'ACTIVE', '')
    verifier = signing.Verifier(
        signing.Keyring.for_server([MASTER_KEY]), 60)
    for sent in bus.sent:
        assert sent.version == '1.4'
        args = dict(sent.args)
        verifier.verify(sent.method, args, args.pop('signature'),
                        AGENT.host, AGENT.agent_type)


@pytest.mark.parametrize('signed', [False, True])
def test_server_api_sends_data_plane_batches_at_1_5(bus, parsed_conf,
                                                    signed):
    api = server_api.ServerAPI(parsed_conf, timeout=5,
                               signer=agent_signer() if signed else None)
    statuses = [{'id': 'r-1', 'generation': 3, 'operating_status': 'ONLINE'}]
    statistics = [{'id': 'r-1', 'generation': 3, 'bytes_in': 1}]
    api.update_operating_status(AGENT.agent_type, AGENT.host, statuses)
    api.update_statistics(AGENT.agent_type, AGENT.host, statistics)
    first, second = bus.sent
    assert (first.method, first.namespace, first.version) == (
        'update_operating_status', 'agent', '1.5')
    assert (second.method, second.version) == ('update_statistics', '1.5')
    assert first.args['statuses'] == statuses
    assert second.args['statistics'] == statistics
    assert ('signature' in first.args) is signed


def test_server_api_capped_at_1_4_sends_no_data_plane_batch(
        bus, parsed_conf, monkeypatch):
    monkeypatch.setattr(server_api, 'SYNC_API_VERSION_CAP', '1.4')
    api = server_api.ServerAPI(parsed_conf, timeout=5,
                               signer=agent_signer())
    with pytest.raises(messaging.VersionCapError,
                       match='^update_operating_status needs RPC version '
                             '1.5'):
        api.update_operating_status(AGENT.agent_type, AGENT.host, [])
    api.update_status(AGENT.agent_type, AGENT.host, 'r-1', 3, 'ACTIVE', '')
    assert bus.only().version == '1.4'


def test_server_api_capped_at_1_3_sends_update_status_in_its_1_1_form(
        bus, parsed_conf, monkeypatch):
    monkeypatch.setattr(server_api, 'SYNC_API_VERSION_CAP', '1.3')
    api = server_api.ServerAPI(parsed_conf, timeout=5)
    api.assigned_resources(AGENT.agent_type, AGENT.host)
    assert bus.only().version == '1.3'
    api.update_status(AGENT.agent_type, AGENT.host, 'r-1', 3, 'ACTIVE', '')
    status = bus.only()
    assert status.version == '1.1'
    assert status.args == {'resource_id': 'r-1', 'generation': 3,
                           'status': 'ACTIVE', 'description': ''}


def test_server_api_capped_at_1_3_never_downgrades_a_signed_call(
        bus, parsed_conf, monkeypatch):
    monkeypatch.setattr(server_api, 'SYNC_API_VERSION_CAP', '1.3')
    api = server_api.ServerAPI(parsed_conf, timeout=5,
                               signer=agent_signer())
    with pytest.raises(messaging.VersionCapError,
                       match=r'^sync needs RPC version 1.4 \(a signed call'):
        api.assigned_resources(AGENT.agent_type, AGENT.host)
    with pytest.raises(messaging.VersionCapError,
                       match='^update_status needs RPC version 1.4'):
        api.update_status(AGENT.agent_type, AGENT.host, 'r-1', 3, 'ACTIVE',
                          '')
    assert bus.sent == []


def test_server_api_capped_below_1_3_refuses_to_sync(bus, parsed_conf,
                                                     monkeypatch):
    monkeypatch.setattr(server_api, 'SYNC_API_VERSION_CAP', '1.2')
    api = server_api.ServerAPI(parsed_conf, timeout=5)
    with pytest.raises(messaging.VersionCapError,
                       match="^sync needs RPC version 1.3 .'withheld'"):
        api.assigned_resources(AGENT.agent_type, AGENT.host)
    assert bus.sent == []
    # A MessagingException: the agent logs a failed sync and goes on.
    assert issubclass(messaging.VersionCapError,
                      oslo_messaging.MessagingException)


# reports/reporter.py: the agent's heartbeat


def agent_state():
    return {'agent_type': AGENT.agent_type, 'host': AGENT.host,
            'binary': 'agentsched-agent', 'topic': AGENT.topic,
            'configurations': {}}


def test_reporter_calls_at_1_1_and_casts_at_1_0(bus, parsed_conf):
    state_reporter = reporter.StateReporter(parsed_conf, timeout=5)
    bus.replies['report_state'] = 'alive'
    assert state_reporter.report_state(agent_state()) == 'alive'
    call = bus.only()
    assert (call.topic, call.namespace, call.version, call.wait_for_reply) \
        == (parsed_conf.reports.topic, None, '1.1', True)
    assert state_reporter.report_state(agent_state(), use_call=False) is None
    cast = bus.only()
    assert (cast.version, cast.wait_for_reply) == ('1.0', False)
    assert bus.clients[0].version_cap == '1.2'


def test_reporter_capped_at_1_0_casts_but_never_calls(bus, parsed_conf,
                                                      monkeypatch):
    monkeypatch.setattr(reporter, 'REPORT_API_VERSION_CAP', '1.0')
    state_reporter = reporter.StateReporter(parsed_conf, timeout=5)
    with pytest.raises(messaging.VersionCapError,
                       match=r'^report_state needs RPC version 1.1 \(the '
                             r'status answered\)'):
        state_reporter.report_state(agent_state())
    assert bus.sent == []
    state_reporter.report_state(agent_state(), use_call=False)
    assert bus.only().version == '1.0'


# cmd/manage.py: server stats


def test_server_stats_asks_the_status_namespace_at_1_0(
        bus, parsed_conf, monkeypatch, capsys):
    monkeypatch.setattr(messaging, 'is_in_process', lambda conf: False)
    bus.replies['get_report_stats'] = {'accepted': 3, 'rejected': 0}
    manage.server_stats(parsed_conf)
    assert capsys.readouterr().out == 'accepted: 3\nrejected: 0\n'
    stats = bus.only()
    assert (stats.namespace, stats.version, stats.wait_for_reply) == (
        'status', '1.0', True)
    client, = bus.clients
    assert client.version_cap == '1.0'
    assert not client.can_send_version('1.1')
