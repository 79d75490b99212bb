"""agentsched's real server, in the test's process, on the test's bus and DB."""

import contextlib
import time

from agentsched import messaging
from agentsched import server as agentsched_server
from agentsched.reports import kombu_intake

# [reports] intake: the report tests run with each.
INTAKES = ('oslo.messaging', 'kombu')


@contextlib.contextmanager
def running_server(conf, bus, database, *overrides):
    """A started ServerService on bus (conftest's rabbit) and database;
    overrides: more (option, value, group) for this server, cleared after."""
    overrides = [('transport_url', bus.url, None),
                 ('control_exchange', bus.exchange, None),
                 ('topic', bus.reports_topic, 'reports'),
                 ('connection', database.url, 'database'),
                 ('stats_log_interval', 0, 'reports'),
                 ('flush_interval', 0.1, 'reports')] + list(overrides)
    for name, value, group in overrides:
        conf.set_override(name, value, group)
    messaging.cleanup()
    service = agentsched_server.ServerService(conf)
    try:
        service.start()
        # Never a silent fall-back: the intake asked for is the one running.
        assert isinstance(reports_server(service), kombu_intake.KombuIntake) \
            == (conf.reports.intake == 'kombu')
        yield service
    finally:
        service.stop()
        messaging.cleanup()
        for name, _value, group in overrides:
            conf.clear_override(name, group)


def reports_server(service):
    """What takes the service's heartbeats: an oslo.messaging RPC server or
    a KombuIntake."""
    return service.heartbeats.intake


def wait_for(predicate, timeout=15):
    """Whether predicate() became true within timeout seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return predicate()
