"""The per-endpoint sliding-window rate limit, with and without Retry-After."""

from __future__ import annotations

import pytest

from tiktok_pipeline.simulator.app import Simulator
from tiktok_pipeline.simulator.faults import FaultConfig

from .conftest import bearer

FIELDS = {"fields": "open_id"}


@pytest.mark.parametrize("retry_after", [True, False])
def test_sliding_window_throttles_and_recovers(clock, make_client, username, retry_after):
    sim = Simulator(None, FaultConfig(send_retry_after=retry_after), clock=clock, rate_limit=5, rate_window_seconds=60)
    client = make_client(sim)
    headers = bearer(client, username)  # OAuth is not rate limited

    def user_info():
        return client.get("/v2/user/info/", params=FIELDS, headers=headers)

    for second in range(5):  # one request at t = 0, 10, 20, 30, 40
        clock.now += 10 if second else 0
        assert user_info().status_code == 200
    throttled = user_info()  # t = 40: five in the last minute
    assert throttled.status_code == 429
    assert throttled.json() == {"data": {}, "error": throttled.json()["error"]}
    assert throttled.json()["error"]["code"] == "rate_limit_exceeded"
    assert throttled.headers.get("Retry-After") == ("20" if retry_after else None)  # the t=0 slot frees at t=60
    # other endpoints have their own window
    list_call = client.post("/v2/video/list/", params={"fields": "id"}, json={}, headers=headers)
    assert list_call.status_code == 200
    clock.now += 19.5
    assert user_info().status_code == 429  # throttled requests did not take a slot ...
    assert user_info().headers.get("Retry-After") == ("1" if retry_after else None)
    clock.now += 0.5
    assert user_info().status_code == 200  # ... so the first slot frees exactly at t=60
    assert user_info().status_code == 429
    clock.now += 10
    assert user_info().status_code == 200
    assert sim.stats["throttled"] == 4 and sim.stats["requests /v2/user/info/"] == 11


def test_429_carries_no_retry_after_by_default(clock, make_client, username):
    """TikTok's docs mention no rate-limit headers: by default the simulator sends none."""
    sim = Simulator(clock=clock, rate_limit=1, rate_window_seconds=60)
    client = make_client(sim)
    headers = bearer(client, username)
    assert client.get("/v2/user/info/", params=FIELDS, headers=headers).status_code == 200
    throttled = client.get("/v2/user/info/", params=FIELDS, headers=headers)
    assert throttled.status_code == 429 and "Retry-After" not in throttled.headers
