"""Sending a batch to event/track over real HTTP: every answer mapped to sent, rejected, ambiguous or pending."""

import httpx
import pytest
from pydantic import SecretStr

from tiktok_pipeline.activation.conversions.hashing import hash_email
from tiktok_pipeline.simulator.app import Simulator
from tiktok_pipeline.simulator.business.app import SIM_ACCESS_TOKEN, BusinessError, Endpoint
from tiktok_pipeline.simulator.business.events import SIM_PIXEL_CODE
from tiktok_pipeline.simulator.server import serve_in_thread
from tiktok_pipeline.sources.business_api.client import BusinessApiClient
from tiktok_pipeline.sources.business_api.events import (
    MAX_BATCH,
    Content,
    EventUser,
    TrackedEvent,
    send_batch,
    track_body,
)
from tiktok_pipeline.sources.http import RetryPolicy

NOW = 1_795_000_000.0


def tracked(event_id: str, *, at: float = NOW - 120, email: str | None = "buyer@example.com") -> TrackedEvent:
    return TrackedEvent(
        event="CompletePayment",
        event_id=event_id,
        event_time=int(at),
        user=EventUser(email=hash_email(email) if email else None, ip="192.0.2.7", user_agent="Mozilla/5.0"),
        currency="USD",
        value=42.0,
        contents=(Content(content_id="SKU-1", price=21.0, quantity=2),),
    )


class Scripted:
    """event/track answering the queued error codes first, then the simulator's real handler."""

    def __init__(self, inner, *codes: int) -> None:
        self.inner, self.codes = inner, list(codes)

    def __call__(self, request):
        if self.codes:
            code = self.codes.pop(0)
            raise BusinessError(code, f"scripted {code}")
        return self.inner(request)


@pytest.fixture
def served():
    simulator = Simulator(clock=lambda: NOW)
    with serve_in_thread(simulator, timeout_seconds=0.3) as base_url:
        yield simulator, base_url


def client(base_url, *, token=SIM_ACCESS_TOKEN, attempts=4, transport=None):
    return BusinessApiClient(
        base_url,
        access_token=SecretStr(token),
        retry=RetryPolicy(max_attempts=attempts, base_seconds=0.01),
        timeout_seconds=2.0,
        transport=transport,
        sleep=lambda _: None,
    )


def script(simulator, *codes):
    simulator.business.endpoints["event/track"] = Endpoint("POST", Scripted(simulator.business.events.track, *codes))


def test_body_is_events_api_2_with_hashed_user_and_no_raw_email():
    body = track_body(SIM_PIXEL_CODE, [tracked("o-1")], "TEST123")
    assert body["event_source"] == "web" and body["event_source_id"] == SIM_PIXEL_CODE
    assert body["test_event_code"] == "TEST123"
    (event,) = body["data"]
    assert event["event_id"] == "o-1" and event["user"]["email"] == hash_email("buyer@example.com")
    assert event["properties"] == {
        "currency": "USD",
        "value": 42.0,
        "contents": [{"content_id": "SKU-1", "content_type": "product", "price": 21.0, "quantity": 2}],
    }
    assert "buyer@example.com" not in str(body)
    assert "test_event_code" not in track_body(SIM_PIXEL_CODE, [tracked("o-1")])
    with pytest.raises(ValueError):
        track_body(SIM_PIXEL_CODE, [tracked(f"o-{i}") for i in range(MAX_BATCH + 1)])


def test_accepted_and_per_event_rejections_are_told_apart(served):
    simulator, base_url = served
    simulator.business.events.invalid_events = "partial"
    too_old = tracked("o-old", at=NOW - 8 * 86400)
    with client(base_url) as api:
        outcome = send_batch(api, SIM_PIXEL_CODE, [tracked("o-1"), too_old, tracked("o-2")])
    assert [o.status for o in outcome.outcomes] == ["sent", "rejected", "sent"]
    assert outcome.outcomes[1].code == 40002 and "7 days" in outcome.outcomes[1].message
    assert outcome.request_id and outcome.code == 0 and not outcome.stop
    assert [e.event_id for e in simulator.business.events.events] == ["o-1", "o-2"]


def test_by_default_one_bad_event_refuses_the_whole_request(served):
    simulator, base_url = served
    too_old = tracked("o-old", at=NOW - 8 * 86400)
    with client(base_url) as api:
        outcome = send_batch(api, SIM_PIXEL_CODE, [tracked("o-1"), too_old, tracked("o-2")])
    assert outcome.refused_whole and outcome.code == 40002 and not outcome.stop
    assert all(o.status == "rejected" and "event_time" in o.message for o in outcome.outcomes)
    assert simulator.business.events.events == []


@pytest.mark.parametrize("code", [40100, 40700, 50000, 50002])
def test_retryable_codes_are_retried_and_the_events_arrive_once(served, code):
    simulator, base_url = served
    script(simulator, code, code)
    with client(base_url) as api:
        outcome = send_batch(api, SIM_PIXEL_CODE, [tracked("o-1"), tracked("o-2")])
    assert outcome.count("sent") == 2 and outcome.attempts == 3
    store = simulator.business.events
    assert store.received("o-1") == 1 and store.duplicates == 0


