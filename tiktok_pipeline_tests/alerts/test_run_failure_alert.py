"""A run that fails before its checks ran becomes one alert: a real failed run on a temporary instance."""

from datetime import UTC, datetime, timedelta

import dagster as dg

from tiktok_pipeline.activation.alerts.triggers import alert_tick
from tiktok_pipeline.definitions import build_definitions
from tiktok_pipeline.defs.alerts.sensors import alert_sensor
from tiktok_pipeline.defs.conversions.resources import ConversionsResource
from tiktok_pipeline.windows import window_key
from tiktok_pipeline_tests.conftest import T0, open_warehouse
from tiktok_pipeline_tests.conftest import alerts_resource as plain_alerts_resource
from tiktok_pipeline_tests.test_assets import materialize_range

WINDOW_KEY = "2026-11-20-10:00"


def failed_conversions_run(settings, instance) -> dg.ExecuteInProcessResult:
    """conversions_job without a pixel code: the asset raises before it writes anything (no check runs)."""
    defs = build_definitions(settings)
    no_pixel = ConversionsResource(
        orders_dir=str(settings.conversions.conversions_dir),
        pixel_code="",
        test_event_code="",
        default_phone_region="US",
        resend_ambiguous_hours=47.0,
        batch_size=1000,
        settle_seconds=settings.conversions.conversions_settle_seconds,
    )
    result = defs.resolve_job_def("conversions_job").execute_in_process(
        instance=instance,
        partition_key=WINDOW_KEY,
        resources={**defs.resources, "conversions": no_pixel},
        raise_on_error=False,
    )
    assert not result.success
    return result


def run_alert_job(settings, instance, request: dg.RunRequest) -> dg.ExecuteInProcessResult:
    defs = build_definitions(settings)
    return defs.resolve_job_def("alert_job").execute_in_process(
        run_config=request.run_config,
        instance=instance,
        resources={**defs.resources, "alerts": plain_alerts_resource(dagster_ui_url="http://dagster.example:3000")},
        tags=request.tags,
    )


def test_a_failed_run_is_alerted_once_with_its_reason_and_a_link(settings, instance):
    failed = failed_conversions_run(settings, instance)
    now = datetime.now(UTC)
    first = alert_tick(instance, None, now=now, momentum_threshold=1000.0)
    [request] = first.requests
    assert request.run_key == f"run:{failed.run_id}" and request.tags["tiktok/alert"] == "run"
    config = request.run_config["ops"]["compose_alert"]["config"]
    assert config["kind"] == "run" and config["job_name"] == "conversions_job"
    assert config["window_key"] == WINDOW_KEY and config["step"] == "conversion_outbox"
    assert "TIKTOK_PIXEL_CODE is not set" in config["description"]
    assert not any("webhook" in key or "url" in key for key in config)  # nothing secret in run config
    again = alert_tick(instance, first.cursor.model_dump_json(), now=now, momentum_threshold=1000.0)
    assert again.requests == []  # the storage-id cursor moved past it

    assert run_alert_job(settings, instance, request).success
    assert run_alert_job(settings, instance, request).success  # the same request twice: recorded once
    with open_warehouse(settings) as con:
        rows = con.execute("SELECT alert_id, kind, severity, title FROM alerts").fetchall()
    assert rows == [(f"run:{failed.run_id}", "run", "ERROR", f"ERROR: run of conversions_job failed ({WINDOW_KEY})")]
    [record] = instance.fetch_materializations(dg.AssetKey("alerts"), limit=5).records
    metadata = record.asset_materialization.metadata
    assert metadata["link"].value == f"http://dagster.example:3000/runs/{failed.run_id}"
    assert "TIKTOK_PIXEL_CODE" in metadata["summary"].value


def test_failures_of_alert_job_and_old_failures_are_not_alerted(settings, instance):
    failed_conversions_run(settings, instance)
    broken = dg.RunRequest(run_config={"ops": {"compose_alert": {"config": {"kind": "business", "window_key": "x"}}}})
    defs = build_definitions(settings)
    result = defs.resolve_job_def("alert_job").execute_in_process(
        run_config=broken.run_config, instance=instance, resources=dict(defs.resources), raise_on_error=False
    )
    assert not result.success  # a bad window key
    tick = alert_tick(instance, None, now=datetime.now(UTC), momentum_threshold=1000.0)
    assert [r.tags["tiktok/alert"] for r in tick.requests] == ["run"]  # the conversions run only
    later = alert_tick(instance, None, now=datetime.now(UTC) + timedelta(days=2), momentum_threshold=1000.0)
    assert later.requests == [] and later.cursor.runs_after == tick.cursor.runs_after


def test_the_alert_sensor_launches_the_run_alert(settings, instance):
    failed = failed_conversions_run(settings, instance)
    defs = build_definitions(settings)
    context = dg.build_sensor_context(
        instance=instance, repository_def=defs.get_repository_def(), resources={"alerts": defs.resources["alerts"]}
    )
    result = alert_sensor.evaluate_tick(context)
    assert [r.run_key for r in result.run_requests] == [f"run:{failed.run_id}"]
    assert result.run_requests[0].job_name in (None, "alert_job")


def test_a_run_stopped_by_a_blocking_check_gets_the_check_alert_only(settings, instance):
    assert materialize_range(settings, T0, T0, instance=instance).success
    with open_warehouse(settings, read_only=False) as con:  # a writer bug: negative views
        con.execute(
            "UPDATE raw_video_snapshots SET view_count = -1 WHERE video_id = (SELECT min(video_id) FROM raw_video_snapshots)"
        )
    defs = build_definitions(settings)
    result = dg.materialize(
        list(defs.assets),
        resources=dict(defs.resources),
        selection=["enriched_video_metrics", "video_velocity"],
        partition_key=window_key(T0),
        instance=instance,
        raise_on_error=False,
    )
    assert not result.success  # enriched_schema (blocking, ERROR) failed
    tick = alert_tick(instance, None, now=datetime.now(UTC), momentum_threshold=1000.0)
    kinds = [r.tags["tiktok/alert"] for r in tick.requests]
    assert "check" in kinds and "run" not in kinds
    assert tick.cursor.runs_after is not None  # seen, and not alerted twice
