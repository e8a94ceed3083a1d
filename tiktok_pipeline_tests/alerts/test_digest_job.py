"""The per-window digest end to end: velocity lands, one digest per newest window reaches Slack and Teams over real
HTTP, a re-run or a backfill sends nothing, and no webhook URL reaches logs or metadata."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import dagster as dg
import pytest

from tiktok_pipeline.activation.alerts.triggers import AlertCursor, AlertTick
from tiktok_pipeline.activation.digest.trigger import digest_requests
from tiktok_pipeline.definitions import build_definitions
from tiktok_pipeline.defs.alerts.resources import AlertsResource
from tiktok_pipeline.defs.alerts.sensors import alert_sensor
from tiktok_pipeline.settings import Settings
from tiktok_pipeline.windows import WINDOW, latest_closed_window, window_key
from tiktok_pipeline_tests.alerts.test_alert_job import SLACK, TEAMS, alerts_resource, run_alerts
from tiktok_pipeline_tests.conftest import T0, open_warehouse
from tiktok_pipeline_tests.conftest import alerts_resource as plain_alerts_resource
from tiktok_pipeline_tests.test_assets import materialize_range


def tick(instance, cursor: AlertCursor, now) -> AlertTick:
    result = AlertTick(cursor)
    digest_requests(instance, result, now)
    return result


def rematerialize(settings, window, instance, tags: dict[str, str]) -> dg.ExecuteInProcessResult:
    """One window's assets again, as a re-run (or, tagged ``dagster/backfill``, as a backfill) would."""
    defs = build_definitions(settings)
    return dg.materialize(
        list(defs.assets),
        selection=dg.AssetSelection.groups("collect", "process"),
        resources=dict(defs.resources),
        instance=instance,
        partition_key=window_key(window),
        tags=tags,
        raise_on_error=False,
    )


@pytest.mark.both_backends
def test_one_digest_per_newest_window_over_http_and_never_again(settings, server, instance, caplog):
    last = T0 + 7 * WINDOW  # windows 10:00 .. 10:35: the last ones have a 30-minute baseline
    assert materialize_range(settings, T0, last, instance=instance).success
    now = last + WINDOW + timedelta(seconds=40)
    first = tick(instance, AlertCursor(), now)
    # only the newest closed window gets a digest, never the older ones of the same range
    assert [r.run_key for r in first.requests] == ["digest:2026-11-20-10:35"]
    assert tick(instance, first.cursor, now).requests == []  # the cursor moved past it

    [result] = run_alerts(settings, instance, first.requests, alerts_resource(server))
    assert result.success
    assert server.paths().count(SLACK) == 1 and server.paths().count(TEAMS) == 1
    slack = next(r.body for r in server.requests if r.path == SLACK)
    buttons = [b["accessory"]["url"] for b in slack["blocks"] if "accessory" in b]
    assert "http://dagster.example:3000/assets/video_velocity" in buttons
    assert any(b["text"]["text"].startswith("*Top movers*\n• video ") for b in slack["blocks"] if "accessory" in b)
    teams = next(r.body for r in server.requests if r.path == TEAMS)
    assert "Top movers" in str(teams) and "Action.OpenUrl" in str(teams)

    # the figures travel as numeric metadata of the alerts asset (plotted in the UI)
    [event] = instance.fetch_materializations(dg.AssetKey("alerts"), limit=5).records
    metadata = event.asset_materialization.metadata  # type: ignore[union-attr]
    assert metadata["digest_top_movers"].value >= 1 and metadata["digest_sections"].value >= 1
    assert isinstance(metadata["digest_top_movers"], dg.IntMetadataValue)

    # a second run for the same window sends nothing (the alerts store's key), nor does a re-run of the window
    run_alerts(settings, instance, first.requests, alerts_resource(server))
    assert len(server.requests) == 2
    assert rematerialize(settings, last, instance, {}).success
    assert tick(instance, first.cursor, now + timedelta(seconds=30)).requests == []
    # a backfill of an older window sends nothing either
    assert rematerialize(settings, T0 + WINDOW, instance, {"dagster/backfill": "bf1"}).success
    assert tick(instance, first.cursor, now + timedelta(minutes=1)).requests == []

    # the next window's velocity lands: its digest (and only it) goes out
    assert materialize_range(settings, last + WINDOW, last + WINDOW, instance=instance).success
    later = tick(instance, first.cursor, now + WINDOW)
    assert [r.run_key for r in later.requests] == ["digest:2026-11-20-10:40"]
    # a backfill that reaches a window newer than the last digested one sends nothing either
    assert rematerialize(settings, last + 2 * WINDOW, instance, {"dagster/backfill": "bf2"}).success
    assert tick(instance, later.cursor, now + 2 * WINDOW).requests == []

    with open_warehouse(settings) as con:
        rows = con.execute("SELECT alert_id, kind, window_key, delivered FROM alerts WHERE kind = 'digest'").fetchall()
        calls = str(con.execute("SELECT * FROM api_call_log WHERE source = 'webhook'").fetchall())
    assert rows == [("digest:2026-11-20-10:35", "digest", "2026-11-20-10:35", "slack,teams")]
    logs = " ".join(str(e) for e in instance.all_logs(result.run_id))
    for text in (logs, str(metadata), calls, caplog.text, str(first.requests[0].run_config)):
        assert "slack-secret" not in text and "/workflows/" not in text and "127.0.0.1" not in text


def test_a_window_closed_too_long_ago_gets_no_digest(settings, instance):
    assert materialize_range(settings, T0, T0, instance=instance).success
    assert tick(instance, AlertCursor(), T0 + WINDOW + timedelta(minutes=16)).requests == []
    assert tick(instance, AlertCursor(), T0 + WINDOW + timedelta(minutes=14)).requests != []


def test_the_digest_is_off_unless_enabled(monkeypatch):
    assert AlertsResource.from_settings(Settings()).digest_enabled is False
    monkeypatch.setenv("TIKTOK_DIGEST_ENABLED", "true")
    assert AlertsResource.from_settings(Settings()).digest_enabled is True


def test_alert_sensor_requests_the_newest_windows_digest_only_when_enabled(settings, instance):
    now = datetime.now(UTC)
    newest = latest_closed_window(now)
    assert materialize_range(settings, newest, newest, instance=instance).success

    def digests(enabled: bool) -> list[str]:
        context = dg.build_sensor_context(
            instance=instance, resources={"alerts": plain_alerts_resource(digest_enabled=enabled)}
        )
        result = alert_sensor(context)
        return [r.run_key for r in result.run_requests if r.tags.get("tiktok/alert") == "digest"]

    assert digests(False) == []
    assert digests(True) == [f"digest:{window_key(newest)}"]
