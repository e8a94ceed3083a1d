"""The Display API client over real HTTP against a served simulator."""

import logging
import time
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from pydantic import SecretStr

from tiktok_pipeline.simulator.app import Simulator
from tiktok_pipeline.simulator.faults import FaultConfig
from tiktok_pipeline.simulator.server import serve_in_thread
from tiktok_pipeline.simulator.world import WorldConfig
from tiktok_pipeline.sources.display_api.client import DisplayApiClient, TikTokApiError, simulator_code
from tiktok_pipeline.sources.display_api.models import VIDEO_FIELDS
from tiktok_pipeline.sources.display_api.tokens import TokenStore
from tiktok_pipeline.sources.http import SIMULATOR_HOOKS, RetryPolicy, SlidingWindowLimiter

AS_OF = datetime(2026, 11, 20, 10, 5, tzinfo=UTC)


class Clock:
    """A settable clock shared by the simulator (epoch seconds) and the client (datetime)."""

    def __init__(self) -> None:
        self.now = time.time()

    def epoch(self) -> float:
        return self.now

    def dt(self) -> datetime:
        return datetime.fromtimestamp(self.now, UTC)


def make_client(
    base_url, tmp_path, *, sleeps=None, clock=None, max_attempts=5, timeout_seconds=2.0, simulator=True
) -> DisplayApiClient:
    def sleep(seconds):
        if sleeps is not None:
            sleeps.append(seconds)
        time.sleep(min(seconds, 2.0))

    return DisplayApiClient(
        base_url,
        client_key="sim-client",
        client_secret=SecretStr("sim-secret"),
        token_store=TokenStore(tmp_path / "tokens.json"),
        limiter=SlidingWindowLimiter(1000),
        retry=RetryPolicy(max_attempts=max_attempts, base_seconds=0.01, cap_seconds=0.05),
        timeout_seconds=timeout_seconds,
        request_hooks=SIMULATOR_HOOKS if simulator else (),
        unattended_code=simulator_code if simulator else None,
        sleep=sleep,
        now=clock.dt if clock else (lambda: datetime.now(UTC)),
    )


@pytest.fixture
def username():
    return Simulator(WorldConfig(seed=7)).world.creators()[0].username


def user_info(client, username):
    return client.call(username, "user/info", fields=("open_id", "username"), as_of=AS_OF)


def test_429_is_retried_honouring_retry_after(tmp_path, username):
    sim = Simulator(WorldConfig(seed=7), FaultConfig(send_retry_after=True), rate_limit=2, rate_window_seconds=1.0)
    sleeps: list[float] = []
    with serve_in_thread(sim) as url, make_client(url, tmp_path, sleeps=sleeps) as client:
        calls = [user_info(client, username) for _ in range(3)]
    assert all(c.status == 200 for c in calls)
    assert calls[2].attempts >= 2 and client.stats["throttled"] >= 1
    assert any(s >= 0.5 for s in sleeps), f"Retry-After (1 s) was not honoured: {sleeps}"


def test_429_without_retry_after_backs_off_with_jitter(tmp_path, username):
    sim = Simulator(WorldConfig(seed=7), FaultConfig(send_retry_after=False), rate_limit=1, rate_window_seconds=0.3)
    sleeps: list[float] = []
    with serve_in_thread(sim) as url, make_client(url, tmp_path, sleeps=sleeps, max_attempts=30) as client:
        calls = [user_info(client, username) for _ in range(2)]
    assert calls[1].status == 200 and calls[1].attempts >= 2
    assert all(s <= 0.05 for s in sleeps), "without Retry-After the jittered backoff is capped"


def test_5xx_is_retried_then_reported_with_log_id(tmp_path, username):
    flaky = Simulator(WorldConfig(seed=7), FaultConfig(rate_5xx=0.5, seed=3))
    with serve_in_thread(flaky) as url, make_client(url, tmp_path, max_attempts=20) as client:
        calls = [user_info(client, username) for _ in range(6)]
    assert all(c.status == 200 for c in calls) and client.stats["server_errors"] >= 1

    broken = Simulator(WorldConfig(seed=7), FaultConfig(rate_5xx=1.0))
    with serve_in_thread(broken) as url, make_client(url, tmp_path, max_attempts=3) as client:
        client.access_token(username)  # the OAuth endpoint is not faulted
        with pytest.raises(
            TikTokApiError, match=r"user/info for creator .*log_id=\d{14}[0-9A-F]+ \(gave up after 3 attempts\)"
        ) as info:
            user_info(client, username)
    assert info.value.call.attempts == 3 and info.value.call.status >= 500


def test_timeouts_are_retried(tmp_path, username):
    sim = Simulator(WorldConfig(seed=7), FaultConfig(rate_timeout=0.5, seed=1))
    with (
        serve_in_thread(sim, timeout_seconds=3.0) as url,
        make_client(url, tmp_path, max_attempts=20, timeout_seconds=0.5) as client,
    ):
        call = client.call(username, "video/list", fields=("id", "create_time"), body={"max_count": 5}, as_of=AS_OF)
    assert call.status == 200 and client.stats["timeouts"] >= 1


