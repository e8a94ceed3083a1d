"""Real HTTP on loopback: the same answers as in process, timeouts, and the CLI."""

from __future__ import annotations

import json
import time

import httpx
import pytest

from tiktok_pipeline.simulator.app import Simulator
from tiktok_pipeline.simulator.business.events import SIM_PIXEL_CODE
from tiktok_pipeline.simulator.cli import build_simulator, main, parser
from tiktok_pipeline.simulator.faults import FaultConfig
from tiktok_pipeline.simulator.server import serve_in_thread
from tiktok_pipeline.simulator.world import World

from .conftest import AS_OF, BASE_URL, bearer


def without_log_ids(body: dict) -> dict:
    body = json.loads(json.dumps(body))
    if "error" in body and isinstance(body["error"], dict):
        body["error"].pop("log_id")
    return body


def scripted_calls(client: httpx.Client, username: str) -> list[tuple[int, dict]]:
    headers = bearer(client, username)
    list_body = client.post(
        "/v2/video/list/", params={"fields": "id,create_time"}, json={"max_count": 5}, headers=headers
    ).json()
    ids = [v["id"] for v in list_body["data"]["videos"]]
    requests = [
        ("GET", "/v2/user/info/", {"fields": "open_id,username,follower_count"}, None),
        ("POST", "/v2/video/list/", {"fields": "id,create_time,view_count,like_count,title"}, {"max_count": 20}),
        ("POST", "/v2/video/query/", {"fields": "id,view_count,share_url"}, {"filters": {"video_ids": ids}}),
        ("POST", "/v2/video/list/", {"fields": "id,bogus"}, {}),
        ("GET", "/v2/nowhere/", {}, None),
    ]
    answers = []
    for method, path, params, body in requests:
        response = client.request(method, path, params=params, json=body, headers=headers)
        answers.append((response.status_code, without_log_ids(response.json())))
    return answers


def test_http_and_in_process_give_identical_bodies(clock, username):
    in_process = Simulator(clock=clock)
    with httpx.Client(transport=in_process.transport(), base_url=BASE_URL) as client:
        expected = scripted_calls(client, username)
    served = Simulator(clock=clock)
    with serve_in_thread(served) as url, httpx.Client(base_url=url) as client:
        assert url.startswith("http://127.0.0.1:")
        assert scripted_calls(client, username) == expected
    assert served.stats == in_process.stats


def test_http_timeout_is_a_read_timeout_and_shutdown_is_prompt(clock, username):
    sim = Simulator(faults=FaultConfig(rate_timeout=1.0), clock=clock)
    started = time.monotonic()
    with serve_in_thread(sim, timeout_seconds=30.0) as url, httpx.Client(base_url=url, timeout=0.3) as client:
        headers = bearer(client, username)
        with pytest.raises(httpx.ReadTimeout):
            client.get("/v2/user/info/", params={"fields": "open_id"}, headers=headers)
    assert time.monotonic() - started < 5, "a held request must not delay shutdown"


def test_http_timeout_closes_the_connection_unanswered(clock, username):
    sim = Simulator(faults=FaultConfig(rate_timeout=1.0), clock=clock)
    with serve_in_thread(sim, timeout_seconds=0.2) as url, httpx.Client(base_url=url, timeout=2.0) as client:
        headers = bearer(client, username)
        with pytest.raises(httpx.RemoteProtocolError):
            client.get("/v2/user/info/", params={"fields": "open_id"}, headers=headers)


def test_cli_truth_prints_ground_truth_json(capsys):
    world = World()
    video = world.videos_as_of(world.creators()[0].username, AS_OF)[0]
    assert main(["truth", "--video-id", video.id, "--at", "2026-11-20T10:00:00Z"]) == 0
    printed = json.loads(capsys.readouterr().out)
    counts = world.counts(video.id, AS_OF)
    assert printed["video_id"] == video.id and printed["view_count"] == counts.view_count
    assert printed["like_count"] == counts.like_count and printed["creator_username"] == video.creator_username


def test_cli_truth_unknown_video(capsys):
    assert main(["truth", "--video-id", "123", "--at", "2026-11-20T10:00:00"]) == 1
    assert "does not exist" in capsys.readouterr().err


def test_cli_serve_takes_api_for_business_faults_and_the_events_behaviour():

    args = parser().parse_args(
        [
            "serve",
            "--business-fault-40700",
            "0.1",
            "--business-fault-504",
            "0.2",
            "--business-fault-timeout-after",
            "0.05",
            "--business-fault-40100",
            "0.3",
            "--events-invalid",
            "partial",
        ]
    )
    simulator = build_simulator(args)
    faults = simulator.business.faults
    assert (faults.rate_40700, faults.rate_504, faults.rate_timeout_after, faults.rate_40100) == (0.1, 0.2, 0.05, 0.3)
    assert faults.rate_50000 == faults.rate_50002 == faults.rate_timeout == 0.0
    assert simulator.business.events.invalid_events == "partial"
    default = build_simulator(parser().parse_args(["serve"]))
    assert default.business.events.invalid_events == "request" and default.business.faults.rate_504 == 0.0
    with pytest.raises(SystemExit):
        parser().parse_args(["serve", "--business-fault-504", "1.5"])


def test_served_business_faults_reach_the_client_as_a_504_html_page():
    """``tiktok-sim serve --business-fault-504 1``: the API for Business answers like a gateway that gave up."""

    simulator = build_simulator(parser().parse_args(["serve", "--business-fault-504", "1"]))
    event = {"event": "CompletePayment", "event_id": "o-1", "event_time": int(time.time())}
    body = {"event_source": "web", "event_source_id": SIM_PIXEL_CODE, "data": [event]}
    with serve_in_thread(simulator) as url, httpx.Client(base_url=url) as client:
        response = client.post("/open_api/v1.3/event/track/", json=body, headers={"Access-Token": "sim-business-token"})
    assert response.status_code == 504 and "<html>" in response.text and "504 Gateway Time-out" in response.text
    assert simulator.business.events.received("o-1") == 1  # the gateway gave up after the backend processed it
