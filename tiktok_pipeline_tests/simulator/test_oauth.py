"""OAuth: code exchange, refresh rotation, expiry on the wall clock, restarts and errors (HTTP 200, like TikTok)."""

from __future__ import annotations

import httpx

from tiktok_pipeline.simulator.app import Simulator

from .conftest import exchange_code

FIELDS = {"fields": "open_id"}


def refresh(client: httpx.Client, token: str, secret: str = "sim-secret") -> httpx.Response:
    form = {"client_key": "sim-client", "client_secret": secret, "grant_type": "refresh_token", "refresh_token": token}
    return client.post("/v2/oauth/token/", data=form)


def assert_oauth_error(response: httpx.Response, error: str) -> None:
    body = response.json()
    assert response.status_code == 200 and body["error"] == error, body  # TikTok answers OAuth errors with 200
    assert body["error_description"] and body["log_id"] == response.headers["x-tt-logid"]


def test_code_exchange_returns_a_flat_token_response(client, sim: Simulator, username):
    response = exchange_code(client, username)
    body = response.json()
    assert response.status_code == 200
    assert set(body) == {
        "access_token",
        "expires_in",
        "open_id",
        "refresh_token",
        "refresh_expires_in",
        "scope",
        "token_type",
    }
    assert body["access_token"].startswith("act.") and body["refresh_token"].startswith("rft.")
    assert body["expires_in"] == 7200 and body["refresh_expires_in"] == 180 * 86400 and body["token_type"] == "Bearer"
    assert body["open_id"] == sim.world.creator(username).open_id
    assert {"user.info.basic", "user.info.stats", "video.list"} <= set(body["scope"].split(","))
    assert sim.stats["oauth authorization_code"] == 1


def test_refresh_rotates_and_the_old_refresh_token_stops_working(client, username):
    first = exchange_code(client, username).json()
    second = refresh(client, first["refresh_token"])
    assert second.status_code == 200
    rotated = second.json()
    assert rotated["refresh_token"] != first["refresh_token"] and rotated["access_token"] != first["access_token"]
    assert_oauth_error(refresh(client, first["refresh_token"]), "invalid_grant")
    third = refresh(client, rotated["refresh_token"])
    assert third.status_code == 200
    assert_oauth_error(refresh(client, rotated["refresh_token"]), "invalid_grant")
    headers = {"Authorization": f"Bearer {third.json()['access_token']}"}
    assert client.get("/v2/user/info/", params=FIELDS, headers=headers).status_code == 200


def test_access_token_expires_on_the_wall_clock(client, clock, username):
    token = exchange_code(client, username).json()
    headers = {"Authorization": f"Bearer {token['access_token']}", "X-Simulator-As-Of": str(clock.now - 86400)}
    assert client.get("/v2/user/info/", params=FIELDS, headers=headers).status_code == 200
    clock.now += token["expires_in"] + 1  # the as-of header does not matter for expiry
    expired = client.get("/v2/user/info/", params=FIELDS, headers=headers)
    assert expired.status_code == 401 and expired.json()["error"]["code"] == "access_token_invalid"
    renewed = refresh(client, token["refresh_token"]).json()
    headers["Authorization"] = f"Bearer {renewed['access_token']}"
    assert client.get("/v2/user/info/", params=FIELDS, headers=headers).status_code == 200


def test_refresh_token_expires(clock, make_client, username):
    client = make_client(Simulator(clock=clock, refresh_token_ttl=100))
    token = exchange_code(client, username).json()["refresh_token"]
    clock.now += 101
    assert_oauth_error(refresh(client, token), "invalid_grant")


def test_tokens_survive_a_restart(clock, make_client, username):
    token = exchange_code(make_client(Simulator(clock=clock)), username).json()
    restarted = make_client(Simulator(clock=clock))
    headers = {"Authorization": f"Bearer {token['access_token']}"}
    assert restarted.get("/v2/user/info/", params=FIELDS, headers=headers).status_code == 200
    assert refresh(restarted, token["refresh_token"]).status_code == 200
    assert_oauth_error(refresh(restarted, token["refresh_token"]), "invalid_grant")
    other_secret = make_client(Simulator(clock=clock, client_secret="other"))
    assert other_secret.get("/v2/user/info/", params=FIELDS, headers=headers).status_code == 401


def test_oauth_errors(client, username):
    assert_oauth_error(exchange_code(client, username, code="sim-code-nobody"), "invalid_grant")
    assert_oauth_error(exchange_code(client, username, code="real-code"), "invalid_grant")
    assert_oauth_error(exchange_code(client, username, client_secret="wrong"), "invalid_client")
    assert_oauth_error(exchange_code(client, username, grant_type=""), "invalid_request")
    assert_oauth_error(exchange_code(client, username, code=""), "invalid_request")
    assert_oauth_error(refresh(client, "rft.forged.token"), "invalid_grant")
    assert_oauth_error(client.get("/v2/oauth/token/"), "invalid_request")
