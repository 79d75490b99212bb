"""The report topic's intake on kombu, speaking oslo.messaging's wire.

[reports] intake = kombu. Agents cannot tell it from oslo.messaging's RPC
server: it consumes the queues that server consumes, declared as
oslo.messaging's rabbit driver declares them from the same options
([oslo_messaging_rabbit], which the transport URL's query overrides):

* `<topic>` and `<topic>.<host>`, bound with their own names as routing
  keys on the topic exchange `control_exchange`; durable when
  `amqp_durable_queues` or `rabbit_quorum_queue`, auto-delete when
  `amqp_auto_delete`, no `x-expires`, `x-ha-policy: all` with
  `rabbit_ha_queues`, `x-queue-type: quorum` (and its limits) with
  `rabbit_quorum_queue`;
* `<topic>_fanout_<random>` on the fanout exchange `<topic>_fanout`
  (auto-delete), with `x-expires` of `rabbit_transient_queues_ttl`, deleted
  when the intake stops.

A server with either intake can consume the same queues (competing
consumers), so servers switch one at a time.

What comes in is oslo.messaging's envelope, `{"oslo.version": "2.0",
"oslo.message": "<JSON>"}` (or, as oslo.messaging takes it, a bare message
without one), holding `method`, `args`, `version` (1.0 when absent) and
`namespace`, the request context flattened into `_context_<key>` keys, and
for a call `_msg_id`, `_reply_q` and `_timeout`; `_unique_id` on every
message, the last 16 of which are remembered to drop redeliveries, as
oslo.messaging's listener does. A message goes to the endpoints exactly as
oslo.messaging's RPCDispatcher sends it: the first endpoint whose Target
takes its namespace and version and has the method; otherwise NoSuchMethod
(an endpoint takes the namespace and version but lacks the method) or
UnsupportedVersion (none takes them: another version, or another
namespace). A call is answered on its reply queue (the default exchange,
routing key `_reply_q`) with `{"result": ..., "failure": ..., "ending":
true, "_msg_id": ..., "_unique_id": ...}` in the same envelope; `failure`
is the exception serialized as oslo.messaging's
serialize_remote_exception writes it, so an oslo.messaging client raises
RemoteError (InvalidReport, NoSuchMethod, UnsupportedVersion, ...) as with
oslo.messaging's server. A cast is never answered. `_timeout` (the
client's call-monitor timeout) is read and not honoured: no call-monitor
heartbeats are sent.

What differs is the work per message. One consumer thread reads with
py-amqp (the socket read ahead, READ_AHEAD bytes at a time) what the
broker has sent, at most intake_prefetch messages (the prefetch window
of each consumer: RabbitMQ sends no more until they are acknowledged,
the rest wait in the queue), decodes them
with orjson (stdlib json for what orjson refuses and oslo.messaging
takes: NaN, Infinity, lone surrogates), rejects what it cannot read (not
JSON, not an envelope, another envelope version: dropped, counted as
'rejected', logged, and never answered: there is no reply queue to read),
acknowledges the rest with one basic.ack (multiple) and hands them to the
executor_threads workers through a queue of one batch: while the workers
are busy the consumer waits, and the broker holds what the window does
not. Acknowledged before processing is oslo.messaging's delivery
guarantee: a server that dies loses what it had taken (at most once; the
agents' next reports replace it), and a message that kills a server is
not delivered again to the next one. The workers call the endpoints
(ReportsEndpoint: the same validation, trust and sink as with
oslo.messaging) and publish the answers, each on a connection of its own.

On a lost connection the consumer reconnects with oslo.messaging's
back-off ([oslo_messaging_rabbit] rabbit_retry_interval, rabbit_retry_backoff,
rabbit_interval_max), declares again and carries on; what it had read and
not acknowledged, the broker delivers again.
"""

import collections
import json
import os
import queue
import random
import socket
import ssl
import sys
import threading
import time
import traceback
from urllib import parse
import uuid

import amqp
import kombu
import kombu.compression
import orjson
from oslo_log import log as logging
import oslo_messaging
from oslo_messaging.rpc import dispatcher as rpc_dispatcher

from agentsched import messaging

LOG = logging.getLogger(__name__)

