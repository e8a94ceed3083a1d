"""A creative swap end to end over real HTTP against the served simulator (its default world, seed 7): the windows'
videos and the ads' report are fetched, velocity and ad CTR computed, and ``creative_swap_recommendations`` gets a
row with its evidence, where the simulator's truth has a fading Spark Ad and a truly surging organic video.

The scenario (found with ``benchmarks/recommendations.py``'s day on the default world, README "Creative swaps"):
on 2026-11-21 in the window 03:45-03:50 UTC, ``cozy_traveler_3``'s video 7710230607233632743 surges (a viral onset,
no ad on it, momentum 15.5) while the two Spark Ads of ``quiet_chef_5``'s video 7709918711015128958 in the campaign
both are tracked under, ``cmp-spring-launch``, lose CTR (1.46% to 1.25% over 30 minutes, 1,831 impressions in the
trailing hour)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import polars as pl
import pytest

from tiktok_pipeline.simulator.app import Simulator
from tiktok_pipeline.simulator.server import serve_in_thread
from tiktok_pipeline.simulator.world import World
from tiktok_pipeline.windows import WINDOW
from tiktok_pipeline_tests.test_activation_assets import run
from tiktok_pipeline_tests.test_ad_assets import materialize_ads
from tiktok_pipeline_tests.test_assets import materialize_range, read

SWAP_WINDOW = datetime(2026, 11, 21, 3, 45, tzinfo=UTC)
SURGING = "7710230607233632743"


def test_the_scenario_is_in_the_simulators_truth():
    video = World().video(SURGING)
    assert video is not None and video.is_viral and video.creator_username == "cozy_traveler_3"
    assert video.viral_onset is not None and video.viral_onset < (SWAP_WINDOW + WINDOW).timestamp()


@pytest.mark.both_backends
def test_a_window_over_http_recommends_the_swap_with_its_evidence(settings):
    first = SWAP_WINDOW - 7 * WINDOW  # 35 minutes of history: every video has a 30-minute baseline
    simulator = Simulator(clock=lambda: (SWAP_WINDOW + timedelta(hours=1)).timestamp())
    with serve_in_thread(simulator, timeout_seconds=0.5) as url:
        served = settings.replace(display__api_base_url=url, display__api_is_simulator=True)
        assert materialize_range(served, first, SWAP_WINDOW).success
        assert materialize_ads(served, SWAP_WINDOW).success
        result = run(served, "creative_swap_recommendations", SWAP_WINDOW)
        assert result.success
    assert simulator.stats["requests /v2/video/query/"] + simulator.stats["requests /v2/video/list/"] > 0
    assert simulator.business.stats["requests report/integrated/get"] > 0
    swaps = read(settings, "creative_swap_recommendations").filter(
        pl.col("window_start") == SWAP_WINDOW.replace(tzinfo=None)
    )
    assert SURGING in swaps["boost_video_id"].to_list(), swaps
    row = swaps.filter(pl.col("boost_video_id") == SURGING).row(0, named=True)
    assert row["creator_username"] == "cozy_traveler_3" and row["match"] == "campaign"
    assert (row["campaign_id"], row["fading_video_id"]) == ("cmp-spring-launch", "7709918711015128958")
    assert row["fading_creator_username"] == "quiet_chef_5" and len(row["fading_ad_ids"]) == 2
    assert row["ad_ctr_change_30m"] <= settings.swaps.ctr_change_threshold
    assert row["ad_ctr"] < row["ad_ctr_30m_ago"] and row["ad_impressions_60m"] >= settings.swaps.min_impressions
    assert row["video_momentum"] >= settings.swaps.momentum_threshold and row["video_views_per_minute"] > 0
    assert row["fading_video_id"] != SURGING and row["fading_ad_ids"]
    assert row["expected_gain_clicks_per_hour"] is not None
