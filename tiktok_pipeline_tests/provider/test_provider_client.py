"""The analytics provider's models, client and parser: strict counts (hypothesis), Basic auth, the envelope's
errors, the rate-limit code, paging (cursor and page_num, overlapping pages), quarantine naming the field."""

from __future__ import annotations

from datetime import UTC, datetime

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import SecretStr, ValidationError

from tiktok_pipeline.ingest.collect.provider import collect_provider_window
from tiktok_pipeline.ingest.parse.provider import parse_provider
from tiktok_pipeline.simulator.provider.app import ProviderApi
from tiktok_pipeline.simulator.provider.catalog import ProviderConfig
from tiktok_pipeline.sources.analytics_provider.client import ProviderApiError, ProviderClient
from tiktok_pipeline.sources.analytics_provider.models import ProviderVideo
from tiktok_pipeline.sources.http import SIMULATOR_HOOKS, RetryPolicy, SlidingWindowLimiter
from tiktok_pipeline.sources.http.calllog import recording
from tiktok_pipeline_tests.conftest import T0

PASSWORD = "sim-provider-secret"
AT = T0.timestamp() + 300


def video(**changes: object) -> dict[str, object]:
    base: dict[str, object] = {
        "video_id": "7714698726161523770",
        "user_id": "abc",
        "unique_id": "sunny_dancer_9",
        "create_time": 1_700_000_000,
        "play_count": 10,
        "digg_count": 2,
        "comment_count": 1,
        "share_count": 0,
        "updated_at": "2026-11-20 10:01:00",
    }
    return {**base, **changes}


@given(st.integers(min_value=0, max_value=2**63 - 1), st.booleans())
def test_a_count_is_an_integer_or_its_digits(value, as_text):
    parsed = ProviderVideo.model_validate(video(play_count=str(value) if as_text else value))
    assert parsed.play_count == value


@given(
    st.one_of(
        st.booleans(),
        st.floats(allow_nan=True),
        st.integers(max_value=-1),
        st.text().filter(lambda s: not (s.isascii() and s.isdigit() and len(s) <= 19)),
        st.none(),
        st.lists(st.integers(), max_size=2),
    )
)
def test_anything_else_is_not_a_count_and_the_error_names_the_field(value):
    with pytest.raises(ValidationError) as caught:
        ProviderVideo.model_validate(video(digg_count=value))
    assert caught.value.errors()[0]["loc"] == ("digg_count",)


@given(st.text(max_size=30))
def test_updated_at_is_the_provider_format_or_refused(text):
    try:
        datetime.strptime(text, "%Y-%m-%d %H:%M:%S")
    except ValueError:
        with pytest.raises(ValidationError, match="updated_at"):
            ProviderVideo.model_validate(video(updated_at=text))


def test_updated_at_after_the_fetch_is_refused():
    with pytest.raises(ValidationError, match="after the instant the record was fetched"):
        ProviderVideo.model_validate(video(updated_at="2026-11-20 12:00:00"), context={"fetched_at": AT})


class Clock:
    """A rate clock that moves only when the client sleeps."""

    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def client_for(api: ProviderApi, clock: Clock, *, password: str = PASSWORD, limit: int = 1000) -> ProviderClient:
    return ProviderClient(
        "http://provider.invalid",
        username="sim-provider",
        password=SecretStr(password),
        transport=httpx.MockTransport(api.handle),
        limiter=SlidingWindowLimiter(limit, 60.0, clock=clock, sleep=clock.sleep),
        retry=RetryPolicy(max_attempts=5, max_retry_seconds=600),
        request_hooks=SIMULATOR_HOOKS,
        sleep=clock.sleep,
    )


def test_bad_credentials_are_refused_once_naming_the_settings_never_the_password():
    clock = Clock()
    api = ProviderApi(7, clock=lambda: AT, rate_clock=clock)
    with client_for(api, clock, password="wrong-password") as client, pytest.raises(ProviderApiError) as caught:
        client.call("influencer/list", {})
    assert caught.value.code == 10001 and caught.value.call.status == 401 and caught.value.call.attempts == 1
    assert "TIKTOK_PROVIDER_PASSWORD" in str(caught.value) and "wrong-password" not in str(caught.value)
    assert api.stats["unauthorised"] == 1


def test_the_rate_limit_code_is_retried_with_backoff_until_a_slot_frees():
    clock = Clock()
    api = ProviderApi(7, ProviderConfig(requests_per_minute=2), clock=lambda: AT, rate_clock=clock)
    with client_for(api, clock) as client:
        client.call("influencer/list", {})
        client.call("influencer/list", {})
        clock.now = 59.999  # the minute's first slot frees during the first backoff
        with recording() as calls:
            answer = client.call("influencer/list", {})  # the third in a minute: 30003 (HTTP 200) until time passes
    assert answer.code == 0 and answer.attempts > 1 and "code 30003" in answer.attempt_statuses
    assert api.stats["throttled"] >= 1 and clock.sleeps and client.stats["throttled"] >= 1
    assert calls.rows[0]["attempts"] == answer.attempts and calls.rows[0]["source"] == "analytics_provider"