ENVELOPE_VERSION = '2.0'
VERSION_KEY = 'oslo.version'
MESSAGE_KEY = 'oslo.message'
_CONTEXT_PREFIX = '_context_'
_REMOTE_POSTFIX = '_Remote'
# oslo.messaging's listener remembers this many _unique_ids.
DUPLICATE_WINDOW = 16
# Longest wait for the broker between two looks at stop and heartbeats.
POLL_SECONDS = 0.25
# Bytes asked of the socket at once (_read_ahead).
READ_AHEAD = 4096
_REPLY_PROPERTIES = {'content_type': 'application/json',
                     'content_encoding': 'utf-8', 'delivery_mode': 2,
                     'priority': 0}


class Malformed(ValueError):
    """A message that is not oslo.messaging's: dropped, never answered."""


# -- the wire ---------------------------------------------------------------

def _loads(text):
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError:
        # oslo.messaging decodes with the stdlib, which also takes NaN,
        # Infinity and lone surrogates: the schema refuses those, with an
        # answer, so they must get that far.
        try:
            return json.loads(text)
        except (ValueError, TypeError) as exc:
            raise Malformed('not JSON (%s)' % str(exc)[:100])


def decode(body, headers=None):
    """The message dict of one AMQP body, as oslo.messaging reads it."""
    if headers and headers.get('compression'):
        try:
            body = kombu.compression.decompress(body, headers['compression'])
        except Exception as exc:
            raise Malformed('cannot decompress (%s)' % str(exc)[:100])
    envelope = _loads(body)
    if not isinstance(envelope, dict):
        raise Malformed('not a JSON object')
    if VERSION_KEY not in envelope or MESSAGE_KEY not in envelope:
        # oslo.messaging takes a dict without the envelope as the message
        # itself (its format 1.0).
        return envelope
    try:
        compatible = version_is_compatible(ENVELOPE_VERSION,
                                           envelope[VERSION_KEY])
    except (AttributeError, ValueError):
        compatible = False
    if not compatible:
        raise Malformed('envelope version %r' % (envelope[VERSION_KEY],))
    if not isinstance(envelope[MESSAGE_KEY], (str, bytes)):
        raise Malformed('oslo.message is not a string')
    message = _loads(envelope[MESSAGE_KEY])
    if not isinstance(message, dict):
        raise Malformed('oslo.message is not a JSON object')
    return message


def unpack(message):
    """(context, msg_id, reply_q, unique_id), popped from message as
    oslo.messaging's unpack_context and duplicate check pop them."""
    context = {}
    for key in [key for key in message if key.startswith(_CONTEXT_PREFIX)]:
        context[key[len(_CONTEXT_PREFIX):]] = message.pop(key)
    msg_id = message.pop('_msg_id', None)
    reply_q = message.pop('_reply_q', None)
    context['client_timeout'] = message.pop('_timeout', None)
    return context, msg_id, reply_q, message.pop('_unique_id', None)


def version_is_compatible(implemented, requested):
    """oslo.messaging's rule: the same major, a minor (and revision) no
    newer than implemented. None implemented takes any version."""
    if implemented is None:
        return True
    if requested is None:
        return False
    parts = requested.split('.')
    own = implemented.split('.')
    revision = parts[2] if len(parts) > 2 else 0
    own_revision = own[2] if len(own) > 2 else 0
    if int(parts[0]) != int(own[0]):
        return False
    if int(parts[1]) > int(own[1]):
        return False
    return not (int(parts[1]) == int(own[1]) and
                int(revision) > int(own_revision))


def serialize_failure(exc_info):
    """The exception as oslo.messaging's serialize_remote_exception writes
    it, which its clients turn back into RemoteError (or the exception)."""
    failure = exc_info[1]
    name = type(failure).__name__
    module = type(failure).__module__
    if name.endswith(_REMOTE_POSTFIX) and module.endswith(_REMOTE_POSTFIX):
        name = name[:-len(_REMOTE_POSTFIX)]
        module = module[:-len(_REMOTE_POSTFIX)]
    return json.dumps({
        'class': name, 'module': module, 'message': str(failure),
        'tb': traceback.format_exception(*exc_info),
        'args': failure.args, 'kwargs': getattr(failure, 'kwargs', {}),
    }, default=str)


