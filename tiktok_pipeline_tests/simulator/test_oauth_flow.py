"""OAuth as TikTok runs it: a fixed refresh horizon, redirect_uri and PKCE bound at authorization, revocation."""

from __future__ import annotations

import base64
import hashlib
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from tiktok_pipeline.simulator.app import Simulator

from .conftest import exchange_code
from .test_oauth import FIELDS, assert_oauth_error, refresh

REDIRECT = "https://app.example/callback"
VERIFIER = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk-and-some-more-entropy"


def challenge(verifier: str) -> str:
    """RFC 7636 S256: base64url(SHA-256(verifier)) without padding."""
    return base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).decode().rstrip("=")


@pytest.fixture
def sim(clock) -> Simulator:
    return Simulator(clock=clock, redirect_uris=frozenset({REDIRECT}))


def authorize(client: httpx.Client, username: str, **params: str) -> httpx.Response:
    query = {
        "client_key": "sim-client",
        "response_type": "code",
        "scope": "user.info.basic,video.list",
        "redirect_uri": REDIRECT,
        "state": "xyz",
        "code_challenge": challenge(VERIFIER),
        "code_challenge_method": "S256",
        "sim_user": username,
        **params,
    }
    return client.get("/v2/auth/authorize/", params=query)


def code_of(response: httpx.Response) -> str:
    assert response.status_code == 302, response.text
    location = urlsplit(response.headers["location"])
    assert f"{location.scheme}://{location.netloc}{location.path}" == REDIRECT
    query = parse_qs(location.query)
    assert query["state"] == ["xyz"]
    return query["code"][0]


def test_refresh_horizon_is_fixed_at_first_issuance_and_reported_as_remaining(clock, make_client, username):
    client = make_client(Simulator(clock=clock, refresh_token_ttl=1000))
    first = exchange_code(client, username).json()
    assert first["refresh_expires_in"] == 1000
    clock.now += 400
    second = refresh(client, first["refresh_token"]).json()
    assert second["refresh_expires_in"] == 600  # the remaining lifetime, not a renewed one
    clock.now += 300
    third = refresh(client, second["refresh_token"]).json()
    assert third["refresh_expires_in"] == 300 and third["refresh_token"] != second["refresh_token"]  # rotation stays
    clock.now += 301
    assert_oauth_error(refresh(client, third["refresh_token"]), "invalid_grant")  # the chain has ended
    fresh = exchange_code(client, username).json()  # a new authorization starts a new horizon
    assert fresh["refresh_expires_in"] == 1000


def test_authorization_binds_redirect_uri_and_pkce(client, username, sim: Simulator):
    code = code_of(authorize(client, username))
    assert_oauth_error(
        exchange_code(client, username, code=code, redirect_uri="https://evil.example/cb"), "invalid_grant"
    )
    assert_oauth_error(
        exchange_code(client, username, code=code, redirect_uri=REDIRECT), "invalid_grant"
    )  # no verifier
    wrong = exchange_code(client, username, code=code, redirect_uri=REDIRECT, code_verifier=VERIFIER + "x")
    assert_oauth_error(wrong, "invalid_grant")
    granted = exchange_code(client, username, code=code, redirect_uri=REDIRECT, code_verifier=VERIFIER)
    assert granted.status_code == 200 and granted.json()["open_id"] == sim.world.creator(username).open_id
    assert granted.json()["scope"] == "user.info.basic,video.list"
    again = exchange_code(client, username, code=code, redirect_uri=REDIRECT, code_verifier=VERIFIER)
    assert_oauth_error(again, "invalid_grant")  # a code is used once


def test_authorization_codes_expire(client, clock, username):
    code = code_of(authorize(client, username))
    clock.now += 601
    assert_oauth_error(
        exchange_code(client, username, code=code, redirect_uri=REDIRECT, code_verifier=VERIFIER), "invalid_grant"
    )


def test_authorization_step_refuses_what_tiktok_refuses(client, username):
    unregistered = authorize(client, username, redirect_uri="https://evil.example/cb")
    assert unregistered.status_code == 400 and "location" not in unregistered.headers  # never redirected there
    assert unregistered.json()["error"] == "invalid_request"
    for params in ({"code_challenge_method": "plain"}, {"client_key": ""}, {"response_type": "token"}):
        refused = urlsplit(authorize(client, username, **params).headers["location"])
        assert parse_qs(refused.query)["error"] == ["invalid_request"], params
    bad_scope = urlsplit(authorize(client, username, scope="user.info.basic,video.upload").headers["location"])
    assert parse_qs(bad_scope.query)["error"] == ["invalid_scope"]
    without_pkce = authorize(client, username, code_challenge="", code_challenge_method="")
    code = code_of(without_pkce)  # PKCE is optional (web apps); the redirect_uri is still bound
    assert exchange_code(client, username, code=code, redirect_uri=REDIRECT).status_code == 200


def revoke(client: httpx.Client, token: str, secret: str = "sim-secret") -> httpx.Response:
    form = {"client_key": "sim-client", "client_secret": secret, "token": token}
    return client.post("/v2/oauth/revoke/", data=form)


def test_revoke_ends_the_creators_tokens(client, username):
    tokens = exchange_code(client, username).json()
    headers = {"Authorization": f"Bearer {tokens['access_token']}"}
    assert client.get("/v2/user/info/", params=FIELDS, headers=headers).status_code == 200
    assert_oauth_error(revoke(client, tokens["access_token"], secret="wrong"), "invalid_client")
    revoked = revoke(client, tokens["access_token"])
    assert revoked.status_code == 200 and revoked.headers["x-tt-logid"]
    after = client.get("/v2/user/info/", params=FIELDS, headers=headers)
    assert after.status_code == 401 and after.json()["error"]["code"] == "access_token_invalid"
    assert_oauth_error(refresh(client, tokens["refresh_token"]), "invalid_grant")
    assert_oauth_error(revoke(client, "act.forged.token"), "invalid_request")
    renewed = exchange_code(client, username).json()  # the creator authorises again: new tokens work
    headers = {"Authorization": f"Bearer {renewed['access_token']}"}
    assert client.get("/v2/user/info/", params=FIELDS, headers=headers).status_code == 200
