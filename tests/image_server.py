"""A real loopback HTTP server for tests that fetch images (no network beyond 127.0.0.1)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass
class Route:
    status: int = 200
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    # Answer with ``fail_status`` this many times before answering normally (retry tests).
    fail_times: int = 0
    fail_status: int = 503


@dataclass
class ImageServer:
    host: str
    port: int
    routes: dict[str, Route]
    hits: list[str] = field(default_factory=list)

    def url(self, path: str) -> str:
        return f"http://{self.host}:{self.port}{path}"


@contextmanager
def serve_images(routes: dict[str, Route] | None = None) -> Iterator[ImageServer]:
    """Serve ``routes`` on 127.0.0.1 in a daemon thread; unknown paths give 404."""
    table: dict[str, Route] = dict(routes or {})
    hits: list[str] = []
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            with lock:
                hits.append(self.path)
                route = table.get(self.path)
                failing = route is not None and route.fail_times > 0
                if failing and route is not None:
                    route.fail_times -= 1
            if route is None:
                self._answer(404, b"not found", {"Content-Type": "text/plain"})
            elif failing:
                self._answer(route.fail_status, b"try later", {"Retry-After": "0"})
            else:
                self._answer(route.status, route.body, route.headers)

        def _answer(self, status: int, body: bytes, headers: dict[str, str]) -> None:
            self.send_response(status)
            for key, value in headers.items():
                self.send_header(key, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:  # quiet test output
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield ImageServer("127.0.0.1", server.server_address[1], table, hits)
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
