"""The private RabbitMQ node that fault tests stop, kill -9 and restart."""

import time
import uuid

import kombu
import kombu.exceptions
import pytest


def _kombu_url(url):
    # rabbit:// is oslo.messaging's scheme; kombu calls it amqp://.
    return url.replace('rabbit://', 'amqp://', 1)


def _round_trip(url):
    """Publish one message on a fresh queue and consume it back."""
    name = 'agentsched-private-%s' % uuid.uuid4().hex[:8]
    body = {'id': name}
    with kombu.Connection(_kombu_url(url), connect_timeout=2) as connection:
        connection.connect()
        exchange = kombu.Exchange(name, 'direct', auto_delete=True)
        queue = kombu.Queue(name, exchange, name, auto_delete=True)
        with connection.SimpleQueue(queue) as simple:
            simple.put(body)
            message = simple.get(timeout=5)
            message.ack()
    assert message.payload == body


def _durable_queue(url, name, passive):
    with kombu.Connection(_kombu_url(url), connect_timeout=2) as connection:
        connection.default_channel.queue_declare(name, durable=True,
                                                 passive=passive)


def _fails(url):
    with pytest.raises((OSError, kombu.exceptions.OperationalError)):
        _round_trip(url)


def test_private_rabbitmq_kill_stop_restart(private_rabbitmq,
                                           rabbit_vhost_url):
    node = private_rabbitmq

    def _shared_node_works():
        _round_trip(rabbit_vhost_url)

    assert node.port != 5672 and node.dist_port != 25672
    _shared_node_works()
    _round_trip(node.url)
    assert node.os_pid() is not None
    # Kept in the node's data directory across kill -9 and restart.
    _durable_queue(node.url, 'agentsched-kept', passive=False)

    timings = {}

    def timed(name, operation):
        started = time.monotonic()
        operation()
        timings[name] = time.monotonic() - started

    timed('kill', node.kill)
    assert node.os_pid() is None
    _fails(node.url)
    _shared_node_works()

    timed('start after kill', node.start)
    _round_trip(node.url)
    _durable_queue(node.url, 'agentsched-kept', passive=True)
    _shared_node_works()

    timed('stop', node.stop)
    _fails(node.url)
    _shared_node_works()
    print(', '.join('%s %.2fs' % item for item in timings.items()))
