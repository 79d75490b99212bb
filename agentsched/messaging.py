"""The message bus: one RPC transport per process, servers and clients.

Without transport_url the bus is in-process (kombu's memory transport), which
only connects services running inside one process: the embedded default.
"""

import logging
import threading

from oslo_config import cfg
from oslo_config import types as cfg_types
import oslo_messaging

from agentsched import constants
from agentsched import in_process_transport

_lock = threading.Lock()
_transport = None


def transport_url(conf):
    # oslo.messaging's own default (rabbit:// on localhost) would make an
    # unconfigured server look for a broker; unset means in-process here.
    location = conf.get_location('transport_url')
    if location is None or location.location == cfg.Locations.opt_default:
        return constants.IN_PROCESS_TRANSPORT_URL
    return conf.transport_url


def is_in_process(conf):
    return transport_url(conf) == constants.IN_PROCESS_TRANSPORT_URL


def get_transport(conf):
    global _transport
    with _lock:
        if _transport is None:
            if is_in_process(conf):
                # The memory transport has no host and no AMQP heartbeat;
                # kombu and the rabbit driver warn about both on every
                # connection, which says nothing to a user of the embedded
                # default.
                for name in ('kombu.connection',
                             'oslo.messaging._drivers.impl_rabbit'):
                    logging.getLogger(name).setLevel(logging.ERROR)
                in_process_transport.register()
            _transport = oslo_messaging.get_rpc_transport(
                conf, url=transport_url(conf))
        return _transport


class RabbitOptions:
    """[oslo_messaging_rabbit] as oslo.messaging's driver reads it: a
    value in the transport URL's query wins over the file's."""

    def __init__(self, conf, url):
        self._group = conf.oslo_messaging_rabbit
        self._query = url.query

    def __getattr__(self, name):
        value = getattr(self._group, name)
        if name not in self._query:
            return value
        raw = self._query[name]
        if isinstance(value, bool):
            return cfg_types.Boolean()(raw)
        if isinstance(value, (int, float)):
            return type(value)(raw)
        return raw


def reconnect_time(conf):
    """How much later than another a client of the bus may reach the
    broker once it is back: oslo.messaging's longest wait between two
    attempts (rabbit_interval_max) and the delay it adds before each
    (kombu_reconnect_delay), if the fleet shares the settings. 0
    in-process."""
    if is_in_process(conf):
        return 0
    get_transport(conf)   # the driver registers its options
    url = oslo_messaging.TransportURL.parse(conf, transport_url(conf))
    try:
        rabbit = RabbitOptions(conf, url)
        return rabbit.rabbit_interval_max + rabbit.kombu_reconnect_delay
    except (cfg.NoSuchOptError, cfg.NoSuchGroupError):
        return 0


def cleanup():
    global _transport
    with _lock:
        if _transport is not None:
            _transport.cleanup()
            _transport = None


def get_server(conf, topic, endpoints, server=None):
    target = oslo_messaging.Target(topic=topic, server=server or conf.host)
    # No executor argument: oslo.messaging deprecated it and picks threads
    # when eventlet is not monkey-patched, which agentsched never does.
    return oslo_messaging.get_rpc_server(get_transport(conf), target,
                                         endpoints)


def get_client(conf, topic, version, timeout=None, server=None,
               version_cap=None):
    """An RPC client whose calls go at version unless prepared otherwise.

    version_cap: the newest version the client may send; a call prepared
    above it raises oslo_messaging.RPCVersionCapError before anything is
    sent, and client.can_send_version(v) says whether v is allowed.
    """
    target = oslo_messaging.Target(topic=topic, version=version,
                                   server=server)
    return oslo_messaging.get_rpc_client(get_transport(conf), target,
                                         timeout=timeout,
                                         version_cap=version_cap)


class VersionCapError(oslo_messaging.RPCVersionCapError):
    """A method needs a newer RPC version than its client's cap allows."""

    def __init__(self, method, version, version_cap, reason):
        super().__init__(version, version_cap)
        self.method = method
        self.reason = reason
        self.args = ('%s needs RPC version %s (%s) but this client is capped '
                     'at %s' % (method, version, reason, version_cap),)


def require_version(client, method, version, reason):
    """version, if the client's version cap lets it send it (the oslo.messaging
    can_send_version check); VersionCapError otherwise, naming what the
    version brings (reason), before anything is sent."""
    if not client.can_send_version(version):
        raise VersionCapError(method, version, client.version_cap, reason)
    return version
