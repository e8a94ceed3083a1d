"""The simulator delivers ``authorization.removed`` as unkindly as TikTok: signed (verified here by the pipeline's own
check), each event more than once, and retried while the app's endpoint does not answer 2xx."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx

from tiktok_pipeline.simulator.app import DEAUTHORIZE_PATH, Simulator
from tiktok_pipeline.simulator.webhooks import WebhookSender
from tiktok_pipeline.simulator.world import WorldConfig
from tiktok_pipeline.sources.display_api.webhooks import parse_event, verify_signature


class Endpoint(ThreadingHTTPServer):
    """An app's webhook endpoint that fails its first ``failures`` deliveries with 503, then answers 200."""

    daemon_threads = True

    def __init__(self, failures: int) -> None:
        self.failures, self.received = failures, list[tuple[str, bytes, int]]()
        super().__init__(("127.0.0.1", 0), _Handler)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/"


class _Handler(BaseHTTPRequestHandler):
    server: Endpoint

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        status = 503 if len(self.server.received) < self.server.failures else 200
        self.server.received.append((self.headers["TikTok-Signature"], body, status))
        self.send_response(status)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@contextmanager
def serving(failures: int, **kwargs: Any) -> Iterator[tuple[Endpoint, WebhookSender, Simulator]]:
    """An endpoint served on a thread, and a simulator whose webhooks go there; the deliveries awaited on exit."""
    endpoint = Endpoint(failures)
    threading.Thread(target=endpoint.serve_forever, daemon=True).start()
    sender = WebhookSender(endpoint.url, client_key="sim-client", client_secret="sim-secret", **kwargs)
    try:
        yield endpoint, sender, Simulator(WorldConfig(seed=7), webhooks=sender)
        sender.wait()
    finally:
        endpoint.shutdown()
        endpoint.server_close()


def test_a_disconnected_creator_is_announced_signed_duplicated_and_retried_until_answered():
    with serving(2, retry_seconds=0.01) as (endpoint, sender, sim):
        creator = sim.world.creators()[0]
        answer = sim.handle(httpx.Request("POST", f"http://sim{DEAUTHORIZE_PATH}", data={"username": creator.username}))
        assert answer.status_code == 200 and answer.json()["open_id"] == creator.open_id
    assert [status for _, _, status in endpoint.received] == [503, 503, 200, 200]  # retried, then a duplicate
    assert sender.stats["sent"] == 2 and sender.stats["attempts"] == 4 and sender.stats["failed"] == 0
    bodies = {body for _, body, _ in endpoint.received}
    assert len(bodies) == 1  # the same event each time
    for signature, body, _ in endpoint.received:
        stamp = verify_signature(signature, body, "sim-secret", now=float(signature[2:12]), tolerance_seconds=300)
        assert stamp > 0
    event = parse_event(bodies.pop())
    assert event.event == "authorization.removed" and event.user_openid == creator.open_id
    assert event.client_key == "sim-client" and event.reason_code() == 1 and json.loads(event.content) == {"reason": 1}


def test_a_revoked_token_is_announced_as_revoked_by_the_developer_and_unknown_creators_are_refused():
    with serving(0, duplicates=0) as (endpoint, _, sim):
        creator = sim.world.creators()[0]
        grant = sim.handle(
            httpx.Request(
                "POST",
                "http://sim/v2/oauth/token/",
                data={
                    "client_key": "sim-client",
                    "client_secret": "sim-secret",
                    "grant_type": "authorization_code",
                    "code": f"sim-code-{creator.username}",
                },
            )
        ).json()
        form = {"client_key": "sim-client", "client_secret": "sim-secret", "token": grant["access_token"]}
        assert sim.handle(httpx.Request("POST", "http://sim/v2/oauth/revoke/", data=form)).status_code == 200
        refused = sim.handle(httpx.Request("POST", f"http://sim{DEAUTHORIZE_PATH}", data={"username": "nobody"}))
    assert refused.status_code == 400
    [(_, body, status)] = endpoint.received
    assert status == 200 and parse_event(body).reason_code() == 5 and parse_event(body).user_openid == creator.open_id
