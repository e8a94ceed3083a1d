"""pacing_recommendations is requested by its own automation sensor once a recent window's ads, CTR and video
velocity landed, never before, and not for old windows."""

from datetime import UTC, datetime

import dagster as dg

from tiktok_pipeline.definitions import build_definitions
from tiktok_pipeline_tests.test_automation import Ticks, land

PACING = dg.AssetKey("pacing_recommendations")


def test_pacing_runs_once_a_window_has_its_ads_ctr_and_video_velocity(settings, instance):
    defs = build_definitions(settings)
    sensor = defs.get_repository_def().get_sensor_def("pacing_automation_sensor")
    assert sensor.default_status == dg.DefaultSensorStatus.RUNNING
    tick = Ticks(defs, instance, dg.AssetSelection.assets(PACING))
    now = datetime(2026, 11, 20, 10, 40, 30, tzinfo=UTC)
    assert tick(now) == {}
    land(instance, "raw_ad_metrics", "2026-11-20-10:35")
    land(instance, "ad_velocity", "2026-11-20-10:35")
    assert tick(now) == {}  # video_velocity not in yet
    land(instance, "video_velocity", "2026-11-20-10:35")
    assert tick(now) == {PACING: {"2026-11-20-10:35"}}
    assert tick(now) == {}  # requested once
    for asset in ("raw_ad_metrics", "ad_velocity", "video_velocity"):
        land(instance, asset, "2026-11-20-08:00")  # two hours old: left to backfills
    assert tick(now) == {}
