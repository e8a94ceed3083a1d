"""The analytics provider end to end, over real HTTP against the served simulator (both backends).

One run of 7 windows with the provider switched on: the provider's rows land in raw_video_snapshots and its creator
profiles in raw_creator_snapshots beside the Display API's (source analytics_provider), cover creators who never
authorised the app, carry the provider's
updated_at as observed_at (its counts are the world's truth at that instant), every provider call is in
api_call_log with its scope and purpose, the password is nowhere, and velocity never takes a delta across sources.
"""

from datetime import UTC, datetime, timedelta

import polars as pl
import pytest

from tiktok_pipeline.simulator.app import Simulator
from tiktok_pipeline.simulator.provider.catalog import Catalog, ProviderConfig
from tiktok_pipeline.simulator.server import serve_in_thread
from tiktok_pipeline.simulator.world import WorldConfig
from tiktok_pipeline.windows import WINDOW
from tiktok_pipeline_tests.conftest import T0, open_warehouse
from tiktok_pipeline_tests.test_assets import materialize_range

PASSWORD = "sim-provider-secret"


def rows(settings, sql: str) -> pl.DataFrame:
    with open_warehouse(settings) as con:
        return pl.from_arrow(con.execute(sql).to_arrow_table())  # type: ignore[return-value]


@pytest.mark.both_backends
def test_provider_rows_land_beside_the_display_api_and_velocity_keeps_sources_apart(settings):
    simulator = Simulator(WorldConfig(seed=settings.sim_seed))
    with serve_in_thread(simulator) as url:
        served = settings.replace(display__api_base_url=url, display__api_is_simulator=True, provider__enabled=True)
        result = materialize_range(served, T0, T0 + 6 * WINDOW)  # 91 provider calls: within its 100 a minute
    assert result.success, result.all_events

    raw = rows(settings, "FROM raw_video_snapshots")
    provider = raw.filter(pl.col("source") == "analytics_provider")
    display = raw.filter(pl.col("source") == "display_api")
    assert provider.height > 0 and display.height > 0
    authorised = {c.username for c in simulator.world.creators()}
    assert set(provider["creator_username"]) - authorised, "the provider covers creators who did not authorise"

    catalog = Catalog(settings.sim_seed, ProviderConfig())
    for row in provider.sample(20, seed=1).iter_rows(named=True):
        window_end = row["window_start"].replace(tzinfo=UTC) + WINDOW
        creator = catalog.world.creator(row["creator_username"])
        assert creator is not None
        crawled = datetime.fromtimestamp(catalog.crawled_at(creator, window_end.timestamp()), UTC)
        assert row["observed_at"].replace(tzinfo=UTC) == crawled <= window_end  # the provider's time, not ours
        truth = catalog.world.counts(row["video_id"], crawled.timestamp())
        assert row["view_count"] == truth.view_count and row["like_count"] == truth.like_count
    assert provider["observed_at"].n_unique() < provider["window_start"].n_unique() * 12  # crawls repeat across windows

    calls = rows(settings, "FROM api_call_log WHERE source = 'analytics_provider'")
    assert set(calls["endpoint"]) == {"/api/v2/influencer/list", "/api/v2/video/list"}
    assert set(calls["scope"]) == {"API account (HTTP Basic)"} and calls["purpose"].null_count() == 0
    assert calls["window_start"].null_count() == 0 and (calls["http_status"] == 200).all()
    assert PASSWORD not in calls.write_csv()
    for path in (settings.landing_dir / "analytics_provider").rglob("*.jsonl.gz"):
        assert PASSWORD.encode() not in path.read_bytes()

    velocity = rows(settings, "FROM video_velocity")
    assert velocity.select("window_start", "video_id").is_duplicated().sum() == 0
    assert {"display_api", "analytics_provider"} <= set(velocity["source"])
    with_baseline = velocity.filter(pl.col("baseline_observed_at").is_not_null())
    assert with_baseline.filter(pl.col("source") == "analytics_provider").height > 0
    # every baseline is an observation of the same video by the same source
    paired = with_baseline.join(
        raw.select("video_id", "source", pl.col("observed_at").alias("baseline_observed_at")).unique(),
        on=["video_id", "source", "baseline_observed_at"],
        how="left",
        coalesce=True,
    )
    assert paired.height == with_baseline.unique(["window_start", "video_id"]).height
    both = set(display["video_id"]) & set(provider["video_id"])
    chosen = velocity.filter(pl.col("video_id").is_in(list(both)))
    assert chosen.height > 0
    seen_by_display = display.select("window_start", "video_id").with_columns(pl.lit(True).alias("by_display"))
    check = chosen.join(seen_by_display, on=["window_start", "video_id"], how="left")
    assert (check.filter(pl.col("by_display").is_not_null())["source"] == "display_api").all()
    quarantine = rows(settings, "FROM quarantined_records WHERE asset = 'provider_video_snapshots'")
    assert quarantine.filter(~pl.col("reason").str.contains("duplicate observation")).height == 0

    # the provider's creator profiles land in raw_creator_snapshots beside the Display API's, as of its crawls
    creators = rows(settings, "FROM raw_creator_snapshots")
    assert creators.select("window_start", "creator_username", "source").is_duplicated().sum() == 0
    provider_creators = creators.filter(pl.col("source") == "analytics_provider")
    assert set(provider_creators["creator_username"]) - authorised, "creators who never authorised the app"
    assert provider_creators["open_id"].null_count() == provider_creators.height  # no open_id of this app
    for row in provider_creators.iter_rows(named=True):
        window_end = row["window_start"].replace(tzinfo=UTC) + WINDOW
        creator = catalog.world.creator(row["creator_username"])
        assert creator is not None
        crawled = catalog.crawled_at(creator, window_end.timestamp())
        assert row["observed_at"].replace(tzinfo=UTC) == datetime.fromtimestamp(crawled, UTC)
        stats = catalog.world.user_stats(creator.username, crawled)
        assert (row["follower_count"], row["likes_count"], row["video_count"]) == (
            stats["follower_count"],
            stats["likes_count"],
            stats["video_count"],
        )
    both = creators.filter(pl.col("source") == "display_api").join(
        provider_creators, on=["window_start", "creator_username"]
    )
    assert both.height > 0, "each writer kept the other source's rows of the same windows"


def test_stale_provider_data_gives_velocity_over_crawl_times_not_fetch_times():
    """A provider refreshing every 15 minutes, polled every 5: three windows see one crawl; a row's baseline is an
    earlier crawl, and the elapsed minutes are between crawls (never 5 minutes of "no views")."""
    catalog = Catalog(7, ProviderConfig(refresh_minutes=15))
    creator = catalog.creators()[7]
    start = T0.timestamp()
    crawls = {catalog.crawled_at(creator, start + k * 300) for k in range(1, 13)}
    assert len(crawls) in (4, 5)  # 12 windows of 5 minutes (55 minutes), one crawl per 15 minutes
    gaps = {b - a for a, b in zip(sorted(crawls), sorted(crawls)[1:], strict=False)}
    assert {timedelta(seconds=g) for g in gaps} == {timedelta(minutes=15)}
