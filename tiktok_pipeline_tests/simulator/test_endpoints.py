"""Data endpoints in process: envelopes, pagination, field selection, scopes and ownership."""

from __future__ import annotations

import re

import httpx
import pytest

from tiktok_pipeline.simulator.app import Simulator
from tiktok_pipeline.simulator.faults import FaultConfig
from tiktok_pipeline.simulator.fields import VIDEO_FIELD_SCOPES

from .conftest import AS_OF, bearer

LIST_FIELDS = {"fields": "id,create_time,view_count"}


def assert_error(response: httpx.Response, status: int, code: str) -> None:
    body = response.json()
    assert response.status_code == status, body
    assert body["data"] == {} and body["error"]["code"] == code and body["error"]["message"]
    assert body["error"]["log_id"] == response.headers["x-tt-logid"]


def test_user_info_success_envelope(client, auth, sim: Simulator, username):
    response = client.get(
        "/v2/user/info/", params={"fields": "open_id,username,follower_count,video_count"}, headers=auth
    )
    body = response.json()
    assert response.status_code == 200 and set(body) == {"data", "error"}
    assert body["error"]["code"] == "ok" and body["error"]["message"] == ""
    assert re.fullmatch(r"20\d{12}[0-9A-F]{20}", body["error"]["log_id"])  # TikTok's: YYYYMMDDHHMMSS + hex
    assert body["error"]["log_id"] == response.headers["x-tt-logid"]
    creator = sim.world.creator(username)
    stats = sim.world.user_stats(username, AS_OF)
    assert body["data"]["user"] == {
        "open_id": creator.open_id,
        "username": username,
        "follower_count": stats["follower_count"],
        "video_count": stats["video_count"],
    }


def test_log_ids_are_unique(client, auth):
    ids = {
        client.get("/v2/user/info/", params={"fields": "open_id"}, headers=auth).json()["error"]["log_id"]
        for _ in range(20)
    }
    assert len(ids) == 20


def test_video_list_paginates_newest_first_like_the_world(client, auth, sim: Simulator, username):
    seen, cursor, pages = [], None, 0
    while True:
        body = {"max_count": 7} | ({"cursor": cursor} if cursor is not None else {})
        data = client.post("/v2/video/list/", params=LIST_FIELDS, json=body, headers=auth).json()["data"]
        assert len(data["videos"]) <= 7
        seen += data["videos"]
        pages += 1
        if not data["has_more"]:
            break
        assert data["cursor"] == data["videos"][-1]["create_time"] * 1000
        cursor = data["cursor"]
    truth = sim.world.videos_as_of(username, AS_OF)
    assert pages > 1 and [v["id"] for v in seen] == [v.id for v in truth]
    assert len({v["id"] for v in seen}) == len(seen)
    assert [v["view_count"] for v in seen] == [sim.world.counts(v.id, AS_OF).view_count for v in truth]


def test_short_pages_while_has_more_lose_nothing(clock, make_client):
    sim = Simulator(clock=clock)  # short pages are TikTok's default behaviour
    client = make_client(sim)
    sizes = []
    for creator in sim.world.creators():
        auth = bearer(client, creator.username)
        seen, cursor = [], None
        while True:
            body = {"max_count": 3} | ({"cursor": cursor} if cursor is not None else {})
            data = client.post("/v2/video/list/", params=LIST_FIELDS, json=body, headers=auth).json()["data"]
            seen += data["videos"]
            if not data["has_more"]:
                break
            sizes.append(len(data["videos"]))
            cursor = data["cursor"]
        assert [v["id"] for v in seen] == [v.id for v in sim.world.videos_as_of(creator.username, AS_OF)]
    assert any(0 < size < 3 for size in sizes), f"no short page while has_more: {sizes}"


def test_video_list_default_and_maximum_page_size(clock, make_client, username):
    client = make_client(Simulator(clock=clock, faults=FaultConfig(rate_short_page=0.0)))
    auth = bearer(client, username)
    default = client.post("/v2/video/list/", params=LIST_FIELDS, json={}, headers=auth).json()["data"]
    assert len(default["videos"]) == 10
    largest = client.post("/v2/video/list/", params=LIST_FIELDS, json={"max_count": 20}, headers=auth)
    assert len(largest.json()["data"]["videos"]) <= 20
    assert_error(
        client.post("/v2/video/list/", params=LIST_FIELDS, json={"max_count": 21}, headers=auth), 400, "invalid_params"
    )


def test_video_list_cursor_is_strict(client, auth):
    first = client.post("/v2/video/list/", params=LIST_FIELDS, json={"max_count": 1}, headers=auth).json()["data"]
    newest = first["videos"][0]
    body = {"max_count": 1, "cursor": newest["create_time"] * 1000}
    second = client.post("/v2/video/list/", params=LIST_FIELDS, json=body, headers=auth).json()["data"]
    assert second["videos"][0]["id"] != newest["id"]


def test_as_of_header_controls_visibility(client, auth, sim: Simulator, username):
    newest = sim.world.videos_as_of(username, AS_OF)[0]
    before = {**auth, "X-Simulator-As-Of": str(newest.create_time - 1)}
    data = client.post("/v2/video/list/", params=LIST_FIELDS, json={"max_count": 20}, headers=before).json()["data"]
    assert newest.id not in {v["id"] for v in data["videos"]}
    query = {"filters": {"video_ids": [newest.id]}}
    assert (
        client.post("/v2/video/query/", params=LIST_FIELDS, json=query, headers=before).json()["data"]["videos"] == []
    )