def reply_body(msg_id, result=None, failure=None):
    """The answer to a call, as oslo.messaging's server sends it."""
    message = {'result': result,
               'failure': serialize_failure(failure) if failure else None,
               'ending': True, '_msg_id': msg_id,
               '_unique_id': uuid.uuid4().hex}
    return orjson.dumps({
        VERSION_KEY: ENVELOPE_VERSION,
        MESSAGE_KEY: orjson.dumps(message, default=str,
                                  option=orjson.OPT_NON_STR_KEYS).decode()})


class Dispatcher:
    """oslo.messaging's RPCDispatcher.dispatch, for decoded messages.

    Endpoints as for an oslo.messaging server: objects with an optional
    Target (namespace, version); methods called as method(context,
    **args); names starting with '_' are not callable (its default access
    policy). With [DEFAULT] rpc_ping_enabled, oslo_rpc_server_ping answers
    'pong', as oslo.messaging's ping endpoint does.
    """

    def __init__(self, endpoints, ping=False):
        self._endpoints = []
        for endpoint in list(endpoints) + (
                [rpc_dispatcher.PingEndpoint()] if ping else []):
            target = getattr(endpoint, 'target', None) or \
                oslo_messaging.Target()
            self._endpoints.append((endpoint, target.accepted_namespaces,
                                    target.version or '1.0'))

    def dispatch(self, context, message):
        method = message.get('method')
        args = message.get('args', {})
        namespace = message.get('namespace')
        version = message.get('version', '1.0')
        found_compatible = False
        for endpoint, namespaces, endpoint_version in self._endpoints:
            if not (namespace in namespaces and
                    version_is_compatible(endpoint_version, version)):
                continue
            if hasattr(endpoint, method) and not method.startswith('_'):
                return getattr(endpoint, method)(context, **args)
            found_compatible = True
        if found_compatible:
            raise oslo_messaging.NoSuchMethod(method)
        raise oslo_messaging.UnsupportedVersion(version, method=method)


# -- the broker -------------------------------------------------------------

def queue_arguments(rabbit, ha, quorum, ttl):
    """The x-arguments oslo.messaging declares a queue with (its
    _get_queue_arguments; no stream queues)."""
    if quorum and ha:
        raise RuntimeError('Configuration Error: rabbit_quorum_queue and '
                           'rabbit_ha_queues both enabled, queue type is '
                           'quorum or HA (mirrored) not both')
    arguments = {}
    if ha:
        arguments['x-ha-policy'] = 'all'
    if quorum:
        arguments['x-queue-type'] = 'quorum'
        for option, key in (
                ('rabbit_quorum_delivery_limit', 'x-delivery-limit'),
                ('rabbit_quorum_max_memory_length', 'x-max-in-memory-length'),
                ('rabbit_quorum_max_memory_bytes', 'x-max-in-memory-bytes')):
            if getattr(rabbit, option):
                arguments[key] = getattr(rabbit, option)
    if ttl > 0:
        arguments['x-expires'] = ttl * 1000
    return arguments


def broker_url(url):
    """kombu's URL of an oslo.messaging rabbit:// transport URL: its hosts
    in random order (kombu fails over through them), as the driver does."""
    hosts = list(url.hosts) or [oslo_messaging.TransportHost('')]
    if len(hosts) > 1:
        random.shuffle(hosts)
    return ';'.join('amqp://%s:%s@%s:%s/%s' % (
        parse.quote(host.username or ('' if url.hosts else 'guest')),
        parse.quote(host.password or ('' if url.hosts else 'guest')),
        _host(host.hostname or 'localhost'), host.port or 5672,
        url.virtual_host or '') for host in hosts)


def _host(hostname):
    return '[%s]' % hostname if ':' in hostname else hostname


