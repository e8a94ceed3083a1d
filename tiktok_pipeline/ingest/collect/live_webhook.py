"""A local webhook for the LIVE intake: ``POST /live-events`` with JSON lines appends them to the intake folder.

For a user whose connector can post events rather than write files (``tiktok-pipeline live serve``). It only
frames: each request's body is appended, as whole lines (a final newline added when missing), in one write under a
lock, to ``<TIKTOK_LIVE_INTAKE_DIR>/webhook/<YYYY-MM-DD>.jsonl`` (UTC day); validation happens when a window takes
the lines (:mod:`.live`), exactly as for files the user drops. It listens on 127.0.0.1 unless told otherwise, takes
no credentials, and never logs a body (viewers' ids and comments are personal data). The served source is the
unofficial ``live_events``: the command refuses to start unless it is switched on and admitted.
"""

from __future__ import annotations

import fcntl
import json
import os
import threading
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

PATH = "/live-events"
MAX_BODY_BYTES = 8 * 2**20
"""Largest request body accepted (413 above it): post in batches."""
_lock = threading.Lock()


def append_lines(intake_dir: Path, body: bytes, now: datetime) -> int:
    """Append ``body`` to the day's webhook file as whole lines; how many lines it held (blank ones not counted)."""
    if not body.strip():
        return 0
    if not body.endswith(b"\n"):
        body += b"\n"
    path = Path(intake_dir) / "webhook" / f"{now.astimezone(UTC):%Y-%m-%d}.jsonl"
    path.parent.mkdir(parents=True, exist_ok=True)
    with _lock, open(path, "ab") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)  # other processes serving the same folder append in turn
        handle.write(body)
        handle.flush()
        os.fsync(handle.fileno())
    return sum(1 for line in body.split(b"\n") if line.strip())


def handler(intake_dir: Path) -> type[BaseHTTPRequestHandler]:
    """The request handler appending to ``intake_dir``."""

    class LiveEventsHandler(BaseHTTPRequestHandler):
        def _answer(self, status: int, payload: dict) -> None:
            data = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_POST(self) -> None:
            if self.path.split("?", 1)[0] != PATH:
                return self._answer(404, {"error": f"POST JSON lines to {PATH}"})
            try:
                size = int(self.headers.get("Content-Length", ""))
            except ValueError:
                return self._answer(411, {"error": "Content-Length is required"})
            if size < 0 or size > MAX_BODY_BYTES:
                return self._answer(413, {"error": f"body over {MAX_BODY_BYTES} bytes: post in smaller batches"})
            lines = append_lines(intake_dir, self.rfile.read(size), datetime.now(UTC))
            return self._answer(202, {"accepted_lines": lines, "source_terms": "unofficial"})

        def do_GET(self) -> None:
            self._answer(405, {"error": f"POST JSON lines to {PATH}"})

        def log_message(self, format: str, *args: object) -> None:
            """Method, path and status only: never a body."""
            if args and isinstance(args[0], str):
                args = (args[0].split(" ", 2)[0] + " " + PATH, *args[1:])
            super().log_message(format, *args)

    return LiveEventsHandler


def server(intake_dir: Path, host: str = "127.0.0.1", port: int = 8765) -> ThreadingHTTPServer:
    """A server appending POSTed LIVE events to ``intake_dir`` (call ``serve_forever``)."""
    return ThreadingHTTPServer((host, port), handler(intake_dir))
