"""The kombu intake's wire, pinned to oslo.messaging's own code.

Each rule the intake mirrors (envelope, context keys, version rule, the
dispatcher's choice of error, the reply and its failure, queue arguments)
is checked against the oslo.messaging function it mirrors, so an
oslo.messaging upgrade that changes one fails here.
"""

import itertools
import json
import sys
import types

import kombu.compression
import oslo_messaging
from oslo_messaging import _utils as oslo_utils
from oslo_messaging._drivers import amqp as oslo_amqp
from oslo_messaging._drivers import common as oslo_common
from oslo_messaging._drivers import impl_rabbit
from oslo_messaging.rpc import dispatcher as oslo_dispatcher
import pytest

from agentsched.reports import kombu_intake
from agentsched.reports import schema

VERSIONS = ['1.0', '1.1', '1.2', '1.4', '1.4.1', '1.5', '2.0', '0.9',
            '1.3.9', '1']


@pytest.mark.parametrize('implemented,requested', [
    (i, r) for i in ['1.4', '1.0', '2.0', '1.4.2'] for r in VERSIONS])
def test_version_rule_is_oslo_messagings(implemented, requested):
    try:
        expected = oslo_utils.version_is_compatible(implemented, requested)
    except (IndexError, ValueError) as exc:
        expected = type(exc)
    try:
        got = kombu_intake.version_is_compatible(implemented, requested)
    except (IndexError, ValueError) as exc:
        got = type(exc)
    assert got == expected


def _oslo_body(message):
    """The AMQP body oslo.messaging's client publishes for message."""
    return json.dumps(oslo_common.serialize_msg(message)).encode()


def test_decode_reads_what_oslo_messaging_sends():
    message = {'method': 'report_state', 'args': {'agent_state': {
        'agent_state': {'host': 'h', 'load': float('nan'),
                        'binary': 'x\ud800'}}, 'time': 't'},
        'version': '1.2', '_msg_id': 'm', '_reply_q': 'reply_1',
        '_timeout': None, '_unique_id': 'u', '_context_user_id': 'neutron',
        '_context_roles': ['admin']}
    decoded = kombu_intake.decode(_oslo_body(dict(message)))
    state = decoded['args']['agent_state']['agent_state']
    # NaN and the lone surrogate: orjson refuses them, the stdlib (which
    # oslo.messaging decodes with) takes them; the schema refuses them,
    # with an answer.
    assert state['load'] != state['load']
    assert state['binary'] == 'x\ud800'
    context, msg_id, reply_q, unique_id = kombu_intake.unpack(decoded)
    oslo_context = oslo_amqp.unpack_context(
        oslo_common.deserialize_msg(json.loads(_oslo_body(dict(message)))))
    assert context == oslo_context.to_dict()
    assert (msg_id, reply_q) == (oslo_context.msg_id, oslo_context.reply_q)
    assert unique_id == 'u'
    del state['load'], message['args']['agent_state']['agent_state']['load']
    assert decoded == {'method': 'report_state', 'version': '1.2',
                       'args': message['args']}


def test_decode_takes_a_message_without_envelope_and_compression():
    bare = {'method': 'report_state', 'args': {}}
    assert kombu_intake.decode(json.dumps(bare).encode()) == bare
    body, content_type = kombu.compression.compress(
        _oslo_body(bare), 'gzip')
    assert kombu_intake.decode(body, {'compression': content_type}) == bare


@pytest.mark.parametrize('body', [
    b'not json', b'[1, 2]', b'"a string"',
    b'{"oslo.version": "3.0", "oslo.message": "{}"}',
    b'{"oslo.version": 2, "oslo.message": "{}"}',
    b'{"oslo.version": "2.0", "oslo.message": "{broken"}',
    b'{"oslo.version": "2.0", "oslo.message": "[1]"}',
    b'{"oslo.version": "2.0", "oslo.message": {"method": "x"}}',
    b'\xff\xfe',
])
def test_malformed_messages(body):
    with pytest.raises(kombu_intake.Malformed):
        kombu_intake.decode(body)


def _reply_as_the_client_reads_it(body):
    """What oslo.messaging's ReplyWaiter makes of a reply body."""
    data = oslo_common.deserialize_msg(json.loads(body))
    assert data['ending'] is True and data['_msg_id'] == 'm1'
    assert len(data['_unique_id']) == 32
    if data['failure']:
        return oslo_common.deserialize_remote_exception(data['failure'], [])
    return data['result']


def test_reply_with_a_result():
    body = kombu_intake.reply_body('m1', 'alive')
    assert _reply_as_the_client_reads_it(body) == 'alive'
    assert json.loads(json.loads(body)['oslo.message'])['failure'] is None


@pytest.mark.parametrize('error', [
    schema.InvalidReport('agent_state.host must be longer'),
    oslo_messaging.NoSuchMethod('nope'),
    oslo_messaging.UnsupportedVersion('2.0', method='report_state'),
    RuntimeError('database gone'),
])
def test_failure_is_serialized_as_oslo_messaging_serializes_it(error):
    try:
        raise error
    except Exception:
        exc_info = sys.exc_info()
    assert kombu_intake.serialize_failure(exc_info) == \
        oslo_common.serialize_remote_exception(exc_info)
    remote = _reply_as_the_client_reads_it(
        kombu_intake.reply_body('m1', failure=exc_info))
    if isinstance(error, RuntimeError):  # builtins: rebuilt as itself
        assert isinstance(remote, RuntimeError)
        assert str(remote).startswith('database gone')
    else:
        assert isinstance(remote, oslo_messaging.RemoteError)
        assert remote.exc_type == type(error).__name__
        assert remote.value == str(error)