def test_refresh_is_scheduled_from_expires_in_and_rotates(tmp_path, username):
    clock = Clock()
    sim = Simulator(WorldConfig(seed=7), clock=clock.epoch, access_token_ttl=3600)
    with serve_in_thread(sim) as url, make_client(url, tmp_path, clock=clock) as client:
        user_info(client, username)
        first = client.tokens.get(username)
        assert first.access_expires_at == pytest.approx(clock.dt() + timedelta(seconds=3600), abs=timedelta(seconds=5))
        clock.now += 3600 - 60  # inside the refresh margin: refreshed before it expires
        user_info(client, username)
        second = client.tokens.get(username)
        assert client.stats["token_refreshes"] == 1
        assert second.refresh_token.get_secret_value() != first.refresh_token.get_secret_value()
        # the rotated-out refresh token no longer works; the persisted one does
        old = httpx.post(
            f"{url}/v2/oauth/token/",
            data={
                "client_key": "sim-client",
                "client_secret": "sim-secret",
                "grant_type": "refresh_token",
                "refresh_token": first.refresh_token.get_secret_value(),
            },
        )
        assert old.status_code == 200 and old.json()["error"] == "invalid_grant"  # TikTok: errors with HTTP 200
        client.refresh(username)
        assert client.stats["token_refreshes"] == 2


def test_expired_token_answered_401_is_refreshed_once(tmp_path, username):
    clock = Clock()
    sim = Simulator(WorldConfig(seed=7), clock=clock.epoch, access_token_ttl=3600)
    with serve_in_thread(sim) as url, make_client(url, tmp_path) as client:  # client keeps real time
        user_info(client, username)
        clock.now += 7200  # the simulator now sees the access token as expired
        call = user_info(client, username)
    assert call.status == 200 and call.attempts == 2 and client.stats["token_refreshes"] == 1


def test_video_query_returns_requested_fields(tmp_path, username):
    sim = Simulator(WorldConfig(seed=7))
    with serve_in_thread(sim) as url, make_client(url, tmp_path) as client:
        listing = client.call(username, "video/list", fields=("id", "create_time"), body={"max_count": 3}, as_of=AS_OF)
        ids = [v["id"] for v in listing.payload["data"]["videos"]]
        query = client.call(
            username, "video/query", fields=VIDEO_FIELDS, body={"filters": {"video_ids": ids}}, as_of=AS_OF
        )
    videos = query.payload["data"]["videos"]
    assert sorted(v["id"] for v in videos) == sorted(ids)
    assert set(videos[0]) == set(VIDEO_FIELDS)
    assert query.log_id


def test_unknown_creator_and_bad_secret_are_clear_errors(tmp_path):
    sim = Simulator(WorldConfig(seed=7))
    with serve_in_thread(sim) as url, make_client(url, tmp_path) as client:
        with pytest.raises(TikTokApiError, match=r"creator 'nobody' must re-authorise .*invalid_grant"):
            client.access_token("nobody")
        client._client_secret = SecretStr("wrong")
        with pytest.raises(TikTokApiError, match="invalid_client"):
            client.access_token(sim.world.creators()[0].username)


def test_real_host_without_stored_tokens_says_how_to_add_them(tmp_path):
    from tiktok_pipeline.sources.display_api.client import MissingCredentialsError

    client = make_client("http://127.0.0.1:9", tmp_path, simulator=False)
    with client, pytest.raises(MissingCredentialsError, match="tiktok-pipeline tokens add alice"):
        client.access_token("alice")


def test_tokens_and_secret_never_reach_logs_or_errors(tmp_path, username, caplog):
    caplog.set_level(logging.DEBUG)
    clock = Clock()
    sim = Simulator(WorldConfig(seed=7), FaultConfig(rate_5xx=1.0), clock=clock.epoch, access_token_ttl=3600)
    with serve_in_thread(sim) as url, make_client(url, tmp_path, clock=clock, max_attempts=2) as client:
        first = client.tokens.get(username) or client.refresh(username)
        clock.now += 3600  # expired: the next call refreshes, then fails on the 5xx
        with pytest.raises(TikTokApiError) as caught:
            user_info(client, username)
        second = client.tokens.get(username)
    secrets = [
        "sim-secret",
        *(t.access_token.get_secret_value() for t in (first, second)),
        *(t.refresh_token.get_secret_value() for t in (first, second)),
    ]
    texts = caplog.text + str(caught.value) + repr(caught.value.call.to_record())
    assert client.stats["token_refreshes"] == 1 and "HTTP Request: GET" in caplog.text
    for secret in secrets:
        assert secret not in texts
