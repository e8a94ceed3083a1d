"""The ads sensor through ``build_sensor_context``, and the ads wiring in the Definitions."""

from datetime import UTC, datetime, timedelta

import dagster as dg
import pytest

from tiktok_pipeline.definitions import build_definitions
from tiktok_pipeline.defs.ads.jobs import AD_JOB_NAME
from tiktok_pipeline.defs.ads.sensors import ad_metrics_sensor, ad_metrics_tick
from tiktok_pipeline.settings import AdsSettings, Settings

T = datetime(2026, 11, 20, 10, 40, 12, tzinfo=UTC)  # the 10:35 window has just closed
KEY = "2026-11-20-10:35"


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def sensor(settings):
    defs = build_definitions(settings.replace(ads__ad_wait_for_videos_minutes=3.0))
    return defs.get_repository_def(), defs.resources["ad_reporting"], Clock(T)


def tick(sensor, instance, cursor):
    repo, resource, clock = sensor
    context = dg.build_sensor_context(instance=instance, cursor=cursor, repository_def=repo)
    return ad_metrics_tick(context, resource, clock())


def skip_message(result) -> str:
    return result.skip_message if isinstance(result, dg.SkipReason) else ""


def test_waits_for_the_windows_video_metrics_then_launches_once(sensor, instance):
    waiting = tick(sensor, instance, None)
    assert "waiting for enriched_video_metrics" in skip_message(waiting)
    instance.report_runless_asset_event(dg.AssetMaterialization("enriched_video_metrics", partition=KEY))
    ready = tick(sensor, instance, None)
    [request] = ready.run_requests
    assert request.partition_key == KEY and request.run_key == KEY and request.tags["tiktok/videos_ready"] == "true"
    assert ready.cursor == KEY
    again = tick(sensor, instance, ready.cursor)
    assert "already requested" in skip_message(again)


def test_runs_without_video_metrics_after_the_wait(sensor, instance):
    sensor[2].now = T + timedelta(minutes=3)
    [request] = tick(sensor, instance, None).run_requests
    assert request.partition_key == KEY and request.tags["tiktok/videos_ready"] == "false"


def test_after_downtime_only_the_latest_window_is_launched(sensor, instance):
    sensor[2].now = T + timedelta(hours=2)
    result = tick(sensor, instance, KEY)
    assert "waiting for enriched_video_metrics of 2026-11-20-12:35" in skip_message(result)
    sensor[2].now = T + timedelta(hours=2, minutes=3)
    [request] = tick(sensor, instance, KEY).run_requests
    assert request.partition_key == "2026-11-20-12:35"


def test_ads_are_wired_documented_and_off_for_real_creators_with_simulated_ads(settings):
    repo = build_definitions(settings).get_repository_def()
    assert repo.get_job(AD_JOB_NAME).description
    sensor = repo.get_sensor_def("ad_metrics_sensor")
    assert sensor.description and sensor.default_status == dg.DefaultSensorStatus.RUNNING
    for key in ("raw_ad_metrics", "ad_velocity"):
        node = repo.asset_graph.get(dg.AssetKey(key))
        assert node.group_name == "ads" and node.description
        assert all(c.description for c in node.metadata["dagster/column_schema"].columns)
    # window_pipeline_job does not carry the ads: their failures never fail a video run
    window_keys = {
        k.to_user_string() for k in repo.get_job("window_pipeline_job").asset_layer.asset_graph.executable_asset_keys
    }
    ad_keys = {k.to_user_string() for k in repo.get_job(AD_JOB_NAME).asset_layer.asset_graph.executable_asset_keys}
    assert "video_velocity" in window_keys and not window_keys & ad_keys
    assert ad_keys == {"raw_ad_metrics"}  # ad_velocity follows by declarative automation
    assert repo.asset_graph.get(dg.AssetKey("ad_velocity")).automation_condition is not None

    real = settings.replace(display__api_base_url="https://open.tiktokapis.com", display__api_is_simulator=False)
    assert not real.ads_sensor_on  # no API for Business host: the ads would be simulated
    assert real.replace(ads__business_api_base_url="https://business-api.tiktok.com").ads_sensor_on
    assert Settings(ads=AdsSettings(ads_enabled=False)).ads_sensor_on is False


def test_a_real_business_host_gets_no_as_of_and_needs_a_token(settings, monkeypatch):
    monkeypatch.setenv("TIKTOK_BUSINESS_ACCESS_TOKEN", "long-lived")
    resource = build_definitions(
        settings.replace(ads__business_api_base_url="https://business-api.tiktok.com")
    ).resources["business_api"]
    assert resource.simulator is False and isinstance(resource.access_token, dg.EnvVar)
    assert build_definitions(settings).resources["business_api"].simulator is True


def test_the_module_level_sensor_evaluates_with_its_resource(settings, instance):
    """The sensor itself, as the daemon runs it (wall clock): a decision, never an error."""
    defs = build_definitions(settings)
    context = dg.build_sensor_context(
        instance=instance,
        repository_def=defs.get_repository_def(),
        resources={"ad_reporting": defs.resources["ad_reporting"]},
    )
    result = ad_metrics_sensor.evaluate_tick(context)
    assert len(result.run_requests or []) == 1 or "waiting for enriched_video_metrics" in (result.skip_message or "")


def test_the_first_window_of_each_day_also_refetches_the_attribution_days(sensor, instance):
    instance.report_runless_asset_event(dg.AssetMaterialization("enriched_video_metrics", partition=KEY))
    config = {"ops": {"raw_ad_metrics": {"config": {"attribution_days": True}}}}
    cases = [(None, True), ("2026-11-19-23:55", True), ("2026-11-20-10:30", False), ("2026-11-20-00:00", False)]
    for cursor, refetch in cases:
        [request] = tick(sensor, instance, cursor).run_requests
        assert request.partition_key == KEY and request.tags["tiktok/attribution_days"] == str(refetch).lower()
        assert request.run_config == (config if refetch else {}), cursor
