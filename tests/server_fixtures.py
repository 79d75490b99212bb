"""agentsched's real server, in the test's process, on the test's bus and DB."""

import contextlib

from agentsched import messaging
from agentsched import server as agentsched_server


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
        yield service
    finally:
        service.stop()
        messaging.cleanup()
        for name, _value, group in overrides:
            conf.clear_override(name, group)
