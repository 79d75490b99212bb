"""The kombu intake on a real RabbitMQ: beside oslo.messaging's server on
the same queues, its prefetch window, and a lost connection or a restarted
broker (a private node). What it answers is in test_report_rpc.py, which
runs with both intakes.
"""

import subprocess
import threading
import time

import kombu
import oslo_messaging
import pytest

from agentsched import constants
from agentsched import messaging
from agentsched.reports import kombu_intake
from tests import conftest
from tests import report_factory
from tests import server_fixtures

_wait = server_fixtures.wait_for


class Counter:
    """A report endpoint that notes the hosts it is given; it waits for
    release (set by default) before it answers."""
    target = oslo_messaging.Target(version='1.4')

    def __init__(self):
        self.hosts = []
        self.release = threading.Event()
        self.release.set()

    def report_state(self, context, **kwargs):
        self.release.wait(60)
        self.hosts.append(kwargs['agent_state']['agent_state']['host'])
        return constants.AGENT_ALIVE


@pytest.fixture
def bus(parsed_conf, rabbit):
    """parsed_conf on this test's exchange and topic; [oslo_messaging_rabbit]
    registered, so a test may override its options."""
    overrides = [('transport_url', rabbit.url, None),
                 ('control_exchange', rabbit.exchange, None)]
    for name, value, group in overrides:
        parsed_conf.set_override(name, value, group)
    messaging.cleanup()
    messaging.get_transport(parsed_conf)
    yield rabbit, overrides
    messaging.cleanup()
    for name, _value, group in overrides:
        parsed_conf.clear_override(name, group)


def _override(conf, overrides, options, group='oslo_messaging_rabbit'):
    for name, value in options.items():
        conf.set_override(name, value, group)
        overrides.append((name, value, group))
    messaging.cleanup()


def _client(conf, topic, timeout=10):
    return oslo_messaging.get_rpc_client(
        messaging.get_transport(conf),
        oslo_messaging.Target(topic=topic, version='1.2'), timeout=timeout)


def _intake(conf, topic, endpoint, **kwargs):
    intake = kombu_intake.KombuIntake(conf, topic, [endpoint], **kwargs)
    intake.start()
    return intake


def _stop(*servers):
    for server in servers:
        server.stop()
    for server in servers:
        server.wait()


@pytest.mark.parametrize('options', [
    {},
    {'amqp_durable_queues': True},
    {'amqp_auto_delete': True},
    {'rabbit_quorum_queue': True},
    {'rabbit_ha_queues': True},
    {'rabbit_transient_quorum_queue': True},
    {'rabbit_transient_queues_ttl': 60, 'rabbit_quorum_queue': True,
     'rabbit_quorum_delivery_limit': 3},
], ids=lambda options: ','.join(sorted(options)) or 'defaults')
def test_both_intakes_share_the_queues(bus, parsed_conf, options):
    """What each declares is equivalent (RabbitMQ refuses a queue or an
    exchange declared again with other durability or arguments), and both
    consume the topic as competing consumers: a rolling switch."""
    rabbit, overrides = bus
    _override(parsed_conf, overrides, options)
    topic = rabbit.reports_topic
    by_oslo, by_kombu = Counter(), Counter()
    oslo = messaging.get_server(parsed_conf, topic, [by_oslo])
    oslo.start()
    intake = _intake(parsed_conf, topic, by_kombu, workers=1)
    # ... and the other way round, on a second host's queue.
    later = messaging.get_server(parsed_conf, topic, [by_oslo],
                                 server='other-host')
    later.start()
    try:
        client = _client(parsed_conf, topic)
        for index in range(100):
            client.cast({}, 'report_state', **report_factory.report_kwargs(
                'h%d' % index))
        assert _wait(lambda: len(by_oslo.hosts) + len(by_kombu.hosts) == 100)
        assert by_oslo.hosts and by_kombu.hosts
        assert sorted(by_oslo.hosts + by_kombu.hosts) == sorted(
            'h%d' % index for index in range(100))
        # The host queue of each: a call to this host's server.
        assert client.prepare(server=parsed_conf.host).call(
            {}, 'report_state',
            **report_factory.report_kwargs('direct')) == constants.AGENT_ALIVE
    finally:
        _stop(intake, oslo, later)


