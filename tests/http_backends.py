"""Tiny HTTP servers that answer their own name: members behind a VIP."""

import contextlib
import http.server
import threading

from tests import private_services

free_port = private_services.free_port


class Named(http.server.BaseHTTPRequestHandler):

    def do_GET(self):
        body = self.server.name.encode()
        self.send_response(200)
        self.send_header('Content-Length', str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@contextlib.contextmanager
def serving(*names, address='127.0.0.1'):
    """HTTP servers on free ports of address, one per name."""
    servers = []
    for name in names:
        server = http.server.ThreadingHTTPServer((address, 0), Named)
        server.name = name
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
    try:
        yield servers
    finally:
        for server in servers:
            server.shutdown()
            server.server_close()
