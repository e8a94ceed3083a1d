"""The HTTP side of the signed webhook receivers (Display API, TikTok Shop): a threaded standard-library server that
hands each ``POST``'s signature header and raw body to an intake and answers with its status, nothing else.

The intake (``handle(signature, body) -> (status, text)``) does the verifying and landing; this module only bounds
the body (``Content-Length`` required, at most ``max_body_bytes``: 411/413 without reading it), answers ``GET /`` and
``/healthz`` for probes, and logs request lines only when asked (never a header or a body).
"""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Protocol

from tiktok_pipeline.ingest.landing import write_landing


class Intake(Protocol):
    def handle(self, signature: str | None, body: bytes) -> tuple[int, str]: ...


class SignedWebhookServer(ThreadingHTTPServer):
    """A threaded HTTP server answering signed deliveries with one intake."""

    daemon_threads = True

    def __init__(
        self,
        intake: Intake,
        host: str,
        port: int,
        *,
        signature_header: str,
        max_body_bytes: int,
        name: str,
        verbose: bool = False,
    ) -> None:
        self.intake, self.verbose = intake, verbose
        self.signature_header, self.max_body_bytes, self.name = signature_header, max_body_bytes, name
        super().__init__((host, port), _Handler)

    @property
    def url(self) -> str:
        """``http://host:port/`` of the bound socket."""
        host, port = self.server_address[:2]
        return f"http://{host.decode() if isinstance(host, bytes) else host}:{port}/"

    def serve_until_interrupted(self) -> int:
        """Serve until Ctrl-C (or SIGTERM's KeyboardInterrupt), then release the socket; exit status 0."""
        try:
            self.serve_forever()
        except KeyboardInterrupt:
            pass
        finally:
            self.server_close()
        return 0


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # TCP_NODELAY on each connection: the answer goes out as its headers and then its body, and on a kept-alive
    # connection Nagle's algorithm held the body back until the sender acknowledged the headers, which it delays by
    # 40 ms: 44 ms a delivery against 2.1 ms without (258 Shop pushes on one connection, this machine)
    disable_nagle_algorithm = True
    timeout = 10  # seconds a connection may stay silent (a body shorter than its Content-Length): then it is closed
    server: SignedWebhookServer

    def do_POST(self) -> None:
        limit = self.server.max_body_bytes
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            length = -1
        if length < 0 or length > limit:
            self._answer(413 if length > 0 else 411, f"a Content-Length up to {limit} bytes is required")
            return
        body = self.rfile.read(length)
        status, text = self.server.intake.handle(self.headers.get(self.server.signature_header), body)
        self._answer(status, text)

    def do_GET(self) -> None:
        if self.path.rstrip("/") in ("", "/healthz"):
            self._answer(200, f"{self.server.name} receiver")
        else:
            self._answer(404, f"POST {self.server.name} deliveries to /")

    def _answer(self, status: int, text: str) -> None:
        data = json.dumps({"status": status, "message": text}).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: object) -> None:
        if self.server.verbose:  # the request line only: never a header
            super().log_message(format, *args)


def quarantine_body(landing_dir: Path, source: str, body: bytes, reason: str, now: float) -> Path:
    """Land a signed delivery that is not an event (its raw bytes and the reason) under ``<landing>/<source>/<day>/``,
    named by its SHA-256 (the same body twice is one file); the path."""
    digest = hashlib.sha256(body).hexdigest()[:32]
    moment = datetime.fromtimestamp(now, UTC)
    path = Path(landing_dir) / source / moment.strftime("%Y-%m-%d") / f"{digest}.jsonl.gz"
    write_landing(
        path, [{"received_at": moment.isoformat(), "reason": reason, "body": body.decode("utf-8", "replace")}]
    )
    return path
