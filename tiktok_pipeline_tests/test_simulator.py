"""The offline simulator: envelope, pagination, fields, limits, OAuth rotation, determinism, faults."""

import json
import subprocess
import sys

import httpx
import pytest

from tiktok_pipeline.simulator.app import Simulator
from tiktok_pipeline.simulator.cli import main as sim_cli
from tiktok_pipeline.simulator.faults import FaultConfig
from tiktok_pipeline.simulator.server import serve_in_thread
from tiktok_pipeline.simulator.world import World, WorldConfig

from .conftest import T0

AS_OF = T0.timestamp()
LIST = "/v2/video/list/?fields=id,create_time,view_count"
QUERY = "/v2/video/query/?fields=id,view_count,like_count"


class Clock:
    def __init__(self, now: float = 1_800_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def connect(sim: Simulator, creator: int = 0) -> tuple[httpx.Client, str]:
    """An httpx client on the in-process transport, authorised as the given creator."""
    username = sim.world.creators()[creator].username
    http = httpx.Client(base_url="http://sim", transport=sim.transport())
    grant = http.post(
        "/v2/oauth/token/",
        data={"client_key": "k", "client_secret": "sim-secret", "grant_type": "authorization_code",
              "code": f"sim-code-{username}", "redirect_uri": "https://example.invalid/cb"},
    ).json()
    http.headers.update({"Authorization": f"Bearer {grant['access_token']}", "X-Simulator-As-Of": str(AS_OF)})
    return http, username


def test_envelope_on_success_and_errors():
    sim = Simulator()
    http, _ = connect(sim)
    ok = http.get("/v2/user/info/?fields=open_id,username,follower_count")
    body = ok.json()
    assert ok.status_code == 200 and body["error"]["code"] == "ok" and body["error"]["log_id"]
    assert set(body["data"]["user"]) == {"open_id", "username", "follower_count"}
    assert ok.headers["x-tt-logid"] == body["error"]["log_id"]
    cases = [
        (http.get("/v2/user/info/?fields=open_id,shoe_size"), 400, "invalid_params"),
        (http.get("/v2/user/info/"), 400, "invalid_params"),
        (http.post(LIST, json={"max_count": 21}), 400, "invalid_params"),
        (http.post(LIST, content=b"{not json"), 400, "invalid_params"),
        (http.post(QUERY, json={"filters": {"video_ids": [str(i) for i in range(21)]}}), 400, "invalid_params"),
        (http.get("/v2/user/info/?fields=open_id", headers={"Authorization": "Bearer act.forged.sig"}), 401,
         "access_token_invalid"),
    ]
    for response, status, code in cases:
        assert response.status_code == status, response.text
        assert response.json()["error"]["code"] == code and response.json()["data"] == {}


def test_video_list_paginates_newest_first_without_duplicates():
    sim = Simulator()
    http, username = connect(sim)
    seen, cursor, pages = [], None, 0
    while True:
        body = {"max_count": 4} | ({"cursor": cursor} if cursor else {})
        data = http.post(LIST, json=body).json()["data"]
        pages += 1
        assert len(data["videos"]) <= 4
        seen += data["videos"]
        cursor = data["cursor"]
        if not data["has_more"]:
            break
    truth = sim.world.videos_as_of(username, AS_OF)
    assert [v["id"] for v in seen] == [v.id for v in truth]
    assert len({v["id"] for v in seen}) == len(seen) and pages >= 3
    times = [v["create_time"] for v in seen]
    assert times == sorted(times, reverse=True) and max(times) <= AS_OF


def test_video_query_returns_only_own_videos_with_true_counts():
    sim = Simulator()
    http, username = connect(sim)
    mine = [v.id for v in sim.world.videos_as_of(username, AS_OF)][:3]
    theirs = sim.world.videos_as_of(sim.world.creators()[1].username, AS_OF)[0].id
    videos = http.post(QUERY, json={"filters": {"video_ids": [*mine, theirs, "123"]}}).json()["data"]["videos"]
    assert sorted(v["id"] for v in videos) == sorted(mine)
    for video in videos:
        truth = sim.world.counts(video["id"], AS_OF)
        assert (video["view_count"], video["like_count"]) == (truth.view_count, truth.like_count)
        assert set(video) == {"id", "view_count", "like_count"}


@pytest.mark.parametrize("retry_after", [True, False])
def test_sliding_window_rate_limit_per_endpoint(retry_after):
    clock = Clock()
    sim = Simulator(faults=FaultConfig(send_retry_after=retry_after), clock=clock, rate_limit=3, rate_window_seconds=60)
    http, _ = connect(sim)
    for _ in range(3):
        assert http.get("/v2/user/info/?fields=open_id").status_code == 200
    clock.now += 20
    throttled = http.get("/v2/user/info/?fields=open_id")
    assert throttled.status_code == 429 and throttled.json()["error"]["code"] == "rate_limit_exceeded"
    assert throttled.headers.get("Retry-After") == ("40" if retry_after else None)
    assert http.post(LIST, json={}).status_code == 200  # other endpoints have their own window
    clock.now += 40  # the first three slide out of the window
    assert http.get("/v2/user/info/?fields=open_id").status_code == 200


def test_refresh_rotation_and_expiry():
    clock = Clock()
    sim = Simulator(clock=clock, access_token_ttl=100)
    http = httpx.Client(base_url="http://sim", transport=sim.transport())
    username = sim.world.creators()[0].username
    form = {"client_key": "k", "client_secret": "sim-secret"}
    first = http.post("/v2/oauth/token/", data={**form, "grant_type": "authorization_code", "code": f"sim-code-{username}"}).json()
    assert first["expires_in"] == 100 and first["token_type"] == "Bearer"
    second = http.post("/v2/oauth/token/", data={**form, "grant_type": "refresh_token", "refresh_token": first["refresh_token"]})
    assert second.status_code == 200
    reused = http.post("/v2/oauth/token/", data={**form, "grant_type": "refresh_token", "refresh_token": first["refresh_token"]})
    assert reused.status_code == 400 and reused.json()["error"] == "invalid_grant" and reused.json()["log_id"]
    wrong_secret = http.post("/v2/oauth/token/", data={**form, "client_secret": "x", "grant_type": "refresh_token",
                                                      "refresh_token": second.json()["refresh_token"]})
    assert wrong_secret.json()["error"] == "invalid_client"
    bearer = {"Authorization": f"Bearer {second.json()['access_token']}"}
    assert http.get("/v2/user/info/?fields=open_id", headers=bearer).status_code == 200
    clock.now += 101
    expired = http.get("/v2/user/info/?fields=open_id", headers=bearer)
    assert expired.status_code == 401 and expired.json()["error"]["code"] == "access_token_invalid"
    # tokens are signed, not stored: a restarted simulator still accepts the newest refresh token
    restarted = Simulator(clock=clock)
    again = httpx.Client(base_url="http://sim", transport=restarted.transport()).post(
        "/v2/oauth/token/", data={**form, "grant_type": "refresh_token", "refresh_token": second.json()["refresh_token"]})
    assert again.status_code == 200


def test_world_is_deterministic_across_instances_and_processes():
    a, b, c = World(WorldConfig(seed=7)), World(WorldConfig(seed=7)), World(WorldConfig(seed=8))
    user = a.creators()[0].username
    ids = [v.id for v in a.videos_as_of(user, AS_OF)]
    assert ids == [v.id for v in b.videos_as_of(user, AS_OF)]
    assert ids != [v.id for v in c.videos_as_of(c.creators()[0].username, AS_OF)]
    here = [a.counts(i, AS_OF).view_count for i in ids]
    code = (
        "from tiktok_pipeline.simulator.world import World, WorldConfig;"
        f"w = World(WorldConfig(seed=7)); print([w.counts(i, {AS_OF}).view_count for i in {ids!r}])"
    )
    there = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert json.loads(there) == here


def test_counts_never_go_down_and_corrections_drop_once():
    grid = [AS_OF - 86400 * 3 + 600 * k for k in range(6 * 24 * 3)]
    world = World(WorldConfig(seed=7))
    for creator in world.creators():
        for video in world.videos_as_of(creator.username, AS_OF):
            series = [world.counts(video.id, t) for t in grid]
            for field in ("view_count", "like_count", "comment_count", "share_count"):
                values = [getattr(s, field) for s in series]
                assert values == sorted(values), (video.id, field)
    corrected = World(WorldConfig(seed=7, correction_share=1.0))
    video = corrected.videos_as_of(corrected.creators()[0].username, AS_OF)[-1]
    views = [corrected.counts(video.id, video.create_time + 600 * k).view_count for k in range(6 * 50)]
    drops = [k for k in range(1, len(views)) if views[k] < views[k - 1]]
    assert len(drops) == 1


def test_viral_videos_surge_after_onset():
    world = World(WorldConfig(seed=7, viral_share=1.0))
    video = world.videos_as_of(world.creators()[0].username, AS_OF)[-1]
    onset = video.viral_onset
    before = world.counts(video.id, onset).view_count - world.counts(video.id, onset - 1800).view_count
    after = world.counts(video.id, onset + 1800).view_count - world.counts(video.id, onset).view_count
    assert after > 5 * max(before, 1)


def test_faults_are_injected_at_roughly_their_rates():
    sim = Simulator(faults=FaultConfig(rate_429=0.2, rate_5xx=0.2, rate_malformed=0.3, seed=5))
    http, username = connect(sim)
    statuses = [http.get("/v2/user/info/?fields=open_id").status_code for _ in range(300)]
    assert 30 < statuses.count(429) < 90 and 30 < sum(s >= 500 for s in statuses) < 90
    ids = [v.id for v in sim.world.videos_as_of(username, AS_OF)][:20]
    records = []
    for _ in range(30):
        response = http.post("/v2/video/query/?fields=id,create_time,view_count,like_count", json={"filters": {"video_ids": ids}})
        if response.status_code == 200:
            records += response.json()["data"]["videos"]
    good = sum(isinstance(r.get("id"), str) and isinstance(r.get("view_count"), int) and isinstance(r.get("create_time"), int)
               and r.get("like_count", 0) >= 0 for r in records)
    assert 0.15 < 1 - good / len(records) < 0.45


def test_same_answers_in_process_and_over_http_and_timeouts_in_both():
    in_process = Simulator()
    http, _ = connect(in_process)
    token = http.headers["Authorization"]
    local = http.post(LIST, json={"max_count": 5}).json()["data"]
    with serve_in_thread(Simulator()) as url:
        remote = httpx.post(f"{url}{LIST}", json={"max_count": 5},
                            headers={"Authorization": token, "X-Simulator-As-Of": str(AS_OF)}).json()["data"]
    assert local == remote

    slow = Simulator(faults=FaultConfig(rate_timeout=1.0))
    with pytest.raises(httpx.ReadTimeout):
        httpx.Client(base_url="http://sim", transport=slow.transport()).get("/v2/user/info/?fields=open_id", headers={"Authorization": token})
    with serve_in_thread(slow, timeout_seconds=2.0) as url, pytest.raises(httpx.ReadTimeout):
        httpx.get(f"{url}/v2/user/info/?fields=open_id", headers={"Authorization": token}, timeout=0.3)


def test_cli_truth_prints_ground_truth(capsys):
    world = World()
    video = world.videos_as_of(world.creators()[0].username, AS_OF)[0]
    assert sim_cli(["truth", "--video-id", video.id, "--at", T0.isoformat()]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert printed["view_count"] == world.counts(video.id, AS_OF).view_count
    assert sim_cli(["truth", "--video-id", "1", "--at", T0.isoformat()]) == 1
