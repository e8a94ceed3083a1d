"""The simulator over real HTTP on loopback: a thin adapter around :meth:`Simulator.handle`."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx

from .app import Simulator
from .faults import SimulatedTimeout

HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "content-encoding", "content-length"}


def make_server(
    simulator: Simulator,
    host: str = "127.0.0.1",
    port: int = 0,
    *,
    timeout_seconds: float = 10.0,
    verbose: bool = False,
) -> ThreadingHTTPServer:
    """A threaded HTTP server answering with ``simulator``; call ``serve_forever`` to run it."""
    stopping = threading.Event()

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        disable_nagle_algorithm = True

        def _handle(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            request = httpx.Request(
                self.command,
                f"http://{self.headers.get('Host', f'{host}:{port}')}{self.path}",
                headers=[(k, v) for k, v in self.headers.items() if k.lower() != "host"],
                content=self.rfile.read(length) if length else b"",
            )
            try:
                response = simulator.handle(request)
            except SimulatedTimeout:
                stopping.wait(timeout_seconds)  # never answer in time, then hang up
                self.close_connection = True
                return
            body = response.content
            self.send_response(response.status_code)
            for key, value in response.headers.items():
                if key.lower() not in HOP_BY_HOP:
                    self.send_header(key, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        do_GET = do_POST = do_PUT = do_DELETE = _handle

        def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - stdlib signature
            if verbose:
                super().log_message(format, *args)

    server = ThreadingHTTPServer((host, port), Handler)
    server.daemon_threads = True
    original_close = server.server_close

    def server_close() -> None:
        stopping.set()
        original_close()

    server.server_close = server_close  # type: ignore[method-assign]
    return server


@contextmanager
def serve_in_thread(
    simulator: Simulator, host: str = "127.0.0.1", port: int = 0, *, timeout_seconds: float = 10.0
) -> Iterator[str]:
    """Serve ``simulator`` on a background thread; yields the base URL, shuts down on exit."""
    server = make_server(simulator, host, port, timeout_seconds=timeout_seconds)
    thread = threading.Thread(target=server.serve_forever, name="tiktok-sim", daemon=True)
    thread.start()
    try:
        yield f"http://{host}:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
