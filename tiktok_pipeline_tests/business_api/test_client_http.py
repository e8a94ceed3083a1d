"""The API for Business client over real HTTP: envelope codes mapped to retry or fail, timeouts, secrecy."""

import logging

import pytest
from pydantic import SecretStr

from tiktok_pipeline.simulator.app import Simulator
from tiktok_pipeline.simulator.business.app import SIM_ACCESS_TOKEN, BusinessError, Endpoint
from tiktok_pipeline.simulator.business.protocol import GatewayFailure
from tiktok_pipeline.simulator.server import serve_in_thread
from tiktok_pipeline.sources.business_api.client import BusinessApiClient, BusinessApiError
from tiktok_pipeline.sources.http import RetryPolicy

GATEWAY_504 = 504
"""In a script: answer as a gateway that gave up (HTTP 504, an HTML page, no envelope)."""


class Script:
    """A test endpoint that answers with the queued error codes first, then with its data."""

    def __init__(self, *codes: int) -> None:
        self.codes = list(codes)
        self.seen: list[dict] = []

    def __call__(self, request):
        self.seen.append({"params": request.params, "body": request.body})
        if self.codes:
            code = self.codes.pop(0)
            if code == GATEWAY_504:
                raise GatewayFailure(504)
            raise BusinessError(code, f"scripted {code}")
        return {"echo": request.params or request.body}


@pytest.fixture
def served():
    """A served simulator whose API for Business has one scripted endpoint, ``test/echo``."""
    simulator = Simulator()
    script = Script()
    simulator.business.endpoints = {
        "test/echo": Endpoint("GET", script),
        "test/post": Endpoint("POST", script),
    }
    with serve_in_thread(simulator, timeout_seconds=0.5) as base_url:
        yield simulator, script, base_url


def client(base_url, sleeps, *, token=SIM_ACCESS_TOKEN, attempts=4, timeout=5.0):
    return BusinessApiClient(
        base_url,
        access_token=SecretStr(token),
        retry=RetryPolicy(max_attempts=attempts, base_seconds=0.01),
        timeout_seconds=timeout,
        sleep=sleeps.append,
    )


@pytest.mark.parametrize("code", [40100, 40700, 50000, 50002])
def test_retryable_codes_are_retried_until_success(served, code):
    simulator, script, base_url = served
    script.codes = [code, code]
    sleeps: list[float] = []
    with client(base_url, sleeps) as api:
        call = api.get("test/echo", {"advertiser_id": "7001", "metrics": ["spend", "clicks"]})
    assert call.code == 0 and call.attempts == 3 and call.attempt_codes == [code, code, 0]
    assert len(sleeps) == 2
    # lists travel as JSON-array strings, as TikTok expects
    assert script.seen[-1]["params"]["metrics"] == '["spend","clicks"]'
    assert call.data == {"echo": {"advertiser_id": "7001", "metrics": '["spend","clicks"]'}}
    assert call.request_id


@pytest.mark.parametrize("code", [40105, 40001, 40002])
def test_fatal_codes_fail_at_once_with_code_and_request_id(served, code):
    simulator, script, base_url = served
    script.codes = [code]
    sleeps: list[float] = []
    with client(base_url, sleeps) as api, pytest.raises(BusinessApiError) as caught:
        api.get("test/echo", {"advertiser_id": "7001"})
    error = caught.value
    assert error.code == code and not error.retryable and error.call.attempts == 1 and sleeps == []
    assert error.request_id and error.request_id in str(error) and f"code {code}" in str(error)


@pytest.mark.parametrize("code", [40133, 41234, 51001])
def test_unknown_codes_fail_at_once_naming_the_code_and_request_id(served, code, caplog):
    """A code in no source (40133 included) is neither retried blindly nor passed off as a known one."""
    simulator, script, base_url = served
    script.codes = [code]
    sleeps: list[float] = []
    with client(base_url, sleeps) as api, pytest.raises(BusinessApiError) as caught:
        api.get("test/echo", {})
    error = caught.value
    assert error.code == code and not error.retryable and error.call.attempts == 1 and sleeps == []
    assert f"unknown code {code}" in str(error) and f"request_id={error.request_id}" in str(error)
    assert error.request_id and f"unknown code {code}" in caplog.text


def test_a_gateway_504_with_an_html_body_is_retried(served):
    simulator, script, base_url = served
    script.codes = [GATEWAY_504, GATEWAY_504]
    with client(base_url, []) as api:
        call = api.get("test/echo", {"advertiser_id": "7001"})
    assert call.code == 0 and call.attempt_codes == ["http 504", "http 504", 0]
    assert simulator.business.stats["gateway 504"] == 2


def test_a_gateway_504_that_persists_fails_with_the_status_and_no_envelope(served):
    simulator, script, base_url = served
    script.codes = [GATEWAY_504] * 5
    with client(base_url, [], attempts=2) as api, pytest.raises(BusinessApiError) as caught:
        api.get("test/echo", {})
    error = caught.value
    assert error.retryable and error.code is None and "HTTP 504 without an API envelope" in str(error)
    assert "<html" in str(error).lower() and "gave up after 2 attempts" in str(error)


def test_giving_up_after_max_attempts_keeps_the_last_code(served):
    simulator, script, base_url = served
    script.codes = [50000] * 10
    with client(base_url, [], attempts=3) as api, pytest.raises(BusinessApiError) as caught:
        api.get("test/echo", {})
    assert caught.value.retryable and caught.value.call.attempt_codes == [50000] * 3
    assert "gave up after 3 attempts" in str(caught.value)
    assert caught.value.request_id and f"request_id={caught.value.request_id}" in str(caught.value)


def test_bad_token_is_40105_and_the_token_never_appears(served, caplog):
    simulator, script, base_url = served
    caplog.set_level(logging.DEBUG)
    with client(base_url, [], token="wrong-secret-token") as api, pytest.raises(BusinessApiError) as caught:
        api.post("test/post", {"x": 1})
    assert caught.value.code == 40105
    assert "wrong-secret-token" not in str(caught.value) + caplog.text + repr(caught.value.call.to_record())


def test_timeouts_are_retried_or_reported_as_ambiguous(served):
    simulator, script, base_url = served
    simulator.business.faults = simulator.business.faults.model_copy(update={"rate_timeout": 1.0})
    with client(base_url, [], attempts=2, timeout=0.3) as api:
        with pytest.raises(BusinessApiError) as retried:
            api.get("test/echo", {})
        assert retried.value.call.attempt_codes == ["timeout", "timeout"] and retried.value.ambiguous
        with pytest.raises(BusinessApiError) as once:
            api.post("test/post", {"x": 1}, retry_timeouts=False)
        assert once.value.call.attempts == 1 and once.value.ambiguous
    assert simulator.business.stats["fault timeout"] == 3


def test_rate_limit_answers_40100_with_http_200(served):
    simulator, script, base_url = served
    simulator.business.qps = 2
    with client(base_url, [], attempts=1) as api:
        api.get("test/echo", {})
        api.get("test/echo", {})
        with pytest.raises(BusinessApiError) as caught:
            api.get("test/echo", {})
    assert caught.value.code == 40100 and caught.value.call.status == 200
    assert simulator.business.stats["throttled"] == 1


def test_unknown_path_is_a_parameter_error(served):
    simulator, script, base_url = served
    with client(base_url, []) as api, pytest.raises(BusinessApiError) as caught:
        api.get("report/nonexistent/get", {})
    assert caught.value.code == 40002
