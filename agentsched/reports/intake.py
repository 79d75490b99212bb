"""What takes heartbeats off the report topic: [reports] intake.

oslo.messaging's RPC server (the default), or the consumer built on kombu
(kombu_intake.py) that speaks the same wire. Every other topic is served by
oslo.messaging whatever this says.
"""

from oslo_log import log as logging

from agentsched import messaging
from agentsched.reports import kombu_intake

LOG = logging.getLogger(__name__)

OSLO_MESSAGING = 'oslo.messaging'
KOMBU = 'kombu'


def start(conf, endpoint):
    """A started server for conf.reports.topic with stop() and wait(),
    handing the messages to endpoint (a ReportsEndpoint)."""
    if conf.reports.intake == KOMBU:
        if not messaging.is_in_process(conf):
            server = kombu_intake.KombuIntake(conf, conf.reports.topic,
                                              [endpoint], stats=endpoint.stats)
            server.start()
            return server
        LOG.warning('[reports] intake = kombu needs a RabbitMQ '
                    'transport_url; the in-process bus takes heartbeats '
                    'through oslo.messaging')
    server = messaging.get_server(conf, conf.reports.topic, [endpoint])
    server.start(override_pool_size=conf.reports.executor_threads)
    return server
