"""A scripted webhook server on loopback that records what it receives (Slack and Teams stand-in)."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

import pytest


@dataclass
class Reply:
    """One scripted answer; ``delay`` seconds pass before it is sent. A callable ``body`` is given the request
    target (path and query as received) and returns the body: a receiver that echoes what it was sent."""

    status: int
    body: str | Callable[[str], str] = ""
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0


@dataclass
class Received:
    """One request as the server saw it."""

    path: str
    headers: dict[str, str]
    body: Any
    raw: bytes = b""
    """The body as received (what a signature is computed over)."""


class WebhookServer:
    """Records every POST and answers from a per-path script (the last reply repeats; default 200 "ok")."""

    def __init__(self, httpd: ThreadingHTTPServer) -> None:
        self.httpd = httpd
        self.requests: list[Received] = []
        self.scripts: dict[str, list[Reply]] = {}
        self.lock = threading.Lock()

    def script(self, path: str, *replies: Reply) -> None:
        self.scripts[path] = list(replies)

    def url(self, path: str) -> str:
        host, port = self.httpd.server_address[:2]
        return f"http://{host}:{port}{path}"

    def next_reply(self, path: str) -> Reply:
        with self.lock:
            script = self.scripts.get(urlsplit(path).path, [])
            if not script:
                return Reply(200, "ok")
            return script.pop(0) if len(script) > 1 else script[0]

    def paths(self) -> list[str]:
        return [r.path for r in self.requests]


@pytest.fixture
def server() -> Iterator[WebhookServer]:
    """A scripted webhook server on 127.0.0.1 (random port), served from a daemon thread."""

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            raw = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            with state.lock:
                state.requests.append(Received(self.path, dict(self.headers), json.loads(raw), raw))
            reply = state.next_reply(self.path)
            time.sleep(reply.delay)
            try:
                self.send_response(reply.status)
                for name, value in reply.headers.items():
                    self.send_header(name, value)
                data = (reply.body(self.path) if callable(reply.body) else reply.body).encode()
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)
            except OSError:  # the client timed out and hung up
                pass

        def log_message(self, format: str, *args: Any) -> None:
            """Keep the test output quiet."""

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    state = WebhookServer(httpd)
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True)
    thread.start()
    yield state
    httpd.shutdown()
    httpd.server_close()
