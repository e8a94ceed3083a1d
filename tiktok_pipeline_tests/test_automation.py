"""Declarative automation: ad_velocity and the daily rollups are requested after their upstream windows land,
never before (``dg.evaluate_automation_conditions`` on a temporary instance, at fixed evaluation times)."""

from datetime import UTC, datetime

import dagster as dg
import pytest

from tiktok_pipeline.definitions import build_definitions

AD_VELOCITY = dg.AssetKey("ad_velocity")
ROLLUPS = (dg.AssetKey("daily_video_metrics"), dg.AssetKey("daily_creator_metrics"))
QUARANTINED = dg.AssetKey("quarantined_records")
CURRENT_STATE = dg.AssetKey("video_current_state")


class Ticks:
    """Successive evaluations of the automation conditions of ``selection``, carrying the cursor."""

    def __init__(self, defs: dg.Definitions, instance: dg.DagsterInstance, selection: dg.AssetSelection) -> None:
        self.defs, self.instance, self.selection, self.cursor = defs, instance, selection, None

    def __call__(self, at: datetime) -> dict[dg.AssetKey, set[str]]:
        result = dg.evaluate_automation_conditions(
            defs=self.defs,
            instance=self.instance,
            asset_selection=self.selection,
            evaluation_time=at,
            cursor=self.cursor,
        )
        self.cursor = result.cursor
        return {
            key: set(result.get_requested_partitions(key))
            for key in self.selection.resolve(self.defs.get_repository_def().asset_graph)
            if result.get_requested_partitions(key)
        }


class Requests:
    """Successive evaluations of an unpartitioned asset's automation condition: how many runs each requests."""

    def __init__(self, defs: dg.Definitions, instance: dg.DagsterInstance, key: dg.AssetKey) -> None:
        self.ticks, self.key = Ticks(defs, instance, dg.AssetSelection.assets(key)), key

    def __call__(self, at: datetime) -> int:
        result = dg.evaluate_automation_conditions(
            defs=self.ticks.defs,
            instance=self.ticks.instance,
            asset_selection=self.ticks.selection,
            evaluation_time=at,
            cursor=self.ticks.cursor,
        )
        self.ticks.cursor = result.cursor
        return result.get_num_requested(self.key)


def land(instance: dg.DagsterInstance, asset: str, *partitions: str) -> None:
    for partition in partitions:
        instance.report_runless_asset_event(dg.AssetMaterialization(asset, partition=partition))


@pytest.fixture
def defs(settings):
    return build_definitions(settings)


def test_ad_velocity_runs_once_a_window_has_its_ads_and_its_video_metrics(defs, instance):
    tick = Ticks(defs, instance, dg.AssetSelection.assets(AD_VELOCITY))
    now = datetime(2026, 11, 20, 10, 40, 30, tzinfo=UTC)  # the 10:35 window closed 30 s ago
    assert tick(now) == {}
    land(instance, "enriched_video_metrics", "2026-11-20-10:35")
    assert tick(now) == {}  # its ads are not in yet
    land(instance, "raw_ad_metrics", "2026-11-20-10:35")
    assert tick(now) == {AD_VELOCITY: {"2026-11-20-10:35"}}
    assert tick(now) == {}  # requested once
    land(instance, "raw_ad_metrics", "2026-11-20-10:35")  # ads re-fetched: velocity follows
    assert tick(now) == {AD_VELOCITY: {"2026-11-20-10:35"}}
    land(instance, "enriched_video_metrics", "2026-11-20-09:00")
    land(instance, "raw_ad_metrics", "2026-11-20-09:00")
    assert tick(now) == {}  # older than 30 minutes: left to backfills


def test_ad_velocity_of_a_window_whose_ads_land_late(defs, instance):
    tick = Ticks(defs, instance, dg.AssetSelection.assets(AD_VELOCITY))
    tick(datetime(2026, 11, 20, 10, 40, 30, tzinfo=UTC))
    land(instance, "enriched_video_metrics", "2026-11-20-10:35")
    land(instance, "raw_ad_metrics", "2026-11-20-10:35")
    # two windows later, the 10:35 window is no longer the latest, but still within 30 minutes
    assert tick(datetime(2026, 11, 20, 10, 50, 30, tzinfo=UTC)) == {AD_VELOCITY: {"2026-11-20-10:35"}}


def test_swaps_and_the_feed_run_once_their_windows_inputs_are_in(defs, instance):
    swaps, feed = dg.AssetKey("creative_swap_recommendations"), dg.AssetKey("merchandising_feed")
    tick = Ticks(defs, instance, dg.AssetSelection.assets(swaps, feed))
    now = datetime(2026, 11, 20, 10, 40, 30, tzinfo=UTC)
    assert tick(now) == {}
    land(instance, "enriched_video_metrics", "2026-11-20-10:35")
    land(instance, "video_velocity", "2026-11-20-10:35")
    assert tick(now) == {feed: {"2026-11-20-10:35"}}  # the feed needs no ads; swaps wait for ad_velocity
    land(instance, "ad_velocity", "2026-11-20-10:35")
    assert tick(now) == {swaps: {"2026-11-20-10:35"}}
    assert tick(now) == {}  # requested once