def _ssl_parameters(rabbit, url):
    """oslo.messaging's _fetch_ssl_params."""
    if not rabbit.ssl:
        return False
    parameters = {}
    if rabbit.ssl_version:
        name = rabbit.ssl_version.lower()
        name = {'tlsv1': 'TLSv1', 'sslv23': 'SSLv23', 'sslv2': 'SSLv2',
                'sslv3': 'SSLv3', 'tlsv1_1': 'TLSv1_1',
                'tlsv1_2': 'TLSv1_2'}.get(name)
        if name is None or not hasattr(ssl, 'PROTOCOL_' + name):
            raise RuntimeError('Invalid SSL version : %s' %
                               rabbit.ssl_version)
        parameters['ssl_version'] = getattr(ssl, 'PROTOCOL_' + name)
    if rabbit.ssl_key_file:
        parameters['keyfile'] = rabbit.ssl_key_file
    if rabbit.ssl_cert_file:
        parameters['certfile'] = rabbit.ssl_cert_file
    if rabbit.ssl_ca_file:
        parameters['ca_certs'] = rabbit.ssl_ca_file
        parameters['cert_reqs'] = ssl.CERT_REQUIRED
        parameters['server_hostname'] = (url.hosts[0].hostname
                                         if len(url.hosts) == 1 else None)
    return parameters or True