def _ready(rabbit, queue):
    """Messages in queue that RabbitMQ has not delivered to a consumer."""
    with kombu.Connection(rabbit.url.replace('rabbit://', 'amqp://')) as c:
        return c.default_channel.queue_declare(queue, passive=True)[1]


def test_the_broker_holds_what_the_window_does_not_take(bus, parsed_conf):
    """While the workers are busy, the intake holds at most a few windows;
    the rest stays in RabbitMQ, for this server or another."""
    rabbit, _ = bus
    topic = rabbit.reports_topic
    counter = Counter()
    counter.release.clear()
    intake = _intake(parsed_conf, topic, counter, prefetch=5, workers=1)
    try:
        client = _client(parsed_conf, topic)
        for index in range(60):
            client.cast({}, 'report_state', **report_factory.report_kwargs(
                'h%d' % index))
        assert _wait(lambda: _ready(rabbit, topic) < 60)
        time.sleep(1)
        # Batches of at most 5: one in the worker, one handed over, one
        # acknowledged and waiting to be handed over, and the window the
        # broker sent meanwhile, not acknowledged (no more come).
        ready = _ready(rabbit, topic)
        assert 60 - 4 * 5 <= ready < 60, ready
        time.sleep(0.5)
        assert _ready(rabbit, topic) == ready
        counter.release.set()
        assert _wait(lambda: len(counter.hosts) == 60)
        assert _ready(rabbit, topic) == 0
    finally:
        counter.release.set()
        _stop(intake)


def _broker_pid(intake):
    """The broker's name for the intake's consumer connection (found by
    its local port), as rabbitmqctl close_connection takes it."""
    port = intake._connection.connection.transport.sock.getsockname()[1]
    listing = subprocess.run(
        ['rabbitmqctl', 'list_connections', '-q', 'pid', 'name'],
        capture_output=True, text=True, timeout=60, check=True).stdout
    for line in listing.splitlines():
        pid, _, name = line.partition('\t')
        if name.startswith('127.0.0.1:%d ->' % port):
            return pid
    raise AssertionError('no connection from port %d in\n%s' % (
        port, listing))


def test_a_connection_closed_by_the_broker_is_made_again(bus, parsed_conf):
    rabbit, _ = bus
    topic = rabbit.reports_topic
    counter = Counter()
    intake = _intake(parsed_conf, topic, counter)
    try:
        client = _client(parsed_conf, topic)
        assert client.call({}, 'report_state', **report_factory.report_kwargs(
            'before')) == constants.AGENT_ALIVE
        subprocess.run(['rabbitmqctl', 'close_connection', _broker_pid(intake),
                        'test: connection lost'], check=True,
                       capture_output=True, timeout=60)
        assert _wait(lambda: intake.reconnections == 1, timeout=30)
        assert client.call({}, 'report_state', **report_factory.report_kwargs(
            'after')) == constants.AGENT_ALIVE
        assert counter.hosts == ['before', 'after']
    finally:
        _stop(intake)


def test_a_restarted_broker(parsed_conf, private_rabbitmq):
    """The node stops and starts again (its non-durable queues and
    exchange gone): the intake declares them again and answers; stopped
    while the broker is down, it stops at once."""
    node = private_rabbitmq
    bus = conftest.Bus(node.url)
    overrides = [('transport_url', bus.url, None),
                 ('control_exchange', bus.exchange, None)]
    for name, value, group in overrides:
        parsed_conf.set_override(name, value, group)
    messaging.cleanup()
    counter = Counter()
    intake = _intake(parsed_conf, bus.reports_topic, counter)
    try:
        client = _client(parsed_conf, bus.reports_topic, timeout=2)
        assert client.call({}, 'report_state', **report_factory.report_kwargs(
            'before')) == constants.AGENT_ALIVE
        node.stop()
        node.start()
        deadline = time.monotonic() + 60
        answer = None
        while answer is None and time.monotonic() < deadline:
            try:
                answer = client.call(
                    {}, 'report_state',
                    **report_factory.report_kwargs('after'))
            except oslo_messaging.MessagingException:
                time.sleep(0.5)
        assert answer == constants.AGENT_ALIVE
        assert intake.reconnections >= 1
        node.kill()
        began = time.monotonic()
        _stop(intake)
        assert time.monotonic() - began < 5
    finally:
        _stop(intake)
        messaging.cleanup()
        for name, _value, group in overrides:
            parsed_conf.clear_override(name, group)