def test_a_refusal_that_is_not_retryable_names_the_code_and_request_id():
    clock = Clock()
    api = ProviderApi(7, clock=lambda: AT, rate_clock=clock)
    with client_for(api, clock) as client, pytest.raises(ProviderApiError) as caught:
        client.call("video/list", {"user_id": "nobody"})
    assert caught.value.code == 10005 and caught.value.call.request_id in str(caught.value)
    assert "not found" in str(caught.value)


def test_a_200_without_the_envelope_is_retried_then_reported():
    pages = iter([httpx.Response(200, text="<html>gateway</html>")] * 2 + [httpx.Response(200, json={"x": 1})])

    def handler(request: httpx.Request) -> httpx.Response:
        return next(pages)

    clock = Clock()
    client = ProviderClient(
        "http://p.invalid",
        username="u",
        password=SecretStr("p"),
        transport=httpx.MockTransport(handler),
        retry=RetryPolicy(max_attempts=5, max_retry_seconds=600),
        sleep=clock.sleep,
    )
    with client, pytest.raises(ProviderApiError, match="without the provider's envelope") as caught:
        client.call("influencer/list", {})
    assert caught.value.call.attempts == 3


def test_paging_collects_every_covered_video_once_and_overlapping_pages_are_quarantined_as_duplicates():
    clock = Clock()
    config = ProviderConfig(duplicate_page_share=0.5)
    api = ProviderApi(7, config, clock=lambda: AT, rate_clock=clock)
    observed = datetime.fromtimestamp(AT, UTC)
    with client_for(api, clock) as client:
        collected = collect_provider_window(client, T0, observed, page_size=3, max_pages=50)
    assert not collected.failures
    assert sum(r["endpoint"] == "influencer/list" for r in collected.records) == 4  # 12 creators, 3 a page
    videos, quarantine, failed, _ = parse_provider(collected.records, "analytics_provider/x.jsonl.gz")
    expected = {v["video_id"] for c in api.catalog.creators() for v in api.catalog.videos(c, AT)}
    assert set(videos["video_id"]) == expected and videos.height == len(expected) and failed == 0
    assert api.stats["duplicated pages"] > 0
    assert quarantine.height == api.stats["duplicated pages"]
    assert quarantine["reason"].str.contains("duplicate observation").all()


def test_a_bad_record_is_quarantined_naming_the_field_and_the_rest_of_the_page_goes_on():
    record = {
        "endpoint": "video/list",
        "params": {"user_id": "abc"},
        "window_start": T0.isoformat(),
        "observed_at": datetime.fromtimestamp(AT, UTC).isoformat(),
        "log_id": "req-1",
        "error": None,
        "payload": {
            "code": 0,
            "data": {
                "list": [
                    video(),
                    video(video_id="2", play_count=True),
                    video(video_id="3", share_count="12"),
                ]
            },
        },
    }
    missing = {**record, "payload": {"code": 0, "data": {"has_more": False}}}
    videos, quarantine, _, _ = parse_provider([record, missing], "f.jsonl.gz")
    assert sorted(videos["video_id"]) == ["3", "7714698726161523770"]
    assert videos.filter(videos["video_id"] == "3")["share_count"].to_list() == [12]
    assert videos["observed_at"].to_list()[0] == datetime(2026, 11, 20, 10, 1)  # updated_at, not the fetch
    reasons = quarantine["reason"].to_list()
    assert any("play_count" in r and "boolean" in r for r in reasons)
    assert any("data.list missing" in r for r in reasons)
    assert set(quarantine["log_id"]) == {"req-1"} and set(quarantine["asset"]) == {"provider_video_snapshots"}


@settings(max_examples=30)
@given(st.lists(st.integers(min_value=0, max_value=10**12), min_size=1, max_size=5))
def test_parsed_counts_are_the_records_counts(values):
    items = [video(video_id=str(i + 1), play_count=v, digg_count=str(v)) for i, v in enumerate(values)]
    record = {
        "endpoint": "video/list",
        "params": {},
        "window_start": T0.isoformat(),
        "observed_at": datetime.fromtimestamp(AT, UTC).isoformat(),
        "payload": {"code": 0, "data": {"list": items}},
    }
    videos, quarantine, _, _ = parse_provider([record], "f")
    assert quarantine.is_empty() and videos["view_count"].to_list() == values == videos["like_count"].to_list()


def test_the_product_endpoint_pages_by_page_number_through_the_client_and_is_logged_with_its_purpose():
    """product/list (page paging) through the same client: every product once, then has_more false."""
    clock = Clock()
    api = ProviderApi(7, clock=lambda: AT, rate_clock=clock)
    seen: list[str] = []
    with client_for(api, clock) as client, recording() as calls:
        page = 1
        while True:
            answer = client.call("product/list", {"page_num": str(page), "page_size": "5"})
            data = answer.payload["data"]
            seen += [row["product_id"] for row in data["list"]]
            if not data["has_more"]:
                break
            page += 1
    expected = [row["product_id"] for row in api.catalog.products(AT)]
    assert seen == expected and len(expected) > 5 and page == -(-len(expected) // 5)
    assert {row["purpose"] for row in calls.rows} == {"provider products"} and len(calls.rows) == page
