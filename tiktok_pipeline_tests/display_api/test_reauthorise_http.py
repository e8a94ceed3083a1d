"""OAuth refusals over real HTTP (issue 12, items 4 and 5): TikTok answers them with HTTP 200 and an error body;
a creator who must re-authorise is named with TikTok's code, log_id and what to do, is not asked about again, and
the rest of the window goes on. The refresh token's expiry stored is what TikTok says (a fixed horizon)."""

from __future__ import annotations

import json
import re
from datetime import timedelta

import httpx
import pytest

from tiktok_pipeline.governance import window_figures
from tiktok_pipeline.ingest.collect import display as collect
from tiktok_pipeline.simulator.app import Simulator
from tiktok_pipeline.simulator.faults import FaultConfig
from tiktok_pipeline.simulator.server import serve_in_thread
from tiktok_pipeline.simulator.world import WorldConfig
from tiktok_pipeline.sources.display_api.calls import ReauthorizationRequired, TikTokApiError
from tiktok_pipeline.sources.display_api.client import simulator_code
from tiktok_pipeline_tests.display_api.test_client_http import AS_OF, Clock, make_client, user_info
from tiktok_pipeline_tests.display_api.test_window_telemetry_http import observe

TIKTOK_LOG_ID = r"log_id=20\d{12}[0-9A-F]{20}"
HOUR = 3600


def oauth_requests(sim: Simulator) -> int:
    return sim.stats["requests /v2/oauth/token/"]


def test_a_refused_refresh_token_names_the_creator_code_log_id_and_what_to_do(tmp_path):
    clock = Clock()
    sim = Simulator(WorldConfig(seed=7), clock=clock.epoch, access_token_ttl=HOUR, refresh_token_ttl=3 * HOUR)
    username = sim.world.creators()[0].username
    with serve_in_thread(sim) as url, make_client(url, tmp_path, clock=clock) as client:
        user_info(client, username)
        clock.now += 4 * HOUR  # past the refresh token's fixed horizon: TikTok answers invalid_grant with HTTP 200
        with pytest.raises(ReauthorizationRequired) as refused:
            user_info(client, username)
        message = str(refused.value)
        assert f"creator {username!r} must re-authorise" in message and "invalid_grant" in message
        assert re.search(TIKTOK_LOG_ID, message), message
        assert f"tiktok-pipeline tokens add {username}" in message and "bad answer" not in message
        assert refused.value.code == "invalid_grant"
        asked = oauth_requests(sim)
        for _ in range(3):  # not retried: the store remembers until new tokens are added
            with pytest.raises(ReauthorizationRequired, match="invalid_grant"):
                user_info(client, username)
        assert oauth_requests(sim) == asked
        assert "invalid_grant" in (client.tokens.get(username).reauthorize or "")
        client.exchange_code(username, simulator_code(username))  # what `tokens add` does: new tokens
        assert user_info(client, username).status == 200


class AnswersOAuthWith(Simulator):
    """The simulator, except that OAuth refusals come with ``status`` (hosts that follow RFC 6749 send 400)."""

    def __init__(self, status: int, **kwargs) -> None:
        super().__init__(WorldConfig(seed=7), **kwargs)
        self.status = status

    def handle(self, request: httpx.Request) -> httpx.Response:
        response = super().handle(request)
        if request.url.path.startswith("/v2/oauth/") and "error" in response.json():
            return httpx.Response(self.status, content=response.content, headers=response.headers)
        return response


@pytest.mark.parametrize("status", [200, 400, 401])
def test_an_oauth_error_body_is_recognised_whatever_the_status(tmp_path, status):
    sim = AnswersOAuthWith(status)
    username = sim.world.creators()[0].username
    with serve_in_thread(sim) as url, make_client(url, tmp_path) as client:
        with pytest.raises(ReauthorizationRequired, match=r"'nobody' must re-authorise.*invalid_grant") as bad_code:
            client.access_token("nobody")
        assert re.search(TIKTOK_LOG_ID, str(bad_code.value))
        client._client_secret = type(client._client_secret)("wrong")
        with pytest.raises(TikTokApiError) as bad_secret:
            client.access_token(username)
    assert bad_secret.value.code == "invalid_client" and not isinstance(bad_secret.value, ReauthorizationRequired)
    assert re.search(TIKTOK_LOG_ID, str(bad_secret.value)) and "bad answer" not in str(bad_secret.value)