class Endpoint:
    target = oslo_messaging.Target(version='1.4')

    def report_state(self, context, **kwargs):
        return ('report_state', kwargs)

    def has_alive_neutron_server(self, context, **kwargs):
        return True

    def _private(self, context):
        return 'private'


class StatusEndpoint:
    target = oslo_messaging.Target(namespace='status', version='1.0')

    def get_report_stats(self, context):
        return {}


def _outcome(call):
    try:
        return ('result', call())
    except Exception as exc:
        return ('error', type(exc).__name__)


@pytest.mark.parametrize('method,version,namespace,args', [
    (method, version, namespace, args) for method, version, namespace, args
    in itertools.product(
        ['report_state', 'has_alive_neutron_server', 'get_report_stats',
         'nope', '_private', 'target', None],
        ['1.0', '1.4', '1.5', '2.0', None],
        [None, 'status', 'other'],
        [{'a': 1}, {}])])
def test_dispatch_chooses_as_oslo_messagings_dispatcher(
        parsed_conf, method, version, namespace, args):
    endpoints = [Endpoint(), StatusEndpoint()]
    message = {'method': method, 'args': args, 'namespace': namespace}
    if version is not None:
        message['version'] = version
    incoming = types.SimpleNamespace(message=message, ctxt={},
                                     client_timeout=None)
    oslo = oslo_dispatcher.RPCDispatcher(endpoints, None)
    ours = kombu_intake.Dispatcher(endpoints)
    assert _outcome(lambda: ours.dispatch({}, message)) == \
        _outcome(lambda: oslo.dispatch(incoming))


def test_ping_endpoint():
    ours = kombu_intake.Dispatcher([Endpoint()], ping=True)
    assert ours.dispatch({}, {'method': 'oslo_rpc_server_ping'}) == 'pong'
    with pytest.raises(oslo_messaging.NoSuchMethod):
        kombu_intake.Dispatcher([Endpoint()]).dispatch(
            {}, {'method': 'oslo_rpc_server_ping'})


def _rabbit(**options):
    values = {'rabbit_quorum_delivery_limit': 0,
              'rabbit_quorum_max_memory_length': 0,
              'rabbit_quorum_max_memory_bytes': 0}
    values.update(options)
    return types.SimpleNamespace(**values)


@pytest.mark.parametrize('ha,quorum,ttl,limits', list(itertools.product(
    [False, True], [False, True], [0, 1800], [(0, 0, 0), (5, 1000, 4096)])))
def test_queue_arguments_are_oslo_messagings(ha, quorum, ttl, limits):
    rabbit = _rabbit(rabbit_quorum_delivery_limit=limits[0],
                     rabbit_quorum_max_memory_length=limits[1],
                     rabbit_quorum_max_memory_bytes=limits[2])
    expected = _outcome(lambda: impl_rabbit._get_queue_arguments(
        ha, ttl, quorum, impl_rabbit.QuorumMemConfig(*limits), False))
    assert _outcome(lambda: kombu_intake.queue_arguments(
        rabbit, ha, quorum, ttl)) == expected


def test_broker_url_from_a_transport_url(parsed_conf):
    url = oslo_messaging.TransportURL.parse(
        parsed_conf, 'rabbit://user:p%40ss@rabbit1:5671/vhost')
    assert kombu_intake.broker_url(url) == \
        'amqp://user:p%40ss@rabbit1:5671/vhost'
    url = oslo_messaging.TransportURL.parse(
        parsed_conf, 'rabbit://a:b@h1,c:d@[::1]:5673/')
    assert sorted(kombu_intake.broker_url(url).split(';')) == [
        'amqp://a:b@h1:5672/', 'amqp://c:d@[::1]:5673/']


@pytest.mark.parametrize('options', [
    {'ssl': False},
    {'ssl': True},
    {'ssl': True, 'ssl_ca_file': '/etc/ca.pem'},
    {'ssl': True, 'ssl_ca_file': '/etc/ca.pem', 'ssl_cert_file': '/c.pem',
     'ssl_key_file': '/c.key', 'ssl_version': 'TLSv1_2'},
    {'ssl': True, 'ssl_version': 'nonsense'},
])
@pytest.mark.parametrize('hosts', ['h1', 'h1,h2'])
def test_tls_parameters_are_oslo_messagings(parsed_conf, options, hosts):
    values = {'ssl_version': '', 'ssl_key_file': '', 'ssl_cert_file': '',
              'ssl_ca_file': ''}
    values.update(options)
    url = oslo_messaging.TransportURL.parse(
        parsed_conf, 'rabbit://u:p@%s:5671/' % hosts)
    connection = types.SimpleNamespace(
        validate_ssl_version=impl_rabbit.Connection.validate_ssl_version,
        ssl_server_hostname=impl_rabbit.Connection._get_ssl_server_hostname(
            url), **values)
    expected = _outcome(
        lambda: impl_rabbit.Connection._fetch_ssl_params(connection))
    assert _outcome(lambda: kombu_intake._ssl_parameters(
        types.SimpleNamespace(**values), url)) == expected
