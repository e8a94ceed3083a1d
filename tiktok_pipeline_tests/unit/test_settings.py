"""Settings: a leaf, one default per setting, errors that name the variable a user sets."""

import subprocess
import sys
from datetime import UTC, datetime, timedelta

import pytest

from tiktok_pipeline.settings import Settings, SettingsError, environment_variables, load_settings


@pytest.mark.parametrize(
    ("variable", "value", "expected"),
    [
        (
            "TIKTOK_PARTITIONS_START",
            "not a date",
            "TIKTOK_PARTITIONS_START='not a date': Input should be a valid datetime",
        ),
        ("TIKTOK_PARTITIONS_START", "2026-11-01T00:03:00Z", "is not on a 5-minute boundary"),
        ("TIKTOK_POLL_HOT_MOMENTUM", "fast", "TIKTOK_POLL_HOT_MOMENTUM='fast': Input should be a valid number"),
        (
            "TIKTOK_REQUESTS_PER_MINUTE",
            "0",
            "TIKTOK_REQUESTS_PER_MINUTE='0': Input should be greater than 0",
        ),  # above the declared limit (600): refused by the declaration (unit/test_sources.py)
        (
            "TIKTOK_POLL_BUDGET_VIDEO_QUERY",
            "0",
            "TIKTOK_POLL_BUDGET_VIDEO_QUERY='0': Input should be greater than or equal to 1",
        ),
        ("TIKTOK_QUALITY_MAX_BAD_RECORD_SHARE", "2", "TIKTOK_QUALITY_MAX_BAD_RECORD_SHARE='2'"),
        ("TIKTOK_RETENTION_DAYS", "1", "TIKTOK_RETENTION_DAYS='1': Input should be greater than or equal to 2"),
        (
            "TIKTOK_HTTP_MAX_RETRY_SECONDS",
            "-5",
            "TIKTOK_HTTP_MAX_RETRY_SECONDS='-5': Input should be greater than or equal to 0",
        ),
        (
            "TIKTOK_ADVERTISER_TIMEZONE",
            "Mars/Base",
            "TIKTOK_ADVERTISER_TIMEZONE='Mars/Base': 'Mars/Base' is not an IANA time zone",
        ),
    ],
)
def test_a_bad_value_names_the_variable_the_value_and_what_is_allowed(monkeypatch, variable, value, expected):
    monkeypatch.setenv(variable, value)
    with pytest.raises(SettingsError) as caught:
        load_settings()
    assert expected in str(caught.value)
    assert "partitions_start" not in str(caught.value).replace("TIKTOK_PARTITIONS_START", "")


def test_a_start_in_the_future_is_refused_not_silently_empty(monkeypatch):
    future = (datetime.now(UTC) + timedelta(days=2)).replace(minute=0, second=0, microsecond=0)
    monkeypatch.setenv("TIKTOK_PARTITIONS_START", future.isoformat())
    with pytest.raises(SettingsError, match=r"TIKTOK_PARTITIONS_START=.*is in the future"):
        load_settings()


def test_sub_settings_read_their_own_variables(monkeypatch):
    monkeypatch.setenv("TIKTOK_POLL_BUDGET_REQUESTS", "123")
    monkeypatch.setenv("TIKTOK_API_BASE_URL", "https://open.tiktokapis.com")
    settings = load_settings()
    assert settings.polling.budget_requests == 123
    assert settings.display.api_base_url == "https://open.tiktokapis.com" and not settings.uses_simulator
    assert settings.replace(display__api_is_simulator=True).uses_simulator


def test_every_variable_is_listed_once():
    names = environment_variables()
    assert {"TIKTOK_WAREHOUSE_PATH", "TIKTOK_POLL_HOT_MOMENTUM", "TIKTOK_QUALITY_MAX_VIEW_JUMP_FACTOR"} <= names
    assert "TIKTOK_POLLING" not in names and "TIKTOK_DISPLAY" not in names
    assert Settings().polling.budget_requests is None  # no overall cap: each endpoint has its own budget
    assert {"TIKTOK_POLL_BUDGET_USER_INFO", "TIKTOK_POLL_BUDGET_VIDEO_LIST", "TIKTOK_POLL_BUDGET_VIDEO_QUERY"} <= names


def test_endpoint_budgets_derive_from_the_rate_limit_unless_set(monkeypatch):
    from tiktok_pipeline.defs.resources import PollingResource

    monkeypatch.setenv("TIKTOK_REQUESTS_PER_MINUTE", "300")
    monkeypatch.setenv("TIKTOK_POLL_BUDGET_VIDEO_LIST", "40")
    policy = PollingResource.from_settings(load_settings()).policy
    assert policy.endpoint_budget() == {"user/info": 1350, "video/list": 40, "video/query": 1350}
    assert policy.budget_requests is None and policy.budget() == 2740
    monkeypatch.setenv("TIKTOK_POLL_BUDGET_REQUESTS", "500")
    assert PollingResource.from_settings(load_settings()).policy.budget() == 500


def test_settings_are_a_leaf():
    """Reading settings loads neither Dagster nor Polars nor Pandera (``tiktok-pipeline tokens`` stays light)."""
    code = "import sys, tiktok_pipeline.settings as s; s.load_settings(); print(sorted(m for m in ('dagster', 'polars', 'pandera') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_the_retry_budget_reaches_every_sender(monkeypatch, tmp_path):
    """TIKTOK_HTTP_MAX_RETRY_SECONDS is the per-call budget of the Display, Business and alert clients."""
    from tiktok_pipeline.defs.alerts.resources import AlertsResource
    from tiktok_pipeline.defs.resources import BusinessApiResource, DisplayApiResource

    monkeypatch.setenv("TIKTOK_HTTP_MAX_RETRY_SECONDS", "7.5")
    monkeypatch.setenv("TIKTOK_TOKEN_STORE_PATH", str(tmp_path / "tokens.json"))
    settings = load_settings()
    for resource in (DisplayApiResource.from_settings(settings), BusinessApiResource.from_settings(settings)):
        with resource.client() as client:
            assert client.retry.max_retry_seconds == 7.5
    assert AlertsResource.from_settings(settings).max_retry_seconds == 7.5
