"""A creator whose refresh token ends soon (TikTok's fixed horizon) or was refused gets one alert naming them."""

from datetime import UTC, datetime, timedelta

import dagster as dg
import pytest
from pydantic import SecretStr

from tiktok_pipeline.activation.alerts.triggers import AlertCursor, AlertTick, TokenWatch, token_requests
from tiktok_pipeline.definitions import build_definitions
from tiktok_pipeline.defs.alerts.sensors import alert_sensor
from tiktok_pipeline.settings import SettingsError, load_settings
from tiktok_pipeline.sources.display_api.tokens import TokenSet, TokenStore
from tiktok_pipeline_tests.alerts.test_run_failure_alert import run_alert_job
from tiktok_pipeline_tests.conftest import open_warehouse

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


def tokens(refresh_expires_at: datetime | None, reauthorize: str | None = None) -> TokenSet:
    return TokenSet(
        open_id="o",
        access_token=SecretStr("act.secret"),
        access_expires_at=NOW,
        refresh_token=SecretStr("rft.secret"),
        refresh_expires_at=refresh_expires_at,
        reauthorize=reauthorize,
    )


def keys(store_path, now=NOW, warn_days=14.0) -> list[str]:
    tick = AlertTick(AlertCursor())
    token_requests(TokenWatch(store_path, timedelta(days=warn_days)), tick, now)
    return [r.run_key for r in tick.requests]


def test_which_creators_are_warned(tmp_path):
    store = TokenStore(tmp_path / "tokens.json")
    assert keys(store.path) == []  # no store yet: nothing to say
    store.put("alice", tokens(NOW + timedelta(days=10)))
    store.put("bob", tokens(NOW + timedelta(days=30)))
    store.put("carol", tokens(None))  # not known yet (a bare refresh token before its first refresh)
    store.put("dave", tokens(NOW + timedelta(days=90), reauthorize="invalid_grant, log_id=20261201120000ABC"))
    store.put("erin", tokens(NOW - timedelta(days=1)))
    assert keys(store.path) == [
        "token:alice:expires:2026-12-11",
        "token:dave:refused:invalid_grant, log_id=20261201120000ABC",
        "token:erin:expires:2026-11-30",
    ]
    assert "token:bob:expires:2026-12-31" in keys(store.path, warn_days=30)
    assert keys(store.path, now=NOW - timedelta(days=5)) == keys(store.path)[1:]  # alice: 15 days out, not yet


def test_the_sensor_and_alert_job_name_the_creator_once_per_expiry(settings, instance):
    store = TokenStore(settings.token_store_path)
    ends = datetime.now(UTC) + timedelta(days=5)
    store.put("alice", tokens(ends))
    store.put("bob", tokens(datetime.now(UTC) + timedelta(days=100)))
    defs = build_definitions(settings)

    def tick() -> list[dg.RunRequest]:
        context = dg.build_sensor_context(
            instance=instance, repository_def=defs.get_repository_def(), resources={"alerts": defs.resources["alerts"]}
        )
        return [r for r in alert_sensor.evaluate_tick(context).run_requests if r.tags["tiktok/alert"] == "token"]

    [request] = tick()
    assert request.run_key == f"token:alice:expires:{ends:%Y-%m-%d}"
    assert [r.run_key for r in tick()] == [request.run_key]  # the same key every tick: Dagster launches it once
    assert run_alert_job(settings, instance, request).success
    assert run_alert_job(settings, instance, request).success  # launched twice anyway: recorded and sent once
    with open_warehouse(settings) as con:
        rows = con.execute("SELECT alert_id, kind, severity, title, summary FROM alerts").fetchall()
    [(alert_id, kind, severity, title, summary)] = rows
    assert alert_id == request.run_key and kind == "token" and severity == "WARN"
    assert "alice" in title and "ends in 5" in title
    assert "tiktok-pipeline tokens add alice" in summary and "secret" not in summary

    store.put("alice", tokens(ends + timedelta(days=180)))  # re-authorised: a new horizon, nothing to warn
    assert tick() == []


def test_the_warning_horizon_setting_names_its_variable(monkeypatch):
    monkeypatch.setenv("TIKTOK_REFRESH_TOKEN_WARN_DAYS", "-1")
    with pytest.raises(SettingsError, match=r"TIKTOK_REFRESH_TOKEN_WARN_DAYS='-1'"):
        load_settings()
    monkeypatch.setenv("TIKTOK_REFRESH_TOKEN_WARN_DAYS", "30")
    assert load_settings().alerts.refresh_token_warn_days == 30


def test_the_warning_horizon_defaults_to_30_days(monkeypatch):
    """The issue's horizon: one setting, TIKTOK_REFRESH_TOKEN_WARN_DAYS, default 30."""
    monkeypatch.delenv("TIKTOK_REFRESH_TOKEN_WARN_DAYS", raising=False)
    assert load_settings().alerts.refresh_token_warn_days == 30
    from tiktok_pipeline_tests.conftest import alerts_resource

    assert alerts_resource().token_watch().warn_before == timedelta(days=30)


def test_a_revoked_grant_is_alerted_once_naming_the_creator_never_a_token(settings, instance):
    from tiktok_pipeline.sources.display_api.consent import ConsentLedger, revoke

    store = TokenStore(settings.token_store_path)
    store.put("alice", tokens(datetime.now(UTC) + timedelta(days=100)).model_copy(update={"open_id": "oid-a"}))
    store.put("bob", tokens(datetime.now(UTC) + timedelta(days=100)).model_copy(update={"open_id": "oid-b"}))
    revoked_at = datetime.now(UTC) - timedelta(minutes=1)
    reason = "the creator disconnected the app in TikTok (reason 1)"
    revoke(
        store, ConsentLedger.beside(store.path), open_id="oid-a", revoked_at=revoked_at, reason=reason, via="webhook"
    )
    defs = build_definitions(settings)
    context = dg.build_sensor_context(
        instance=instance, repository_def=defs.get_repository_def(), resources={"alerts": defs.resources["alerts"]}
    )
    [request] = [r for r in alert_sensor.evaluate_tick(context).run_requests if r.tags["tiktok/alert"] == "consent"]
    assert request.run_key == f"consent:oid-a:revoked:{revoked_at:%Y%m%dT%H%M%S}"
    assert run_alert_job(settings, instance, request).success
    with open_warehouse(settings) as con:
        [(kind, severity, title, summary)] = con.execute("SELECT kind, severity, title, summary FROM alerts").fetchall()
    assert kind == "consent" and severity == "WARN" and "alice" in title and "bob" not in title + summary
    assert "disconnected the app" in summary and "creators purge alice" in summary and "secret" not in summary