def test_fields_filtering_and_unknown_or_missing_fields(client, auth):
    every = ",".join(VIDEO_FIELD_SCOPES)
    videos = client.post("/v2/video/list/", params={"fields": every}, json={"max_count": 2}, headers=auth).json()[
        "data"
    ]["videos"]
    assert all(set(v) == set(VIDEO_FIELD_SCOPES) for v in videos)
    only = client.post("/v2/video/list/", params={"fields": "id,title"}, json={"max_count": 2}, headers=auth)
    assert all(set(v) == {"id", "title"} for v in only.json()["data"]["videos"])
    assert_error(
        client.post("/v2/video/list/", params={"fields": "id,plays"}, json={}, headers=auth), 400, "invalid_params"
    )
    assert_error(client.post("/v2/video/list/", json={}, headers=auth), 400, "invalid_params")
    assert_error(client.get("/v2/user/info/", params={"fields": "open_id,nope"}, headers=auth), 400, "invalid_params")


def test_video_query_returns_only_own_videos(client, auth, sim: Simulator, username):
    own = [v.id for v in sim.world.videos_as_of(username, AS_OF)[:5]]
    other = sim.world.creators()[1].username
    foreign = [v.id for v in sim.world.videos_as_of(other, AS_OF)[:3]]
    body = {"filters": {"video_ids": foreign + own + ["7000000000000000001"]}}
    response = client.post("/v2/video/query/", params={"fields": "id,view_count"}, json=body, headers=auth)
    videos = response.json()["data"]["videos"]
    assert response.status_code == 200 and [v["id"] for v in videos] == own
    assert all(v["view_count"] == sim.world.counts(v["id"], AS_OF).view_count for v in videos)


def test_video_query_limits_and_validation(client, auth, sim: Simulator, username):
    # video/query also finds own videos older than video/list's history
    older = sim.world.videos_as_of(username, AS_OF - 7 * 86400)
    ids = list(dict.fromkeys(v.id for v in sim.world.videos_as_of(username, AS_OF) + older))[:20]
    ok = client.post("/v2/video/query/", params={"fields": "id"}, json={"filters": {"video_ids": ids}}, headers=auth)
    assert [v["id"] for v in ok.json()["data"]["videos"]] == ids and len(ids) == 20
    too_many = {"filters": {"video_ids": ids + ["1"]}}
    assert_error(
        client.post("/v2/video/query/", params={"fields": "id"}, json=too_many, headers=auth), 400, "invalid_params"
    )
    assert_error(
        client.post("/v2/video/query/", params={"fields": "id"}, json={"filters": {}}, headers=auth),
        400,
        "invalid_params",
    )


def test_bad_json_body(client, auth):
    response = client.post("/v2/video/list/", params=LIST_FIELDS, content=b"{not json", headers=auth)
    assert_error(response, 400, "invalid_params")


@pytest.mark.parametrize("header", [None, "Bearer nope", "Bearer act.e30.AAAA", "Basic abc"])
def test_missing_or_invalid_token(client, header):
    headers = {"Authorization": header} if header else {}
    assert_error(
        client.get("/v2/user/info/", params={"fields": "open_id"}, headers=headers), 401, "access_token_invalid"
    )


def test_refresh_token_is_not_an_access_token(client, username):
    from .conftest import exchange_code

    refresh = exchange_code(client, username).json()["refresh_token"]
    response = client.get(
        "/v2/user/info/", params={"fields": "open_id"}, headers={"Authorization": f"Bearer {refresh}"}
    )
    assert_error(response, 401, "access_token_invalid")


def test_scope_not_granted_fails_the_whole_call(client, username):
    basic = bearer(client, username, scopes="user.info.basic,user.info.profile")
    assert client.get("/v2/user/info/", params={"fields": "open_id,username"}, headers=basic).status_code == 200
    assert_error(
        client.get("/v2/user/info/", params={"fields": "open_id,follower_count"}, headers=basic),
        401,
        "scope_not_authorized",
    )
    refused = client.get("/v2/user/info/", params={"fields": "open_id,follower_count"}, headers=basic).json()
    # what users report TikTok answering
    assert refused["error"]["message"] == "The user did not authorize the scope required for completing this request."
    assert_error(
        client.post("/v2/video/list/", params={"fields": "id"}, json={}, headers=basic), 401, "scope_not_authorized"
    )


def test_scope_not_approved_for_the_app(clock, make_client, username):
    sim = Simulator(clock=clock, approved_scopes=frozenset({"user.info.basic", "video.list"}))
    client = make_client(sim)
    headers = bearer(client, username)
    assert_error(
        client.get("/v2/user/info/", params={"fields": "username"}, headers=headers), 400, "scope_permission_missed"
    )


def test_unknown_path_and_wrong_method(client, auth):
    # TikTok's error list has no not_found: an unknown endpoint is invalid_params
    assert_error(client.get("/v2/video/search/", headers=auth), 400, "invalid_params")
    assert_error(client.get("/v2/video/list/", params=LIST_FIELDS, headers=auth), 400, "invalid_params")


def test_paths_without_trailing_slash(client, auth):
    assert client.get("/v2/user/info", params={"fields": "open_id"}, headers=auth).status_code == 200