class KombuIntake:
    """An RPC server for one topic, built on kombu: start(), stop(), wait()
    as oslo.messaging's.

    stats: a ReportStats; malformed messages are counted in its rejected,
    for the reason 'malformed'.
    """

    def __init__(self, conf, topic, endpoints, server=None, stats=None,
                 prefetch=None, workers=None):
        self._conf = conf
        self.topic = topic
        self.server = server or conf.host
        self._stats = stats
        self.prefetch = prefetch or conf.reports.intake_prefetch
        self._worker_count = workers or conf.reports.executor_threads
        self._dispatcher = Dispatcher(endpoints, ping=_ping_enabled(conf))
        self._stopping = threading.Event()
        self._work = queue.Queue(maxsize=1)
        self._recent = collections.deque(maxlen=DUPLICATE_WINDOW)
        self._batch = []
        self._connection = self._channel = self._consumer = None
        self._thread = None
        self._workers = []
        # Bumped at each (re)connection: the workers' answering
        # connections follow the consumer's to a restarted broker.
        self.generation = 0
        self.malformed = 0
        self.duplicates = 0
        self.reconnections = 0
        self.fanout_queue = '%s_fanout_%s' % (topic, uuid.uuid4().hex)

    # -- life -----------------------------------------------------------

    def start(self):
        """Connect and consume; waits for the broker as oslo.messaging's
        start() does. Raises RuntimeError when the queues cannot be
        declared (their arguments differ from the broker's)."""
        conf = self._conf
        # Registers [oslo_messaging_rabbit] (the rabbit driver does).
        messaging.get_transport(conf)
        url = oslo_messaging.TransportURL.parse(
            conf, messaging.transport_url(conf))
        self._rabbit = messaging.RabbitOptions(conf, url)
        if self._rabbit.rabbit_stream_fanout:
            raise RuntimeError('[reports] intake = kombu does not take '
                               '[oslo_messaging_rabbit] rabbit_stream_fanout:'
                               ' use intake = oslo.messaging')
        self._url = broker_url(url)
        self._ssl = _ssl_parameters(self._rabbit, url)
        self._exchange = conf.control_exchange
        self._heartbeat = self._rabbit.heartbeat_timeout_threshold
        self._connect(first=True)
        for index in range(self._worker_count):
            worker = threading.Thread(
                target=self._work_loop, args=(_Replier(self),),
                name='reports-intake-worker-%d' % index, daemon=True)
            worker.start()
            self._workers.append(worker)
        self._thread = threading.Thread(target=self._consume_loop,
                                        name='reports-intake', daemon=True)
        self._thread.start()
        LOG.info('Heartbeat intake on kombu: topic %s (and %s.%s), exchange '
                 '%s, prefetch %d, %d workers', self.topic, self.topic,
                 self.server, self._exchange, self.prefetch,
                 self._worker_count)

    def stop(self):
        self._stopping.set()

    def wait(self):
        """Until the consumer has closed its connection and the workers
        have processed every batch taken."""
        if self._thread is not None:
            self._thread.join()
        for _ in self._workers:
            self._work.put(None)
        for worker in self._workers:
            worker.join()
        self._workers = []

    # -- the consumer thread --------------------------------------------

    def connection(self, purpose, heartbeat):
        name = '%s:%d:%s' % (os.path.basename(sys.argv[0]), os.getpid(),
                             purpose)
        rabbit = self._rabbit
        return kombu.Connection(
            self._url, ssl=self._ssl, login_method=rabbit.rabbit_login_method,
            heartbeat=heartbeat,
            failover_strategy=rabbit.kombu_failover_strategy,
            transport_options={'client_properties': {
                'capabilities': {'authentication_failure_close': True,
                                 'connection.blocked': True,
                                 'consumer_cancel_notify': True},
                'connection_name': name}})

    def _connect(self, first=False):
        attempt = 0
        while not self._stopping.is_set():
            connection = self.connection('reports-intake', self._heartbeat)
            try:
                connection.connect()
                channel = self._open_channel(connection)
                # Per consumer, as oslo.messaging's rabbit_qos_prefetch_count
                # (quorum queues take no other).
                channel.basic_qos(0, self.prefetch, False)
                # py-amqp's messages as they come, without kombu's Message
                # and Consumer around each (about 5 us of the 90 a message
                # costs the intake, measured here).
                consumer = [channel.basic_consume(
                    bound.name, callback=self._batch.append,
                    arguments=bound.consumer_arguments)
                    for bound in self._queues]
            except (amqp.exceptions.IrrecoverableChannelError,
                    amqp.exceptions.IrrecoverableConnectionError) as exc:
                # The broker refuses what is asked (arguments that differ
                # from the queues', permissions, a missing vhost): at start,
                # the server does not start; later, it tries again.
                _release(connection)
                if first:
                    raise RuntimeError(
                        'Cannot consume topic %s on exchange %s: %s' % (
                            self.topic, self._exchange, exc))
                LOG.error('Cannot consume topic %s: %s. Trying again in %d '
                          'seconds.', self.topic, exc, self._backoff(attempt))
            except Exception as exc:
                _release(connection)
                LOG.error('AMQP server for the heartbeat intake is '
                          'unreachable: %s. Trying again in %d seconds.',
                          exc, self._backoff(attempt))
            else:
                _read_ahead(connection.connection.transport)
                self._connection, self._channel = connection, channel
                self._consumer = consumer
                self._last_tick = time.monotonic()
                self.generation += 1
                if not first:
                    self.reconnections += 1
                    LOG.info('Heartbeat intake reconnected to the AMQP '
                             'server')
                return True
            self._stopping.wait(self._backoff(attempt))
            attempt += 1
        return False

    def _backoff(self, attempt):
        rabbit = self._rabbit
        return min(rabbit.rabbit_retry_interval +
                   attempt * rabbit.rabbit_retry_backoff,
                   rabbit.rabbit_interval_max)

    def _open_channel(self, connection):
        """A channel with the queues of oslo.messaging's RPC server on this
        topic declared (its declare_topic_consumer and
        declare_fanout_consumer)."""
        channel = connection.channel()
        try:
            self._queues = self._declare(channel)
        except amqp.exceptions.PreconditionFailed as exc:
            if "inequivalent arg 'durable'" not in str(exc):
                raise
            # As oslo.messaging: another service made the exchange first,
            # not durable; fall back to an exchange and queues that are not
            # either (the error closed the channel: a new one).
            LOG.warning('The queues of topic %s could not be declared '
                        'durable (%s): declaring them not durable',
                        self.topic, exc)
            channel = connection.channel()
            self._queues = self._declare(channel, durable=False)
        return channel

    def _declare(self, channel, durable=None):
        rabbit = self._rabbit
        if durable is None:
            durable = rabbit.amqp_durable_queues or rabbit.rabbit_quorum_queue
        auto_delete = rabbit.amqp_auto_delete
        consumer_arguments = ({'x-cancel-on-ha-failover': True}
                              if rabbit.enable_cancel_on_failover else None)
        exchange = kombu.Exchange(self._exchange, type='topic',
                                  durable=durable, auto_delete=auto_delete)
        arguments = queue_arguments(rabbit, rabbit.rabbit_ha_queues,
                                    rabbit.rabbit_quorum_queue, 0)
        declared = [kombu.Queue(
            name, exchange=exchange, routing_key=name, durable=durable,
            auto_delete=auto_delete, queue_arguments=arguments,
            consumer_arguments=consumer_arguments)
            for name in (self.topic, '%s.%s' % (self.topic, self.server))]
        transient = rabbit.rabbit_transient_quorum_queue
        fanout = kombu.Exchange('%s_fanout' % self.topic, type='fanout',
                                durable=transient, auto_delete=True)
        declared.append(kombu.Queue(
            self.fanout_queue, exchange=fanout, routing_key=self.topic,
            durable=transient, auto_delete=False,
            queue_arguments=queue_arguments(
                rabbit, rabbit.rabbit_ha_queues, transient,
                rabbit.rabbit_transient_queues_ttl),
            consumer_arguments=consumer_arguments))
        bound = [entity(channel) for entity in declared]
        for entity in bound:
            entity.declare()
        return bound

    def _consume_loop(self):
        while True:
            if self._connection is None and not self._connect():
                break
            if self._stopping.is_set():
                break
            try:
                batch = self._read()
                if batch:
                    self._take(batch)
            except Exception as exc:
                self._lost(exc)
        self._close()

    def _read(self):
        """What the broker has sent: the first message waited for (at most
        POLL_SECONDS), the rest as long as they are there already."""
        connection = self._connection
        try:
            connection.drain_events(timeout=POLL_SECONDS)
        except socket.timeout:
            pass
        else:
            self._read_ready(connection.connection)
        now = time.monotonic()
        if now - self._last_tick > 1.0:
            self._last_tick = now
            connection.heartbeat_check(rate=self._rabbit.heartbeat_rate)
        batch = self._batch[:]
        del self._batch[:]
        return batch

    def _read_ready(self, amqp_connection):
        """The frames already there, up to the window: py-amqp's
        drain_events(timeout=0) frame by frame, but with the socket's
        timeout switched once, not twice a frame (two system calls and a
        context manager, three frames a message)."""
        transport = amqp_connection.transport
        with transport.having_timeout(0):
            while len(self._batch) < self.prefetch:
                try:
                    frame = transport.read_frame()
                except socket.timeout:
                    return
                amqp_connection.on_inbound_frame(frame)

    def _take(self, batch):
        """Decode, reject what cannot be read, acknowledge the batch (one
        basic.ack, multiple), then hand it to the workers: as
        oslo.messaging acknowledges a message before it dispatches it."""
        items, unique_ids, last = [], [], None
        for message in batch:
            try:
                body = decode(message.body, message.properties.get(
                    'application_headers'))
                context, msg_id, reply_q, unique_id = unpack(body)
            except Malformed as exc:
                self._channel.basic_reject(message.delivery_tag,
                                           requeue=False)
                self._drop(exc)
                continue
            last = message.delivery_tag
            if unique_id is not None:
                if unique_id in self._recent or unique_id in unique_ids:
                    self.duplicates += 1
                    LOG.warning('Ignoring duplicate message %s on topic %s',
                                unique_id, self.topic)
                    continue
                unique_ids.append(unique_id)
            items.append((context, body, msg_id, reply_q))
        if last is None:
            return
        # Raises on a lost connection: then nothing is handed on, and the
        # broker delivers the batch again.
        self._channel.basic_ack(last, multiple=True)
        # Remembered once acknowledged, as oslo.messaging does: a batch
        # whose acknowledgement failed comes again and is not a duplicate.
        self._recent.extend(unique_ids)
        if items:
            self._hand(items)

    def _hand(self, items):
        """Wait for a worker to take items, while the broker holds the
        rest: the window is full. An acknowledged batch is always handed
        on; a heartbeat failure meanwhile is raised after."""
        failure = None
        while True:
            try:
                self._work.put(items, timeout=POLL_SECONDS)
                break
            except queue.Full:
                if failure is None:
                    try:
                        self._connection.heartbeat_check(
                            rate=self._rabbit.heartbeat_rate)
                    except Exception as exc:
                        failure = exc
        if failure is not None:
            raise failure

    def _drop(self, reason):
        self.malformed += 1
        if self._stats is not None:
            self._stats.reject('malformed')
        LOG.warning('Dropped a message on topic %s that is not '
                    'oslo.messaging\'s: %s', self.topic, reason)

    def _lost(self, exc):
        LOG.error('Heartbeat intake lost its connection to the AMQP server '
                  '(%s): reconnecting', exc)
        _release(self._connection)
        self._connection = self._channel = self._consumer = None
        del self._batch[:]
        self._stopping.wait(self._rabbit.kombu_reconnect_delay)

    def _close(self):
        connection = self._connection
        if connection is None:
            return
        try:
            # Unacknowledged messages go back to the queue with the
            # connection; the fanout queue is this server's alone (deleted
            # after the consumers are cancelled: a queue deleted under its
            # consumer cancels it, and the close would fail on that).
            for tag in self._consumer:
                self._channel.basic_cancel(tag)
            self._channel.queue_delete(self.fanout_queue)
        except Exception as exc:
            LOG.debug('Could not delete %s: %s', self.fanout_queue, exc)
        _release(connection)
        self._connection = self._channel = self._consumer = None

    # -- the workers -----------------------------------------------------

    def _work_loop(self, replier):
        try:
            while True:
                items = self._work.get()
                if items is None:
                    return
                for context, message, msg_id, reply_q in items:
                    self._handle(replier, context, message, msg_id, reply_q)
        finally:
            replier.close()

    def _handle(self, replier, context, message, msg_id, reply_q):
        result = failure = refused = None
        try:
            result = self._dispatcher.dispatch(context, message)
        except oslo_messaging.ExpectedException as exc:
            failure = exc.exc_info
        except (oslo_messaging.NoSuchMethod,
                oslo_messaging.UnsupportedVersion) as exc:
            failure, refused = sys.exc_info(), exc
        except Exception:
            failure = sys.exc_info()
            LOG.exception('Exception during message handling')
        if refused is not None:
            # Outside the except clause: oslo.log would add the exception
            # again to the line.
            LOG.warning('Refused a %s on topic %s: %s (namespace %r)',
                        'call' if msg_id else 'cast', self.topic, refused,
                        message.get('namespace'))
        if not msg_id:
            return
        if not reply_q:
            LOG.warning('A call on topic %s names no reply queue: not '
                        'answered', self.topic)
            return
        try:
            replier.send(reply_q, reply_body(msg_id, result, failure))
        finally:
            del failure


