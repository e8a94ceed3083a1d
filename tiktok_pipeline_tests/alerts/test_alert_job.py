"""alert_sensor and alert_job end to end: failed checks and momentum digests reach Slack and Teams once."""

from datetime import timedelta
from types import SimpleNamespace

import dagster as dg
import pytest

from tiktok_pipeline.activation.alerts.triggers import alert_tick
from tiktok_pipeline.definitions import build_definitions
from tiktok_pipeline.defs.alerts.resources import AlertsResource
from tiktok_pipeline.windows import WINDOW
from tiktok_pipeline_tests.alerts.webhook_server import Reply, WebhookServer
from tiktok_pipeline_tests.conftest import T0, open_warehouse
from tiktok_pipeline_tests.conftest import alerts_resource as plain_alerts_resource
from tiktok_pipeline_tests.test_assets import materialize_range
from tiktok_pipeline_tests.test_quality import edit_landing, first_video_record

SLACK = "/services/T1/B1/slack-secret"
TEAMS = "/workflows/1/triggers/manual/paths/invoke"


def alerts_resource(server: WebhookServer, **overrides) -> AlertsResource:
    return plain_alerts_resource(
        slack_webhook_url=server.url(SLACK),
        teams_webhook_url=server.url(TEAMS),
        dagster_ui_url="http://dagster.example:3000",
        max_attempts=2,
        **overrides,
    )


class AlertSensorAt:
    """alert_sensor's evaluation at a fixed instant (the module-level sensor reads the wall clock)."""

    def __init__(self, momentum_threshold: float, now) -> None:
        self.momentum_threshold, self.now = momentum_threshold, now

    def evaluate_tick(self, context: dg.SensorEvaluationContext) -> SimpleNamespace:
        tick = alert_tick(context.instance, context.cursor, now=self.now, momentum_threshold=self.momentum_threshold)
        return SimpleNamespace(run_requests=tick.requests, cursor=tick.cursor.model_dump_json())


def run_alerts(settings, instance, requests, resource: AlertsResource):
    defs = build_definitions(settings)
    job = defs.resolve_job_def("alert_job")
    resources = {**defs.resources, "alerts": resource}
    return [job.execute_in_process(run_config=r.run_config, instance=instance, resources=resources) for r in requests]


CHECK_ALERT = dg.RunRequest(
    run_config={
        "ops": {
            "compose_alert": {
                "config": {
                    "kind": "check",
                    "window_key": "2026-11-20-10:00",
                    "asset": "raw_video_snapshots",
                    "check": "bad_record_share",
                    "severity": "ERROR",
                }
            }
        }
    }
)
"""alert_job's request for an ERROR of the check bad_record_share on window 10:00 (as alert_sensor would send)."""


def alert_rows(settings):
    with open_warehouse(settings) as con:
        return con.execute("SELECT alert_id, delivered, undelivered, attempts FROM alerts ORDER BY alert_id").fetchall()


def test_a_warn_check_failure_is_alerted_once_to_slack_and_teams(settings, server, instance):
    sensor = AlertSensorAt(momentum_threshold=1000.0, now=T0)
    assert materialize_range(settings, T0, T0 + WINDOW, instance=instance).success

    def duplicate(records):
        videos = first_video_record(records)
        videos.append(dict(videos[0]))

    edit_landing(settings, T0 + WINDOW, duplicate)
    assert materialize_range(settings, T0 + WINDOW, T0 + WINDOW, instance=instance).success  # WARN: run succeeds

    first = sensor.evaluate_tick(dg.build_sensor_context(instance=instance))
    keys = [r.run_key for r in first.run_requests]
    assert keys == ["check:raw_video_snapshots:no_duplicate_observations:2026-11-20-10:05:WARN"]
    again = sensor.evaluate_tick(dg.build_sensor_context(instance=instance, cursor=first.cursor))
    assert again.run_requests == []  # the storage-id cursor moved past it

    run_alerts(settings, instance, first.run_requests * 2, alerts_resource(server))  # delivered twice? never
    paths = server.paths()
    assert paths.count(SLACK) == 1 and paths.count(TEAMS) == 1
    slack = next(r.body for r in server.requests if r.path == SLACK)
    assert "no_duplicate_observations" in slack["text"]
    button = next(b for b in slack["blocks"] if b["type"] == "actions")["elements"][0]
    assert button["url"] == "http://dagster.example:3000/assets/raw_video_snapshots?view=checks"
    teams = next(r.body for r in server.requests if r.path == TEAMS)
    assert teams["attachments"][0]["contentType"] == "application/vnd.microsoft.card.adaptive"
    [(alert_id, delivered, undelivered, attempts)] = alert_rows(settings)
    assert delivered == "slack,teams" and undelivered == "" and attempts == 2