def test_rollups_run_when_the_last_windows_of_the_day_land_not_before(defs, instance):
    tick = Ticks(defs, instance, dg.AssetSelection.groups("retain"))
    evening = datetime(2026, 11, 20, 23, 58, tzinfo=UTC)
    assert tick(evening) == {}
    land(instance, "enriched_video_metrics", "2026-11-20-23:50")
    land(instance, "video_velocity", "2026-11-20-23:50")
    land(instance, "raw_creator_snapshots", "2026-11-20-23:50")
    assert tick(evening) == {}  # the day is not over: its partition is not the latest complete day yet
    after_midnight = datetime(2026, 11, 21, 0, 1, tzinfo=UTC)
    assert tick(after_midnight) == {}  # nothing has landed since the day closed
    for asset in ("enriched_video_metrics", "video_velocity", "raw_creator_snapshots"):
        land(instance, asset, "2026-11-20-23:55")
    assert tick(after_midnight) == {key: {"2026-11-20"} for key in ROLLUPS}
    assert tick(after_midnight) == {}  # requested once
    land(instance, "raw_creator_snapshots", "2026-11-20-12:00")  # a window of the day re-materialised
    assert tick(after_midnight) == {dg.AssetKey("daily_creator_metrics"): {"2026-11-20"}}
    land(instance, "raw_creator_snapshots", "2026-11-21-00:00")  # the new day's windows: not its rollup yet
    assert tick(after_midnight) == {}


def test_a_day_still_missing_at_half_past_midnight_is_rolled_up(defs, instance):
    tick = Ticks(defs, instance, dg.AssetSelection.groups("retain"))
    assert tick(datetime(2026, 11, 21, 0, 10, tzinfo=UTC)) == {}  # its last windows never came (daemon down)
    assert tick(datetime(2026, 11, 21, 0, 29, tzinfo=UTC)) == {}
    assert tick(datetime(2026, 11, 21, 0, 31, tzinfo=UTC)) == {key: {"2026-11-20"} for key in ROLLUPS}
    assert tick(datetime(2026, 11, 21, 0, 40, tzinfo=UTC)) == {}


def test_the_automation_sensor_targets_the_declarative_assets_and_is_on(defs):
    repo = defs.get_repository_def()
    sensor = repo.get_sensor_def("automation_condition_sensor")
    assert sensor.description and sensor.default_status == dg.DefaultSensorStatus.RUNNING
    activation = {dg.AssetKey("creative_swap_recommendations"), dg.AssetKey("merchandising_feed")}
    expected = {AD_VELOCITY, QUARANTINED, CURRENT_STATE, *ROLLUPS, *activation}
    assert sensor.asset_selection.resolve(repo.asset_graph) == expected
    for key in expected:
        assert repo.asset_graph.get(key).automation_condition is not None
    assert not [s for s in repo.schedule_defs if s.name == "daily_rollup_schedule"]  # automation replaced it


def test_quarantined_records_is_recreated_after_any_source_writes(defs, instance):
    requested = Requests(defs, instance, QUARANTINED)

    now = datetime(2026, 11, 20, 10, 40, 30, tzinfo=UTC)
    assert requested(now) == 0  # nothing written yet (the first writer creates the view itself)
    for source in ("display_api_quarantine", "raw_ad_metrics", "conversion_outbox"):
        land(instance, source, "2026-11-20-10:35")
        assert requested(now) == 1, source  # a window of any one source is enough: no waiting for the others
        instance.report_runless_asset_event(dg.AssetMaterialization("quarantined_records"))
        assert requested(now) == 0, source


def test_video_current_state_is_refreshed_after_each_windows_velocity_lands(defs, instance):
    requested = Requests(defs, instance, CURRENT_STATE)

    now = datetime(2026, 11, 20, 10, 40, 30, tzinfo=UTC)
    assert requested(now) == 0  # nothing landed
    land(instance, "enriched_video_metrics", "2026-11-20-10:35")
    assert requested(now) == 0  # its velocity is not in yet: no refresh without new figures
    land(instance, "video_velocity", "2026-11-20-10:35")
    assert requested(now) == 1
    assert requested(now) == 0  # requested once
    land(instance, "video_velocity", "2026-11-20-09:00", "2026-11-20-09:05", "2026-11-20-09:10")  # a backfill
    assert requested(now) == 1  # one request for many windows, however old
    instance.report_runless_asset_event(dg.AssetMaterialization(CURRENT_STATE))
    assert requested(now) == 0