def test_a_creator_who_must_reauthorise_is_counted_and_the_window_goes_on(tmp_path):
    sim = Simulator(WorldConfig(seed=7))
    revoked, other = (c.username for c in sim.world.creators()[:2])
    with serve_in_thread(sim) as url, make_client(url, tmp_path) as client:
        token = client.access_token(revoked).get_secret_value()
        form = {"client_key": "sim-client", "client_secret": "sim-secret", "token": token}
        assert httpx.post(f"{url}/v2/oauth/revoke/", data=form).status_code == 200  # the creator removed the app
        observed = observe(client, [revoked, other], tmp_path / "landing")
        asked = oauth_requests(sim)
        again = collect.collect_window(client, [revoked, other], AS_OF, AS_OF, timedelta(days=7))
    (window,) = observed.windows
    assert window.landed.reauthorise == {revoked: "invalid_grant"}
    assert "tiktok-pipeline tokens add" in window.failures[revoked] and other not in window.failures
    assert not window.parsed.videos.filter(window.parsed.videos["creator_username"] == other).is_empty()
    figures = window_figures.raw_video_figures(observed)[window.key]
    assert figures["creators_to_reauthorise"] == 1 and figures["creator_failures"] == 1
    assert again.reauthorise == {revoked: "invalid_grant"} and oauth_requests(sim) == asked  # not asked again


def test_a_scope_the_creator_did_not_grant_is_a_reauthorisation_not_a_retry(tmp_path):
    sim = Simulator(WorldConfig(seed=7))
    username = sim.world.creators()[0].username
    with serve_in_thread(sim) as url, make_client(url, tmp_path) as client:
        client._unattended_code = lambda user: simulator_code(user) + ":user.info.basic,user.info.profile"
        with pytest.raises(ReauthorizationRequired) as refused:
            client.call(username, "user/info", fields=("open_id", "follower_count"), as_of=AS_OF)
    assert refused.value.code == "scope_not_authorized" and refused.value.call.attempts == 1
    assert refused.value.call.status == 401 and client.stats["token_refreshes"] == 0
    assert f"tiktok-pipeline tokens add {username}" in str(refused.value)


def test_the_stored_refresh_expiry_is_the_remaining_lifetime_tiktok_gives(tmp_path):
    clock = Clock()
    sim = Simulator(WorldConfig(seed=7), clock=clock.epoch, access_token_ttl=HOUR, refresh_token_ttl=30 * HOUR)
    username = sim.world.creators()[0].username
    authorised = clock.dt()
    with serve_in_thread(sim) as url, make_client(url, tmp_path, clock=clock) as client:
        user_info(client, username)
        horizon = authorised + timedelta(hours=30)
        assert abs(client.tokens.get(username).refresh_expires_at - horizon) < timedelta(seconds=2)
        for _ in range(3):  # each refresh rotates the token; the horizon stays where it was
            clock.now += 2 * HOUR
            user_info(client, username)
        assert client.stats["token_refreshes"] == 3
        assert abs(client.tokens.get(username).refresh_expires_at - horizon) < timedelta(seconds=2)
    stored = json.loads((tmp_path / "tokens.json").read_text())[username]
    assert stored["refresh_expires_at"].startswith(horizon.isoformat()[:16])


def test_short_pages_while_has_more_lose_no_video(tmp_path):
    horizon = timedelta(days=7)
    oldest = (AS_OF - horizon).timestamp()

    def discovered(rate: float) -> tuple[list[str], int]:
        world = WorldConfig(seed=7, creators=2, mean_post_interval_hours=2.0)  # more than a page within the horizon
        sim = Simulator(world, FaultConfig(rate_short_page=rate, seed=5))
        calls: list = []
        with serve_in_thread(sim) as url, make_client(url, tmp_path) as client:
            for creator in sim.world.creators():
                stop = collect.discover_creator(client, creator.username, AS_OF, horizon, calls)
                assert stop in (collect.END_OF_LIST, collect.HORIZON)
        pages = [c for c in calls if c.endpoint == "video/list"]
        videos = [v for c in pages for v in c.payload["data"]["videos"]]
        return [v["id"] for v in videos if v["create_time"] >= oldest], len(pages)

    full, full_pages = discovered(0.0)
    short, short_pages = discovered(1.0)
    assert short == full and short_pages > full_pages  # every page short, nothing lost, nothing repeated
    assert len(set(short)) == len(short) and len(short) > 20