@pytest.mark.both_backends
def test_undelivered_alerts_are_recorded_and_retried_later(settings, server, instance):
    request = dg.RunRequest(
        run_config={
            "ops": {
                "compose_alert": {
                    "config": {
                        "kind": "check",
                        "window_key": "2026-11-20-10:00",
                        "asset": "video_velocity",
                        "check": "velocity_schema",
                        "severity": "ERROR",
                        "description": "2 failure cases",
                        "failed_rows": 2,
                    }
                }
            }
        }
    )
    server.script(SLACK, Reply(500, "boom"))
    server.script(TEAMS, Reply(429, "slow down", {"Retry-After": "0"}), Reply(202))
    run_alerts(settings, instance, [request], alerts_resource(server))
    [(alert_id, delivered, undelivered, attempts)] = alert_rows(settings)
    assert alert_id == "check:video_velocity:velocity_schema:2026-11-20-10:00:ERROR"
    assert (delivered, undelivered, attempts) == ("teams", "slack", 4)  # 2 Slack tries, 429 then 202 for Teams

    server.script(SLACK, Reply(200, "ok"))
    run_alerts(settings, instance, [request], alerts_resource(server))  # same alert again: only the owed retry
    [(_, delivered, undelivered, attempts)] = alert_rows(settings)
    assert (delivered, undelivered, attempts) == ("teams,slack", "", 5)
    assert server.paths().count(TEAMS) == 2 and server.paths().count(SLACK) == 3
    with open_warehouse(settings) as con:  # api_call_log: one row per delivery, its kind, never its URL
        calls = con.execute(
            "SELECT source, endpoint, purpose, http_status, attempts FROM api_call_log ORDER BY called_at"
        ).fetchall()
        text = str(con.execute("SELECT * FROM api_call_log").fetchall())
    assert sorted(calls[:2]) == [("webhook", "slack", "alert", 500, 2), ("webhook", "teams", "alert", 202, 2)]
    assert calls[2:] == [("webhook", "slack", "alert", 200, 1)]
    assert "slack-secret" not in text and "triggers" not in text and "127.0.0.1" not in text


@pytest.mark.both_backends
def test_without_webhooks_alerts_are_still_recorded(settings, instance):
    [result] = run_alerts(settings, instance, [CHECK_ALERT], plain_alerts_resource())
    assert result.success
    [(_, delivered, undelivered, _)] = alert_rows(settings)
    assert delivered == "" and undelivered == ""
    events = instance.fetch_materializations(dg.AssetKey("alerts"), limit=5).records
    assert len(events) == 1


def test_momentum_digest_for_a_fresh_window(settings, server, instance):
    threshold = 0.9
    assert materialize_range(settings, T0, T0 + 7 * WINDOW, instance=instance).success
    sensor = AlertSensorAt(momentum_threshold=threshold, now=T0 + 8 * WINDOW + timedelta(seconds=30))
    result = sensor.evaluate_tick(dg.build_sensor_context(instance=instance))
    business = [r for r in result.run_requests if r.tags["tiktok/alert"] == "business"]
    # only windows closed within the last 30 minutes are digested; older ones would be a backfill
    assert [r.run_key for r in business] == [f"business:2026-11-20-10:{m:02d}" for m in (10, 15, 20, 25, 30, 35)][
        -len(business) :
    ]
    assert business
    run_alerts(settings, instance, business[-1:], alerts_resource(server, momentum_threshold=threshold))
    slack = next(r.body for r in server.requests if r.path == SLACK)
    assert "taking off (2026-11-20-10:35 UTC)" in slack["text"]
    assert any("campaigns" in str(b) or "SKU" in str(b) for b in slack["blocks"])
    teams = next(r.body for r in server.requests if r.path == TEAMS)
    assert "Table" in str(teams) or "ColumnSet" in str(teams)


@pytest.mark.parametrize("secret", ["slack-secret"])
def test_webhook_urls_never_reach_run_config_or_metadata(settings, server, secret, instance):
    request = dg.RunRequest(
        run_config={
            "ops": {"compose_alert": {"config": {"kind": "check", "asset": "a", "check": "c", "severity": "WARN"}}}
        }
    )
    [result] = run_alerts(settings, instance, [request], alerts_resource(server))
    logs = " ".join(str(e) for e in instance.all_logs(result.run_id))
    assert secret not in logs and secret not in str(request.run_config)


def test_a_receiver_echoing_the_webhook_path_leaks_no_secret_anywhere(settings, server, instance, caplog, capfd):
    """404 ``Cannot POST <path>?<query>`` (decoded, as Express-like receivers echo it) from Slack and Teams: the
    secret parts are nowhere in the alerts table, the run's event log, the logs or the console output."""
    import logging

    from tiktok_pipeline_tests.alerts.test_delivery import (
        ECHOES,
        REAL_SLACK_PATH,
        REAL_TEAMS_PATH,
        REAL_TEAMS_QUERY,
        assert_no_url_secret,
    )

    caplog.set_level(logging.DEBUG)
    for path in (REAL_SLACK_PATH, REAL_TEAMS_PATH):
        server.script(path, Reply(404, ECHOES["decoded"]))
    resource = plain_alerts_resource(
        slack_webhook_url=server.url(REAL_SLACK_PATH),
        teams_webhook_url=server.url(REAL_TEAMS_PATH + REAL_TEAMS_QUERY),
        max_attempts=2,
    )
    request = dg.RunRequest(
        run_config={
            "ops": {"compose_alert": {"config": {"kind": "check", "asset": "a", "check": "c", "severity": "WARN"}}}
        }
    )
    [result] = run_alerts(settings, instance, [request], resource)
    assert result.success and len(server.requests) == 2
    with open_warehouse(settings) as con:
        [(last_error, undelivered)] = con.execute("SELECT last_error, undelivered FROM alerts").fetchall()
    assert undelivered == "slack,teams" and last_error.startswith("HTTP 404: Cannot POST [webhook]")
    events = " ".join(str(e) for e in instance.all_logs(result.run_id))
    assert "NOT delivered" in events
    console = capfd.readouterr()
    assert_no_url_secret(last_error, events, caplog.text, console.out, console.err)