def test_retryable_codes_that_persist_leave_events_pending_and_stop(served):
    simulator, base_url = served
    script(simulator, *[50000] * 5)
    with client(base_url, attempts=3) as api:
        outcome = send_batch(api, SIM_PIXEL_CODE, [tracked("o-1")])
    assert outcome.stop and outcome.count("pending") == 1 and outcome.code == 50000
    assert "gave up after 3 attempts" in outcome.message and outcome.request_id
    assert simulator.business.events.events == []


def test_invalid_token_fails_at_once_events_stay_pending(served):
    simulator, base_url = served
    with client(base_url, token="revoked-token-value") as api:
        outcome = send_batch(api, SIM_PIXEL_CODE, [tracked("o-1")])
    assert outcome.stop and outcome.code == 40105 and outcome.attempts == 1
    assert outcome.outcomes[0].status == "pending" and "access token" in outcome.outcomes[0].message
    assert "revoked-token-value" not in repr(outcome)
    assert simulator.business.events.requests == 0  # refused before the endpoint


def test_pixel_without_permission_stops(served):
    simulator, base_url = served
    with client(base_url) as api:
        outcome = send_batch(api, "CUNKNOWNPIXEL0000003", [tracked("o-1")])
    assert outcome.stop and outcome.code == 40001 and outcome.count("pending") == 1


def test_a_refused_request_rejects_its_events_with_the_reason(served):
    simulator, base_url = served
    script(simulator, 40002)
    with client(base_url) as api:
        outcome = send_batch(api, SIM_PIXEL_CODE, [tracked("o-1"), tracked("o-2")])
    assert not outcome.stop and outcome.count("rejected") == 2 and outcome.attempts == 1
    assert all(o.code == 40002 and "scripted 40002" in o.message for o in outcome.outcomes)
    assert outcome.refused_whole


@pytest.mark.parametrize("code", [40133, 41999])
def test_an_unknown_code_leaves_the_events_pending_and_stops_loudly(served, code):
    simulator, base_url = served
    script(simulator, code)
    with client(base_url) as api:
        outcome = send_batch(api, SIM_PIXEL_CODE, [tracked("o-1"), tracked("o-2")])
    assert outcome.stop and outcome.count("pending") == 2 and outcome.attempts == 1 and not outcome.refused_whole
    assert f"unknown code {code}" in outcome.message and f"request_id={outcome.request_id}" in outcome.message
    assert simulator.business.events.events == []


@pytest.mark.parametrize(("when", "stored"), [("before", 0), ("after", 1)])
def test_a_gateway_504_with_an_html_body_is_ambiguous_and_not_resent(served, when, stored):
    """A gateway that gave up may have passed the request on: like a timeout, the client does not resend it."""
    simulator, base_url = served
    simulator.business.events.gateway_next(504, when=when)
    with client(base_url) as api:
        outcome = send_batch(api, SIM_PIXEL_CODE, [tracked("o-1")])
    assert outcome.outcomes[0].status == "ambiguous" and outcome.attempts == 1 and not outcome.stop
    assert "HTTP 504" in outcome.message and "<html" in outcome.message.lower()
    assert simulator.business.events.requests == 1 and simulator.business.events.received("o-1") == stored


@pytest.mark.parametrize(("when", "stored"), [("before", 0), ("after", 1)])
def test_timeouts_are_ambiguous_and_never_resent_by_the_client(served, when, stored):
    simulator, base_url = served
    simulator.business.events.timeout_next(when=when)
    with client(base_url) as api:
        outcome = send_batch(api, SIM_PIXEL_CODE, [tracked("o-1")])
    assert outcome.outcomes[0].status == "ambiguous" and outcome.code == -1 and outcome.attempts == 1
    assert not outcome.stop
    assert simulator.business.events.requests == 1 and simulator.business.events.received("o-1") == stored


def test_an_error_answer_listing_failed_events_leaves_the_others_ambiguous():
    """Should TikTok answer partial failures with a non-zero code, the unlisted events may have been kept."""

    def handler(request: httpx.Request) -> httpx.Response:
        failed = [{"index": 0, "event_id": "o-1", "code": 40002, "message": "user.email must be SHA-256 hashed"}]
        return httpx.Response(
            200,
            json={"code": 40002, "message": "Invalid events", "request_id": "r-1", "data": {"failed_events": failed}},
        )

    with client("http://tiktok.test", transport=httpx.MockTransport(handler)) as api:
        outcome = send_batch(api, SIM_PIXEL_CODE, [tracked("o-1"), tracked("o-2")])
    assert [o.status for o in outcome.outcomes] == ["rejected", "ambiguous"]
    assert "SHA-256" in outcome.outcomes[0].message and outcome.request_id == "r-1"


def test_several_digests_travel_as_lists_and_are_accepted(served):
    simulator, base_url = served
    emails = (hash_email("a@example.com"), hash_email("b@example.com"))
    event = TrackedEvent(
        event="CompletePayment", event_id="o-1", event_time=int(NOW - 60), user=EventUser(email=emails)
    )
    with client(base_url) as api:
        outcome = send_batch(api, SIM_PIXEL_CODE, [event])
    assert outcome.count("sent") == 1
    assert simulator.business.events.events[0].user["email"] == list(emails)
    with pytest.raises(ValueError):
        EventUser(email=(hash_email("a@example.com"), "b@example.com"))  # raw values never leave the client
