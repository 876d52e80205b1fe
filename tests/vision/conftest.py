"""Fixtures: the real-data folder (shared with tests/data) and a local HTTP server for download tests.

The server listens on 127.0.0.1 on a random port, serves ``server.files`` (path -> bytes), honours
``Range: bytes=N-`` (206, or 416 past the end), and can misbehave on purpose: ``cut_once[path] = k``
sends the full Content-Length but closes after k body bytes (once), and ``ignore_range`` answers
every request with the whole file (200), ``redirects[path] = url`` answers 302. ``server.log`` records (path, Range header, status).
"""
import http.server
import re
import socket
import threading

import pytest

from tests.data.conftest import shared_data  # noqa: F401


class _Handler(http.server.BaseHTTPRequestHandler):
    timeout = 10  # a stuck client cannot hold a server thread past teardown

    def log_message(self, *args):  # keep test output clean
        pass

    def do_GET(self):
        srv = self.server
        path, rng = self.path, self.headers.get("Range")
        if path in srv.redirects:
            srv.log.append((path, rng, 302))
            self.send_response(302)
            self.send_header("Location", srv.redirects[path])
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        data = srv.files.get(path)
        if data is None:
            srv.log.append((path, rng, 404))
            self.send_error(404)
            return
        m = re.fullmatch(r"bytes=(\d+)-", rng or "")
        if m and not srv.ignore_range:
            start = int(m.group(1))
            if start >= len(data):
                srv.log.append((path, rng, 416))
                self.send_response(416)
                self.send_header("Content-Range", f"bytes */{len(data)}")
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            status, body = 206, data[start:]
        else:
            status, body = 200, data
        srv.log.append((path, rng, status))
        self.send_response(status)
        if status == 206:
            self.send_header("Content-Range", f"bytes {len(data) - len(body)}-{len(data) - 1}/{len(data)}")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        cut = srv.cut_once.pop(path, None)
        if cut is not None:
            self.wfile.write(body[:cut])
            self.wfile.flush()
            self.connection.shutdown(socket.SHUT_RDWR)
            self.close_connection = True
            return
        self.wfile.write(body)


class _Server(http.server.ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self):
        super().__init__(("127.0.0.1", 0), _Handler)
        self.files, self.log, self.cut_once, self.redirects, self.ignore_range = {}, [], {}, {}, False
        self.url = f"http://127.0.0.1:{self.server_address[1]}"


@pytest.fixture
def http_server():
    server = _Server()
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


@pytest.fixture
def dead_url():
    """An http URL on 127.0.0.1 where nothing listens (a port just released)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}/"
