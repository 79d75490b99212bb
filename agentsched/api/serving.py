"""Serve the API from agentsched-server's process with waitress.

waitress reads requests on one event loop and hands only complete ones to
its worker threads, so idle or slow clients hold a connection slot, never a
worker: a client that opens connections and sends nothing (or sends a
header a byte at a time) costs no one else a request. Its parser refuses
what HTTP/1.1 forbids (a bare CR in a header, a malformed chunk size) with a
400 before the app sees it.
"""

import threading

from oslo_log import log as logging
from waitress import server as waitress_server

LOG = logging.getLogger(__name__)


class APIServer:

    def __init__(self, app, host, port, threads, backlog=4096,
                 connection_limit=1000, client_timeout=60):
        # Binds now, so a busy port fails at start.
        self._server = waitress_server.create_server(
            app, host=host, port=port, threads=threads, backlog=backlog,
            connection_limit=connection_limit,
            channel_timeout=client_timeout,
            # poll, not select: select cannot watch more than 1024 sockets.
            asyncore_use_poll=True, ident='agentsched',
            # X-Forwarded-* are oslo.middleware's to trust or ignore
            # ([oslo_middleware] enable_proxy_headers_parsing).
            clear_untrusted_proxy_headers=False, expose_tracebacks=False)
        self._stopping = threading.Event()
        self._thread = None

    @property
    def port(self):
        # An int or its text, depending on the options waitress parsed.
        return int(self._server.effective_port)

    def start(self):
        self._thread = threading.Thread(target=self._serve, name='api',
                                        daemon=True)
        self._thread.start()
        LOG.info('REST API listening on http://%s:%d/',
                 self._server.effective_host, self.port)

    def _serve(self):
        # One loop pass at a time, so stop() needs no cross-thread close of
        # the loop's own sockets.
        loop_map = self._server._map
        while not self._stopping.is_set():
            self._server.asyncore.loop(timeout=0.2, map=loop_map,
                                       use_poll=True, count=1)
        for channel in list(loop_map.values()):
            channel.close()
        self._server.task_dispatcher.shutdown()

    def stop(self):
        self._stopping.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
        else:
            self._server.close()
