"""The private RabbitMQ node and PostgreSQL that fault tests stop, kill -9
and restart."""

import time
import uuid

import amqp.exceptions
import kombu
import kombu.exceptions
import pytest
import sqlalchemy as sa

from tests import private_services


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

    # For the next test of a module sharing the node: running again, and a
    # vhost of its own where the queues of the tests before are not.
    url = node.fresh_vhost()
    _round_trip(url)
    with pytest.raises(amqp.exceptions.NotFound):
        _durable_queue(url, 'agentsched-kept', passive=True)
    print(', '.join('%s %.2fs' % item for item in timings.items()))


def test_private_postgres_fresh_database():
    """For the next test of a module sharing the instance: running again,
    and the database test empty, whoever is still connected to it."""
    server = private_services.PrivatePostgres()
    engine = sa.create_engine(server.url)
    try:
        with engine.begin() as connection:
            connection.exec_driver_sql('CREATE TABLE left_over (id int)')
        with engine.connect():
            server.fresh_database()
        engine.dispose()   # its connection was cut
        with engine.connect() as connection:
            assert not sa.inspect(connection).has_table('left_over')
            connection.exec_driver_sql('CREATE TABLE left_over (id int)')
            connection.commit()
        server.stop()
        server.fresh_database()
        engine.dispose()
        with engine.connect() as connection:
            assert not sa.inspect(connection).has_table('left_over')
    finally:
        engine.dispose()
        server.destroy()
