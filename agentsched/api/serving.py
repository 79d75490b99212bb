"""Serve the API from agentsched-server's process with cheroot's threads."""

import threading

from cheroot import wsgi
from oslo_log import log as logging

LOG = logging.getLogger(__name__)


class APIServer:

    def __init__(self, app, host, port, threads):
        self._server = wsgi.Server((host, port), app, numthreads=threads,
                                   server_name='agentsched')
        self._thread = None

    @property
    def port(self):
        return self._server.bind_addr[1]

    def start(self):
        self._server.prepare()  # binds now, so a busy port fails at start
        self._thread = threading.Thread(target=self._server.serve,
                                        name='api', daemon=True)
        self._thread.start()
        LOG.info('REST API listening on http://%s:%d/',
                 *self._server.bind_addr[:2])

    def stop(self):
        self._server.stop()
        if self._thread is not None:
            self._thread.join(timeout=10)
