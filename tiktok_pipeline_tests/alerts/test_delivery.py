"""Alert delivery against a real HTTP server on loopback: retries, pacing, secrecy, configuration."""

from __future__ import annotations

import json
import logging
import math
import random
import socket
import time
from email.utils import formatdate
from typing import Any
from urllib.parse import quote, unquote, urlsplit

import pytest
from pydantic import ValidationError

from tiktok_pipeline.activation.alerts.delivery import AlertSender, DeliveryResult, Destination
from tiktok_pipeline.activation.alerts.formatting import slack_payload, teams_payload
from tiktok_pipeline_tests.alerts.test_formatting import make_alert
from tiktok_pipeline_tests.alerts.webhook_server import Reply, WebhookServer

SLACK_PATH = "/services/T000/B000/slack-secret-token"
TEAMS_PATH = "/workflows/abc/triggers/manual/paths/invoke"
TEAMS_QUERY = "?api-version=1&sig=teams-secret-sig"
SECRETS = ("slack-secret-token", "teams-secret-sig")


class FakeTime:
    """A clock that only moves when ``sleep`` is called; records every sleep."""

    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


@pytest.fixture
def fake_time() -> FakeTime:
    return FakeTime()


def sender(fake_time: FakeTime, *destinations: Destination, **options: Any) -> AlertSender:
    """An AlertSender on fake time with a seeded rng and short backoff."""
    options = {"base_seconds": 0.1, "cap_seconds": 1.0, "timeout_seconds": 2.0} | options
    return AlertSender(
        list(destinations), sleep=fake_time.sleep, clock=fake_time.clock, rng=random.Random(7), **options
    )


def slack(server: WebhookServer) -> Destination:
    return Destination(kind="slack", url=server.url(SLACK_PATH))


def teams(server: WebhookServer) -> Destination:
    return Destination(kind="teams", url=server.url(TEAMS_PATH + TEAMS_QUERY))


def test_slack_delivered_after_429_honouring_retry_after(server: WebhookServer, fake_time: FakeTime) -> None:
    server.script(SLACK_PATH, Reply(429, "rate_limited", {"Retry-After": "1"}), Reply(200, "ok"))
    with sender(fake_time, slack(server)) as s:
        results = s.send(make_alert())
    assert results == [DeliveryResult("slack", True, 2, 200)]
    assert fake_time.sleeps == [1.0]  # max(jitter <= 0.1, Retry-After 1); pacing then has nothing left to wait
    assert server.paths() == [SLACK_PATH, SLACK_PATH]


def test_teams_delivered_after_server_errors_with_backoff(server: WebhookServer, fake_time: FakeTime) -> None:
    server.script(TEAMS_PATH, Reply(500), Reply(502), Reply(202))
    with sender(fake_time, teams(server)) as s:
        (result,) = s.send(make_alert())
    assert result == DeliveryResult("teams", True, 3, 202)
    assert len(fake_time.sleeps) == 2
    assert 0 <= fake_time.sleeps[0] <= 0.1 and 0 <= fake_time.sleeps[1] <= 0.2  # full jitter, doubling
    assert len(server.requests) == 3


def test_client_error_is_not_retried(server: WebhookServer, fake_time: FakeTime) -> None:
    server.script(SLACK_PATH, Reply(404, "no_service"))
    server.script(TEAMS_PATH, Reply(403, "x" * 1000))
    with sender(fake_time, slack(server), teams(server)) as s:
        slack_result, teams_result = s.send(make_alert())
    assert slack_result == DeliveryResult("slack", False, 1, 404, "HTTP 404: no_service")
    assert teams_result.delivered is False and teams_result.attempts == 1 and teams_result.last_status == 403
    assert teams_result.error == "HTTP 403: " + "x" * 200
    assert fake_time.sleeps == [] and len(server.requests) == 2


def test_attempts_exhausted(server: WebhookServer, fake_time: FakeTime) -> None:
    server.script(TEAMS_PATH, Reply(503, "busy"))
    with sender(fake_time, teams(server), max_attempts=3) as s:
        (result,) = s.send(make_alert())
    assert result == DeliveryResult("teams", False, 3, 503, "HTTP 503: busy")
    assert len(fake_time.sleeps) == 2 and len(server.requests) == 3


