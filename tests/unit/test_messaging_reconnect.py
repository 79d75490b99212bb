"""messaging.reconnect_time: how much later than the first an agent may
reach the broker again once it is back (the outage guard's allowance)."""

import pytest

from agentsched import messaging


@pytest.fixture
def bus_conf(parsed_conf):
    messaging.cleanup()
    yield parsed_conf
    messaging.cleanup()
    parsed_conf.clear_override('transport_url')


def test_the_in_process_bus_reconnects_nothing(bus_conf):
    assert messaging.reconnect_time(bus_conf) == 0


def test_rabbit_is_its_reconnect_back_off_cap_and_delay(bus_conf):
    # No connection is made: the transport connects at its first use.
    bus_conf.set_override('transport_url', 'rabbit://u:p@127.0.0.1:1/')
    assert messaging.reconnect_time(bus_conf) == 30 + 1.0
    bus_conf.set_override('rabbit_interval_max', 4, 'oslo_messaging_rabbit')
    try:
        assert messaging.reconnect_time(bus_conf) == 4 + 1.0
    finally:
        bus_conf.clear_override('rabbit_interval_max',
                                'oslo_messaging_rabbit')
