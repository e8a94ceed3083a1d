"""The API for Business app's QPS tier over real HTTP: the simulator counts every endpoint and connection of the
app in one second and answers the excess with 40100 (HTTP 200); the client keeps to the tier with the HTTP
layer's limiter, shared by its clients of the host, so a burst gets no 40100; the setting names its variable."""

import random
import threading
import time
from datetime import UTC, datetime

import pytest
from pydantic import SecretStr

from tiktok_pipeline.defs.resources import BusinessApiResource
from tiktok_pipeline.settings import SettingsError, load_settings
from tiktok_pipeline.simulator.app import Simulator
from tiktok_pipeline.simulator.business.ads import ADVERTISER_ID
from tiktok_pipeline.simulator.business.app import SIM_ACCESS_TOKEN
from tiktok_pipeline.simulator.business.events import SIM_PIXEL_CODE
from tiktok_pipeline.simulator.server import serve_in_thread
from tiktok_pipeline.sources.business_api.client import BusinessApiClient, BusinessApiError
from tiktok_pipeline.sources.business_api.ratelimit import app_limiter
from tiktok_pipeline.sources.business_api.reporting import report_params
from tiktok_pipeline.sources.http import SIMULATOR_HOOKS, RetryPolicy

AS_OF = datetime(2026, 11, 20, 10, 40, tzinfo=UTC)
REPORT = report_params(ADVERTISER_ID, "2026-11-20", 1, 5)
ADS = {"advertiser_id": ADVERTISER_ID, "page_size": "5"}
EVENT = {
    "event_source": "web",
    "event_source_id": SIM_PIXEL_CODE,
    "test_event_code": "TEST1",
    "data": [{"event": "CompletePayment", "event_time": int(AS_OF.timestamp()), "event_id": "order-1"}],
}


def client(base_url, requests_per_second, *, attempts=1):
    """One attempt per call by default: a 40100 is not hidden by a retry."""
    return BusinessApiClient(
        base_url,
        access_token=SecretStr(SIM_ACCESS_TOKEN),
        retry=RetryPolicy(max_attempts=attempts, base_seconds=0.5, rng=random.Random(5)),
        requests_per_second=requests_per_second,
        timeout_seconds=5.0,
        request_hooks=SIMULATOR_HOOKS,
    )


def burst(api, n):
    """``n`` calls round-robin over three endpoints; the codes they ended with (0 or the error's)."""
    codes = []
    for i in range(n):
        try:
            if i % 3 == 0:
                api.get("report/integrated/get", REPORT, as_of=AS_OF)
            elif i % 3 == 1:
                api.get("ad/get", ADS, as_of=AS_OF)
            else:
                api.post("event/track", EVENT)
            codes.append(0)
        except BusinessApiError as error:
            codes.append(error.code)
    return codes


@pytest.fixture
def served(request):
    """A served simulator whose app has the tier given by the test's parameter (default 10)."""
    simulator = Simulator(clock=lambda: AS_OF.timestamp(), business_qps=getattr(request, "param", 10))
    with serve_in_thread(simulator, timeout_seconds=0.5) as base_url:
        yield simulator, base_url


def test_unpaced_the_simulator_answers_40100_across_endpoints_and_connections(served):
    simulator, base_url = served
    with client(base_url, None) as first, client(base_url, None) as second:
        codes = burst(first, 6) + burst(second, 8)
    assert codes[:10] == [0] * 10  # ten a second, whichever endpoint and connection
    assert 40100 in codes[10:] and set(codes) == {0, 40100}
    assert simulator.business.stats["throttled"] == codes.count(40100)


def test_paced_to_the_tier_a_burst_gets_no_40100(served):
    simulator, base_url = served
    with client(base_url, 10) as api:
        codes = burst(api, 25)
    assert codes == [0] * 25 and simulator.business.stats["throttled"] == 0


def test_clients_of_one_host_share_the_tier(served):
    simulator, base_url = served
    results: list[list[int]] = []

    def run():
        with client(base_url, 10) as api:
            results.append(burst(api, 12))

    threads = [threading.Thread(target=run) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert results == [[0] * 12, [0] * 12] and simulator.business.stats["throttled"] == 0


@pytest.mark.parametrize("served", [20], indirect=True)
def test_a_higher_tier_is_served_and_kept_to(served):
    simulator, base_url = served
    with client(base_url, 20) as api:
        assert burst(api, 45) == [0] * 45
    other = Simulator(clock=lambda: AS_OF.timestamp(), business_qps=20)
    with serve_in_thread(other, timeout_seconds=0.5) as other_url, client(other_url, None) as unpaced:
        started = time.monotonic()
        codes = burst(unpaced, 24)
        took = time.monotonic() - started
    assert codes[:20] == [0] * 20  # 20 a second admitted ...
    if 40100 not in codes[20:] and took >= 1.0:  # the premise (24 calls within a second) did not hold
        pytest.skip(
            f"the unpaced burst of 24 calls took {took:.2f} s: this machine is too loaded to exceed 20 a second"
        )
    assert 40100 in codes[20:]  # ... not more


def test_a_40100_is_retried_with_backoff(served):
    simulator, base_url = served
    simulator.business.qps = 1
    with client(base_url, None, attempts=8) as api:
        first = api.get("ad/get", ADS, as_of=AS_OF)
        answered = time.monotonic()
        second = api.get("ad/get", ADS, as_of=AS_OF)  # within the same second: throttled, retried until admitted
    assert first.code == 0 and second.code == 0
    if second.attempt_codes[0] != 40100 and time.monotonic() - answered >= 1.0:  # its first attempt came too late
        pytest.skip("the second call's first attempt came a second after the first call: this machine is too loaded")
    assert second.attempt_codes[0] == 40100


def test_the_limiter_counts_whole_requests_per_second_with_a_margin():
    assert (app_limiter(10).limit, app_limiter(10).window_seconds) == (10, pytest.approx(1.1))
    assert (app_limiter(2.5).limit, app_limiter(2.5).window_seconds) == (2, pytest.approx(1.1))
    assert (app_limiter(0.5).limit, app_limiter(0.5).window_seconds) == (1, pytest.approx(2.1))


@pytest.mark.parametrize("value", ["0", "-1", "ten"])  # above 30: refused by the declaration (unit/test_sources.py)
def test_the_setting_names_its_variable(monkeypatch, value):
    monkeypatch.setenv("TIKTOK_BUSINESS_REQUESTS_PER_SECOND", value)
    with pytest.raises(SettingsError) as caught:
        load_settings()
    assert f"TIKTOK_BUSINESS_REQUESTS_PER_SECOND={value!r}" in str(caught.value)


@pytest.mark.parametrize(("value", "expected"), [(None, 10.0), ("20", 20.0), ("7.5", 7.5)])
def test_the_setting_reaches_the_resource(monkeypatch, value, expected):
    if value is not None:
        monkeypatch.setenv("TIKTOK_BUSINESS_REQUESTS_PER_SECOND", value)
    resource = BusinessApiResource.from_settings(load_settings())
    assert resource.requests_per_second == expected
    with resource.client() as api:
        assert api._http.limiter is not None and api._http.limiter.limit == int(expected)