@pytest.mark.parametrize("retry_after", ["Wed, 21 Oct 2026 07:28:00 GMT", "soon", "-3"])
def test_past_or_unparseable_retry_after_falls_back_to_jitter(
    server: WebhookServer, fake_time: FakeTime, retry_after: str
) -> None:
    server.script(SLACK_PATH, Reply(429, headers={"Retry-After": retry_after}), Reply(200, "ok"))
    with sender(fake_time, slack(server)) as s:
        assert s.send(make_alert())[0].delivered
    jitter, pacing = fake_time.sleeps  # a past date or garbage is ignored: jitter, then Slack pacing tops up to 1 s
    assert 0 <= jitter <= 0.1 and jitter + pacing == pytest.approx(1.0)


def test_retry_after_as_http_date_is_honoured_and_capped(server: WebhookServer, fake_time: FakeTime) -> None:
    """An HTTP-date counts from the server's own Date header; a wait above the cap (within the retry budget)
    waits the cap."""
    in_four_seconds = formatdate(math.floor(time.time()) + 4, usegmt=True)
    server.script(TEAMS_PATH, Reply(503, headers={"Retry-After": in_four_seconds}), Reply(503), Reply(202))
    server.script(SLACK_PATH, Reply(429, headers={"Retry-After": "45"}), Reply(200, "ok"))
    with sender(fake_time, teams(server), slack(server), retry_after_cap_seconds=30.0) as s:
        teams_result, slack_result = s.send(make_alert())
    assert teams_result == DeliveryResult("teams", True, 3, 202) and slack_result.delivered
    date_wait, jitter, capped = fake_time.sleeps
    assert 3.0 <= date_wait <= 4.0  # whole seconds, from the server's clock (the same second or the next)
    assert 0 <= jitter <= 0.2 and capped == 30.0


def test_timeouts_are_retried(server: WebhookServer, fake_time: FakeTime) -> None:
    server.script(TEAMS_PATH, Reply(202, delay=1.0), Reply(202))
    started = time.monotonic()
    with sender(fake_time, teams(server), timeout_seconds=0.2) as s:
        (result,) = s.send(make_alert())
    assert result == DeliveryResult("teams", True, 2, 202)
    assert len(fake_time.sleeps) == 1
    assert time.monotonic() - started < 1.0  # the client gave up on the slow answer


def test_timeouts_exhausted(server: WebhookServer, fake_time: FakeTime) -> None:
    server.script(TEAMS_PATH, Reply(202, delay=1.0))
    with sender(fake_time, teams(server), timeout_seconds=0.1, max_attempts=2) as s:
        (result,) = s.send(make_alert())
    assert result == DeliveryResult("teams", False, 2, None, "timeout")


def test_server_receives_the_rendered_payloads(server: WebhookServer, fake_time: FakeTime) -> None:
    alert = make_alert()
    with sender(fake_time, slack(server), teams(server)) as s:
        assert [r.delivered for r in s.send(alert)] == [True, True]
    slack_request, teams_request = server.requests
    assert slack_request.path == SLACK_PATH and slack_request.body == slack_payload(alert)
    assert teams_request.path == TEAMS_PATH + TEAMS_QUERY and teams_request.body == teams_payload(alert)
    assert slack_request.headers["Content-Type"] == "application/json"
    assert teams_request.body["attachments"][0]["content"]["type"] == "AdaptiveCard"


def test_slack_posts_are_paced(server: WebhookServer, fake_time: FakeTime) -> None:
    with sender(fake_time, slack(server), teams(server)) as s:
        s.send(make_alert())
        s.send(make_alert(alert_id="second"))
        assert fake_time.sleeps == [1.0]
        fake_time.now += 0.25
        s.send(make_alert(alert_id="third"))
    assert fake_time.sleeps == [1.0, 0.75]
    assert server.paths().count(SLACK_PATH) == 3