class _Replier:
    """One worker's connection for its answers. It has no AMQP heartbeat
    (nothing reads from it); it is opened again when the consumer
    reconnected, and after a failed publish."""

    def __init__(self, intake):
        self._intake = intake
        self._connection = self._producer = None
        self._generation = None
        self._compression = None

    def send(self, reply_q, body):
        error = None
        for _ in range(2):
            try:
                if (self._producer is None or
                        self._generation != self._intake.generation):
                    self._open()
                self._producer.publish(
                    body, exchange='', routing_key=reply_q, retry=False,
                    headers={}, compression=self._compression,
                    **_REPLY_PROPERTIES)
                return True
            except Exception as exc:
                error = exc
                self.close()
        LOG.warning('Could not answer a call on %s: %s', reply_q, error)
        return False

    def _open(self):
        self.close()
        self._generation = self._intake.generation
        self._connection = self._intake.connection('reports-intake-reply', 0)
        self._connection.connect()
        self._producer = kombu.Producer(self._connection.channel(),
                                        auto_declare=False)
        self._compression = self._intake._rabbit.kombu_compression

    def close(self):
        _release(self._connection)
        self._connection = self._producer = None


def _read_ahead(transport):
    """Have py-amqp's transport read what the socket holds, up to
    READ_AHEAD bytes, where it asks for exactly each part of each frame
    (header, payload, end: nine system calls a message). Its _read keeps
    what comes beyond the asked bytes for the next read."""
    recv = transport._quick_recv
    transport._quick_recv = lambda size: recv(max(size, READ_AHEAD))


def _release(connection):
    """Close connection, and its socket whatever the close handshake did
    (kombu swallows a failed close and keeps the socket open until the
    garbage collector finds it)."""
    if connection is None:
        return
    underlying = getattr(connection, '_connection', None)
    try:
        connection.release()
    except Exception as exc:
        LOG.debug('Closing an AMQP connection: %s', exc)
    if underlying is not None:
        underlying.collect()


def _ping_enabled(conf):
    try:
        return bool(conf.rpc_ping_enabled)
    except Exception:
        return False
