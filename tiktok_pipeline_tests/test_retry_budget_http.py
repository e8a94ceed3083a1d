"""A ``Retry-After`` beyond the per-call retry budget gives up at once, over real HTTP (issue 11, item 6).

Each sender (the Display client, the API for Business client, the Slack/Teams sender) is answered
``429`` with ``Retry-After: 86400`` (or the same as an HTTP-date) by a loopback server: the call returns
at once, throttled, without sleeping, and its caller goes on.
"""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta
from email.utils import formatdate

import httpx
import pytest
from pydantic import SecretStr

from tiktok_pipeline.activation.alerts.delivery import AlertSender, Destination
from tiktok_pipeline.governance.telemetry import window_telemetry
from tiktok_pipeline.ingest.collect import display as collect
from tiktok_pipeline.simulator.app import Simulator
from tiktok_pipeline.simulator.server import serve_in_thread
from tiktok_pipeline.simulator.world import WorldConfig
from tiktok_pipeline.sources.business_api.client import BusinessApiClient, BusinessApiError
from tiktok_pipeline.sources.http import RetryPolicy
from tiktok_pipeline_tests.alerts.test_delivery import FakeTime
from tiktok_pipeline_tests.alerts.test_formatting import make_alert
from tiktok_pipeline_tests.alerts.webhook_server import Reply, WebhookServer, server  # noqa: F401 - a fixture
from tiktok_pipeline_tests.display_api.test_client_http import make_client

AS_OF = datetime(2026, 11, 20, 10, 5, tzinfo=UTC)
DAY = 86_400


def retry_after(form: str) -> str:
    """A day from now, as delta-seconds or as an HTTP-date."""
    return str(DAY) if form == "seconds" else formatdate(time.time() + DAY, usegmt=True)


FORMS = ["seconds", "http-date"]


class Throttling(Simulator):
    """The seeded simulator, except that every data request for ``target`` is answered 429 with a day-long wait."""

    def __init__(self, target: str, form: str) -> None:
        super().__init__(WorldConfig(seed=7))
        self.target, self.form, self.throttled = target, form, 0

    def handle(self, request: httpx.Request) -> httpx.Response:
        if request.url.path.startswith("/v2/video/") or request.url.path.startswith("/v2/user/"):
            creator, _ = self._authenticate(request)
            if creator.username == self.target:
                self.throttled += 1
                body = {"data": {}, "error": {"code": "rate_limit_exceeded", "message": "slow", "log_id": "L1"}}
                return httpx.Response(429, json=body, headers={"Retry-After": retry_after(self.form)})
        return super().handle(request)


@pytest.mark.parametrize("form", FORMS)
def test_display_collection_gives_up_on_a_throttled_creator_at_once_and_goes_on(tmp_path, form):
    usernames = [c.username for c in Simulator(WorldConfig(seed=7)).world.creators()[:2]]
    sim = Throttling(usernames[0], form)
    sleeps: list[float] = []
    started = time.monotonic()
    with serve_in_thread(sim) as url, make_client(url, tmp_path, sleeps=sleeps) as client:
        collection = collect.collect_window(client, usernames, AS_OF - timedelta(minutes=5), AS_OF, timedelta(days=7))
    assert time.monotonic() - started < 10  # not 4 × 60 s, let alone 4 × a day
    assert sleeps == [] and sim.throttled == 1
    assert set(collection.failures) == {usernames[0]} and "retry budget" in collection.failures[usernames[0]]
    assert any(c.username == usernames[1] and c.status == 200 for c in collection.calls)  # the next creator
    assert client.stats["throttled"] == 1 and client.stats["retry_budget_stops"] == 1
    (record,) = [r for r in collection.records() if r["username"] == usernames[0]]
    assert record["gave_up"] == "retry_budget" and record["attempt_statuses"] == [429]
    telemetry = window_telemetry(
        AS_OF - timedelta(minutes=5), collection.records(), landed_at=AS_OF, videos_polled=0, plan=None
    )
    assert telemetry["throttled"] == 1 and telemetry["retry_budget_stops"] == 1


@pytest.mark.parametrize("form", FORMS)
def test_business_call_gives_up_at_once_when_throttled_for_a_day(server: WebhookServer, form):  # noqa: F811
    path = "/open_api/v1.3/event/track/"
    server.script(path, Reply(429, "Too Many Requests", {"Retry-After": retry_after(form)}))
    sleeps: list[float] = []
    base_url = server.url("")
    started = time.monotonic()
    api = BusinessApiClient(base_url, access_token=SecretStr("t0ken-secret"), sleep=sleeps.append)
    with api, pytest.raises(BusinessApiError) as caught:
        api.post("event/track", {"data": []})
    assert time.monotonic() - started < 10 and sleeps == [] and server.paths() == [path]
    assert caught.value.retryable and caught.value.call.attempts == 1 and "retry budget" in str(caught.value)
    assert api.stats["throttled"] == 1 and api.stats["retry_budget_stops"] == 1


@pytest.mark.parametrize("form", FORMS)
def test_alert_is_left_for_later_when_throttled_for_a_day(server: WebhookServer, form):  # noqa: F811
    slack, teams = "/services/T1/B1/secret-slack-token", "/workflows/1/triggers/manual/paths/invoke"
    server.script(slack, Reply(429, "rate_limited", {"Retry-After": retry_after(form)}))
    fake = FakeTime()
    destinations = [Destination(kind="slack", url=server.url(slack)), Destination(kind="teams", url=server.url(teams))]
    started = time.monotonic()
    with AlertSender(destinations, sleep=fake.sleep, clock=fake.clock) as sender:
        slack_result, teams_result = sender.send(make_alert())
    assert time.monotonic() - started < 10 and fake.sleeps == []
    assert not slack_result.delivered and slack_result.attempts == 1 and slack_result.last_status == 429
    assert "retry budget" in (slack_result.error or "")
    assert teams_result.delivered  # the other destination goes on


def test_a_budget_spent_on_backoff_stops_retrying(server: WebhookServer):  # noqa: F811
    """Without Retry-After, backoff waits stop once the next one would pass the budget."""
    path = "/open_api/v1.3/report/x/"
    server.script(path, Reply(503, json.dumps({"message": "busy"})))
    sleeps: list[float] = []
    policy = RetryPolicy(max_attempts=50, base_seconds=1.0, cap_seconds=4.0, max_retry_seconds=10.0)
    api = BusinessApiClient(server.url(""), access_token=SecretStr("t"), retry=policy, sleep=sleeps.append)
    with api, pytest.raises(BusinessApiError) as caught:
        api.post("report/x", {})
    assert 1 < caught.value.call.attempts < 50 and sum(sleeps) <= 10.0
    assert "retry budget" in str(caught.value)