def test_login_kit_with_pkce_then_revoke_through_the_client(tmp_path):
    from urllib.parse import parse_qs, urlsplit

    from tiktok_pipeline.simulator.authorize import s256

    redirect, verifier = "https://app.example/callback", "v" * 43 + "-pkce-verifier"
    sim = Simulator(WorldConfig(seed=7), redirect_uris=frozenset({redirect}))
    username = sim.world.creators()[0].username
    with serve_in_thread(sim) as url, make_client(url, tmp_path, simulator=False) as client:
        scope = "user.info.basic,user.info.profile,video.list"
        query = dict(client_key="sim-client", response_type="code", scope=scope, redirect_uri=redirect, state="s")
        pkce = dict(code_challenge=s256(verifier), code_challenge_method="S256")
        consent = httpx.get(f"{url}/v2/auth/authorize/", params={**query, **pkce, "sim_user": username})
        code = parse_qs(urlsplit(consent.headers["location"]).query)["code"][0]
        with pytest.raises(ReauthorizationRequired, match="invalid_grant"):  # the verifier is required
            client.exchange_code(username, code, redirect_uri=redirect)
        client.exchange_code(username, code, redirect_uri=redirect, code_verifier=verifier)
        access = client.tokens.get(username).access_token.get_secret_value()
        assert client.call(username, "user/info", fields=("open_id", "username"), as_of=AS_OF).status == 200

        client.revoke(username)
        assert sim.stats["oauth revoke"] == 1 and client.tokens.get(username) is None
        after = httpx.get(
            f"{url}/v2/user/info/", params={"fields": "open_id"}, headers={"Authorization": f"Bearer {access}"}
        )
        assert after.status_code == 401 and after.json()["error"]["code"] == "access_token_invalid"
        with pytest.raises(TikTokApiError, match="no OAuth tokens stored"):
            client.revoke(username)


def test_tokens_revoke_command_against_a_served_simulator(tmp_path, monkeypatch, capsys):
    from tiktok_pipeline.cli import main

    sim = Simulator(WorldConfig(seed=7))
    username = sim.world.creators()[0].username
    with serve_in_thread(sim) as url:
        with make_client(url, tmp_path) as client:
            client.access_token(username)  # authorised (unattended, as the simulator allows)
        monkeypatch.setenv("TIKTOK_API_BASE_URL", url)
        monkeypatch.setenv("TIKTOK_API_IS_SIMULATOR", "true")
        monkeypatch.setenv("TIKTOK_TOKEN_STORE_PATH", str(tmp_path / "tokens.json"))
        monkeypatch.setenv("TIKTOK_WAREHOUSE_PATH", str(tmp_path / "warehouse.duckdb"))  # its call is recorded there
        monkeypatch.setenv("TIKTOK_LANDING_DIR", str(tmp_path / "landing"))
        assert main(["tokens", "revoke", username]) == 0
        assert sim.stats["oauth revoke"] == 1
        assert main(["tokens", "revoke", username]) == 1  # nothing stored any more
    assert "no OAuth tokens stored" in capsys.readouterr().err


class TokenAnswer(Simulator):
    """The simulator, except that ``/v2/oauth/token/`` answers ``status`` and ``body``."""

    def __init__(self, status: int, body: dict) -> None:
        super().__init__(WorldConfig(seed=7))
        self.status, self.body = status, body

    def handle(self, request: httpx.Request) -> httpx.Response:
        if request.url.path.rstrip("/") == "/v2/oauth/token":
            return httpx.Response(self.status, json=self.body)
        return super().handle(request)


@pytest.mark.parametrize(
    ("status", "body", "code"),
    [
        (200, {"error": "invalid_grant", "error_description": "Refresh token is invalid."}, "invalid_grant"),
        (200, {"data": {}, "error": {"code": "access_token_invalid", "message": "x", "log_id": "L1"}}, None),
        (200, {"data": {"error_code": 10010, "description": "Refresh token expired"}, "message": "error"}, None),
        (503, {"error": "server_error", "error_description": "try later"}, None),
    ],
    ids=["flat", "envelope", "v1", "5xx-with-error-body"],
)
def test_every_shape_of_refusal_is_named_never_a_bad_answer(tmp_path, status, body, code):
    sim = TokenAnswer(status, body)
    with (
        serve_in_thread(sim) as url,
        make_client(url, tmp_path, max_attempts=2) as client,
        pytest.raises(TikTokApiError) as refused,
    ):
        client.access_token("alice")
    text = str(refused.value)
    assert "alice" in text and "bad answer" not in text and "validation error" not in text
    assert isinstance(refused.value, ReauthorizationRequired) is (code == "invalid_grant")
    expected = body.get("error") if isinstance(body.get("error"), str) else None
    for word in filter(None, [expected, str(body.get("data", {}).get("error_code", "")) or None]):
        assert word in text


def test_a_malformed_token_answer_names_its_fields_and_never_its_tokens(tmp_path):
    body = {"access_token": "act.LEAKME", "expires_in": "7200", "open_id": "o", "refresh_token": "rft.LEAKME"}
    with (
        serve_in_thread(TokenAnswer(200, body)) as url,
        make_client(url, tmp_path) as client,
        pytest.raises(TikTokApiError) as bad,
    ):
        client.access_token("alice")
    text = str(bad.value)
    assert "expires_in" in text and "refresh_expires_in" in text and "LEAKME" not in text
    assert bad.value.code == "bad_token_answer" and client.tokens.get("alice") is None
