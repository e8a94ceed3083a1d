"""The simulator over real HTTP on loopback: a thin adapter around :meth:`Simulator.handle`.

Each HTTP request becomes an ``httpx.Request``, goes through exactly the same handler as the
in-process transport, and the ``httpx.Response`` is written back. A simulated timeout holds the
connection silent for ``timeout_seconds`` (cut short on shutdown), then closes it unanswered.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx

from tiktok_pipeline.simulator.app import Simulator
from tiktok_pipeline.simulator.faults import SimulatedTimeout

# Framing headers are recomputed for the bytes actually written.
FRAMING_HEADERS = frozenset({"connection", "keep-alive", "transfer-encoding", "content-encoding", "content-length"})


class SimulatorServer(ThreadingHTTPServer):
    """A threaded HTTP server (daemon threads) answering with one :class:`Simulator`."""

    daemon_threads = True

    def __init__(
        self, simulator: Simulator, host: str, port: int, *, timeout_seconds: float = 10.0, verbose: bool = False
    ) -> None:
        self.simulator = simulator
        self.timeout_seconds = timeout_seconds
        self.verbose = verbose
        self.stopping = threading.Event()
        super().__init__((host, port), _Handler)

    @property
    def base_url(self) -> str:
        """``http://host:port`` of the bound socket."""
        host, port = self.server_address[:2]
        name = host.decode() if isinstance(host, bytes) else host
        return f"http://{name}:{port}"

    def server_close(self) -> None:
        """Release the socket and wake requests held by a simulated timeout."""
        self.stopping.set()
        super().server_close()


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True
    server: SimulatorServer

    def _to_httpx(self) -> httpx.Request:
        length = int(self.headers.get("Content-Length") or 0)
        host = self.headers.get("Host") or "{}:{}".format(*self.server.server_address[:2])
        return httpx.Request(
            self.command,
            f"http://{host}{self.path}",
            headers=[(k, v) for k, v in self.headers.items() if k.lower() != "host"],
            content=self.rfile.read(length) if length else b"",
        )

    def _handle(self) -> None:
        request = self._to_httpx()
        try:
            response = self.server.simulator.handle(request)
        except SimulatedTimeout:
            self.server.stopping.wait(self.server.timeout_seconds)
            self.close_connection = True
            return
        body = response.content
        self.send_response(response.status_code)
        for key, value in response.headers.multi_items():
            if key.lower() not in FRAMING_HEADERS:
                self.send_header(key, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _handle

    def log_message(self, format: str, *args: object) -> None:
        if self.server.verbose:
            super().log_message(format, *args)


@contextmanager
def serve_in_thread(
    simulator: Simulator,
    host: str = "127.0.0.1",
    port: int = 0,
    *,
    timeout_seconds: float = 10.0,
    verbose: bool = False,
) -> Iterator[str]:
    """Serve ``simulator`` on a background thread; yields the base URL and shuts down on exit."""
    server = SimulatorServer(simulator, host, port, timeout_seconds=timeout_seconds, verbose=verbose)
    thread = threading.Thread(target=server.serve_forever, name="tiktok-sim", daemon=True)
    thread.start()
    try:
        yield server.base_url
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
