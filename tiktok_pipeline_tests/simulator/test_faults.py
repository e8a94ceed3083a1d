"""Fault injection in process: rates, kinds and determinism."""

from __future__ import annotations

from collections import Counter

import httpx
import pytest

from tiktok_pipeline.simulator.app import Simulator
from tiktok_pipeline.simulator.faults import FaultConfig

from .conftest import bearer

N = 400


def statuses(sim: Simulator, client: httpx.Client, username: str) -> Counter[int | str]:
    headers = bearer(client, username)
    seen: Counter[int | str] = Counter()
    for _ in range(N):
        try:
            seen[client.get("/v2/user/info/", params={"fields": "open_id"}, headers=headers).status_code] += 1
        except httpx.ReadTimeout:
            seen["timeout"] += 1
    return seen


def test_fault_rates_are_roughly_honoured(clock, make_client, username):
    faults = FaultConfig(rate_429=0.1, rate_5xx=0.1, rate_timeout=0.1, seed=5)
    sim = Simulator(faults=faults, clock=clock)
    seen = statuses(sim, make_client(sim), username)
    for count in (seen[429], seen[500] + seen[502] + seen[503], seen["timeout"]):
        assert 0.05 * N < count < 0.15 * N, seen
    assert seen[502] + seen[503] > 0, "some 5xx come from the gateway"
    assert sim.stats["fault 429"] == seen[429] and sim.stats["fault timeout"] == seen["timeout"]
    assert sim.stats["fault 5xx"] == seen[500] + seen[502] + seen[503]


def test_fault_sequence_is_deterministic_per_seed(clock, make_client, username):
    def run(seed: int) -> Counter[int | str]:
        sim = Simulator(faults=FaultConfig(rate_5xx=0.3, rate_timeout=0.1, seed=seed), clock=clock)
        return statuses(sim, make_client(sim), username)

    assert run(1) == run(1)
    assert run(1) != run(2)


def test_injected_errors_have_the_real_shapes(clock, make_client, username):
    sim = Simulator(faults=FaultConfig(rate_5xx=1.0, seed=3), clock=clock)
    client = make_client(sim)
    headers = bearer(client, username)  # OAuth is never faulted
    responses = [client.get("/v2/user/info/", params={"fields": "open_id"}, headers=headers) for _ in range(40)]
    internal = [r for r in responses if r.status_code == 500]
    gateway = [r for r in responses if r.status_code in (502, 503)]
    assert internal and gateway
    assert internal[0].json()["error"]["code"] == "internal_error" and internal[0].json()["data"] == {}
    assert not gateway[0].headers["content-type"].startswith("application/json")
    assert all(r.headers["x-tt-logid"] for r in responses)


@pytest.mark.parametrize("retry_after", [True, False])
def test_injected_429_matches_real_throttling(clock, make_client, username, retry_after):
    sim = Simulator(faults=FaultConfig(rate_429=1.0, send_retry_after=retry_after), clock=clock)
    client = make_client(sim)
    response = client.get("/v2/user/info/", params={"fields": "open_id"}, headers=bearer(client, username))
    assert response.status_code == 429 and response.json()["error"]["code"] == "rate_limit_exceeded"
    assert ("Retry-After" in response.headers) is retry_after


def test_malformed_records(clock, make_client, username):
    sim = Simulator(faults=FaultConfig(rate_malformed=0.3, seed=2), clock=clock)
    client = make_client(sim)
    headers = bearer(client, username)
    fields = {"fields": "id,create_time,view_count,like_count"}
    videos = []
    for _ in range(20):
        videos += client.post("/v2/video/list/", params=fields, json={"max_count": 20}, headers=headers).json()["data"][
            "videos"
        ]

    def malformed(video: dict) -> bool:
        return (
            not isinstance(video.get("id"), str)
            or not isinstance(video.get("create_time"), int)
            or not isinstance(video.get("view_count"), int)
            or video.get("like_count", 0) < 0
        )

    broken = [v for v in videos if malformed(v)]
    assert 0.15 * len(videos) < len(broken) < 0.45 * len(videos)
    assert len(broken) == sim.stats["fault malformed"]
    kinds = {
        "id"
        if not isinstance(v.get("id"), str)
        else "create_time"
        if not isinstance(v["create_time"], int)
        else "view_count"
        if not isinstance(v["view_count"], int)
        else "like_count"
        for v in broken
    }
    assert kinds == {"id", "create_time", "view_count", "like_count"}


def test_in_process_timeout_is_a_read_timeout(clock, make_client, username):
    sim = Simulator(faults=FaultConfig(rate_timeout=1.0), clock=clock)
    client = make_client(sim)
    with pytest.raises(httpx.ReadTimeout):
        client.get("/v2/user/info/", params={"fields": "open_id"}, headers=bearer(client, username))
