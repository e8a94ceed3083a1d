"""The Definitions load, and every asset, job and schedule is documented for the UI."""

import dagster as dg

from tiktok_pipeline.definitions import build_definitions, defs
from tiktok_pipeline.settings import Settings


def test_defs_load_and_are_documented():
    dg.Definitions.validate_loadable(defs)
    repo = defs.get_repository_def()
    graph = repo.asset_graph
    keys = {key.to_user_string() for key in graph.get_all_asset_keys()}
    assert {"raw_video_snapshots", "raw_creator_snapshots", "enriched_video_metrics", "video_velocity"} <= keys
    for key in graph.get_all_asset_keys():
        node = graph.get(key)
        assert node.description, f"{key} has no description"
        schema = node.metadata.get("dagster/column_schema")
        assert schema is not None and all(c.description for c in schema.columns), key
        assert node.partitions_def is not None
    job = repo.get_job("window_pipeline_job")
    assert job.description
    schedule = repo.get_schedule_def("every_closed_window")
    assert schedule.description and schedule.default_status == dg.DefaultScheduleStatus.RUNNING


def test_real_host_without_client_secret_is_a_clear_error(monkeypatch):
    monkeypatch.delenv("TIKTOK_CLIENT_SECRET", raising=False)
    try:
        build_definitions(Settings(api_base_url="https://open.tiktokapis.com"))
    except RuntimeError as exc:
        assert "TIKTOK_CLIENT_SECRET" in str(exc)
    else:
        raise AssertionError("expected a RuntimeError naming TIKTOK_CLIENT_SECRET")


def test_client_secret_travels_as_env_var(monkeypatch):
    monkeypatch.setenv("TIKTOK_CLIENT_SECRET", "s3cret-value")
    built = build_definitions(Settings(api_base_url="https://open.tiktokapis.com"))
    resource = built.resources["display_api"]
    assert isinstance(resource.client_secret, dg.EnvVar) or "s3cret-value" not in repr(resource)


def test_schedule_runs_the_latest_closed_window_and_warms_up_a_fresh_warehouse(settings):
    from datetime import datetime, timezone

    from tiktok_pipeline.partitions import window_key

    from .test_assets import materialize_range

    repo = build_definitions(settings).get_repository_def()
    schedule = repo.get_schedule_def("every_closed_window")
    tick = datetime(2026, 11, 20, 10, 40, 7, tzinfo=timezone.utc)
    with dg.instance_for_test() as instance:
        first = schedule.evaluate_tick(dg.build_schedule_context(instance=instance, scheduled_execution_time=tick, repository_def=repo))
        [request] = first.run_requests
        assert request.tags["dagster/asset_partition_range_start"] == "2026-11-20-10:05"
        assert request.tags["dagster/asset_partition_range_end"] == "2026-11-20-10:35"
        result = materialize_range(settings, datetime(2026, 11, 20, 10, 5, tzinfo=timezone.utc),
                                   datetime(2026, 11, 20, 10, 35, tzinfo=timezone.utc), instance=instance)
        assert result.success
        later = schedule.evaluate_tick(dg.build_schedule_context(instance=instance, scheduled_execution_time=tick.replace(minute=45), repository_def=repo))
        [request] = later.run_requests
        assert request.partition_key == window_key(datetime(2026, 11, 20, 10, 40, tzinfo=timezone.utc))
        assert request.run_key == "2026-11-20-10:40"