def closed_port_url() -> str:
    """A loopback URL nothing listens on (connections are refused at once)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}{SLACK_PATH}"


def test_webhook_url_never_leaks(server: WebhookServer, fake_time: FakeTime, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    slack_url, teams_url = server.url(SLACK_PATH), server.url(TEAMS_PATH + TEAMS_QUERY)
    server.script(SLACK_PATH, Reply(429, "slow down", {"Retry-After": "1"}), Reply(200, "ok"))
    server.script(TEAMS_PATH, Reply(400, f"bad request to {teams_url}"))  # a server echoing the URL back
    refused = Destination(kind="slack", url=closed_port_url())
    destinations = [Destination(kind="slack", url=slack_url), Destination(kind="teams", url=teams_url), refused]
    with sender(fake_time, *destinations, max_attempts=2) as s:
        results = s.send(make_alert())
    assert [r.delivered for r in results] == [True, False, False]
    assert results[1].error == "HTTP 400: bad request to [webhook]"
    assert results[2] == DeliveryResult("slack", False, 2, None, "transport error (ConnectError)")
    assert "HTTP Request: POST [webhook]" in caplog.text  # httpx's own log line, redacted
    with pytest.raises(ValidationError) as invalid:
        Destination(kind="slack", url="ftp://host/slack-secret-token")
    texts = [caplog.text, str(invalid.value), *map(repr, results), *map(str, results), *map(repr, destinations)]
    for text in texts:
        for secret in SECRETS:
            assert secret not in text
    assert not logging.getLogger("httpx").filters  # removed again on close


def test_invalid_max_attempts() -> None:
    with pytest.raises(ValueError, match="max_attempts"):
        AlertSender([], max_attempts=0)


# --- Receivers that echo the request target (issue 11, item 13) -------------------------------------------
REAL_SLACK_PATH = "/services/T0A1B2C3D/B0E4F5G6H/abcDEF123ghiJKL456mnoPQR"
REAL_TEAMS_PATH = "/workflows/4b5e0f2a9c8d4e7f8a1b2c3d4e5f6a7b/triggers/manual/paths/invoke"
REAL_TEAMS_QUERY = "?api-version=2016-06-01&sp=%2Ftriggers%2Fmanual%2Frun&sv=1.0&sig=Zx9_aB-3cD4eF5gH6iJ7kL8mN9oP0qR1s"
URL_SECRETS = (
    "T0A1B2C3D",
    "B0E4F5G6H",
    "abcDEF123ghiJKL456mnoPQR",
    "4b5e0f2a9c8d4e7f8a1b2c3d4e5f6a7b",
    "Zx9_aB-3cD4eF5gH6iJ7kL8mN9oP0qR1s",
)
ECHOES = {
    "as received": lambda target: f"Cannot POST {target}",
    "decoded": lambda target: f"Cannot POST {unquote(target)}",
    "json with escaped slashes": lambda target: json.dumps({"error": f"Cannot POST {target}"}).replace("/", "\\/"),
    "percent-encoded": lambda target: f"no route for {quote(target, safe='')}",
    "lower-case escapes": lambda target: f"no route for {quote(target, safe='').lower()}",
    "html": lambda target: f"<pre>Cannot POST {target.replace('&', '&amp;')}</pre>",
    "query reordered": lambda target: "bad query: " + "&".join(reversed(urlsplit(target).query.split("&"))),
    "last segment only": lambda target: f"unknown token {urlsplit(target).path.rsplit('/', 1)[-1]}",
}


def assert_no_url_secret(*texts: str) -> None:
    for text in texts:
        for secret in URL_SECRETS:
            assert secret.lower() not in text.lower(), f"{secret} leaked in {text!r}"


@pytest.mark.parametrize("echo", ECHOES)
def test_a_receiver_echoing_the_url_never_leaks_its_secret_parts(
    server: WebhookServer, fake_time: FakeTime, caplog: pytest.LogCaptureFixture, echo: str
) -> None:
    caplog.set_level(logging.DEBUG)
    server.script(REAL_SLACK_PATH, Reply(404, ECHOES[echo]))
    server.script(REAL_TEAMS_PATH, Reply(404, ECHOES[echo]))
    destinations = [
        Destination(kind="slack", url=server.url(REAL_SLACK_PATH)),
        Destination(kind="teams", url=server.url(REAL_TEAMS_PATH + REAL_TEAMS_QUERY)),
    ]
    with sender(fake_time, *destinations) as s:
        results = s.send(make_alert())
    assert [(r.delivered, r.last_status) for r in results] == [(False, 404), (False, 404)]
    assert all(r.error and r.error.startswith("HTTP 404: ") for r in results)
    assert echo != "as received" or all("Cannot POST [webhook]" in (r.error or "") for r in results)
    assert_no_url_secret(caplog.text, *map(repr, results))
